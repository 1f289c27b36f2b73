//! The server suites' harness (cargo feature `server`): a tiny scripted engine and provider
//! that count what the server asks of them, a test server around them, the bad-input
//! corpus, request generators, and the real test model as a provider. The engine API's
//! `MockEngine` has the llama.cpp backend's slot semantics; this engine records calls, so
//! the server's own behaviour (loads, TTLs, errors) can be checked exactly.

pub mod corpus;
pub mod gen;
pub mod real;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use ingot_core::{
    CancelToken, ChatMessage, Engine, EngineError, Event, EventStream, FinishReason,
    GenerateRequest, LoadOptions, LoadedModel, ModelInfo, Prompt, Timings, Usage,
};
use ingot_server::{
    DownloadProgress, ModelDescriptor, ModelProvider, ProviderError, ResolvedModel, ServerConfig,
    ServerHandle,
};

/// What the test engine saw, shared with the test.
#[derive(Default)]
pub struct Stats {
    pub loads: AtomicUsize,
    pub unloads: AtomicUsize,
    pub cancelled: AtomicUsize,
    pub completed: AtomicUsize,
    pub last_request: Mutex<Option<GenerateRequest>>,
    pub loaded_paths: Mutex<Vec<PathBuf>>,
}

#[derive(Clone)]
pub struct Script {
    pub tokens: Vec<String>,
    pub token_delay: Duration,
    pub load_delay: Duration,
    /// Total context; per-sequence context is this / n_parallel.
    pub n_ctx: u32,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            tokens: ["Hello", ",", " world", "!"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            token_delay: Duration::from_millis(2),
            load_delay: Duration::from_millis(20),
            n_ctx: 4096,
        }
    }
}

pub struct TestEngine {
    pub script: Script,
    pub stats: Arc<Stats>,
}

impl Engine for TestEngine {
    fn name(&self) -> &str {
        "test"
    }

    fn load(&self, path: &Path, opts: &LoadOptions) -> Result<Arc<dyn LoadedModel>, EngineError> {
        std::thread::sleep(self.script.load_delay);
        if path.to_string_lossy().contains("broken") {
            return Err(EngineError::Load {
                path: path.into(),
                reason: "scripted failure".into(),
            });
        }
        self.stats.loads.fetch_add(1, Ordering::SeqCst);
        self.stats.loaded_paths.lock().unwrap().push(path.into());
        let n_parallel = opts.n_parallel.max(1);
        let n_ctx = opts.context_length.unwrap_or(self.script.n_ctx);
        Ok(Arc::new(TestModel {
            info: ModelInfo {
                path: path.into(),
                architecture: "test".into(),
                n_params: 1_000_000,
                n_ctx_train: n_ctx,
                n_ctx,
                n_ctx_per_seq: n_ctx / n_parallel as u32,
                n_parallel,
                threads: 1,
                has_chat_template: true,
                load_ms: self.script.load_delay.as_secs_f64() * 1000.0,
                load_phases: None,
                size_bytes: 123_456,
                system_info: String::new(),
            },
            script: self.script.clone(),
            max_queue: opts.max_queue,
            slots: Arc::new(Mutex::new((0, 0))),
            stats: self.stats.clone(),
        }))
    }
}

pub struct TestModel {
    info: ModelInfo,
    script: Script,
    max_queue: usize,
    /// (active, queued)
    slots: Arc<Mutex<(usize, usize)>>,
    stats: Arc<Stats>,
}

impl Drop for TestModel {
    fn drop(&mut self) {
        self.stats.unloads.fetch_add(1, Ordering::SeqCst);
    }
}

