//! Extending ingot with your own engine: a small rule-based backend, registered under the
//! alias `faq` and served over ingot's OpenAI-compatible API.
//!
//! ```text
//! cargo run -p ingot-server --example custom_engine
//! ```
//!
//! This is the seed's `CustomModelAdapter.load()/generate()` pattern in Rust:
//!
//! - [`Engine::load`] is the adapter's `load()`: it turns a "model file" (here a text file of
//!   `keyword => reply` rules) into a [`LoadedModel`];
//! - [`LoadedModel::generate`] is its `generate()`: it returns an [`EventStream`] at once
//!   and produces the tokens on a thread of its own, checking the [`CancelToken`] between
//!   them (the server drops the stream when the client disconnects);
//! - [`LoadedModel::capabilities`] declares what the backend can do. This one answers chat
//!   only and cannot constrain its output, so the server answers `/v1/completions` and
//!   `response_format: json_object` for it with a clear 400 instead of ignoring them.
//!
//! A [`ModelProvider`] then maps the alias to the file, and [`ingot_server::serve`] serves
//! it like any llama.cpp model: streaming, metrics, TTL unloading and all.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ingot_core::{
    CancelToken, Capabilities, Engine, EngineError, Event, EventStream, FinishReason,
    GenerateRequest, LoadOptions, LoadedModel, ModelInfo, Prompt, Timings, Usage,
};
use ingot_server::{ModelDescriptor, ModelProvider, ProviderError, ResolvedModel, ServerConfig};

/// The backend: loads rule files.
pub struct RulesEngine;

impl Engine for RulesEngine {
    fn name(&self) -> &str {
        "rules"
    }

    /// `CustomModelAdapter.load()`: read and check the model file. Called once per load, on a
    /// blocking thread, so slow work (reading weights, warming up) belongs here.
    fn load(&self, path: &Path, opts: &LoadOptions) -> Result<Arc<dyn LoadedModel>, EngineError> {
        let t0 = Instant::now();
        let text = std::fs::read_to_string(path).map_err(|e| EngineError::Load {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut rules = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (keyword, reply) =
                line.split_once("=>")
                    .ok_or_else(|| EngineError::InvalidModel {
                        path: path.to_path_buf(),
                        reason: format!("line {}: expected `keyword => reply`", n + 1),
                    })?;
            rules.push((keyword.trim().to_lowercase(), reply.trim().to_string()));
        }
        let n_ctx = opts.context_length.unwrap_or(4096);
        Ok(Arc::new(RulesModel {
            info: ModelInfo {
                path: path.to_path_buf(),
                architecture: "rules".into(),
                n_params: rules.len() as u64,
                n_ctx_train: n_ctx,
                n_ctx,
                n_ctx_per_seq: n_ctx,
                n_parallel: opts.n_parallel,
                threads: 1,
                has_chat_template: true,
                load_ms: t0.elapsed().as_secs_f64() * 1000.0,
                load_phases: None,
                size_bytes: text.len() as u64,
                system_info: String::new(),
            },
            rules,
            active: Arc::new(AtomicUsize::new(0)),
        }))
    }
}

/// A loaded rule file.
pub struct RulesModel {
    info: ModelInfo,
    rules: Vec<(String, String)>,
    active: Arc<AtomicUsize>,
}

impl RulesModel {
    fn reply_to(&self, question: &str) -> String {
        let q = question.to_lowercase();
        self.rules
            .iter()
            .find(|(keyword, _)| q.contains(keyword.as_str()))
            .map(|(_, reply)| reply.clone())
            .unwrap_or_else(|| "I do not know that one.".to_string())
    }
}

impl LoadedModel for RulesModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// `CustomModelAdapter.generate()`: returns at once; the words are sent from a thread.
    fn generate(&self, req: GenerateRequest) -> Result<EventStream, EngineError> {
        let received = Instant::now();
        // The server never sends a raw prompt here (capabilities say chat only); an engine
        // must still not panic on one.
        let Prompt::Chat(messages) = &req.prompt else {
            return Err(EngineError::InvalidRequest(
                "this engine answers chat messages only".into(),
            ));
        };
        let question = messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(|m| m.content.clone())
            .unwrap_or_default();
        let prompt_tokens = messages
            .iter()
            .map(|m| m.content.split_whitespace().count() as u32)
            .sum::<u32>();
        let mut reply = self.reply_to(&question);
        // Stop strings are honoured: the reply ends before the first one.
        if let Some(cut) = req
            .sampling
            .stop
            .iter()
            .filter_map(|s| reply.find(s.as_str()))
            .min()
        {
            reply.truncate(cut);
        }
        // One "token" per word, the space kept in front of it as BPE tokenizers do.
        let words: Vec<String> = reply.split_inclusive(' ').map(str::to_string).collect();
        let max = req.sampling.max_tokens.map(|m| m as usize);

        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let cancel = CancelToken::new();
        let token = cancel.clone();
        let active = self.active.clone();
        active.fetch_add(1, Ordering::SeqCst);
        std::thread::spawn(move || {
            let mut sent = 0u32;
            let mut first = None;
            let mut finish = FinishReason::Stop;
            for (i, w) in words.iter().enumerate() {
                if token.is_cancelled() {
                    finish = FinishReason::Cancelled;
                    break;
                }
                if max.is_some_and(|m| i >= m) {
                    finish = FinishReason::Length;
                    break;
                }
                first.get_or_insert_with(Instant::now);
                let _ = tx.send(Event::Token {
                    text: w.clone(),
                    id: i as i32,
                    logprobs: Vec::new(),
                });
                sent += 1;
            }
            let ttft = first.map_or(0.0, |t| (t - received).as_secs_f64() * 1000.0);
            let gen_ms = first.map_or(0.0, |t| t.elapsed().as_secs_f64() * 1000.0);
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = tx.send(Event::Done {
                finish_reason: finish,
                usage: Usage {
                    prompt_tokens,
                    completion_tokens: sent,
                },
                timings: Timings {
                    ttft_ms: ttft,
                    gen_ms,
                    ..Timings::default()
                },
            });
        });
        Ok(EventStream::new(rx, cancel))
    }

