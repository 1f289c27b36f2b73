//! Separating tool calls from text in a model's output, streamed or whole.

use super::{ToolCall, ToolFormat, ToolSpec};

/// What the parser emits as text arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolEvent {
    /// Plain answer text.
    Content(String),
    /// A call begins: its index in this answer (0, 1, ...), a fresh id and the function name.
    CallStart {
        index: usize,
        id: String,
        name: String,
    },
    /// A fragment of call `index`'s arguments (JSON text; the fragments concatenate to it).
    CallArguments { index: usize, fragment: String },
}

/// A whole answer, split.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedOutput {
    /// The text outside calls; `None` when there was none (only whitespace).
    pub content: Option<String>,
    pub calls: Vec<ToolCall>,
}

/// Incremental parser for one answer.
#[derive(Debug)]
pub struct OutputParser {
    _private: (),
}

impl OutputParser {
    /// `forced`: the answer started inside a call ([`super::forced_prefix`] was part of the
    /// prompt), so the whole output is the call body.
    pub fn new(format: ToolFormat, tools: &[ToolSpec], forced: bool) -> Self {
        let _ = (format, tools, forced);
        unimplemented!("helper implements")
    }

    /// Feeds generated text; returns what can be emitted now. Text that may still turn out
    /// to be the start of a call is held back.
    pub fn push(&mut self, text: &str) -> Vec<ToolEvent> {
        let _ = text;
        unimplemented!("helper implements")
    }

    /// The answer ended: flushes what was held back.
    pub fn finish(&mut self) -> Vec<ToolEvent> {
        unimplemented!("helper implements")
    }

    /// Parses a whole answer.
    pub fn parse(format: ToolFormat, tools: &[ToolSpec], forced: bool, text: &str) -> ParsedOutput {
        let _ = (format, tools, forced, text);
        unimplemented!("helper implements")
    }
}
