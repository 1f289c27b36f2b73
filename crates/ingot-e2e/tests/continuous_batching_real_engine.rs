//! Issue 4, continuous batching over HTTP with the real llama.cpp engine and SmolLM2-135M:
//! eight concurrent greedy streams all complete, say what the same prompts say one at a
//! time, and together produce tokens faster than one stream does.
//!
//! One test function on purpose: the model loads once and the suite stays short on two cores.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::real::{model_path, OneModel};
use futures_util::StreamExt;
use ingot_server::ServerConfig;
use serde_json::{json, Value};

const PARALLEL: usize = 8;
const MAX_TOKENS: u64 = 48;
/// Tokens that must match exactly even where batching changed the rest (see below).
const SAME_PREFIX: usize = 8;
/// Aggregate tok/s at concurrency 8 over single-stream tok/s. llama-server reaches 1.37x
/// with this model on the two-core reference machine.
const MIN_SPEEDUP: f64 = 1.2;
/// Measurement rounds at most (more only while the bar is not met).
const ROUNDS: usize = 3;

/// Eight distinct prompts whose answers run to the token limit or close to it, so the
/// concurrent phase keeps all eight slots busy for most of its duration.
const PROMPTS: [&str; PARALLEL] = [
    "Write a short story about a dragon who loves books.",
    "Explain how photosynthesis works.",
    "Describe the city of Paris to a tourist.",
    "What are the benefits of regular exercise?",
    "Write a poem about the ocean at night.",
    "Explain what a computer program is to a child.",
    "Give me some tips for learning a new language.",
    "Describe how bread is made, step by step.",
];

/// One streamed answer: its content deltas (one per generated token: no stop strings are
/// set, so the engine emits every token's text as soon as it is sampled), the usage the
/// server reported, and how long the request took end to end.
struct Answer {
    pieces: Vec<String>,
    completion_tokens: u64,
    finish_reason: String,
    elapsed: Duration,
}

impl Answer {
    fn text(&self) -> String {
        self.pieces.concat()
    }
}

