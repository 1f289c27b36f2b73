//! What is sent: prompts, generation parameters, and the built-in workshop prompt set.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::spec::checks::Check;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// One prompt of the set (a *case*), with the checks its answer is scored by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptSpec {
    pub id: String,
    pub messages: Vec<Message>,
    /// Quality checks of the answer (see [`crate::score::quality`]); none: the case is not scored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    /// Case threshold, 0..1 [default: [`crate::spec::checks::DEFAULT_THRESHOLD`]].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

impl PromptSpec {
    pub fn user(id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            messages: vec![Message {
                role: "user".into(),
                content: text.into(),
            }],
            checks: Vec::new(),
            threshold: None,
        }
    }

    pub fn with_checks(mut self, checks: Vec<Check>) -> Self {
        self.checks = checks;
        self
    }

    /// The case threshold, 0..1.
    pub fn threshold(&self) -> f64 {
        self.threshold
            .unwrap_or(crate::spec::checks::DEFAULT_THRESHOLD)
    }

    /// The text sent in completion mode (models without a chat template): the messages'
    /// contents, separated by blank lines.
    pub fn raw_text(&self) -> String {
        self.messages
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

/// SHA-256 of the prompt set's canonical JSON: ids and messages, in order. Checks are left
/// out: they do not change what is sent, so runs with different checks stay comparable.
pub fn prompt_set_hash(prompts: &[PromptSpec]) -> String {
    #[derive(Serialize)]
    struct Sent<'a> {
        id: &'a str,
        messages: &'a [Message],
    }
    let sent: Vec<Sent> = prompts
        .iter()
        .map(|p| Sent {
            id: &p.id,
            messages: &p.messages,
        })
        .collect();
    let json = serde_json::to_vec(&sent).unwrap_or_default();
    hex::encode(Sha256::digest(&json))
}

/// Chat (through the model's chat template) or completion (raw text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Chat,
    Completion,
}

/// Generation parameters shared by every request of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenParams {
    pub max_tokens: u32,
    pub temperature: f32,
    pub seed: u64,
    /// Generate exactly `max_tokens` (ignore EOS).
    pub fixed_length: bool,
    /// Per-request timeout, in seconds.
    pub timeout_s: f64,
    /// Streamed requests (SSE), the default. Without streaming (`--no-stream`) only the
    /// end-to-end latency is measured: TTFT, ITL and decode rate are unavailable.
    #[serde(default = "yes")]
    pub stream: bool,
}

fn yes() -> bool {
    true
}

impl Default for GenParams {
    fn default() -> Self {
        Self {
            max_tokens: 128,
            temperature: 0.0,
            seed: 42,
            fixed_length: false,
            timeout_s: 300.0,
            stream: true,
        }
    }
}

/// Parses a prompts file: a JSON list (or `{"prompts": [...]}`) of strings, or of objects with
/// `id`, `messages` (`[{role, content}]`) or `prompt`, optional `checks` (see
/// [`crate::spec::checks::Check`]) and `threshold` (0..1, or 1..5).
pub fn parse_prompts(json: &str) -> Result<Vec<PromptSpec>, String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("invalid prompts JSON: {e}"))?;
    let list = match &v {
        serde_json::Value::Array(a) => a.clone(),
        serde_json::Value::Object(o) => match o.get("prompts") {
            Some(serde_json::Value::Array(a)) => a.clone(),
            _ => return Err("prompts file: expected a JSON list".into()),
        },
        _ => return Err("prompts file: expected a JSON list".into()),
    };
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let default_id = format!("p{}", i + 1);
        match item {
            serde_json::Value::String(s) => out.push(PromptSpec::user(default_id, s.clone())),
            serde_json::Value::Object(o) => {
                let id = o
                    .get("id")
                    .map(|v| match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .unwrap_or(default_id);
                let messages = if let Some(m) = o.get("messages") {
                    serde_json::from_value::<Vec<Message>>(m.clone())
                        .map_err(|e| format!("prompt {id}: invalid messages: {e}"))?
                } else if let Some(serde_json::Value::String(p)) =
                    o.get("prompt").or_else(|| o.get("text"))
                {
                    vec![Message {
                        role: "user".into(),
                        content: p.clone(),
                    }]
                } else {
                    return Err(format!("prompt {id}: needs `messages` or `prompt`"));
                };
                if messages.is_empty() {
                    return Err(format!("prompt {id}: no messages"));
                }
                let checks = match o.get("checks") {
                    None | Some(serde_json::Value::Null) => Vec::new(),
                    Some(serde_json::Value::Array(a)) => a
                        .iter()
                        .enumerate()
                        .map(|(k, c)| {
                            Check::try_from(c.clone())
                                .map_err(|e| format!("prompt {id}: check {}: {e}", k + 1))
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                    Some(_) => return Err(format!("prompt {id}: `checks` must be a list")),
                };
                let threshold = match o.get("threshold") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(t) => Some(
                        t.as_f64()
                            .ok_or_else(|| format!("prompt {id}: threshold must be a number"))
                            .and_then(|t| {
                                crate::spec::checks::normalize_threshold(t)
                                    .map_err(|e| format!("prompt {id}: {e}"))
                            })?,
                    ),
                };
                out.push(PromptSpec {
                    id,
                    messages,
                    checks,
                    threshold,
                });
            }
            _ => return Err(format!("prompt {}: expected a string or an object", i + 1)),
        }
    }
    if out.is_empty() {
        return Err("the prompt set is empty".into());
    }
    let mut seen = std::collections::HashSet::new();
    for p in &out {
        if !seen.insert(p.id.as_str()) {
            return Err(format!("prompt id {} appears twice", p.id));
        }
    }
    Ok(out)
}

