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
//! - The server's own limits hold for forwarded requests too: `max_tokens_cap` (a larger
//!   `max_tokens` is a 400, a missing one is set to the cap), and at most `parallel +
//!   max_queue` requests in flight per remote model (503 with `Retry-After` beyond).
//! - Upstream answers are bounded: a JSON answer over [`MAX_UPSTREAM_JSON`] or a stream over
//!   [`MAX_UPSTREAM_STREAM`] is cut with a 502 (an error event for streams).
//! - An upstream that is this server itself (its URL resolves to the bound address and
//!   port) is refused with a 508 `upstream_loop` instead of forwarding to itself forever.
//! - URLs are shown with their credentials redacted (`ingot_fetch::redact_url`), in errors
//!   and logs alike.

use std::collections::HashMap;
use std::convert::Infallible;
use std::error::Error as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use http::header;
use ingot_api::ApiError;
use ingot_fetch::redact_url;
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
/// Largest non-streaming upstream answer relayed (it is read whole before it is sent on):
/// a completion is kilobytes; anything this large is broken or hostile.
pub const MAX_UPSTREAM_JSON: usize = 16 * 1024 * 1024;
/// Largest upstream stream relayed (passed through, never buffered): about half a million
/// tokens of SSE, far beyond any context.
pub const MAX_UPSTREAM_STREAM: u64 = 256 * 1024 * 1024;

/// Requests forwarded and not finished, per remote model, against `parallel + max_queue`.
#[derive(Default)]
pub(crate) struct InFlight(Arc<Mutex<HashMap<String, usize>>>);

/// One forwarded request's place in [`InFlight`], released when its answer is done.
struct InFlightGuard {
    map: Arc<Mutex<HashMap<String, usize>>>,
    id: String,
}

impl InFlight {
    fn enter(&self, id: &str, limit: usize) -> Result<InFlightGuard, usize> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(id.to_string()).or_insert(0);
        if *n >= limit {
            return Err(*n);
        }
        *n += 1;
        Ok(InFlightGuard {
            map: self.0.clone(),
            id: id.to_string(),
        })
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.id);
            }
        }
    }
}

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

/// `reqwest`'s `Display` is terse ("error sending request"); the cause chain says why. The
/// URL is left out: it may hold credentials (query keys), and callers name the upstream
/// with [`redact_url`] anyway.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
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
            remote.id,
            redact_url(&remote.base_url)
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
            remote.id,
            redact_url(&remote.base_url)
        ),
        param,
        code,
    }
}

/// Whether `url`'s host and port are this server's own address.
async fn points_at_self(url: &reqwest::Url, local: SocketAddr) -> bool {
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    if port != local.port() {
        return false;
    }
    let canon = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    let is_self = |a: SocketAddr| {
        let ip = canon(a.ip());
        ip == canon(local.ip())
            || (local.ip().is_unspecified() && (ip.is_loopback() || ip.is_unspecified()))
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return is_self(SocketAddr::new(ip, port));
    }
    // A name: resolve it as the client will (an unresolvable one fails the request later,
    // with reqwest's own message).
    match tokio::net::lookup_host((host, port)).await {
        Ok(mut addrs) => addrs.any(is_self),
        Err(_) => false,
    }
}

/// `--max-tokens-cap` on a forwarded body: OpenAI's `max_tokens` and the newer
/// `max_completion_tokens` alike. Values that are not counts are left to the upstream.
fn cap_max_tokens(
    json: &mut serde_json::Map<String, serde_json::Value>,
    cap: Option<u32>,
) -> Result<(), ApiError> {
    if cap.is_none() {
        return Ok(());
    }
    let mut any = false;
    for key in ["max_tokens", "max_completion_tokens"] {
        let Some(v) = json.get(key) else { continue };
        any = true;
        if let Some(n) = v.as_u64() {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            crate::generate::apply_max_tokens_cap(Some(n), cap).map_err(|e| match e {
                ApiError::InvalidRequest { message, code, .. } => ApiError::InvalidRequest {
                    message: message.replace("max_tokens", key),
                    param: Some(key.into()),
                    code,
                },
                other => other,
            })?;
        }
    }
    if !any {
        if let Some(cap) = cap {
            json.insert("max_tokens".into(), cap.into());
        }
    }
    Ok(())
}

