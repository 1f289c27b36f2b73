//! Issue 12: a seeded randomized driver for the real engine's sampling and grammar paths.
//! SmolLM2-135M is loaded once in a server child process (`common/server_process.rs`);
//! `INGOT_FUZZ_CLIENTS` clients (default 4, the slot count) send random requests
//! (`common/gen.rs`: chat or completion, streamed or not, random temperature / top_k /
//! top_p / min_p / repeat_penalty / repeat_last_n / max_tokens / stop / seed, in range, at
//! the edges, huge or out of range, and grammars from a small GBNF generator, mutated, or
//! random characters) for `INGOT_FUZZ_SECS` seconds (default 20: the CI form; the recorded
//! run is 600). libFuzzer is no help here: the code under test is llama.cpp's C++ (not
//! instrumented), every input needs a decode, and one model load per process is the cost.
//!
//! Invariants, per request:
//! - the answer comes within `REQUEST_TIMEOUT`;
//! - a request with an out-of-range field gets a 400 `invalid_request_error` whose `param`
//!   names one of its refusable fields; a request whose fields are all in range (huge
//!   `top_k` / `repeat_last_n` may be clamped or refused, a mangled grammar may be refused)
//!   gets a complete answer, or a 400 naming a refusable field;
//! - a complete answer: `finish_reason` stop or length, `completion_tokens` ≤ `max_tokens`,
//!   no stop string in the text, JSON when JSON mode stopped on its own (no stop strings
//!   given); a stream: role
//!   chunk (chat), one finish chunk, usage, `[DONE]`, no error event;
//!
//! and for the run: the server process never dies (a crash reports the requests in flight),
//! never panics, its RSS never passes 1.5 × and ends within 1.2 × its warm level, and after
//! the run nothing is left running and a normal chat is answered; SIGTERM exits 0.
//!
//! ```text
//! cargo test -p ingot-server --test sampling_fuzz_real_engine -- --nocapture      # CI form
//! INGOT_FUZZ_SECS=600 INGOT_FUZZ_SEED=7 INGOT_FUZZ_REPORT=fuzz.json INGOT_FUZZ_LOG=fuzz.jsonl \
//!   cargo test -p ingot-server --test sampling_fuzz_real_engine -- --nocapture   # recorded run
//! ```

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::gen::{self, GenRequest, GrammarKind};
use common::real::model_path;
use common::server_process::{crash_lines, metric, rss_bytes, ServerProcess, ServerSpec, Stopped};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};

server_process_entry!();

const SECS_VAR: &str = "INGOT_FUZZ_SECS";
const SEED_VAR: &str = "INGOT_FUZZ_SEED";
const CLIENTS_VAR: &str = "INGOT_FUZZ_CLIENTS";
const REPORT_VAR: &str = "INGOT_FUZZ_REPORT";
/// A JSON line per request (body, status class, latency, the server's RSS after it).
const LOG_VAR: &str = "INGOT_FUZZ_LOG";
const DEFAULT_SECS: u64 = 20;
const DEFAULT_SEED: u64 = 12;
/// One request at most (32 tokens, queued behind the other clients', on a loaded 2-core
/// machine in a debug build).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_PEAK_RSS: f64 = 1.5;
const MAX_END_RSS: f64 = 1.2;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    /// Outcome class → count ("200 chat", "200 stream", "400 top_k", "503", ...).
    classes: Mutex<BTreeMap<String, u64>>,
    failures: Mutex<Vec<String>>,
    n_failures: AtomicU64,
    max_latency_ms: AtomicU64,
    /// What each client is sending now: the suspects when the server dies.
    in_flight: Mutex<BTreeMap<usize, String>>,
    log: Option<Mutex<std::fs::File>>,
    pid: u32,
}

