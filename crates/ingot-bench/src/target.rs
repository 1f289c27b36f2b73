//! What requests are sent to: an OpenAI-compatible endpoint over HTTP (a streaming SSE client
//! with its own parser) or a model loaded in-process by ingot's engine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use ingot_engine::{Event, GenerateRequest, LoadedModel, Prompt, SamplingParams};

use crate::record::{CountSource, RequestRecord};
use crate::workload::{GenParams, Mode, PromptSpec};

/// One request to make.
#[derive(Debug, Clone)]
pub struct Job {
    pub index: u64,
    pub round: u32,
    pub prompt: Arc<PromptSpec>,
    pub warmup: bool,
    /// Intended start, ms since the scenario's `t0`.
    pub intended_ms: f64,
}

/// Milliseconds from `t0` to `t`.
pub fn ms(t0: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(t0).as_secs_f64() * 1000.0
}

/// Sends requests and measures them. `execute` returns the future of one request; the record's
/// `model` and `scenario` are filled in by the executor.
pub trait Target: Send + Sync + 'static {
    fn execute(self: Arc<Self>, job: Job, t0: Instant) -> BoxFuture<'static, RequestRecord>;
}

fn new_record(job: &Job, send_ms: f64) -> RequestRecord {
    RequestRecord::start(
        "",
        "",
        job.index,
        job.round,
        &job.prompt.id,
        job.warmup,
        job.intended_ms,
        send_ms,
    )
}

// ---------------------------------------------------------------------------------------------
// HTTP / SSE

/// An OpenAI-compatible server, streamed.
pub struct HttpTarget {
    client: reqwest::Client,
    /// Base URL ending in `/v1`.
    base: String,
    model: String,
    api_key: Option<String>,
    mode: Mode,
    gen: GenParams,
    /// Cleared once the server rejects `stream_options` (400); later requests omit it.
    send_usage_option: AtomicBool,
}

impl HttpTarget {
    /// `endpoint` is the server's URL, with or without the trailing `/v1`.
    pub fn new(
        endpoint: &str,
        model: &str,
        api_key: Option<String>,
        mode: Mode,
        gen: GenParams,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1024)
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            client,
            base: normalize_base(endpoint),
            model: model.to_string(),
            api_key,
            mode,
            gen,
            send_usage_option: AtomicBool::new(true),
        })
    }

    fn body(&self, prompt: &PromptSpec, with_usage: bool) -> serde_json::Value {
        let mut body = serde_json::json!({
            "model": self.model,
            "max_tokens": self.gen.max_tokens,
            "temperature": self.gen.temperature,
            "seed": self.gen.seed,
            "stream": true,
        });
        match self.mode {
            Mode::Chat => body["messages"] = serde_json::to_value(&prompt.messages).unwrap(),
            Mode::Completion => body["prompt"] = serde_json::Value::String(prompt.raw_text()),
        }
        if with_usage {
            body["stream_options"] = serde_json::json!({"include_usage": true});
        }
        if self.gen.fixed_length {
            body["ignore_eos"] = serde_json::Value::Bool(true);
        }
        body
    }

    fn url(&self) -> String {
        match self.mode {
            Mode::Chat => format!("{}/chat/completions", self.base),
            Mode::Completion => format!("{}/completions", self.base),
        }
    }

    async fn run(&self, job: &Job, t0: Instant, r: &mut RequestRecord) {
        let mut with_usage = self.send_usage_option.load(Ordering::Relaxed);
        loop {
            let mut req = self
                .client
                .post(self.url())
                .json(&self.body(&job.prompt, with_usage));
            if let Some(k) = &self.api_key {
                req = req.bearer_auth(k);
            }
            // The send starts now: the request is built, nothing is on the wire yet.
            r.send_ms = ms(t0, Instant::now());
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    r.error = Some(format!("request failed: {}", error_chain(&e)));
                    return;
                }
            };
            r.first_byte_ms = Some(ms(t0, Instant::now()));
            let status = resp.status();
            if !status.is_success() {
                let body = resp.text().await.unwrap_or_default();
                if status == reqwest::StatusCode::BAD_REQUEST && with_usage {
                    // Some servers reject `stream_options`: retry once without it.
                    self.send_usage_option.store(false, Ordering::Relaxed);
                    with_usage = false;
                    r.first_byte_ms = None;
                    continue;
                }
                r.error = Some(format!(
                    "HTTP {}: {}",
                    status.as_u16(),
                    truncate(&body, 300)
                ));
                return;
            }
            read_sse(resp, t0, r).await;
            return;
        }
    }
}