/// Reads a non-streaming answer whole, up to [`MAX_UPSTREAM_JSON`].
async fn read_bounded(
    remote: &RemoteModel,
    mut resp: reqwest::Response,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        unreachable(
            remote,
            &format!("sent an answer larger than {MAX_UPSTREAM_JSON} bytes; it was cut"),
        )
    };
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_UPSTREAM_JSON as u64)
    {
        return Err(too_large());
    }
    let mut body = bytes::BytesMut::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_UPSTREAM_JSON {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body.freeze()),
            Err(e) => {
                return Err(unreachable(
                    remote,
                    &format!("failed mid-answer: {}", describe(e)),
                ));
            }
        }
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
    cap_max_tokens(&mut json, st.config.max_tokens_cap)?;
    let streaming = json.get("stream").and_then(|s| s.as_bool()) == Some(true);
    let path = match kind {
        Kind::Chat => "chat/completions",
        Kind::Completion => "completions",
    };
    // The path goes after the base's path, before any query it has.
    let mut parsed = reqwest::Url::parse(&remote.base_url).map_err(|e| {
        ApiError::Internal(format!(
            "remote model `{}`: invalid upstream URL {}: {e}",
            remote.id,
            redact_url(&remote.base_url)
        ))
    })?;
    let full_path = format!("{}/{path}", parsed.path().trim_end_matches('/'));
    parsed.set_path(&full_path);
    let shown = redact_url(parsed.as_str());
    if points_at_self(&parsed, st.local_addr).await {
        return Err(ApiError::Upstream {
            status: 508,
            message: format!(
                "remote model `{}` points at this server itself ({shown}): forwarding would loop. Point the adapter at another server",
                remote.id
            ),
            param: Some("model".into()),
            code: Some("upstream_loop".into()),
        });
    }
    let limit = st.config.parallel + st.config.max_queue;
    let slot = st.forwarding.enter(&remote.id, limit).map_err(|n| ApiError::Overloaded {
        message: format!(
            "remote model `{}` has {n} requests in flight, the most this server forwards at once (--parallel {} + --max-queue {}); retry shortly",
            remote.id, st.config.parallel, st.config.max_queue
        ),
        retry_after_secs: 1,
    })?;
    let mut req = client()?.post(parsed).json(&json);
    if let Some(key) = &remote.api_key {
        req = req.bearer_auth(key);
    }
    let active = st.metrics.active_guard();
    tracing::debug!(model = %remote.id, url = %shown, streaming, "forwarding to a remote model");
    let resp = req
        .send()
        .await
        .map_err(|e| unreachable(&remote, &format!("cannot be reached: {}", describe(e))))?;
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
        let bytes = read_bounded(&remote, resp).await?;
        drop((active, slot));
        return Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response());
    }

    // Relay each chunk as it arrives. The state keeps the active-request guard and the
    // in-flight slot alive for the stream's lifetime; dropping the body (client gone)
    // drops the upstream response.
    let id = remote.id.clone();
    let base = remote.base_url.clone();
    let upstream = Box::pin(resp.bytes_stream());
    let body = futures_util::stream::unfold(Some((upstream, (active, slot), 0u64)), move |state| {
        let id = id.clone();
        let base = base.clone();
        async move {
            let (mut upstream, guards, relayed) = state?;
            let fail = |why: String| {
                let err = ApiError::Upstream {
                    status: 502,
                    message: format!(
                        "remote model `{id}`: the upstream {} {why}",
                        redact_url(&base)
                    ),
                    param: None,
                    code: None,
                };
                tracing::warn!(error = %err, "remote stream failed");
                // The blank line first ends whatever event the upstream left half sent.
                let tail = format!("\n\ndata: {}\n\ndata: [DONE]\n\n", err.body_json());
                Some((Ok::<_, Infallible>(Bytes::from(tail)), None))
            };
            match upstream.next().await {
                Some(Ok(chunk)) => {
                    let relayed = relayed + chunk.len() as u64;
                    if relayed > MAX_UPSTREAM_STREAM {
                        return fail(format!(
                            "streamed more than {MAX_UPSTREAM_STREAM} bytes; the stream was cut"
                        ));
                    }
                    Some((Ok(chunk), Some((upstream, guards, relayed))))
                }
                None => None,
                Some(Err(e)) => fail(format!("failed mid-stream: {}", describe(e))),
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
