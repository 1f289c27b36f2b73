//! Issue 8: the soak suite. 200 concurrent clients against SmolLM2-135M served with
//! `parallel 4` and a small queue (8), for `INGOT_SOAK_SECS` seconds (default 15, the CI
//! form; the full form is 60):
//!
//! - 120 clients stream chat completions back to back, a third of them with random
//!   in-range sampling parameters (repeat penalty, top-k/p, min-p) and some of those with
//!   a generated GBNF grammar or JSON mode;
//! - 40 (20 %) start streams and disconnect at random points: before the answer (while
//!   queued or in prompt processing), after the first chunk, or mid-stream;
//! - 40 send malformed requests (bad JSON, wrong types, unknown roles, negative or huge
//!   `max_tokens`, unknown models, invalid UTF-8, oversized bodies, wrong methods).
//!
//! The server runs in its own process (`common/server_process.rs`: this test binary, re-run
//! as `server_process`), so its RSS is its own, a crash is visible as an exit, and panics
//! show on its stderr (run with `RUST_BACKTRACE=1`). At the end: the server is alive;
//! `/metrics` shows 0 active requests, 0 queued and 0 sequences; every streaming client got a complete answer
//! or a clean 503 (JSON `overloaded` error with `Retry-After`), every malformed request its
//! exact status and error type; the RSS grew by less than 10 % from its warm level (after a
//! warm-up round of the same load); SIGTERM stops it with exit 0 and its stderr has no panic.
//!
//! `INGOT_SOAK_REPORT=path.json` writes the figures (for RELIABILITY.md).
//!
//! ```text
//! cargo test -p ingot-server --test soak -- --nocapture                   # CI form, 15 s
//! INGOT_SOAK_SECS=60 cargo test -p ingot-server --test soak -- --nocapture  # full form
//! ```

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::real::model_path;
use common::server_process::{crash_lines, metric, rss_bytes, ServerProcess, ServerSpec, Stopped};
use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const SECS_VAR: &str = "INGOT_SOAK_SECS";
const REPORT_VAR: &str = "INGOT_SOAK_REPORT";
const DEFAULT_SECS: u64 = 15;

const CLIENTS: usize = 200;
const PARALLEL: usize = 4;
const MAX_QUEUE: usize = 8;
/// Warm-up before the RSS baseline: the same load, long enough for every kind of request
/// to have run many times (allocator arenas, connection buffers, KV cells).
const WARMUP: Duration = Duration::from_secs(6);
/// One request may take this long at most (a queued stream on a busy 2-core machine needs
/// a few seconds); beyond it the client counts a failure instead of hanging the suite.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// The whole suite past its load phases must end within this.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(400);
const MAX_RSS_GROWTH: f64 = 0.10;

const PROMPTS: &[&str] = &[
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Name three prime numbers.",
    "Why is the sky blue? Answer briefly.",
    "Translate 'good morning' into Spanish.",
    "List two uses of copper.",
];

server_process_entry!();

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    completed: AtomicU64,
    overloaded: AtomicU64,
    disconnects: AtomicU64,
    disconnects_before_answer: AtomicU64,
    disconnects_mid_stream: AtomicU64,
    malformed: AtomicU64,
    completion_tokens: AtomicU64,
    violations: Mutex<Vec<String>>,
}

impl Tally {
    fn violation(&self, what: String) {
        let mut v = self.violations.lock().unwrap();
        if v.len() < 50 {
            v.push(what);
        }
    }
    fn count(&self) -> usize {
        self.violations.lock().unwrap().len()
    }
    fn snapshot(&self) -> Value {
        let g = |a: &AtomicU64| a.load(Ordering::SeqCst);
        json!({
            "requests": g(&self.requests),
            "completed_streams": g(&self.completed),
            "overloaded_503": g(&self.overloaded),
            "disconnects": g(&self.disconnects),
            "disconnects_before_answer": g(&self.disconnects_before_answer),
            "disconnects_mid_stream": g(&self.disconnects_mid_stream),
            "malformed": g(&self.malformed),
            "completion_tokens": g(&self.completion_tokens),
            "violations": self.count(),
        })
    }
}