impl Target for HttpTarget {
    fn execute(self: Arc<Self>, job: Job, t0: Instant) -> BoxFuture<'static, RequestRecord> {
        Box::pin(async move {
            let mut r = new_record(&job, ms(t0, Instant::now()));
            let timeout = Duration::from_secs_f64(self.gen.timeout_s.max(0.001));
            if tokio::time::timeout(timeout, self.run(&job, t0, &mut r))
                .await
                .is_err()
            {
                r.error = Some(format!("timeout after {:.0} s", self.gen.timeout_s));
            }
            if r.error.is_some() {
                r.end_ms = ms(t0, Instant::now());
            }
            r
        })
    }
}

fn normalize_base(endpoint: &str) -> String {
    let e = endpoint.trim_end_matches('/');
    if e.ends_with("/v1") {
        e.to_string()
    } else {
        format!("{e}/v1")
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.trim().to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", s[..end].trim())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// Incremental SSE parser state. Events are separated by a blank line; `data:` lines of one
/// event are joined with `\n`; `\r` is dropped.
#[derive(Default)]
pub struct SseParser {
    buf: Vec<u8>,
}

impl SseParser {
    /// Feeds bytes; returns the `data` payloads of every event completed by them (and the
    /// `event:` name, if any).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<(Option<String>, String)> {
        self.buf
            .extend(bytes.iter().copied().filter(|b| *b != b'\r'));
        let mut out = Vec::new();
        while let Some(pos) = find(&self.buf, b"\n\n") {
            let event: Vec<u8> = self.buf.drain(..pos + 2).collect();
            let text = String::from_utf8_lossy(&event[..pos]);
            let mut name = None;
            let mut data: Vec<&str> = Vec::new();
            for line in text.split('\n') {
                if let Some(d) = line.strip_prefix("data:") {
                    data.push(d.strip_prefix(' ').unwrap_or(d));
                } else if let Some(n) = line.strip_prefix("event:") {
                    name = Some(n.trim().to_string());
                }
            }
            if !data.is_empty() || name.is_some() {
                out.push((name, data.join("\n")));
            }
        }
        out
    }

    /// Bytes of an incomplete event.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Applies one SSE data payload to the record; returns true on `[DONE]`.
pub fn apply_sse_event(
    r: &mut RequestRecord,
    event: Option<&str>,
    data: &str,
    now_ms: f64,
) -> bool {
    let data = data.trim();
    if data == "[DONE]" {
        return true;
    }
    if data.is_empty() {
        return false;
    }
    let v: serde_json::Value = match serde_json::from_str(data) {
        Ok(v) => v,
        Err(e) => {
            r.error.get_or_insert(format!("invalid SSE data: {e}"));
            return false;
        }
    };
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        let msg = err
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| err.to_string());
        r.error.get_or_insert(format!("in-band error: {msg}"));
        return false;
    }
    if event == Some("error") {
        r.error.get_or_insert(format!("in-band error: {data}"));
        return false;
    }
    if let Some(choice) = v.get("choices").and_then(|c| c.get(0)) {
        let text = choice
            .get("delta")
            .and_then(|d| d.get("content"))
            .and_then(|c| c.as_str())
            .or_else(|| choice.get("text").and_then(|t| t.as_str()));
        if let Some(t) = text.filter(|t| !t.is_empty()) {
            if r.first_token_ms.is_none() {
                r.first_token_ms = Some(now_ms);
            }
            r.token_ms.push(now_ms);
            r.output.push_str(t);
        }
        if let Some(f) = choice.get("finish_reason").and_then(|f| f.as_str()) {
            r.finish_reason = Some(f.to_string());
        }
    }
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        let get = |k: &str| u.get(k).and_then(|x| x.as_u64()).map(|x| x as u32);
        if let Some(c) = get("completion_tokens") {
            r.completion_tokens = Some(c);
            r.count_source = CountSource::ServerUsage;
        }
        if let Some(p) = get("prompt_tokens") {
            r.prompt_tokens = Some(p);
        }
    }
    false
}

