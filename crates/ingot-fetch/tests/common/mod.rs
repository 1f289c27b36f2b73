//! Test support: a tiny GGUF file and a fault-injecting HTTP/1.1 server on 127.0.0.1:0.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ingot_catalog::{Capability, ModelEntry, Origin, Source};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A valid GGUF v3 file: no tensors, three metadata keys, the last a `payload_len`-byte
/// uint8 array of pseudo-random data (so that offsets inside it are meaningful).
pub fn tiny_gguf(payload_len: usize) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    const TYPE_UINT8: u32 = 0;
    const TYPE_STRING: u32 = 8;
    const TYPE_ARRAY: u32 = 9;
    let mut f = Vec::with_capacity(payload_len + 256);
    f.extend_from_slice(b"GGUF");
    f.extend_from_slice(&3u32.to_le_bytes()); // version
    f.extend_from_slice(&0u64.to_le_bytes()); // tensor count
    f.extend_from_slice(&3u64.to_le_bytes()); // metadata kv count
    string(&mut f, "general.architecture");
    f.extend_from_slice(&TYPE_STRING.to_le_bytes());
    string(&mut f, "llama");
    string(&mut f, "general.name");
    f.extend_from_slice(&TYPE_STRING.to_le_bytes());
    string(&mut f, "ingot test model");
    string(&mut f, "ingot.test.payload");
    f.extend_from_slice(&TYPE_ARRAY.to_le_bytes());
    f.extend_from_slice(&TYPE_UINT8.to_le_bytes());
    f.extend_from_slice(&(payload_len as u64).to_le_bytes());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..payload_len {
        // xorshift64: cheap, deterministic, not compressible.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        f.push(x as u8);
    }
    f
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A catalog entry for `body` with the given sources.
pub fn entry(alias: &str, body: &[u8], sources: Vec<Source>) -> ModelEntry {
    ModelEntry {
        alias: alias.to_string(),
        name: "Test".to_string(),
        family: "test".to_string(),
        architecture: "llama".to_string(),
        parameters: None,
        quantization: "F32".to_string(),
        size: Some(body.len() as u64),
        sha256: Some(sha256_hex(body)),
        license: "MIT".to_string(),
        context_length: 128,
        capabilities: vec![Capability::Completion],
        chat_template: false,
        chat_template_override: None,
        description: None,
        sources,
        remote: None,
        origin: Origin::Builtin,
    }
}

pub fn url_source(url: String) -> Source {
    Source::Url { url, sha256: None }
}

/// Options with short delays so retry tests run fast.
pub fn fast_options() -> ingot_fetch::DownloadOptions {
    ingot_fetch::DownloadOptions {
        max_attempts: 4,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// START of a `Range: bytes=START-` header.
    pub fn range_start(&self) -> Option<u64> {
        self.header("range")?
            .strip_prefix("bytes=")?
            .strip_suffix('-')?
            .parse()
            .ok()
    }
}

/// How to answer one request.
#[derive(Debug, Clone)]
pub enum Action {
    /// Serve the body, honouring `Range`.
    Serve,
    /// Serve the whole body with 200 whatever the `Range`.
    IgnoreRange,
    /// Announce the full length but close the connection after this many body bytes.
    DropAfter(usize),
    /// Send this many body bytes, then hold the connection open without sending more.
    StallAfter(usize),
    /// Serve the body with one byte flipped.
    Corrupt,
    /// Answer with this status and no body.
    Status(u16),
    /// Serve (honouring `Range`), pausing between 16 KiB chunks.
    Slow(Duration),
    /// Serve with these extra response headers.
    WithHeaders(Vec<(String, String)>),
    /// Answer `302 Found` to this location.
    Redirect(String),
    /// Serve (honouring `Range`) announcing `Content-Length` (and the `Content-Range`
    /// total) off by this many bytes, then close after the real bytes.
    LieLength(i64),
    /// Serve (honouring `Range`) 16 KiB chunks with this pause between them, then hold
    /// the connection open without sending more after this many bytes.
    SlowThenStall(Duration, usize),
}

type Plan = dyn Fn(usize, &Request) -> Action + Send + Sync;

pub struct TestServer {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Request>>>,
    transfers: Arc<AtomicUsize>,
    bytes_sent: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Serves `body` at every path; `plan(i, request)` picks the answer to the i-th request.
    pub async fn start(
        body: Vec<u8>,
        plan: impl Fn(usize, &Request) -> Action + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let transfers = Arc::new(AtomicUsize::new(0));
        let bytes_sent = Arc::new(AtomicUsize::new(0));
        let body = Arc::new(body);
        let plan: Arc<Plan> = Arc::new(plan);
        let (log2, transfers2, sent2) = (log.clone(), transfers.clone(), bytes_sent.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (log, transfers, sent, body, plan) = (
                    log2.clone(),
                    transfers2.clone(),
                    sent2.clone(),
                    body.clone(),
                    plan.clone(),
                );
                tokio::spawn(async move {
                    let _ = handle(stream, log, transfers, sent, body, plan).await;
                });
            }
        });
        TestServer {
            addr,
            log,
            transfers,
            bytes_sent,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }

    /// GET requests answered with a body (200 or 206).
    pub fn body_transfers(&self) -> usize {
        self.transfers.load(Ordering::SeqCst)
    }

    /// Body bytes written to sockets so far.
    pub fn bytes_sent(&self) -> usize {
        self.bytes_sent.load(Ordering::SeqCst)
    }
}

