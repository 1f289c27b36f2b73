//! `POST /v1/responses`: OpenAI's Responses API, stateless, over the same generation as the
//! chat route (`ingot_api::responses` turns the request into a chat request), answered as one
//! `response` object or as the Responses stream of typed events.

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::header;
use ingot_api::responses::{
    message_item, response_json, usage_json, ResponseEcho, ResponsesRequest,
};
use ingot_api::{parse_json, ApiError};
use ingot_core::{Event, FinishReason};
use serde_json::{json, Value};

use crate::generate::{self, Generation, Kind, KEEPALIVE, PING};
use crate::handlers::ApiBody;
use crate::registry::unix_now;
use crate::AppState;

fn new_id(prefix: &str) -> String {
    use rand::Rng;
    let n: u128 = rand::thread_rng().gen();
    format!("{prefix}_{:032x}", n)
}

/// `POST /v1/responses`.
pub async fn create(
    State(st): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<Response, ApiError> {
    let req: ResponsesRequest = parse_json(&body)?;
    if st.manager.provider().remote(&req.model).is_some() {
        return Err(ApiError::InvalidRequest {
            message: format!(
                "`{}` is a remote model: the Responses API is answered by local models only; use /v1/chat/completions, which is forwarded",
                req.model
            ),
            param: Some("model".into()),
            code: Some("unsupported_parameter".into()),
        });
    }
    let v = req.validate()?;
    let gen = generate::start(&st, v.chat, Kind::Chat, None).await?;
    let answer = Answer {
        id: new_id("resp"),
        message_id: new_id("msg"),
        created_at: unix_now(),
        echo: v.echo,
    };
    if v.stream {
        Ok(stream(gen, answer))
    } else {
        collect(gen, answer).await
    }
}

/// What every `response` object of one answer shares.
struct Answer {
    id: String,
    message_id: String,
    created_at: u64,
    echo: ResponseEcho,
}

impl Answer {
    fn response(
        &self,
        model: &str,
        status: &str,
        reason: Option<FinishReason>,
        output: Vec<Value>,
        usage: Option<Value>,
    ) -> Value {
        let incomplete =
            matches!(reason, Some(FinishReason::Length)).then_some("max_output_tokens");
        response_json(
            &self.id,
            self.created_at,
            model,
            &self.echo,
            status,
            incomplete,
            output,
            usage,
        )
    }
}

fn status_of(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Length => "incomplete",
        FinishReason::Stop | FinishReason::Cancelled => "completed",
    }
}

async fn collect(gen: Generation, answer: Answer) -> Result<Response, ApiError> {
    let (gen, f) = gen.finish(None).await?;
    let status = status_of(f.reason);
    let item = message_item(&answer.message_id, status, Some(&f.text));
    let v = answer.response(
        &gen.model,
        status,
        Some(f.reason),
        vec![item],
        Some(usage_json(f.usage.prompt_tokens, f.usage.completion_tokens)),
    );
    Ok(Json(v).into_response())
}

/// The Responses stream: `response.created`, `response.in_progress`, the message item and its
/// text part opened, a `response.output_text.delta` per token, then the text, part, item and
/// `response.completed` (or `response.incomplete`) closed with their full content. Each event
/// is `event: TYPE` plus `data: {"type": TYPE, "sequence_number": N, ...}`; there is no
/// `[DONE]` in this API.
struct ResponseStream {
    gen: Generation,
    answer: Answer,
    text: String,
    seq: u64,
    pending: VecDeque<Bytes>,
    finished: bool,
}

impl ResponseStream {
    fn event(&mut self, kind: &str, mut body: Value) {
        body["type"] = json!(kind);
        body["sequence_number"] = json!(self.seq);
        self.seq += 1;
        self.pending
            .push_back(Bytes::from(format!("event: {kind}\ndata: {body}\n\n")));
    }

    fn open(&mut self) {
        let created = self
            .answer
            .response(&self.gen.model, "in_progress", None, vec![], None);
        self.event("response.created", json!({ "response": created }));
        self.event("response.in_progress", json!({ "response": created }));
        let item = message_item(&self.answer.message_id, "in_progress", None);
        self.event(
            "response.output_item.added",
            json!({ "output_index": 0, "item": item }),
        );
        self.event(
            "response.content_part.added",
            json!({
                "item_id": self.answer.message_id, "output_index": 0, "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            }),
        );
    }

    fn close(&mut self, reason: FinishReason, usage: ingot_core::Usage) {
        let id = self.answer.message_id.clone();
        let text = std::mem::take(&mut self.text);
        self.event(
            "response.output_text.done",
            json!({"item_id": id, "output_index": 0, "content_index": 0, "text": text, "logprobs": []}),
        );
        self.event(
            "response.content_part.done",
            json!({
                "item_id": id, "output_index": 0, "content_index": 0,
                "part": {"type": "output_text", "text": text, "annotations": [], "logprobs": []},
            }),
        );
        let status = status_of(reason);
        let item = message_item(&id, status, Some(&text));
        self.event(
            "response.output_item.done",
            json!({ "output_index": 0, "item": item.clone() }),
        );
        let done = self.answer.response(
            &self.gen.model,
            status,
            Some(reason),
            vec![item],
            Some(usage_json(usage.prompt_tokens, usage.completion_tokens)),
        );
        let kind = if status == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        self.event(kind, json!({ "response": done }));
        self.finished = true;
    }

    fn fail(&mut self, e: ApiError) {
        tracing::warn!(error = %e, "response failed mid-stream");
        self.event(
            "error",
            json!({"code": e.code(), "message": e.to_string(), "param": e.param()}),
        );
        self.finished = true;
    }

    async fn advance(&mut self) {
        let event = match tokio::time::timeout(KEEPALIVE, self.gen.events.next()).await {
            Ok(ev) => ev,
            Err(_) => {
                self.pending.push_back(Bytes::from_static(PING));
                return;
            }
        };
        match event {
            Some(Event::Token { text, .. }) => {
                self.gen.on_token();
                if text.is_empty() {
                    return;
                }
                self.text.push_str(&text);
                let id = self.answer.message_id.clone();
                self.event(
                    "response.output_text.delta",
                    json!({"item_id": id, "output_index": 0, "content_index": 0, "delta": text, "logprobs": []}),
                );
            }
            Some(Event::Done {
                finish_reason,
                usage,
                mut timings,
            }) => {
                self.gen.on_done(usage, &mut timings);
                self.close(finish_reason, usage);
            }
            Some(Event::Error(e)) => self.fail(e.into()),
            None => self.fail(ApiError::Internal(
                "the engine stopped without finishing the request".into(),
            )),
        }
    }
}

fn stream(gen: Generation, answer: Answer) -> Response {
    let mut s = ResponseStream {
        gen,
        answer,
        text: String::new(),
        seq: 0,
        pending: VecDeque::new(),
        finished: false,
    };
    s.open();
    let body = futures_util::stream::unfold(s, |mut s| async move {
        loop {
            if let Some(b) = s.pending.pop_front() {
                return Some((Ok::<_, Infallible>(b), s));
            }
            if s.finished {
                return None;
            }
            s.advance().await;
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| ApiError::Internal("building stream response".into()).into_response())
}
