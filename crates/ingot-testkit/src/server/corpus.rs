//! The committed bad-input corpus, `tests/corpus/bad_input/`, shared by its two suites: the
//! scripted engine (`bad_input.rs`) and the real llama.cpp engine (`bad_input_real_engine.rs`).
//!
//! `cases.json` lists every case with its exact expected outcome (status, OpenAI error
//! `type`, `code` and `param`, or "connection closed" for slow clients); the requests are
//! the files next to it (`*.body`: a request body sent to `path`; `*.http`: a whole raw
//! HTTP/1.1 request, `{KEY}` standing for the API key and `{REPEAT:c:n}` for `n` copies of
//! `c`), or generated from `body_gen` (the 20 MB and deeply nested bodies, too big to
//! commit). Everything goes over raw TCP, so the bytes are exactly the corpus's.
//!
//! Per case, besides the request:
//! - `expect_real`: the outcome on the real engine where it legitimately differs from the
//!   scripted one (which `expect` gives);
//! - `keyless`: sent to a second server without an API key (the checks that only apply
//!   there, such as `Host`);
//! - `headers`: header overrides (`null` removes a default header such as `Content-Type`);
//! - `within_ms`: the answer must come within this time (debug build, loaded machine);
//! - `pending_mock` / `pending_real`: the case is known to fail on that engine until the
//!   named fix lands; skipped (and listed) unless `INGOT_CORPUS_PENDING=1`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const API_KEY: &str = "corpus-secret-key-7f3a9c";
pub const PROMPT_MARKER: &str = "CORPUS-PROMPT-MARKER";
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
pub const BODY_TIMEOUT: Duration = Duration::from_secs(1);

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/bad_input")
}

#[derive(Deserialize)]
pub struct Corpus {
    pub cases: Vec<Case>,
}

#[derive(Deserialize, Clone, Debug)]
pub struct Case {
    pub name: String,
    #[serde(default)]
    pub body_file: Option<String>,
    #[serde(default)]
    pub body_gen: Option<BodyGen>,
    #[serde(default)]
    pub raw_file: Option<String>,
    #[serde(default)]
    pub slow: Option<String>,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default = "default_path")]
    pub path: String,
    #[serde(default)]
    pub chunked: bool,
    /// The `Authorization` header: absent = the right key, `"none"` = no header.
    #[serde(default)]
    pub auth: Option<String>,
    #[serde(default)]
    pub keyless: bool,
    #[serde(default)]
    pub headers: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub within_ms: Option<u64>,
    pub expect: Expect,
    #[serde(default)]
    pub expect_real: Option<Expect>,
    #[serde(default)]
    pub pending_mock: Option<String>,
    #[serde(default)]
    pub pending_real: Option<String>,
}

fn default_method() -> String {
    "POST".into()
}

fn default_path() -> String {
    "/v1/chat/completions".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Mock,
    Real,
}

impl Case {
    pub fn expectation(&self, engine: Engine) -> &Expect {
        match engine {
            Engine::Real => self.expect_real.as_ref().unwrap_or(&self.expect),
            Engine::Mock => &self.expect,
        }
    }

    pub fn pending(&self, engine: Engine) -> Option<&str> {
        match engine {
            Engine::Mock => self.pending_mock.as_deref(),
            Engine::Real => self.pending_real.as_deref(),
        }
    }
}

/// `prefix`, `count` copies of `repeat`, then each of `more` (copies of a piece), `suffix`.
#[derive(Deserialize, Clone, Debug)]
pub struct BodyGen {
    #[serde(default)]
    pub prefix: String,
    pub repeat: String,
    pub count: usize,
    #[serde(default)]
    pub more: Vec<Piece>,
    #[serde(default)]
    pub suffix: String,
}

#[derive(Deserialize, Clone, Debug)]
pub struct Piece {
    pub repeat: String,
    pub count: usize,
}

