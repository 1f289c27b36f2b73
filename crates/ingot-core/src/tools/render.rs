//! Rendering a [`ToolPrompt`]: through the model's own template when it renders `tools`,
//! through the generic tool prompt otherwise.

use super::ToolPrompt;
use crate::template::ChatTemplate;
use crate::types::EngineError;

/// The system-prompt text that offers tools to a model whose template cannot (documented in
/// the README). `{tools}` is replaced by one JSON object per line.
pub const GENERIC_TOOL_PROMPT: &str = "";

/// Renders `prompt` with the generation prompt, ending with [`super::forced_prefix`] when a
/// call is forced.
pub fn render(template: &ChatTemplate, prompt: &ToolPrompt) -> Result<String, EngineError> {
    let _ = (template, prompt);
    unimplemented!("helper implements")
}
