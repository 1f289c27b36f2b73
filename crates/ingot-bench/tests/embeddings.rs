//! Embedding models in `ingot bench` (issue 15): a mixed in-process run on the engine's
//! scripted mock (a chat model and an embedding model side by side), and an endpoint run
//! against a fake `/v1/embeddings` server bound to port 0. The figures are checked against
//! what was sent: inputs = requests × batch, tokens from the usage or the engine's count.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ingot_bench::results::Status;
use ingot_bench::run::{ModelSpec, RunConfig, TargetSpec};
use ingot_bench::spec::embed::{batch_for, embedding_texts, EmbedSpec};
use ingot_bench::workload::{builtin_prompts, GenParams};
use ingot_core::mock::{MockConfig, MockEngine};
use ingot_core::ResolvedModel;
use ingot_core::{Capability, ModelDescriptor, ModelDetails, ModelProvider, ProviderError};

fn validate(results: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/results.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(results)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "schema:\n{}", errors.join("\n"));
}

/// Files for any alias; `minilm` is listed with the `embedding` capability.
struct Files(PathBuf);

impl ModelProvider for Files {
    fn list(&self) -> Vec<ModelDescriptor> {
        vec![ModelDescriptor {
            id: "minilm".into(),
            capabilities: vec![Capability::Embedding],
            ..ModelDescriptor::default()
        }]
    }
    fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
        let path = self.0.join(format!("{id}.gguf"));
        std::fs::write(&path, b"GGUF").map_err(|e| ProviderError::Other(e.to_string()))?;
        Ok(ResolvedModel {
            id: id.into(),
            path,
            chat_template: None,
            context_length: None,
        })
    }
    fn details(&self, _: &str) -> Option<ModelDetails> {
        Some(ModelDetails {
            chat_template: Some(true),
            license: Some("Apache-2.0".into()),
            license_permissive: Some(true),
            ..ModelDetails::default()
        })
    }
}

