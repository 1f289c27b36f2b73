//! Separating tool calls from text in a model's output, streamed or whole.

mod fallback;
mod machine;

use machine::{Machine, Out, Step, Term, OPEN};

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
///
/// Behaviour at the edges (the same streamed or whole, whatever the chunking):
/// - Text outside calls is content. While the text could still be the start of a call
///   marker (`<tool_call>`, `[TOOL_CALLS]`) that tail is held back. An answer that starts
///   like a bare JSON call (`{"`, `[{`, a ```json fence, Llama 3's `<|python_tag|>`) is held
///   until [`OutputParser::finish`] and then read as calls or, failing that, as text.
/// - A call starts ([`ToolEvent::CallStart`]) as soon as its `"name"` is read and names an
///   offered tool; its `arguments` object is then streamed as the model writes it. When
///   `arguments` comes before `name`, or is a string holding JSON, the call is reported
///   whole at the end of its object.
/// - A block that is not a valid call of an offered tool (unknown name, invalid JSON) is
///   given back as content, raw, marker included. Once a call has started it stands: if the
///   block breaks after that (truncated at the end of the output, junk after the object), the
///   call keeps the argument text emitted so far (`{}` when none was), and the unparsed
///   rest is content.
/// - A block left open at the end of the output (no `</tool_call>`) is accepted.
#[derive(Debug)]
pub struct OutputParser {
    format: ToolFormat,
    names: Vec<String>,
    mode: Mode,
    /// Text not yet emitted (undecided, buffered, or a possible marker prefix).
    pending: String,
    machine: Machine,
    /// The text of the current call block, its marker included.
    block_raw: String,
    next_index: usize,
    events: Vec<ToolEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The start of the answer, which may be a bare JSON call.
    Undecided,
    /// The answer is buffered until the end.
    Buffer,
    Text,
    /// Inside a call block (after its marker).
    Block,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Hold,
    Buffer,
    Text,
}

const PYTHON_TAG: &str = "<|python_tag|>";
const MISTRAL_MARKER: &str = "[TOOL_CALLS]";

impl OutputParser {
    /// `forced`: the answer started inside a call ([`super::forced_prefix`] was part of the
    /// prompt), so the whole output is the call body.
    pub fn new(format: ToolFormat, tools: &[ToolSpec], forced: bool) -> Self {
        let names: Vec<String> = tools.iter().map(|t| t.name.clone()).collect();
        let mode = if forced {
            Mode::Block
        } else if names.is_empty() {
            Mode::Text
        } else {
            Mode::Undecided
        };
        OutputParser {
            format,
            names,
            mode,
            pending: String::new(),
            machine: Machine::new(term(format)),
            block_raw: String::new(),
            next_index: 0,
            events: Vec::new(),
        }
    }

    /// Feeds generated text; returns what can be emitted now. Text that may still turn out
    /// to be the start of a call is held back.
    pub fn push(&mut self, text: &str) -> Vec<ToolEvent> {
        for c in text.chars() {
            self.feed(c);
        }
        if self.mode == Mode::Text {
            let keep = marker(self.format).map_or(0, |m| holdback(&self.pending, m));
            let emit = self.pending.len() - keep;
            let content: String = self.pending.drain(..emit).collect();
            self.content(content);
        }
        coalesce(std::mem::take(&mut self.events))
    }

    /// The answer ended: flushes what was held back.
    pub fn finish(&mut self) -> Vec<ToolEvent> {
        if matches!(self.mode, Mode::Undecided | Mode::Buffer) {
            let text = std::mem::take(&mut self.pending);
            self.finish_buffer(text);
        }
        match self.mode {
            Mode::Text => {
                let content = std::mem::take(&mut self.pending);
                self.content(content);
            }
            Mode::Block => {
                self.machine.finish();
                self.drain_machine();
                if !self.machine.committed_any {
                    let raw = std::mem::take(&mut self.block_raw);
                    self.content(raw);
                } else if self.machine.in_uncommitted_item() {
                    let rest = std::mem::take(&mut self.machine.uncommitted);
                    self.content(rest);
                }
                self.mode = Mode::Text;
            }
            Mode::Undecided | Mode::Buffer => {}
        }
        coalesce(std::mem::take(&mut self.events))
    }

