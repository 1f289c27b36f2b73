//! Tool calling (OpenAI `tools`, `tool_choice`, `tool` messages), independent of any engine.
//!
//! The flow for one request:
//! 1. The HTTP layer turns the request's `tools` into [`ToolSpec`]s, its `tool_choice` into a
//!    [`ToolChoice`], and the conversation (assistant `tool_calls`, `tool` results) into
//!    [`crate::ChatMessage`]s; it sends [`crate::Prompt::ChatWithTools`].
//! 2. The engine renders it with [`render`]: through the model's own chat template when the
//!    template takes a `tools` variable, or through the documented generic tool prompt
//!    otherwise. When a call is forced (`required` or a named function) the rendered prompt
//!    ends with the format's call opener ([`forced_prefix`]) and generation is constrained by
//!    [`forced_call_schema`] (a JSON schema, converted to a grammar like `response_format`).
//! 3. The HTTP layer feeds the generated text through an [`OutputParser`], which separates
//!    plain content from tool calls, streamed or not.
//!
//! The output syntax depends on the model family ([`ToolFormat`], detected from the chat
//! template's source).

mod forced;
mod json;
mod parse;
mod render;

pub use forced::{forced_call_schema, forced_call_schema_text, forced_prefix};
pub use parse::{OutputParser, ParsedOutput, ToolEvent};
pub use render::{render, GENERIC_TOOL_PROMPT};

pub use crate::chat::{
    new_call_id, ToolCall, ToolChoice, ToolError, ToolFormat, ToolPrompt, ToolSpec,
};