    fn count_tokens(&self, text: &str) -> Result<u32, EngineError> {
        Ok(text.split_whitespace().count() as u32)
    }

    fn load_state(&self) -> (usize, usize) {
        (self.active.load(Ordering::SeqCst), 0)
    }

    /// Chat only; no grammars (so no JSON mode).
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            chat: true,
            completion: false,
            grammar: false,
            embedding: false,
        }
    }
}

/// Registers the rule file under the alias `faq`.
pub struct FaqProvider {
    /// The rule file.
    pub path: PathBuf,
}

impl ModelProvider for FaqProvider {
    fn list(&self) -> Vec<ModelDescriptor> {
        vec![ModelDescriptor {
            id: "faq".into(),
            cached: true,
            capabilities: vec![ingot_core::Capability::Chat],
            owned_by: "example".into(),
            ..Default::default()
        }]
    }

    fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
        if id != "faq" {
            return Err(ProviderError::NotFound(id.to_string()));
        }
        Ok(ResolvedModel {
            id: id.to_string(),
            path: self.path.clone(),
            chat_template: None,
            context_length: None,
        })
    }
}

/// What the demo observed.
#[derive(Debug)]
pub struct DemoResult {
    /// The answer to a chat request.
    pub answer: String,
    /// Status and error code of a JSON-mode request (unsupported: 400).
    pub json_mode: (u16, String),
    /// Status and error code of a raw completion (unsupported: 400).
    pub completion: (u16, String),
}

/// Serves `rules` (a rule file) as `faq` on a free port, asks it a question, tries what it
/// cannot do, and shuts the server down.
pub async fn demo(rules: &Path) -> Result<DemoResult, Box<dyn std::error::Error>> {
    let config = ServerConfig {
        port: 0,
        ..ServerConfig::default()
    };
    let server = ingot_server::serve(
        config,
        Arc::new(RulesEngine),
        Arc::new(FaqProvider {
            path: rules.to_path_buf(),
        }),
    )
    .await?;
    let url = server.url();
    println!("serving the rules engine as `faq` at {url}/v1");
    let http = reqwest::Client::new();

    let v: serde_json::Value = http
        .post(format!("{url}/v1/chat/completions"))
        .json(&serde_json::json!({
            "model": "faq",
            "messages": [{"role": "user", "content": "What is ingot?"}],
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let answer = v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    println!("faq says: {answer}");

    let error = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let v: serde_json::Value = r.json().await.unwrap_or_default();
        println!("  -> {status}: {}", v["error"]["message"]);
        (
            status,
            v["error"]["code"].as_str().unwrap_or_default().to_string(),
        )
    };
    println!("JSON mode, which this engine cannot do:");
    let json_mode = error(
        http.post(format!("{url}/v1/chat/completions"))
            .json(&serde_json::json!({
                "model": "faq",
                "messages": [{"role": "user", "content": "What is ingot?"}],
                "response_format": {"type": "json_object"},
            }))
            .send()
            .await?,
    )
    .await;
    println!("a raw completion, which it cannot do either:");
    let completion = error(
        http.post(format!("{url}/v1/completions"))
            .json(&serde_json::json!({"model": "faq", "prompt": "What is"}))
            .send()
            .await?,
    )
    .await;
    server.shutdown().await;
    Ok(DemoResult {
        answer,
        json_mode,
        completion,
    })
}

/// The example's rule file.
pub const RULES: &str = "\
# keyword => reply
ingot => ingot is a local foundry for small language models.
weather => I cannot see outside, sorry.
";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let rules = dir.path().join("faq.rules");
    std::fs::write(&rules, RULES)?;
    demo(&rules).await?;
    Ok(())
}
