//! What is sent: prompts, generation parameters, and the built-in workshop prompt set.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::spec::checks::{Check, ThresholdError};

/// Errors of a prompts file ([`parse_prompts`]); `id` is the prompt's id (`p1`, `p2`, ...
/// when the file gives none).
#[derive(Debug, thiserror::Error)]
pub enum PromptsError {
    #[error("invalid prompts JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("prompts file: expected a JSON list")]
    NotAList,
    #[error("prompt {id}: invalid messages: {source}")]
    Messages {
        id: String,
        source: serde_json::Error,
    },
    #[error("prompt {id}: needs `messages` or `prompt`")]
    NoText { id: String },
    #[error("prompt {id}: no messages")]
    NoMessages { id: String },
    /// Check `index` (from 1) of the prompt is invalid.
    #[error("prompt {id}: check {index}: {reason}")]
    Check {
        id: String,
        index: usize,
        reason: String,
    },
    #[error("prompt {id}: `checks` must be a list")]
    ChecksNotAList { id: String },
    #[error("prompt {id}: threshold must be a number")]
    ThresholdNotANumber { id: String },
    #[error("prompt {id}: {source}")]
    Threshold { id: String, source: ThresholdError },
    /// Entry `index` (from 1) is neither a string nor an object.
    #[error("prompt {index}: expected a string or an object")]
    Entry { index: usize },
    #[error("the prompt set is empty")]
    Empty,
    #[error("prompt id {id} appears twice")]
    DuplicateId { id: String },
}

/// Errors of a models file ([`parse_models`], [`crate::spec::models_file::parse`]).
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    #[error("invalid models JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("models file: object without alias")]
    NoAlias,
    #[error("models file: expected strings")]
    NotAString,
    #[error("models file: expected a list or an object")]
    NotAListOrObject,
    #[error("the models file lists no model")]
    Empty,
}

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
pub fn parse_prompts(json: &str) -> Result<Vec<PromptSpec>, PromptsError> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(PromptsError::Json)?;
    let list = match &v {
        serde_json::Value::Array(a) => a.clone(),
        serde_json::Value::Object(o) => match o.get("prompts") {
            Some(serde_json::Value::Array(a)) => a.clone(),
            _ => return Err(PromptsError::NotAList),
        },
        _ => return Err(PromptsError::NotAList),
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
                    serde_json::from_value::<Vec<Message>>(m.clone()).map_err(|source| {
                        PromptsError::Messages {
                            id: id.clone(),
                            source,
                        }
                    })?
                } else if let Some(serde_json::Value::String(p)) =
                    o.get("prompt").or_else(|| o.get("text"))
                {
                    vec![Message {
                        role: "user".into(),
                        content: p.clone(),
                    }]
                } else {
                    return Err(PromptsError::NoText { id });
                };
                if messages.is_empty() {
                    return Err(PromptsError::NoMessages { id });
                }
                let checks = match o.get("checks") {
                    None | Some(serde_json::Value::Null) => Vec::new(),
                    Some(serde_json::Value::Array(a)) => a
                        .iter()
                        .enumerate()
                        .map(|(k, c)| {
                            Check::try_from(c.clone()).map_err(|reason| PromptsError::Check {
                                id: id.clone(),
                                index: k + 1,
                                reason,
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                    Some(_) => return Err(PromptsError::ChecksNotAList { id }),
                };
                let threshold = match o.get("threshold") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(t) => Some(
                        t.as_f64()
                            .ok_or_else(|| PromptsError::ThresholdNotANumber { id: id.clone() })
                            .and_then(|t| {
                                crate::spec::checks::normalize_threshold(t).map_err(|source| {
                                    PromptsError::Threshold {
                                        id: id.clone(),
                                        source,
                                    }
                                })
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
            _ => return Err(PromptsError::Entry { index: i + 1 }),
        }
    }
    if out.is_empty() {
        return Err(PromptsError::Empty);
    }
    let mut seen = std::collections::HashSet::new();
    for p in &out {
        if !seen.insert(p.id.as_str()) {
            return Err(PromptsError::DuplicateId { id: p.id.clone() });
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
pub fn parse_models(json: &str) -> Result<Vec<String>, ModelsError> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(ModelsError::Json)?;
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
                    .ok_or(ModelsError::NoAlias),
                _ => Err(ModelsError::NotAString),
            })
            .collect::<Result<_, _>>()?,
        serde_json::Value::Object(o) => o.keys().cloned().collect(),
        _ => return Err(ModelsError::NotAListOrObject),
    };
    if out.is_empty() {
        return Err(ModelsError::Empty);
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
            .to_string()
            .contains("twice"));
        assert!(
            parse_prompts(r#"[{"prompt": "b", "checks": [{"type": "nope"}]}]"#)
                .unwrap_err()
                .to_string()
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
