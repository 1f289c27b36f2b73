//! Chat templates: the Jinja template stored in a GGUF's `tokenizer.chat_template`, rendered
//! the way Hugging Face `transformers.apply_chat_template` renders it.
//!
//! llama.cpp's own `llama_chat_apply_template` is not a Jinja engine: it pattern-matches known
//! templates and re-implements them, which silently drops details such as SmolLM2's or Qwen's
//! default system prompt. We render the real template with minijinja instead, configured like
//! transformers' sandboxed jinja2 environment:
//! - `trim_blocks` and `lstrip_blocks` on, loop controls (`{% break %}`/`{% continue %}`);
//! - `raise_exception(msg)`, `strftime_now(fmt)` globals and a `tojson` filter that matches
//!   Python's `json.dumps(x, ensure_ascii=False)` (`", "`/`": "` separators, key order kept);
//! - Python string/dict/list methods (`.strip()`, `.startswith()`, `.items()`, ...) through
//!   minijinja-contrib's pycompat callback;
//! - `True`/`False`/`None` printed the Python way.

use std::fmt::Write as _;

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Value};
use serde::Serialize;

use crate::types::{ChatMessage, EngineError};

const TEMPLATE_NAME: &str = "chat";

/// Instructions one rendering may run (minijinja's fuel). A chat template runs a few dozen
/// per message, so this covers conversations of tens of thousands of messages (far beyond
/// any context), while a template that loops (a GGUF's own template is untrusted input)
/// stops within a fraction of a second instead of pinning a core (issue 12).
pub const TEMPLATE_FUEL: u64 = 5_000_000;
/// Largest rendered prompt: far beyond any context (the prompt is checked against the
/// context right after), small enough that a template cannot exhaust memory.
pub const MAX_RENDERED_BYTES: usize = 64 << 20;

/// A compiled chat template together with the special tokens it may refer to.
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("len", &self.source.len())
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish()
    }
}