impl Tally {
    fn class(&self, c: String) {
        *self.classes.lock().unwrap().entry(c).or_default() += 1;
    }
    fn fail(&self, req: &GenRequest, what: String) {
        self.n_failures.fetch_add(1, Ordering::SeqCst);
        let mut f = self.failures.lock().unwrap();
        if f.len() < 30 {
            let body = req.body.to_string();
            f.push(format!(
                "{what}\n    request: POST {} {}",
                req.path,
                body.chars().take(1500).collect::<String>()
            ));
        }
    }
}

/// Checks one answer against the request's allowances; `Ok(class)` or what is wrong.
async fn judge(req: &GenRequest, r: reqwest::Response) -> Result<String, String> {
    let status = r.status().as_u16();
    let text = r.text().await.map_err(|e| format!("body broken: {e}"))?;
    let short = || text.chars().take(600).collect::<String>();
    match status {
        200 if req.must_be_refused() => Err(format!(
            "200 for a request with out-of-range {:?}: {}",
            req.refusable(),
            short()
        )),
        200 if req.stream => {
            let n = common::check_stream(&text, req.max_tokens, req.chat)?;
            let content: String = common::sse_data(&text)
                .iter()
                .filter_map(|e| serde_json::from_str::<Value>(e).ok())
                .filter_map(|v| {
                    let c = &v["choices"][0];
                    c["delta"]["content"]
                        .as_str()
                        .or(c["text"].as_str())
                        .map(str::to_string)
                })
                .collect();
            check_text(req, &content, None)?;
            Ok(format!(
                "200 stream ({})",
                if n > 0 { "tokens" } else { "empty" }
            ))
        }
        200 => {
            let v: Value =
                serde_json::from_str(&text).map_err(|e| format!("200, not JSON ({e})"))?;
            let choice = &v["choices"][0];
            let content = if req.chat {
                choice["message"]["content"].as_str()
            } else {
                choice["text"].as_str()
            }
            .ok_or_else(|| format!("200 without text: {}", short()))?;
            let finish = choice["finish_reason"].as_str().unwrap_or_default();
            if finish != "stop" && finish != "length" {
                return Err(format!("finish_reason {finish:?}: {}", short()));
            }
            let n = v["usage"]["completion_tokens"]
                .as_u64()
                .ok_or_else(|| format!("no usage: {}", short()))?;
            if n > req.max_tokens as u64 {
                return Err(format!("{n} tokens for max_tokens {}", req.max_tokens));
            }
            check_text(req, content, Some(finish))?;
            Ok(format!(
                "200 {}",
                if req.chat { "chat" } else { "completion" }
            ))
        }
        400 => {
            let v: Value =
                serde_json::from_str(&text).map_err(|e| format!("400, not JSON ({e})"))?;
            let err = &v["error"];
            if err["type"] != "invalid_request_error" || err["message"].as_str().is_none() {
                return Err(format!("400 of the wrong shape: {}", short()));
            }
            let param = err["param"].as_str().unwrap_or_default();
            let allowed: Vec<&str> = req.refusable();
            if !allowed.contains(&param) {
                return Err(format!(
                    "400 naming {param:?}, expected one of {allowed:?}: {}",
                    short()
                ));
            }
            Ok(format!("400 {param}"))
        }
        503 => {
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if v["error"]["code"] != "overloaded" {
                return Err(format!("503 of the wrong shape: {}", short()));
            }
            Ok("503 overloaded".into())
        }
        s => Err(format!("HTTP {s}: {}", short())),
    }
}

fn check_text(req: &GenRequest, content: &str, finish: Option<&str>) -> Result<(), String> {
    if let Some(s) = req.stop.iter().find(|s| content.contains(s.as_str())) {
        return Err(format!(
            "the output holds the stop string {s:?}: {content:?}"
        ));
    }
    // "On its own": a stop string can cut JSON short (`"stop": ["{"]` ends JSON mode's
    // answer before its first byte), so only answers to requests without one must parse.
    let stop_strings = req.stop.iter().any(|s| !s.is_empty());
    if req.grammar == GrammarKind::JsonMode && finish == Some("stop") && !stop_strings {
        serde_json::from_str::<Value>(content)
            .map_err(|e| format!("JSON mode stopped on non-JSON ({e}): {content:?}"))?;
    }
    Ok(())
}

