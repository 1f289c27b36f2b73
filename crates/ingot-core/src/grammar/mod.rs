//! Bounds on GBNF grammars, checked before llama.cpp sees them (issue 12).
//!
//! llama.cpp's grammar parser is recursive (one C++ stack frame pair per nested `(`), expands
//! `S{m,n}` into `m` copies of `S` plus `n - m` synthesized rules, and on any syntax error
//! prints the whole grammar to stderr. A request could therefore overflow the stack (and abort
//! the process), allocate gigabytes, or flood the log. [`check`] walks the grammar the way
//! llama.cpp's `llama_grammar_parser` does, but iteratively and counting instead of building,
//! and refuses what is too large, too deep or would expand too far, as well as everything the
//! parser itself would reject (so its stderr dump never happens), with a message that says
//! what and where.
//!
//! The element counts mirror `parse_sequence`'s rewrite rules (llama-cpp-sys-2 0.1.160,
//! src/llama-grammar.cpp): a literal or character class is one element per character, a rule
//! reference, group, token or `.` one element; `S{m,n}` adds `m - 1` copies of `S` and `n - m`
//! rules of `|S| + 3` elements.

use std::collections::HashMap;

/// A GBNF grammar for one JSON object (JSON mode). Whitespace runs are bounded so a
/// constrained model cannot loop forever on spaces.
pub const JSON_GBNF: &str = r#"root   ::= object
object ::= "{" ws ( member ( "," ws member )* )? "}"
member ::= string ws ":" ws value ws
value  ::= object | array | string | number | "true" | "false" | "null"
array  ::= "[" ws ( value ws ( "," ws value ws )* )? "]"
string ::= "\"" char* "\""
char   ::= [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] )
number ::= "-"? ( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]+ )? ( [eE] [-+]? [0-9]+ )?
ws     ::= [ \t\n]{0,20}
"#;

/// Largest accepted grammar text. llama.cpp's own JSON grammar is under 1 KiB; schemas turned
/// into grammars stay in the tens of KiB.
pub const MAX_GRAMMAR_BYTES: usize = 64 * 1024;
/// Deepest accepted nesting of parenthesised groups.
pub const MAX_GRAMMAR_DEPTH: usize = 128;
/// Most grammar elements (characters, references, separators) the parsed grammar may hold
/// once repetitions are expanded: 8 bytes each in llama.cpp, so about 1 MiB, and it bounds
/// the work of every sampling step too.
pub const MAX_GRAMMAR_ELEMENTS: u64 = 1 << 17;
/// llama.cpp's `MAX_REPETITION_THRESHOLD`: the largest `{n}` it accepts.
const LLAMA_MAX_REPETITION: u64 = 2000;

/// Checks `src` against the bounds above and llama.cpp's GBNF syntax. `is_single_token` says
/// whether a `<token>` reference (angle brackets included) is exactly one token of the model's
/// vocabulary, as llama.cpp requires.
///
/// The error is a sentence naming the problem and, for syntax errors, its line and column.
pub fn check(src: &str, is_single_token: &dyn Fn(&str) -> bool) -> Result<(), String> {
    if src.len() > MAX_GRAMMAR_BYTES {
        return Err(format!(
            "the grammar is {} bytes; the limit is {MAX_GRAMMAR_BYTES}",
            src.len()
        ));
    }
    if src.contains('\0') {
        return Err("the grammar contains a NUL character".into());
    }
    Parser {
        src: src.as_bytes(),
        text: src,
        is_single_token,
        symbols: HashMap::new(),
        n_symbols: 0,
        elements: 0,
    }
    .parse()
}

/// One rule being parsed: a named rule or a parenthesised group (llama.cpp's synthesized
/// sub-rule).
struct Frame {
    /// Elements in the rule so far.
    len: u64,
    /// Where the last item of the current sequence starts (what a repetition applies to).
    last_sym_start: u64,
    /// llama.cpp's `n_prev_rules`: rules the last item stands for, checked against its
    /// repetition threshold.
    n_prev_rules: u64,
    /// Symbols that existed before this group began (for the group's `n_prev_rules`).
    symbols_before: u64,
    /// Inside parentheses newlines are whitespace; at rule level they end the rule.
    nested: bool,
}

struct Parser<'a> {
    src: &'a [u8],
    text: &'a str,
    is_single_token: &'a dyn Fn(&str) -> bool,
    /// Named symbols: whether each has been defined.
    symbols: HashMap<&'a str, bool>,
    /// Every symbol llama.cpp creates (named and synthesized).
    n_symbols: u64,
    /// Elements in all rules, the one being parsed included.
    elements: u64,
}

fn is_word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