impl ChatTemplate {
    /// Compiles `source`. Syntax errors are reported here rather than on the first request.
    pub fn new(
        source: impl Into<String>,
        bos_token: impl Into<String>,
        eos_token: impl Into<String>,
    ) -> Result<Self, EngineError> {
        let source = source.into();
        let mut env = hf_environment();
        env.add_template_owned(TEMPLATE_NAME, source.clone())
            .map_err(template_error)?;
        Ok(Self {
            env,
            source,
            bos_token: bos_token.into(),
            eos_token: eos_token.into(),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn bos_token(&self) -> &str {
        &self.bos_token
    }

    pub fn eos_token(&self) -> &str {
        &self.eos_token
    }

    /// Renders `messages` with `add_generation_prompt = true`.
    pub fn render(&self, messages: &[ChatMessage]) -> Result<String, EngineError> {
        self.render_with(messages, None::<&serde_json::Value>, true)
    }

    /// Renders any serialisable message list (e.g. messages with `tool_calls`), with extra
    /// top-level variables (e.g. `tools`) merged into the context. `extra` must be a JSON
    /// object; its keys override the defaults.
    pub fn render_with<M: Serialize + ?Sized, E: Serialize + ?Sized>(
        &self,
        messages: &M,
        extra: Option<&E>,
        add_generation_prompt: bool,
    ) -> Result<String, EngineError> {
        let tmpl = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(template_error)?;
        let base = minijinja::context! {
            messages => Value::from_serialize(messages),
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token.as_str(),
            eos_token => self.eos_token.as_str(),
        };
        // A struct keeps its field order here (minijinja preserves map order), which is what
        // the template prints with `tojson`; a `serde_json::Value` would be sorted.
        let ctx = match extra.map(Value::from_serialize) {
            None => base,
            Some(extra) if extra.kind() == ValueKind::Map => {
                // Later context wins in merge_maps, so `extra` goes first to override.
                minijinja::context! { ..extra, ..base }
            }
            Some(other) => {
                return Err(EngineError::Template(format!(
                    "extra template variables must be a map, got {other}"
                )))
            }
        };
        let mut out = LimitedWriter(Vec::new());
        tmpl.render_captured_to(ctx, &mut out)
            .map_err(|e| match e.kind() {
                ErrorKind::WriteFailure => EngineError::Template(format!(
                    "the chat template's output exceeds {MAX_RENDERED_BYTES} bytes"
                )),
                _ => template_error(e),
            })?;
        String::from_utf8(out.0)
            .map_err(|_| EngineError::Template("the chat template's output is not UTF-8".into()))
    }
}

/// A buffer that refuses to grow beyond [`MAX_RENDERED_BYTES`].
struct LimitedWriter(Vec<u8>);

impl std::io::Write for LimitedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_RENDERED_BYTES {
            return Err(std::io::Error::other("rendered prompt too large"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Renders `template` for `messages` with `add_generation_prompt = true`, the given BOS/EOS
/// strings, and transformers-compatible semantics (see the module docs).
pub fn render_chat(
    template: &str,
    messages: &[ChatMessage],
    bos_token: &str,
    eos_token: &str,
) -> Result<String, EngineError> {
    ChatTemplate::new(template, bos_token, eos_token)?.render(messages)
}

fn template_error(err: Error) -> EngineError {
    if err.kind() == ErrorKind::OutOfFuel {
        return EngineError::Template(format!(
            "the chat template ran out of its budget of {TEMPLATE_FUEL} instructions: it loops \
             (too long) or the conversation is unreasonably long"
        ));
    }
    // Include the chain of causes: minijinja wraps errors raised inside filters/functions.
    let mut msg = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        let _ = write!(msg, ": {s}");
        source = s.source();
    }
    EngineError::Template(msg)
}

fn hf_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.set_formatter(python_formatter);
    env.add_function("raise_exception", raise_exception);
    env.add_function("strftime_now", strftime_now);
    env.add_filter("tojson", tojson);
    env
}

/// Prints booleans and none like Python's `str()` (`True`, `None`), as jinja2 does.
fn python_formatter(
    out: &mut minijinja::Output<'_>,
    state: &minijinja::State<'_, '_>,
    value: &Value,
) -> Result<(), Error> {
    match value.kind() {
        ValueKind::Bool => {
            out.write_str(if value.is_true() { "True" } else { "False" })?;
            Ok(())
        }
        ValueKind::None => {
            out.write_str("None")?;
            Ok(())
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

fn strftime_now(format: String) -> Result<String, Error> {
    // `now_local` fails when the UTC offset cannot be determined safely (multi-threaded
    // process on some platforms); UTC is a reasonable fallback for a date in a system prompt.
    let now = time::OffsetDateTime::now_local().unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    Ok(strftime(&now, &format))
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// The subset of C `strftime` that chat templates use (dates in system prompts).
pub(crate) fn strftime(t: &time::OffsetDateTime, format: &str) -> String {
    let mut out = String::with_capacity(format.len() + 16);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push('%');
            break;
        };
        let month = t.month() as usize - 1;
        let wd = t.weekday().number_days_from_monday() as usize;
        let hour12 = match t.hour() % 12 {
            0 => 12,
            h => h,
        };
        let _ = match spec {
            'Y' => write!(out, "{}", t.year()),
            'y' => write!(out, "{:02}", t.year().rem_euclid(100)),
            'm' => write!(out, "{:02}", month + 1),
            'd' => write!(out, "{:02}", t.day()),
            'e' => write!(out, "{:2}", t.day()),
            'j' => write!(out, "{:03}", t.ordinal()),
            'H' => write!(out, "{:02}", t.hour()),
            'I' => write!(out, "{:02}", hour12),
            'M' => write!(out, "{:02}", t.minute()),
            'S' => write!(out, "{:02}", t.second()),
            'p' => write!(out, "{}", if t.hour() < 12 { "AM" } else { "PM" }),
            'B' => write!(out, "{}", MONTHS[month]),
            'b' | 'h' => write!(out, "{}", &MONTHS[month][..3]),
            'A' => write!(out, "{}", WEEKDAYS[wd]),
            'a' => write!(out, "{}", &WEEKDAYS[wd][..3]),
            'F' => write!(out, "{}-{:02}-{:02}", t.year(), month + 1, t.day()),
            'T' => write!(out, "{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second()),
            '%' => write!(out, "%"),
            other => write!(out, "%{other}"),
        };
    }
    out
}

/// `tojson` as transformers defines it: `json.dumps(x, ensure_ascii=False, indent=None,
/// separators=None, sort_keys=False)`. Unlike minijinja's builtin it does not HTML-escape and
/// uses Python's separators, so prompts match the reference byte for byte.
fn tojson(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<Value> = kwargs.get("indent")?;
    let indent = match indent {
        None => None,
        Some(v) if v.is_none() || v.is_undefined() => None,
        Some(v) => match v.kind() {
            ValueKind::Number => Some(" ".repeat(usize::try_from(v).unwrap_or(0))),
            ValueKind::String => Some(v.as_str().unwrap_or_default().to_string()),
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "tojson: indent must be an int or a string",
                ))
            }
        },
    };
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    let ensure_ascii: Option<bool> = kwargs.get("ensure_ascii")?;
    let separators: Option<Value> = kwargs.get("separators")?;
    let (item_sep, key_sep) = match separators {
        Some(v) if !v.is_none() => {
            let a = v.get_item_by_index(0)?;
            let b = v.get_item_by_index(1)?;
            (
                a.as_str().unwrap_or(",").to_string(),
                b.as_str().unwrap_or(":").to_string(),
            )
        }
        // Python's defaults: ", " without indent, "," with (newlines separate items anyway).
        _ => (
            if indent.is_some() { "," } else { ", " }.to_string(),
            ": ".to_string(),
        ),
    };
    kwargs.assert_all_used()?;
    let opts = JsonOpts {
        indent,
        sort_keys: sort_keys.unwrap_or(false),
        ensure_ascii: ensure_ascii.unwrap_or(false),
        item_sep,
        key_sep,
    };
    let mut out = String::new();
    write_json(&value, &opts, 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

struct JsonOpts {
    indent: Option<String>,
    sort_keys: bool,
    ensure_ascii: bool,
    item_sep: String,
    key_sep: String,
}

fn write_newline_indent(opts: &JsonOpts, depth: usize, out: &mut String) {
    if let Some(ind) = &opts.indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(ind);
        }
    }
}

fn write_json(v: &Value, opts: &JsonOpts, depth: usize, out: &mut String) -> Result<(), Error> {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if v.is_integer() {
                let _ = write!(out, "{v}");
            } else if let Ok(f) = f64::try_from(v.clone()) {
                if f.is_finite() {
                    // `{:?}` keeps a trailing `.0` like Python's repr (1.0, not 1).
                    let _ = write!(out, "{f:?}");
                } else if f.is_nan() {
                    out.push_str("NaN");
                } else if f > 0.0 {
                    out.push_str("Infinity");
                } else {
                    out.push_str("-Infinity");
                }
            } else {
                let _ = write!(out, "{v}");
            }
        }
        ValueKind::String => write_json_str(v.as_str().unwrap_or_default(), opts.ensure_ascii, out),
        ValueKind::Map => {
            let mut keys: Vec<Value> = v.try_iter()?.collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            if opts.sort_keys {
                keys.sort_by_key(|k| k.to_string());
            }
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(&opts.item_sep);
                }
                write_newline_indent(opts, depth + 1, out);
                let key = match k.as_str() {
                    Some(s) => s.to_string(),
                    None => k.to_string(),
                };
                write_json_str(&key, opts.ensure_ascii, out);
                out.push_str(&opts.key_sep);
                write_json(&v.get_item(k)?, opts, depth + 1, out)?;
            }
            write_newline_indent(opts, depth, out);
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&opts.item_sep);
                }
                write_newline_indent(opts, depth + 1, out);
                write_json(item, opts, depth + 1, out)?;
            }
            write_newline_indent(opts, depth, out);
            out.push(']');
        }
        _ => write_json_str(&v.to_string(), opts.ensure_ascii, out),
    }
    Ok(())
}

