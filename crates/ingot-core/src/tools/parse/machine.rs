//! A character-at-a-time scanner for the calls after a call marker: one JSON object
//! `{"name": ..., "arguments": {...}}`, several (separated by whitespace, or `;` for Llama 3),
//! an array of them, or Mistral's `name[ARGS]{...}`. It reports a call as soon as its name
//! is known and streams the raw text of its `arguments` object as it arrives.
//!
//! Fed one character at a time, so its output does not depend on how the text was chunked.

use super::super::json::OJson;

/// What ends a run of calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Term {
    /// `</tool_call>` (or a new `<tool_call>`), or the end of the output.
    Hermes,
    /// The end of the first object or array (`[TOOL_CALLS]` marks each run).
    Mistral,
    /// The end of the output; objects may be separated by `;`.
    Llama3,
}

pub(super) const OPEN: &str = "<tool_call>";
pub(super) const CLOSE: &str = "</tool_call>";
const ARGS_TAG: &str = "[ARGS]";

/// What the scanner found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Out {
    Start(String),
    Args(String),
}

/// Result of feeding one character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    More,
    /// The run ended with this character; `reopen`: it was a new `<tool_call>`.
    Done {
        reopen: bool,
    },
    /// The text does not continue a valid run.
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Name,
    Args,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    /// Before the first item: whitespace, then `{`, `[` or (Mistral) a name.
    Lead,
    /// Inside an array, before an item.
    ArrItem,
    /// After `{` or `,` inside an item: a key or `}`.
    ObjKey,
    KeyStr {
        esc: bool,
    },
    Colon,
    Value,
    StrVal {
        esc: bool,
    },
    Nested {
        depth: u32,
        in_str: bool,
        esc: bool,
    },
    Scalar,
    AfterValue,
    /// Inside an array, after an item: `,` or `]`.
    ArrSep,
    /// After the item(s): the terminator.
    AfterItems,
    /// Mistral's `name[ARGS]`.
    TagName,
}

/// The item (call object) being scanned.
#[derive(Debug, Default)]
struct Item {
    name: Option<String>,
    /// A `Start` was emitted for this item.
    committed: bool,
    /// Arguments text (buffered when not committed; the emitted text otherwise).
    args: Option<String>,
    /// `name[ARGS]{...}`: the item ends with its arguments.
    tag_form: bool,
    raw: String,
}

#[derive(Debug)]
pub(super) struct Machine {
    term: Term,
    st: St,
    in_array: bool,
    in_item: bool,
    key: Key,
    /// The raw text of the key or string value being read.
    tok: String,
    item: Item,
    /// The text of the terminator being matched (Hermes).
    tail: String,
    /// Text since the last call consumed it (what a failure gives back as content).
    pub uncommitted: String,
    /// A call was started in this run.
    pub committed_any: bool,
    pub out: Vec<Out>,
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// The string a JSON string literal's inner text (escapes included) stands for.
fn decode(raw: &str) -> Option<String> {
    serde_json::from_str(&format!("\"{raw}\"")).ok()
}

impl Machine {
    pub fn new(term: Term) -> Self {
        Machine {
            term,
            st: St::Lead,
            in_array: false,
            in_item: false,
            key: Key::Other,
            tok: String::new(),
            item: Item::default(),
            tail: String::new(),
            uncommitted: String::new(),
            committed_any: false,
            out: Vec::new(),
        }
    }

    /// Whether the scanner stopped at a clean end (all items complete).
    pub fn complete(&self) -> bool {
        matches!(self.st, St::AfterItems) && !self.in_item
    }

    /// Whether an item is being scanned that no call has claimed yet.
    pub fn in_uncommitted_item(&self) -> bool {
        self.in_item && !self.item.committed
    }

    /// The output ended. A started call keeps the arguments emitted so far (`{}` if none).
    pub fn finish(&mut self) {
        if self.in_item && self.item.committed {
            self.close_committed();
        }
    }

    fn close_committed(&mut self) {
        if self.item.args.is_none() {
            self.item.args = Some("{}".into());
            self.out.push(Out::Args("{}".into()));
        }
    }

    fn begin_item(&mut self) {
        self.in_item = true;
        self.item = Item::default();
        self.item.raw.push('{');
        self.st = St::ObjKey;
    }

    fn start_call(&mut self, name: String, names: &[String]) -> bool {
        if !names.contains(&name) {
            return false;
        }
        self.out.push(Out::Start(name.clone()));
        self.item.name = Some(name);
        self.item.committed = true;
        self.committed_any = true;
        self.uncommitted.clear();
        true
    }

