//! `n` > 1: several choices for one chat or completion request.
//!
//! The first choice starts alone. Once its first event arrives its prompt is in its KV cells,
//! and the other choices start: the engine finds that prefix in the first choice's slot and
//! copies it (cross-slot prefix sharing), so the prompt is computed once. Choice `i` samples
//! with seed `seed + i`. Every choice holds a slot, so `n` is bounded by the model's
//! `--parallel` slots. `usage.prompt_tokens` counts the prompt once; `completion_tokens` sums
//! the choices, as OpenAI reports them.

use std::convert::Infallible;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use http::header;
use ingot_api::logprobs::{chat_logprobs, completion_logprobs};
use ingot_api::{
    ApiError, ChatChoice, ChatCompletion, ChatCompletionChunk, ChunkChoice, Completion,
    CompletionChoice, Delta, Usage, Validated,
};
use ingot_core::Event;

use crate::generate::{self, finish_reason, sse_data, Generation, Kind, DONE, KEEPALIVE, PING};
use crate::tool_calls;
use crate::AppState;

/// Validated request with `n` > 1 → response (JSON or SSE).
pub(crate) async fn run(state: AppState, v: Validated, kind: Kind) -> Result<Response, ApiError> {
    let n = v.n as usize;
    let mut base = v;
    if base.random_seed {
        // One random base seed: the choices still differ by their index.
        base.request.sampling.seed = rand::random();
        base.random_seed = false;
    }
    let seed = base.request.sampling.seed;
    let with_seed = |i: usize| {
        let mut v = base.clone();
        v.request.sampling.seed = seed.wrapping_add(i as u64);
        v
    };
    let mut leader = generate::start(&state, with_seed(0), kind, None).await?;
    let slots = leader.n_parallel();
    if n > slots {
        return Err(ApiError::invalid_param(
            "n",
            format!(
                "n is {n}, but model `{}` decodes at most {slots} sequences at once (ingot serve --parallel); ask for at most {slots} choices",
                leader.model
            ),
        ));
    }
    // The leader's prompt is in its cells once its first event is out.
    let first = leader.events.next().await;
    let mut gens = vec![(leader, first)];
    for i in 1..n {
        gens.push((
            generate::start(&state, with_seed(i), kind, None).await?,
            None,
        ));
    }
    if base.stream {
        Ok(stream_all(gens, kind, base.include_usage))
    } else {
        collect_all(gens, kind).await
    }
}

/// Prompt counted once, completions summed.
fn total_usage(prompt_tokens: u32, completion: impl Iterator<Item = u32>) -> Usage {
    let completion_tokens = completion.fold(0u32, u32::saturating_add);
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens.saturating_add(completion_tokens),
    }
}

async fn collect_all(
    gens: Vec<(Generation, Option<Event>)>,
    kind: Kind,
) -> Result<Response, ApiError> {
    let results =
        futures_util::future::join_all(gens.into_iter().map(|(g, first)| g.finish(first))).await;
    let mut done = Vec::with_capacity(results.len());
    for r in results {
        done.push(r?);
    }
    let (leader, lead) = &done[0];
    let usage = total_usage(
        lead.usage.prompt_tokens,
        done.iter().map(|(_, f)| f.usage.completion_tokens),
    );
    let body = match kind {
        Kind::Chat => serde_json::to_value(ChatCompletion {
            id: leader.id.clone(),
            object: "chat.completion".into(),
            created: leader.created,
            model: leader.model.clone(),
            choices: done
                .iter()
                .enumerate()
                .map(|(i, (g, f))| {
                    let (message, made_calls) =
                        tool_calls::message(g.tools.as_ref(), f.text.clone());
                    ChatChoice {
                        index: i as u32,
                        message,
                        finish_reason: Some(tool_calls::finish_reason(
                            finish_reason(f.reason),
                            made_calls,
                        )),
                        logprobs: g.logprobs.then(|| chat_logprobs(&f.logprobs)),
                    }
                })
                .collect(),
            usage,
            timings: Some(lead.timings.clone()),
        }),
        Kind::Completion => serde_json::to_value(Completion {
            id: leader.id.clone(),
            object: "text_completion".into(),
            created: leader.created,
            model: leader.model.clone(),
            choices: done
                .iter()
                .enumerate()
                .map(|(i, (g, f))| CompletionChoice {
                    index: i as u32,
                    text: f.text.clone(),
                    finish_reason: Some(finish_reason(f.reason)),
                    logprobs: g.logprobs.then(|| completion_logprobs(&f.logprobs, 0)),
                })
                .collect(),
            usage: Some(usage),
            timings: Some(lead.timings.clone()),
        }),
    }
    .map_err(|e| ApiError::Internal(format!("serializing response: {e}")))?;
    Ok(axum::Json(body).into_response())
}

