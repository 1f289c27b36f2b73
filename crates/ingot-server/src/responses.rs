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
    function_call_item_json, message_item, response_json, usage_json, ResponseEcho,
    ResponsesRequest,
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
    let mut output = Vec::new();
    match gen.tools.as_ref().map(|t| t.parse(&f.text)) {
        Some(parsed) if !parsed.calls.is_empty() => {
            if let Some(text) = parsed.content {
                output.push(message_item(&answer.message_id, status, Some(&text)));
            }
            for c in parsed.calls {
                output.push(function_call_item_json(
                    &new_id("fc"),
                    "completed",
                    &c.id,
                    &c.name,
                    &c.arguments,
                ));
            }
        }
        _ => output.push(message_item(&answer.message_id, status, Some(&f.text))),
    }
    let v = answer.response(
        &gen.model,
        status,
        Some(f.reason),
        output,
        Some(usage_json(f.usage.prompt_tokens, f.usage.completion_tokens)),
    );
    Ok(Json(v).into_response())
}

/// One output item of a streamed response.
enum Item {
    Message {
        id: String,
        text: String,
    },
    Call {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
    },
}

/// The Responses stream: `response.created`, `response.in_progress`, then output items as the
/// answer produces them — a message item with its text part (`response.output_text.delta`
/// per token), and, when tools were offered, `function_call` items
/// (`response.function_call_arguments.delta` per fragment) — then each item closed with its
/// full content and `response.completed` (or `response.incomplete`). Each event is
/// `event: TYPE` plus `data: {"type": TYPE, "sequence_number": N, ...}`; there is no `[DONE]`
/// in this API.
struct ResponseStream {
    gen: Generation,
    answer: Answer,
    items: Vec<Item>,
    /// The message item that receives text, if one is open.
    open_message: Option<usize>,
    /// Call index in the answer → its item.
    call_items: Vec<usize>,
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
        // Without tools the answer is one message: open it at once, as OpenAI does.
        if self.gen.tools.is_none() {
            self.open_message();
        }
    }

    fn open_message(&mut self) -> usize {
        let index = self.items.len();
        // The first message keeps the id the answer was given; later ones get their own.
        let id = if self.items.iter().any(|i| matches!(i, Item::Message { .. })) {
            new_id("msg")
        } else {
            self.answer.message_id.clone()
        };
        let item = message_item(&id, "in_progress", None);
        self.event(
            "response.output_item.added",
            json!({ "output_index": index, "item": item }),
        );
        self.event(
            "response.content_part.added",
            json!({
                "item_id": id, "output_index": index, "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            }),
        );
        self.items.push(Item::Message {
            id,
            text: String::new(),
        });
        self.open_message = Some(index);
        index
    }

    fn text(&mut self, text: &str) {
        let index = match self.open_message {
            Some(i) => i,
            None => self.open_message(),
        };
        let Item::Message { id, text: all } = &mut self.items[index] else {
            return;
        };
        all.push_str(text);
        let id = id.clone();
        self.event(
            "response.output_text.delta",
            json!({"item_id": id, "output_index": index, "content_index": 0, "delta": text, "logprobs": []}),
        );
    }

    /// The tool parser's output, in the chat API's delta shape, as Responses events.
    fn deltas(&mut self, deltas: Vec<ingot_api::Delta>) {
        for d in deltas {
            if let Some(t) = d.content {
                self.text(&t);
            }
            for c in d.tool_calls.unwrap_or_default() {
                match c.id {
                    Some(call_id) => {
                        self.open_message = None;
                        let index = self.items.len();
                        let id = new_id("fc");
                        let name = c.function.name.unwrap_or_default();
                        let item = function_call_item_json(&id, "in_progress", &call_id, &name, "");
                        self.event(
                            "response.output_item.added",
                            json!({ "output_index": index, "item": item }),
                        );
                        self.items.push(Item::Call {
                            id,
                            call_id,
                            name,
                            arguments: String::new(),
                        });
                        self.call_items.push(index);
                        if !c.function.arguments.is_empty() {
                            self.arguments(c.index as usize, &c.function.arguments);
                        }
                    }
                    None => self.arguments(c.index as usize, &c.function.arguments),
                }
            }
        }
    }

    fn arguments(&mut self, call: usize, fragment: &str) {
        let Some(&index) = self.call_items.get(call) else {
            return;
        };
        let Item::Call { id, arguments, .. } = &mut self.items[index] else {
            return;
        };
        arguments.push_str(fragment);
        let id = id.clone();
        self.event(
            "response.function_call_arguments.delta",
            json!({"item_id": id, "output_index": index, "delta": fragment}),
        );
    }

    fn close(&mut self, reason: FinishReason, usage: ingot_core::Usage) {
        if self.items.is_empty() {
            self.open_message();
        }
        let status = status_of(reason);
        let mut output = Vec::with_capacity(self.items.len());
        for (index, item) in std::mem::take(&mut self.items).into_iter().enumerate() {
            let done = match item {
                Item::Message { id, text } => {
                    self.event(
                        "response.output_text.done",
                        json!({"item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": []}),
                    );
                    self.event(
                        "response.content_part.done",
                        json!({
                            "item_id": id, "output_index": index, "content_index": 0,
                            "part": {"type": "output_text", "text": text, "annotations": [], "logprobs": []},
                        }),
                    );
                    message_item(&id, status, Some(&text))
                }
                Item::Call {
                    id,
                    call_id,
                    name,
                    arguments,
                } => {
                    self.event(
                        "response.function_call_arguments.done",
                        json!({"item_id": id, "output_index": index, "arguments": arguments}),
                    );
                    function_call_item_json(&id, "completed", &call_id, &name, &arguments)
                }
            };
            self.event(
                "response.output_item.done",
                json!({ "output_index": index, "item": done.clone() }),
            );
            output.push(done);
        }
        let done = self.answer.response(
            &self.gen.model,
            status,
            Some(reason),
            output,
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
                match self.gen.tools.as_mut().map(|t| t.push(&text)) {
                    Some(deltas) => self.deltas(deltas),
                    None => self.text(&text),
                }
            }
            Some(Event::Done {
                finish_reason,
                usage,
                mut timings,
            }) => {
                self.gen.on_done(usage, &mut timings);
                if let Some(deltas) = self.gen.tools.as_mut().map(|t| t.finish()) {
                    self.deltas(deltas);
                }
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
        items: Vec::new(),
        open_message: None,
        call_items: Vec::new(),
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
