//! Issue 12: the bad-input corpus (`tests/corpus/bad_input/`, see `common/corpus.rs`)
//! against the real llama.cpp engine and SmolLM2-135M, not only the scripted one: requests
//! that pass validation reach llama.cpp's tokenizer, grammar parser and samplers here, and
//! that is where a 100 000-deep grammar aborted the server and a huge `repeat_last_n` held
//! it for 25 s.
//!
//! The server runs in a child process (`common/server_process.rs`) with the corpus's
//! settings (API key, 1 s header and body timeouts, 4 slots over 4096 tokens, like the
//! scripted pass), the model also named `tiny-chat` as the corpus's requests say, and logs
//! at INFO to its stderr; a second one without a key takes the `keyless` cases. Every case
//! must give its exact outcome (`expect_real` where the real engine legitimately differs).
//! Then the server must be healthy: alive, `/health` and a normal chat answered, nothing
//! left running, its RSS within 20 % of its level before the corpus (after a warm-up
//! chat), no panic or crash and neither the key nor a prompt in its log, a log of bounded
//! size (llama.cpp must not dump a 200 KB grammar into it), and a clean exit on SIGTERM.
//!
//! ```text
//! cargo test -p ingot-server --test bad_input_real_engine -- --nocapture
//! INGOT_CORPUS_ONLY=prompt_2mb cargo test -p ingot-server --test bad_input_real_engine
//! INGOT_CORPUS_PENDING=1 ...   # also the cases marked pending (a known failure)
//! ```

mod common;

use std::time::{Duration, Instant};

use common::corpus::{self, Engine, API_KEY, BODY_TIMEOUT, HEADER_TIMEOUT, PROMPT_MARKER};
use common::real::model_path;
use common::server_process::{crash_lines, metric, ServerProcess, ServerSpec, Stopped};
use serde_json::{json, Value};

server_process_entry!();

/// The issue's bar: RSS within 20 % of its level before the hostile requests.
const MAX_RSS_GROWTH: f64 = 0.20;
/// A log that grew past this holds something it should not (a dumped grammar or prompt).
const MAX_LOG_BYTES: usize = 256 * 1024;

fn chat(max_tokens: u32) -> Value {
    json!({"model": "smollm2", "temperature": 0, "max_tokens": max_tokens,
           "messages": [{"role": "user", "content": "What is the capital of France?"}]})
}