async fn handle(
    mut stream: TcpStream,
    log: Arc<Mutex<Vec<Request>>>,
    transfers: Arc<AtomicUsize>,
    sent: Arc<AtomicUsize>,
    body: Arc<Vec<u8>>,
    plan: Arc<Plan>,
) -> std::io::Result<()> {
    // Read the request head (no request bodies in these tests).
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let req = Request {
        method,
        path,
        headers,
    };
    let index = {
        let mut log = log.lock().unwrap();
        log.push(req.clone());
        log.len() - 1
    };
    let action = plan(index, &req);

    let mut extra = String::new();
    let (status, start) = match &action {
        Action::Status(code) => {
            let head =
                format!("HTTP/1.1 {code} Test\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            stream.write_all(head.as_bytes()).await?;
            return Ok(());
        }
        Action::Redirect(to) => {
            let head = format!("HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            stream.write_all(head.as_bytes()).await?;
            return Ok(());
        }
        Action::IgnoreRange | Action::Corrupt => (200, 0),
        Action::WithHeaders(h) => {
            for (k, v) in h {
                extra.push_str(&format!("{k}: {v}\r\n"));
            }
            (200, 0)
        }
        _ => match req.range_start() {
            Some(s) if (s as usize) < body.len() => (206, s as usize),
            Some(_) => {
                let head = format!(
                    "HTTP/1.1 416 Range Not Satisfiable\r\ncontent-range: bytes */{}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                stream.write_all(head.as_bytes()).await?;
                return Ok(());
            }
            None => (200, 0),
        },
    };
    let lie = match action {
        Action::LieLength(d) => d,
        _ => 0,
    };
    let len = ((body.len() - start) as i64 + lie).max(0);
    let mut head = format!("HTTP/1.1 {status} OK\r\ncontent-length: {len}\r\naccept-ranges: bytes\r\nconnection: close\r\n{extra}");
    if status == 206 {
        let total = (body.len() as i64 + lie).max(0);
        head.push_str(&format!(
            "content-range: bytes {start}-{}/{total}\r\n",
            (start as i64 + len - 1).max(0),
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    if req.method == "HEAD" {
        return Ok(());
    }
    transfers.fetch_add(1, Ordering::SeqCst);

    let mut data = body[start..].to_vec();
    if matches!(action, Action::Corrupt) {
        let mid = data.len() / 2;
        data[mid] ^= 0xff;
    }
    let limit = match action {
        Action::DropAfter(n) | Action::StallAfter(n) | Action::SlowThenStall(_, n) => {
            n.min(data.len())
        }
        _ => data.len(),
    };
    for chunk in data[..limit].chunks(16 * 1024) {
        stream.write_all(chunk).await?;
        stream.flush().await?;
        sent.fetch_add(chunk.len(), Ordering::SeqCst);
        if let Action::Slow(d) | Action::SlowThenStall(d, _) = action {
            tokio::time::sleep(d).await;
        }
    }
    match action {
        Action::StallAfter(_) | Action::SlowThenStall(..) => {
            // Hold the connection open until the client goes away or the test ends.
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        Action::DropAfter(_) => {
            // Close the connection early: the client sees a truncated body.
            stream.shutdown().await?;
        }
        _ => {}
    }
    Ok(())
}

/// A stand-in for `python3 -I -m pip download ... -d DIR pkgs...`: copies the wheels in
/// `wheels` to DIR and records its arguments, or fails like pip does.
#[cfg(unix)]
#[allow(dead_code)]
pub fn fake_python(
    dir: &std::path::Path,
    wheels: &std::path::Path,
    fail: bool,
) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("fake-python");
    let body = if fail {
        "echo 'ERROR: No matching distribution found for gguf-part9==1.0' >&2\nexit 1\n".to_string()
    } else {
        format!(
            "echo \"$@\" > '{args}'\nwhile [ $# -gt 0 ]; do if [ \"$1\" = -d ]; then cp '{wheels}'/*.whl \"$2\"/; fi; shift; done\n",
            args = dir.join("args").display(),
            wheels = wheels.display()
        )
    };
    std::fs::write(&script, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}
