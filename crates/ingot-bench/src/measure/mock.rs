//! A mock OpenAI-compatible streaming server on loopback with scripted timing, for the
//! harness's self-check (`ingot bench calibrate`) and for tests.
//!
//! Each streamed request gets a role-only chunk at once, then `tokens` content chunks: the
//! first `ttft` after the request arrived, then one every `itl`, on an absolute schedule (no
//! drift). A finish chunk, a usage chunk (when `stream_options.include_usage` is set) and
//! `[DONE]` follow the last token.
//!
//! The server is deliberately minimal: HTTP/1.1 with keep-alive and chunked responses, one
//! blocking thread per connection (1 ns timer slack) that sleeps to each deadline (spinning
//! the last `spin` of it when set) and writes straight to the socket, so the mock adds no
//! scheduling hops of its own and its timing error is small. It also records when it actually emitted each
//! request's first and last token, which is the "true" value calibration compares against.
//! With zero delays the whole response is written at once (maximum throughput).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Scripted behaviour of the mock.
#[derive(Debug, Clone)]
pub struct MockServerConfig {
    pub ttft: Duration,
    pub itl: Duration,
    /// Content tokens per response.
    pub tokens: usize,
    /// Answer 400 to requests that carry `stream_options` (like some older servers).
    pub reject_stream_options: bool,
    /// Answer every request with this HTTP status and an error body.
    pub http_error: Option<u16>,
    /// Send an in-band error event after this many tokens (then `[DONE]`).
    pub error_after: Option<usize>,
    /// Close the stream after this many tokens, without `[DONE]`.
    pub cut_after: Option<usize>,
    /// How long before each deadline the writer stops sleeping and spins (precision against
    /// CPU: keep it 0 at high concurrency on few cores).
    pub spin: Duration,
    /// The keep-alive race, made deterministic: a request that arrives on a connection idle
    /// for longer than this is read and answered by closing the connection, with no response
    /// byte, as when a server's idle-connection close crosses the client's next request.
    pub idle_close: Option<Duration>,
    /// Reset the connection (RST) mid-stream, at the deadline of this token, on every
    /// request that is not the first of its connection (a reused connection, where a
    /// retry would be tempting and wrong: response bytes had arrived).
    pub reset_after: Option<usize>,
    /// Read every request and close the connection without answering.
    pub close_without_answer: bool,
}

impl Default for MockServerConfig {
    fn default() -> Self {
        Self {
            ttft: Duration::from_millis(50),
            itl: Duration::from_millis(10),
            tokens: 16,
            reject_stream_options: false,
            http_error: None,
            error_after: None,
            cut_after: None,
            spin: Duration::ZERO,
            idle_close: None,
            reset_after: None,
            close_without_answer: false,
        }
    }
}

/// What the mock actually did for one timed request (offsets from its arrival).
#[derive(Debug, Clone, Copy)]
pub struct Emitted {
    pub arrival: Instant,
    pub first_token_ms: f64,
    pub last_token_ms: f64,
    pub tokens: usize,
}

struct Shared {
    config: MockServerConfig,
    emitted: Mutex<Vec<Emitted>>,
    stop: AtomicBool,
    /// Requests answered with a complete response, and requests dropped by a close.
    answered: AtomicUsize,
    dropped: AtomicUsize,
    resets: AtomicUsize,
}

