//! Forced calls (`tool_choice: required` or a named function): the text the answer starts
//! with and the JSON schema the rest must match, so the call is always valid JSON that
//! matches the function's parameter schema.

use serde_json::Value;

use super::{ToolChoice, ToolError, ToolFormat, ToolSpec};

/// What the assistant's turn starts with when a call is forced; [`super::render`] appends it
/// to the rendered prompt, so the model continues inside the call: `<tool_call>\n` for
/// [`ToolFormat::Hermes`] and [`ToolFormat::Generic`], `[TOOL_CALLS]` for
/// [`ToolFormat::Mistral`], nothing for [`ToolFormat::Llama3`].
pub fn forced_prefix(format: ToolFormat) -> &'static str {
    let _ = format;
    unimplemented!("helper implements")
}

/// The JSON schema that a forced answer (the text after [`forced_prefix`]) must match, or
/// `None` when `choice` does not force a call:
/// - Hermes / Generic: `{"name": <const>, "arguments": <parameters>}`, an `anyOf` over the
///   allowed functions (all of `tools` for `required`, the named one otherwise);
/// - Llama3: the same with `parameters` instead of `arguments`;
/// - Mistral: an array of such objects (`arguments`), exactly one item unless `parallel`.
///
/// A function without a parameter schema takes any object.
pub fn forced_call_schema(
    format: ToolFormat,
    tools: &[ToolSpec],
    choice: &ToolChoice,
    parallel: bool,
) -> Result<Option<Value>, ToolError> {
    let _ = (format, tools, choice, parallel);
    unimplemented!("helper implements")
}
