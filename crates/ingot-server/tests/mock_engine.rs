//! The server against the engine crate's `MockEngine`, which has the llama.cpp backend's
//! slot/queue/cancellation semantics — so these tests check the server against the real
//! engine contract, not just against our own test double.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{chat_body, eventually, sse_data, test_config, TestProvider, TestServer};
use futures_util::StreamExt;
use ingot_core::mock::{MockConfig, MockEngine};
use ingot_server::ServerConfig;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start_mock(config: ServerConfig, mock: MockConfig) -> TestServer {
    let engine = Arc::new(MockEngine::new(mock));
    let handle = ingot_server::serve(config, engine, Arc::new(TestProvider))
        .await
        .expect("server starts");
    let base = handle.url();
    TestServer {
        handle,
        stats: Default::default(),
        client: reqwest::Client::new(),
        base,
    }
}

fn long_text() -> String {
    (0..3000).map(|i| format!("w{i} ")).collect()
}

#[tokio::test]
async fn streaming_and_stop_strings_with_the_mock() {
    let s = start_mock(
        test_config(),
        MockConfig::default().with_text("one two three STOP four"),
    )
    .await;
    let mut body = chat_body("tiny-chat");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    body["stop"] = json!("STOP");
    let text = s
        .post_json("/v1/chat/completions", body)
        .await
        .text()
        .await
        .unwrap();
    let events = sse_data(&text);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content.trim_end(), "one two three");
    let fin = chunks
        .iter()
        .find(|c| !c["choices"][0]["finish_reason"].is_null())
        .unwrap();
    assert_eq!(fin["choices"][0]["finish_reason"], "stop");
    assert!(fin["timings"]["ttft_ms"].as_f64().unwrap() > 0.0);
    assert!(
        chunks.last().unwrap()["usage"]["completion_tokens"]
            .as_u64()
            .unwrap()
            >= 3
    );
}

#[tokio::test]
async fn disconnect_frees_the_mock_slot() {
    let mock = MockConfig::default()
        .with_text(&long_text())
        .with_timing(Duration::from_millis(5), Duration::from_millis(5));
    let config = ServerConfig {
        parallel: 1,
        max_queue: 0,
        ..test_config()
    };
    let s = start_mock(config, mock).await;
    let mut body = chat_body("tiny-chat");
    body["stream"] = json!(true);
    let r = s.post_json("/v1/chat/completions", body).await;
    let mut stream = r.bytes_stream();
    stream.next().await.unwrap().unwrap();
    stream.next().await.unwrap().unwrap();
    assert_eq!(s.metric("ingot_sequences_active").await, 1.0);
    drop(stream);
    let freed = eventually(Duration::from_secs(2), || async {
        s.metric("ingot_sequences_active").await == 0.0
            && s.metric("ingot_requests_active").await == 0.0
    })
    .await;
    assert!(freed, "{}", s.metrics().await);
    // The single slot is usable again (with max_queue 0 a busy slot would answer 503).
    let mut b = chat_body("tiny-chat");
    b["max_tokens"] = json!(3);
    assert_eq!(s.post_json("/v1/chat/completions", b).await.status(), 200);
}

#[tokio::test]
async fn non_streaming_disconnect_frees_the_slot() {
    let mock = MockConfig::default()
        .with_text(&long_text())
        .with_timing(Duration::from_millis(5), Duration::from_millis(5));
    let config = ServerConfig {
        parallel: 1,
        max_queue: 0,
        ..test_config()
    };
    let s = start_mock(config, mock).await;
    s.client
        .post(s.url("/v1/models/tiny-chat/load"))
        .send()
        .await
        .unwrap();
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let r = impatient
        .post(s.url("/v1/chat/completions"))
        .json(&chat_body("tiny-chat"))
        .send()
        .await;
    assert!(r.is_err(), "the 15 s generation cannot finish in 300 ms");
    let freed = eventually(Duration::from_secs(2), || async {
        s.metric("ingot_sequences_active").await == 0.0
            && s.metric("ingot_requests_active").await == 0.0
    })
    .await;
    assert!(freed, "{}", s.metrics().await);
}

