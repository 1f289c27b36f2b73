//! A server over the real llama.cpp engine and SmolLM2-135M, in a child process: the test
//! binary re-runs itself as its own `server_process` test (ignored, so it only runs when
//! asked for by name). A separate process because the suites that use it watch for what
//! would otherwise take the test down with the server: a stack overflow or a C++ abort in
//! llama.cpp is an exit of the child, seen and reported by the parent with the request that
//! caused it; and the child's RSS is the server's own.
//!
//! Each test binary that uses it declares the child's entry point with
//! [`server_process_entry!`]. The settings travel as JSON in `INGOT_TEST_SERVER_SPEC`. The
//! child logs at INFO to its stderr (the parent scans it for panics and secrets), with
//! `RUST_BACKTRACE=1`.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ingot_server::{ModelDescriptor, ModelProvider, ProviderError, ResolvedModel};
use serde::{Deserialize, Serialize};

const SPEC_VAR: &str = "INGOT_TEST_SERVER_SPEC";
const URL_LINE: &str = "TEST_SERVER_URL ";
/// The name of the ignored test each binary declares (see [`server_process_entry!`]).
pub const ENTRY: &str = "server_process";

/// Declares the child's entry point in a test binary: an ignored test named
/// `server_process` that the parent runs by name.
#[macro_export]
macro_rules! server_process_entry {
    () => {
        #[test]
        #[ignore = "the server process of this suite, started by it"]
        fn server_process() {
            common::server_process::child_main();
        }
    };
}

/// What the child server runs with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerSpec {
    pub model: PathBuf,
    /// Names the model also answers to (the corpus's requests say `tiny-chat`).
    pub aliases: Vec<String>,
    pub api_key: Option<String>,
    pub parallel: usize,
    pub max_queue: usize,
    pub context_length: u32,
    /// Host memory for prompt states slots give up (`--cache-ram`).
    pub prompt_cache_bytes: u64,
    pub header_read_timeout_ms: u64,
    pub body_read_timeout_ms: u64,
    pub shutdown_timeout_ms: u64,
    /// Load the model before announcing the URL (and never unload it when idle).
    pub preload: bool,
    /// Log at INFO to stderr.
    pub log: bool,
}

impl ServerSpec {
    pub fn new(model: PathBuf) -> Self {
        Self {
            model,
            aliases: Vec::new(),
            api_key: None,
            parallel: 4,
            max_queue: 8,
            context_length: 4096,
            prompt_cache_bytes: ingot_server::ServerConfig::default().prompt_cache_bytes,
            header_read_timeout_ms: 30_000,
            body_read_timeout_ms: 30_000,
            shutdown_timeout_ms: 10_000,
            preload: true,
            log: false,
        }
    }
}

/// Serves the model file as `smollm2`, also under `aliases`.
pub struct AliasedModel {
    pub path: PathBuf,
    pub aliases: Vec<String>,
}

impl ModelProvider for AliasedModel {
    fn list(&self) -> Vec<ModelDescriptor> {
        vec![ModelDescriptor {
            id: "smollm2".into(),
            aliases: self.aliases.clone(),
            cached: true,
            context_length: Some(8192),
            owned_by: "huggingfacetb".into(),
            ..Default::default()
        }]
    }

    fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
        if !self.list()[0].matches(id) {
            return Err(ProviderError::NotFound(id.into()));
        }
        Ok(ResolvedModel {
            id: "smollm2".into(),
            path: self.path.clone(),
            chat_template: None,
            context_length: None,
        })
    }
}

/// The child's side: serve until SIGTERM, then shut down gracefully and say so.
pub fn child_main() {
    let Ok(spec) = std::env::var(SPEC_VAR) else {
        eprintln!("started by the suite's own test only");
        return;
    };
    let spec: ServerSpec = serde_json::from_str(&spec).expect("server spec");
    // As `ingot serve` does, so the soak measures the server as it runs.
    ingot_server::bound_malloc_arenas();
    if spec.log {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(std::io::stderr)
            .init();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let config = ingot_server::ServerConfig {
            host: "127.0.0.1".into(),
            port: 0,
            api_key: spec.api_key.clone(),
            parallel: spec.parallel,
            max_queue: spec.max_queue,
            // One thread: with two, llama.cpp's OpenMP threads spin at each decode step's
            // barrier, and on a 2-core machine shared with many clients a descheduled one
            // stalls the other (aggregate speed collapses to a few tokens/s).
            threads: Some(1),
            context_length: Some(spec.context_length),
            prompt_cache_bytes: spec.prompt_cache_bytes,
            header_read_timeout: Duration::from_millis(spec.header_read_timeout_ms),
            body_read_timeout: Duration::from_millis(spec.body_read_timeout_ms),
            shutdown_timeout: Duration::from_millis(spec.shutdown_timeout_ms),
            ..Default::default()
        };
        let handle = ingot_server::serve(
            config,
            Arc::new(ingot_engine::LlamaEngine::new()),
            Arc::new(AliasedModel {
                path: spec.model.clone(),
                aliases: spec.aliases.clone(),
            }),
        )
        .await
        .expect("server starts");
        if spec.preload {
            handle
                .load_model("smollm2", Some(Duration::ZERO))
                .await
                .expect("model loads");
        }
        println!("{URL_LINE}{}", handle.url());
        terminated().await;
        handle.shutdown().await;
        println!("TEST_SERVER_EXIT clean");
    });
}