impl BodyGen {
    pub fn build(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.prefix.len() + self.repeat.len() * self.count + 16);
        b.extend_from_slice(self.prefix.as_bytes());
        let pieces = std::iter::once((&self.repeat, self.count))
            .chain(self.more.iter().map(|p| (&p.repeat, p.count)));
        for (unit, count) in pieces {
            for _ in 0..count {
                b.extend_from_slice(unit.as_bytes());
            }
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
pub struct Expect {
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub closed: bool,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub code: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub param: Option<Option<String>>,
}

#[derive(Debug)]
pub enum Outcome {
    Response {
        status: u16,
        headers: String,
        body: Vec<u8>,
        after: Duration,
    },
    /// The server closed the connection without answering.
    Closed { after: Duration },
    /// Nothing listens (the server is gone).
    ConnectFailed(String),
}

/// Loads `cases.json` and checks it is well-formed (unique names, files present).
pub fn load() -> Corpus {
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
    corpus
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

/// The request head and body of a case.
pub fn request_bytes(case: &Case) -> (Vec<u8>, Vec<u8>) {
    if let Some(f) = &case.raw_file {
        let raw = std::fs::read(corpus_dir().join(f)).unwrap();
        return (expand_raw(&raw), Vec::new());
    }
    let body = match (&case.body_file, &case.body_gen) {
        (Some(f), _) => std::fs::read(corpus_dir().join(f)).unwrap(),
        (None, Some(g)) => g.build(),
        (None, None) => Vec::new(),
    };
    let mut headers: Vec<(String, String)> = vec![("Host".into(), "127.0.0.1".into())];
    match case.auth.as_deref() {
        None if !case.keyless => {
            headers.push(("Authorization".into(), format!("Bearer {API_KEY}")))
        }
        None | Some("none") => {}
        Some(v) => headers.push(("Authorization".into(), v.into())),
    }
    if case.method != "GET" {
        headers.push(("Content-Type".into(), "application/json".into()));
        if case.chunked {
            headers.push(("Transfer-Encoding".into(), "chunked".into()));
        } else {
            headers.push(("Content-Length".into(), body.len().to_string()));
        }
    }
    for (name, value) in &case.headers {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        if let Some(v) = value {
            headers.push((name.clone(), v.clone()));
        }
    }
    headers.push(("Connection".into(), "close".into()));
    let mut head = format!("{} {} HTTP/1.1\r\n", case.method, case.path);
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
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
        after,
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

/// Reads until the server closes (or `limit`), tolerating a reset after the response; the
/// time of the first byte too (the answer's time, however long the body takes to end).
async fn read_all(
    r: &mut tokio::net::tcp::OwnedReadHalf,
    limit: Duration,
) -> (Vec<u8>, Option<Instant>) {
    let mut got = Vec::new();
    let mut first = None;
    let mut buf = vec![0u8; 64 * 1024];
    let _ = tokio::time::timeout(limit, async {
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    first.get_or_insert_with(Instant::now);
                    got.extend_from_slice(&buf[..n]);
                }
            }
        }
    })
    .await;
    (got, first)
}

/// Sends a case's request (or plays its slow client) and reads the answer.
pub async fn exchange(
    addr: std::net::SocketAddr,
    case: &Case,
    head: Vec<u8>,
    body: Vec<u8>,
    read_limit: Duration,
) -> Outcome {
    let t0 = Instant::now();
    let stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return Outcome::ConnectFailed(e.to_string()),
    };
    let (mut r, mut w) = stream.into_split();
    let (got, first) = match case.slow.as_deref() {
        None => {
            // Written on the side: the server may answer (413) before reading it all.
            let writer = tokio::spawn(async move {
                let _ = w.write_all(&head).await;
                let _ = w.write_all(&body).await;
                w
            });
            let got = read_all(&mut r, read_limit).await;
            writer.abort();
            if std::env::var_os("INGOT_CORPUS_DEBUG").is_some() {
                eprintln!(
                    "{}: {:?} after {:?}",
                    case.name,
                    String::from_utf8_lossy(&got.0[..got.0.len().min(2000)]),
                    t0.elapsed()
                );
            }
            got
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
            got
        }
        Some("silent") => {
            let got = read_all(&mut r, Duration::from_secs(30)).await;
            drop(w);
            got
        }
        Some("h2_prefix") => {
            w.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
            let got = read_all(&mut r, Duration::from_secs(30)).await;
            drop(w);
            got
        }
        Some("body") => {
            let head = format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{\"model\":"
            );
            w.write_all(head.as_bytes()).await.unwrap();
            let got = read_all(&mut r, Duration::from_secs(30)).await;
            drop(w);
            got
        }
        Some(other) => panic!("unknown slow kind {other}"),
    };
    let after = first.unwrap_or_else(Instant::now).duration_since(t0);
    parse_response(&got, after)
}

