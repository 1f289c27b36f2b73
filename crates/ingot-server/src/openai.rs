//! The OpenAI routes' answer for one generation: one JSON object, or the SSE stream of chat
//! or completion chunks ending in `[DONE]`.

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header;
use ingot_api::logprobs::{chat_logprobs, completion_logprobs};
use ingot_api::{
    ApiError, ChatChoice, ChatCompletion, ChatCompletionChunk, ChunkChoice, Completion,
    CompletionChoice, Delta, Usage, Validated,
};
use ingot_core::{Event, Timings};

use crate::generate::{self, finish_reason, sse_data, Generation, Kind, DONE, KEEPALIVE, PING};
use crate::tool_calls;
use crate::AppState;

/// Validated request → response (JSON or SSE). Errors detectable up front (unknown model,
/// context overflow, full queue) become proper HTTP statuses because nothing has been sent.
/// One choice; `n` > 1 goes through [`crate::choices::run`].
pub async fn run(state: AppState, v: Validated, kind: Kind) -> Result<Response, ApiError> {
    let streamed = v.stream;
    let gen = generate::start(&state, v, kind, None).await?;
    if streamed {
        Ok(stream(gen))
    } else {
        collect(gen).await
    }
}

async fn collect(gen: Generation) -> Result<Response, ApiError> {
    let (gen, f) = gen.finish(None).await?;
    let usage = Usage::from(f.usage);
    let reason = Some(finish_reason(f.reason));
    let body = match gen.kind {
        Kind::Chat => {
            let (message, made_calls) = tool_calls::message(gen.tools.as_ref(), f.text);
            serde_json::to_value(ChatCompletion {
                id: gen.id.clone(),
                object: "chat.completion".into(),
                created: gen.created,
                model: gen.model.clone(),
                choices: vec![ChatChoice {
                    index: 0,
                    message,
                    finish_reason: reason.map(|r| tool_calls::finish_reason(r, made_calls)),
                    logprobs: gen.logprobs.then(|| chat_logprobs(&f.logprobs)),
                }],
                usage,
                timings: Some(f.timings),
            })
        }
        Kind::Completion => serde_json::to_value(Completion {
            id: gen.id.clone(),
            object: "text_completion".into(),
            created: gen.created,
            model: gen.model.clone(),
            choices: vec![CompletionChoice {
                index: 0,
                text: f.text,
                finish_reason: reason,
                logprobs: gen.logprobs.then(|| completion_logprobs(&f.logprobs, 0)),
            }],
            usage: Some(usage),
            timings: Some(f.timings),
        }),
    }
    .map_err(|e| ApiError::Internal(format!("serializing response: {e}")))?;
    Ok(axum::Json(body).into_response())
}

struct StreamState {
    gen: Generation,
    pending: VecDeque<Bytes>,
    finished: bool,
}