fn prompt_text(p: &Prompt) -> String {
    match p {
        Prompt::Raw(s) => s.clone(),
        Prompt::Chat(m) => m
            .iter()
            .map(|ChatMessage { content, .. }| content.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        Prompt::ChatWithTools(p) => p
            .messages
            .iter()
            .map(|ChatMessage { content, .. }| content.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    }
}

impl LoadedModel for TestModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn generate(&self, req: GenerateRequest) -> Result<EventStream, EngineError> {
        *self.stats.last_request.lock().unwrap() = Some(req.clone());
        let text = prompt_text(&req.prompt);
        let prompt_tokens = text.split_whitespace().count().max(1) as u32;
        let max = req.sampling.max_tokens.unwrap_or(0);
        if prompt_tokens + max > self.info.n_ctx_per_seq {
            return Err(EngineError::ContextOverflow {
                prompt_tokens,
                max_tokens: max,
                n_ctx: self.info.n_ctx_per_seq,
            });
        }
        let queued = {
            let mut s = self.slots.lock().unwrap();
            if s.0 < self.info.n_parallel {
                s.0 += 1;
                false
            } else if s.1 < self.max_queue {
                s.1 += 1;
                true
            } else {
                return Err(EngineError::Overloaded {
                    max_queue: self.max_queue,
                });
            }
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let cancel = CancelToken::new();
        let token = cancel.clone();
        let slots = self.slots.clone();
        let stats = self.stats.clone();
        let script = self.script.clone();
        let n_parallel = self.info.n_parallel;
        std::thread::spawn(move || {
            let t0 = Instant::now();
            if queued {
                loop {
                    if token.is_cancelled() {
                        slots.lock().unwrap().1 -= 1;
                        stats.cancelled.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    {
                        let mut s = slots.lock().unwrap();
                        if s.0 < n_parallel {
                            s.0 += 1;
                            s.1 -= 1;
                            break;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            let queue_ms = t0.elapsed().as_secs_f64() * 1000.0;
            let release = || slots.lock().unwrap().0 -= 1;
            let limit = req
                .sampling
                .max_tokens
                .map(|m| m as usize)
                .unwrap_or(usize::MAX);
            let mut n = 0u32;
            let mut finish = FinishReason::Stop;
            for (i, tok) in script.tokens.iter().enumerate() {
                if token.is_cancelled() {
                    release();
                    stats.cancelled.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                if i >= limit {
                    finish = FinishReason::Length;
                    break;
                }
                std::thread::sleep(script.token_delay);
                if text.contains("FAIL_MIDSTREAM") && i == 1 {
                    release();
                    let _ = tx.send(Event::Error(EngineError::Backend(
                        "scripted decode failure".into(),
                    )));
                    return;
                }
                let _ = tx.send(Event::Token {
                    text: tok.clone(),
                    id: i as i32,
                    logprobs: Vec::new(),
                });
                n += 1;
            }
            release();
            stats.completed.fetch_add(1, Ordering::SeqCst);
            let _ = tx.send(Event::Done {
                finish_reason: finish,
                usage: Usage {
                    prompt_tokens,
                    completion_tokens: n,
                },
                timings: Timings {
                    load_ms: 0.0,
                    queue_ms,
                    prompt_ms: 3.0,
                    prompt_tokens_per_s: 1000.0,
                    ttft_ms: 5.0,
                    gen_ms: 10.0,
                    gen_tokens_per_s: 100.0,
                    cached_tokens: 0,
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
        *self.slots.lock().unwrap()
    }

    /// Models whose file name holds `embed` are embedding models; the others embed like a
    /// decoder. Either way the vectors are the scripted engine's (ingot-core's mock).
    fn capabilities(&self) -> ingot_core::Capabilities {
        if self.is_embedding_model() {
            ingot_core::Capabilities::EMBEDDING
        } else {
            ingot_core::Capabilities::ALL
        }
    }

    fn embedding_info(&self) -> Option<ingot_core::embed::EmbeddingInfo> {
        Some(ingot_core::embed::EmbeddingInfo {
            dimensions: ingot_core::embed::MOCK_EMBED_DIMS,
            pooling: ingot_core::embed::Pooling::Last,
            normalized: true,
            max_tokens: self.info.n_ctx_per_seq,
            embedding_model: self.is_embedding_model(),
        })
    }

    fn embed(
        &self,
        req: ingot_core::embed::EmbedRequest,
    ) -> Result<ingot_core::embed::Embeddings, EngineError> {
        self.stats.completed.fetch_add(1, Ordering::SeqCst);
        ingot_core::embed::scripted_embeddings(&req, self.info.n_ctx_per_seq)
    }
}

impl TestModel {
    fn is_embedding_model(&self) -> bool {
        self.info.path.to_string_lossy().contains("embed")
    }
}

/// Models: `tiny-chat` (alias `tiny`), `tiny-base`, `other`, `third`, and `broken` (fails to
/// load).
pub struct TestProvider;

impl ModelProvider for TestProvider {
    fn list(&self) -> Vec<ModelDescriptor> {
        ["tiny-chat", "tiny-base", "other", "third", "broken"]
            .iter()
            .map(|id| ModelDescriptor {
                id: id.to_string(),
                aliases: if *id == "tiny-chat" {
                    vec!["tiny".into()]
                } else {
                    vec![]
                },
                cached: *id != "third",
                context_length: Some(4096),
                size_bytes: Some(123_456),
                license: Some("apache-2.0".into()),
                capabilities: vec![ingot_core::Capability::Chat],
                owned_by: "test".into(),
                remote: false,
            })
            .collect()
    }

    fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
        let d = self
            .list()
            .into_iter()
            .find(|d| d.matches(id))
            .ok_or_else(|| ProviderError::NotFound(id.into()))?;
        Ok(ResolvedModel {
            path: PathBuf::from(format!("/models/{}.gguf", d.id)),
            id: d.id,
            chat_template: None,
            context_length: None,
        })
    }

    fn download(
        &self,
        id: &str,
        progress: &(dyn Fn(DownloadProgress) + Send + Sync),
    ) -> Result<ResolvedModel, ProviderError> {
        let r = self.resolve(id)?;
        for i in 1..=4u64 {
            progress(DownloadProgress {
                file: "model.gguf".into(),
                downloaded_bytes: i * 250,
                total_bytes: Some(1000),
            });
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(r)
    }
}

pub struct TestServer {
    pub handle: ServerHandle,
    pub stats: Arc<Stats>,
    pub client: reqwest::Client,
    pub base: String,
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let r = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.expect("json")
    }

    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The value of an unlabelled metric line.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix(' '))
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or_else(|| panic!("metric {name} missing in:\n{text}"))
    }
}

pub fn test_config() -> ServerConfig {
    ServerConfig {
        host: "127.0.0.1".into(),
        port: 0,
        ..Default::default()
    }
}

pub async fn start_with(config: ServerConfig, script: Script) -> TestServer {
    start_with_provider(config, script, Arc::new(TestProvider)).await
}

/// A test server over the test engine and any provider.
pub async fn start_with_provider(
    config: ServerConfig,
    script: Script,
    provider: Arc<dyn ModelProvider>,
) -> TestServer {
    let stats = Arc::new(Stats::default());
    let engine = Arc::new(TestEngine {
        script,
        stats: stats.clone(),
    });
    let handle = ingot_server::serve(config, engine, provider)
        .await
        .expect("server starts");
    let base = handle.url();
    TestServer {
        handle,
        stats,
        client: reqwest::Client::new(),
        base,
    }
}

pub async fn start() -> TestServer {
    start_with(test_config(), Script::default()).await
}

pub fn chat_body(model: &str) -> serde_json::Value {
    serde_json::json!({ "model": model, "messages": [{ "role": "user", "content": "say hello" }] })
}

/// Splits an SSE body into its `data:` payloads.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|ev| {
            ev.lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(str::to_string)
        })
        .collect()
}

/// Checks a whole SSE body: role chunk first (chat), text chunks, exactly one finish chunk, a
/// usage chunk, then `[DONE]` last; no error event. Returns the completion tokens.
pub fn check_stream(body: &str, max_tokens: u32, chat: bool) -> Result<u64, String> {
    let events = sse_data(body);
    let short = || body.chars().take(600).collect::<String>();
    if events.last().map(String::as_str) != Some("[DONE]") {
        return Err(format!("stream does not end with [DONE]: {}", short()));
    }
    let mut finishes = 0;
    let mut usage = None;
    let mut id = None::<String>;
    for (i, ev) in events[..events.len() - 1].iter().enumerate() {
        let v: Value =
            serde_json::from_str(ev).map_err(|e| format!("event {i} is not JSON ({e}): {ev}"))?;
        if v.get("error").is_some() {
            return Err(format!("error event in a stream: {ev}"));
        }
        let this_id = v["id"].as_str().unwrap_or_default().to_string();
        if id.get_or_insert_with(|| this_id.clone()) != &this_id {
            return Err("chunks of one stream carry different ids".into());
        }
        if chat && i == 0 && v["choices"][0]["delta"]["role"] != "assistant" {
            return Err(format!("first chunk is not the role chunk: {ev}"));
        }
        if v["choices"][0]["finish_reason"].is_string() {
            finishes += 1;
        }
        if v["usage"].is_object() {
            usage = Some(v["usage"].clone());
        }
    }
    if finishes != 1 {
        return Err(format!("{finishes} finish chunks: {}", short()));
    }
    let usage = usage.ok_or_else(|| format!("no usage chunk: {}", short()))?;
    // 0 is possible: the model may end the answer at once.
    let n = usage["completion_tokens"]
        .as_u64()
        .ok_or_else(|| format!("usage without completion_tokens: {usage}"))?;
    if n > max_tokens as u64 {
        return Err(format!(
            "completion_tokens {n} over max_tokens {max_tokens}: {usage}"
        ));
    }
    Ok(n)
}

/// Polls `cond` until it holds or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
