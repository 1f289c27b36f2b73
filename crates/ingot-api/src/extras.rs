//! OpenAI request fields that change what a response means. ingot either honours them or
//! refuses the request with a 400 that names the field; it never drops one silently, because
//! a client whose `tools` or `logit_bias` were ignored believes they took effect.
//!
//! `tools` and `tool_choice` are parsed by [`crate::tools`]; the deprecated `functions` and
//! `function_call` are refused, pointing at `tools`.
//!
//! Fields that change nothing a client can observe in the output stay ignored: `user`,
//! `metadata`, `store`, `service_tier`, and
//! `prediction` (a latency hint: the output is the same with or without it).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;

/// Chat-completion fields checked here (all kept as raw JSON: a wrong type is reported by
/// [`ChatExtras::check`] with the field's name, like every other validation error).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatExtras {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logit_bias: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modalities: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_search_options: Option<Value>,
}

/// `/v1/completions` fields checked here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionExtras {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logit_bias: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_of: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<Value>,
}

fn refuse(param: &str, why: &str) -> ApiError {
    ApiError::InvalidRequest {
        message: format!("{param}: {why}"),
        param: Some(param.to_string()),
        code: Some("unsupported_parameter".into()),
    }
}

fn is_empty(v: &Option<Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    }
}

fn check_logit_bias(v: &Option<Value>) -> Result<(), ApiError> {
    if !is_empty(v) {
        return Err(refuse(
            "logit_bias",
            "logit_bias is not supported (per-token biases are not applied); remove it",
        ));
    }
    Ok(())
}

impl ChatExtras {
    pub fn check(&self) -> Result<(), ApiError> {
        if !is_empty(&self.functions) {
            return Err(refuse(
                "functions",
                "the deprecated `functions` field is not supported; send the same functions as `tools`",
            ));
        }
        match &self.function_call {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s == "none" || s == "auto" => {}
            Some(_) => {
                return Err(refuse(
                    "function_call",
                    "the deprecated `function_call` field is not supported; use `tool_choice` with `tools`",
                ))
            }
        }
        check_logit_bias(&self.logit_bias)?;
        if !is_empty(&self.audio) {
            return Err(refuse("audio", "audio output is not supported"));
        }
        match &self.modalities {
            None | Some(Value::Null) => {}
            Some(Value::Array(m)) if m.iter().all(|x| x.as_str() == Some("text")) => {}
            Some(_) => {
                return Err(refuse(
                    "modalities",
                    "only the `text` modality is supported",
                ))
            }
        }
        if !is_empty(&self.web_search_options) {
            return Err(refuse(
                "web_search_options",
                "web search is not supported by this server",
            ));
        }
        Ok(())
    }
}

impl CompletionExtras {
    pub fn check(&self) -> Result<(), ApiError> {
        check_logit_bias(&self.logit_bias)?;
        match &self.best_of {
            None | Some(Value::Null) => {}
            Some(v) if v.as_i64() == Some(1) => {}
            Some(_) => return Err(refuse("best_of", "best_of other than 1 is not supported")),
        }
        if !is_empty(&self.suffix) {
            return Err(refuse(
                "suffix",
                "suffix (fill-in-the-middle) is not supported",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chat(v: Value) -> Result<(), ApiError> {
        serde_json::from_value::<ChatExtras>(v).unwrap().check()
    }

    #[test]
    fn meaningful_fields_are_refused_by_name() {
        for (body, param) in [
            (json!({"functions": [{"name": "f"}]}), "functions"),
            (json!({"function_call": {"name": "f"}}), "function_call"),
            (json!({"logit_bias": {"50256": -100}}), "logit_bias"),
            (json!({"audio": {"voice": "alloy"}}), "audio"),
            (json!({"modalities": ["text", "audio"]}), "modalities"),
            (
                json!({"web_search_options": {"search_context_size": "low"}}),
                "web_search_options",
            ),
        ] {
            let e = chat(body.clone()).unwrap_err();
            assert_eq!(e.param(), Some(param), "{body}");
            assert_eq!(e.code(), Some("unsupported_parameter"));
        }
    }

    #[test]
    fn empty_and_neutral_values_pass() {
        chat(json!({"tools": [], "tool_choice": "none", "logit_bias": {}, "modalities": ["text"], "audio": null, "functions": []})).unwrap();
        let c: CompletionExtras =
            serde_json::from_value(json!({"best_of": 1, "suffix": ""})).unwrap();
        c.check().unwrap();
        let c: CompletionExtras = serde_json::from_value(json!({"best_of": 3})).unwrap();
        assert_eq!(c.check().unwrap_err().param(), Some("best_of"));
    }
}