/// JSON string escaping exactly as Python's `json.dumps` does it.
fn write_json_str(s: &str, ensure_ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ensure_ascii && !c.is_ascii() => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(pairs: &[(&str, &str)]) -> Vec<ChatMessage> {
        pairs
            .iter()
            .map(|(r, c)| ChatMessage::new(*r, *c))
            .collect()
    }

    #[test]
    fn chatml_like_template() {
        let t = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
        let out = render_chat(t, &msgs(&[("user", "Hi")]), "<s>", "</s>").unwrap();
        assert_eq!(
            out,
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn raise_exception_becomes_a_template_error_with_the_message() {
        let t = "{% if messages[0].role != 'user' %}{{ raise_exception('Conversation roles must alternate') }}{% endif %}";
        let err = render_chat(t, &msgs(&[("assistant", "x")]), "", "").unwrap_err();
        match err {
            EngineError::Template(m) => {
                assert!(m.contains("Conversation roles must alternate"), "{m}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn syntax_error_is_reported_not_panicked() {
        let err = render_chat("{% for %}", &[], "", "").unwrap_err();
        assert!(matches!(err, EngineError::Template(_)));
    }

    #[test]
    fn pycompat_methods_and_python_printing() {
        let t = "{{ messages[0].content.strip().upper() }}|{{ messages[0].content.startswith(' a') }}|{{ none }}|{{ {'a': 1}.items() | list | length }}";
        let out = render_chat(t, &msgs(&[("user", " abc ")]), "", "").unwrap();
        assert_eq!(out, "ABC|True|None|1");
    }

    #[test]
    fn tojson_matches_python_json_dumps() {
        let t = r#"{{ {"b": [1, 2.0, "é<&>"], "a": none, "c": {"x": true}} | tojson }}"#;
        let out = render_chat(t, &[], "", "").unwrap();
        assert_eq!(
            out,
            r#"{"b": [1, 2.0, "é<&>"], "a": null, "c": {"x": true}}"#
        );
        let t = r#"{{ {"b": 1, "a": [1]} | tojson(indent=2, sort_keys=true) }}"#;
        let out = render_chat(t, &[], "", "").unwrap();
        assert_eq!(out, "{\n  \"a\": [\n    1\n  ],\n  \"b\": 1\n}");
        let t = r#"{{ "x\ny\u0001" | tojson }}"#;
        assert_eq!(render_chat(t, &[], "", "").unwrap(), r#""x\ny\u0001""#);
    }

    #[test]
    fn strftime_formats() {
        let t = time::macros::datetime!(2024-07-05 14:03:09 UTC);
        assert_eq!(strftime(&t, "%d %b %Y"), "05 Jul 2024");
        assert_eq!(
            strftime(&t, "%A %B %e, %I:%M:%S %p %j %%"),
            "Friday July  5, 02:03:09 PM 187 %"
        );
        // The function is callable from templates.
        let out = render_chat("{{ strftime_now('%Y') | length }}", &[], "", "").unwrap();
        assert_eq!(out, "4");
    }

    #[test]
    fn loop_controls_and_bos_eos() {
        let t = "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}{% continue %}{% endif %}{{ m.content }}{{ eos_token }}{% endfor %}";
        let out = render_chat(t, &msgs(&[("system", "S"), ("user", "U")]), "<s>", "</s>").unwrap();
        assert_eq!(out, "<s>U</s>");
    }

    #[test]
    fn extra_variables_are_visible() {
        let tmpl = ChatTemplate::new(
            "{% if tools %}{{ tools | length }} tools{% endif %}",
            "",
            "",
        )
        .unwrap();
        let extra = serde_json::json!({"tools": [{"name": "f"}]});
        let out = tmpl
            .render_with(&Vec::<ChatMessage>::new(), Some(&extra), true)
            .unwrap();
        assert_eq!(out, "1 tools");
        assert_eq!(tmpl.render(&[]).unwrap(), "");
    }
}
