//! `response_format` → grammar: JSON mode (`json_object`) and structured outputs
//! (`json_schema`, converted by the engine's JSON-schema converter; see
//! [`ingot_engine::json_schema_grammar_str`]). Shared by chat completions and the Responses
//! API's `text.format`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::error::ApiError;

/// `response_format` (chat) and, flattened, `text.format` (Responses API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseFormat {
    /// `text`, `json_object` or `json_schema`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The schema of `json_schema` (chat completions nest it here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<JsonSchemaFormat>,
}

impl ResponseFormat {
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            json_schema: None,
        }
    }
}

/// `{"name": .., "schema": {..}, "strict": true, "description": ..}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JsonSchemaFormat {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<SchemaText>,
    /// Accepted either way: ingot always constrains the output to the schema, so `strict:
    /// false` (schema as guidance) gets the strict behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// A JSON schema kept as the client's text, so its key order (the order the model writes
/// the properties in) survives; the workspace's `serde_json::Value` sorts keys.
#[derive(Debug, Clone)]
pub struct SchemaText(pub Box<RawValue>);

impl SchemaText {
    pub fn from_value(v: &serde_json::Value) -> Self {
        // A Value always serializes, and RawValue accepts any valid JSON text.
        let text = serde_json::to_string(v).unwrap_or_else(|_| "{}".into());
        SchemaText(RawValue::from_string(text).unwrap_or_else(|_| empty_object()))
    }
    pub fn get(&self) -> &str {
        self.0.get()
    }
}

fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".into()).expect("{} is JSON")
}

impl PartialEq for SchemaText {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Serialize for SchemaText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for SchemaText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(d).map(SchemaText)
    }
}

/// The grammar a response format asks for: `None` for plain text. `param` is the field's
/// name in the request (`response_format`, `text.format`) for error messages; `grammar` is
/// the request's own `grammar` extension, which cannot be combined with a JSON format.
pub fn format_grammar(
    f: Option<&ResponseFormat>,
    param: &str,
    has_grammar: bool,
) -> Result<Option<String>, ApiError> {
    let Some(f) = f else { return Ok(None) };
    let conflict = || {
        ApiError::invalid_param(
            param,
            format!("{param} `{}` and `grammar` cannot be combined", f.kind),
        )
    };
    match f.kind.as_str() {
        "text" => Ok(None),
        "json_object" => {
            if has_grammar {
                return Err(conflict());
            }
            Ok(Some(ingot_engine::JSON_GBNF.to_string()))
        }
        "json_schema" => {
            if has_grammar {
                return Err(conflict());
            }
            let Some(js) = &f.json_schema else {
                return Err(ApiError::invalid_param(
                    format!("{param}.json_schema"),
                    format!(
                        "{param}: type `json_schema` needs a `json_schema` object with a `schema`"
                    ),
                ));
            };
            schema_grammar(js, &format!("{param}.json_schema")).map(Some)
        }
        other => Err(ApiError::invalid_param(
            format!("{param}.type"),
            format!(
                "unknown {param} type `{other}`; expected `text`, `json_object` or `json_schema`"
            ),
        )),
    }
}

/// Maximum length of a schema's `name` (OpenAI's limit).
const MAX_NAME: usize = 64;

/// The grammar for one `json_schema` format. A missing `schema` means any JSON object.
pub fn schema_grammar(js: &JsonSchemaFormat, param: &str) -> Result<String, ApiError> {
    if let Some(name) = &js.name {
        if name.is_empty()
            || name.len() > MAX_NAME
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ApiError::invalid_param(
                format!("{param}.name"),
                format!(
                    "{param}.name must be 1 to {MAX_NAME} characters of a-z, A-Z, 0-9, _ and -"
                ),
            ));
        }
    }
    let Some(schema) = &js.schema else {
        return Ok(ingot_engine::JSON_GBNF.to_string());
    };
    schema_text_grammar(schema.get(), &format!("{param}.schema"))
}

/// The grammar for a JSON schema given as text; a schema the converter cannot express is a
/// 400 (`invalid_json_schema`) naming the keyword and where it is.
pub fn schema_text_grammar(schema: &str, param: &str) -> Result<String, ApiError> {
    ingot_engine::json_schema_grammar_str(schema).map_err(|e| {
        let keyword = e
            .keyword
            .as_deref()
            .map(|k| format!(" [keyword `{k}`]"))
            .unwrap_or_default();
        ApiError::InvalidRequest {
            message: format!(
                "{param}: this schema cannot be enforced: {} at {}{keyword}",
                e.message, e.path
            ),
            param: Some(param.to_string()),
            code: Some("invalid_json_schema".into()),
        }
    })
}
