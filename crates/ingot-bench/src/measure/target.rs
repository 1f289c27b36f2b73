//! What requests are sent to: an OpenAI-compatible endpoint over HTTP (a streaming SSE client
//! with its own parser) or a model loaded in-process by ingot's engine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use ingot_core::{Event, GenerateRequest, LoadedModel, Prompt, SamplingParams};

use crate::measure::openai::Endpoint;
use crate::measure::record::{CountSource, RequestRecord};
use crate::spec::workload::{GenParams, Mode, PromptSpec};

pub use crate::measure::response::ms;
pub use crate::measure::response::{apply_sse_event, recount_with_tokenizer, SseParser};
use crate::measure::response::{error_chain, finish_count, read_sse, read_whole, truncate};

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

/// An OpenAI-compatible server, streamed (SSE) or not.
pub struct HttpTarget {
    /// The client requests go out on: pooled keep-alive connections, or a new connection
    /// per request with `--connections fresh`.
    client: reqwest::Client,
    /// A client without a pool, for the one retry of a request caught by the keep-alive
    /// race (see [`crate::measure::conn`]).
    fresh: reqwest::Client,
    /// Where requests go (base URL, query, key).
    endpoint: Endpoint,
    model: String,
    mode: Mode,
    gen: GenParams,
    /// Cleared once the server rejects `stream_options` (400); later requests omit it.
    send_usage_option: AtomicBool,
}

fn http_client(pooled: bool) -> reqwest::Result<reqwest::Client> {
    crate::util::http::client_builder()
        .tcp_nodelay(true)
        // 0 idle connections per host disables hyper-util's pool: every request connects.
        .pool_max_idle_per_host(if pooled { 1024 } else { 0 })
        .connector_layer(crate::measure::conn::Tracker)
        .build()
}

impl HttpTarget {
    /// `endpoint` is the server's URL, with or without the trailing `/v1`. Connections are
    /// pooled; see [`HttpTarget::with_connections`].
    pub fn new(
        endpoint: &str,
        model: &str,
        api_key: Option<String>,
        mode: Mode,
        gen: GenParams,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            client: http_client(true)?,
            fresh: http_client(false)?,
            endpoint: Endpoint::new(endpoint, api_key),
            model: model.to_string(),
            mode,
            gen,
            send_usage_option: AtomicBool::new(true),
        })
    }

    /// `Fresh`: a new connection for every request (no keep-alive reuse, so no retries).
    pub fn with_connections(mut self, c: crate::measure::conn::Connections) -> Self {
        if c == crate::measure::conn::Connections::Fresh {
            self.client = self.fresh.clone();
        }
        self
    }

    fn body(&self, prompt: &PromptSpec, with_usage: bool) -> serde_json::Value {
        let mut body = serde_json::json!({
            "model": self.model,
            "max_tokens": self.gen.max_tokens,
            "temperature": self.gen.temperature,
            "seed": self.gen.seed,
            "stream": self.gen.stream,
        });
        match self.mode {
            Mode::Chat => body["messages"] = serde_json::to_value(&prompt.messages).unwrap(),
            Mode::Completion => body["prompt"] = serde_json::Value::String(prompt.raw_text()),
        }
        if with_usage && self.gen.stream {
            body["stream_options"] = serde_json::json!({"include_usage": true});
        }
        if self.gen.fixed_length {
            body["ignore_eos"] = serde_json::Value::Bool(true);
        }
        body
    }

    fn url(&self) -> String {
        let path = match self.mode {
            Mode::Chat => "chat/completions",
            Mode::Completion => "completions",
        };
        self.endpoint.url(path)
    }

    async fn run(&self, job: &Job, t0: Instant, r: &mut RequestRecord) {
        let mut with_usage = self.send_usage_option.load(Ordering::Relaxed);
        loop {
            // The retry of a request caught by the keep-alive race goes out on a new
            // connection, never on another idle one from the pool.
            let client = if r.retried { &self.fresh } else { &self.client };
            let req = self
                .endpoint
                .post(client, &self.url())
                .json(&self.body(&job.prompt, with_usage));
            // The send starts now: the request is built, nothing is on the wire yet.
            r.send_ms = ms(t0, Instant::now());
            let attempt = Arc::new(crate::measure::conn::AttemptConn::default());
            let resp = match crate::measure::conn::track(attempt.clone(), req.send()).await {
                Ok(r) => r,
                Err(e) => {
                    let msg = format!("request failed: {}", error_chain(&e));
                    let reused = !attempt.opened_new();
                    if !r.retried && reused && crate::measure::conn::closed_before_response(&e) {
                        r.attempts.push(crate::measure::conn::Attempt {
                            send_ms: r.send_ms,
                            end_ms: ms(t0, Instant::now()),
                            first_byte_ms: None,
                            reused_connection: true,
                            error: Some(msg),
                        });
                        r.retried = true;
                        continue;
                    }
                    r.error = Some(msg);
                    return;
                }
            };
            r.first_byte_ms = Some(ms(t0, Instant::now()));
            let status = resp.status();
            if !status.is_success() {
                let body = resp.text().await.unwrap_or_default();
                if status == reqwest::StatusCode::BAD_REQUEST && with_usage && self.gen.stream {
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
            if self.gen.stream {
                read_sse(resp, t0, r).await;
            } else {
                read_whole(resp, t0, r).await;
            }
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
            if r.retried {
                // The second attempt, on its new connection, beside the first.
                r.attempts.push(crate::measure::conn::Attempt {
                    send_ms: r.send_ms,
                    end_ms: r.end_ms,
                    first_byte_ms: r.first_byte_ms,
                    reused_connection: false,
                    error: r.error.clone(),
                });
            }
            r
        })
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
                    .map(|m| ingot_core::ChatMessage::new(&m.role, &m.content))
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
            if !self.gen.stream {
                // Measured like a non-streamed HTTP request: the whole answer at the end.
                r.first_token_ms = None;
                r.token_ms.clear();
            }
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::openai::{normalize_base, split_query};

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
        assert_eq!(
            split_query("http://h:1/v1?key=s"),
            ("http://h:1/v1", Some("key=s"))
        );
    }
}