/// A running mock server; stops when dropped.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockServer {
    /// Starts the mock on 127.0.0.1 (a free port). `_workers` is kept for API stability: the
    /// server uses one thread per connection.
    pub fn start(config: MockServerConfig, _workers: usize) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            emitted: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            answered: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            resets: AtomicUsize::new(0),
        });
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("ingot-mock-accept".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if sh.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let sh = sh.clone();
                    let _ = std::thread::Builder::new()
                        .name("ingot-mock-conn".into())
                        .stack_size(256 * 1024)
                        .spawn(move || {
                            // SAFETY: PR_SET_TIMERSLACK takes a plain integer.
                            #[cfg(target_os = "linux")]
                            unsafe {
                                libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
                            }
                            let _ = serve_connection(conn, &sh);
                        });
                }
            })?;
        Ok(Self {
            addr,
            shared,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT` (without `/v1`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What the mock emitted for each timed request, in completion order.
    pub fn emitted(&self) -> Vec<Emitted> {
        self.shared.emitted.lock().unwrap().clone()
    }

    /// Requests answered with a complete response so far.
    pub fn answered(&self) -> usize {
        self.shared.answered.load(Ordering::Relaxed)
    }

    /// Requests read and then dropped by closing the connection (`idle_close`,
    /// `close_without_answer`).
    pub fn dropped(&self) -> usize {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Connections reset mid-stream (`reset_after`).
    pub fn resets(&self) -> usize {
        self.shared.resets.load(Ordering::Relaxed)
    }

    pub fn clear_emitted(&self) {
        self.shared.emitted.lock().unwrap().clear();
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn chunk(chat: bool, text: Option<&str>, role: bool, finish: Option<&str>) -> String {
    let v = if chat {
        let mut delta = serde_json::json!({});
        if role {
            delta["role"] = "assistant".into();
        }
        if let Some(t) = text {
            delta["content"] = t.into();
        }
        serde_json::json!({
            "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0, "model": "mock",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
        })
    } else {
        serde_json::json!({
            "id": "cmpl-mock", "object": "text_completion", "created": 0, "model": "mock",
            "choices": [{"index": 0, "text": text.unwrap_or(""), "finish_reason": finish}]
        })
    };
    format!("data: {v}\n\n")
}

fn usage_chunk(n: usize) -> String {
    let v = serde_json::json!({
        "id": "mock", "object": "chat.completion.chunk", "created": 0, "model": "mock",
        "choices": [],
        "usage": {"prompt_tokens": 8, "completion_tokens": n, "total_tokens": 8 + n}
    });
    format!("data: {v}\n\n")
}

/// Sleeps until `deadline` precisely: a sleep to `spin` before it, then a spin.
fn sleep_until_precise(deadline: Instant, spin: Duration) {
    let now = Instant::now();
    if deadline > now + spin {
        std::thread::sleep(deadline - now - spin);
    }
    while Instant::now() < deadline {
        std::hint::spin_loop();
    }
}

/// One HTTP/1.1 chunk.
fn http_chunk(out: &mut Vec<u8>, data: &str) {
    if data.is_empty() {
        return;
    }
    let _ = write!(out, "{:x}\r\n{data}\r\n", data.len());
}

fn simple_response(
    stream: &mut TcpStream,
    status: u16,
    reason: &str,
    body: &str,
) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Serves requests on one keep-alive connection until the client closes it.
fn serve_connection(stream: TcpStream, sh: &Shared) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    let mut idle_since: Option<Instant> = None;
    loop {
        // Request line and headers.
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if sh.stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let target = line.split_whitespace().nth(1).unwrap_or("");
        // The path without its query (`?key=...` from an endpoint URL).
        let path = target.split('?').next().unwrap_or("").to_string();
        let mut content_length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    content_length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; content_length];
        reader.read_exact(&mut body)?;
        let arrival = Instant::now();
        let expired = match (sh.config.idle_close, idle_since) {
            (Some(limit), Some(t)) => arrival.duration_since(t) > limit,
            _ => false,
        };
        if expired || sh.config.close_without_answer {
            // The request was read in full, so the close is a FIN (not a reset): the client
            // sees its connection end before any response byte.
            sh.dropped.fetch_add(1, Ordering::Relaxed);
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        respond(&mut stream, sh, &path, &body, arrival, idle_since.is_some())?;
        idle_since = Some(Instant::now());
    }
}

fn respond(
    stream: &mut TcpStream,
    sh: &Shared,
    path: &str,
    body: &[u8],
    arrival: Instant,
    reused: bool,
) -> std::io::Result<()> {
    let cfg = &sh.config;
    let chat = path.ends_with("/chat/completions");
    if !chat && !path.ends_with("/completions") {
        return simple_response(
            stream,
            404,
            "Not Found",
            r#"{"error":{"message":"not found"}}"#,
        );
    }
    let req: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    if let Some(code) = cfg.http_error {
        return simple_response(
            stream,
            code,
            "Error",
            r#"{"error":{"message":"scripted failure"}}"#,
        );
    }
    if cfg.reject_stream_options && req.get("stream_options").is_some() {
        return simple_response(
            stream,
            400,
            "Bad Request",
            r#"{"error":{"message":"unknown field stream_options"}}"#,
        );
    }
    if req.get("stream").and_then(|s| s.as_bool()) == Some(false) {
        return respond_whole(stream, sh, chat, &req, arrival);
    }
    let usage = req
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(|u| u.as_bool())
        .unwrap_or(false);
    let max = req
        .get("max_tokens")
        .and_then(|m| m.as_u64())
        .map(|m| m as usize)
        .unwrap_or(cfg.tokens);
    let n = cfg.tokens.min(max.max(1));

    let mut parts: Vec<String> = Vec::with_capacity(n + 2);
    let mut stop_normally = true;
    for k in 0..n {
        if cfg.cut_after == Some(k) {
            stop_normally = false;
            break;
        }
        if cfg.error_after == Some(k) {
            parts.push("data: {\"error\":{\"message\":\"scripted in-band error\",\"type\":\"server_error\"}}\n\ndata: [DONE]\n\n".into());
            stop_normally = false;
            break;
        }
        parts.push(chunk(chat, Some(&format!("tok{k} ")), false, None));
    }
    let tokens = parts.len();
    let mut tail = String::new();
    if stop_normally {
        tail.push_str(&chunk(chat, None, false, Some("length")));
        if usage {
            tail.push_str(&usage_chunk(n));
        }
        tail.push_str("data: [DONE]\n\n");
    }
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n");
    if chat {
        http_chunk(&mut out, &chunk(true, None, true, None));
    }
    let timed = !(cfg.ttft.is_zero() && cfg.itl.is_zero());
    if !timed {
        for p in &parts {
            http_chunk(&mut out, p);
        }
    } else {
        // Headers and the role chunk now; each token at its deadline.
        stream.write_all(&out)?;
        out.clear();
        let mut first = None;
        let mut last = None;
        for (k, p) in parts.iter().enumerate() {
            sleep_until_precise(arrival + cfg.ttft + cfg.itl * k as u32, cfg.spin);
            if reused && cfg.reset_after == Some(k) {
                sh.resets.fetch_add(1, Ordering::Relaxed);
                reset(stream);
                // Ends the connection: its last descriptor closes with the zero linger set.
                return Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "scripted reset",
                ));
            }
            let mut buf = Vec::with_capacity(p.len() + 16);
            http_chunk(&mut buf, p);
            stream.write_all(&buf)?;
            let now = Instant::now();
            first.get_or_insert(now);
            last = Some(now);
        }
        if let (Some(f), Some(l)) = (first, last) {
            sh.emitted.lock().unwrap().push(Emitted {
                arrival,
                first_token_ms: (f - arrival).as_secs_f64() * 1000.0,
                last_token_ms: (l - arrival).as_secs_f64() * 1000.0,
                tokens,
            });
        }
    }
    http_chunk(&mut out, &tail);
    // A cut stream still ends its HTTP body cleanly: only the SSE `[DONE]` is missing.
    out.extend_from_slice(b"0\r\n\r\n");
    stream.write_all(&out)?;
    stream.flush()?;
    if stop_normally {
        sh.answered.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Makes the connection's close an RST: SO_LINGER on with a zero timeout (the close itself
/// happens when the connection's descriptors are dropped).
fn reset(stream: &TcpStream) {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket descriptor and a correctly sized option value.
        unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                &linger as *const libc::linger as *const libc::c_void,
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(unix))]
    let _ = stream;
}

/// A non-streamed answer (`"stream": false`): one JSON body, sent when the last token would
/// have been, with usage.
fn respond_whole(
    stream: &mut TcpStream,
    sh: &Shared,
    chat: bool,
    req: &serde_json::Value,
    arrival: Instant,
) -> std::io::Result<()> {
    let cfg = &sh.config;
    let max = req
        .get("max_tokens")
        .and_then(|m| m.as_u64())
        .map(|m| m as usize)
        .unwrap_or(cfg.tokens);
    let n = cfg.tokens.min(max.max(1));
    let text: String = (0..n).map(|k| format!("tok{k} ")).collect();
    let done = arrival + cfg.ttft + cfg.itl * n.saturating_sub(1) as u32;
    sleep_until_precise(done, cfg.spin);
    let choice = if chat {
        serde_json::json!({"index": 0, "message": {"role": "assistant", "content": text},
                           "finish_reason": "length"})
    } else {
        serde_json::json!({"index": 0, "text": text, "finish_reason": "length"})
    };
    let body = serde_json::json!({
        "id": "mock", "object": if chat { "chat.completion" } else { "text_completion" },
        "created": 0, "model": "mock", "choices": [choice],
        "usage": {"prompt_tokens": 8, "completion_tokens": n, "total_tokens": 8 + n}
    })
    .to_string();
    simple_response(stream, 200, "OK", &body)?;
    sh.answered.fetch_add(1, Ordering::Relaxed);
    Ok(())
}
