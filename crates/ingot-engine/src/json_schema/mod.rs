//! JSON Schema → GBNF grammar, for structured outputs (`response_format: json_schema`,
//! function-call arguments, Ollama's `format`).
//!
//! The conversion is llama.cpp's own (`common/json-schema-to-grammar.cpp`, through
//! `llama_cpp_2::json_schema_to_grammar`), the one llama-server uses. Around it:
//! - a pre-scan ([`scan`]) refuses every keyword the converter would ignore, naming it,
//!   instead of letting a dropped constraint produce output that does not validate;
//! - bounded `number`s, which the converter cannot express, get rules of their own
//!   ([`number`]), spliced in through a placeholder `const`;
//! - the schema keeps its key order ([`ordered`]), so properties come out in the order the
//!   schema lists them.
//!
//! The converter reports failures only as "ffi error" (the C++ exception's text stays on the
//! other side of the FFI boundary), so the pre-scan also checks what makes it throw (bad
//! references, ill-typed keywords) to give a useful message.

mod number;
mod ordered;
mod scan;

use ordered::OVal;

use crate::types::EngineError;

/// Why a JSON schema cannot become a grammar: the keyword at fault and where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at {path})")]
pub struct SchemaError {
    /// JSON pointer of the offending (sub)schema, `#` for the root.
    pub path: String,
    /// The keyword at fault, when there is one.
    pub keyword: Option<String>,
    pub message: String,
}

impl From<SchemaError> for EngineError {
    fn from(e: SchemaError) -> Self {
        EngineError::InvalidRequest(format!("unsupported JSON schema: {e}"))
    }
}

/// The GBNF grammar (root rule `root`) whose outputs are exactly the JSON texts valid under
/// `schema`, or an error naming the keyword that cannot be expressed.
///
/// `serde_json::Value` sorts object keys, so properties are generated in alphabetical
/// order; use [`json_schema_grammar_str`] with the client's text to keep its order.
pub fn json_schema_grammar(schema: &serde_json::Value) -> Result<String, SchemaError> {
    convert(&OVal::from(schema))
}

/// [`json_schema_grammar`] for a schema given as JSON text, keeping its key order.
pub fn json_schema_grammar_str(schema: &str) -> Result<String, SchemaError> {
    let v: OVal = serde_json::from_str(schema).map_err(|e| SchemaError {
        path: "#".into(),
        keyword: None,
        message: format!("the schema is not valid JSON: {e}"),
    })?;
    convert(&v)
}

fn raw_convert(text: &str) -> Result<String, String> {
    llama_cpp_2::json_schema_to_grammar(text).map_err(|e| e.to_string())
}

/// Whether the converter turns `pattern` into a grammar. For a pattern it cannot handle it
/// logs a warning and falls back to "any string", which shows as the `string` rule.
fn pattern_supported(pattern: &str) -> bool {
    let schema = serde_json::json!({"type": "string", "pattern": pattern}).to_string();
    match raw_convert(&schema) {
        Ok(g) => !g.lines().any(|l| l.starts_with("string ::=")),
        Err(_) => false,
    }
}

fn convert(root: &OVal) -> Result<String, SchemaError> {
    let rw = scan::rewrite(root, &pattern_supported)?;
    let mut grammar = raw_convert(&rw.schema.to_json_string()).map_err(|e| SchemaError {
        path: "#".into(),
        keyword: None,
        message: format!("llama.cpp's JSON-schema converter rejected the schema ({e})"),
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
        let rules = number::rules(&name, b, &raw_convert)?;
        grammar = grammar.replace(&literal, &name);
        grammar.push_str(&rules);
    }
    Ok(grammar)
}

#[cfg(test)]
mod tests;