impl<'a> Parser<'a> {
    /// The byte at `i`, 0 past the end (llama.cpp reads a NUL-terminated string).
    fn at(&self, i: usize) -> u8 {
        self.src.get(i).copied().unwrap_or(0)
    }

    fn err(&self, pos: usize, what: impl std::fmt::Display) -> String {
        let before = &self.src[..pos.min(self.src.len())];
        let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
        let col = before.iter().rev().take_while(|&&c| c != b'\n').count() + 1;
        format!("{what} at line {line}, column {col}")
    }

    fn space(&self, mut pos: usize, newline_ok: bool) -> usize {
        loop {
            match self.at(pos) {
                b' ' | b'\t' => pos += 1,
                b'\r' | b'\n' if newline_ok => pos += 1,
                b'#' => {
                    while !matches!(self.at(pos), 0 | b'\r' | b'\n') {
                        pos += 1;
                    }
                }
                _ => return pos,
            }
        }
    }

    fn name(&self, pos: usize) -> Result<usize, String> {
        let mut end = pos;
        while is_word_char(self.at(end)) {
            end += 1;
        }
        if end == pos {
            return Err(self.err(pos, "expecting a rule name"));
        }
        Ok(end)
    }

    /// Parses a decimal integer (`u64` like `std::stoull`; larger is an error).
    fn int(&self, pos: usize) -> Result<(u64, usize), String> {
        let mut end = pos;
        while self.at(end).is_ascii_digit() {
            end += 1;
        }
        if end == pos {
            return Err(self.err(pos, "expecting an integer"));
        }
        let digits = &self.text[pos..end];
        let n = digits
            .parse::<u64>()
            .map_err(|_| self.err(pos, format!("the number {digits} is too large")))?;
        Ok((n, end))
    }

    /// One character of a literal or class (an escape, or one UTF-8 character).
    fn char(&self, pos: usize) -> Result<usize, String> {
        match self.at(pos) {
            0 => Err(self.err(pos, "unexpected end of the grammar")),
            b'\\' => {
                let hex = |n: usize| {
                    let start = pos + 2;
                    let ok = (start..start + n).all(|i| self.at(i).is_ascii_hexdigit());
                    if ok {
                        Ok(start + n)
                    } else {
                        Err(self.err(pos, format!("expecting {n} hex digits after the escape")))
                    }
                };
                match self.at(pos + 1) {
                    b'x' => hex(2),
                    b'u' => hex(4),
                    b'U' => hex(8),
                    b't' | b'r' | b'n' | b'\\' | b'"' | b'[' | b']' | b'-' => Ok(pos + 2),
                    _ => Err(self.err(pos, "unknown escape")),
                }
            }
            _ => {
                // `src` is valid UTF-8, so this is a character boundary.
                let c = self.text[pos..].chars().next().map_or(1, char::len_utf8);
                Ok(pos + c)
            }
        }
    }

    fn add_elements(&mut self, n: u64, pos: usize) -> Result<(), String> {
        self.elements = self.elements.saturating_add(n);
        if self.elements > MAX_GRAMMAR_ELEMENTS {
            return Err(self.err(
                pos,
                format!(
                    "the grammar expands to more than {MAX_GRAMMAR_ELEMENTS} elements (too many or too long repeated items)"
                ),
            ));
        }
        Ok(())
    }

    fn parse(mut self) -> Result<(), String> {
        let mut pos = self.space(0, true);
        let mut n_rules = 0;
        while self.at(pos) != 0 {
            pos = self.rule(pos)?;
            n_rules += 1;
        }
        if n_rules == 0 {
            return Err("the grammar defines no rules".into());
        }
        let mut undefined: Vec<&str> = self
            .symbols
            .iter()
            .filter(|(_, defined)| !**defined)
            .map(|(name, _)| *name)
            .collect();
        undefined.sort_unstable();
        if let Some(name) = undefined.first() {
            return Err(format!(
                "the grammar uses the rule `{name}` but never defines it"
            ));
        }
        if !self.symbols.contains_key("root") {
            return Err("the grammar has no `root` rule".into());
        }
        Ok(())
    }

    fn symbol(&mut self, name: &'a str, define: bool) {
        let entry = self.symbols.entry(name).or_insert_with(|| {
            self.n_symbols += 1;
            false
        });
        *entry |= define;
    }