/// A streamed chat with the default sampler, or (one in three) a random in-range sampler:
/// top-k / top-p / min-p, a repeat penalty over a random window, and sometimes a grammar
/// from the fuzz driver's generator or JSON mode, so the load runs through llama.cpp's
/// penalty and grammar samplers too.
fn stream_body(rng: &mut StdRng, max_tokens: u32) -> Value {
    let mut body = json!({
        "model": "smollm2",
        "stream": true,
        "stream_options": {"include_usage": true},
        "max_tokens": max_tokens,
        "temperature": 0.7,
        "seed": rng.gen::<u32>(),
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": PROMPTS[rng.gen_range(0..PROMPTS.len())]},
        ],
    });
    if rng.gen_bool(1.0 / 3.0) {
        body["top_k"] = json!(rng.gen_range(0..100));
        body["top_p"] = json!(rng.gen_range(0.5..=1.0));
        body["min_p"] = json!(rng.gen_range(0.0..0.2));
        body["repeat_penalty"] = json!(rng.gen_range(1.0..1.5));
        body["repeat_last_n"] = json!(rng.gen_range(-1..256));
        match rng.gen_range(0..4) {
            0 => body["grammar"] = json!(common::gen::gbnf(rng)),
            1 => body["response_format"] = json!({"type": "json_object"}),
            _ => {}
        }
    }
    body
}

/// Checks a 503 is the clean kind: `Retry-After` and the OpenAI `overloaded` error.
async fn check_overloaded(r: reqwest::Response) -> Result<(), String> {
    if r.headers().get("retry-after").is_none() {
        return Err("503 without Retry-After".into());
    }
    let v: Value = r
        .json()
        .await
        .map_err(|e| format!("503 body is not JSON: {e}"))?;
    if v["error"]["type"] != "server_error" || v["error"]["code"] != "overloaded" {
        return Err(format!("503 with an unexpected body: {v}"));
    }
    Ok(())
}

async fn backoff_after_503(rng: &mut StdRng) {
    // Retry-After says 1 s; jitter it so the herd does not return in lockstep.
    tokio::time::sleep(Duration::from_millis(rng.gen_range(300..1500))).await;
}

/// A client that streams chat completions back to back until `end`.
async fn streamer(url: String, seed: u64, end: Instant, t: Arc<Tally>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap();
    // Start spread over a second, like clients that were not launched by one script.
    tokio::time::sleep(Duration::from_millis(rng.gen_range(0..1000))).await;
    while Instant::now() < end {
        let max_tokens = rng.gen_range(4..=16);
        t.requests.fetch_add(1, Ordering::SeqCst);
        let r = match client
            .post(format!("{url}/v1/chat/completions"))
            .json(&stream_body(&mut rng, max_tokens))
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                t.violation(format!("streamer: request failed: {e}"));
                continue;
            }
        };
        match r.status().as_u16() {
            200 => match r.text().await {
                Ok(body) => match common::check_stream(&body, max_tokens, true) {
                    Ok(n) => {
                        t.completed.fetch_add(1, Ordering::SeqCst);
                        t.completion_tokens.fetch_add(n, Ordering::SeqCst);
                    }
                    Err(e) => t.violation(format!("streamer: {e}")),
                },
                Err(e) => t.violation(format!("streamer: stream broken: {e}")),
            },
            503 => {
                match check_overloaded(r).await {
                    Ok(()) => {
                        t.overloaded.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => t.violation(format!("streamer: {e}")),
                }
                backoff_after_503(&mut rng).await;
            }
            s => {
                let body = r.text().await.unwrap_or_default();
                t.violation(format!("streamer: HTTP {s}: {body}"));
            }
        }
    }
}

