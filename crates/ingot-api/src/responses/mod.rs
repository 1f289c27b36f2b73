//! OpenAI's Responses API (`POST /v1/responses`), stateless: its request translated into the
//! chat request ingot validates and generates (so every bound of the chat route applies), and
//! the `response` object it answers with.
//!
//! Stateless means no `previous_response_id`, no `conversation`, no `store: true` and no
//! `background`: each is refused with a 400 that says so, rather than silently answered
//! without the state the client meant. Function `tools` (flat, `{"type":"function","name":..}`)
//! become the chat request's tools; `function_call` and `function_call_output` input items
//! become its assistant tool calls and `tool` messages.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::structured::{format_constraint, JsonSchemaFormat, ResponseFormat, SchemaText};
use crate::{
    ApiError, ChatCompletionRequest, ChatMessage, MessageContent, SamplingFields, Validated,
};

/// `POST /v1/responses`. Fields not listed are ignored (`metadata`, `user`, `reasoning`,
/// `include`, `truncation`, `service_tier`, ...): none changes what a
/// stateless text answer is.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResponsesRequest {
    pub model: String,
    /// A string (one user message) or a list of input items.
    pub input: Option<Value>,
    /// A system message placed before the input.
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub max_output_tokens: Option<i64>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub store: Option<bool>,
    #[serde(default)]
    pub background: Option<bool>,
    #[serde(default)]
    pub previous_response_id: Option<Value>,
    #[serde(default)]
    pub conversation: Option<Value>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub text: Option<TextConfig>,
    #[serde(default)]
    pub metadata: Option<Value>,
}

/// `text`: the output's format.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct TextConfig {
    #[serde(default)]
    pub format: Option<Value>,
}

/// A validated Responses request: the chat request it became, and what the `response`
/// object echoes back.
#[derive(Debug, Clone)]
pub struct ValidatedResponses {
    pub chat: Validated,
    pub stream: bool,
    pub echo: ResponseEcho,
}

/// The request's settings as the `response` object reports them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResponseEcho {
    pub instructions: Option<String>,
    pub max_output_tokens: Option<i64>,
    pub temperature: f32,
    pub top_p: f32,
    pub text: Value,
    pub metadata: Value,
    /// The request's `tools`, `tool_choice` and `parallel_tool_calls`, echoed.
    pub tools: Value,
    pub tool_choice: Value,
    pub parallel_tool_calls: bool,
}

fn unsupported(param: &str, message: impl Into<String>) -> ApiError {
    ApiError::InvalidRequest {
        message: message.into(),
        param: Some(param.into()),
        code: Some("unsupported_parameter".into()),
    }
}

