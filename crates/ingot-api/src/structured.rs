//! `response_format` → what the engine enforces: JSON mode's grammar (`json_object`) or a
//! JSON schema (`json_schema`), which the engine converts with its backend's converter
//! after the schema passed [`ingot_core::check_json_schema`] here. Shared by chat
//! completions, the Responses API's `text.format` and Ollama's `format`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use ingot_core::{JsonSchemaConstraint, SamplingParams};

use crate::error::ApiError;

/// What a response format asks the engine to enforce.
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    /// A GBNF grammar (JSON mode's).
    Grammar(String),
    /// A checked JSON schema; the engine turns it into a grammar.
    JsonSchema(JsonSchemaConstraint),
}

impl Constraint {
    /// Puts the constraint into the engine's sampling parameters.
    pub fn apply(self, s: &mut SamplingParams) {
        match self {
            Constraint::Grammar(g) => s.grammar = Some(g),
            Constraint::JsonSchema(js) => s.json_schema = Some(js),
        }
    }
}

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

/// The constraint a response format asks for: `None` for plain text. `param` is the field's
/// name in the request (`response_format`, `text.format`) for error messages; `grammar` is
/// the request's own `grammar` extension, which cannot be combined with a JSON format.
pub fn format_constraint(
    f: Option<&ResponseFormat>,
    param: &str,
    has_grammar: bool,
) -> Result<Option<Constraint>, ApiError> {
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
            Ok(Some(Constraint::Grammar(ingot_core::JSON_GBNF.to_string())))
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
            schema_constraint(js, &format!("{param}.json_schema")).map(Some)
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

/// The constraint of one `json_schema` format. A missing `schema` means any JSON object.
pub fn schema_constraint(js: &JsonSchemaFormat, param: &str) -> Result<Constraint, ApiError> {
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
        return Ok(Constraint::Grammar(ingot_core::JSON_GBNF.to_string()));
    };
    schema_text_constraint(schema.get(), &format!("{param}.schema")).map(Constraint::JsonSchema)
}

/// A JSON schema given as text, checked: a schema that cannot be enforced is a 400
/// (`invalid_json_schema`) naming the keyword and where it is. The engine refuses the rest
/// (a `pattern` its converter cannot express) the same way when the request runs.
pub fn schema_text_constraint(schema: &str, param: &str) -> Result<JsonSchemaConstraint, ApiError> {
    let js = JsonSchemaConstraint {
        schema: schema.to_string(),
        param: param.to_string(),
    };
    js.check()?;
    Ok(js)
}