    /// The item's closing `}` (or the end of `[ARGS]{...}`) was read.
    fn end_item(&mut self, names: &[String]) -> Step {
        if self.item.committed {
            self.close_committed();
        } else {
            let Some(name) = self.item.name.clone() else {
                return Step::Fail;
            };
            if !self.item.tag_form && OJson::parse(&self.item.raw).is_none() {
                return Step::Fail;
            }
            let args = self.item.args.clone().unwrap_or_else(|| "{}".into());
            if !OJson::parse(&args).is_some_and(|v| v.is_object()) {
                return Step::Fail;
            }
            if !self.start_call(name, names) {
                return Step::Fail;
            }
            self.out.push(Out::Args(args));
        }
        self.in_item = false;
        self.uncommitted.clear();
        if self.item.tag_form || (self.term == Term::Mistral && !self.in_array) {
            return Step::Done { reopen: false };
        }
        self.st = if self.in_array {
            St::ArrSep
        } else {
            St::AfterItems
        };
        Step::More
    }

    /// A complete string value at the item's top level.
    fn string_value(&mut self, names: &[String]) -> Step {
        let raw = std::mem::take(&mut self.tok);
        match self.key {
            Key::Name => {
                let Some(name) = decode(&raw) else {
                    return Step::Fail;
                };
                if self.item.name.is_some() {
                    return Step::Fail;
                }
                if self.item.args.is_some() {
                    // Arguments came first: the item is checked as a whole at its end.
                    self.item.name = Some(name);
                } else if !self.start_call(name, names) {
                    return Step::Fail;
                }
            }
            Key::Args => {
                // Arguments given as a string holding JSON.
                let Some(text) = decode(&raw) else {
                    return Step::Fail;
                };
                let text = if text.trim().is_empty() {
                    "{}".to_string()
                } else {
                    text
                };
                if self.item.committed {
                    self.out.push(Out::Args(text.clone()));
                }
                self.item.args = Some(text);
                if self.item.tag_form {
                    return self.end_item(names);
                }
            }
            Key::Other => {}
        }
        self.st = St::AfterValue;
        Step::More
    }

    /// A character of the arguments object.
    fn args_char(&mut self, c: char) {
        let args = self.item.args.get_or_insert_with(String::new);
        args.push(c);
        if self.item.committed {
            match self.out.last_mut() {
                Some(Out::Args(s)) => s.push(c),
                _ => self.out.push(Out::Args(c.to_string())),
            }
        }
    }

    pub fn feed(&mut self, c: char, names: &[String]) -> Step {
        self.uncommitted.push(c);
        if self.in_item {
            self.item.raw.push(c);
        }
        let step = self.step(c, names);
        if step == Step::Fail && self.in_item && self.item.committed {
            // A started call stands with what it has; the rest is given back as content.
            self.close_committed();
        }
        step
    }

