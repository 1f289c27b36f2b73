//! Tool calling on the wire: OpenAI's `tools`, `tool_choice`, `parallel_tool_calls`, assistant
//! `tool_calls` and `tool` messages, checked and turned into [`ingot_core::tools`] types.
//!
//! Chat Completions and the Responses API name the same things differently (nested
//! `function` objects against flat ones); both parse through here so the rules are the same.

use ingot_core::tools::{ToolCall, ToolChoice, ToolSpec};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::ApiError;

/// OpenAI's limit on tools per request.
pub const MAX_TOOLS: usize = 128;
/// OpenAI's limit on a function name (`^[a-zA-Z0-9_-]{1,64}$`).
pub const MAX_NAME: usize = 64;

/// A tool call in an assistant message (request history) or in a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: WireFunctionCall,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireFunctionCall {
    pub name: String,
    /// JSON text. Some clients send an object; it is taken as its JSON text.
    #[serde(deserialize_with = "string_or_json")]
    pub arguments: String,
}

fn function_type() -> String {
    "function".into()
}

fn string_or_json<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

impl From<ToolCall> for WireToolCall {
    fn from(c: ToolCall) -> Self {
        WireToolCall {
            id: c.id,
            kind: function_type(),
            function: WireFunctionCall {
                name: c.name,
                arguments: c.arguments,
            },
        }
    }
}

/// One entry of a streamed `delta.tool_calls`: the first for a call carries its id, type and
/// name; the following ones only argument fragments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub function: FunctionDelta,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: String,
}

fn invalid(param: impl Into<String>, message: impl Into<String>) -> ApiError {
    ApiError::invalid_param(param, message)
}

/// Checks a function name against OpenAI's rule, reporting `param`.
pub fn check_name(name: &str, param: &str) -> Result<(), ApiError> {
    if name.is_empty()
        || name.len() > MAX_NAME
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(invalid(
            param,
            format!("{param} must be 1 to {MAX_NAME} characters of a-z, A-Z, 0-9, _ and - (got {name:?})"),
        ));
    }
    Ok(())
}

/// Whether the tool's function is nested (`{"type":"function","function":{...}}`, Chat
/// Completions) or flat (`{"type":"function","name":...}`, the Responses API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolShape {
    Nested,
    Flat,
}

/// Parses `tools` (`param` is its field name): each a function with a valid, unique name and
/// an object schema for its parameters.
pub fn parse_tools(
    v: Option<&Value>,
    param: &str,
    shape: ToolShape,
) -> Result<Vec<ToolSpec>, ApiError> {
    let items = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(invalid(param, format!("{param} must be an array of tools"))),
    };
    if items.len() > MAX_TOOLS {
        return Err(invalid(
            param,
            format!(
                "{param} has {} tools; at most {MAX_TOOLS} are allowed",
                items.len()
            ),
        ));
    }
    let mut out: Vec<ToolSpec> = Vec::with_capacity(items.len());
    for (i, t) in items.iter().enumerate() {
        let at = format!("{param}[{i}]");
        let Some(obj) = t.as_object() else {
            return Err(invalid(&at, format!("{at} must be an object")));
        };
        match obj.get("type").and_then(Value::as_str) {
            Some("function") => {}
            Some(other) => {
                return Err(ApiError::InvalidRequest {
                    message: format!(
                        "{at}.type: `{other}` tools are not supported; only `function` tools are (ingot runs no hosted tools)"
                    ),
                    param: Some(format!("{at}.type")),
                    code: Some("unsupported_parameter".into()),
                })
            }
            None => return Err(invalid(format!("{at}.type"), format!("{at}.type must be \"function\""))),
        }
        let (f, fparam) = match shape {
            ToolShape::Nested => match obj.get("function").and_then(Value::as_object) {
                Some(f) => (f, format!("{at}.function")),
                None => {
                    return Err(invalid(
                        format!("{at}.function"),
                        format!("{at}.function must be an object with the function's name"),
                    ))
                }
            },
            ToolShape::Flat => (obj, at.clone()),
        };
        let name = match f.get("name") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(invalid(
                    format!("{fparam}.name"),
                    format!("{fparam}.name is required (a string)"),
                ))
            }
        };
        check_name(&name, &format!("{fparam}.name"))?;
        if out.iter().any(|t| t.name == name) {
            return Err(invalid(
                format!("{fparam}.name"),
                format!("{fparam}.name: the function `{name}` is offered twice"),
            ));
        }
        let description = match f.get("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(invalid(
                    format!("{fparam}.description"),
                    format!("{fparam}.description must be a string"),
                ))
            }
        };
        let parameters = match f.get("parameters") {
            None | Some(Value::Null) => None,
            Some(p @ Value::Object(_)) => Some(p.clone()),
            Some(_) => {
                return Err(invalid(
                    format!("{fparam}.parameters"),
                    format!("{fparam}.parameters must be a JSON schema object"),
                ))
            }
        };
        out.push(ToolSpec {
            name,
            description,
            parameters,
        });
    }
    Ok(out)
}