impl ResponsesRequest {
    /// Checks the request and turns it into a validated chat request.
    pub fn validate(&self) -> Result<ValidatedResponses, ApiError> {
        if self
            .previous_response_id
            .as_ref()
            .is_some_and(|v| !v.is_null())
        {
            return Err(unsupported(
                "previous_response_id",
                "previous_response_id: ingot's Responses API is stateless and stores no responses; send the whole conversation in `input`",
            ));
        }
        if self.conversation.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(unsupported(
                "conversation",
                "conversation: ingot's Responses API is stateless and keeps no conversations; send the whole conversation in `input`",
            ));
        }
        if self.store == Some(true) {
            return Err(unsupported(
                "store",
                "store: ingot's Responses API is stateless and cannot store responses; send `store: false` or leave it out",
            ));
        }
        if self.background == Some(true) {
            return Err(unsupported(
                "background",
                "background: responses run in the foreground only; use `stream: true` for progress",
            ));
        }
        // Checked in the Responses API's flat shape (so errors name `tools[0].name`), then
        // handed to the chat request in its nested shape.
        let tools_value = self.tools.clone().map(Value::Array);
        let tools = crate::tools::parse_tools(
            tools_value.as_ref(),
            "tools",
            crate::tools::ToolShape::Flat,
        )?;
        let choice = crate::tools::parse_tool_choice(self.tool_choice.as_ref(), &tools)?;
        crate::tools::check_forced_schemas(
            &tools,
            &choice,
            "tools",
            crate::tools::ToolShape::Flat,
        )?;
        let nested_tools: Vec<Value> = tools
            .iter()
            .map(|t| json!({"type": "function", "function": t}))
            .collect();
        let mut messages = Vec::new();
        if let Some(i) = self.instructions.as_deref().filter(|s| !s.is_empty()) {
            messages.push(ChatMessage::new("system", i));
        }
        match &self.input {
            None | Some(Value::Null) => {
                return Err(ApiError::invalid_param("input", "input is required"))
            }
            Some(Value::String(s)) => messages.push(ChatMessage::new("user", s.clone())),
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let m = input_item(item, i)?;
                    // Consecutive `function_call` items are one assistant turn's calls.
                    match messages.last_mut() {
                        Some(prev)
                            if prev.role == "assistant"
                                && prev.tool_calls.is_some()
                                && m.role == "assistant"
                                && m.tool_calls.is_some()
                                && m.content.is_none() =>
                        {
                            let calls = m.tool_calls.unwrap_or_default();
                            prev.tool_calls.get_or_insert_with(Vec::new).extend(calls);
                        }
                        _ => messages.push(m),
                    }
                }
            }
            Some(_) => {
                return Err(ApiError::invalid_param(
                    "input",
                    "input must be a string or a list of input items",
                ))
            }
        }
        if messages.iter().all(|m| m.role == "system") {
            return Err(ApiError::invalid_param(
                "input",
                "input must hold at least one user or assistant message",
            ));
        }

        let format = text_format(self.text.as_ref().and_then(|t| t.format.as_ref()))?;
        let constraint = format_constraint(format.as_ref(), "text.format", false)?;
        let mut chat = ChatCompletionRequest {
            model: self.model.clone(),
            messages,
            max_tokens: self.max_output_tokens,
            sampling: SamplingFields {
                temperature: self.temperature,
                top_p: self.top_p,
                ..SamplingFields::default()
            },
            parallel_tool_calls: self.parallel_tool_calls,
            extras: crate::extras::ChatExtras {
                tools: (!nested_tools.is_empty()).then(|| Value::Array(nested_tools)),
                tool_choice: self.tool_choice.clone(),
                ..Default::default()
            },
            ..ChatCompletionRequest::default()
        }
        .validate()
        .map_err(rename_params)?;
        if let Some(c) = constraint {
            c.apply(&mut chat.request.sampling);
        }
        let text = match &format {
            None => json!({"format": {"type": "text"}}),
            Some(_) => json!({"format": self.text.as_ref().and_then(|t| t.format.clone())}),
        };
        Ok(ValidatedResponses {
            echo: ResponseEcho {
                instructions: self.instructions.clone(),
                max_output_tokens: self.max_output_tokens,
                temperature: chat.request.sampling.temperature,
                top_p: chat.request.sampling.top_p,
                text,
                metadata: self.metadata.clone().unwrap_or_else(|| json!({})),
                tools: tools_value.unwrap_or_else(|| json!([])),
                tool_choice: self.tool_choice.clone().unwrap_or_else(|| json!("auto")),
                parallel_tool_calls: self.parallel_tool_calls.unwrap_or(true),
            },
            chat,
            stream: self.stream.unwrap_or(false),
        })
    }
}

/// The chat route's field names, as the Responses API spells them.
fn rename_params(e: ApiError) -> ApiError {
    match e {
        ApiError::InvalidRequest {
            message,
            param: Some(p),
            code,
        } => {
            let renamed = match p.as_str() {
                "max_tokens" => "max_output_tokens".to_string(),
                p if p.starts_with("messages") => p.replacen("messages", "input", 1),
                _ => p.clone(),
            };
            ApiError::InvalidRequest {
                message: message
                    .replace("max_tokens", "max_output_tokens")
                    .replace("messages", "input"),
                param: Some(renamed),
                code,
            }
        }
        other => other,
    }
}