    /// `name ::= alternates` up to the end of its line.
    fn rule(&mut self, start: usize) -> Result<usize, String> {
        let name_end = self.name(start)?;
        let text = self.text;
        self.symbol(&text[start..name_end], true);
        let pos = self.space(name_end, false);
        if !(self.at(pos) == b':' && self.at(pos + 1) == b':' && self.at(pos + 2) == b'=') {
            return Err(self.err(pos, "expecting `::=`"));
        }
        let pos = self.space(pos + 3, true);
        let pos = self.alternates(pos)?;
        match self.at(pos) {
            b'\r' if self.at(pos + 1) == b'\n' => Ok(self.space(pos + 2, true)),
            b'\r' | b'\n' => Ok(self.space(pos + 1, true)),
            0 => Ok(pos),
            _ => Err(self.err(pos, "expecting a newline or the end of the grammar")),
        }
    }

    /// The alternates of one rule, groups included, with an explicit stack of frames instead
    /// of recursion. Returns the position after the rule's last sequence.
    fn alternates(&mut self, mut pos: usize) -> Result<usize, String> {
        let mut stack = vec![Frame {
            len: 0,
            last_sym_start: 0,
            n_prev_rules: 1,
            symbols_before: 0,
            nested: false,
        }];
        loop {
            // The rule's own frame is popped only on return.
            let f = stack.last_mut().expect("a frame");
            let nested = f.nested;
            let c = self.at(pos);
            // One item, or the end of the sequence.
            let atom = match c {
                b'"' => {
                    let start = f.len;
                    let mut p = pos + 1;
                    let mut n = 0u64;
                    while self.at(p) != b'"' {
                        p = self.char(p)?;
                        n += 1;
                    }
                    pos = self.space(p + 1, nested);
                    Some((start, n))
                }
                b'[' => {
                    let start = f.len;
                    let mut p = pos + 1;
                    if self.at(p) == b'^' {
                        p += 1;
                    }
                    let mut n = 0u64;
                    while self.at(p) != b']' {
                        p = self.char(p)?;
                        n += 1;
                        if self.at(p) == b'-' && self.at(p + 1) != b']' {
                            p = self.char(p + 1)?;
                            n += 1;
                        }
                    }
                    pos = self.space(p + 1, nested);
                    Some((start, n))
                }
                b'<' | b'!' => {
                    let start = f.len;
                    let p = if c == b'!' { pos + 1 } else { pos };
                    pos = self.space(self.token(p)?, nested);
                    Some((start, 1))
                }
                b'.' => {
                    let start = f.len;
                    pos = self.space(pos + 1, nested);
                    Some((start, 1))
                }
                c if is_word_char(c) => {
                    let start = f.len;
                    let end = self.name(pos)?;
                    let text = self.text;
                    let name = &text[pos..end];
                    self.symbol(name, false);
                    pos = self.space(end, nested);
                    Some((start, 1))
                }
                _ => None,
            };
            if let Some((start, n)) = atom {
                let f = stack.last_mut().expect("a frame");
                f.last_sym_start = start;
                f.n_prev_rules = 1;
                f.len += n;
                self.add_elements(n, pos)?;
                continue;
            }
            match c {
                b'(' => {
                    if stack.len() > MAX_GRAMMAR_DEPTH {
                        return Err(self.err(
                            pos,
                            format!(
                                "the grammar nests groups deeper than {MAX_GRAMMAR_DEPTH} levels"
                            ),
                        ));
                    }
                    let symbols_before = self.n_symbols;
                    self.n_symbols += 1;
                    pos = self.space(pos + 1, true);
                    stack.push(Frame {
                        len: 0,
                        last_sym_start: 0,
                        n_prev_rules: 1,
                        symbols_before,
                        nested: true,
                    });
                }
                b'*' | b'+' | b'?' => {
                    let at = pos;
                    pos = self.space(pos + 1, nested);
                    let (min, max) = match c {
                        b'*' => (0, None),
                        b'+' => (1, None),
                        _ => (0, Some(1)),
                    };
                    self.repeat(stack.last_mut().expect("a frame"), min, max, at)?;
                }
                b'{' => {
                    let at = pos;
                    pos = self.space(pos + 1, nested);
                    if !self.at(pos).is_ascii_digit() {
                        return Err(self.err(pos, "expecting a number after `{`"));
                    }
                    let (min, end) = self.int(pos)?;
                    pos = self.space(end, nested);
                    let max = match self.at(pos) {
                        b'}' => Some(min),
                        b',' => {
                            pos = self.space(pos + 1, nested);
                            let max = if self.at(pos).is_ascii_digit() {
                                let (max, end) = self.int(pos)?;
                                pos = self.space(end, nested);
                                Some(max)
                            } else {
                                None
                            };
                            if self.at(pos) != b'}' {
                                return Err(self.err(pos, "expecting `}`"));
                            }
                            max
                        }
                        _ => return Err(self.err(pos, "expecting `,` or `}`")),
                    };
                    pos = self.space(pos + 1, nested);
                    if min > LLAMA_MAX_REPETITION {
                        return Err(self.err(
                            at,
                            format!(
                                "the repetition count {min} is larger than {LLAMA_MAX_REPETITION}"
                            ),
                        ));
                    }
                    if let Some(max) = max.filter(|&m| m < min) {
                        return Err(self.err(
                            at,
                            format!(
                                "the repetition {{{min},{max}}} has a maximum below its minimum"
                            ),
                        ));
                    }
                    // llama.cpp reads a maximum above its threshold as "unbounded".
                    let max = max.filter(|&m| m <= LLAMA_MAX_REPETITION);
                    self.repeat(stack.last_mut().expect("a frame"), min, max, at)?;
                }
                b'|' => {
                    let f = stack.last_mut().expect("a frame");
                    f.len += 1;
                    f.last_sym_start = f.len;
                    f.n_prev_rules = 1;
                    self.add_elements(1, pos)?;
                    pos = self.space(pos + 1, true);
                }
                _ => {
                    // End of this rule's (or group's) alternates.
                    let done = stack.pop().expect("a frame");
                    self.add_elements(1, pos)?;
                    let Some(parent) = stack.last_mut() else {
                        return Ok(pos);
                    };
                    if self.at(pos) != b')' {
                        return Err(self.err(pos, "expecting `)`"));
                    }
                    parent.n_prev_rules = (self.n_symbols - done.symbols_before).max(1);
                    parent.last_sym_start = parent.len;
                    parent.len += 1;
                    let parent_nested = parent.nested;
                    self.add_elements(1, pos)?;
                    pos = self.space(pos + 1, parent_nested);
                }
            }
        }
    }

