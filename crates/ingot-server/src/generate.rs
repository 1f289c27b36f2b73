//! Starting one generation (the model leased, the request checked against it, the engine
//! started) and running it to its end; the routes render its events ([`crate::openai`],
//! [`crate::choices`], [`crate::responses`], [`crate::ollama`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ingot_api::{ApiError, Validated};
use ingot_core::{Event, EventStream, FinishReason, Timings, TokenLogprob};
use serde::Serialize;

use crate::metrics::{ActiveGuard, Metrics};
use crate::registry::{unix_now, Lease};
use crate::tool_calls::ToolOutput;
use crate::AppState;

/// With no event for this long the stream sends an SSE comment, so proxies keep the
/// connection open during long prompt processing and a vanished client is noticed (and its
/// sequence cancelled) even while it waits in the queue.
pub(crate) const KEEPALIVE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chat,
    Completion,
}

/// Everything a running generation holds. Dropping it (client gone, handler future dropped)
/// drops the event stream, which cancels the engine sequence. The OpenAI routes render it
/// here; the Ollama routes (`crate::ollama`) render the same events their own way.
pub(crate) struct Generation {
    pub(crate) kind: Kind,
    pub(crate) id: String,
    pub(crate) created: u64,
    /// The canonical id of the model that answers.
    pub(crate) model: String,
    pub(crate) include_usage: bool,
    /// The request asked for logprobs (plain requests skip all logprob work).
    pub(crate) logprobs: bool,
    /// Bytes of text streamed so far (completions' `text_offset`).
    pub(crate) streamed: usize,
    /// When the request arrived.
    pub(crate) started: Instant,
    /// Time this request waited for its model to load (0 when it was loaded).
    pub(crate) load_ms: f64,
    pub(crate) events: EventStream,
    /// Splits content from tool calls when the request offered tools.
    pub(crate) tools: Option<ToolOutput>,
    metrics: Arc<Metrics>,
    last_token: Option<Instant>,
    _lease: Lease,
    _active: ActiveGuard,
}

/// A generation's whole output, for the routes that answer in one object.
pub(crate) struct Finished {
    pub text: String,
    /// Per token, when the request asked for logprobs (empty otherwise).
    pub logprobs: Vec<TokenLogprob>,
    pub reason: FinishReason,
    pub usage: ingot_core::Usage,
    /// Completed with this request's load time.
    pub timings: Timings,
}

impl Generation {
    /// Runs the generation to its end (`first`: an event already taken from it), recording
    /// the metrics on the way. An engine error, or an engine that stops without `Done`, is
    /// the error.
    pub(crate) async fn finish(
        mut self,
        mut first: Option<Event>,
    ) -> Result<(Generation, Finished), ApiError> {
        let mut text = String::new();
        let mut lps = Vec::new();
        loop {
            let ev = match first.take() {
                Some(ev) => Some(ev),
                None => self.events.next().await,
            };
            match ev {
                Some(Event::Token {
                    text: t, logprobs, ..
                }) => {
                    self.on_token();
                    text.push_str(&t);
                    if self.logprobs {
                        lps.extend(logprobs);
                    }
                }
                Some(Event::Done {
                    finish_reason,
                    usage,
                    mut timings,
                }) => {
                    self.on_done(usage, &mut timings);
                    let f = Finished {
                        text,
                        logprobs: lps,
                        reason: finish_reason,
                        usage,
                        timings,
                    };
                    return Ok((self, f));
                }
                Some(Event::Error(e)) => return Err(e.into()),
                None => {
                    return Err(ApiError::Internal(
                        "the engine stopped without finishing the request".into(),
                    ))
                }
            }
        }
    }

    /// Sequences the model decodes at once (its `--parallel` slots).
    pub(crate) fn n_parallel(&self) -> usize {
        self._lease.model().info().n_parallel
    }

    /// Records a token's arrival (inter-token latency metric).
    pub(crate) fn on_token(&mut self) {
        let now = Instant::now();
        if let Some(prev) = self.last_token.replace(now) {
            self.metrics.observe_itl((now - prev).as_secs_f64());
        }
    }

    /// Records a finished generation (metrics, log) and completes `timings` with the load.
    pub(crate) fn on_done(&self, usage: ingot_core::Usage, timings: &mut Timings) {
        // The engine cannot know this request waited for a load; we do.
        if self.load_ms > 0.0 {
            timings.load_ms = self.load_ms;
        }
        self.metrics.observe_done(
            timings,
            usage.prompt_tokens,
            usage.completion_tokens,
            self.started.elapsed().as_secs_f64(),
        );
        tracing::info!(
            id = %self.id,
            model = %self.model,
            prompt_tokens = usage.prompt_tokens,
            completion_tokens = usage.completion_tokens,
            cached_tokens = timings.cached_tokens,
            queue_ms = timings.queue_ms,
            ttft_ms = timings.ttft_ms,
            gen_tokens_per_s = timings.gen_tokens_per_s,
            total_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            "request done"
        );
    }
}

pub(crate) fn finish_reason(r: FinishReason) -> String {
    match r {
        FinishReason::Length => "length".into(),
        // Nobody reads a cancelled response; "stop" keeps the value within OpenAI's set.
        FinishReason::Stop | FinishReason::Cancelled => "stop".into(),
    }
}

fn new_id(prefix: &str) -> String {
    use rand::Rng;
    let n: u128 = rand::thread_rng().gen();
    format!("{prefix}-{:024x}", n & ((1u128 << 96) - 1))
}

