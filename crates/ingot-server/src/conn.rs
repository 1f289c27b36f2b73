//! Connections: the accept loop, the connection cap, idle and write timeouts, and the
//! graceful end of connections at shutdown.
//!
//! - At most `max_connections` are open. At the cap a new connection closes the one that
//!   has been idle longest (no request in flight: keep-alive connections, clients that
//!   connected and went silent, HTTP/2 prefaces with nothing after them), or is closed
//!   itself when every connection has a request running. So silent sockets cannot lock
//!   clients out, and running requests are never cut to make room.
//! - A connection idle for `idle_timeout` is closed (HTTP/2 with a GOAWAY); HTTP/2 peers are
//!   pinged and dropped when they stop answering; HTTP/1 headers must arrive within
//!   `header_read_timeout` (and the first bytes of any connection too, see [`first_bytes`]).
//! - Writes that make no progress for `write_timeout` (a client that stopped reading its
//!   stream) end the connection, which drops the response and cancels its engine sequence.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::config::ServerConfig;
use crate::metrics::Metrics;

/// One open connection, as the cap sees it.
struct Conn {
    /// Requests whose response is not fully sent yet.
    active: AtomicUsize,
    /// When the last request ended (or the connection opened), in ms since the table's epoch.
    idle_since_ms: AtomicU64,
    /// Told to close at once: the cap needs its place.
    evict: Notify,
}

/// The open connections.
struct Table {
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    epoch: Instant,
    metrics: Arc<Metrics>,
}

impl Table {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Makes room for one more connection: `None` when it may not open (all busy).
    fn admit(self: &Arc<Self>, id: u64, max: usize) -> Option<Slot> {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        if conns.len() >= max {
            let victim = conns
                .iter()
                .filter(|(_, c)| c.active.load(Ordering::SeqCst) == 0)
                .min_by_key(|(_, c)| c.idle_since_ms.load(Ordering::SeqCst))
                .map(|(id, _)| *id);
            self.metrics
                .connections_shed
                .fetch_add(1, Ordering::Relaxed);
            match victim.and_then(|v| conns.remove(&v)) {
                Some(c) => {
                    c.evict.notify_one();
                    self.metrics
                        .connections_open
                        .fetch_sub(1, Ordering::Relaxed);
                }
                None => return None,
            }
        }
        let conn = Arc::new(Conn {
            active: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(self.now_ms()),
            evict: Notify::new(),
        });
        conns.insert(id, conn.clone());
        self.metrics
            .connections_open
            .fetch_add(1, Ordering::Relaxed);
        Some(Slot {
            table: self.clone(),
            id,
            conn,
        })
    }