fn log_request(t: &Tally, req: &GenRequest, class: &str, ms: u64) {
    if let Some(log) = &t.log {
        use std::io::Write;
        let line = json!({"class": class, "ms": ms, "rss": rss_bytes(t.pid),
                          "path": req.path, "body": req.body});
        let _ = writeln!(log.lock().unwrap(), "{line}");
    }
}

async fn client(i: usize, url: String, seed: u64, end: Instant, t: Arc<Tally>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap();
    while Instant::now() < end {
        let req = gen::request(&mut rng);
        t.requests.fetch_add(1, Ordering::SeqCst);
        t.in_flight
            .lock()
            .unwrap()
            .insert(i, format!("POST {} {}", req.path, req.body));
        let t0 = Instant::now();
        let sent = http
            .post(format!("{url}{}", req.path))
            .json(&req.body)
            .send()
            .await;
        let result = match sent {
            Ok(r) => judge(&req, r).await,
            Err(e) if e.is_timeout() => Err(format!("no answer within {REQUEST_TIMEOUT:?}")),
            Err(e) => Err(format!("request failed: {e}")),
        };
        let ms = t0.elapsed().as_millis() as u64;
        t.max_latency_ms.fetch_max(ms, Ordering::SeqCst);
        match result {
            Ok(class) => {
                log_request(&t, &req, &class, ms);
                t.class(class);
            }
            Err(e) => {
                log_request(&t, &req, &format!("failure: {e}"), ms);
                t.class("failure".into());
                t.fail(&req, e);
            }
        }
        if t.n_failures.load(Ordering::SeqCst) > 0 && reqwest_down(&http, &url).await {
            // The server is gone: the in-flight requests are the suspects; stop here.
            return;
        }
    }
    t.in_flight.lock().unwrap().remove(&i);
}

async fn reqwest_down(http: &reqwest::Client, url: &str) -> bool {
    http.get(format!("{url}/health")).send().await.is_err()
}

