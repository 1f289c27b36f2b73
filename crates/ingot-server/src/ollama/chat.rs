//! `POST /api/chat` and `POST /api/generate`: the OpenAI routes' generation, rendered as
//! Ollama's NDJSON stream or single object.

use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ingot_api::{parse_json, ApiError, ErrorShape};
use ingot_core::{Event, FinishReason, Prompt, Timings, Usage};
use serde_json::{json, Value};

use super::types::{nanos, ChatRequest, GenerateRequest, KeepAlive};
use super::{describe, ndjson_response, rfc3339};
use crate::generate::{self, Generation, Kind};
use crate::handlers::ApiBody;
use crate::AppState;

/// `POST /api/chat`.
pub async fn chat(
    State(st): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<Response, ApiError> {
    let req: ChatRequest = parse_json(&body)?;
    let keep = KeepAlive::from_field(req.keep_alive.as_ref())?;
    let (d, _) = describe(&st, &req.model, true).await?;
    if req.messages.is_empty() {
        // Ollama's way to load (or, with keep_alive 0, unload) a model.
        return load_only(&st, &d.id, &req.model, keep, Kind::Chat).await;
    }
    let mut v = req.validate()?;
    v.model = d.id;
    let streamed = v.stream;
    let gen = generate::start(&st, v, Kind::Chat, keep.map(KeepAlive::ttl)).await?;
    respond(gen, req.model, Kind::Chat, streamed).await
}

/// `POST /api/generate`.
pub async fn generate(
    State(st): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<Response, ApiError> {
    let req: GenerateRequest = parse_json(&body)?;
    let keep = KeepAlive::from_field(req.keep_alive.as_ref())?;
    let (d, _) = describe(&st, &req.model, true).await?;
    if req.prompt.as_deref().unwrap_or("").is_empty() {
        return load_only(&st, &d.id, &req.model, keep, Kind::Completion).await;
    }
    // Base models have no chat template: their prompt goes in as is, like Ollama's
    // `{{ .Prompt }}` template.
    let chat = d.capabilities.is_empty() || d.capabilities.contains(&ingot_core::Capability::Chat);
    let mut v = req.validate(chat)?;
    v.model = d.id;
    let kind = match v.request.prompt {
        Prompt::Chat(_) | Prompt::ChatWithTools(_) => Kind::Chat,
        Prompt::Raw(_) => Kind::Completion,
    };
    let streamed = v.stream;
    let gen = generate::start(&st, v, kind, keep.map(KeepAlive::ttl)).await?;
    // Chat or raw inside, `/api/generate` answers in `response` fields.
    respond(gen, req.model, Kind::Completion, streamed).await
}

async fn load_only(
    st: &AppState,
    id: &str,
    name: &str,
    keep: Option<KeepAlive>,
    shape: Kind,
) -> Result<Response, ApiError> {
    let reason = if keep == Some(KeepAlive::For(Duration::ZERO)) {
        st.manager.unload(id).await;
        "unload"
    } else {
        let (lease, _) = st.manager.acquire(id, keep.map(KeepAlive::ttl)).await?;
        drop(lease);
        "load"
    };
    let mut v = json!({
        "model": name,
        "created_at": rfc3339(SystemTime::now()),
        "done": true,
        "done_reason": reason,
    });
    put_text(&mut v, shape, "");
    Ok(Json(v).into_response())
}

/// Chat answers carry `message`, generate answers `response`.
fn put_text(v: &mut Value, shape: Kind, text: &str) {
    match shape {
        Kind::Chat => v["message"] = json!({ "role": "assistant", "content": text }),
        Kind::Completion => v["response"] = json!(text),
    }
}

/// The last object: `done`, `done_reason` and the statistics (durations in nanoseconds).
fn done_object(
    gen: &Generation,
    name: &str,
    shape: Kind,
    text: &str,
    reason: FinishReason,
    usage: Usage,
    timings: &Timings,
) -> Value {
    let mut v = json!({
        "model": name,
        "created_at": rfc3339(SystemTime::now()),
        "done": true,
        "done_reason": match reason {
            FinishReason::Length => "length",
            FinishReason::Stop | FinishReason::Cancelled => "stop",
        },
        "total_duration": gen.started.elapsed().as_nanos() as u64,
        "load_duration": nanos(timings.load_ms),
        "prompt_eval_count": usage.prompt_tokens,
        "prompt_eval_duration": nanos(timings.prompt_ms),
        "eval_count": usage.completion_tokens,
        "eval_duration": nanos(timings.gen_ms),
    });
    put_text(&mut v, shape, text);
    v
}

async fn respond(
    gen: Generation,
    name: String,
    shape: Kind,
    streamed: bool,
) -> Result<Response, ApiError> {
    if streamed {
        return Ok(stream(gen, name, shape));
    }
    let (gen, f) = gen.finish(None).await?;
    let parsed = gen.tools.as_ref().map(|t| t.parse(&f.text));
    let v = match parsed {
        Some(p) if !p.calls.is_empty() && shape == Kind::Chat => {
            let content = p.content.unwrap_or_default();
            let mut v = done_object(&gen, &name, shape, &content, f.reason, f.usage, &f.timings);
            v["message"]["tool_calls"] = ollama_calls(
                p.calls
                    .iter()
                    .map(|c| (c.name.as_str(), c.arguments.as_str())),
            );
            v
        }
        _ => done_object(&gen, &name, shape, &f.text, f.reason, f.usage, &f.timings),
    };
    Ok(Json(v).into_response())
}

/// Calls in Ollama's shape: `{"function": {"name", "arguments": {...}}}`, the arguments an
/// object (its JSON text when it is not valid JSON).
fn ollama_calls<'a>(calls: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Array(
        calls
            .map(|(name, args)| {
                let arguments = serde_json::from_str::<Value>(args)
                    .unwrap_or_else(|_| Value::String(args.to_string()));
                json!({"function": {"name": name, "arguments": arguments}})
            })
            .collect(),
    )
}