async fn stream_chat(client: &reqwest::Client, base: &str, prompt: &str) -> Answer {
    let body = json!({
        "model": "smollm2",
        "temperature": 0,
        "max_tokens": MAX_TOKENS,
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": prompt}],
    });
    let t0 = Instant::now();
    let r = client
        .post(format!("{base}/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200, "{prompt}");
    let mut stream = r.bytes_stream();
    let mut buf = String::new();
    let mut answer = Answer {
        pieces: Vec::new(),
        completion_tokens: 0,
        finish_reason: String::new(),
        elapsed: Duration::ZERO,
    };
    let mut done = false;
    while let Some(chunk) = stream.next().await {
        buf.push_str(std::str::from_utf8(&chunk.expect("body chunk")).expect("UTF-8 SSE"));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            if data == "[DONE]" {
                done = true;
                continue;
            }
            let v: Value = serde_json::from_str(data).expect("JSON chunk");
            assert!(v.get("error").is_none(), "{prompt}: error event {v}");
            if let Some(n) = v["usage"]["completion_tokens"].as_u64() {
                answer.completion_tokens = n;
            }
            if let Some(c) = v["choices"].get(0) {
                // The first chunk carries the role and no text.
                if let Some(t) = c["delta"]["content"].as_str().filter(|t| !t.is_empty()) {
                    answer.pieces.push(t.to_string());
                }
                if let Some(f) = c["finish_reason"].as_str() {
                    answer.finish_reason = f.to_string();
                }
            }
        }
    }
    answer.elapsed = t0.elapsed();
    assert!(done, "{prompt}: no [DONE]");
    assert!(
        (1..=MAX_TOKENS).contains(&answer.completion_tokens),
        "{prompt}: {} tokens",
        answer.completion_tokens
    );
    answer
}

/// The eight prompts, one request at a time.
async fn one_by_one(client: &reqwest::Client, base: &str) -> Vec<Answer> {
    let mut out = Vec::new();
    for p in PROMPTS {
        out.push(stream_chat(client, base, p).await);
    }
    out
}

/// Single-stream tokens/s: completion tokens over the requests' summed wall time.
fn rate(answers: &[Answer]) -> f64 {
    let tokens: u64 = answers.iter().map(|a| a.completion_tokens).sum();
    let secs: f64 = answers.iter().map(|a| a.elapsed.as_secs_f64()).sum();
    tokens as f64 / secs
}

/// Checks `got` against the one-at-a-time `reference` answers; returns how many diverged
/// after their first [`SAME_PREFIX`] tokens.
fn check_same(reference: &[Answer], got: &[Answer], what: &str) -> usize {
    let mut diverged = 0;
    for ((p, one), many) in PROMPTS.iter().zip(reference).zip(got) {
        assert_eq!(
            many.pieces.len() as u64,
            many.completion_tokens,
            "{p}: one content delta per token"
        );
        if one.pieces == many.pieces {
            assert_eq!(one.finish_reason, many.finish_reason, "{p}");
            continue;
        }
        // Greedy decoding is deterministic for a fixed computation, but batching changes it:
        // llama.cpp multiplies a batch of 8 rows with different kernels/tiling than a batch
        // of 1 (and the attention of each sequence runs over a differently padded KV view),
        // so float sums are accumulated in a different order and logits differ in the last
        // bits. Where two candidate tokens are nearly tied, that flips the argmax and the two
        // continuations drift apart from there on. A real scheduling bug (crossed sequences,
        // wrong positions, a lost or repeated token) shows from the first tokens on, so
        // those must match.
        diverged += 1;
        let n = SAME_PREFIX.min(one.pieces.len()).min(many.pieces.len());
        assert_eq!(
            one.pieces[..n],
            many.pieces[..n],
            "{p}: the first {SAME_PREFIX} tokens differ between single and {what} decoding\n\
             single: {:?}\n{what}: {:?}",
            one.text(),
            many.text()
        );
        eprintln!(
            "{p}: {what} diverged after the common prefix\n  single: {:?}\n  {what}: {:?}",
            one.text(),
            many.text()
        );
    }
    diverged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue4_eight_concurrent_greedy_streams_match_and_outpace_one() {
    let path = tokio::task::spawn_blocking(model_path).await.unwrap();
    let config = ServerConfig {
        host: "127.0.0.1".into(),
        port: 0,
        parallel: PARALLEL,
        max_queue: 0,
        threads: Some(2),
        // 512 cells per sequence: prompt (~40 tokens with the default system prompt) + 48.
        context_length: Some(512 * PARALLEL as u32),
        ..Default::default()
    };
    let engine = Arc::new(ingot_engine::LlamaEngine::new());
    let handle = ingot_server::serve(config, engine, Arc::new(OneModel(path)))
        .await
        .expect("server starts");
    let base = handle.url();
    let client = reqwest::Client::new();

    // Load the model and warm up llama.cpp (first-use allocations) outside the measurements.
    stream_chat(&client, &base, "Hello!").await;

    // One at a time: the reference answers and the single-stream rate (all eight requests
    // together, so one short answer does not skew it).
    let single = one_by_one(&client, &base).await;
    let mut single_rate = rate(&single);
    let mut best = (0.0f64, 0u64, 0.0f64);
    let mut ratio = 0.0;
    for round in 1..=ROUNDS {
        if round > 1 {
            // The machine may be busy with something else (builds, other tests) during one
            // phase and not the other. Measure both again and keep each phase's best round:
            // symmetric, and a real shortfall still fails every round.
            eprintln!(
                "round {}: {ratio:.2}x is under {MIN_SPEEDUP}x, measuring again",
                round - 1
            );
            let again = one_by_one(&client, &base).await;
            check_same(&single, &again, "single, repeated");
            single_rate = single_rate.max(rate(&again));
        }
        // All eight at once (max_queue 0: each must get a slot of its own, or it would be
        // a 503).
        let t0 = Instant::now();
        let tasks: Vec<_> = PROMPTS
            .iter()
            .map(|p| {
                let (client, base) = (client.clone(), base.clone());
                tokio::spawn(async move { stream_chat(&client, &base, p).await })
            })
            .collect();
        let mut batched = Vec::new();
        for t in tasks {
            batched.push(t.await.expect("request task"));
        }
        let wall = t0.elapsed().as_secs_f64();
        let tokens: u64 = batched.iter().map(|a| a.completion_tokens).sum();
        let diverged = check_same(&single, &batched, "batched");
        if tokens as f64 / wall > best.0 {
            best = (tokens as f64 / wall, tokens, wall);
        }
        ratio = best.0 / single_rate;
        let single_tokens: u64 = single.iter().map(|a| a.completion_tokens).sum();
        eprintln!(
            "round {round}: single stream {single_rate:.1} tok/s (best; first round \
             {single_tokens} tokens); {PARALLEL} concurrent: {tokens} tokens in {wall:.2} s = \
             {:.1} tok/s; ratio {ratio:.2}x; {diverged} of {PARALLEL} outputs diverged after \
             the first tokens",
            tokens as f64 / wall
        );
        if ratio >= MIN_SPEEDUP {
            break;
        }
    }
    assert!(
        ratio >= MIN_SPEEDUP,
        "aggregate {:.1} tok/s is only {ratio:.2}x one stream's {single_rate:.1} tok/s \
         (want >= {MIN_SPEEDUP}x)",
        best.0
    );

    // Every slot was released.
    let m = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("\ningot_sequences_active 0\n"), "{m}");
    handle.shutdown().await;
}