#[test]
fn random_sampling_parameters_and_grammars_on_the_real_engine() {
    let secs = env_u64(SECS_VAR).filter(|s| *s > 0).unwrap_or(DEFAULT_SECS);
    let seed = env_u64(SEED_VAR).unwrap_or(DEFAULT_SEED);
    let clients = env_u64(CLIENTS_VAR).filter(|c| *c > 0).unwrap_or(4) as usize;
    eprintln!("fuzz: {secs} s, seed {seed}, {clients} clients");

    let mut server = ServerProcess::start(&ServerSpec {
        parallel: 4,
        max_queue: 16,
        context_length: 4096,
        log: true,
        // The prompt cache is bounded by design; a small bound fills early, so the RSS checks
        // see leaks rather than the cache filling with the fuzzer's distinct prompts (and
        // its save and restore paths run under the fuzz at that bound).
        prompt_cache_bytes: 8 << 20,
        ..ServerSpec::new(model_path())
    });
    let url = server.url.clone();
    let pid = server.pid();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let probe = reqwest::Client::new();
    let normal = json!({"model": "smollm2", "max_tokens": 8, "temperature": 0,
                        "messages": [{"role": "user", "content": "Say hi."}]});
    let chat_status = |normal: &Value| {
        rt.block_on(async {
            probe
                .post(format!("{url}/v1/chat/completions"))
                .json(normal)
                .timeout(REQUEST_TIMEOUT)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        })
    };
    assert_eq!(chat_status(&normal), 200, "warm-up chat");
    let rss_warm = server.rss_bytes();

    let tally = Arc::new(Tally {
        log: std::env::var(LOG_VAR)
            .ok()
            .map(|p| Mutex::new(std::fs::File::create(p).expect("create the fuzz log"))),
        pid,
        ..Default::default()
    });
    let peak = Arc::new(AtomicU64::new(rss_warm.unwrap_or(0)));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::SeqCst) {
                peak.fetch_max(rss_bytes(pid).unwrap_or(0), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(secs);
    rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..clients {
            tasks.spawn(client(
                i,
                url.clone(),
                seed * 1000 + i as u64,
                end,
                tally.clone(),
            ));
        }
        while let Some(r) = tasks.join_next().await {
            r.expect("client task");
        }
    });
    let run_s = t0.elapsed().as_secs_f64();
    sampling.store(false, Ordering::SeqCst);
    sampler.join().unwrap();

    let failures = tally.failures.lock().unwrap().clone();
    if let Some(status) = server.exited() {
        let stderr = server.stderr_now();
        panic!(
            "the server died ({status}); requests in flight:\n{}\ncrash:\n{}\nfirst failures:\n{}",
            tally
                .in_flight
                .lock()
                .unwrap()
                .values()
                .map(|r| r.chars().take(2000).collect::<String>())
                .collect::<Vec<_>>()
                .join("\n"),
            crash_lines(&stderr).unwrap_or_default(),
            failures.join("\n")
        );
    }
    let settled = rt.block_on(common::eventually(Duration::from_secs(60), || async {
        let mut all = true;
        for m in [
            "ingot_requests_active",
            "ingot_requests_queued",
            "ingot_sequences_active",
        ] {
            all &= metric(&probe, &url, None, m).await == Some(0.0);
        }
        all
    }));
    let after = chat_status(&normal);
    let rss_end = server.rss_bytes();
    let Stopped { status, stderr, .. } = server.stop();

    let requests = tally.requests.load(Ordering::SeqCst);
    let mut report = json!({
        "seed": seed,
        "duration_s": secs,
        "run_s": (run_s * 10.0).round() / 10.0,
        "clients": clients,
        "requests": requests,
        "outcomes": *tally.classes.lock().unwrap(),
        "failures": tally.n_failures.load(Ordering::SeqCst),
        "max_latency_ms": tally.max_latency_ms.load(Ordering::SeqCst),
        "rss_warm_bytes": rss_warm,
        "rss_peak_bytes": peak.load(Ordering::SeqCst),
        "rss_end_bytes": rss_end,
        "exit_status": status.map(|s| s.to_string()),
    });
    report["requests_per_s"] = json!(((requests as f64 / run_s) * 10.0).round() / 10.0);
    println!("FUZZ_SUMMARY {report}");
    if let Ok(path) = std::env::var(REPORT_VAR) {
        std::fs::write(&path, serde_json::to_vec_pretty(&report).unwrap()).unwrap();
    }

    assert!(
        failures.is_empty(),
        "{} requests broke an invariant (seed {seed}); the first ones:\n{}",
        tally.n_failures.load(Ordering::SeqCst),
        failures.join("\n")
    );
    assert!(settled, "requests still running after the run");
    assert_eq!(after, 200, "a normal chat after the run");
    if let (Some(warm), Some(end)) = (rss_warm, rss_end) {
        let peak = peak.load(Ordering::SeqCst);
        assert!(
            (peak as f64) < warm as f64 * MAX_PEAK_RSS,
            "RSS peaked at {} MiB (warm {} MiB)",
            peak >> 20,
            warm >> 20
        );
        assert!(
            (end as f64) < warm as f64 * MAX_END_RSS,
            "RSS ended at {} MiB (warm {} MiB)",
            end >> 20,
            warm >> 20
        );
    }
    let status = status.expect("the server did not exit within 30 s of SIGTERM");
    assert!(status.success(), "server exit {status}");
    if let Some(lines) = crash_lines(&stderr) {
        panic!("the server panicked:\n{lines}");
    }
    let classes = tally.classes.lock().unwrap().clone();
    // A run that never reached the engine, or never refused anything, checked nothing.
    assert!(
        classes.keys().any(|k| k.starts_with("200"))
            && classes.keys().any(|k| k.starts_with("400")),
        "{report}"
    );
}
