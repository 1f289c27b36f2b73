//! The middleware of every route besides auth, origin checks and status counting: reading
//! the whole request body within `body_read_timeout` and `body_limit`, ending running
//! requests when a shutdown's grace period runs out, and re-rendering errors in the shape
//! of the API their route belongs to.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use ingot_api::ApiError;
use tokio::sync::watch;

use crate::{origin, stall, AppState};

/// Re-renders an error response in the shape of the API its route belongs to
/// ([`ingot_api::ErrorShape::for_path`]): errors are raised as [`ApiError`]s in extractors,
/// middleware and handlers that do not know the route, and carry themselves in the response.
pub(crate) async fn shape_errors(req: Request, next: Next) -> Response {
    let shape = ingot_api::ErrorShape::for_path(req.uri().path());
    let mut resp = next.run(req).await;
    if shape != ingot_api::ErrorShape::OpenAi {
        if let Some(e) = resp.extensions_mut().remove::<ApiError>() {
            return e.response_as(shape);
        }
    }
    resp
}

/// A body over the limit is still read (and thrown away) up to this multiple of the limit
/// before the 413 goes out. Closing a connection whose request is still arriving makes the
/// kernel reset it, and most clients then report "connection reset" instead of the 413;
/// like nginx's lingering close, reading on lets them see the answer. Beyond it the 413
/// goes out at once (nobody should send that much).
const OVERSIZE_DRAIN_FACTOR: u64 = 4;

/// Reads the whole request body before the handler runs, within `body_read_timeout` and
/// `body_limit`: a trickled body gets a 408 instead of holding the connection, and an
/// oversized one a 413 (see [`OVERSIZE_DRAIN_FACTOR`]).
pub(crate) async fn read_body(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let limit = st.config.body_limit;
    let drain_cap = (limit as u64).saturating_mul(OVERSIZE_DRAIN_FACTOR);
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > drain_cap) {
        return ApiError::PayloadTooLarge { limit }.into_response();
    }
    let (parts, body) = req.into_parts();
    let mut data = body.into_data_stream();
    let mut buf = bytes::BytesMut::new();
    let mut seen: u64 = 0;
    let read = async {
        while let Some(chunk) = data.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::invalid(format!("cannot read request body: {e}")))?;
            seen += chunk.len() as u64;
            if seen > drain_cap {
                break;
            }
            if seen <= limit as u64 {
                buf.extend_from_slice(&chunk);
            }
        }
        Ok::<(), ApiError>(())
    };
    let outcome = tokio::time::timeout(st.config.body_read_timeout, read).await;
    let too_large = seen > limit as u64 || declared.is_some_and(|n| n > limit as u64);
    match outcome {
        // However it ended, a body already over the limit gets the 413.
        _ if too_large => ApiError::PayloadTooLarge { limit }.into_response(),
        Err(_) => ApiError::RequestTimeout(format!(
            "the request body did not arrive within {} s",
            st.config.body_read_timeout.as_secs_f64()
        ))
        .into_response(),
        Ok(Err(e)) => e.into_response(),
        Ok(Ok(())) => match origin::check_json_content_type(parts.uri.path(), &parts.headers, &buf)
        {
            Err(e) => e.into_response(),
            Ok(()) => {
                next.run(Request::from_parts(parts, Body::from(buf.freeze())))
                    .await
            }
        },
    }
}

/// Resolves once the server wants running requests to end (or is gone).
async fn drained(mut drain: watch::Receiver<bool>) {
    let _ = drain.wait_for(|d| *d).await;
}

/// Ends requests still running when the shutdown's grace period is nearly over: a
/// request still waiting for its response gets a 503, a stream an error event and
/// `[DONE]` (OpenAI clients then raise a clear error instead of a broken-connection one).
/// Dropping the inner response cancels its engine sequence. Streams are also cancelled when
/// their client stops reading for `write_timeout` ([`stall`]).
pub(crate) async fn drain_on_shutdown(
    State(st): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let resp = tokio::select! {
        resp = next.run(req) => resp,
        _ = drained(st.drain.clone()) => return ApiError::ShuttingDown.into_response(),
    };
    let content_type = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // How each kind of stream says "stopped": SSE with an error event and `[DONE]`, Ollama's
    // NDJSON with an `{"error": ...}` line.
    let tail = if content_type.starts_with("text/event-stream") {
        format!(
            "data: {}\n\ndata: [DONE]\n\n",
            ApiError::ShuttingDown.body_json()
        )
    } else if content_type.starts_with("application/x-ndjson") {
        format!(
            "{}\n",
            ApiError::ShuttingDown.body_json_as(ingot_api::ErrorShape::Ollama)
        )
    } else {
        return resp;
    };
    let (parts, body) = resp.into_parts();
    let body = cut_on_drain(body.into_data_stream(), st.drain.clone(), Bytes::from(tail));
    let body = stall::cancel_when_stalled(Box::pin(body), st.config.write_timeout);
    Response::from_parts(parts, Body::from_stream(body))
}

/// Passes a stream body through until the drain signal, then ends it with `tail`. Our SSE
/// and NDJSON bodies yield one whole event or line per item, so cutting between items never
/// splits one.
fn cut_on_drain<S>(
    inner: S,
    drain: watch::Receiver<bool>,
    tail: Bytes,
) -> impl Stream<Item = Result<Bytes, axum::Error>> + Send
where
    S: Stream<Item = Result<Bytes, axum::Error>> + Send + Unpin + 'static,
{
    futures_util::stream::unfold(Some((inner, drain, tail)), |state| async move {
        let (mut inner, drain, tail) = state?;
        tokio::select! {
            // Whatever the stream has ready goes out first: a stream that just finished
            // sends its own [DONE], not ours.
            biased;
            item = inner.next() => item.map(|item| (item, Some((inner, drain, tail)))),
            _ = drained(drain.clone()) => {
                drop(inner);
                Some((Ok(tail), None))
            }
        }
    })
}
