//! Issue 8: the committed bad-input corpus, `tests/corpus/bad_input/`.
//!
//! `cases.json` lists every case with its exact expected outcome (status, OpenAI error
//! `type`, `code` and `param`, or "connection closed" for slow clients); the requests are
//! the files next to it (`*.body`: a request body sent to `path`; `*.http`: a whole raw
//! HTTP/1.1 request, `{KEY}` standing for the API key and `{REPEAT:c:n}` for `n` copies of
//! `c`), or generated from `body_gen` (the 20 MB and deeply nested bodies, too big to
//! commit). Everything goes over raw TCP, so the bytes are exactly the corpus's.
//!
//! The server runs with an API key, 1 s header and body timeouts and the scripted engine;
//! a panic hook (forcing backtraces, as `RUST_BACKTRACE=1` would) and a capture of the
//! server's log at INFO (stricter than `ingot serve`'s default WARN) check that nothing
//! panicked, and that no log line holds the API key or a prompt.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{start_with, test_config, Script};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const API_KEY: &str = "corpus-secret-key-7f3a9c";
const PROMPT_MARKER: &str = "CORPUS-PROMPT-MARKER";
const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
const BODY_TIMEOUT: Duration = Duration::from_secs(1);

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/bad_input")
}

#[derive(Deserialize)]
struct Corpus {
    cases: Vec<Case>,
}

#[derive(Deserialize, Clone, Debug)]
struct Case {
    name: String,
    #[serde(default)]
    body_file: Option<String>,
    #[serde(default)]
    body_gen: Option<BodyGen>,
    #[serde(default)]
    raw_file: Option<String>,
    #[serde(default)]
    slow: Option<String>,
    #[serde(default = "default_method")]
    method: String,
    #[serde(default = "default_path")]
    path: String,
    #[serde(default)]
    chunked: bool,
    /// The `Authorization` header: absent = the right key, `"none"` = no header.
    #[serde(default)]
    auth: Option<String>,
    expect: Expect,
}

fn default_method() -> String {
    "POST".into()
}

fn default_path() -> String {
    "/v1/chat/completions".into()
}

#[derive(Deserialize, Clone, Debug)]
struct BodyGen {
    #[serde(default)]
    prefix: String,
    repeat: String,
    count: usize,
    #[serde(default)]
    suffix: String,
}

impl BodyGen {
    fn build(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.prefix.len() + self.repeat.len() * self.count + 16);
        b.extend_from_slice(self.prefix.as_bytes());
        for _ in 0..self.count {
            b.extend_from_slice(self.repeat.as_bytes());
        }
        b.extend_from_slice(self.suffix.as_bytes());
        b
    }
}

/// Absent: not checked; `null`: must be null; a string: must be equal.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize, Clone, Debug)]
struct Expect {
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    closed: bool,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "present")]
    code: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    param: Option<Option<String>>,
}

#[derive(Debug)]
enum Outcome {
    Response {
        status: u16,
        headers: String,
        body: Vec<u8>,
    },
    /// The server closed the connection without answering.
    Closed { after: Duration },
}

