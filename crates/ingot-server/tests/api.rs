//! End-to-end tests of the HTTP API against the scripted test engine.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use ingot_server::ServerConfig;
use serde_json::{json, Value};

#[tokio::test]
async fn health_and_list_models() {
    let s = start().await;
    assert_eq!(s.get_json("/health").await["status"], "ok");
    let list = s.get_json("/v1/models").await;
    assert_eq!(list["object"], "list");
    let data = list["data"].as_array().unwrap();
    let ids: Vec<&str> = data.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(
        ids.contains(&"tiny-chat") && ids.contains(&"tiny-base"),
        "{ids:?}"
    );
    let tiny = data.iter().find(|m| m["id"] == "tiny-chat").unwrap();
    assert_eq!(tiny["object"], "model");
    assert_eq!(tiny["owned_by"], "test");
    assert_eq!(tiny["cached"], true);
    assert_eq!(tiny["loaded"], false);
    assert_eq!(tiny["context_length"], 4096);
    assert_eq!(tiny["size"], 123_456);
    assert_eq!(tiny["license"], "apache-2.0");

    // After a request the model shows as loaded.
    assert_eq!(
        s.post_json("/v1/chat/completions", chat_body("tiny-chat"))
            .await
            .status(),
        200
    );
    let m = s.get_json("/v1/models/tiny-chat").await;
    assert_eq!(m["loaded"], true);
    // Aliases resolve on the single-model route too.
    assert_eq!(s.get_json("/v1/models/tiny").await["id"], "tiny-chat");
}

#[tokio::test]
async fn non_streaming_chat_has_usage_and_timings() {
    let s = start().await;
    let r = s
        .post_json("/v1/chat/completions", chat_body("tiny-chat"))
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["model"], "tiny-chat");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], "Hello, world!");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 2);
    assert_eq!(v["usage"]["completion_tokens"], 4);
    assert_eq!(v["usage"]["total_tokens"], 6);
    assert_eq!(v["timings"]["ttft_ms"], 5.0);
    // The first request waited for the load, and says so.
    assert!(v["timings"]["load_ms"].as_f64().unwrap() > 0.0, "{v}");

    // Sampling fields reach the engine; max_completion_tokens wins over max_tokens.
    let r = s
        .post_json(
            "/v1/chat/completions",
            json!({"model": "tiny-chat", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
                   "max_tokens": 100, "max_completion_tokens": 2, "temperature": 0.0, "top_p": 0.5, "seed": 42,
                   "stop": ["\n", "END"], "n": 1, "presence_penalty": 1.0, "logit_bias": {}, "user": "u"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "Hello,");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["timings"]["load_ms"], 0.0);
    let req = s.stats.last_request.lock().unwrap().clone().unwrap();
    assert_eq!(req.sampling.max_tokens, Some(2));
    assert_eq!(req.sampling.temperature, 0.0);
    assert_eq!(req.sampling.top_p, 0.5);
    assert_eq!(req.sampling.seed, 42);
    assert_eq!(req.sampling.stop, vec!["\n".to_string(), "END".to_string()]);
    assert!(req.sampling.grammar.is_none());
}

#[tokio::test]
async fn json_mode_sets_a_grammar() {
    let s = start().await;
    let mut body = chat_body("tiny-chat");
    body["response_format"] = json!({"type": "json_object"});
    assert_eq!(
        s.post_json("/v1/chat/completions", body).await.status(),
        200
    );
    let req = s.stats.last_request.lock().unwrap().clone().unwrap();
    assert!(req.sampling.grammar.unwrap().contains("root"));
}

#[tokio::test]
async fn streaming_chat_with_usage() {
    let s = start().await;
    let mut body = chat_body("tiny-chat");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let r = s.post_json("/v1/chat/completions", body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let events = sse_data(&text);
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    // Role first, then content, then the finish chunk with timings, then usage.
    assert_eq!(chunks[0]["object"], "chat.completion.chunk");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Hello, world!");
    let n = chunks.len();
    let fin = &chunks[n - 2];
    assert_eq!(fin["choices"][0]["finish_reason"], "stop");
    assert!(fin["timings"].is_object());
    let usage = &chunks[n - 1];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["total_tokens"], 6);
    // Only the finish chunk carries a finish_reason; ids are stable across the stream.
    assert_eq!(
        chunks
            .iter()
            .filter(|c| !c["choices"][0]["finish_reason"].is_null())
            .count(),
        1
    );
    assert!(chunks.iter().all(|c| c["id"] == chunks[0]["id"]));
}