/// Rejects what the model cannot serve before anything is generated: a chat request to a
/// model without chat (per its engine adapter, or per the provider's catalog entry), a raw
/// completion to a chat-only adapter, a grammar (JSON mode) to an engine without grammar
/// support.
fn check_capabilities(lease: &Lease, kind: Kind, v: &Validated) -> Result<(), ApiError> {
    let caps = lease.model().capabilities();
    let declared = lease.declared_capabilities();
    let supports = || {
        let mut names: Vec<&str> = caps.names();
        if !declared.is_empty() && !declared.contains(&ingot_core::Capability::Chat) {
            names.retain(|c| *c != "chat");
        }
        if names.is_empty() {
            "nothing".to_string()
        } else {
            names.join(", ")
        }
    };
    let unsupported = |param: &str, message: String| ApiError::InvalidRequest {
        message,
        param: Some(param.into()),
        code: Some("unsupported_capability".into()),
    };
    let model = lease.id();
    match kind {
        Kind::Chat
            if !caps.chat
                || (!declared.is_empty() && !declared.contains(&ingot_core::Capability::Chat)) =>
        {
            return Err(unsupported(
                "model",
                format!(
                    "model `{model}` does not support chat completions (it supports: {}); send a raw prompt to /v1/completions instead",
                    supports()
                ),
            ));
        }
        Kind::Completion if !caps.completion => {
            return Err(unsupported(
                "model",
                format!(
                    "model `{model}` does not support raw completions (it supports: {}); use /v1/chat/completions instead",
                    supports()
                ),
            ));
        }
        _ => {}
    }
    let constrained =
        v.request.sampling.grammar.is_some() || v.request.sampling.json_schema.is_some();
    if constrained && !caps.grammar {
        return Err(unsupported(
            "response_format",
            format!(
                "model `{model}` cannot constrain its output: response_format `json_object` and `json_schema` and `grammar` are not supported by its engine (it supports: {})",
                supports()
            ),
        ));
    }
    Ok(())
}

/// `--max-tokens-cap`: a larger `max_tokens` is a 400 naming the cap, a missing one becomes
/// the cap. Shared by local generation and forwarded requests.
pub(crate) fn apply_max_tokens_cap(
    max_tokens: Option<u32>,
    cap: Option<u32>,
) -> Result<Option<u32>, ApiError> {
    let Some(cap) = cap else {
        return Ok(max_tokens);
    };
    match max_tokens {
        Some(max) if max > cap => Err(ApiError::InvalidRequest {
            message: format!(
                "max_tokens is {max}, but this server allows at most {cap} tokens per request (--max-tokens-cap)"
            ),
            param: Some("max_tokens".into()),
            code: Some("max_tokens_exceeded".into()),
        }),
        Some(max) => Ok(Some(max)),
        None => Ok(Some(cap)),
    }
}

/// Loads the model if needed (`ttl` replaces its idle TTL when given), checks the request
/// against it and starts generating.
pub(crate) async fn start(
    state: &AppState,
    mut v: Validated,
    kind: Kind,
    ttl: Option<Duration>,
) -> Result<Generation, ApiError> {
    let started = Instant::now();
    let active = state.metrics.active_guard();
    let (lease, load_ms) = state.manager.acquire(&v.model, ttl).await?;
    check_capabilities(&lease, kind, &v)?;

    v.request.sampling.max_tokens =
        apply_max_tokens_cap(v.request.sampling.max_tokens, state.config.max_tokens_cap)?;
    let info = lease.model().info();
    if let Some(max) = v.request.sampling.max_tokens {
        if max >= info.n_ctx_per_seq {
            return Err(ApiError::ContextLengthExceeded {
                prompt_tokens: None,
                max_tokens: max,
                n_ctx: info.n_ctx_per_seq,
            });
        }
    }
    if v.random_seed {
        v.request.sampling.seed = rand::random();
    }
    let tools = ToolOutput::for_request(
        lease.model().as_ref(),
        &v.request.prompt,
        &mut v.request.sampling,
    )?;
    if tools.as_ref().is_some_and(|t| t.forced()) && !lease.model().capabilities().grammar {
        return Err(ApiError::InvalidRequest {
            message: format!(
                "model `{}` cannot constrain its output, so it cannot be forced to call a tool; use tool_choice `auto`",
                lease.id()
            ),
            param: Some("tool_choice".into()),
            code: Some("unsupported_capability".into()),
        });
    }
    let logprobs = v.request.sampling.logprobs.is_some();
    // Rendering the template, tokenizing (up to a 2 MB body) and building the sampler
    // (a grammar) are synchronous work: keep them off the runtime's threads (issue 12).
    let model = lease.model().clone();
    let request = v.request;
    let events = tokio::task::spawn_blocking(move || model.generate(request))
        .await
        .map_err(|e| ApiError::Internal(format!("preparing the request failed: {e}")))??;
    let gen = Generation {
        kind,
        id: new_id(if kind == Kind::Chat {
            "chatcmpl"
        } else {
            "cmpl"
        }),
        created: unix_now(),
        // The canonical id, even when the request used an alias, as OpenAI reports the
        // model that actually answered.
        model: lease.id().to_string(),
        include_usage: v.include_usage,
        logprobs,
        streamed: 0,
        started,
        load_ms,
        events,
        tools,
        metrics: state.metrics.clone(),
        last_token: None,
        _lease: lease,
        _active: active,
    };
    Ok(gen)
}

pub(crate) fn sse_data<T: Serialize>(v: &T) -> Bytes {
    // Our response types always serialize.
    let json = serde_json::to_string(v).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("data: {json}\n\n"))
}

/// The end of an OpenAI stream, and the comment that keeps an idle one open.
pub(crate) const DONE: &[u8] = b"data: [DONE]\n\n";
pub(crate) const PING: &[u8] = b": keep-alive\n\n";
