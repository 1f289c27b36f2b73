//! What the scan knows about keywords: which constraint keywords llama.cpp's converter
//! implements and which it does not, the string formats it turns into rules, and reading a
//! keyword's value from a schema object ([`get`], [`count`]) with errors that name the
//! keyword ([`err`]).

use super::ordered::OVal;
use super::SchemaError;

/// Largest `minItems`/`maxItems`/`minLength`/`maxLength`: llama.cpp's grammar parser refuses
/// repetitions `x{m,n}` beyond 2000 (and expands each into one rule per repetition).
pub(crate) const MAX_COUNT: u64 = 2_000;

// Annotations (`title`, `description`, `default`, `examples`, `$schema`, `$comment`, ...)
// and keywords JSON Schema does not define are ignored, as validators ignore them.

/// JSON Schema keywords llama.cpp's converter does not implement.
pub(crate) const UNSUPPORTED: &[&str] = &[
    "not",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
    "dependencies",
    "patternProperties",
    "propertyNames",
    "minProperties",
    "maxProperties",
    "uniqueItems",
    "contains",
    "minContains",
    "maxContains",
    "multipleOf",
    "unevaluatedProperties",
    "unevaluatedItems",
    "additionalItems",
    "$dynamicRef",
    "$dynamicAnchor",
    "$recursiveRef",
    "$recursiveAnchor",
    "$anchor",
    "nullable",
];

/// Constraint keywords the converter implements (in some position).
pub(crate) const SUPPORTED: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "$ref",
    "pattern",
    "minLength",
    "maxLength",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
];

/// String formats the converter turns into grammar rules.
pub(crate) const FORMATS: &[&str] = &[
    "date",
    "time",
    "date-time",
    "uuid",
    "uuid1",
    "uuid2",
    "uuid3",
    "uuid4",
    "uuid5",
];

pub(crate) fn err(path: &str, keyword: &str, message: impl Into<String>) -> SchemaError {
    SchemaError {
        path: path.to_string(),
        keyword: (!keyword.is_empty()).then(|| keyword.to_string()),
        message: message.into(),
    }
}

pub(crate) fn is_constraint(k: &str) -> bool {
    SUPPORTED.contains(&k) || UNSUPPORTED.contains(&k)
}

pub(crate) fn count(
    s: &[(String, OVal)],
    key: &str,
    path: &str,
) -> Result<Option<u64>, SchemaError> {
    let Some((_, v)) = s.iter().find(|(k, _)| k == key) else {
        return Ok(None);
    };
    match v {
        OVal::Num(n) => match n.as_u64() {
            Some(c) if c <= MAX_COUNT => Ok(Some(c)),
            Some(c) => Err(err(
                path,
                key,
                format!("{key} is {c}; at most {MAX_COUNT} is supported in grammars"),
            )),
            None => Err(err(
                path,
                key,
                format!("{key} must be a non-negative integer"),
            )),
        },
        _ => Err(err(
            path,
            key,
            format!("{key} must be a non-negative integer"),
        )),
    }
}

pub(crate) fn get<'v>(s: &'v [(String, OVal)], key: &str) -> Option<&'v OVal> {
    s.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}