#[tokio::test]
async fn streaming_without_usage_has_no_usage_chunk() {
    let s = start().await;
    let mut body = chat_body("tiny-chat");
    body["stream"] = json!(true);
    let text = s
        .post_json("/v1/chat/completions", body)
        .await
        .text()
        .await
        .unwrap();
    let events = sse_data(&text);
    assert_eq!(events.last().unwrap(), "[DONE]");
    assert!(
        events[..events.len() - 1]
            .iter()
            .all(|e| !e.contains("\"usage\"")),
        "{text}"
    );
}

#[tokio::test]
async fn completions_plain_and_streaming() {
    let s = start().await;
    let r = s
        .post_json(
            "/v1/completions",
            json!({"model": "tiny-base", "prompt": "Once upon", "max_tokens": 3, "echo": false}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"][0]["text"], "Hello, world");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 3);
    assert!(v["timings"].is_object());
    let req = s.stats.last_request.lock().unwrap().clone().unwrap();
    assert!(matches!(req.prompt, ingot_core::Prompt::Raw(ref p) if p == "Once upon"));

    let r = s
        .post_json(
            "/v1/completions",
            json!({"model": "tiny-base", "prompt": ["Once"], "stream": true, "stream_options": {"include_usage": true}}),
        )
        .await;
    let text = r.text().await.unwrap();
    let events = sse_data(&text);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let joined: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(joined, "Hello, world!");
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 4);

    let r = s
        .post_json(
            "/v1/completions",
            json!({"model": "tiny-base", "prompt": ["a", "b"]}),
        )
        .await;
    assert_eq!(r.status(), 400);
}

async fn expect_error(r: reqwest::Response, status: u16, kind: &str) -> Value {
    assert_eq!(r.status(), status);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], kind, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    v
}