/// A normal chat answers with text; returns the status and the body.
async fn normal_chat(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = client
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth(API_KEY)
        .json(&chat(8))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .expect("a normal chat request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[test]
fn bad_input_corpus_on_the_real_engine_exact_statuses_and_a_healthy_server() {
    let t_suite = Instant::now();
    let cases = corpus::load().cases;
    let spec = ServerSpec {
        aliases: vec!["tiny-chat".into()],
        api_key: Some(API_KEY.into()),
        parallel: 4,
        max_queue: 64,
        context_length: 4096,
        header_read_timeout_ms: HEADER_TIMEOUT.as_millis() as u64,
        body_read_timeout_ms: BODY_TIMEOUT.as_millis() as u64,
        log: true,
        ..ServerSpec::new(model_path())
    };
    let mut server = ServerProcess::start(&spec);
    // Only for the cases refused before any model is used; it loads none up front.
    let keyless = ServerProcess::start(&ServerSpec {
        api_key: None,
        preload: false,
        ..spec.clone()
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let url = server.url.clone();
    let addr = url.trim_start_matches("http://").parse().unwrap();
    let keyless_addr = keyless.url.trim_start_matches("http://").parse().unwrap();

    // Warm: normal answers on every slot at once (KV cells, batch buffers, allocator
    // arenas of each worker), then the baseline.
    let warm = rt.block_on(futures_util::future::join_all(
        (0..spec.parallel).map(|_| normal_chat(&client, &url)),
    ));
    for (status, body) in &warm {
        assert_eq!(*status, 200, "warm-up chat: {body}");
    }
    let rss_before = server.rss_bytes();

    let t0 = Instant::now();
    let run = rt.block_on(corpus::run(
        cases,
        Engine::Real,
        addr,
        keyless_addr,
        8,
        Duration::from_secs(120),
    ));
    let corpus_s = t0.elapsed().as_secs_f64();
    // A crashing server may take a moment to be gone (an abort writing a core dump).
    let mut exited = server.exited();
    for _ in 0..50 {
        if exited.is_some() || run.failures.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        exited = server.exited();
    }
    if let Some(status) = exited {
        let stderr = server.stderr_now();
        panic!(
            "the server died during the corpus ({status}); cases that failed:\n{}\ncrash:\n{}\nstderr tail:\n{}",
            run.failures.join("\n"),
            crash_lines(&stderr).unwrap_or_default(),
            tail(&stderr, 4000)
        );
    }
    run.assert_all_as_expected(Engine::Real);

    // Healthy: /health at once, a normal answer, nothing left running, memory as before.
    let (health_ms, health) = rt.block_on(async {
        let t = Instant::now();
        let r = client
            .get(format!("{url}/health"))
            .send()
            .await
            .expect("/health");
        (t.elapsed().as_millis(), r.status().as_u16())
    });
    assert_eq!(health, 200);
    assert!(health_ms < 1000, "/health took {health_ms} ms");
    let (status, answer) = rt.block_on(normal_chat(&client, &url));
    assert_eq!(status, 200, "a normal chat after the corpus: {answer}");
    let text = answer["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(!text.trim().is_empty(), "an empty answer: {answer}");
    assert!(
        answer["choices"][0]["finish_reason"].is_string(),
        "no finish reason: {answer}"
    );
    let settled = rt.block_on(common::eventually(Duration::from_secs(30), || async {
        let mut all = true;
        for m in [
            "ingot_requests_active",
            "ingot_requests_queued",
            "ingot_sequences_active",
        ] {
            all &= metric(&client, &url, Some(API_KEY), m).await == Some(0.0);
        }
        all
    }));
    assert!(settled, "requests still running after the corpus");
    let rss_after = server.rss_bytes();
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        let growth = (after as f64 - before as f64) / before as f64;
        eprintln!(
            "RSS before the corpus {} MiB, after {} MiB ({:+.1} %)",
            before >> 20,
            after >> 20,
            growth * 100.0
        );
        assert!(
            growth < MAX_RSS_GROWTH,
            "RSS grew {:.1} % (from {} MiB to {} MiB)",
            growth * 100.0,
            before >> 20,
            after >> 20
        );
    }

    let Stopped { status, stderr, .. } = server.stop();
    let keyless_stopped = keyless.stop();
    let status = status.expect("the server did not exit within 30 s of SIGTERM");
    assert!(
        status.success(),
        "server exit: {status}; {}",
        tail(&stderr, 4000)
    );
    for (which, log) in [
        ("server", &stderr),
        ("keyless server", &keyless_stopped.stderr),
    ] {
        if let Some(lines) = crash_lines(log) {
            panic!("the {which} panicked or crashed:\n{lines}");
        }
        assert!(
            log.len() < MAX_LOG_BYTES,
            "the {which}'s log is {} bytes after the corpus; longest lines:\n{}",
            log.len(),
            longest_lines(log)
        );
        for needle in [API_KEY, PROMPT_MARKER] {
            assert!(!log.contains(needle), "the {which}'s log holds {needle:?}");
        }
    }
    assert!(
        stderr.contains("request done"),
        "the log capture saw nothing:\n{}",
        tail(&stderr, 2000)
    );
    eprintln!(
        "corpus on the real engine: {corpus_s:.1} s; whole suite {:.1} s",
        t_suite.elapsed().as_secs_f64()
    );
}

fn tail(s: &str, n: usize) -> &str {
    let mut i = s.len().saturating_sub(n);
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

fn longest_lines(s: &str) -> String {
    let mut lines: Vec<&str> = s.lines().collect();
    lines.sort_by_key(|l| std::cmp::Reverse(l.len()));
    lines
        .iter()
        .take(3)
        .map(|l| {
            format!(
                "({} bytes) {}",
                l.len(),
                l.chars().take(300).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