/// What every chunk of the merged stream shares.
struct Header {
    id: String,
    created: u64,
    model: String,
    kind: Kind,
}

impl Header {
    /// A chat chunk carrying `delta`.
    fn delta_chunk(
        &self,
        index: u32,
        delta: Delta,
        finish: Option<String>,
        logprobs: Option<serde_json::Value>,
    ) -> Bytes {
        sse_data(&ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index,
                delta,
                finish_reason: finish,
                logprobs,
            }],
            usage: None,
            timings: None,
        })
    }

    fn chunk(
        &self,
        index: u32,
        text: Option<String>,
        role: bool,
        finish: Option<String>,
        logprobs: Option<serde_json::Value>,
    ) -> Bytes {
        match self.kind {
            Kind::Chat => self.delta_chunk(
                index,
                Delta {
                    role: role.then(|| "assistant".into()),
                    content: text,
                    tool_calls: None,
                },
                finish,
                logprobs,
            ),
            Kind::Completion => sse_data(&Completion {
                id: self.id.clone(),
                object: "text_completion".into(),
                created: self.created,
                model: self.model.clone(),
                choices: vec![CompletionChoice {
                    index,
                    text: text.unwrap_or_default(),
                    finish_reason: finish,
                    logprobs,
                }],
                usage: None,
                timings: None,
            }),
        }
    }

    fn usage(&self, usage: Usage) -> Bytes {
        match self.kind {
            Kind::Chat => sse_data(&ChatCompletionChunk {
                id: self.id.clone(),
                object: "chat.completion.chunk".into(),
                created: self.created,
                model: self.model.clone(),
                choices: vec![],
                usage: Some(usage),
                timings: None,
            }),
            Kind::Completion => sse_data(&Completion {
                id: self.id.clone(),
                object: "text_completion".into(),
                created: self.created,
                model: self.model.clone(),
                choices: vec![],
                usage: Some(usage),
                timings: None,
            }),
        }
    }
}

/// One choice's event as the merged stream sees it.
struct ChoiceEvent {
    index: u32,
    event: Event,
    /// The request asked for logprobs.
    logprobs: bool,
    /// With tools: the deltas this event's text became (the token's text is not sent
    /// as is), and whether the choice made calls (on `Done`).
    tool_deltas: Option<Vec<Delta>>,
    made_calls: bool,
}

/// One choice's events, tagged with its index; ends after its `Done` or error.
fn choice_events(
    index: u32,
    gen: Generation,
    first: Option<Event>,
) -> impl futures_util::Stream<Item = ChoiceEvent> + Send {
    stream::unfold(Some((gen, first)), move |state| async move {
        let (mut gen, mut first) = state?;
        let ev = match first.take() {
            Some(ev) => ev,
            None => gen.events.next().await.unwrap_or_else(|| {
                Event::Error(ingot_core::EngineError::Backend(
                    "the engine stopped without finishing the request".into(),
                ))
            }),
        };
        let logprobs = gen.logprobs;
        let mut tool_deltas = None;
        let mut made_calls = false;
        match &ev {
            Event::Token { text, .. } => {
                gen.on_token();
                tool_deltas = gen.tools.as_mut().map(|t| t.push(text));
            }
            Event::Done { usage, timings, .. } => {
                let mut t = timings.clone();
                gen.on_done(*usage, &mut t);
                if let Some(tools) = gen.tools.as_mut() {
                    tool_deltas = Some(tools.finish());
                    made_calls = tools.calls() > 0;
                }
            }
            Event::Error(_) => {}
        }
        let last = !matches!(ev, Event::Token { .. });
        // The generation (and its slot) lives until its last event is out.
        let next = if last { None } else { Some((gen, None)) };
        let item = ChoiceEvent {
            index,
            event: ev,
            logprobs,
            tool_deltas,
            made_calls,
        };
        Some((item, next))
    })
}