#[tokio::test]
async fn unknown_model_is_404_listing_models() {
    let s = start().await;
    let r = s
        .post_json("/v1/chat/completions", chat_body("gpt-4"))
        .await;
    let v = expect_error(r, 404, "invalid_request_error").await;
    assert_eq!(v["error"]["code"], "model_not_found");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("gpt-4") && msg.contains("tiny-chat"), "{msg}");
    let r = s
        .client
        .get(s.url("/v1/models/gpt-4"))
        .send()
        .await
        .unwrap();
    expect_error(r, 404, "invalid_request_error").await;
    // The failed lookup left nothing behind: a later valid request still works.
    assert_eq!(
        s.post_json("/v1/chat/completions", chat_body("tiny-chat"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn bad_requests_get_exact_statuses() {
    let s = start().await;
    let post_raw = |body: &'static str| {
        s.client
            .post(s.url("/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let v = expect_error(
        post_raw("{\"model\": ").await.unwrap(),
        400,
        "invalid_request_error",
    )
    .await;
    assert_eq!(v["error"]["code"], "invalid_json");

    // `n` above OpenAI's limit (n > 1 within the slots is served: tests/python/n_choices.py).
    let mut b = chat_body("tiny-chat");
    b["n"] = json!(129);
    let v = expect_error(
        s.post_json("/v1/chat/completions", b).await,
        400,
        "invalid_request_error",
    )
    .await;
    assert_eq!(v["error"]["param"], "n");

    let mut b = chat_body("tiny-chat");
    b["max_tokens"] = json!("ten");
    let v = expect_error(
        s.post_json("/v1/chat/completions", b).await,
        400,
        "invalid_request_error",
    )
    .await;
    assert_eq!(v["error"]["param"], "max_tokens");

    let mut b = chat_body("tiny-chat");
    b["temperature"] = json!("hot");
    expect_error(
        s.post_json("/v1/chat/completions", b).await,
        400,
        "invalid_request_error",
    )
    .await;

    let v = expect_error(
        s.post_json(
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "x"}]}),
        )
        .await,
        400,
        "invalid_request_error",
    )
    .await;
    assert!(v["error"]["message"].as_str().unwrap().contains("model"));

    let v = expect_error(
        s.post_json(
            "/v1/chat/completions",
            json!({"model": "tiny-chat", "messages": []}),
        )
        .await,
        400,
        "invalid_request_error",
    )
    .await;
    assert_eq!(v["error"]["param"], "messages");

    let v = expect_error(
        s.post_json(
            "/v1/chat/completions",
            json!({"model": "tiny-chat", "messages": [{"role": "wizard", "content": "x"}]}),
        )
        .await,
        400,
        "invalid_request_error",
    )
    .await;
    assert_eq!(v["error"]["param"], "messages[0].role");

    let mut b = chat_body("tiny-chat");
    b["max_tokens"] = json!(-5);
    expect_error(
        s.post_json("/v1/chat/completions", b).await,
        400,
        "invalid_request_error",
    )
    .await;

    // Larger than the per-sequence context (4096 / 4 slots).
    let mut b = chat_body("tiny-chat");
    b["max_tokens"] = json!(1_000_000);
    let v = expect_error(
        s.post_json("/v1/chat/completions", b).await,
        400,
        "invalid_request_error",
    )
    .await;
    assert_eq!(v["error"]["code"], "context_length_exceeded");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("1024"),
        "{v}"
    );

    // Fits the pre-check, but not with the prompt: the engine's overflow error maps too.
    let mut b = chat_body("tiny-chat");
    b["max_tokens"] = json!(1023);
    let v = expect_error(
        s.post_json("/v1/chat/completions", b).await,
        400,
        "invalid_request_error",
    )
    .await;
    assert_eq!(v["error"]["code"], "context_length_exceeded");

    let mut b = chat_body("tiny-chat");
    b["max_tokens"] = json!(10_000_000_000_000u64);
    expect_error(
        s.post_json("/v1/chat/completions", b).await,
        400,
        "invalid_request_error",
    )
    .await;

    let mut b = chat_body("tiny-chat");
    b["response_format"] = json!({"type": "json_schema"});
    expect_error(
        s.post_json("/v1/chat/completions", b).await,
        400,
        "invalid_request_error",
    )
    .await;

    // 10 MB body: 413 in OpenAI JSON, not axum's plain text.
    let big = format!(
        "{{\"model\":\"tiny-chat\",\"messages\":[{{\"role\":\"user\",\"content\":\"{}\"}}]}}",
        "a".repeat(10 * 1024 * 1024)
    );
    let r = s
        .client
        .post(s.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let v = expect_error(r, 413, "invalid_request_error").await;
    assert_eq!(v["error"]["code"], "request_too_large");

    // Unknown routes and methods are OpenAI-shaped too.
    let r = s.client.get(s.url("/v1/nope")).send().await.unwrap();
    expect_error(r, 404, "invalid_request_error").await;
    let r = s
        .client
        .get(s.url("/v1/chat/completions"))
        .send()
        .await
        .unwrap();
    expect_error(r, 405, "invalid_request_error").await;

    // None of that hurt the server.
    assert_eq!(
        s.post_json("/v1/chat/completions", chat_body("tiny-chat"))
            .await
            .status(),
        200
    );
    let m = s.metrics().await;
    assert!(m.contains("ingot_requests_total{code=\"400\"}"), "{m}");
    assert!(m.contains("ingot_requests_total{code=\"413\"} 1"), "{m}");
}

#[tokio::test]
async fn mid_stream_failure_sends_error_event_then_done() {
    let s = start().await;
    let body = json!({"model": "tiny-chat", "stream": true, "messages": [{"role": "user", "content": "FAIL_MIDSTREAM"}]});
    let text = s
        .post_json("/v1/chat/completions", body)
        .await
        .text()
        .await
        .unwrap();
    let events = sse_data(&text);
    assert_eq!(events.last().unwrap(), "[DONE]", "{text}");
    let err: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(err["error"]["type"], "server_error");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("scripted decode failure"));
    // Non-streaming: a 500 with the same error.
    let body =
        json!({"model": "tiny-chat", "messages": [{"role": "user", "content": "FAIL_MIDSTREAM"}]});
    expect_error(
        s.post_json("/v1/chat/completions", body).await,
        500,
        "server_error",
    )
    .await;
}

