//! Rendering a [`ToolPrompt`]: through the model's own template when it renders `tools`,
//! through the generic tool prompt otherwise.

use serde::Serialize;

use super::json::{python_json, OJson};
use super::{forced_prefix, ToolCall, ToolChoice, ToolFormat, ToolPrompt, ToolSpec};
use crate::template::ChatTemplate;
use crate::types::{ChatMessage, EngineError};

/// The system-prompt text that offers tools to a model whose template cannot render them.
/// Public behaviour: what a model without tool support sees, to be described in the README. `{tools}` is replaced by one JSON object per
/// line, each in OpenAI's shape `{"type": "function", "function": {"name": ..., "description":
/// ..., "parameters": ...}}`. The wording follows the Hermes / Qwen2.5 tool prompt, which many
/// small models were trained on. The prompt goes into the system message (after the
/// conversation's own system text and a blank line).
pub const GENERIC_TOOL_PROMPT: &str = "# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{tools}
</tools>

To call a function, reply with a JSON object with the function name and arguments within \
<tool_call></tool_call> XML tags, one block per call:
<tool_call>
{\"name\": <function-name>, \"arguments\": <args-json-object>}
</tool_call>
Otherwise, answer the user normally.";

/// Renders `prompt` with the generation prompt, ending with [`super::forced_prefix`] when a
/// call is forced.
///
/// - A template that renders tools ([`ToolFormat::template_renders_tools`]) gets Hugging
///   Face's message shape (assistant `tool_calls` with `arguments` as a JSON object, `tool`
///   messages with `tool_call_id`/`name`) and a `tools` variable in OpenAI's shape; `tools` is
///   left out when none are offered or the choice is [`ToolChoice::None`], while tool turns in
///   the history are still rendered.
/// - Any other template gets only `system`/`user`/`assistant` messages: the generic tool
///   prompt ([`GENERIC_TOOL_PROMPT`]) in the system message, calls written as `<tool_call>`
///   blocks in the assistant's text, tool results as `<tool_response>` blocks in user turns,
///   and consecutive turns of the same role merged, so templates that insist on alternating
///   roles still render.
pub fn render(template: &ChatTemplate, prompt: &ToolPrompt) -> Result<String, EngineError> {
    let format = ToolFormat::detect(Some(template.source()));
    let offer = !prompt.tools.is_empty() && prompt.choice != ToolChoice::None;
    let mut text = if format.template_renders_tools() {
        let messages: Vec<HfMessage> = prompt.messages.iter().map(HfMessage::from).collect();
        // Structs, not `serde_json::Value`s: the template prints `{"type", "function":
        // {"name", "description", "parameters"}}` in the order models were trained on.
        let extra = offer.then(|| ToolsVar {
            tools: prompt
                .tools
                .iter()
                .map(|t| OpenAiTool {
                    kind: "function",
                    function: t,
                })
                .collect(),
        });
        template.render_with(&messages, extra.as_ref(), true)?
    } else {
        let messages = generic_messages(prompt, offer);
        template.render_with(&messages, None::<&ToolsVar>, true)?
    };
    if prompt.choice.is_forced() {
        text.push_str(forced_prefix(format));
    }
    Ok(text)
}

/// A message as Hugging Face chat templates expect it.
#[derive(Serialize)]
struct HfMessage<'a> {
    role: &'a str,
    content: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<HfCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

#[derive(Serialize)]
struct HfCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: HfFunction<'a>,
}

#[derive(Serialize)]
struct HfFunction<'a> {
    name: &'a str,
    /// A JSON object (key order kept) when the text is one; the text otherwise.
    arguments: Arguments<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Arguments<'a> {
    Object(OJson),
    Text(&'a str),
}

impl<'a> Arguments<'a> {
    fn of(text: &'a str) -> Self {
        match OJson::parse(text) {
            Some(v) if v.is_object() => Arguments::Object(v),
            _ => Arguments::Text(text),
        }
    }
}

impl<'a> From<&'a ChatMessage> for HfMessage<'a> {
    fn from(m: &'a ChatMessage) -> Self {
        HfMessage {
            role: &m.role,
            content: &m.content,
            tool_calls: m
                .tool_calls
                .iter()
                .map(|c| HfCall {
                    id: &c.id,
                    kind: "function",
                    function: HfFunction {
                        name: &c.name,
                        arguments: Arguments::of(&c.arguments),
                    },
                })
                .collect(),
            tool_call_id: m.tool_call_id.as_deref(),
            name: m.name.as_deref(),
        }
    }
}

/// A tool in OpenAI's request shape (`{"type": "function", "function": {...}}`).
#[derive(Serialize)]
struct OpenAiTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: &'a ToolSpec,
}

/// The `tools` variable of a template that renders tools.
#[derive(Serialize)]
struct ToolsVar<'a> {
    tools: Vec<OpenAiTool<'a>>,
}

/// The line a tool has in [`GENERIC_TOOL_PROMPT`].
fn openai_tool_line(tool: &ToolSpec) -> String {
    python_json(&OpenAiTool {
        kind: "function",
        function: tool,
    })
}