#[tokio::test]
async fn overload_with_the_mock() {
    let mock = MockConfig::default()
        .with_text(&long_text())
        .with_timing(Duration::from_millis(5), Duration::from_millis(5));
    let config = ServerConfig {
        parallel: 1,
        max_queue: 1,
        ..test_config()
    };
    let s = start_mock(config, mock).await;
    s.client
        .post(s.url("/v1/models/tiny-chat/load"))
        .send()
        .await
        .unwrap();
    let mut body = chat_body("tiny-chat");
    body["stream"] = json!(true);
    let a = s.post_json("/v1/chat/completions", body.clone()).await;
    let b = s.post_json("/v1/chat/completions", body.clone()).await;
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let t0 = Instant::now();
    let r = s
        .post_json("/v1/chat/completions", chat_body("tiny-chat"))
        .await;
    assert_eq!(r.status(), 503);
    assert!(t0.elapsed() < Duration::from_millis(500));
    assert_eq!(r.headers()["retry-after"], "1");
    drop((a, b));
    assert!(
        eventually(Duration::from_secs(2), || async {
            s.metric("ingot_sequences_active").await == 0.0
                && s.metric("ingot_requests_queued").await == 0.0
        })
        .await
    );
}

#[tokio::test]
async fn engine_side_validation_errors_are_400s() {
    let mock = MockConfig {
        has_chat_template: false,
        ..MockConfig::default()
    };
    let s = start_mock(test_config(), mock).await;
    let r = s
        .post_json("/v1/chat/completions", chat_body("tiny-chat"))
        .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "no_chat_template");
    // Raw completions still work on such a model.
    let r = s
        .post_json(
            "/v1/completions",
            json!({"model": "tiny-base", "prompt": "x", "max_tokens": 2}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let config = ServerConfig {
        header_read_timeout: Duration::from_millis(300),
        ..test_config()
    };
    let s = start_mock(config, MockConfig::default()).await;
    let mut sock = tokio::net::TcpStream::connect(s.handle.local_addr())
        .await
        .unwrap();
    sock.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let t0 = Instant::now();
    let mut buf = Vec::new();
    // The server must close the connection (EOF or reset) instead of waiting forever.
    let res = tokio::time::timeout(Duration::from_secs(5), sock.read_to_end(&mut buf)).await;
    assert!(res.is_ok(), "connection still open after 5 s");
    assert!(t0.elapsed() < Duration::from_secs(3));
    // And the server still serves others.
    assert_eq!(s.get_json("/health").await["status"], "ok");
}

/// Issue 8: "a max_tokens cap". Above `--max-tokens-cap` a request gets a 400 that names the
/// cap; without max_tokens a request stops at the cap instead of running to the context end.
#[tokio::test]
async fn issue8_max_tokens_cap_rejects_and_bounds_requests() {
    let config = ServerConfig {
        max_tokens_cap: Some(5),
        ..test_config()
    };
    let s = start_mock(config, MockConfig::default().with_text(&long_text())).await;
    let mut body = chat_body("tiny-chat");
    body["max_tokens"] = json!(6);
    let r = s.post_json("/v1/chat/completions", body).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert_eq!(v["error"]["param"], "max_tokens");
    assert_eq!(v["error"]["code"], "max_tokens_exceeded");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 5"),
        "{v}"
    );

    // Without max_tokens: bounded by the cap.
    let r = s
        .post_json("/v1/chat/completions", chat_body("tiny-chat"))
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["usage"]["completion_tokens"], 5, "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "length");

    // At the cap: allowed.
    let mut body = chat_body("tiny-chat");
    body["max_tokens"] = json!(5);
    assert_eq!(
        s.post_json("/v1/chat/completions", body).await.status(),
        200
    );
}