impl StreamState {
    fn chat_chunk(
        &self,
        delta: Delta,
        finish: Option<String>,
        timings: Option<Timings>,
        logprobs: Option<serde_json::Value>,
    ) -> Bytes {
        sse_data(&ChatCompletionChunk {
            id: self.gen.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.gen.created,
            model: self.gen.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish,
                logprobs,
            }],
            usage: None,
            timings,
        })
    }

    fn text_chunk(
        &self,
        text: String,
        finish: Option<String>,
        timings: Option<Timings>,
        logprobs: Option<serde_json::Value>,
    ) -> Bytes {
        sse_data(&Completion {
            id: self.gen.id.clone(),
            object: "text_completion".into(),
            created: self.gen.created,
            model: self.gen.model.clone(),
            choices: vec![CompletionChoice {
                index: 0,
                text,
                finish_reason: finish,
                logprobs,
            }],
            usage: None,
            timings,
        })
    }

    fn usage_chunk(&self, usage: Usage) -> Bytes {
        match self.gen.kind {
            Kind::Chat => sse_data(&ChatCompletionChunk {
                id: self.gen.id.clone(),
                object: "chat.completion.chunk".into(),
                created: self.gen.created,
                model: self.gen.model.clone(),
                choices: vec![],
                usage: Some(usage),
                timings: None,
            }),
            Kind::Completion => sse_data(&Completion {
                id: self.gen.id.clone(),
                object: "text_completion".into(),
                created: self.gen.created,
                model: self.gen.model.clone(),
                choices: vec![],
                usage: Some(usage),
                timings: None,
            }),
        }
    }

    /// One chunk per delta; a token's logprobs ride on its first chunk, or on an empty one
    /// when the tool parser held its text back.
    fn push_deltas(&mut self, deltas: Vec<Delta>, mut logprobs: Option<serde_json::Value>) {
        if deltas.is_empty() {
            if let Some(lp) = logprobs {
                let c = self.chat_chunk(Delta::default(), None, None, Some(lp));
                self.pending.push_back(c);
            }
            return;
        }
        for d in deltas {
            let c = self.chat_chunk(d, None, None, logprobs.take());
            self.pending.push_back(c);
        }
    }

    fn fail(&mut self, e: ApiError) {
        tracing::warn!(error = %e, "generation failed mid-stream");
        self.pending
            .push_back(Bytes::from(format!("data: {}\n\n", e.body_json())));
        self.pending.push_back(Bytes::from_static(DONE));
        self.finished = true;
    }

    /// Waits for the next engine event and queues the SSE bytes it produces.
    async fn advance(&mut self) {
        let event = match tokio::time::timeout(KEEPALIVE, self.gen.events.next()).await {
            Ok(ev) => ev,
            Err(_) => {
                self.pending.push_back(Bytes::from_static(PING));
                return;
            }
        };
        match event {
            Some(Event::Token { text, logprobs, .. }) => {
                self.gen.on_token();
                if text.is_empty() {
                    return;
                }
                let chunk = match self.gen.kind {
                    Kind::Chat => {
                        let lp = self.gen.logprobs.then(|| chat_logprobs(&logprobs));
                        if let Some(tools) = self.gen.tools.as_mut() {
                            let deltas = tools.push(&text);
                            self.push_deltas(deltas, lp);
                            return;
                        }
                        self.chat_chunk(
                            Delta {
                                content: Some(text),
                                ..Delta::default()
                            },
                            None,
                            None,
                            lp,
                        )
                    }
                    Kind::Completion => {
                        let lp = self
                            .gen
                            .logprobs
                            .then(|| completion_logprobs(&logprobs, self.gen.streamed));
                        self.gen.streamed += text.len();
                        self.text_chunk(text, None, None, lp)
                    }
                };
                self.pending.push_back(chunk);
            }
            Some(Event::Done {
                finish_reason: reason,
                usage,
                mut timings,
            }) => {
                self.gen.on_done(usage, &mut timings);
                let mut reason = finish_reason(reason);
                if let Some(tools) = self.gen.tools.as_mut() {
                    let deltas = tools.finish();
                    let made_calls = tools.calls() > 0;
                    self.push_deltas(deltas, None);
                    reason = tool_calls::finish_reason(reason, made_calls);
                }
                let reason = Some(reason);
                let last = match self.gen.kind {
                    Kind::Chat => self.chat_chunk(Delta::default(), reason, Some(timings), None),
                    Kind::Completion => self.text_chunk(String::new(), reason, Some(timings), None),
                };
                self.pending.push_back(last);
                if self.gen.include_usage {
                    let u = self.usage_chunk(usage.into());
                    self.pending.push_back(u);
                }
                self.pending.push_back(Bytes::from_static(DONE));
                self.finished = true;
            }
            Some(Event::Error(e)) => self.fail(e.into()),
            None => self.fail(ApiError::Internal(
                "the engine stopped without finishing the request".into(),
            )),
        }
    }
}

pub(crate) fn stream(gen: Generation) -> Response {
    let mut state = StreamState {
        gen,
        pending: VecDeque::new(),
        finished: false,
    };
    if state.gen.kind == Kind::Chat {
        // OpenAI opens every chat stream with the role.
        let first = state.chat_chunk(
            Delta {
                role: Some("assistant".into()),
                content: Some(String::new()),
                tool_calls: None,
            },
            None,
            None,
            None,
        );
        state.pending.push_back(first);
    }
    // The body stream owns the state: when hyper drops the body (client disconnected), the
    // EventStream is dropped with it and the engine cancels the sequence.
    let body = futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(b) = st.pending.pop_front() {
                return Some((Ok::<_, Infallible>(b), st));
            }
            if st.finished {
                return None;
            }
            st.advance().await;
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        // Tells nginx-style proxies not to buffer the stream.
        .header("x-accel-buffering", "no")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| ApiError::Internal("building stream response".into()).into_response())
}