/// A client that starts streams and goes away at a random point.
async fn disconnector(url: String, seed: u64, end: Instant, t: Arc<Tally>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(rng.gen_range(0..1000))).await;
    while Instant::now() < end {
        t.requests.fetch_add(1, Ordering::SeqCst);
        let max_tokens = rng.gen_range(16..=48);
        let body = stream_body(&mut rng, max_tokens);
        let send = client
            .post(format!("{url}/v1/chat/completions"))
            .json(&body)
            .send();
        // Sometimes before the answer starts: the request may be queued, processing its
        // prompt, or not even read yet.
        let give_up_after = if rng.gen_bool(0.3) {
            Duration::from_millis(rng.gen_range(1..400))
        } else {
            REQUEST_TIMEOUT
        };
        let r = match tokio::time::timeout(give_up_after, send).await {
            Err(_) => {
                t.disconnects.fetch_add(1, Ordering::SeqCst);
                t.disconnects_before_answer.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(rng.gen_range(50..300))).await;
                continue;
            }
            Ok(Err(e)) => {
                t.violation(format!("disconnector: request failed: {e}"));
                continue;
            }
            Ok(Ok(r)) => r,
        };
        match r.status().as_u16() {
            200 => {
                // Read a few events (or for a while), then drop the stream mid-way.
                let chunks = rng.gen_range(1..8);
                let read_for = Duration::from_millis(rng.gen_range(10..800));
                let mut stream = r.bytes_stream();
                let _ = tokio::time::timeout(read_for, async {
                    for _ in 0..chunks {
                        if stream.next().await.is_none() {
                            break;
                        }
                    }
                })
                .await;
                drop(stream);
                t.disconnects.fetch_add(1, Ordering::SeqCst);
                t.disconnects_mid_stream.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(rng.gen_range(50..300))).await;
            }
            503 => {
                match check_overloaded(r).await {
                    Ok(()) => {
                        t.overloaded.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => t.violation(format!("disconnector: {e}")),
                }
                backoff_after_503(&mut rng).await;
            }
            s => t.violation(format!("disconnector: HTTP {s}")),
        }
    }
}