#[tokio::test]
async fn client_disconnect_cancels_the_sequence() {
    let script = Script {
        tokens: (0..2000).map(|i| format!("t{i} ")).collect(),
        token_delay: Duration::from_millis(5),
        ..Script::default()
    };
    let s = start_with(test_config(), script).await;
    let mut body = chat_body("tiny-chat");
    body["stream"] = json!(true);
    let r = s.post_json("/v1/chat/completions", body).await;
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let mut seen = 0;
    while seen < 5 {
        let chunk = stream.next().await.unwrap().unwrap();
        seen += String::from_utf8_lossy(&chunk).matches("data: ").count();
    }
    assert_eq!(s.metric("ingot_requests_active").await, 1.0);
    drop(stream);
    let ok = eventually(Duration::from_secs(3), || async {
        s.stats.cancelled.load(Ordering::SeqCst) == 1
            && s.metric("ingot_requests_active").await == 0.0
            && s.metric("ingot_sequences_active").await == 0.0
    })
    .await;
    assert!(ok, "not cancelled: {}", s.metrics().await);
    assert_eq!(s.stats.completed.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn full_queue_gets_fast_503_and_server_stays_healthy() {
    let script = Script {
        tokens: (0..40).map(|i| format!("t{i} ")).collect(),
        token_delay: Duration::from_millis(25),
        ..Script::default()
    };
    let config = ServerConfig {
        parallel: 1,
        max_queue: 1,
        ..test_config()
    };
    let s = start_with(config, script).await;
    // Load first so the two occupants below are decoding/queued, not waiting for a load.
    assert_eq!(
        s.client
            .post(s.url("/v1/models/tiny-chat/load"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let mut body = chat_body("tiny-chat");
    body["stream"] = json!(true);
    let a = s.post_json("/v1/chat/completions", body.clone()).await; // decoding
    let b = s.post_json("/v1/chat/completions", body.clone()).await; // queued
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    assert!(
        eventually(Duration::from_secs(2), || async {
            s.metric("ingot_requests_queued").await == 1.0
        })
        .await
    );

    let t0 = Instant::now();
    let r = s
        .post_json("/v1/chat/completions", chat_body("tiny-chat"))
        .await;
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "503 took {:?}",
        t0.elapsed()
    );
    assert_eq!(r.headers()["retry-after"], "1");
    let v = expect_error(r, 503, "server_error").await;
    assert_eq!(v["error"]["code"], "overloaded");

    assert_eq!(s.get_json("/health").await["status"], "ok");
    // The occupants finish normally, and then there is room again.
    let (ta, tb) = (a.text().await.unwrap(), b.text().await.unwrap());
    assert!(ta.ends_with("data: [DONE]\n\n") && tb.ends_with("data: [DONE]\n\n"));
    assert_eq!(
        s.post_json("/v1/chat/completions", chat_body("tiny-chat"))
            .await
            .status(),
        200
    );
    assert!(s
        .metrics()
        .await
        .contains("ingot_requests_total{code=\"503\"} 1"));
}

#[tokio::test]
async fn metrics_exposition_has_histograms_counters_and_gauges() {
    let s = start().await;
    for _ in 0..2 {
        let mut body = chat_body("tiny-chat");
        body["stream"] = json!(true);
        s.post_json("/v1/chat/completions", body)
            .await
            .text()
            .await
            .unwrap();
    }
    s.post_json("/v1/chat/completions", chat_body("tiny-chat"))
        .await
        .text()
        .await
        .unwrap();
    let r = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let m = r.text().await.unwrap();
    for name in [
        "ingot_time_to_first_token_seconds",
        "ingot_inter_token_latency_seconds",
        "ingot_request_duration_seconds",
        "ingot_queue_time_seconds",
    ] {
        assert!(m.contains(&format!("# TYPE {name} histogram")), "{name}");
        assert!(
            m.contains(&format!("{name}_bucket{{le=\"+Inf\"}}")),
            "{name}"
        );
        assert!(m.contains(&format!("{name}_count")), "{name}");
    }
    assert!(
        m.contains("ingot_time_to_first_token_seconds_count 3"),
        "{m}"
    );
    // 4 tokens per response → 3 gaps each.
    assert!(
        m.contains("ingot_inter_token_latency_seconds_count 9"),
        "{m}"
    );
    assert_eq!(s.metric("ingot_prompt_tokens_total").await, 6.0);
    assert_eq!(s.metric("ingot_completion_tokens_total").await, 12.0);
    assert_eq!(s.metric("ingot_models_loaded").await, 1.0);
    assert_eq!(s.metric("ingot_requests_active").await, 0.0);
    assert!(m.contains("ingot_requests_total{code=\"200\"} 3"), "{m}");
}

#[tokio::test]
async fn concurrent_first_requests_load_once() {
    let script = Script {
        load_delay: Duration::from_millis(300),
        ..Script::default()
    };
    let s = start_with(test_config(), script).await;
    let reqs = (0..6).map(|i| {
        // Mix the alias in: it must share the same load.
        let model = if i % 2 == 0 { "tiny-chat" } else { "tiny" };
        s.post_json("/v1/chat/completions", chat_body(model))
    });
    let results = futures_util::future::join_all(reqs).await;
    assert!(results.iter().all(|r| r.status() == 200));
    assert_eq!(s.stats.loads.load(Ordering::SeqCst), 1);
    let ps = s.get_json("/v1/ps").await;
    assert_eq!(ps["data"].as_array().unwrap().len(), 1);
    assert_eq!(ps["data"][0]["id"], "tiny-chat");
}

#[tokio::test]
async fn load_unload_and_ps() {
    let s = start().await;
    assert_eq!(s.get_json("/v1/ps").await["data"], json!([]));

    let r = s
        .client
        .post(s.url("/v1/models/tiny-chat/load"))
        .json(&json!({"ttl": 120}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let st: Value = r.json().await.unwrap();
    assert_eq!(st["id"], "tiny-chat");
    assert_eq!(st["ttl"], 120);
    assert_eq!(st["size"], 123_456);
    assert_eq!(st["context_length"], 4096);
    assert_eq!(st["n_parallel"], 4);
    let expires = st["expires_at"].as_u64().unwrap();
    assert!(expires > st["loaded_at"].as_u64().unwrap() + 100, "{st}");

    // Loading again is a no-op apart from the TTL.
    let r = s
        .client
        .post(s.url("/v1/models/tiny-chat/load"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.stats.loads.load(Ordering::SeqCst), 1);

    let ps = s.get_json("/v1/ps").await;
    assert_eq!(ps["object"], "list");
    assert_eq!(ps["data"][0]["id"], "tiny-chat");
    assert_eq!(ps["data"][0]["path"], "/models/tiny-chat.gguf");

    let r = s
        .client
        .post(s.url("/v1/models/tiny-chat/unload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["unloaded"], true);
    assert_eq!(s.get_json("/v1/ps").await["data"], json!([]));
    assert!(
        eventually(Duration::from_secs(2), || async {
            s.stats.unloads.load(Ordering::SeqCst) == 1
        })
        .await
    );

    // Idempotent for known models, 404 for unknown ones.
    let r = s
        .client
        .post(s.url("/v1/models/tiny-chat/unload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["unloaded"], false);
    let r = s
        .client
        .post(s.url("/v1/models/nope/unload"))
        .send()
        .await
        .unwrap();
    expect_error(r, 404, "invalid_request_error").await;
    let r = s
        .client
        .post(s.url("/v1/models/nope/load"))
        .send()
        .await
        .unwrap();
    expect_error(r, 404, "invalid_request_error").await;
    let r = s
        .client
        .post(s.url("/v1/models/tiny-chat/load"))
        .header("content-type", "application/json")
        .body("{bad")
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "invalid_request_error").await;

    // A model whose load fails: 500, and nothing is left half-loaded.
    let r = s
        .client
        .post(s.url("/v1/models/broken/load"))
        .send()
        .await
        .unwrap();
    let v = expect_error(r, 500, "server_error").await;
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("scripted failure"));
    assert_eq!(s.get_json("/v1/ps").await["data"], json!([]));
}

#[tokio::test]
async fn idle_ttl_unloads() {
    let config = ServerConfig {
        default_ttl: Duration::from_millis(600),
        ..test_config()
    };
    let s = start_with(config, Script::default()).await;
    assert_eq!(
        s.post_json("/v1/chat/completions", chat_body("tiny-chat"))
            .await
            .status(),
        200
    );
    // A per-load TTL override keeps the other model longer.
    let r = s
        .client
        .post(s.url("/v1/models/tiny-base/load"))
        .json(&json!({"ttl": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ok = eventually(Duration::from_secs(3), || async {
        let ps = s.get_json("/v1/ps").await;
        ps["data"].as_array().unwrap().len() == 1 && ps["data"][0]["id"] == "tiny-base"
    })
    .await;
    assert!(ok);
    assert!(
        eventually(Duration::from_secs(2), || async {
            s.stats.unloads.load(Ordering::SeqCst) == 1
        })
        .await
    );
    assert_eq!(s.metric("ingot_models_loaded").await, 1.0);
    // Using it again reloads transparently.
    assert_eq!(
        s.post_json("/v1/chat/completions", chat_body("tiny-chat"))
            .await
            .status(),
        200
    );
    assert_eq!(s.stats.loads.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn ttl_does_not_unload_a_busy_model() {
    let script = Script {
        tokens: (0..60).map(|i| format!("t{i} ")).collect(),
        token_delay: Duration::from_millis(20),
        ..Script::default()
    };
    let config = ServerConfig {
        default_ttl: Duration::from_millis(300),
        ..test_config()
    };
    let s = start_with(config, script).await;
    // ~1.2 s of generation, well past the TTL.
    let r = s
        .post_json("/v1/chat/completions", chat_body("tiny-chat"))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(s.stats.unloads.load(Ordering::SeqCst), 0);
    assert_eq!(s.stats.completed.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn lru_eviction_past_max_loaded() {
    let config = ServerConfig {
        max_loaded_models: 2,
        ..test_config()
    };
    let s = start_with(config, Script::default()).await;
    for m in ["tiny-chat", "tiny-base", "tiny-chat", "other"] {
        assert_eq!(
            s.post_json("/v1/chat/completions", chat_body(m))
                .await
                .status(),
            200,
            "{m}"
        );
    }
    let ps = s.get_json("/v1/ps").await;
    let mut ids: Vec<&str> = ps["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["other", "tiny-chat"]);
    assert!(
        eventually(Duration::from_secs(2), || async {
            s.stats.unloads.load(Ordering::SeqCst) == 1
        })
        .await
    );
    assert_eq!(s.stats.loads.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn download_streams_progress() {
    let s = start().await;
    let r = s
        .client
        .post(s.url("/v1/models/third/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let events = sse_data(&r.text().await.unwrap());
    assert_eq!(events.last().unwrap(), "[DONE]");
    let parsed: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert!(parsed.iter().any(|e| e["status"] == "progress"));
    let done = parsed.last().unwrap();
    assert_eq!(done["status"], "done");
    assert!(
        parsed
            .iter()
            .any(|e| e["downloaded_bytes"] == 1000 && e["total_bytes"] == 1000),
        "{parsed:?}"
    );
    let r = s
        .client
        .post(s.url("/v1/models/nope/download"))
        .send()
        .await
        .unwrap();
    expect_error(r, 404, "invalid_request_error").await;
}

#[tokio::test]
async fn api_key_is_required_when_set() {
    let config = ServerConfig {
        api_key: Some("sekrit".into()),
        ..test_config()
    };
    let s = start_with(config, Script::default()).await;
    // /health stays open for load balancers and `ingot serve` readiness checks.
    assert_eq!(
        s.client
            .get(s.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = s.client.get(s.url("/v1/models")).send().await.unwrap();
    let v = expect_error(r, 401, "invalid_request_error").await;
    assert_eq!(v["error"]["code"], "invalid_api_key");
    let r = s
        .client
        .get(s.url("/v1/models"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    expect_error(r, 401, "invalid_request_error").await;
    let r = s
        .client
        .get(s.url("/v1/models"))
        .bearer_auth("sekri")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = s
        .client
        .get(s.url("/v1/models"))
        .bearer_auth("sekrit")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .client
        .post(s.url("/v1/chat/completions"))
        .bearer_auth("sekrit")
        .json(&chat_body("tiny"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn non_loopback_bind_requires_a_key() {
    let stats = std::sync::Arc::new(Stats::default());
    let engine = std::sync::Arc::new(TestEngine {
        script: Script::default(),
        stats,
    });
    let config = ingot_server::ServerConfig {
        host: "0.0.0.0".into(),
        port: 0,
        ..Default::default()
    };
    let err = ingot_server::serve(
        config.clone(),
        engine.clone(),
        std::sync::Arc::new(TestProvider),
    )
    .await
    .err()
    .expect("refused");
    assert!(
        matches!(err, ingot_server::ServeError::InsecureBind { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("API key"), "{err}");
    // `localhost` and `::1`-style loopback names are fine without a key.
    let h = ingot_server::serve(
        ingot_server::ServerConfig {
            host: "localhost".into(),
            port: 0,
            ..Default::default()
        },
        engine.clone(),
        std::sync::Arc::new(TestProvider),
    )
    .await
    .expect("localhost is loopback");
    assert!(h.local_addr().ip().is_loopback());
    h.shutdown().await;
    // With a key, any address is allowed.
    let h = ingot_server::serve(
        ingot_server::ServerConfig {
            api_key: Some("k".into()),
            ..config
        },
        engine,
        std::sync::Arc::new(TestProvider),
    )
    .await
    .expect("with a key");
    assert_ne!(h.local_addr().port(), 0);
    h.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_stops_listening() {
    let s = start().await;
    let url = s.url("/health");
    assert_eq!(s.client.get(&url).send().await.unwrap().status(), 200);
    let t0 = Instant::now();
    s.handle.shutdown().await;
    assert!(t0.elapsed() < Duration::from_secs(5));
    let fresh = reqwest::Client::new();
    assert!(fresh.get(&url).send().await.is_err());
}

#[tokio::test]
async fn responses_name_the_canonical_model() {
    let s = start().await;
    let v: Value = s
        .post_json("/v1/chat/completions", chat_body("tiny"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["model"], "tiny-chat");
}

#[tokio::test]
async fn shutdown_cuts_streams_that_outlive_the_timeout() {
    let script = Script {
        tokens: (0..5000).map(|i| format!("t{i} ")).collect(),
        token_delay: Duration::from_millis(5),
        ..Script::default()
    };
    let config = ServerConfig {
        shutdown_timeout: Duration::from_millis(300),
        ..test_config()
    };
    let s = start_with(config, script).await;
    let mut body = chat_body("tiny-chat");
    body["stream"] = json!(true);
    let r = s.post_json("/v1/chat/completions", body).await;
    let mut stream = r.bytes_stream();
    stream.next().await.unwrap().unwrap();
    let stats = s.stats.clone();
    let t0 = Instant::now();
    s.handle.shutdown().await;
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        t0.elapsed()
    );
    // The stream ends (cut) and the engine saw the cancellation.
    let drained = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
    assert!(drained.is_ok(), "stream still open after shutdown");
    assert!(
        eventually(Duration::from_secs(2), || async {
            stats.cancelled.load(Ordering::SeqCst) == 1
        })
        .await
    );
}

#[tokio::test]
async fn preload_and_shutdown_trigger() {
    let s = start().await;
    let st = s
        .handle
        .load_model("tiny", Some(Duration::from_secs(0)))
        .await
        .unwrap();
    assert_eq!(st.id, "tiny-chat");
    assert_eq!(st.expires_at, None, "ttl 0 never expires");
    let err = s.handle.load_model("nope", None).await.unwrap_err();
    assert_eq!(err.status(), 404);
    let ps = s.get_json("/v1/ps").await;
    assert_eq!(ps["data"][0]["ttl"], 0);

    let trigger = s.handle.shutdown_trigger();
    let waiter = tokio::spawn(s.handle.wait());
    trigger.shutdown();
    tokio::time::timeout(Duration::from_secs(3), waiter)
        .await
        .expect("wait returns after the trigger")
        .unwrap();
    // Shutdown unloads the models.
    assert!(
        eventually(Duration::from_secs(2), || async {
            s.stats.unloads.load(Ordering::SeqCst) == 1
        })
        .await
    );
}
