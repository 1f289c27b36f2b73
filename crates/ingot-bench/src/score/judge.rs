//! The LLM judge: a second model scores an answer against a rubric, 1–5.
//!
//! The prompt is fixed ([`JUDGE_SYSTEM`], [`judge_messages`]) and asks for
//! `{"score": 1-5, "reason": "..."}`, at temperature 0. A local judge (a catalog alias loaded
//! in-process) generates under [`VERDICT_GBNF`], so its answer always has that shape; an
//! endpoint judge is asked for `response_format: json_object` (retried without it if the
//! server rejects it). Parsing is lenient ([`parse_verdict`]): the first JSON object in the
//! answer, else a `"score": N` pattern; a missing or out-of-range score is a judge **error**,
//! which a case never counts as a pass. With `samples` K > 1 the verdict is the median of the
//! valid samples (seeds differ per sample; at temperature 0 a deterministic judge repeats
//! itself, so K > 1 matters with `--judge-temperature` above 0 or a nondeterministic server).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use ingot_core::{ChatMessage, Event, GenerateRequest, LoadedModel, Prompt, SamplingParams};
use serde_json::{json, Value};

use crate::measure::openai::Endpoint;
use crate::score::quality::{JudgeSample, JudgeVerdict};
use crate::spec::workload::{Message, PromptSpec};

/// The judge's system prompt.
pub const JUDGE_SYSTEM: &str = "You are a strict, impartial grader. You read a task, an assistant's answer and a rubric, and you score how well the answer meets the rubric on a scale from 1 to 5: 1 = does not meet it at all, 2 = mostly fails, 3 = partly meets it, 4 = mostly meets it, 5 = fully meets it. Judge only against the rubric and the task. Reply with a single JSON object and nothing else: {\"score\": <integer 1-5>, \"reason\": \"<one short sentence>\"}.";

/// Longest answer shown to the judge, in characters (the rest is cut, and the judge is told).
pub const MAX_ANSWER_CHARS: usize = 6000;

/// A GBNF grammar for the verdict: the score first (so a reason cut by max_tokens still leaves
/// a score), one digit 1–5, then a JSON string.
pub const VERDICT_GBNF: &str = r#"root   ::= "{" ws "\"score\"" ws ":" ws [1-5] ws "," ws "\"reason\"" ws ":" ws string ws "}"
string ::= "\"" char* "\""
char   ::= [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] )
ws     ::= [ \t\n]{0,4}
"#;

/// The messages sent to the judge for one answer.
pub fn judge_messages(task: &PromptSpec, answer: &str, rubric: &str) -> Vec<Message> {
    let task_text = task
        .messages
        .iter()
        .map(|m| format!("[{}] {}", m.role, m.content))
        .collect::<Vec<_>>()
        .join("\n");
    let mut shown: String = answer.chars().take(MAX_ANSWER_CHARS).collect();
    if shown.len() < answer.len() {
        shown.push_str("\n[answer cut here for length]");
    }
    vec![
        Message {
            role: "system".into(),
            content: JUDGE_SYSTEM.into(),
        },
        Message {
            role: "user".into(),
            content: format!(
                "TASK:\n<<<\n{task_text}\n>>>\n\nANSWER:\n<<<\n{shown}\n>>>\n\nRUBRIC:\n<<<\n{rubric}\n>>>\n\nScore the answer against the rubric. Reply with only {{\"score\": <1-5>, \"reason\": \"...\"}}."
            ),
        },
    ]
}

fn first_json_object(text: &str) -> Option<Value> {
    // Try every `{` as a start; the first that parses as a whole object wins.
    for (i, _) in text.match_indices('{') {
        let mut de = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Value>();
        if let Some(Ok(v @ Value::Object(_))) = de.next() {
            return Some(v);
        }
    }
    None
}

fn score_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        // "4", "4/5", "4 out of 5".
        Value::String(s) => {
            let head: String = s
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            head.parse().ok()
        }
        _ => None,
    }
}

/// A judge's answer without a usable score.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VerdictError {
    /// No score found; `answer` is the answer, trimmed and cut to 200 characters.
    #[error("no score in the judge's answer: {answer}")]
    NoScore { answer: String },
    #[error("judge score {score} is outside 1..5")]
    OutOfRange { score: f64 },
}