    /// Parses a whole answer.
    pub fn parse(format: ToolFormat, tools: &[ToolSpec], forced: bool, text: &str) -> ParsedOutput {
        let mut parser = OutputParser::new(format, tools, forced);
        let mut events = parser.push(text);
        events.extend(parser.finish());
        ParsedOutput::from_events(events)
    }

    fn feed(&mut self, c: char) {
        match self.mode {
            Mode::Undecided => {
                self.pending.push(c);
                match self.decide() {
                    Decision::Hold => {}
                    Decision::Buffer => self.mode = Mode::Buffer,
                    Decision::Text => {
                        self.mode = Mode::Text;
                        let text = std::mem::take(&mut self.pending);
                        text.chars().for_each(|c| self.text_char(c));
                    }
                }
            }
            Mode::Buffer => self.pending.push(c),
            Mode::Text => self.text_char(c),
            Mode::Block => self.block_char(c),
        }
    }

    fn text_char(&mut self, c: char) {
        if self.mode == Mode::Block {
            // A marker opened a block while replaying held text.
            return self.block_char(c);
        }
        self.pending.push(c);
        if let Some(m) = marker(self.format) {
            if self.pending.ends_with(m) {
                let mut content = std::mem::take(&mut self.pending);
                content.truncate(content.len() - m.len());
                self.content(content);
                self.open_block(m);
            }
        }
    }

    fn open_block(&mut self, marker: &str) {
        self.block_raw = marker.to_string();
        self.machine = Machine::new(term(self.format));
        self.mode = Mode::Block;
    }

    fn block_char(&mut self, c: char) {
        self.block_raw.push(c);
        let step = self.machine.feed(c, &self.names);
        self.drain_machine();
        match step {
            Step::More => {}
            Step::Done { reopen: true } => self.open_block(OPEN),
            Step::Done { reopen: false } => self.mode = Mode::Text,
            Step::Fail => {
                let content = if self.machine.committed_any {
                    std::mem::take(&mut self.machine.uncommitted)
                } else {
                    std::mem::take(&mut self.block_raw)
                };
                self.content(content);
                self.mode = Mode::Text;
            }
        }
    }

    fn drain_machine(&mut self) {
        let outs: Vec<Out> = self.machine.out.drain(..).collect();
        self.emit_outs(outs);
    }

    fn emit_outs(&mut self, outs: Vec<Out>) {
        for out in outs {
            match out {
                Out::Start(name) => {
                    self.events.push(ToolEvent::CallStart {
                        index: self.next_index,
                        id: super::new_call_id(),
                        name,
                    });
                    self.next_index += 1;
                }
                Out::Args(fragment) => self.events.push(ToolEvent::CallArguments {
                    index: self.next_index.saturating_sub(1),
                    fragment,
                }),
            }
        }
    }

    fn content(&mut self, text: String) {
        if !text.is_empty() {
            self.events.push(ToolEvent::Content(text));
        }
    }

    /// The end of an answer held from its start: calls if it is a bare call, text otherwise.
    fn finish_buffer(&mut self, text: String) {
        if self.format == ToolFormat::Llama3 {
            let t = text.trim_start();
            let t = t.strip_prefix(PYTHON_TAG).unwrap_or(t);
            if let Some(outs) = whole_calls(Term::Llama3, t, &self.names) {
                self.mode = Mode::Text;
                return self.emit_outs(outs);
            }
        }
        if let Some(outs) = fallback::calls(&text, &self.names) {
            self.mode = Mode::Text;
            return self.emit_outs(outs);
        }
        self.mode = Mode::Text;
        if self.format == ToolFormat::Llama3 {
            self.content(text);
        } else {
            text.chars().for_each(|c| self.text_char(c));
        }
    }

    /// Whether the held start of the answer may be a bare call.
    fn decide(&self) -> Decision {
        let t = self.pending.trim_start();
        match self.format {
            ToolFormat::Llama3 if t.starts_with(PYTHON_TAG) => return Decision::Buffer,
            ToolFormat::Llama3 if !t.is_empty() && PYTHON_TAG.starts_with(t) => {
                return Decision::Hold
            }
            ToolFormat::Mistral if t.starts_with(MISTRAL_MARKER) => return Decision::Text,
            ToolFormat::Mistral if !t.is_empty() && MISTRAL_MARKER.starts_with(t) => {
                return Decision::Hold
            }
            _ => {}
        }
        json_start(t)
    }
}