/// Tokens of request `i` as the mock counts them (one per word).
fn words_of_batch(i: u64, batch: usize) -> u64 {
    let prompts: Vec<_> = builtin_prompts().into_iter().map(Arc::new).collect();
    let texts = embedding_texts(&prompts);
    batch_for(&texts, i, batch)
        .iter()
        .map(|t| t.split_whitespace().count() as u64)
        .sum()
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

#[test]
fn mixed_in_process_run_measures_each_model_its_own_way() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let engine = Arc::new(MockEngine::new(
        MockConfig::default().with_timing(Duration::from_millis(2), Duration::from_millis(1)),
    ));
    let batch = 3;
    let cfg = RunConfig::builder()
        .models(
            ["chat-model", "minilm"]
                .iter()
                .map(|a| ModelSpec {
                    alias: a.to_string(),
                    mode: None,
                })
                .collect(),
        )
        .gen(GenParams {
            max_tokens: 4,
            ..GenParams::default()
        })
        .rounds(2)
        .concurrency(vec![1, 2])
        .embed(EmbedSpec {
            batch,
            ..EmbedSpec::default()
        })
        .out_dir(out.clone())
        .calibrate(false)
        .build()
        .unwrap();
    let res = ingot_bench::run::run(&cfg, &Files(dir.path().to_path_buf()), engine).unwrap();
    let r = &res.results;
    assert_eq!(r.models.len(), 2);
    let (chat, emb) = (&r.models[0], &r.models[1]);
    assert_eq!((chat.status, emb.status), (Status::Ok, Status::Ok));

    // The chat model: generations, no embedding block.
    assert!(chat.embedding.is_none());
    assert_eq!(chat.scenarios.len(), 2);
    assert!(
        chat.scenarios[0]
            .metrics
            .as_ref()
            .unwrap()
            .completion_tokens
            > 0
    );

    // The embedding model: no chat scenarios, no quality, its own figures.
    assert!(emb.scenarios.is_empty());
    assert!(emb.quality.is_none());
    let e = emb.embedding.as_ref().unwrap();
    assert_eq!(e.batch_size, batch);
    assert_eq!(e.dimensions, Some(ingot_core::embed::MOCK_EMBED_DIMS));
    assert_eq!(e.pooling.as_deref(), Some("last"));
    assert_eq!(e.normalized, Some(true));
    assert_eq!(e.scenarios.len(), 2);
    // 4 built-in texts in batches of 3: 2 requests a pass, 2 rounds: 4 requests.
    let per_scenario = 4u64;
    for s in &e.scenarios {
        let m = s.metrics.as_ref().unwrap();
        assert_eq!(m.requests as u64, per_scenario, "{}", s.scenario.name);
        assert_eq!(m.failed, 0);
        assert_eq!(m.inputs, per_scenario * batch as u64);
        let tokens: u64 = (0..per_scenario).map(|i| words_of_batch(i, batch)).sum();
        assert_eq!(m.input_tokens, tokens);
        let (rps, ips, tps) = (
            m.requests_per_s.unwrap(),
            m.inputs_per_s.unwrap(),
            m.input_tokens_per_s.unwrap(),
        );
        assert!((ips / rps - batch as f64).abs() < 1e-9);
        assert!((tps / rps - tokens as f64 / per_scenario as f64).abs() < 1e-6);
        assert_eq!(m.latency_ms.n, per_scenario as usize);
        assert!(m.latency_ms.p50.unwrap() <= m.latency_ms.p99.unwrap());
    }
    assert_eq!(e.sanity.vectors, 2 * per_scenario * batch as u64);
    assert!(e.sanity.passed());
    // The recommendation ranks generation models only.
    let sel = r.selection.as_ref().unwrap();
    assert_eq!(sel.recommended.as_deref(), Some("chat-model"));

    // The records: embedding requests (warm-up included, flagged), tokens from the engine.
    let emb_recs: Vec<_> = res.records.iter().filter(|x| x.model == "minilm").collect();
    assert!(emb_recs.iter().all(|x| x.embedding.is_some()));
    assert!(emb_recs.iter().any(|x| x.warmup && x.scenario == "warmup"));
    assert_eq!(
        emb_recs.iter().filter(|x| !x.warmup).count() as u64,
        2 * per_scenario
    );

    // Every report shows both kinds.
    let json: serde_json::Value = serde_json::from_str(&read(&out, "results.json")).unwrap();
    validate(&json);
    assert_eq!(json["models"][1]["embedding"]["dimensions"], 8);
    assert!(json["models"][0].get("embedding").is_none());
    let md = read(&out, "report.md");
    assert!(md.contains("## Embedding models"));
    assert!(md.contains("| minilm | n/a — embedding model | ok |"));
    let row = md
        .lines()
        .find(|l| l.starts_with("| minilm | c1 |"))
        .expect("an embedding row for c1");
    assert!(row.contains("| 3 | 8 | last | yes | 4 | 0 |"), "{row}");
    assert!(row.contains("ok (24 vectors)"), "{row}");
    let html = read(&out, "report.html");
    assert!(html.contains("<h2>Embedding models</h2>"));
    assert!(html.contains("n/a — embedding model"));
    let csv = read(&out, "results.csv");
    assert!(csv.starts_with("model,scenario,metric,stat,value,kind\n"));
    assert!(csv.contains(&format!(
        "minilm,c1,inputs,value,{},embedding\n",
        per_scenario * batch as u64
    )));
    assert!(csv.contains("minilm,,dimensions,value,8,embedding\n"));
    assert!(csv.contains("chat-model,c1,requests,value,"));
    assert!(csv
        .lines()
        .filter(|l| l.starts_with("chat-model,"))
        .all(|l| l.ends_with(",chat")));
    let jsonl = read(&out, "requests.jsonl");
    assert!(jsonl
        .lines()
        .any(|l| l.contains("\"model\":\"minilm\"") && l.contains("\"embedding\":{\"inputs\":3")));
    let terminal = ingot_bench::report::terminal_table(r);
    assert!(terminal.contains("embedding model") && terminal.contains("ok (24 vectors)"));
}