/// Reads a verdict from a judge's answer, leniently: the first JSON object with a `score`
/// (any key case), else a `"score": N` / `score: N` pattern. The score must be within 1..=5.
pub fn parse_verdict(text: &str) -> Result<(f64, Option<String>), VerdictError> {
    let mut score = None;
    let mut reason = None;
    if let Some(Value::Object(o)) = first_json_object(text) {
        for (k, v) in &o {
            match k.to_ascii_lowercase().as_str() {
                "score" | "rating" => score = score_of(v),
                "reason" | "reasoning" | "explanation" => reason = v.as_str().map(str::to_string),
                _ => {}
            }
        }
    }
    if score.is_none() {
        static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let re = RE.get_or_init(|| {
            regex::Regex::new(r#"(?i)"?score"?\s*[:=]\s*"?([0-9]+(?:\.[0-9]+)?)"#).expect("valid")
        });
        score = re
            .captures(text)
            .and_then(|c| c.get(1))
            .and_then(|m| m.as_str().parse().ok());
        if reason.is_none() {
            static RR: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
            let rr = RR.get_or_init(|| {
                regex::Regex::new(r#"(?i)"reason"\s*:\s*"([^"]*)"#).expect("valid")
            });
            reason = rr
                .captures(text)
                .and_then(|c| c.get(1))
                .map(|m| m.as_str().to_string());
        }
    }
    match score {
        None => Err(VerdictError::NoScore {
            answer: truncate(text.trim(), 200),
        }),
        Some(s) if !(1.0..=5.0).contains(&s) || !s.is_finite() => {
            Err(VerdictError::OutOfRange { score: s })
        }
        Some(s) => Ok((s, reason.filter(|r| !r.trim().is_empty()))),
    }
}

fn truncate(s: &str, n: usize) -> String {
    let t: String = s.chars().take(n).collect();
    if t.len() < s.len() {
        format!("{t}…")
    } else {
        t
    }
}

/// Median of non-empty values.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Something that answers chat messages: a model loaded in-process or an endpoint.
pub trait JudgeBackend: Send + Sync {
    /// Alias, or endpoint and model, for reports.
    fn describe(&self) -> String;
    fn complete(
        &self,
        messages: Vec<Message>,
        params: JudgeParams,
    ) -> BoxFuture<'_, Result<String, String>>;
}

/// Generation settings of a judge call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JudgeParams {
    pub temperature: f32,
    pub max_tokens: u32,
    pub seed: u64,
    pub timeout_s: f64,
}

/// A judge: a backend and how many samples to take.
pub struct Judge {
    backend: Arc<dyn JudgeBackend>,
    pub samples: usize,
    pub temperature: f32,
    pub max_tokens: u32,
    pub timeout_s: f64,
}

impl Judge {
    pub fn new(backend: Arc<dyn JudgeBackend>, samples: usize) -> Self {
        Self {
            backend,
            samples: samples.max(1),
            temperature: 0.0,
            max_tokens: 160,
            timeout_s: 300.0,
        }
    }

    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// Judges one answer: K samples, median of the valid scores; an error when none is valid.
    pub async fn judge(&self, task: &PromptSpec, answer: &str, rubric: &str) -> JudgeVerdict {
        let messages = judge_messages(task, answer, rubric);
        let mut samples = Vec::with_capacity(self.samples);
        for k in 0..self.samples {
            let params = JudgeParams {
                temperature: self.temperature,
                max_tokens: self.max_tokens,
                seed: 42 + k as u64,
                timeout_s: self.timeout_s,
            };
            let timeout = Duration::from_secs_f64(self.timeout_s.max(0.001));
            let res = match tokio::time::timeout(
                timeout,
                self.backend.complete(messages.clone(), params),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => Err(format!("timeout after {:.0} s", self.timeout_s)),
            };
            samples.push(match res {
                Err(e) => JudgeSample {
                    error: Some(e),
                    ..JudgeSample::default()
                },
                Ok(text) => match parse_verdict(&text) {
                    Ok((s, reason)) => JudgeSample {
                        score: Some(s),
                        reason,
                        raw: truncate(&text, 1000),
                        error: None,
                    },
                    Err(e) => JudgeSample {
                        score: None,
                        reason: None,
                        raw: truncate(&text, 1000),
                        error: Some(e.to_string()),
                    },
                },
            });
        }
        let mut v = verdict(self.describe(), samples);
        v.rubric = rubric.to_string();
        v
    }
}

/// The verdict of a set of samples: the median of the valid scores, with the reason of the
/// sample closest to it; an error when no sample has a score.
pub fn verdict(judge: String, samples: Vec<JudgeSample>) -> JudgeVerdict {
    let mut valid: Vec<f64> = samples.iter().filter_map(|s| s.score).collect();
    if valid.is_empty() {
        let error = samples
            .iter()
            .find_map(|s| s.error.clone())
            .unwrap_or_else(|| "no sample".into());
        return JudgeVerdict {
            judge,
            rubric: String::new(),
            score: None,
            reason: None,
            error: Some(error),
            samples,
        };
    }
    let m = median(&mut valid);
    let reason = samples
        .iter()
        .filter(|s| s.score.is_some())
        .min_by(|a, b| {
            (a.score.unwrap() - m)
                .abs()
                .total_cmp(&(b.score.unwrap() - m).abs())
        })
        .and_then(|s| s.reason.clone());
    JudgeVerdict {
        judge,
        rubric: String::new(),
        score: Some(m),
        reason,
        error: None,
        samples,
    }
}

// ---------------------------------------------------------------------------------------------
// Backends

/// An OpenAI-compatible `/v1/chat/completions` endpoint (not streamed).
pub struct HttpJudge {
    client: reqwest::Client,
    endpoint: Endpoint,
    model: String,
    /// Cleared when the server rejects `response_format` (HTTP 400); later calls omit it.
    json_mode: AtomicBool,
}

impl HttpJudge {
    pub fn new(endpoint: &str, model: &str, api_key: Option<String>) -> anyhow::Result<Self> {
        let client = crate::util::http::client_builder().build()?;
        Ok(Self {
            client,
            endpoint: Endpoint::new(endpoint, api_key),
            model: model.to_string(),
            json_mode: AtomicBool::new(true),
        })
    }

    async fn call(&self, messages: &[Message], p: JudgeParams) -> Result<String, String> {
        let mut json_mode = self.json_mode.load(Ordering::Relaxed);
        loop {
            let mut body = json!({
                "model": self.model,
                "messages": messages,
                "temperature": p.temperature,
                "max_tokens": p.max_tokens,
                "seed": p.seed,
                "stream": false,
            });
            if json_mode {
                body["response_format"] = json!({"type": "json_object"});
            }
            let req = self
                .endpoint
                .post(&self.client, &self.endpoint.url("chat/completions"))
                .json(&body);
            let resp = req.send().await.map_err(|e| {
                crate::util::redact::redact_urls_in(&format!("judge request failed: {e}"))
            })?;
            let status = resp.status();
            let text = resp.text().await.map_err(|e| {
                crate::util::redact::redact_urls_in(&format!("judge response: {e}"))
            })?;
            if status == reqwest::StatusCode::BAD_REQUEST && json_mode {
                self.json_mode.store(false, Ordering::Relaxed);
                json_mode = false;
                continue;
            }
            if !status.is_success() {
                return Err(format!(
                    "judge HTTP {}: {}",
                    status.as_u16(),
                    truncate(&text, 300)
                ));
            }
            let v: Value = serde_json::from_str(&text).map_err(|e| {
                format!("judge response is not JSON ({e}): {}", truncate(&text, 200))
            })?;
            return v["choices"][0]["message"]["content"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| {
                    format!(
                        "judge response has no message content: {}",
                        truncate(&text, 200)
                    )
                });
        }
    }
}

impl JudgeBackend for HttpJudge {
    fn describe(&self) -> String {
        format!(
            "{} at {}",
            self.model,
            crate::util::redact::redact_url(self.endpoint.base())
        )
    }
    fn complete(
        &self,
        messages: Vec<Message>,
        params: JudgeParams,
    ) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move { self.call(&messages, params).await })
    }
}

