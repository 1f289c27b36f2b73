//! Issue 12's bar, on the real llama.cpp engine and SmolLM2-135M (the mock engine could not see
//! these): a grammar nesting 100,000 groups, `repeat_last_n: 2147483647`, a 2 MB prompt and a
//! `{100000}` repetition of a long literal each get a 400 quickly, `/health` stays fast while
//! they run, the server's memory stays where it was, and the model still answers afterwards.
//!
//! The time bounds are generous (a debug build on a loaded 2-core machine); the release
//! figures are in RELIABILITY.md.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::real::{model_path, OneModel};
use common::TestServer;
use ingot_server::ServerConfig;
use serde_json::{json, Value};

/// Resident set size of this process (the server runs in it), in bytes.
#[cfg(target_os = "linux")]
fn rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(not(target_os = "linux"))]
fn rss() -> Option<u64> {
    None
}

fn chat_with(extra: Value) -> Value {
    let mut body = json!({"model": "smollm2", "max_tokens": 4, "temperature": 0,
                          "messages": [{"role": "user", "content": "Say hi."}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_quick_400s_and_leave_the_server_healthy() {
    let path = tokio::task::spawn_blocking(model_path).await.unwrap();
    let config = ServerConfig {
        host: "127.0.0.1".into(),
        port: 0,
        parallel: 2,
        context_length: Some(4096),
        threads: Some(1),
        ..Default::default()
    };
    let engine = Arc::new(ingot_engine::LlamaEngine::new());
    let handle = ingot_server::serve(config, engine, Arc::new(OneModel(path)))
        .await
        .expect("server starts");
    let base = handle.url();
    let s = TestServer {
        handle,
        stats: Default::default(),
        client: reqwest::Client::new(),
        base,
    };

    // Load the model and run one request, so the baseline includes the weights and buffers.
    let r = s
        .post_json("/v1/chat/completions", chat_with(json!({})))
        .await;
    assert_eq!(r.status(), 200);
    let before = rss();

    let lit = "x".repeat(1000);
    let n = 100_000;
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "deep grammar",
            "/v1/chat/completions",
            chat_with(
                json!({"grammar": format!("root ::= {}\"a\"{}", "(".repeat(n), ")".repeat(n))}),
            ),
            "grammar",
        ),
        (
            "deep grammar within the size limit",
            "/v1/chat/completions",
            chat_with(
                json!({"grammar": format!("root ::= {}\"a\"{}", "(".repeat(20_000), ")".repeat(20_000))}),
            ),
            "nests groups",
        ),
        (
            "huge repeat_last_n",
            "/v1/chat/completions",
            chat_with(json!({"repeat_penalty": 1.1, "repeat_last_n": 2147483647})),
            "repeat_last_n",
        ),
        (
            "2 MB prompt",
            "/v1/completions",
            json!({"model": "smollm2", "max_tokens": 4,
                   "prompt": "lorem ipsum dolor sit amet ".repeat(2_000_000 / 27)}),
            "context length",
        ),
        (
            "2 MB chat message",
            "/v1/chat/completions",
            chat_with(json!({"messages": [{"role": "user",
                                           "content": "lorem ipsum dolor sit amet ".repeat(2_000_000 / 27)}]})),
            "context length",
        ),
        (
            "{100000} repetition of a long literal",
            "/v1/chat/completions",
            chat_with(json!({"grammar": format!("root ::= \"{lit}\"{{100000}}")})),
            "repetition count 100000",
        ),
        (
            "{2000} repetition of a long literal",
            "/v1/chat/completions",
            chat_with(json!({"grammar": format!("root ::= \"{lit}\"{{2000}}")})),
            "expands to more than",
        ),
    ];

    let health = async {
        // /health answers while the hostile requests run.
        let mut worst = Duration::ZERO;
        for _ in 0..20 {
            let t0 = Instant::now();
            let r = s.client.get(s.url("/health")).send().await.unwrap();
            assert_eq!(r.status(), 200);
            worst = worst.max(t0.elapsed());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        worst
    };
    let hostile = async {
        for (name, route, body, needle) in &cases {
            for _ in 0..3 {
                let t0 = Instant::now();
                let r = s.post_json(route, body.clone()).await;
                let took = t0.elapsed();
                assert_eq!(r.status(), 400, "{name}");
                let v: Value = r.json().await.unwrap();
                let msg = v["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                assert!(msg.contains(needle), "{name}: {msg}");
                assert!(msg.len() < 2000, "{name}: the message echoes the input");
                assert!(took < Duration::from_secs(10), "{name}: {took:?}");
            }
        }
    };
    let (worst_health, ()) = tokio::join!(health, hostile);
    assert!(worst_health < Duration::from_secs(2), "{worst_health:?}");

    // Still serving.
    let r = s
        .post_json("/v1/chat/completions", chat_with(json!({})))
        .await;
    assert_eq!(r.status(), 200);

    if let (Some(before), Some(after)) = (before, rss()) {
        // The 2 MB bodies come and go; what llama.cpp would have allocated (hundreds of MB)
        // must not stay.
        assert!(
            after as f64 <= before as f64 * 1.2,
            "RSS grew from {} MiB to {} MiB",
            before >> 20,
            after >> 20
        );
    }
    s.handle.shutdown().await;
}