    /// Closes the longest-idle connection (for a full file-descriptor table).
    fn shed_one(&self) -> bool {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        let victim = conns
            .iter()
            .filter(|(_, c)| c.active.load(Ordering::SeqCst) == 0)
            .min_by_key(|(_, c)| c.idle_since_ms.load(Ordering::SeqCst))
            .map(|(id, _)| *id);
        match victim.and_then(|v| conns.remove(&v)) {
            Some(c) => {
                c.evict.notify_one();
                self.metrics
                    .connections_open
                    .fetch_sub(1, Ordering::Relaxed);
                self.metrics
                    .connections_shed
                    .fetch_add(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }
}

/// A connection's place in the table, given back when its task ends (however it ends).
struct Slot {
    table: Arc<Table>,
    id: u64,
    conn: Arc<Conn>,
}

impl Slot {
    /// How long the connection has had no request in flight (zero while one runs).
    fn idle_for(&self) -> Duration {
        if self.conn.active.load(Ordering::SeqCst) > 0 {
            return Duration::ZERO;
        }
        let since = self.conn.idle_since_ms.load(Ordering::SeqCst);
        Duration::from_millis(self.table.now_ms().saturating_sub(since))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut conns = self.table.conns.lock().unwrap_or_else(|p| p.into_inner());
        // An evicted connection was removed (and uncounted) already.
        if conns.remove(&self.id).is_some() {
            self.table
                .metrics
                .connections_open
                .fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Marks a request in flight on its connection until its response body is dropped.
struct InFlight {
    conn: Arc<Conn>,
    table: Arc<Table>,
}

impl InFlight {
    fn new(conn: Arc<Conn>, table: Arc<Table>) -> Self {
        conn.active.fetch_add(1, Ordering::SeqCst);
        Self { conn, table }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.conn
            .idle_since_ms
            .store(self.table.now_ms(), Ordering::SeqCst);
        self.conn.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that keeps its request counted as in flight until hyper is done with it.
struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A socket whose writes fail with `TimedOut` once one has made no progress for `limit`:
/// a client that stops reading fills its receive window, and without this its connection,
/// response and engine sequence would wait for it forever.
struct WriteTimeout<T> {
    inner: T,
    limit: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> WriteTimeout<T> {
    fn new(inner: T, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            stalled: None,
        }
    }

    /// Called when a write is pending: starts the clock, or fails once it has run out.
    fn check_stall(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if timer.as_mut().poll(cx).is_ready() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client read nothing for {} s", limit.as_secs_f64()),
            ));
        }
        Ok(())
    }

    fn track<R>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        match poll {
            Poll::Pending => match self.check_stall(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteTimeout<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let p = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.track(cx, p)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let p = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.track(cx, p)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let p = Pin::new(&mut this.inner).poll_flush(cx);
        this.track(cx, p)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let p = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.track(cx, p)
    }
}

/// How long an idle connection being closed gets to say goodbye: an HTTP/2 GOAWAY waits for
/// the peer to answer a PING, which a silent peer never does. Nothing runs on it, so
/// nothing is lost when it is cut.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The per-connection timeouts, copied into every connection task.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    header_read: Duration,
    idle: Duration,
    write: Duration,
    shutdown: Duration,
}

fn builder(config: &ServerConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(config.http2_keepalive_interval))
        .keep_alive_timeout(config.http2_keepalive_timeout);
    builder
}

/// Whether an accept error means the process is out of file descriptors.
fn out_of_fds(e: &io::Error) -> bool {
    // EMFILE (24) and ENFILE (23) on Linux and the BSDs.
    matches!(e.raw_os_error(), Some(23 | 24))
}

/// Accepts and serves connections until `shutdown`, then ends them within the grace
/// period: running requests get most of it (`drain` is set near its end, see
/// [`crate::grace_phases`]), whatever is left is cut.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    app: Router,
    config: &ServerConfig,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
    drain: watch::Sender<bool>,
) {
    let builder = Arc::new(builder(config));
    let table = Arc::new(Table {
        conns: Mutex::new(HashMap::new()),
        epoch: Instant::now(),
        metrics,
    });
    let max = config.max_connections.max(1);
    let timeouts = Timeouts {
        header_read: config.header_read_timeout,
        idle: config.idle_timeout,
        write: config.write_timeout,
        shutdown: config.shutdown_timeout,
    };
    // Connections live in a JoinSet so the ones still running after the shutdown timeout
    // can be cut (dropping their streams cancels their engine sequences).
    let mut conns = tokio::task::JoinSet::new();
    let mut next_id = 0u64;
    let mut last_refusal_log: Option<Instant> = None;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        // Out of descriptors: close an idle connection so that this one
                        // (still in the backlog) gets in; otherwise back off, not spin.
                        if !(out_of_fds(&e) && table.shed_one()) {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        continue;
                    }
                };
                next_id += 1;
                let Some(slot) = table.admit(next_id, max) else {
                    if last_refusal_log.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                        tracing::warn!(max_connections = max, "connection refused: every connection has a request running (--max-connections)");
                        last_refusal_log = Some(Instant::now());
                    }
                    drop(stream);
                    continue;
                };
                conns.spawn(serve_connection(
                    stream,
                    slot,
                    app.clone(),
                    builder.clone(),
                    timeouts,
                    shutdown.clone(),
                ));
            }
            // Reap finished connections so the set does not grow without bound.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
        }
    }
    drop(listener);
    tracing::info!("shutting down: waiting for in-flight requests");
    let (finish, cut) = crate::grace_phases(config.shutdown_timeout);
    async fn all_done(conns: &mut tokio::task::JoinSet<()>) {
        while conns.join_next().await.is_some() {}
    }
    if tokio::time::timeout(finish, all_done(&mut conns))
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish in time; ending them");
        let _ = drain.send(true);
        if tokio::time::timeout(cut, all_done(&mut conns))
            .await
            .is_err()
        {
            tracing::warn!("connections still open at the end of the grace period; closing them");
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

/// Serves one connection until it ends, is idle too long, is evicted, or the server shuts
/// down (then it finishes its running requests: HTTP/1 closes after the current response,
/// HTTP/2 sends a GOAWAY).
async fn serve_connection(
    stream: TcpStream,
    slot: Slot,
    app: Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    config: Timeouts,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    tokio::select! {
        ok = first_bytes(&stream, config.header_read) => if !ok { return },
        _ = slot.conn.evict.notified() => return,
        _ = shutdown.wait_for(|s| *s) => return,
    }
    let (conn_state, table) = (slot.conn.clone(), slot.table.clone());
    let svc = tower::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let in_flight = InFlight::new(conn_state.clone(), table.clone());
        let app = app.clone();
        async move {
            let resp = app.oneshot(req.map(Body::new)).await?;
            Ok::<_, Infallible>(resp.map(|inner| TrackedBody {
                inner,
                _in_flight: in_flight,
            }))
        }
    });
    let io = TokioIo::new(WriteTimeout::new(stream, config.write));
    let conn = builder
        .serve_connection_with_upgrades(io, TowerToHyperService::new(svc))
        .into_owned();
    tokio::pin!(conn);
    // Once closing, the connection gets this long to finish what it runs before it is cut
    // (the server's own shutdown has its own grace period, enforced by the accept loop).
    let mut close_by: Option<Instant> = None;
    loop {
        let idle_check = Instant::now() + config.idle.saturating_sub(slot.idle_for());
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = slot.conn.evict.notified() => {
                tracing::debug!("closing an idle connection: the connection cap needs its place");
                return;
            }
            _ = shutdown.wait_for(|s| *s), if close_by.is_none() => {
                conn.as_mut().graceful_shutdown();
                close_by = Some(Instant::now() + config.shutdown);
            }
            _ = tokio::time::sleep_until(idle_check), if close_by.is_none() => {
                if slot.idle_for() >= config.idle {
                    conn.as_mut().graceful_shutdown();
                    close_by = Some(Instant::now() + IDLE_CLOSE_GRACE);
                }
            }
            _ = tokio::time::sleep_until(close_by.unwrap_or_else(Instant::now)), if close_by.is_some() => {
                return;
            }
        }
    }
}

/// Waits until a new connection has sent enough to tell HTTP/1 from HTTP/2, at most
/// `limit`. hyper's header timeout only starts once the version is known, so without this
/// a client that connects and sends nothing (or a few bytes of the HTTP/2 preface) would
/// hold its connection forever. Returns false when the connection should be dropped.
async fn first_bytes(stream: &TcpStream, limit: Duration) -> bool {
    const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 24];
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) | Err(_) => return false,
        };
        if n == 0 {
            return false; // closed before sending anything
        }
        if n >= H2_PREFACE.len() || buf[..n] != H2_PREFACE[..n] {
            return true;
        }
        // A prefix of the HTTP/2 preface: peek would return the same bytes at once, so
        // poll for more at a gentle pace (this only happens with HTTP/2 clients, or
        // slowloris ones).
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
