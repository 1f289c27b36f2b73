//! JSON Schema → GBNF through llama.cpp's own converter (`common/json-schema-to-grammar.cpp`,
//! the one llama-server uses), wrapped by ingot-core's pre-scan and bounded-number rules.

use ingot_core::json_schema::{json_schema_grammar_with, json_schema_value_grammar_with};
use ingot_core::SchemaError;

/// llama.cpp's converter as a [`ingot_core::RawConverter`].
pub fn llama_json_schema_converter(schema: &str) -> Result<String, String> {
    llama_cpp_2::json_schema_to_grammar(schema).map_err(|e| e.to_string())
}

/// The GBNF grammar (root rule `root`) whose outputs are exactly the JSON texts valid under
/// `schema`, or an error naming the keyword that cannot be expressed.
///
/// `serde_json::Value` sorts object keys, so properties are generated in alphabetical
/// order; use [`json_schema_grammar_str`] with the client's text to keep its order.
pub fn json_schema_grammar(schema: &serde_json::Value) -> Result<String, SchemaError> {
    json_schema_value_grammar_with(schema, &llama_json_schema_converter)
}

/// [`json_schema_grammar`] for a schema given as JSON text, keeping its key order.
pub fn json_schema_grammar_str(schema: &str) -> Result<String, SchemaError> {
    json_schema_grammar_with(schema, &llama_json_schema_converter)
}