/// Parses `tool_choice` against the tools offered. `"none"`/`"auto"`/`"required"`, or a named
/// function (`{"type":"function","function":{"name":..}}`, or the Responses API's flat
/// `{"type":"function","name":..}`).
pub fn parse_tool_choice(v: Option<&Value>, tools: &[ToolSpec]) -> Result<ToolChoice, ApiError> {
    const P: &str = "tool_choice";
    let choice = match v {
        None | Some(Value::Null) => ToolChoice::Auto,
        Some(Value::String(s)) => match s.as_str() {
            "none" => ToolChoice::None,
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Required,
            other => {
                return Err(invalid(
                    P,
                    format!("tool_choice: unknown value `{other}`; expected none, auto, required or a function"),
                ))
            }
        },
        Some(Value::Object(o)) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .or_else(|| o.get("name"))
                .and_then(Value::as_str);
            match (o.get("type").and_then(Value::as_str), name) {
                (Some("function"), Some(n)) => ToolChoice::Function(n.to_string()),
                _ => {
                    return Err(invalid(
                        P,
                        "tool_choice must be none, auto, required or {\"type\":\"function\",\"function\":{\"name\":...}}",
                    ))
                }
            }
        }
        Some(_) => return Err(invalid(P, "tool_choice must be a string or an object")),
    };
    match &choice {
        ToolChoice::Required if tools.is_empty() => Err(ApiError::InvalidRequest {
            message: "tool_choice is `required`, but no tools are offered; add `tools`".into(),
            param: Some(P.into()),
            code: Some("unsupported_parameter".into()),
        }),
        ToolChoice::Function(n) if !tools.iter().any(|t| &t.name == n) => {
            Err(invalid(
                P,
                format!(
                "tool_choice names the function `{n}`, which is not among the tools offered ({})",
                if tools.is_empty() {
                    "none".to_string()
                } else {
                    tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
                }
            ),
            ))
        }
        _ => Ok(choice),
    }
}

/// The calls of an assistant message in the history, checked (`param`: where they are).
pub fn history_calls(calls: &[WireToolCall], param: &str) -> Result<Vec<ToolCall>, ApiError> {
    calls
        .iter()
        .enumerate()
        .map(|(j, c)| {
            let at = format!("{param}[{j}]");
            if c.kind != "function" {
                return Err(invalid(
                    format!("{at}.type"),
                    format!("{at}.type: only `function` calls are supported"),
                ));
            }
            check_name(&c.function.name, &format!("{at}.function.name"))?;
            Ok(ToolCall {
                id: c.id.clone(),
                name: c.function.name.clone(),
                arguments: c.function.arguments.clone(),
            })
        })
        .collect()
}

/// The schemas a forced call is constrained by must be enforceable: each offered function's
/// parameters are pre-checked like `response_format`'s schema, reported against the field.
pub fn check_forced_schemas(
    tools: &[ToolSpec],
    choice: &ToolChoice,
    param: &str,
    shape: ToolShape,
) -> Result<(), ApiError> {
    if !choice.is_forced() {
        return Ok(());
    }
    for (i, t) in tools.iter().enumerate() {
        if let ToolChoice::Function(n) = choice {
            if &t.name != n {
                continue;
            }
        }
        if let Some(p) = &t.parameters {
            let at = match shape {
                ToolShape::Nested => format!("{param}[{i}].function.parameters"),
                ToolShape::Flat => format!("{param}[{i}].parameters"),
            };
            crate::structured::schema_text_constraint(&p.to_string(), &at)?;
        }
    }
    Ok(())
}