/// A fake OpenAI `/v1/embeddings`: unit vectors of 4 dimensions, usage = words of the inputs.
/// Records each request's path, model and number of inputs.
fn fake_server() -> (String, Arc<Mutex<Vec<(String, String, usize)>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let log = log.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                        break;
                    }
                    let lower = h.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let req: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let inputs: Vec<String> = req["input"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect();
                let words: usize = inputs.iter().map(|t| t.split_whitespace().count()).sum();
                log.lock().unwrap().push((
                    path,
                    req["model"].as_str().unwrap_or("").to_string(),
                    inputs.len(),
                ));
                let data: Vec<_> = (0..inputs.len())
                    .map(|i| serde_json::json!({"object": "embedding", "index": i, "embedding": [0.0, 0.6, 0.0, 0.8]}))
                    .collect();
                let resp = serde_json::json!({
                    "object": "list", "data": data, "model": req["model"],
                    "usage": {"prompt_tokens": words, "total_tokens": words},
                    "pooling": "mean", "normalized": true,
                })
                .to_string();
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{resp}",
                    resp.len()
                );
            });
        }
    });
    (url, seen)
}

#[test]
fn endpoint_run_posts_batches_to_v1_embeddings() {
    let (url, seen) = fake_server();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let batch = 5;
    let cfg = RunConfig::builder()
        .models(vec![ModelSpec {
            alias: "remote-embed".into(),
            mode: None,
        }])
        .target(TargetSpec::Endpoint {
            url: url.clone(),
            api_key: None,
            server_pid: None,
        })
        .concurrency(vec![2])
        .requests(Some(6))
        .embed(EmbedSpec {
            batch,
            all: true,
            models: Vec::new(),
        })
        .out_dir(out.clone())
        .calibrate(false)
        .build()
        .unwrap();
    let engine = Arc::new(MockEngine::new(MockConfig::default()));
    let res = ingot_bench::run::run(&cfg, &Files(dir.path().to_path_buf()), engine).unwrap();
    let m = &res.results.models[0];
    assert_eq!(m.status, Status::Ok, "{:?}", m.reason);
    let e = m.embedding.as_ref().unwrap();
    assert_eq!(e.dimensions, Some(4));
    assert_eq!(e.pooling.as_deref(), Some("mean"));
    assert_eq!(e.normalized, Some(true));
    assert!(e.sanity.passed());
    assert_eq!(e.sanity.vectors, 6 * batch as u64);
    let d = e.scenarios[0].metrics.as_ref().unwrap();
    assert_eq!((d.requests, d.failed), (6, 0));
    assert_eq!(d.inputs, 6 * batch as u64);
    let tokens: u64 = (0..6).map(|i| words_of_batch(i, batch)).sum();
    assert_eq!(d.input_tokens, tokens);
    assert!(d.input_tokens_per_s.unwrap() > 0.0);
    // One warm-up request (4 texts fit one batch of 5), then the 6 measured.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 7);
    assert!(seen
        .iter()
        .all(|(p, model, n)| p == "/v1/embeddings" && model == "remote-embed" && *n == batch));
    let json: serde_json::Value = serde_json::from_str(&read(&out, "results.json")).unwrap();
    validate(&json);
    assert!(read(&out, "report.md").contains("## Embedding models"));
}

/// A server that answers garbage: every request fails, the model is `failed`, and the
/// reports (with the errors) are still written.
#[test]
fn endpoint_errors_are_counted_and_reported() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let body = "{\"error\":{\"message\":\"no embeddings here\"}}";
            let _ = write!(
                conn,
                "HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cfg = RunConfig::builder()
        .models(vec![ModelSpec {
            alias: "minilm".into(),
            mode: None,
        }])
        .target(TargetSpec::Endpoint {
            url,
            api_key: None,
            server_pid: None,
        })
        .requests(Some(3))
        .warmup(0)
        .out_dir(out.clone())
        .calibrate(false)
        .build()
        .unwrap();
    let engine = Arc::new(MockEngine::new(MockConfig::default()));
    // `minilm` is an embedding model by the catalog's capabilities (no flag needed).
    let res = ingot_bench::run::run(&cfg, &Files(dir.path().to_path_buf()), engine).unwrap();
    let m = &res.results.models[0];
    assert_eq!(m.status, Status::Failed);
    assert!(m.reason.as_deref().unwrap().contains("HTTP 400"));
    let d = m.embedding.as_ref().unwrap().scenarios[0]
        .metrics
        .as_ref()
        .unwrap();
    assert_eq!((d.requests, d.failed, d.inputs), (3, 3, 0));
    assert_eq!(d.requests_per_s, Some(0.0));
    let md = read(&out, "report.md");
    assert!(md.contains("minilm c1: 3 × HTTP 400"));
    validate(&serde_json::from_str(&read(&out, "results.json")).unwrap());
}