#[cfg(unix)]
async fn terminated() {
    use tokio::signal::unix::{signal, SignalKind};
    signal(SignalKind::terminate()).unwrap().recv().await;
}

#[cfg(not(unix))]
async fn terminated() {
    let _ = tokio::signal::ctrl_c().await;
}

/// The parent's handle on the child; kills it if the test fails before stopping it.
pub struct ServerProcess {
    child: Child,
    stderr: Option<std::thread::JoinHandle<String>>,
    pub url: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How the child ended.
pub struct Stopped {
    /// `None`: still running 30 s after SIGTERM (then killed).
    pub status: Option<ExitStatus>,
    pub stop_time: Duration,
    pub stderr: String,
}

impl ServerProcess {
    /// Starts the child and waits for its URL (the model loaded when `spec.preload`).
    pub fn start(spec: &ServerSpec) -> ServerProcess {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                ENTRY,
                "--nocapture",
                "--test-threads=1",
            ])
            .env(SPEC_VAR, serde_json::to_string(spec).unwrap())
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the server process");
        let mut stderr_pipe = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = stderr_pipe.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Drained to the end, so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // libtest prints "test server_process ... " on the same line.
                if let Some((_, url)) = line.split_once(URL_LINE) {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let mut server = ServerProcess {
            child,
            stderr: Some(stderr),
            url: String::new(),
        };
        match rx.recv_timeout(Duration::from_secs(300)) {
            Ok(url) => server.url = url,
            Err(_) => {
                let _ = server.child.kill();
                let _ = server.child.wait();
                let err = server.stderr.take().unwrap().join().unwrap_or_default();
                panic!("the server process did not start; stderr:\n{err}");
            }
        }
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the child still runs; its exit status when it does not.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The child's resident set size (`None` where the platform does not tell).
    pub fn rss_bytes(&self) -> Option<u64> {
        rss_bytes(self.pid())
    }

    /// SIGTERM, then waits up to 30 s for the exit (SIGKILL after that).
    pub fn stop(mut self) -> Stopped {
        terminate(self.pid());
        let t0 = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break Some(s);
            }
            if t0.elapsed() > Duration::from_secs(30) {
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stop_time = t0.elapsed();
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        Stopped {
            status,
            stop_time,
            stderr: self.stderr_now(),
        }
    }

    /// The child's whole stderr; only once it has exited (the pipe is read to its end).
    pub fn stderr_now(&mut self) -> String {
        self.stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

/// Panics or a crash on the child's stderr, if any.
pub fn crash_lines(stderr: &str) -> Option<String> {
    let bad = [
        "panicked",
        "stack backtrace",
        "overflowed its stack",
        "fatal runtime error",
        "terminate called",
        "GGML_ASSERT",
    ];
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| bad.iter().any(|b| l.contains(b)))
        .take(20)
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// Resident memory of a process in bytes (VmRSS), with ggml's large buffers (mappings of
/// `/memfd:ingot-ggml-buffer`, ingot-engine's `fresh_pages`) counted at their full size,
/// resident or not. A KV cache is one: it is not cleared at load, so its pages become
/// resident as its cells fill, which is no leak. Counted whole, the figure is the one these
/// suites were calibrated on, when llama.cpp's clear made every page resident at load.
#[cfg(target_os = "linux")]
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let total = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)?;
    let (size, resident) = ggml_buffers(pid);
    Some(total + size.saturating_sub(resident))
}

/// (Size, resident bytes) of the mappings of `/memfd:ingot-ggml-buffer`, from
/// /proc/PID/smaps.
#[cfg(target_os = "linux")]
pub fn ggml_buffers(pid: u32) -> (u64, u64) {
    let Ok(smaps) = std::fs::read_to_string(format!("/proc/{pid}/smaps")) else {
        return (0, 0);
    };
    let name = format!("/memfd:{}", ingot_engine::fresh_pages::MAPPING_NAME);
    let kb = |line: &str, field: &str| {
        line.strip_prefix(field)
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    let (mut inside, mut size, mut resident) = (false, 0, 0);
    for line in smaps.lines() {
        // A mapping's header starts with its address range; its fields follow.
        let header = line.split_whitespace().next().is_some_and(|f| {
            f.contains('-') && f.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        });
        if header {
            inside = line.contains(&name);
        } else if inside {
            size += kb(line, "Size:").unwrap_or(0);
            resident += kb(line, "Rss:").unwrap_or(0);
        }
    }
    (size, resident)
}

#[cfg(not(target_os = "linux"))]
pub fn rss_bytes(_pid: u32) -> Option<u64> {
    None
}

#[cfg(unix)]
fn terminate(pid: u32) {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    // SAFETY: kill(2) with a child's pid and SIGTERM touches no memory of ours.
    unsafe { kill(pid as i32, 15) };
}

#[cfg(not(unix))]
fn terminate(_pid: u32) {}

/// A value from the server's `/metrics` (`key`: its API key, when it has one); `None` if the
/// server does not answer or does not export `name`.
pub async fn metric(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    name: &str,
) -> Option<f64> {
    let mut req = client.get(format!("{url}/metrics"));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let text = req.send().await.ok()?.text().await.ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}
