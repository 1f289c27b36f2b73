//! Truthful connections: which requests went out on a reused keep-alive connection, and which
//! failures are the keep-alive race rather than the server failing.
//!
//! # The race
//! A server closes an idle keep-alive connection (llama-server's HTTP library after a few
//! seconds, many proxies after 60 s) at the moment the client picks that connection from its
//! pool and writes the next request on it. The server never handles that request: the close
//! was decided before the request arrived. The client sees the connection end with no byte of
//! a response, reported by hyper as "connection closed before message completed"
//! (`IncompleteMessage`), or as a reset when the server's kernel answers the late request with
//! an RST. Counting these as failed requests invents an error rate the server does not have.
//!
//! # What is retried, exactly
//! hyper-util's pool already re-sends, on its own, a request whose pooled connection was found
//! closed *before any byte of it was written* (its `retry_canceled_requests`, on by default in
//! reqwest). What reaches the harness is the case where the write had started when the close
//! arrived. [`HttpTarget`](crate::measure::target::HttpTarget) retries such a request once, on a new
//! connection, only when all of these hold:
//!
//! 1. the connection was **reused**: it came from the pool, it was not opened for this
//!    request (see [`Tracker`] for how this is known);
//! 2. the failure came while **sending**, before a response head: `send()` failed, so no
//!    status line was parsed, and hyper reports either `IncompleteMessage` (EOF while waiting
//!    for the head) or the socket's reset/broken pipe ([`closed_before_response`]);
//! 3. it is the request's first attempt.
//!
//! This is the case RFC 9112 §9.3.1 describes ("a connection closed before any response was
//! received" on a persistent connection). Everything else counts as a failure and is never
//! retried: a refused or timed-out connect, any failure on a connection opened for the
//! request (the server accepted it and was reading: it may have seen the request), an HTTP
//! error status, and any failure after response bytes arrived (a stream cut or reset
//! mid-answer). A retry that fails again counts as a failure. A record keeps both attempts
//! (`retried: true`, `attempts`), so nothing is hidden: a server that really closes
//! connections on requests shows up as retried requests whose retry failed.
//!
//! `--connections fresh` opens a connection per request (no pool): nothing is reused, so
//! nothing is retried.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::{Deserialize, Serialize};

/// How the HTTP client handles connections (`--connections`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connections {
    /// Keep-alive connections reused from a pool, as real clients do (the default).
    #[default]
    Pooled,
    /// A new connection for every request, closed after it.
    Fresh,
}

/// A `--connections` value other than `pooled` or `fresh`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--connections {value}: expected pooled or fresh")]
pub struct ConnectionsError {
    pub value: String,
}

impl Connections {
    pub fn parse(s: &str) -> Result<Self, ConnectionsError> {
        match s {
            "pooled" => Ok(Self::Pooled),
            "fresh" => Ok(Self::Fresh),
            other => Err(ConnectionsError {
                value: other.into(),
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pooled => "pooled",
            Self::Fresh => "fresh",
        }
    }
}

impl std::str::FromStr for Connections {
    type Err = ConnectionsError;
    fn from_str(s: &str) -> Result<Self, ConnectionsError> {
        Self::parse(s)
    }
}

tokio::task_local! {
    /// The attempt being sent by the current task (set around `RequestBuilder::send`).
    static ATTEMPT: Arc<AttemptConn>;
}

/// What the connector saw during one attempt.
#[derive(Debug, Default)]
pub struct AttemptConn {
    opened: AtomicBool,
}

impl AttemptConn {
    /// Whether the attempt went out on a connection opened for it.
    pub fn opened_new(&self) -> bool {
        self.opened.load(Ordering::Relaxed)
    }
}

/// Runs `fut` (a `send()`) with `attempt` as the current attempt, so that [`Tracker`] can
/// mark it when a connection is opened for it.
pub async fn track<F: Future>(attempt: Arc<AttemptConn>, fut: F) -> F::Output {
    ATTEMPT.scope(attempt, fut).await
}

/// A connector layer (`reqwest::ClientBuilder::connector_layer`) that tells whether a request
/// was sent on a connection opened for it.
///
/// hyper-util's pool races a checkout of an idle connection against a new connect (polled
/// inside the request's own future), and uses whichever is ready first; a connect that loses
/// goes on in a background task and its connection joins the pool. So a connect that
/// *completes inside the request's task* is the connection the request is sent on: the
/// wrapped future marks the task-local [`AttemptConn`] then. A request whose attempt was not
/// marked went out on a pooled connection, i.e. a reused one (or one opened by a connect
/// that lost another request's race and waited idle in the pool, which is exposed to the
/// same idle close).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tracker;

impl<S> tower::Layer<S> for Tracker {
    type Service = TrackerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TrackerService(inner)
    }
}

/// The service of [`Tracker`].
#[derive(Debug, Clone)]
pub struct TrackerService<S>(S);

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, R> tower::Service<R> for TrackerService<S>
where
    S: tower::Service<R>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let connect = self.0.call(req);
        Box::pin(async move {
            let out = connect.await;
            if out.is_ok() {
                // Absent in a background task (a connect that lost the race): not this
                // request's connection.
                let _ = ATTEMPT.try_with(|a| a.opened.store(true, Ordering::Relaxed));
            }
            out
        })
    }
}

/// Whether a failed `send()` is a connection that ended before any response head: hyper's
/// `IncompleteMessage` (EOF while waiting for the status line), a reset or a broken pipe
/// (the server's kernel refusing a request written to a socket its application had closed),
/// or hyper's `Canceled` (the connection closed before the request was dispatched). Connect
/// errors, timeouts and anything else are not.
pub fn closed_before_response(e: &reqwest::Error) -> bool {
    if e.is_connect() || e.is_timeout() || e.is_status() || e.is_body() || e.is_decode() {
        return false;
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_canceled() {
                return true;
            }
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(io.kind(), ConnectionReset | BrokenPipe | ConnectionAborted) {
                return true;
            }
        }
        src = s.source();
    }
    false
}

/// One attempt of a request that was sent twice (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub send_ms: f64,
    pub end_ms: f64,
    /// First response byte, if any arrived.
    pub first_byte_ms: Option<f64>,
    /// Whether the attempt went out on a reused pooled connection.
    pub reused_connection: bool,
    /// `None` when the attempt succeeded.
    pub error: Option<String>,
}