/// Compares an outcome to the case's expectation on `engine`; returns what differs.
pub fn check(case: &Case, engine: Engine, outcome: &Outcome) -> Result<(), String> {
    let e = case.expectation(engine);
    match outcome {
        Outcome::ConnectFailed(e) => Err(format!("cannot connect to the server: {e}")),
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
            after,
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
            if let Some(ms) = case.within_ms {
                if *after > Duration::from_millis(ms) {
                    return Err(format!("answered after {after:?}, expected within {ms} ms"));
                }
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

/// What a corpus run found.
#[derive(Debug, Default)]
pub struct Run {
    pub checked: usize,
    pub failures: Vec<String>,
    /// (case, why) of the pending cases skipped.
    pub pending: Vec<(String, String)>,
    /// Pending cases that were run (`INGOT_CORPUS_PENDING=1`) and passed.
    pub pending_passed: Vec<String>,
    pub slowest: Vec<(Duration, String)>,
}

/// Runs the corpus on `engine`: cases with `keyless` against `keyless_addr`, the others
/// against `addr` (a server with [`API_KEY`]), `concurrency` at a time.
pub async fn run(
    cases: Vec<Case>,
    engine: Engine,
    addr: std::net::SocketAddr,
    keyless_addr: std::net::SocketAddr,
    concurrency: usize,
    read_limit: Duration,
) -> Run {
    let mut out = Run::default();
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    // `INGOT_CORPUS_ONLY=name,name` runs only those cases (when debugging one).
    let only: Option<Vec<String>> = std::env::var("INGOT_CORPUS_ONLY")
        .ok()
        .map(|v| v.split(',').map(str::to_string).collect());
    let run_pending = std::env::var_os("INGOT_CORPUS_PENDING").is_some();
    for case in cases {
        if only.as_ref().is_some_and(|o| !o.contains(&case.name)) {
            continue;
        }
        if let Some(why) = case.pending(engine) {
            if !run_pending {
                out.pending.push((case.name.clone(), why.to_string()));
                continue;
            }
        }
        let sem = sem.clone();
        // Built up front, off the runtime: generating a 20 MB body in a debug build takes a
        // second or two, and doing it on a worker thread (or between connecting and sending)
        // would starve a server in this same runtime, or leave a connection silent long
        // enough for its (1 s) first-bytes timeout.
        let (case, head, body) = tokio::task::spawn_blocking(move || {
            let (head, body) = request_bytes(&case);
            (case, head, body)
        })
        .await
        .unwrap();
        let target = if case.keyless { keyless_addr } else { addr };
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await.unwrap();
            let t0 = Instant::now();
            let outcome = exchange(target, &case, head, body, read_limit).await;
            let result = check(&case, engine, &outcome);
            (case, result, t0.elapsed())
        });
    }
    while let Some(r) = tasks.join_next().await {
        let (case, result, took) = r.expect("case task");
        out.checked += 1;
        out.slowest.push((took, case.name.clone()));
        match (result, case.pending(engine)) {
            (Ok(()), Some(_)) => out.pending_passed.push(case.name.clone()),
            (Ok(()), None) => {}
            (Err(e), _) => out.failures.push(format!("{}: {e}", case.name)),
        }
    }
    out.failures.sort();
    out.slowest.sort_by(|a, b| b.cmp(a));
    out.slowest.truncate(5);
    out
}

impl Run {
    /// Fails the test on any differing case; prints the pending ones.
    pub fn assert_all_as_expected(&self, engine: Engine) {
        for (name, why) in &self.pending {
            eprintln!("pending on {engine:?} (skipped): {name}: {why}");
        }
        for name in &self.pending_passed {
            eprintln!("pending on {engine:?} but passes now: {name} (remove its pending mark)");
        }
        eprintln!("slowest cases on the {engine:?} engine: {:?}", self.slowest);
        assert!(
            self.failures.is_empty(),
            "{} of {} cases differ on the {engine:?} engine:\n{}",
            self.failures.len(),
            self.checked,
            self.failures.join("\n")
        );
        eprintln!(
            "{} corpus cases as expected on the {engine:?} engine ({} pending)",
            self.checked,
            self.pending.len(),
        );
    }
}
