//! The fallback that works in any format: an answer that is, as a whole, a call of an
//! offered tool written as bare JSON (optionally in a ```json fence): `{"name": ...,
//! "arguments": {...}}`, an array of such objects, or `{"tool_calls": [...]}` (items in that
//! shape or OpenAI's `{"type": "function", "function": {...}}`).

use serde_json::Value;

use super::machine::{Out, Term};
use super::whole_calls;

/// The calls `text` consists of, or `None` when it is not (only) calls of offered tools.
pub(super) fn calls(text: &str, names: &[String]) -> Option<Vec<Out>> {
    let mut t = text.trim();
    if let Some(rest) = t.strip_prefix("```") {
        let nl = rest.find('\n')?;
        let lang = rest[..nl].trim();
        if !(lang.is_empty() || lang.eq_ignore_ascii_case("json")) {
            return None;
        }
        t = rest[nl + 1..].trim_end().strip_suffix("```")?.trim();
    }
    if let Some(outs) = whole_calls(Term::Llama3, t, names) {
        return Some(outs);
    }
    let v: Value = serde_json::from_str(t).ok()?;
    let items = v.as_object()?.get("tool_calls")?.as_array()?;
    if items.is_empty() {
        return None;
    }
    let mut outs = Vec::new();
    for item in items {
        let f = item
            .get("function")
            .filter(|f| f.is_object())
            .unwrap_or(item);
        let name = f.get("name")?.as_str()?;
        if !names.iter().any(|n| n == name) {
            return None;
        }
        let args = match f.get("arguments").or_else(|| f.get("parameters")) {
            None | Some(Value::Null) => "{}".to_string(),
            Some(Value::String(s)) => {
                let parsed: Value = serde_json::from_str(s).ok()?;
                if !parsed.is_object() {
                    return None;
                }
                s.clone()
            }
            Some(o @ Value::Object(_)) => o.to_string(),
            Some(_) => return None,
        };
        outs.push(Out::Start(name.to_string()));
        outs.push(Out::Args(args));
    }
    Some(outs)
}