/// A prompt set as a file (`prompts.json` of a run folder): a list of objects that
/// [`parse_prompts`] reads back unchanged.
pub fn prompts_json(prompts: &[PromptSpec]) -> String {
    serde_json::to_string_pretty(prompts).unwrap_or_else(|_| "[]".into())
}

/// Parses a models file: a JSON list of aliases, or an object `{alias: {...}}` (the values,
/// such as `capabilities` and `size_mb`, are informative only). Order is kept.
pub fn parse_models(json: &str) -> Result<Vec<String>, String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("invalid models JSON: {e}"))?;
    let out: Vec<String> = match v {
        serde_json::Value::Array(a) => a
            .into_iter()
            .map(|x| match x {
                serde_json::Value::String(s) => Ok(s),
                serde_json::Value::Object(o) => o
                    .get("alias")
                    .or_else(|| o.get("name"))
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
                    .ok_or_else(|| "models file: object without alias".to_string()),
                _ => Err("models file: expected strings".to_string()),
            })
            .collect::<Result<_, _>>()?,
        serde_json::Value::Object(o) => o.keys().cloned().collect(),
        _ => return Err("models file: expected a list or an object".into()),
    };
    if out.is_empty() {
        return Err("the models file lists no model".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::sets::builtin_prompts;

    #[test]
    fn prompts_formats() {
        let p = parse_prompts(r#"["a", "b"]"#).unwrap();
        assert_eq!(p[1].id, "p2");
        assert_eq!(p[1].raw_text(), "b");
        let p = parse_prompts(
            r#"[{"id": 7, "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], "checks": ["x"]}]"#,
        )
        .unwrap();
        assert_eq!(p[0].id, "7");
        assert_eq!(p[0].raw_text(), "s\n\nu");
        // A bare string check: the answer contains it, ignoring case.
        assert_eq!(p[0].checks.len(), 1);
        assert_eq!(p[0].checks[0].kind.type_name(), "icontains");
        assert!(parse_prompts(r#"["a", {"id": "p1", "prompt": "b"}]"#)
            .unwrap_err()
            .contains("twice"));
        assert!(
            parse_prompts(r#"[{"prompt": "b", "checks": [{"type": "nope"}]}]"#)
                .unwrap_err()
                .contains("unknown check type")
        );
        let p = parse_prompts(r#"[{"prompt": "b", "threshold": 4}]"#).unwrap();
        assert_eq!(p[0].threshold, Some(0.75));
        assert!(parse_prompts("[]").is_err());
        assert!(parse_prompts("{").is_err());
        assert_eq!(builtin_prompts().len(), 4);
        assert_eq!(prompt_set_hash(&builtin_prompts()).len(), 64);
        // Checks do not change the hash; messages do.
        let plain = PromptSpec::user("a", "b");
        let checked = plain
            .clone()
            .with_checks(vec![Check::new(crate::spec::checks::CheckKind::Json)]);
        assert_eq!(
            prompt_set_hash(std::slice::from_ref(&plain)),
            prompt_set_hash(&[checked])
        );
        assert_ne!(
            prompt_set_hash(&[plain]),
            prompt_set_hash(&[PromptSpec::user("a", "c")])
        );
    }

    #[test]
    fn models_formats() {
        assert_eq!(parse_models(r#"["a","b"]"#).unwrap(), vec!["a", "b"]);
        // serde_json without preserve_order sorts keys; either order is accepted here.
        let m = parse_models(r#"{"x": {"capabilities": ["chat"], "size_mb": 90}}"#).unwrap();
        assert_eq!(m, vec!["x"]);
        assert!(parse_models("[]").is_err());
    }
}