/// A model loaded in-process, constrained by [`VERDICT_GBNF`].
pub struct LocalJudge {
    alias: String,
    model: Arc<dyn LoadedModel>,
}

impl LocalJudge {
    pub fn new(alias: &str, model: Arc<dyn LoadedModel>) -> Self {
        Self {
            alias: alias.to_string(),
            model,
        }
    }

    async fn call(&self, messages: &[Message], p: JudgeParams) -> Result<String, String> {
        let sampling = SamplingParams {
            temperature: p.temperature,
            seed: p.seed,
            max_tokens: Some(p.max_tokens.max(8)),
            grammar: Some(VERDICT_GBNF.to_string()),
            ..SamplingParams::default()
        };
        let prompt = if self.model.info().has_chat_template {
            Prompt::Chat(
                messages
                    .iter()
                    .map(|m| ChatMessage::new(&m.role, &m.content))
                    .collect(),
            )
        } else {
            let mut raw = messages
                .iter()
                .map(|m| m.content.as_str())
                .collect::<Vec<_>>()
                .join("\n\n");
            raw.push_str("\n\nVerdict: ");
            Prompt::Raw(raw)
        };
        let mut stream = self
            .model
            .generate(GenerateRequest { prompt, sampling })
            .map_err(|e| format!("judge {}: {e}", self.alias))?;
        let mut out = String::new();
        loop {
            match stream.next().await {
                Some(Event::Token { text, .. }) => out.push_str(&text),
                Some(Event::Done { .. }) => return Ok(out),
                Some(Event::Error(e)) => return Err(format!("judge {}: {e}", self.alias)),
                None => return Err(format!("judge {}: the stream ended early", self.alias)),
            }
        }
    }
}