/// Streamed calls, collected from the tool parser's deltas: Ollama sends each call whole.
#[derive(Default)]
struct PendingCalls(Vec<(String, String)>);

impl PendingCalls {
    /// Takes the calls out of `deltas`, returning the content they held.
    fn absorb(&mut self, deltas: Vec<ingot_api::Delta>) -> String {
        let mut content = String::new();
        for d in deltas {
            if let Some(t) = d.content {
                content.push_str(&t);
            }
            for c in d.tool_calls.unwrap_or_default() {
                let i = c.index as usize;
                if self.0.len() <= i {
                    self.0.resize(i + 1, (String::new(), String::new()));
                }
                if let Some(n) = c.function.name {
                    self.0[i].0 = n;
                }
                self.0[i].1.push_str(&c.function.arguments);
            }
        }
        content
    }
}

/// One JSON object per line: a fragment per token, then the `done` object. The body owns the
/// generation, so a client that goes away cancels its sequence.
fn stream(gen: Generation, name: String, shape: Kind) -> Response {
    let body = futures_util::stream::unfold(Some((gen, PendingCalls::default())), move |gen| {
        let name = name.clone();
        async move {
            let (mut gen, mut calls) = gen?;
            loop {
                let line = match gen.events.next().await {
                    Some(Event::Token { text, .. }) => {
                        gen.on_token();
                        let text = match gen.tools.as_mut() {
                            Some(t) => calls.absorb(t.push(&text)),
                            None => text,
                        };
                        if text.is_empty() {
                            continue;
                        }
                        let mut v = json!({
                            "model": name,
                            "created_at": rfc3339(SystemTime::now()),
                            "done": false,
                        });
                        put_text(&mut v, shape, &text);
                        return Some((Ok::<_, Infallible>(line_of(&v)), Some((gen, calls))));
                    }
                    Some(Event::Done {
                        finish_reason,
                        usage,
                        mut timings,
                    }) => {
                        gen.on_done(usage, &mut timings);
                        let mut out = Vec::new();
                        if let Some(t) = gen.tools.as_mut() {
                            let rest = calls.absorb(t.finish());
                            if !rest.is_empty() || !calls.0.is_empty() {
                                // What the parser held back, and the calls, before `done`.
                                let mut v = json!({
                                    "model": name,
                                    "created_at": rfc3339(SystemTime::now()),
                                    "done": false,
                                });
                                put_text(&mut v, shape, &rest);
                                if !calls.0.is_empty() && shape == Kind::Chat {
                                    v["message"]["tool_calls"] = ollama_calls(
                                        calls.0.iter().map(|(n, a)| (n.as_str(), a.as_str())),
                                    );
                                }
                                out.extend_from_slice(&line_of(&v));
                            }
                        }
                        out.extend_from_slice(&line_of(&done_object(
                            &gen,
                            &name,
                            shape,
                            "",
                            finish_reason,
                            usage,
                            &timings,
                        )));
                        Bytes::from(out)
                    }
                    Some(Event::Error(e)) => error_line(e.into()),
                    None => error_line(ApiError::Internal(
                        "the engine stopped without finishing the request".into(),
                    )),
                };
                return Some((Ok(line), None));
            }
        }
    });
    ndjson_response(Body::from_stream(body))
}

fn line_of(v: &Value) -> Bytes {
    Bytes::from(format!("{v}\n"))
}

fn error_line(e: ApiError) -> Bytes {
    tracing::warn!(error = %e, "generation failed mid-stream");
    Bytes::from(format!("{}\n", e.body_json_as(ErrorShape::Ollama)))
}
