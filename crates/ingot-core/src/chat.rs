//! The chat data every layer shares: messages, and the tool-calling request types
//! (offered functions, `tool_choice`, calls, a model family's call format). A leaf module:
//! rendering and parsing them is [`crate::tools`], the engine API [`crate::types`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A tool request that cannot be honoured, named after the field the client wrote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// `tool_choice` names a function that `tools` does not offer.
    #[error("tool_choice names the function `{name}`, which is not among the tools offered ({available})")]
    UnknownFunction { name: String, available: String },
    /// `tool_choice` forces a call but no tools are offered.
    #[error("tool_choice requires a tool call, but `tools` is empty")]
    NoTools,
}

/// One function the client offers (`tools[i].function`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON schema of the arguments (`{"type":"object",...}`); `None` when the client
    /// sent none (any object is accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ToolChoice {
    /// Offer no tools (the model answers in text).
    None,
    /// The model decides.
    #[default]
    Auto,
    /// The model must call one of the tools.
    Required,
    /// The model must call this function.
    Function(String),
}

impl ToolChoice {
    /// Whether generation must produce a call (and is constrained to one).
    pub fn is_forced(&self) -> bool {
        matches!(self, ToolChoice::Required | ToolChoice::Function(_))
    }
}

/// A tool call, in a request's history (assistant `tool_calls`) or in a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// `call_...`; unique within a response.
    pub id: String,
    pub name: String,
    /// The arguments as JSON text (OpenAI sends and expects a string).
    pub arguments: String,
}

/// A chat prompt that offers tools or carries tool turns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolPrompt {
    pub messages: Vec<ChatMessage>,
    /// Empty with [`ToolChoice::None`], or for a follow-up turn that offers no tools.
    pub tools: Vec<ToolSpec>,
    pub choice: ToolChoice,
    /// `parallel_tool_calls` (default true): more than one call may be made in one answer.
    pub parallel: bool,
}

/// How a model family writes tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolFormat {
    /// Hermes / Qwen2.5: `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`,
    /// one block per call.
    Hermes,
    /// Llama 3.x: a bare JSON object `{"name": ..., "parameters": {...}}` as the whole answer.
    Llama3,
    /// Mistral: `[TOOL_CALLS] [{"name": ..., "arguments": {...}}, ...]`.
    Mistral,
    /// A template without tool support: ingot's generic prompt, which asks for
    /// `<tool_call>` blocks holding a JSON object or an array of objects.
    Generic,
}

impl ToolFormat {
    /// The format a chat template's source speaks. A template that does not mention `tools`
    /// cannot render them, so it gets the generic prompt.
    pub fn detect(template_source: Option<&str>) -> ToolFormat {
        let Some(src) = template_source else {
            return ToolFormat::Generic;
        };
        if !src.contains("tools") {
            return ToolFormat::Generic;
        }
        if src.contains("[TOOL_CALLS]") {
            ToolFormat::Mistral
        } else if src.contains("<tool_call>") {
            ToolFormat::Hermes
        } else if src.contains("<|python_tag|>") || src.contains("<|eom_id|>") {
            ToolFormat::Llama3
        } else {
            ToolFormat::Generic
        }
    }

    /// Whether the model's own template renders `tools` (otherwise the generic prompt does).
    pub fn template_renders_tools(self) -> bool {
        !matches!(self, ToolFormat::Generic)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ToolFormat::Hermes => "hermes",
            ToolFormat::Llama3 => "llama3",
            ToolFormat::Mistral => "mistral",
            ToolFormat::Generic => "generic",
        }
    }
}

/// A fresh call id: `call_` and 24 random alphanumerics, like OpenAI's.
pub fn new_call_id() -> String {
    use rand::Rng as _;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    let s: String = (0..24)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect();
    format!("call_{s}")
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
    /// An assistant turn's tool calls (a follow-up request's history).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// A `tool` message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// A `tool` message: the function's name, where the client gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
            ..Self::default()
        }
    }
}