/// One input item: a message (`{"role", "content"}`, with or without `"type": "message"`)
/// whose content is a string or `input_text` / `output_text` parts.
fn input_item(item: &Value, i: usize) -> Result<ChatMessage, ApiError> {
    let param = format!("input[{i}]");
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    match kind {
        "message" => {}
        "function_call" => return function_call_item(item, &param),
        "function_call_output" => return function_output_item(item, &param),
        "item_reference" => {
            return Err(unsupported(
                &param,
                format!("{param}: item references need stored responses; ingot's Responses API is stateless"),
            ))
        }
        other => {
            return Err(unsupported(
                &param,
                format!("{param}: input items of type `{other}` are not supported (only messages)"),
            ))
        }
    }
    let role = match item.get("role").and_then(Value::as_str) {
        Some("user") => "user",
        Some("assistant") => "assistant",
        // `developer` is the Responses API's name for system instructions.
        Some("system") | Some("developer") => "system",
        Some(other) => {
            return Err(ApiError::invalid_param(
                format!("{param}.role"),
                format!("{param}.role must be user, assistant, system or developer, not `{other}`"),
            ))
        }
        None => {
            return Err(ApiError::invalid_param(
                format!("{param}.role"),
                format!("{param}.role is required"),
            ))
        }
    };
    let text = match item.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (j, part) in parts.iter().enumerate() {
                let p = format!("{param}.content[{j}]");
                match part.get("type").and_then(Value::as_str) {
                    Some("input_text" | "output_text" | "text") => {
                        let t = part.get("text").and_then(Value::as_str).ok_or_else(|| {
                            ApiError::invalid_param(
                                format!("{p}.text"),
                                format!("{p}.text must be a string"),
                            )
                        })?;
                        text.push_str(t);
                    }
                    Some(other) => {
                        return Err(unsupported(
                            &p,
                            format!("{p}: content of type `{other}` is not supported (text only)"),
                        ))
                    }
                    None => {
                        return Err(ApiError::invalid_param(
                            format!("{p}.type"),
                            format!("{p}.type is required"),
                        ))
                    }
                }
            }
            text
        }
        _ => {
            return Err(ApiError::invalid_param(
                format!("{param}.content"),
                format!("{param}.content must be a string or a list of content parts"),
            ))
        }
    };
    Ok(ChatMessage::new(role, text))
}

fn str_field<'a>(item: &'a Value, param: &str, name: &str) -> Result<&'a str, ApiError> {
    item.get(name).and_then(Value::as_str).ok_or_else(|| {
        ApiError::invalid_param(
            format!("{param}.{name}"),
            format!("{param}.{name} is required (a string)"),
        )
    })
}

/// A `function_call` item (a call the model made earlier): an assistant turn with that call.
fn function_call_item(item: &Value, param: &str) -> Result<ChatMessage, ApiError> {
    let call_id = str_field(item, param, "call_id")?;
    let name = str_field(item, param, "name")?;
    crate::tools::check_name(name, &format!("{param}.name"))?;
    let arguments = match item.get("arguments") {
        Some(Value::String(s)) => s.clone(),
        Some(v @ Value::Object(_)) => v.to_string(),
        _ => {
            return Err(ApiError::invalid_param(
                format!("{param}.arguments"),
                format!("{param}.arguments is required (the arguments' JSON text)"),
            ))
        }
    };
    Ok(ChatMessage {
        role: "assistant".into(),
        content: None,
        tool_calls: Some(vec![crate::tools::WireToolCall {
            id: call_id.into(),
            kind: "function".into(),
            function: crate::tools::WireFunctionCall {
                name: name.into(),
                arguments,
            },
        }]),
        tool_call_id: None,
        name: None,
    })
}