/// A malformed request and its exact expected (status, error type, error code).
fn malformed_case(
    k: usize,
) -> (
    &'static str,
    &'static str,
    Vec<u8>,
    u16,
    &'static str,
    Option<&'static str>,
) {
    let chat = "/v1/chat/completions";
    let ok_msgs = r#"[{"role":"user","content":"hi"}]"#;
    match k % 11 {
        0 => (
            chat,
            "POST",
            br#"{"model": "smollm2", "messages": ["#.to_vec(),
            400,
            "invalid_request_error",
            Some("invalid_json"),
        ),
        1 => (
            chat,
            "POST",
            format!(r#"{{"model":"smollm2","messages":{ok_msgs},"max_tokens":"ten"}}"#)
                .into_bytes(),
            400,
            "invalid_request_error",
            None,
        ),
        2 => (
            chat,
            "POST",
            br#"{"model":"smollm2","messages":[{"role":"wizard","content":"hi"}]}"#.to_vec(),
            400,
            "invalid_request_error",
            None,
        ),
        3 => (
            chat,
            "POST",
            format!(r#"{{"model":"smollm2","messages":{ok_msgs},"max_tokens":-3}}"#).into_bytes(),
            400,
            "invalid_request_error",
            None,
        ),
        4 => (
            chat,
            "POST",
            format!(r#"{{"model":"smollm2","messages":{ok_msgs},"max_tokens":100000}}"#)
                .into_bytes(),
            400,
            "invalid_request_error",
            Some("context_length_exceeded"),
        ),
        5 => (
            chat,
            "POST",
            format!(r#"{{"model":"no-such-model","messages":{ok_msgs}}}"#).into_bytes(),
            404,
            "invalid_request_error",
            Some("model_not_found"),
        ),
        6 => (
            chat,
            "POST",
            br#"{"model":"smollm2","messages":[]}"#.to_vec(),
            400,
            "invalid_request_error",
            None,
        ),
        7 => {
            let mut b = br#"{"model":"smollm2","messages":[{"role":"user","content":""#.to_vec();
            b.extend_from_slice(&[0xff, 0xfe, 0x80]);
            b.extend_from_slice(br#""}]}"#);
            (
                chat,
                "POST",
                b,
                400,
                "invalid_request_error",
                Some("invalid_json"),
            )
        }
        8 => {
            let big = format!(
                r#"{{"model":"smollm2","messages":[{{"role":"user","content":"{}"}}]}}"#,
                "a".repeat(3 * 1024 * 1024)
            );
            (
                chat,
                "POST",
                big.into_bytes(),
                413,
                "invalid_request_error",
                Some("request_too_large"),
            )
        }
        9 => (
            chat,
            "GET",
            Vec::new(),
            405,
            "invalid_request_error",
            Some("method_not_allowed"),
        ),
        _ => (
            "/v1/completions",
            "POST",
            br#"{"model":"smollm2","prompt":["a","b"]}"#.to_vec(),
            400,
            "invalid_request_error",
            None,
        ),
    }
}

/// A client that sends malformed requests and checks each answer exactly.
async fn malformed(url: String, seed: u64, end: Instant, t: Arc<Tally>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(rng.gen_range(0..1000))).await;
    while Instant::now() < end {
        let (path, method, body, status, kind, code) = malformed_case(rng.gen_range(0..1000));
        t.requests.fetch_add(1, Ordering::SeqCst);
        let req = if method == "GET" {
            client.get(format!("{url}{path}"))
        } else {
            client
                .post(format!("{url}{path}"))
                .header("content-type", "application/json")
                .body(body)
        };
        match req.send().await {
            Ok(r) => {
                let got = r.status().as_u16();
                let v: Value = r.json().await.unwrap_or(Value::Null);
                if got != status
                    || v["error"]["type"] != kind
                    || code.is_some_and(|c| v["error"]["code"] != c)
                {
                    t.violation(format!(
                        "malformed {method} {path}: expected {status} {kind} {code:?}, got {got} {v}"
                    ));
                } else {
                    t.malformed.fetch_add(1, Ordering::SeqCst);
                }
            }
            Err(e) => t.violation(format!("malformed {method} {path}: request failed: {e}")),
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(100..600))).await;
    }
}

/// Runs the 200 clients until `duration` has passed and every one of them has returned.
async fn load(url: &str, duration: Duration, seed: u64, t: Arc<Tally>) {
    let end = Instant::now() + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..CLIENTS {
        let (url, t, seed) = (url.to_string(), t.clone(), seed * 1000 + i as u64);
        match i % 5 {
            0 => tasks.spawn(disconnector(url, seed, end, t)),
            1 => tasks.spawn(malformed(url, seed, end, t)),
            _ => tasks.spawn(streamer(url, seed, end, t)),
        };
    }
    let joined = tokio::time::timeout(duration + DRAIN_TIMEOUT, async {
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r {
                t.violation(format!("client task failed: {e}"));
            }
        }
    })
    .await;
    assert!(
        joined.is_ok(),
        "clients still running {:?} after the load phase ended",
        DRAIN_TIMEOUT
    );
}

/// Waits until nothing runs or waits in the server; returns the last values seen.
async fn settle(client: &reqwest::Client, url: &str) -> (f64, f64, f64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let active = metric(client, url, None, "ingot_requests_active")
            .await
            .unwrap_or(-1.0);
        let queued = metric(client, url, None, "ingot_requests_queued")
            .await
            .unwrap_or(-1.0);
        let seqs = metric(client, url, None, "ingot_sequences_active")
            .await
            .unwrap_or(-1.0);
        if (active, queued, seqs) == (0.0, 0.0, 0.0) || Instant::now() > deadline {
            return (active, queued, seqs);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn issue8_soak_200_clients_disconnects_and_malformed_requests() {
    let secs: u64 = std::env::var(SECS_VAR)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_SECS);
    let duration = Duration::from_secs(secs);
    let server = ServerProcess::start(&ServerSpec {
        parallel: PARALLEL,
        max_queue: MAX_QUEUE,
        context_length: 4096,
        // The prompt cache is bounded by design; a small bound fills during the warm-up, so
        // the growth check sees leaks, not the cache filling (while the soak still saves and
        // restores prompt states at that bound throughout).
        prompt_cache_bytes: 8 << 20,
        ..ServerSpec::new(model_path())
    });
    let url = server.url.clone();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let probe = reqwest::Client::new();

    // Warm-up: the same load, then the baseline once it has drained.
    let warm_tally = Arc::new(Tally::default());
    rt.block_on(load(&url, WARMUP, 1, warm_tally.clone()));
    let settled = rt.block_on(settle(&probe, &url));
    assert_eq!(settled, (0.0, 0.0, 0.0), "warm-up did not drain");
    std::thread::sleep(Duration::from_millis(500));
    let pid = server.pid();
    let rss_warm = server.rss_bytes().expect("cannot read the server's RSS");

    // The soak, sampling the RSS on the side.
    let tally = Arc::new(Tally::default());
    let peak = Arc::new(AtomicU64::new(rss_warm));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::SeqCst) {
                peak.fetch_max(rss_bytes(pid).unwrap_or(0), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };
    let t0 = Instant::now();
    rt.block_on(load(&url, duration, 2, tally.clone()));
    let load_s = t0.elapsed().as_secs_f64();
    sampling.store(false, Ordering::SeqCst);
    sampler.join().unwrap();

    // No crash, nothing left running or queued.
    let mut server = server;
    if let Some(status) = server.exited() {
        panic!(
            "the server process died during the soak ({status}):\n{}",
            server.stderr_now()
        );
    }
    let (active, queued, seqs) = rt.block_on(settle(&probe, &url));
    std::thread::sleep(Duration::from_millis(500));
    let rss_end = server.rss_bytes().unwrap_or(0);
    let growth = (rss_end as f64 - rss_warm as f64) / rss_warm as f64;

    // Still serving: one more complete answer.
    let after = rt.block_on(async {
        let r = probe
            .post(format!("{url}/v1/chat/completions"))
            .json(
                &json!({"model": "smollm2", "max_tokens": 8, "temperature": 0,
                          "messages": [{"role": "user", "content": "Say hi."}]}),
            )
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .expect("request after the soak");
        r.status().as_u16()
    });

    // SIGTERM: a clean exit within the grace period.
    let Stopped {
        status,
        stop_time,
        stderr,
    } = server.stop();

    let mut report = tally.snapshot();
    report["duration_s"] = json!(secs);
    report["load_phase_s"] = json!((load_s * 10.0).round() / 10.0);
    report["clients"] = json!(CLIENTS);
    report["warmup_requests"] = warm_tally.snapshot()["requests"].clone();
    report["rss_warm_bytes"] = json!(rss_warm);
    report["rss_end_bytes"] = json!(rss_end);
    report["rss_peak_bytes"] = json!(peak.load(Ordering::SeqCst));
    report["rss_growth_percent"] = json!((growth * 1000.0).round() / 10.0);
    report["exit_status"] = json!(status.map(|s| s.to_string()));
    report["stop_s"] = json!((stop_time.as_secs_f64() * 10.0).round() / 10.0);
    println!("SOAK_SUMMARY {report}");
    if let Ok(path) = std::env::var(REPORT_VAR) {
        std::fs::write(&path, serde_json::to_vec_pretty(&report).unwrap()).unwrap();
    }

    let violations = tally.violations.lock().unwrap().clone();
    let warm_violations = warm_tally.violations.lock().unwrap().clone();
    assert!(
        violations.is_empty() && warm_violations.is_empty(),
        "clients saw failures:\n{}\n(warm-up: {})",
        violations.join("\n"),
        warm_violations.join("\n")
    );
    assert_eq!(
        (active, queued, seqs),
        (0.0, 0.0, 0.0),
        "/metrics after the soak"
    );
    assert_eq!(after, 200, "the server no longer answers after the soak");
    let t = |k: &str| report[k].as_u64().unwrap();
    assert!(t("completed_streams") > 0, "{report}");
    assert!(t("disconnects") > 0, "{report}");
    assert!(t("malformed") > 0, "{report}");
    assert!(
        growth < MAX_RSS_GROWTH,
        "RSS grew {:.1} % (warm {} MiB, end {} MiB)",
        growth * 100.0,
        rss_warm >> 20,
        rss_end >> 20
    );
    let status = status.expect("the server did not exit within 30 s of SIGTERM");
    assert!(status.success(), "server exit: {status}; stderr:\n{stderr}");
    if let Some(lines) = crash_lines(&stderr) {
        panic!("the server panicked:\n{lines}\n{stderr}");
    }
}