    /// `<token>` or `<[id]>`; returns the position after `>`.
    fn token(&self, pos: usize) -> Result<usize, String> {
        if self.at(pos) != b'<' {
            return Err(self.err(pos, "expecting `<`"));
        }
        if self.at(pos + 1) == b'[' {
            let (id, end) = self.int(pos + 2)?;
            if id > u64::from(u32::MAX) {
                return Err(self.err(pos, "the token id is too large"));
            }
            if self.at(end) != b']' || self.at(end + 1) != b'>' {
                return Err(self.err(end, "expecting `]>`"));
            }
            return Ok(end + 2);
        }
        let mut end = pos + 1;
        while !matches!(self.at(end), 0 | b'>') {
            end += 1;
        }
        if self.at(end) != b'>' {
            return Err(self.err(pos, "expecting `>` to close the token"));
        }
        let text = &self.text[pos..=end];
        if !(self.is_single_token)(text) {
            let shown: String = text.chars().take(40).collect();
            return Err(self.err(
                pos,
                format!("`{shown}` is not a single token of this model"),
            ));
        }
        Ok(end + 1)
    }

    /// Applies `S{min,max}` (`max` `None`: unbounded) to the last item of `f`, counting what
    /// llama.cpp's rewrite creates.
    fn repeat(
        &mut self,
        f: &mut Frame,
        min: u64,
        max: Option<u64>,
        pos: usize,
    ) -> Result<(), String> {
        if f.last_sym_start == f.len {
            return Err(self.err(
                pos,
                "a repetition (`*`, `+`, `?`, `{`) needs an item before it",
            ));
        }
        let prev = f.len - f.last_sym_start;
        let total_rules = match max {
            Some(m) if m > 0 => m,
            _ if min > 0 => min,
            _ => 1,
        };
        if f.n_prev_rules.saturating_mul(total_rules) > LLAMA_MAX_REPETITION {
            return Err(self.err(
                pos,
                format!(
                    "nested repetitions multiply to more than {LLAMA_MAX_REPETITION} copies of a rule"
                ),
            ));
        }
        if min == 0 {
            f.len = f.last_sym_start;
            self.elements -= prev;
        } else {
            let copies = prev.saturating_mul(min - 1);
            f.len = f.len.saturating_add(copies);
            self.add_elements(copies, pos)?;
        }
        let n_opt = match max {
            None => 1,
            Some(m) => m - min,
        };
        // n_opt rules of the item, a reference to the previous one (all but the first of a
        // bounded chain), an ALT and an END; plus one reference in this rule.
        let refs = if max.is_none() {
            n_opt
        } else {
            n_opt.saturating_sub(1)
        };
        let added = n_opt
            .saturating_mul(prev.saturating_add(2))
            .saturating_add(refs)
            .saturating_add(u64::from(n_opt > 0));
        self.add_elements(added, pos)?;
        self.n_symbols += n_opt;
        if n_opt > 0 {
            f.len += 1;
        }
        f.n_prev_rules = f.n_prev_rules.saturating_mul(total_rules);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
