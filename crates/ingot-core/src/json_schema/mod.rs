//! JSON Schema → GBNF grammar, for structured outputs (`response_format: json_schema`,
//! function-call arguments, Ollama's `format`).
//!
//! The conversion itself is the backend's: the llama.cpp engine passes llama.cpp's own
//! converter (`common/json-schema-to-grammar.cpp`, the one llama-server uses) as a
//! [`RawConverter`]. Around it, here and free of any backend:
//! - a pre-scan ([`scan`]) refuses every keyword the converter would ignore, naming it,
//!   instead of letting a dropped constraint produce output that does not validate;
//! - bounded `number`s, which the converter cannot express, get rules of their own
//!   ([`number`]), spliced in through a placeholder `const`;
//! - the schema keeps its key order ([`ordered`]), so properties come out in the order the
//!   schema lists them.
//!
//! The converter reports failures only as "ffi error" (the C++ exception's text stays on the
//! other side of the FFI boundary), so the pre-scan also checks what makes it throw (bad
//! references, ill-typed keywords) to give a useful message. [`check_json_schema`] runs the
//! pre-scan alone, so the HTTP layer refuses a bad schema before any model is loaded.

mod bounds;
mod keywords;
mod number;
mod ordered;
mod scan;

use ordered::OVal;

/// A backend's schema converter: the schema as JSON text in, a GBNF grammar (root rule
/// `root`) or the converter's own error text out.
pub type RawConverter<'a> = &'a dyn Fn(&str) -> Result<String, String>;

pub use crate::error::SchemaError;

fn parse(schema: &str) -> Result<OVal, SchemaError> {
    serde_json::from_str(schema).map_err(|e| SchemaError {
        path: "#".into(),
        keyword: None,
        message: format!("the schema is not valid JSON: {e}"),
    })
}

/// Checks `schema` (JSON text) for everything that can be judged without the backend's
/// converter: JSON syntax, unsupported or ill-typed keywords, bad references, bounds. A
/// schema that passes can still be refused by [`json_schema_grammar_with`] for a `pattern`
/// the converter cannot express.
pub fn check_json_schema(schema: &str) -> Result<(), SchemaError> {
    scan::rewrite(&parse(schema)?, &|_| true).map(|_| ())
}

/// The GBNF grammar whose outputs are exactly the JSON texts valid under `schema` (JSON
/// text; its key order is kept), converted by `raw`, or an error naming the keyword that
/// cannot be expressed.
pub fn json_schema_grammar_with(schema: &str, raw: RawConverter) -> Result<String, SchemaError> {
    convert(&parse(schema)?, raw)
}

/// [`json_schema_grammar_with`] for a parsed schema. `serde_json::Value` sorts object keys,
/// so properties are generated in alphabetical order.
pub fn json_schema_value_grammar_with(
    schema: &serde_json::Value,
    raw: RawConverter,
) -> Result<String, SchemaError> {
    convert(&OVal::from(schema), raw)
}

/// Whether the converter turns `pattern` into a grammar. For a pattern it cannot handle it
/// logs a warning and falls back to "any string", which shows as the `string` rule.
fn pattern_supported(pattern: &str, raw: RawConverter) -> bool {
    let schema = serde_json::json!({"type": "string", "pattern": pattern}).to_string();
    match raw(&schema) {
        Ok(g) => !g.lines().any(|l| l.starts_with("string ::=")),
        Err(_) => false,
    }
}

fn convert(root: &OVal, raw: RawConverter) -> Result<String, SchemaError> {
    let rw = scan::rewrite(root, &|p| pattern_supported(p, raw))?;
    let mut grammar = raw(&rw.schema.to_json_string()).map_err(|e| SchemaError {
        path: "#".into(),
        keyword: None,
        message: format!("the backend's JSON-schema converter rejected the schema ({e})"),
    })?;
    for (i, b) in rw.numbers.iter().enumerate() {
        // The placeholder `const` is written as a quoted literal: `"\"<placeholder>\""`.
        let literal = format!("\"\\\"{}\\\"\"", scan::placeholder(i));
        let mut name = format!("ingot-number-{i}");
        while grammar.lines().any(|l| l.starts_with(&name)) {
            name.push('x');
        }
        if !grammar.contains(&literal) {
            return Err(SchemaError {
                path: b.path.clone(),
                keyword: Some("minimum".into()),
                message: "internal error: the bounded-number placeholder went missing".into(),
            });
        }
        let rules = number::rules(&name, b, raw)?;
        grammar = grammar.replace(&literal, &name);
        grammar.push_str(&rules);
    }
    Ok(grammar)
}

impl crate::types::JsonSchemaConstraint {
    fn error(&self, error: SchemaError) -> crate::types::EngineError {
        crate::types::EngineError::InvalidJsonSchema {
            param: self.param.clone(),
            error,
        }
    }

    /// [`check_json_schema`] on this schema, as an engine error naming its field.
    pub fn check(&self) -> Result<(), crate::types::EngineError> {
        check_json_schema(&self.schema).map_err(|e| self.error(e))
    }

    /// The grammar for this schema through the backend's converter `raw`.
    pub fn grammar(&self, raw: RawConverter) -> Result<String, crate::types::EngineError> {
        json_schema_grammar_with(&self.schema, raw).map_err(|e| self.error(e))
    }
}