/// Expands `{KEY}` and `{REPEAT:c:n}` in a raw request.
fn expand_raw(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i..].starts_with(b"{KEY}") {
            out.extend_from_slice(API_KEY.as_bytes());
            i += 5;
        } else if raw[i..].starts_with(b"{REPEAT:") {
            let end = i + raw[i..]
                .iter()
                .position(|b| *b == b'}')
                .expect("closing brace");
            let spec = std::str::from_utf8(&raw[i + 8..end]).unwrap();
            let (unit, count) = spec.rsplit_once(':').unwrap();
            for _ in 0..count.parse::<usize>().unwrap() {
                out.extend_from_slice(unit.as_bytes());
            }
            i = end + 1;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

fn request_bytes(case: &Case) -> (Vec<u8>, Vec<u8>) {
    if let Some(f) = &case.raw_file {
        let raw = std::fs::read(corpus_dir().join(f)).unwrap();
        return (expand_raw(&raw), Vec::new());
    }
    let body = match (&case.body_file, &case.body_gen) {
        (Some(f), _) => std::fs::read(corpus_dir().join(f)).unwrap(),
        (None, Some(g)) => g.build(),
        (None, None) => Vec::new(),
    };
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\n",
        case.method, case.path
    );
    match case.auth.as_deref() {
        None => head.push_str(&format!("Authorization: Bearer {API_KEY}\r\n")),
        Some("none") => {}
        Some(v) => head.push_str(&format!("Authorization: {v}\r\n")),
    }
    if case.method != "GET" {
        head.push_str("Content-Type: application/json\r\n");
        if case.chunked {
            head.push_str("Transfer-Encoding: chunked\r\n");
        } else {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    let body = if case.chunked {
        let mut c = Vec::with_capacity(body.len() + 1024);
        for part in body.chunks(64 * 1024) {
            c.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            c.extend_from_slice(part);
            c.extend_from_slice(b"\r\n");
        }
        c.extend_from_slice(b"0\r\n\r\n");
        c
    } else {
        body
    };
    (head.into_bytes(), body)
}

fn parse_response(bytes: &[u8], after: Duration) -> Outcome {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Outcome::Closed { after };
    };
    let head = String::from_utf8_lossy(&bytes[..end]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut body = bytes[end + 4..].to_vec();
    let lower = head.to_ascii_lowercase();
    if lower.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    } else if let Some(len) = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        // Whatever follows is the answer to the next "request" on the connection (the
        // rest of a body longer than its Content-Length).
        body.truncate(len);
    }
    Outcome::Response {
        status,
        headers: head,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 || b.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
    out
}

/// Reads until the server closes (or `limit`), tolerating a reset after the response.
async fn read_all(r: &mut tokio::net::tcp::OwnedReadHalf, limit: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let _ = tokio::time::timeout(limit, async {
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    got
}

async fn exchange(
    addr: std::net::SocketAddr,
    case: &Case,
    head: Vec<u8>,
    body: Vec<u8>,
) -> Outcome {
    let t0 = Instant::now();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut r, mut w) = stream.into_split();
    match case.slow.as_deref() {
        None => {
            // Written on the side: the server may answer (413) before reading it all.
            let writer = tokio::spawn(async move {
                let _ = w.write_all(&head).await;
                let _ = w.write_all(&body).await;
                w
            });
            let got = read_all(&mut r, Duration::from_secs(30)).await;
            writer.abort();
            if std::env::var_os("INGOT_CORPUS_DEBUG").is_some() {
                eprintln!(
                    "{}: {:?} after {:?}",
                    case.name,
                    String::from_utf8_lossy(&got),
                    t0.elapsed()
                );
            }
            parse_response(&got, t0.elapsed())
        }
        Some("headers") => {
            let writer = tokio::spawn(async move {
                let _ = w
                    .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                    .await;
                for _ in 0..100 {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    if w.write_all(b"a").await.is_err() {
                        break;
                    }
                }
            });
            let got = read_all(&mut r, Duration::from_secs(30)).await;
            writer.abort();
            parse_response(&got, t0.elapsed())
        }
        Some("silent") => {
            let got = read_all(&mut r, Duration::from_secs(30)).await;
            drop(w);
            parse_response(&got, t0.elapsed())
        }
        Some("h2_prefix") => {
            w.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
            let got = read_all(&mut r, Duration::from_secs(30)).await;
            drop(w);
            parse_response(&got, t0.elapsed())
        }
        Some("body") => {
            let head = format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{\"model\":"
            );
            w.write_all(head.as_bytes()).await.unwrap();
            let got = read_all(&mut r, Duration::from_secs(30)).await;
            drop(w);
            parse_response(&got, t0.elapsed())
        }
        Some(other) => panic!("unknown slow kind {other}"),
    }
}

/// Compares an outcome to the expectation; returns what differs.
fn check(case: &Case, outcome: &Outcome) -> Result<(), String> {
    let e = &case.expect;
    match outcome {
        Outcome::Closed { after } => {
            if !e.closed {
                return Err(format!("closed without a response after {after:?}"));
            }
            // Closed by the timeout, not at once, and not much later.
            if *after < HEADER_TIMEOUT.mul_f64(0.8)
                || *after > HEADER_TIMEOUT + Duration::from_secs(5)
            {
                return Err(format!(
                    "closed after {after:?}, expected about {HEADER_TIMEOUT:?}"
                ));
            }
            Ok(())
        }
        Outcome::Response {
            status,
            headers,
            body,
        } => {
            if e.closed {
                return Err(format!("expected the connection closed, got HTTP {status}"));
            }
            if Some(*status) != e.status {
                return Err(format!(
                    "status {status}, expected {:?}; body: {}",
                    e.status,
                    String::from_utf8_lossy(&body[..body.len().min(400)])
                ));
            }
            let Some(kind) = &e.kind else {
                return Ok(());
            };
            if !headers
                .to_ascii_lowercase()
                .contains("content-type: application/json")
            {
                return Err(format!("error without a JSON content type:\n{headers}"));
            }
            let v: Value = serde_json::from_slice(body)
                .map_err(|err| format!("error body is not JSON ({err})"))?;
            let err = &v["error"];
            if err["type"] != kind.as_str() {
                return Err(format!("type {}, expected {kind}: {v}", err["type"]));
            }
            if err["message"].as_str().is_none_or(str::is_empty) {
                return Err(format!("no message: {v}"));
            }
            for (field, want) in [("code", &e.code), ("param", &e.param)] {
                if let Some(want) = want {
                    let got = err[field].as_str().map(str::to_string);
                    if &got != want {
                        return Err(format!("{field} {got:?}, expected {want:?}: {v}"));
                    }
                }
            }
            Ok(())
        }
    }
}

/// Everything the server logs, at INFO, for the whole test binary.
fn log_capture() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer_buf = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || LogWriter(writer_buf.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        buf
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Counts panics anywhere in the process, with a forced backtrace each.
fn panic_log() -> Arc<Mutex<Vec<String>>> {
    static PANICS: OnceLock<Arc<Mutex<Vec<String>>>> = OnceLock::new();
    PANICS
        .get_or_init(|| {
            let panics = Arc::new(Mutex::new(Vec::new()));
            let p = panics.clone();
            let default = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let bt = std::backtrace::Backtrace::force_capture();
                p.lock().unwrap().push(format!("{info}\n{bt}"));
                default(info);
            }));
            panics
        })
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue8_bad_input_corpus_exact_statuses_no_panic_no_secrets_in_logs() {
    let panics = panic_log();
    let log = log_capture();
    let corpus: Corpus =
        serde_json::from_slice(&std::fs::read(corpus_dir().join("cases.json")).unwrap()).unwrap();
    assert!(corpus.cases.len() >= 50, "{} cases", corpus.cases.len());
    let mut names = std::collections::HashSet::new();
    for c in &corpus.cases {
        assert!(names.insert(c.name.clone()), "duplicate case {}", c.name);
        for f in c.body_file.iter().chain(c.raw_file.iter()) {
            assert!(corpus_dir().join(f).is_file(), "{}: missing {f}", c.name);
        }
    }

    let config = ingot_server::ServerConfig {
        api_key: Some(API_KEY.into()),
        header_read_timeout: HEADER_TIMEOUT,
        body_read_timeout: BODY_TIMEOUT,
        ..test_config()
    };
    let s = start_with(config, Script::default()).await;
    let addr = s.handle.local_addr();

    // A few at a time: the slow cases wait for timeouts, the big ones move 20 MB.
    let sem = Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = tokio::task::JoinSet::new();
    // `INGOT_CORPUS_ONLY=name,name` runs only those cases (when debugging one).
    let only: Option<Vec<String>> = std::env::var("INGOT_CORPUS_ONLY")
        .ok()
        .map(|v| v.split(',').map(str::to_string).collect());
    for case in corpus.cases.clone() {
        if only.as_ref().is_some_and(|o| !o.contains(&case.name)) {
            continue;
        }
        let sem = sem.clone();
        // Built up front, off the runtime: generating a 20 MB body in a debug build takes a
        // second or two, and doing it on a worker thread (or between connecting and sending)
        // would starve the server in this same runtime, or leave a connection silent long
        // enough for its (1 s) first-bytes timeout.
        let (case, head, body) = tokio::task::spawn_blocking(move || {
            let (head, body) = request_bytes(&case);
            (case, head, body)
        })
        .await
        .unwrap();
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await.unwrap();
            let outcome = exchange(addr, &case, head, body).await;
            (case.name.clone(), check(&case, &outcome))
        });
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    while let Some(r) = tasks.join_next().await {
        let (name, result) = r.expect("case task");
        checked += 1;
        if let Err(e) = result {
            failures.push(format!("{name}: {e}"));
        }
    }
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The server is unharmed: healthy, serving, nothing left running.
    let ok = s
        .client
        .post(s.url("/v1/chat/completions"))
        .bearer_auth(API_KEY)
        .json(&common::chat_body("tiny-chat"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        common::eventually(Duration::from_secs(5), || async {
            let m = s
                .client
                .get(s.url("/metrics"))
                .bearer_auth(API_KEY)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            m.contains("\ningot_requests_active 0\n")
        })
        .await
    );

    let panics = panics.lock().unwrap().clone();
    assert!(panics.is_empty(), "panics:\n{}", panics.join("\n----\n"));
    let log = String::from_utf8_lossy(&log.lock().unwrap()).to_string();
    assert!(
        log.contains("request done"),
        "the log capture saw nothing:\n{log}"
    );
    for needle in ["panicked", API_KEY, PROMPT_MARKER] {
        assert!(!log.contains(needle), "the log holds {needle:?}:\n{log}");
    }
    eprintln!(
        "{checked} corpus cases as expected; {} log lines scanned",
        log.lines().count()
    );
}