impl JudgeBackend for LocalJudge {
    fn describe(&self) -> String {
        format!("{} (in-process)", self.alias)
    }
    fn complete(
        &self,
        messages: Vec<Message>,
        params: JudgeParams,
    ) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move { self.call(&messages, params).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_parse() {
        assert_eq!(
            parse_verdict(r#"{"score": 4, "reason": "good"}"#).unwrap(),
            (4.0, Some("good".into()))
        );
        // Prose around the object, string scores, other key cases.
        assert_eq!(
            parse_verdict("Sure! ```json\n{\"Score\": \"5/5\", \"Reason\": \"all there\"}\n```")
                .unwrap(),
            (5.0, Some("all there".into()))
        );
        // A reason cut by max_tokens: the object does not parse, the pattern still finds it.
        assert_eq!(
            parse_verdict(r#"{"score": 2, "reason": "misses the da"#).unwrap(),
            (2.0, Some("misses the da".into()))
        );
        assert_eq!(parse_verdict("score: 3").unwrap().0, 3.0);
        // Errors: no score, out of range, garbage.
        assert!(parse_verdict(r#"{"reason": "fine"}"#).is_err());
        assert!(parse_verdict(r#"{"score": 9, "reason": "x"}"#).is_err());
        assert!(parse_verdict(r#"{"score": 0}"#).is_err());
        assert!(parse_verdict("I like it a lot").is_err());
        assert!(parse_verdict(r#"{"score": "excellent"}"#).is_err());
    }

    #[test]
    fn median_of_valid_samples_or_error() {
        let s = |score: Option<f64>| JudgeSample {
            score,
            reason: score.map(|x| format!("r{x}")),
            raw: String::new(),
            error: score.is_none().then(|| "bad".to_string()),
        };
        let v = verdict(
            "j".into(),
            vec![s(Some(2.0)), s(None), s(Some(5.0)), s(Some(4.0))],
        );
        assert_eq!(v.score, Some(4.0));
        assert_eq!(v.reason.as_deref(), Some("r4"));
        let v = verdict("j".into(), vec![s(Some(2.0)), s(Some(3.0))]);
        assert_eq!(v.score, Some(2.5));
        let v = verdict("j".into(), vec![s(None), s(None)]);
        assert_eq!(v.score, None);
        assert_eq!(v.error.as_deref(), Some("bad"));
    }

    #[test]
    fn prompt_carries_task_answer_and_rubric() {
        let m = judge_messages(
            &PromptSpec::user("c", "Say hi"),
            "hello",
            "Greets the user.",
        );
        assert_eq!(m[0].content, JUDGE_SYSTEM);
        assert!(m[1].content.contains("Say hi"));
        assert!(m[1].content.contains("hello"));
        assert!(m[1].content.contains("Greets the user."));
        let long = "x".repeat(MAX_ANSWER_CHARS + 10);
        let m = judge_messages(&PromptSpec::user("c", "t"), &long, "r");
        assert!(m[1].content.contains("[answer cut here for length]"));
    }
}
