//! Tool calls in a generation's output: the grammar a forced call is generated under, and the
//! split of the generated text into content and `tool_calls`, whole or streamed. The parsing
//! itself is `ingot_core::tools`; this module maps it onto the OpenAI shapes.

use ingot_api::tools::{FunctionDelta, ToolCallDelta, WireToolCall};
use ingot_api::{ApiError, Delta};
use ingot_core::tools::{
    forced_call_schema_text, OutputParser, ParsedOutput, ToolEvent, ToolFormat, ToolSpec,
};
use ingot_core::{JsonSchemaConstraint, LoadedModel, Prompt, SamplingParams};

/// The tool side of one generation.
pub(crate) struct ToolOutput {
    format: ToolFormat,
    tools: Vec<ToolSpec>,
    forced: bool,
    /// `parallel_tool_calls`: when false, calls after the first are dropped.
    parallel: bool,
    parser: OutputParser,
    calls: usize,
}

impl ToolOutput {
    /// For a request that offers tools: the model's call format, and (when a call is forced)
    /// the grammar it is generated under. `None` for requests without tools.
    pub(crate) fn for_request(
        model: &dyn LoadedModel,
        prompt: &Prompt,
        sampling: &mut SamplingParams,
    ) -> Result<Option<ToolOutput>, ApiError> {
        let Prompt::ChatWithTools(p) = prompt else {
            return Ok(None);
        };
        if p.tools.is_empty() {
            return Ok(None);
        }
        let format = model.tool_format();
        let forced = p.choice.is_forced();
        // As text, so `name` comes before `arguments` in the grammar (a `Value` sorts keys).
        if let Some(schema) = forced_call_schema_text(format, &p.tools, &p.choice, p.parallel)
            .map_err(|e| ApiError::invalid_param("tool_choice", e.to_string()))?
        {
            sampling.json_schema = Some(JsonSchemaConstraint {
                schema,
                param: "tool_choice".into(),
            });
        }
        Ok(Some(ToolOutput {
            format,
            tools: p.tools.clone(),
            forced,
            parallel: p.parallel,
            parser: OutputParser::new(format, &p.tools, forced),
            calls: 0,
        }))
    }

    /// Whether generation is constrained to a call (the model needs grammar support).
    pub(crate) fn forced(&self) -> bool {
        self.forced
    }

    /// A whole answer, split.
    pub(crate) fn parse(&self, text: &str) -> ParsedOutput {
        let mut parsed = OutputParser::parse(self.format, &self.tools, self.forced, text);
        if !self.parallel {
            parsed.calls.truncate(1);
        }
        parsed
    }

    /// Streamed text in; the deltas to send out.
    pub(crate) fn push(&mut self, text: &str) -> Vec<Delta> {
        let events = self.parser.push(text);
        self.deltas(events)
    }

    /// The end of the answer: what the parser held back.
    pub(crate) fn finish(&mut self) -> Vec<Delta> {
        let events = self.parser.finish();
        self.deltas(events)
    }

    /// Calls streamed so far.
    pub(crate) fn calls(&self) -> usize {
        self.calls
    }

    fn deltas(&mut self, events: Vec<ToolEvent>) -> Vec<Delta> {
        let mut out: Vec<Delta> = Vec::new();
        for ev in events {
            let index = match &ev {
                ToolEvent::CallStart { index, .. } | ToolEvent::CallArguments { index, .. } => {
                    *index
                }
                ToolEvent::Content(_) => 0,
            };
            if !self.parallel && index > 0 {
                continue;
            }
            match ev {
                ToolEvent::Content(t) if t.is_empty() => {}
                ToolEvent::Content(t) => match out.last_mut() {
                    // Consecutive content goes out in one chunk.
                    Some(Delta {
                        content: Some(c),
                        tool_calls: None,
                        ..
                    }) => c.push_str(&t),
                    _ => out.push(Delta {
                        content: Some(t),
                        ..Delta::default()
                    }),
                },
                ToolEvent::CallStart { index, id, name } => {
                    self.calls = self.calls.max(index + 1);
                    out.push(call_delta(ToolCallDelta {
                        index: index as u32,
                        id: Some(id),
                        kind: Some("function".into()),
                        function: FunctionDelta {
                            name: Some(name),
                            arguments: String::new(),
                        },
                    }));
                }
                ToolEvent::CallArguments { index, fragment } => {
                    out.push(call_delta(ToolCallDelta {
                        index: index as u32,
                        id: None,
                        kind: None,
                        function: FunctionDelta {
                            name: None,
                            arguments: fragment,
                        },
                    }));
                }
            }
        }
        out
    }
}

fn call_delta(d: ToolCallDelta) -> Delta {
    Delta {
        tool_calls: Some(vec![d]),
        ..Delta::default()
    }
}

/// The finish reason of an answer that made calls: `tool_calls`, unless it was cut short.
pub(crate) fn finish_reason(reason: String, made_calls: bool) -> String {
    if made_calls && reason == "stop" {
        "tool_calls".into()
    } else {
        reason
    }
}

/// The assistant message of a whole answer: content and calls split when tools were offered.
pub(crate) fn message(
    tools: Option<&ToolOutput>,
    text: String,
) -> (ingot_api::AssistantMessage, bool) {
    let Some(t) = tools else {
        return (
            ingot_api::AssistantMessage {
                role: "assistant".into(),
                content: Some(text),
                tool_calls: None,
            },
            false,
        );
    };
    let parsed = t.parse(&text);
    let made_calls = !parsed.calls.is_empty();
    if !made_calls {
        // No call: the answer is the text as generated.
        return (
            ingot_api::AssistantMessage {
                role: "assistant".into(),
                content: Some(text),
                tool_calls: None,
            },
            false,
        );
    }
    (
        ingot_api::AssistantMessage {
            role: "assistant".into(),
            // OpenAI sends `content: null` beside calls when the model wrote no text.
            content: parsed.content,
            tool_calls: Some(parsed.calls.into_iter().map(WireToolCall::from).collect()),
        },
        made_calls,
    )
}