    fn step(&mut self, c: char, names: &[String]) -> Step {
        match self.st {
            St::Lead => {
                if is_ws(c) {
                } else if c == '{' {
                    self.begin_item();
                } else if c == '[' {
                    self.in_array = true;
                    self.st = St::ArrItem;
                } else if self.term == Term::Mistral
                    && (c.is_alphanumeric() || c == '_' || c == '-')
                {
                    self.in_item = true;
                    self.item = Item {
                        tag_form: true,
                        ..Item::default()
                    };
                    self.item.raw.push(c);
                    self.tok.clear();
                    self.tok.push(c);
                    self.st = St::TagName;
                } else {
                    return Step::Fail;
                }
            }
            St::ArrItem => {
                if c == '{' {
                    self.begin_item();
                } else if !is_ws(c) {
                    return Step::Fail;
                }
            }
            St::TagName => {
                self.tok.push(c);
                if self.tok.len() > 256 {
                    return Step::Fail;
                }
                if let Some(name) = self.tok.strip_suffix(ARGS_TAG) {
                    let name = name.to_string();
                    self.tok.clear();
                    if !self.start_call(name, names) {
                        return Step::Fail;
                    }
                    self.key = Key::Args;
                    self.st = St::Value;
                } else if !(c.is_alphanumeric()
                    || matches!(c, '_' | '-' | '.')
                    || (1..ARGS_TAG.len()).any(|k| self.tok.ends_with(&ARGS_TAG[..k])))
                {
                    return Step::Fail;
                }
            }
            St::ObjKey => {
                if c == '"' {
                    self.tok.clear();
                    self.st = St::KeyStr { esc: false };
                } else if c == '}' {
                    return self.end_item(names);
                } else if !is_ws(c) {
                    return Step::Fail;
                }
            }
            St::KeyStr { esc } => {
                if esc {
                    self.tok.push(c);
                    self.st = St::KeyStr { esc: false };
                } else if c == '\\' {
                    self.tok.push(c);
                    self.st = St::KeyStr { esc: true };
                } else if c == '"' {
                    self.key = match decode(&self.tok).as_deref() {
                        Some("name") => Key::Name,
                        Some("arguments" | "parameters") => Key::Args,
                        _ => Key::Other,
                    };
                    self.tok.clear();
                    self.st = St::Colon;
                } else {
                    self.tok.push(c);
                }
            }
            St::Colon => {
                if c == ':' {
                    self.st = St::Value;
                } else if !is_ws(c) {
                    return Step::Fail;
                }
            }
            St::Value => {
                if is_ws(c) {
                    return Step::More;
                }
                if self.key == Key::Args && self.item.args.is_some() {
                    return Step::Fail;
                }
                match (self.key, c) {
                    (_, '"') => {
                        self.tok.clear();
                        self.st = St::StrVal { esc: false };
                    }
                    (Key::Name, _) => return Step::Fail,
                    (Key::Args, '{') => {
                        self.args_char(c);
                        self.st = St::Nested {
                            depth: 1,
                            in_str: false,
                            esc: false,
                        };
                    }
                    (Key::Args, '[') => return Step::Fail,
                    (Key::Other, '{' | '[') => {
                        self.st = St::Nested {
                            depth: 1,
                            in_str: false,
                            esc: false,
                        };
                    }
                    _ => {
                        self.tok.clear();
                        self.tok.push(c);
                        self.st = St::Scalar;
                    }
                }
            }
            St::StrVal { esc } => {
                if esc {
                    self.tok.push(c);
                    self.st = St::StrVal { esc: false };
                } else if c == '\\' {
                    self.tok.push(c);
                    self.st = St::StrVal { esc: true };
                } else if c == '"' {
                    return self.string_value(names);
                } else {
                    self.tok.push(c);
                }
            }
            St::Nested { depth, in_str, esc } => {
                if self.key == Key::Args {
                    self.args_char(c);
                }
                let (mut depth, mut in_str, mut esc) = (depth, in_str, esc);
                if in_str {
                    if esc {
                        esc = false;
                    } else if c == '\\' {
                        esc = true;
                    } else if c == '"' {
                        in_str = false;
                    }
                } else if c == '"' {
                    in_str = true;
                } else if c == '{' || c == '[' {
                    depth += 1;
                } else if c == '}' || c == ']' {
                    depth -= 1;
                }
                if depth == 0 {
                    if self.key == Key::Args {
                        if self.item.committed {
                            self.uncommitted.clear();
                        }
                        if self.item.tag_form {
                            return self.end_item(names);
                        }
                    }
                    self.st = St::AfterValue;
                } else {
                    self.st = St::Nested { depth, in_str, esc };
                }
            }
            St::Scalar => {
                if is_ws(c) || c == ',' || c == '}' {
                    let scalar = std::mem::take(&mut self.tok);
                    if !matches!(scalar.as_str(), "true" | "false" | "null")
                        && scalar.parse::<f64>().is_err()
                    {
                        return Step::Fail;
                    }
                    if self.key == Key::Args {
                        if scalar != "null" {
                            return Step::Fail;
                        }
                        // `"arguments": null`: no arguments.
                        self.item.args = Some("{}".into());
                        if self.item.committed {
                            self.out.push(Out::Args("{}".into()));
                        }
                    }
                    self.st = St::AfterValue;
                    return self.step(c, names);
                }
                self.tok.push(c);
            }
            St::AfterValue => {
                if c == ',' {
                    self.st = St::ObjKey;
                } else if c == '}' {
                    return self.end_item(names);
                } else if !is_ws(c) {
                    return Step::Fail;
                }
            }
            St::ArrSep => {
                if c == ',' {
                    self.st = St::ArrItem;
                } else if c == ']' {
                    self.in_array = false;
                    if self.term == Term::Mistral {
                        return Step::Done { reopen: false };
                    }
                    self.st = St::AfterItems;
                } else if !is_ws(c) {
                    return Step::Fail;
                }
            }
            St::AfterItems => return self.after_items(c),
        }
        Step::More
    }

    fn after_items(&mut self, c: char) -> Step {
        if self.tail.is_empty() && is_ws(c) {
            return Step::More;
        }
        if self.tail.is_empty() && c == '{' {
            self.begin_item();
            return Step::More;
        }
        match self.term {
            Term::Llama3 if c == ';' => Step::More,
            Term::Hermes => {
                self.tail.push(c);
                if self.tail == CLOSE {
                    Step::Done { reopen: false }
                } else if self.tail == OPEN {
                    Step::Done { reopen: true }
                } else if CLOSE.starts_with(&self.tail) || OPEN.starts_with(&self.tail) {
                    Step::More
                } else {
                    Step::Fail
                }
            }
            _ => Step::Fail,
        }
    }
}