async fn read_sse(mut resp: reqwest::Response, t0: Instant, r: &mut RequestRecord) {
    let mut parser = SseParser::default();
    let mut done = false;
    loop {
        match resp.chunk().await {
            Ok(Some(bytes)) => {
                let now = ms(t0, Instant::now());
                for (name, data) in parser.feed(&bytes) {
                    if apply_sse_event(r, name.as_deref(), &data, now) {
                        done = true;
                    }
                }
                r.end_ms = now;
                if done {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                r.error
                    .get_or_insert(format!("stream error: {}", error_chain(&e)));
                break;
            }
        }
    }
    finish_count(r);
    if r.error.is_none() && !done {
        r.error = Some("stream ended before [DONE]".into());
    }
}

fn finish_count(r: &mut RequestRecord) {
    if r.completion_tokens.is_none() && !r.token_ms.is_empty() {
        r.completion_tokens = Some(r.token_ms.len() as u32);
        r.count_source = CountSource::Chunks;
    }
}

/// Replaces chunk-based counts with the model's own tokenizer: for servers that send no
/// `usage`, one content chunk is not always one token (some servers batch tokens per chunk),
/// so when the model's GGUF is local its tokenizer counts the output instead.
pub fn recount_with_tokenizer(records: &mut [RequestRecord], tokenizer: &ingot_engine::Tokenizer) {
    for r in records {
        if r.count_source != CountSource::Chunks {
            continue;
        }
        if let Ok(n) = tokenizer.count(&r.output) {
            r.completion_tokens = Some(n);
            r.count_source = CountSource::Engine;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// In-process

/// A model loaded by ingot's engine, called directly (no HTTP).
pub struct InProcessTarget {
    model: Arc<dyn LoadedModel>,
    mode: Mode,
    gen: GenParams,
}

impl InProcessTarget {
    pub fn new(model: Arc<dyn LoadedModel>, mode: Mode, gen: GenParams) -> Self {
        Self { model, mode, gen }
    }

    fn request(&self, prompt: &PromptSpec) -> GenerateRequest {
        let prompt = match self.mode {
            Mode::Chat => Prompt::Chat(
                prompt
                    .messages
                    .iter()
                    .map(|m| ingot_engine::ChatMessage::new(&m.role, &m.content))
                    .collect(),
            ),
            Mode::Completion => Prompt::Raw(prompt.raw_text()),
        };
        GenerateRequest {
            prompt,
            sampling: SamplingParams {
                temperature: self.gen.temperature,
                seed: self.gen.seed,
                max_tokens: Some(self.gen.max_tokens),
                ignore_eos: self.gen.fixed_length,
                ..SamplingParams::default()
            },
        }
    }

    async fn run(&self, job: &Job, t0: Instant, r: &mut RequestRecord) {
        let mut stream = match self.model.generate(self.request(&job.prompt)) {
            Ok(s) => s,
            Err(e) => {
                r.error = Some(e.to_string());
                return;
            }
        };
        loop {
            let ev = stream.next().await;
            let now = ms(t0, Instant::now());
            r.first_byte_ms.get_or_insert(now);
            r.end_ms = now;
            match ev {
                Some(Event::Token { text, .. }) => {
                    if !text.is_empty() {
                        r.first_token_ms.get_or_insert(now);
                        r.token_ms.push(now);
                        r.output.push_str(&text);
                    }
                }
                Some(Event::Done {
                    finish_reason,
                    usage,
                    ..
                }) => {
                    r.finish_reason = Some(finish_reason.as_str().to_string());
                    r.prompt_tokens = Some(usage.prompt_tokens);
                    r.completion_tokens = Some(usage.completion_tokens);
                    r.count_source = CountSource::Engine;
                    return;
                }
                Some(Event::Error(e)) => {
                    r.error = Some(e.to_string());
                    finish_count(r);
                    return;
                }
                None => {
                    r.error = Some("the engine ended the stream without a final event".into());
                    finish_count(r);
                    return;
                }
            }
        }
    }
}

impl Target for InProcessTarget {
    fn execute(self: Arc<Self>, job: Job, t0: Instant) -> BoxFuture<'static, RequestRecord> {
        Box::pin(async move {
            let mut r = new_record(&job, ms(t0, Instant::now()));
            let timeout = Duration::from_secs_f64(self.gen.timeout_s.max(0.001));
            if tokio::time::timeout(timeout, self.run(&job, t0, &mut r))
                .await
                .is_err()
            {
                r.error = Some(format!("timeout after {:.0} s", self.gen.timeout_s));
                r.end_ms = ms(t0, Instant::now());
            }
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> RequestRecord {
        RequestRecord::start("m", "s", 0, 0, "p", false, 0.0, 0.0)
    }

    #[test]
    fn sse_parser_splits_events_across_chunks() {
        let mut p = SseParser::default();
        assert!(p.feed(b"data: {\"a\"").is_empty());
        let ev = p.feed(b":1}\r\n\r\ndata: [DONE]\n\n");
        assert_eq!(
            ev,
            vec![(None, "{\"a\":1}".into()), (None, "[DONE]".into())]
        );
        assert_eq!(p.pending(), 0);
        let ev = p.feed(b": comment\n\nevent: error\ndata: {\"x\":1}\n\n");
        assert_eq!(ev, vec![(Some("error".into()), "{\"x\":1}".into())]);
    }

    #[test]
    fn role_only_and_empty_chunks_are_not_tokens() {
        let mut r = rec();
        apply_sse_event(
            &mut r,
            None,
            r#"{"choices":[{"delta":{"role":"assistant"}}]}"#,
            1.0,
        );
        apply_sse_event(
            &mut r,
            None,
            r#"{"choices":[{"delta":{"content":""}}]}"#,
            2.0,
        );
        assert_eq!(r.first_token_ms, None);
        apply_sse_event(
            &mut r,
            None,
            r#"{"choices":[{"delta":{"content":"Hi"}}]}"#,
            3.0,
        );
        apply_sse_event(
            &mut r,
            None,
            r#"{"choices":[{"text":" there","finish_reason":"stop"}]}"#,
            4.0,
        );
        apply_sse_event(
            &mut r,
            None,
            r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#,
            5.0,
        );
        assert!(apply_sse_event(&mut r, None, "[DONE]", 6.0));
        assert_eq!(r.first_token_ms, Some(3.0));
        assert_eq!(r.token_ms, vec![3.0, 4.0]);
        assert_eq!(r.output, "Hi there");
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        assert_eq!(r.completion_tokens, Some(2));
        assert_eq!(r.count_source, CountSource::ServerUsage);
        assert!(r.error.is_none());
    }

    #[test]
    fn in_band_errors_fail_the_request() {
        let mut r = rec();
        apply_sse_event(&mut r, None, r#"{"error":{"message":"boom"}}"#, 1.0);
        assert_eq!(r.error.as_deref(), Some("in-band error: boom"));
    }

    #[test]
    fn base_url() {
        assert_eq!(normalize_base("http://h:1"), "http://h:1/v1");
        assert_eq!(normalize_base("http://h:1/v1/"), "http://h:1/v1");
    }
}