/// The engine prompt: a plain chat unless tools are offered or the history has tool turns.
/// With `tool_choice: none` the tools are not shown to the model (OpenAI's meaning), but tool
/// turns in the history still render.
pub fn prompt(
    messages: Vec<ingot_core::ChatMessage>,
    tools: Vec<ToolSpec>,
    choice: ToolChoice,
    parallel: bool,
) -> ingot_core::Prompt {
    let tools = if choice == ToolChoice::None {
        Vec::new()
    } else {
        tools
    };
    let tool_turns = messages
        .iter()
        .any(|m| !m.tool_calls.is_empty() || m.role == "tool");
    if tools.is_empty() && !tool_turns {
        return ingot_core::Prompt::Chat(messages);
    }
    ingot_core::Prompt::ChatWithTools(ingot_core::tools::ToolPrompt {
        messages,
        tools,
        choice,
        parallel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn weather() -> Value {
        json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
    }

    #[test]
    fn tools_parse_with_names_descriptions_and_schemas() {
        let t = parse_tools(Some(&weather()), "tools", ToolShape::Nested).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].name, "get_weather");
        assert_eq!(t[0].description.as_deref(), Some("Weather in a city"));
        assert_eq!(
            t[0].parameters.as_ref().unwrap()["required"],
            json!(["city"])
        );
        let flat = json!([{"type": "function", "name": "f", "parameters": {"type": "object"}}]);
        assert_eq!(
            parse_tools(Some(&flat), "tools", ToolShape::Flat).unwrap()[0].name,
            "f"
        );
    }

    #[test]
    fn bad_tools_are_400s_naming_the_field() {
        let cases = [
            (json!("x"), "tools"),
            (json!([1]), "tools[0]"),
            (json!([{"type": "retrieval"}]), "tools[0].type"),
            (json!([{"type": "function"}]), "tools[0].function"),
            (
                json!([{"type": "function", "function": {}}]),
                "tools[0].function.name",
            ),
            (
                json!([{"type": "function", "function": {"name": "a b"}}]),
                "tools[0].function.name",
            ),
            (
                json!([{"type": "function", "function": {"name": "f", "parameters": []}}]),
                "tools[0].function.parameters",
            ),
            (
                json!([{"type": "function", "function": {"name": "f", "description": 3}}]),
                "tools[0].function.description",
            ),
            (
                json!([{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "f"}}]),
                "tools[1].function.name",
            ),
        ];
        for (v, param) in cases {
            let e = parse_tools(Some(&v), "tools", ToolShape::Nested).unwrap_err();
            assert_eq!(e.param(), Some(param), "{v}: {e}");
        }
        let many = Value::Array(vec![
            json!({"type": "function", "function": {"name": "f"}});
            MAX_TOOLS + 1
        ]);
        assert!(parse_tools(Some(&many), "tools", ToolShape::Nested)
            .unwrap_err()
            .to_string()
            .contains("at most 128"));
    }

    #[test]
    fn tool_choice_forms_and_refusals() {
        let t = parse_tools(Some(&weather()), "tools", ToolShape::Nested).unwrap();
        assert_eq!(parse_tool_choice(None, &t).unwrap(), ToolChoice::Auto);
        assert_eq!(
            parse_tool_choice(Some(&json!("none")), &t).unwrap(),
            ToolChoice::None
        );
        assert_eq!(
            parse_tool_choice(Some(&json!("required")), &t).unwrap(),
            ToolChoice::Required
        );
        assert_eq!(
            parse_tool_choice(
                Some(&json!({"type": "function", "function": {"name": "get_weather"}})),
                &t
            )
            .unwrap(),
            ToolChoice::Function("get_weather".into())
        );
        assert_eq!(
            parse_tool_choice(
                Some(&json!({"type": "function", "name": "get_weather"})),
                &t
            )
            .unwrap(),
            ToolChoice::Function("get_weather".into())
        );
        let e = parse_tool_choice(
            Some(&json!({"type": "function", "function": {"name": "nope"}})),
            &t,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("`nope`") && e.to_string().contains("get_weather"),
            "{e}"
        );
        let e = parse_tool_choice(Some(&json!("required")), &[]).unwrap_err();
        assert!(e.to_string().contains("no tools are offered"), "{e}");
        assert!(parse_tool_choice(Some(&json!("sometimes")), &t).is_err());
    }

    #[test]
    fn history_call_arguments_may_be_an_object() {
        let c: WireToolCall = serde_json::from_value(json!({"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}))
        .unwrap();
        assert_eq!(c.function.arguments, r#"{"city":"Paris"}"#);
        let calls = history_calls(&[c], "messages[1].tool_calls").unwrap();
        assert_eq!(calls[0].name, "get_weather");
    }

    #[test]
    fn forced_calls_check_the_parameter_schema_naming_it() {
        let tools = parse_tools(
            Some(&json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "patternProperties": {"a": {}}}}}])),
            "tools",
            ToolShape::Nested,
        )
        .unwrap();
        let e = check_forced_schemas(&tools, &ToolChoice::Required, "tools", ToolShape::Nested)
            .unwrap_err();
        assert!(
            e.param()
                .unwrap()
                .starts_with("tools[0].function.parameters"),
            "{e}"
        );
        // `auto` does not constrain, so the schema is only shown to the model.
        check_forced_schemas(&tools, &ToolChoice::Auto, "tools", ToolShape::Nested).unwrap();
    }
}
