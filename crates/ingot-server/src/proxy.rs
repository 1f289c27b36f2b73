//! Remote adapters: completion requests for a [`RemoteModel`] are forwarded to its upstream
//! OpenAI-compatible server.
//!
//! - The request body is forwarded as the client sent it (unknown fields included), with
//!   `model` replaced by the upstream's name for the model. The client's own API key is never
//!   forwarded; the adapter's key (if any) is sent instead.
//! - Streams (`text/event-stream`) are passed through chunk by chunk as the upstream sends
//!   them, with nothing buffered, so tokens reach the client as soon as the upstream emits
//!   them. A client that disconnects drops the upstream connection, which cancels the
//!   upstream's generation.
//! - Non-streaming answers are passed through unchanged (the upstream's `model`, `usage` and
//!   any extra fields included).
//! - Upstream errors become an [`ApiError::Upstream`]: an HTTP error keeps its status,
//!   `param` and `code`; an unreachable upstream is a 502. A stream cut by the upstream ends
//!   with an SSE error event and `[DONE]`, like a local mid-stream failure.

use std::convert::Infallible;
use std::error::Error as _;
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use http::header;
use ingot_api::ApiError;
use serde::Deserialize;

use crate::generate::Kind;
use crate::provider::RemoteModel;
use crate::AppState;

/// A connection the upstream does not accept within this time fails the request (502).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest silence tolerated from an upstream. Generous: a remote model may process a long
/// prompt on a slow machine before its first byte (ingot upstreams send keep-alive comments
/// every 10 s during streams, others may not).
const READ_TIMEOUT: Duration = Duration::from_secs(600);
/// Most of an upstream error body that is read (its message is all we need).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// One client for every remote adapter, so connections to an upstream are reused.
fn client() -> Result<&'static reqwest::Client, ApiError> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let built = reqwest::Client::builder()
        .user_agent(concat!("ingot/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build()
        .map_err(|e| {
            ApiError::Internal(format!(
                "cannot create the HTTP client for remote models: {e}"
            ))
        })?;
    Ok(CLIENT.get_or_init(|| built))
}

/// The request's `model`, read without validating anything else: a body the upstream accepts
/// may hold things ingot's own request types reject (content arrays, `n > 1`, tools).
#[derive(Deserialize)]
struct ModelField {
    model: String,
}

/// The model a request body names, when it names one that is a remote adapter.
pub fn remote_for(st: &AppState, body: &[u8]) -> Option<RemoteModel> {
    let model = serde_json::from_slice::<ModelField>(body).ok()?.model;
    st.manager.provider().remote(&model)
}

/// `reqwest`'s `Display` is terse ("error sending request"); the cause chain says why.
fn describe(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

fn unreachable(remote: &RemoteModel, what: &str) -> ApiError {
    ApiError::Upstream {
        status: 502,
        message: format!(
            "remote model `{}`: the upstream {} {what}",
            remote.id, remote.base_url
        ),
        param: None,
        code: None,
    }
}

/// The OpenAI error shape, and the `{"error": "text"}` some servers (Ollama) send.
#[derive(Deserialize)]
struct UpstreamErrorBody {
    error: UpstreamError,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum UpstreamError {
    Object {
        message: Option<String>,
        param: Option<String>,
        code: Option<serde_json::Value>,
    },
    Text(String),
}

/// Maps an upstream error response to the one API error type.
async fn upstream_error(remote: &RemoteModel, mut resp: reqwest::Response) -> ApiError {
    let status = resp.status();
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_ERROR_BODY {
            body.truncate(MAX_ERROR_BODY);
            break;
        }
    }
    let (message, param, code) = match serde_json::from_slice::<UpstreamErrorBody>(&body) {
        Ok(UpstreamErrorBody {
            error:
                UpstreamError::Object {
                    message,
                    param,
                    code,
                },
        }) => (
            message.unwrap_or_default(),
            param,
            // Some servers send numeric codes.
            code.and_then(|c| match c {
                serde_json::Value::String(s) => Some(s),
                serde_json::Value::Null => None,
                other => Some(other.to_string()),
            }),
        ),
        Ok(UpstreamErrorBody {
            error: UpstreamError::Text(t),
        }) => (t, None, None),
        Err(_) => (
            String::from_utf8_lossy(&body).trim().to_string(),
            None,
            None,
        ),
    };
    let message = if message.is_empty() {
        format!("HTTP {status}")
    } else {
        message
    };
    ApiError::Upstream {
        status: status.as_u16(),
        message: format!(
            "remote model `{}` (upstream {}): {message}",
            remote.id, remote.base_url
        ),
        param,
        code,
    }
}

/// Forwards a completion request for `remote` and relays the answer.
pub async fn forward(
    st: &AppState,
    remote: RemoteModel,
    kind: Kind,
    body: &[u8],
) -> Result<Response, ApiError> {
    let mut json: serde_json::Map<String, serde_json::Value> = ingot_api::parse_json(body)?;
    json.insert("model".into(), remote.model.clone().into());
    let streaming = json.get("stream").and_then(|s| s.as_bool()) == Some(true);
    let path = match kind {
        Kind::Chat => "chat/completions",
        Kind::Completion => "completions",
    };
    let url = format!("{}/{path}", remote.base_url.trim_end_matches('/'));
    let mut req = client()?.post(&url).json(&json);
    if let Some(key) = &remote.api_key {
        req = req.bearer_auth(key);
    }
    let active = st.metrics.active_guard();
    tracing::debug!(model = %remote.id, %url, streaming, "forwarding to a remote model");
    let resp = req
        .send()
        .await
        .map_err(|e| unreachable(&remote, &format!("cannot be reached: {}", describe(&e))))?;
    if !resp.status().is_success() {
        return Err(upstream_error(&remote, resp).await);
    }
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| header::HeaderValue::from_static("application/json"));
    let is_sse = content_type
        .to_str()
        .is_ok_and(|c| c.starts_with("text/event-stream"));
    if !is_sse {
        // A JSON answer is read whole, so that a cut connection is a clean 502 rather than
        // half a JSON document.
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| unreachable(&remote, &format!("failed mid-answer: {}", describe(&e))))?;
        drop(active);
        return Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response());
    }

    // Relay each chunk as it arrives. The state keeps the active-request guard alive for
    // the stream's lifetime; dropping the body (client gone) drops the upstream response.
    let id = remote.id.clone();
    let base = remote.base_url.clone();
    let upstream = Box::pin(resp.bytes_stream());
    let body = futures_util::stream::unfold(Some((upstream, active)), move |state| {
        let id = id.clone();
        let base = base.clone();
        async move {
            let (mut upstream, active) = state?;
            match upstream.next().await {
                Some(Ok(chunk)) => Some((Ok::<_, Infallible>(chunk), Some((upstream, active)))),
                None => None,
                Some(Err(e)) => {
                    let err = ApiError::Upstream {
                        status: 502,
                        message: format!(
                            "remote model `{id}`: the upstream {base} failed mid-stream: {}",
                            describe(&e)
                        ),
                        param: None,
                        code: None,
                    };
                    tracing::warn!(error = %err, "remote stream failed");
                    // The blank line first ends whatever event the upstream left half sent.
                    let tail = format!("\n\ndata: {}\n\ndata: [DONE]\n\n", err.body_json());
                    Some((Ok(Bytes::from(tail)), None))
                }
            }
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-cache")
        .header("x-accel-buffering", "no")
        .body(Body::from_stream(body))
        .map_err(|e| ApiError::Internal(format!("building the proxied stream: {e}")))
}