/// Whether `t` (the answer so far, leading whitespace removed) may begin a bare JSON call.
fn json_start(t: &str) -> Decision {
    let Some(first) = t.chars().next() else {
        return Decision::Hold;
    };
    match first {
        '{' | '[' => {
            let want = if first == '{' { ['"', '}'] } else { ['{', '{'] };
            match t[1..].trim_start().chars().next() {
                None => Decision::Hold,
                Some(c) if want.contains(&c) => Decision::Buffer,
                Some(_) => Decision::Text,
            }
        }
        '`' => {
            let Some(after) = t.strip_prefix("```") else {
                return if "```".starts_with(t) {
                    Decision::Hold
                } else {
                    Decision::Text
                };
            };
            match after.find('\n') {
                None => {
                    let lang = after.trim().to_ascii_lowercase();
                    if after.len() <= 16 && "json".starts_with(&lang) {
                        Decision::Hold
                    } else {
                        Decision::Text
                    }
                }
                Some(i) => {
                    let lang = after[..i].trim();
                    if lang.is_empty() || lang.eq_ignore_ascii_case("json") {
                        json_start(after[i + 1..].trim_start())
                    } else {
                        Decision::Text
                    }
                }
            }
        }
        _ => Decision::Text,
    }
}

fn term(format: ToolFormat) -> Term {
    match format {
        ToolFormat::Hermes | ToolFormat::Generic => Term::Hermes,
        ToolFormat::Mistral => Term::Mistral,
        ToolFormat::Llama3 => Term::Llama3,
    }
}

/// The marker that opens calls inside an answer.
fn marker(format: ToolFormat) -> Option<&'static str> {
    match format {
        ToolFormat::Hermes | ToolFormat::Generic => Some(OPEN),
        ToolFormat::Mistral => Some(MISTRAL_MARKER),
        ToolFormat::Llama3 => None,
    }
}

/// The length of the longest end of `s` that is a proper prefix of `marker`.
fn holdback(s: &str, marker: &str) -> usize {
    (1..marker.len())
        .rev()
        .find(|&k| s.ends_with(&marker[..k]))
        .unwrap_or(0)
}

/// `text` read entirely as calls (objects, an array of them), or `None`.
fn whole_calls(term: Term, text: &str, names: &[String]) -> Option<Vec<Out>> {
    let mut machine = Machine::new(term);
    let mut outs = Vec::new();
    for c in text.chars() {
        let step = machine.feed(c, names);
        outs.append(&mut machine.out);
        if step != Step::More {
            return None;
        }
    }
    (machine.complete() && !outs.is_empty()).then_some(outs)
}

/// Merges adjacent content and adjacent fragments of one call.
fn coalesce(events: Vec<ToolEvent>) -> Vec<ToolEvent> {
    let mut out: Vec<ToolEvent> = Vec::with_capacity(events.len());
    for ev in events {
        match (out.last_mut(), ev) {
            (Some(ToolEvent::Content(a)), ToolEvent::Content(b)) => a.push_str(&b),
            (
                Some(ToolEvent::CallArguments { index: i, fragment }),
                ToolEvent::CallArguments {
                    index: j,
                    fragment: f,
                },
            ) if *i == j => fragment.push_str(&f),
            (_, ev) => out.push(ev),
        }
    }
    out
}

impl ParsedOutput {
    /// The whole answer from its events (content trimmed, fragments joined).
    pub fn from_events(events: impl IntoIterator<Item = ToolEvent>) -> ParsedOutput {
        let mut content = String::new();
        let mut calls: Vec<ToolCall> = Vec::new();
        for ev in events {
            match ev {
                ToolEvent::Content(t) => content.push_str(&t),
                ToolEvent::CallStart { id, name, .. } => calls.push(ToolCall {
                    id,
                    name,
                    arguments: String::new(),
                }),
                ToolEvent::CallArguments { index, fragment } => {
                    if let Some(call) = calls.get_mut(index) {
                        call.arguments.push_str(&fragment);
                    }
                }
            }
        }
        let content = content.trim();
        ParsedOutput {
            content: (!content.is_empty()).then(|| content.to_string()),
            calls,
        }
    }
}
