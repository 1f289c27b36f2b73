//! What is sent: prompts, generation parameters, and the built-in workshop prompt set.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// One prompt of the set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptSpec {
    pub id: String,
    pub messages: Vec<Message>,
}

impl PromptSpec {
    pub fn user(id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            messages: vec![Message {
                role: "user".into(),
                content: text.into(),
            }],
        }
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

/// The four workshop prompts: ingot's built-in prompt set.
pub fn builtin_prompts() -> Vec<PromptSpec> {
    [
        "Explain the principle of retrieval augmented generation in 2 sentences.",
        "List 3 privacy benefits of local inference.",
        "Summarize why model size impacts latency on consumer hardware.",
        "Provide two scenarios where an SLM is preferable to an LLM.",
    ]
    .iter()
    .enumerate()
    .map(|(i, t)| PromptSpec::user(format!("workshop-{}", i + 1), *t))
    .collect()
}

/// SHA-256 of the prompt set's canonical JSON (ids and messages, in order).
pub fn prompt_set_hash(prompts: &[PromptSpec]) -> String {
    let json = serde_json::to_vec(prompts).unwrap_or_default();
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
}

impl Default for GenParams {
    fn default() -> Self {
        Self {
            max_tokens: 128,
            temperature: 0.0,
            seed: 42,
            fixed_length: false,
            timeout_s: 300.0,
        }
    }
}

/// Parses a prompts file: a JSON list of strings, or of objects with `id`, `messages`
/// (`[{role, content}]`) or `prompt`, and optional `checks` (ignored by the benchmark).
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
                out.push(PromptSpec { id, messages });
            }
            _ => return Err(format!("prompt {}: expected a string or an object", i + 1)),
        }
    }
    if out.is_empty() {
        return Err("the prompt set is empty".into());
    }
    Ok(out)
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
        assert!(parse_prompts("[]").is_err());
        assert!(parse_prompts("{").is_err());
        assert_eq!(builtin_prompts().len(), 4);
        assert_eq!(prompt_set_hash(&builtin_prompts()).len(), 64);
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