/// A message for a template that knows only `system`, `user` and `assistant`.
#[derive(Serialize, Debug, PartialEq)]
struct PlainMessage {
    role: String,
    content: String,
}

/// A call as the generic format writes it: `<tool_call>\n{"name": ..., "arguments": ...}\n</tool_call>`.
fn generic_call_text(call: &ToolCall) -> String {
    #[derive(Serialize)]
    struct Call<'a> {
        name: &'a str,
        arguments: Arguments<'a>,
    }
    let body = python_json(&Call {
        name: &call.name,
        arguments: Arguments::of(&call.arguments),
    });
    format!("<tool_call>\n{body}\n</tool_call>")
}

/// A tool result as the generic format shows it: `<tool_response>` holding
/// `{"name": ..., "content": ...}` (Hermes' shape) when the function is known, the bare
/// content otherwise.
fn generic_tool_response(m: &ChatMessage, history: &[ChatMessage]) -> String {
    let name = m.name.clone().or_else(|| {
        let id = m.tool_call_id.as_deref()?;
        history
            .iter()
            .flat_map(|h| h.tool_calls.iter())
            .find(|c| c.id == id)
            .map(|c| c.name.clone())
    });
    let body = match name {
        Some(name) => {
            #[derive(Serialize)]
            struct Response<'a> {
                name: &'a str,
                content: Content<'a>,
            }
            #[derive(Serialize)]
            #[serde(untagged)]
            enum Content<'a> {
                Json(OJson),
                Text(&'a str),
            }
            let content = match OJson::parse(&m.content) {
                Some(v @ (OJson::Obj(_) | OJson::Arr(_))) => Content::Json(v),
                _ => Content::Text(&m.content),
            };
            python_json(&Response {
                name: &name,
                content,
            })
        }
        None => m.content.clone(),
    };
    format!("<tool_response>\n{body}\n</tool_response>")
}

/// The conversation for a template without tool support (see [`render`]).
fn generic_messages(prompt: &ToolPrompt, offer: bool) -> Vec<PlainMessage> {
    let mut out: Vec<PlainMessage> = Vec::with_capacity(prompt.messages.len() + 1);
    for (i, m) in prompt.messages.iter().enumerate() {
        let (role, content) = match m.role.as_str() {
            "tool" => (
                "user".to_string(),
                generic_tool_response(m, &prompt.messages[..i]),
            ),
            "assistant" if !m.tool_calls.is_empty() => {
                let mut parts: Vec<String> = Vec::new();
                if !m.content.trim().is_empty() {
                    parts.push(m.content.clone());
                }
                parts.extend(m.tool_calls.iter().map(generic_call_text));
                ("assistant".to_string(), parts.join("\n"))
            }
            _ => (m.role.clone(), m.content.clone()),
        };
        match out.last_mut() {
            Some(last) if last.role == role => {
                last.content.push_str("\n\n");
                last.content.push_str(&content);
            }
            _ => out.push(PlainMessage { role, content }),
        }
    }
    if offer {
        let lines: Vec<String> = prompt.tools.iter().map(openai_tool_line).collect();
        let tool_prompt = GENERIC_TOOL_PROMPT.replace("{tools}", &lines.join("\n"));
        match out.first_mut() {
            Some(first) if first.role == "system" => {
                if first.content.trim().is_empty() {
                    first.content = tool_prompt;
                } else {
                    first.content.push_str("\n\n");
                    first.content.push_str(&tool_prompt);
                }
            }
            _ => out.insert(
                0,
                PlainMessage {
                    role: "system".into(),
                    content: tool_prompt,
                },
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(messages: Vec<ChatMessage>, choice: ToolChoice) -> ToolPrompt {
        ToolPrompt {
            messages,
            tools: vec![ToolSpec {
                name: "get_weather".into(),
                description: Some("Weather in a city".into()),
                parameters: Some(serde_json::json!({"type": "object"})),
            }],
            choice,
            parallel: true,
        }
    }

    #[test]
    fn generic_merges_roles_and_prepends_the_tool_prompt() {
        let mut call = ChatMessage::new("assistant", "");
        call.tool_calls.push(ToolCall {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris","unit":"c"}"#.into(),
        });
        let mut result = ChatMessage::new("tool", "18C");
        result.tool_call_id = Some("call_1".into());
        let msgs = vec![
            ChatMessage::new("system", "Be brief."),
            ChatMessage::new("user", "Weather?"),
            call,
            result,
            ChatMessage::new("user", "Thanks"),
        ];
        let out = generic_messages(&prompt(msgs, ToolChoice::Auto), true);
        let roles: Vec<&str> = out.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert!(out[0].content.starts_with("Be brief.\n\n# Tools\n"));
        assert!(out[0].content.contains(
            r#"{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", "parameters": {"type": "object"}}}"#
        ));
        assert_eq!(
            out[2].content,
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}\n</tool_call>"
        );
        assert_eq!(
            out[3].content,
            "<tool_response>\n{\"name\": \"get_weather\", \"content\": \"18C\"}\n</tool_response>\n\nThanks"
        );
        let none = generic_messages(&prompt(vec![], ToolChoice::None), false);
        assert!(none.is_empty());
    }
}