fn stream_all(gens: Vec<(Generation, Option<Event>)>, kind: Kind, include_usage: bool) -> Response {
    let n = gens.len();
    let header = {
        let g = &gens[0].0;
        Header {
            id: g.id.clone(),
            created: g.created,
            model: g.model.clone(),
            kind,
        }
    };
    let mut opening: Vec<Bytes> = Vec::new();
    if kind == Kind::Chat {
        // OpenAI opens each choice with its role.
        for i in 0..n {
            opening.push(header.chunk(i as u32, Some(String::new()), true, None, None));
        }
    }
    let merged = stream::select_all(
        gens.into_iter()
            .enumerate()
            .map(|(i, (g, first))| choice_events(i as u32, g, first).boxed()),
    );
    struct State<S> {
        merged: S,
        header: Header,
        include_usage: bool,
        remaining: usize,
        prompt_tokens: u32,
        completion_tokens: Vec<u32>,
        ended: bool,
    }
    let state = State {
        merged,
        header,
        include_usage,
        remaining: n,
        prompt_tokens: 0,
        completion_tokens: vec![0; n],
        ended: false,
    };
    let body = stream::unfold(state, |mut st| async move {
        if st.ended {
            return None;
        }
        let next = match tokio::time::timeout(KEEPALIVE, st.merged.next()).await {
            Ok(next) => next,
            Err(_) => return Some((vec![Bytes::from_static(PING)], st)),
        };
        let Some(ChoiceEvent {
            index: i,
            event: ev,
            logprobs,
            tool_deltas,
            made_calls,
        }) = next
        else {
            st.ended = true;
            return Some((vec![Bytes::from_static(DONE)], st));
        };
        let mut out: Vec<Bytes> = Vec::new();
        if let Some(deltas) = tool_deltas {
            let mut lp = match &ev {
                Event::Token { logprobs: lp, .. } if logprobs => Some(chat_logprobs(lp)),
                _ => None,
            };
            for d in deltas {
                out.push(st.header.delta_chunk(i, d, None, lp.take()));
            }
            if let Some(lp) = lp {
                out.push(st.header.delta_chunk(i, Delta::default(), None, Some(lp)));
            }
            if matches!(ev, Event::Token { .. }) {
                return Some((out, st));
            }
        }
        let more = match ev {
            Event::Token {
                text, logprobs: lp, ..
            } => {
                if text.is_empty() {
                    vec![]
                } else {
                    let lp = logprobs.then(|| match st.header.kind {
                        Kind::Chat => chat_logprobs(&lp),
                        Kind::Completion => completion_logprobs(&lp, 0),
                    });
                    vec![st.header.chunk(i, Some(text), false, None, lp)]
                }
            }
            Event::Done {
                finish_reason: reason,
                usage,
                ..
            } => {
                if i == 0 {
                    st.prompt_tokens = usage.prompt_tokens;
                }
                st.completion_tokens[i as usize] = usage.completion_tokens;
                st.remaining -= 1;
                let reason = tool_calls::finish_reason(finish_reason(reason), made_calls);
                let mut out = vec![st.header.chunk(i, None, false, Some(reason), None)];
                if st.remaining == 0 {
                    if st.include_usage {
                        out.push(st.header.usage(total_usage(
                            st.prompt_tokens,
                            st.completion_tokens.iter().copied(),
                        )));
                    }
                    out.push(Bytes::from_static(DONE));
                    st.ended = true;
                }
                out
            }
            Event::Error(e) => {
                let e = ApiError::from(e);
                tracing::warn!(error = %e, "generation failed mid-stream");
                st.ended = true;
                vec![
                    Bytes::from(format!("data: {}\n\n", e.body_json())),
                    Bytes::from_static(DONE),
                ]
            }
        };
        out.extend(more);
        Some((out, st))
    });
    let body = stream::iter(opening.into_iter().map(Ok::<_, Infallible>))
        .chain(body.flat_map(|chunks| stream::iter(chunks.into_iter().map(Ok::<_, Infallible>))));
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .header("x-accel-buffering", "no")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| ApiError::Internal("building stream response".into()).into_response())
}