/// A `function_call_output` item (the client ran the function): a `tool` message.
fn function_output_item(item: &Value, param: &str) -> Result<ChatMessage, ApiError> {
    let call_id = str_field(item, param, "call_id")?;
    let output = match item.get("output") {
        Some(Value::String(s)) => s.clone(),
        Some(v) if !v.is_null() => v.to_string(),
        _ => {
            return Err(ApiError::invalid_param(
                format!("{param}.output"),
                format!("{param}.output is required"),
            ))
        }
    };
    Ok(ChatMessage {
        role: "tool".into(),
        content: Some(MessageContent::Text(output)),
        tool_calls: None,
        tool_call_id: Some(call_id.into()),
        name: None,
    })
}

/// `text.format`: `{"type": "text"}`, `{"type": "json_object"}` or the flat
/// `{"type": "json_schema", "name", "schema", "strict", "description"}`.
fn text_format(format: Option<&Value>) -> Result<Option<ResponseFormat>, ApiError> {
    let Some(f) = format.filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    let kind = f.get("type").and_then(Value::as_str).ok_or_else(|| {
        ApiError::invalid_param("text.format.type", "text.format.type is required")
    })?;
    let str_field = |name: &str| -> Result<Option<String>, ApiError> {
        match f.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::invalid_param(
                format!("text.format.{name}"),
                format!("text.format.{name} must be a string"),
            )),
        }
    };
    Ok(match kind {
        "text" => None,
        "json_object" => Some(ResponseFormat::new("json_object")),
        "json_schema" => Some(ResponseFormat {
            kind: "json_schema".into(),
            json_schema: Some(JsonSchemaFormat {
                name: str_field("name")?,
                description: str_field("description")?,
                schema: match f.get("schema") {
                    None | Some(Value::Null) => None,
                    Some(s @ Value::Object(_)) => Some(SchemaText::from_value(s)),
                    Some(_) => {
                        return Err(ApiError::invalid_param(
                            "text.format.schema",
                            "text.format.schema must be a JSON schema object",
                        ))
                    }
                },
                strict: f.get("strict").and_then(Value::as_bool),
            }),
        }),
        other => {
            return Err(ApiError::invalid_param(
                "text.format.type",
                format!("unknown text.format type `{other}`; expected `text`, `json_object` or `json_schema`"),
            ))
        }
    })
}

/// Token counts in the Responses API's shape.
pub fn usage_json(input_tokens: u32, output_tokens: u32) -> Value {
    json!({
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens as u64 + output_tokens as u64,
    })
}

/// The assistant message item holding `text`.
pub fn message_item(id: &str, status: &str, text: Option<&str>) -> Value {
    let content = match text {
        Some(t) => json!([{"type": "output_text", "text": t, "annotations": [], "logprobs": []}]),
        None => json!([]),
    };
    json!({"type": "message", "id": id, "status": status, "role": "assistant", "content": content})
}

/// A `function_call` output item (a call the model made).
pub fn function_call_item_json(
    id: &str,
    status: &str,
    call_id: &str,
    name: &str,
    arguments: &str,
) -> Value {
    json!({"type": "function_call", "id": id, "call_id": call_id, "name": name, "arguments": arguments, "status": status})
}

/// A `response` object. `status` is `in_progress`, `completed` or `incomplete` (with
/// `incomplete_reason`); `usage` is `null` until the end.
#[allow(clippy::too_many_arguments)]
pub fn response_json(
    id: &str,
    created_at: u64,
    model: &str,
    echo: &ResponseEcho,
    status: &str,
    incomplete_reason: Option<&str>,
    output: Vec<Value>,
    usage: Option<Value>,
) -> Value {
    json!({
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": false,
        "error": null,
        "incomplete_details": incomplete_reason.map(|r| json!({"reason": r})),
        "instructions": echo.instructions,
        "max_output_tokens": echo.max_output_tokens,
        "model": model,
        "output": output,
        "parallel_tool_calls": echo.parallel_tool_calls,
        "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null},
        "store": false,
        "temperature": echo.temperature,
        "text": echo.text,
        "tool_choice": echo.tool_choice,
        "tools": echo.tools,
        "top_p": echo.top_p,
        "truncation": "disabled",
        "usage": usage,
        "user": null,
        "metadata": echo.metadata,
    })
}

#[cfg(test)]
mod tests;
