//! The llama.cpp backend: [`LlamaEngine`] loads models, [`LlamaLoadedModel`] prepares requests
//! (template, tokenization, up-front checks) on the caller's thread and hands them to the
//! model's scheduler thread (see [`crate::scheduler`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::backend;
use crate::scheduler::{self, Command, Job, SchedConfig};
use crate::template::ChatTemplate;
use crate::tokens::{check_prompt_bytes, max_token_bytes, special_texts, tokenize, LlamaTokenizer};
use crate::types::*;
use crate::{cpu, gguf, sampler};
use ingot_core::slots::Shared;

/// Smallest per-sequence context we accept: below this nothing useful fits.
const MIN_CTX_PER_SEQ: u32 = 64;

/// The llama.cpp engine. Cheap to create; the process-wide backend is initialised on the first
/// load.
#[derive(Debug, Default, Clone)]
pub struct LlamaEngine;

impl LlamaEngine {
    pub fn new() -> Self {
        Self
    }
}

impl Engine for LlamaEngine {
    fn name(&self) -> &str {
        "llama.cpp"
    }

    fn load(&self, path: &Path, opts: &LoadOptions) -> Result<Arc<dyn LoadedModel>, EngineError> {
        Ok(Arc::new(LlamaLoadedModel::load(path, opts)?))
    }

    fn estimate_memory(&self, path: &Path, opts: &LoadOptions) -> Option<crate::MemoryEstimate> {
        crate::memory::estimate_memory(path, opts).ok()
    }

    fn forget_unloaded(&self) {
        crate::weights_cache::forget();
    }

    fn load_tokenizer(&self, path: &Path) -> Result<Box<dyn Tokenizer>, EngineError> {
        Ok(Box::new(LlamaTokenizer::load(path)?))
    }

    fn quantize(
        &self,
        input: &Path,
        output: &Path,
        to: ingot_core::QuantType,
    ) -> Result<(), EngineError> {
        crate::quantize::quantize(input, output, to, None)
    }

    fn backend_info(&self) -> BackendInfo {
        BackendInfo {
            version: crate::llama_cpp_version(),
            system_info: crate::system_info(),
        }
    }
}

/// Why chat requests cannot be served, when they cannot.
#[derive(Debug)]
enum TemplateState {
    Ready(Box<ChatTemplate>),
    Missing,
    /// The GGUF's template does not compile; raw completions still work.
    Broken(String),
}

/// A model loaded by [`LlamaEngine`].
pub struct LlamaLoadedModel {
    info: ModelInfo,
    model: Arc<LlamaModel>,
    /// Which file's weights `model` is ([`crate::weights_cache`]), when known.
    weights_key: Option<crate::weights_cache::WeightsKey>,
    template: TemplateState,
    name: String,
    max_queue: usize,
    shared: Arc<Shared>,
    cmd_tx: mpsc::Sender<Command>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The load time is reported once, on the first request (see [`Timings::load_ms`]).
    load_reported: AtomicBool,
    /// The most prompt bytes one token can cover, when the vocabulary bounds it (see
    /// [`max_token_bytes`]): a prompt longer than the context times this cannot fit and is
    /// refused before it is tokenized.
    max_token_bytes: Option<usize>,
    /// Embeddings (issue 15): every model that can pool; `None` for one that cannot.
    embedder: Option<crate::embedder::Embedder>,
    /// An embedding model (its GGUF names a pooling): it embeds and never generates, so no
    /// scheduler thread runs for it.
    embedding_only: bool,
}

impl std::fmt::Debug for LlamaLoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaLoadedModel")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Milliseconds since `t0`.
fn ms_since(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64() * 1e3
}

/// Resolved context geometry.
fn context_geometry(opts: &LoadOptions, n_ctx_train: u32) -> Result<(u32, u32), EngineError> {
    let n_par = u32::try_from(opts.n_parallel)
        .ok()
        .filter(|n| (1..=256).contains(n))
        .ok_or_else(|| {
            EngineError::InvalidRequest(format!(
                "n_parallel must be 1..=256, got {}",
                opts.n_parallel
            ))
        })?;
    let per_seq = match opts.context_length {
        Some(total) => total / n_par,
        None => n_ctx_train.clamp(MIN_CTX_PER_SEQ, DEFAULT_CTX_PER_SEQ),
    };
    if per_seq < MIN_CTX_PER_SEQ {
        return Err(EngineError::InvalidRequest(format!(
            "context length {} is too small for {n_par} parallel sequences (need at least {} tokens each)",
            opts.context_length.unwrap_or(0),
            MIN_CTX_PER_SEQ
        )));
    }
    let total = per_seq
        .checked_mul(n_par)
        .ok_or_else(|| EngineError::InvalidRequest("context length overflows".into()))?;
    Ok((total, per_seq))
}

impl LlamaLoadedModel {
    /// Loads `path`: validates the file, loads the weights, creates the context on a new
    /// scheduler thread and waits until it is ready.
    pub fn load(path: &Path, opts: &LoadOptions) -> Result<Self, EngineError> {
        let t0 = Instant::now();
        if opts.batch_size == 0 {
            return Err(EngineError::InvalidRequest(
                "batch_size must be at least 1".into(),
            ));
        }
        if opts.threads == Some(0) {
            return Err(EngineError::InvalidRequest(
                "threads must be at least 1".into(),
            ));
        }
        let summary = gguf::validate(path)?;
        // Refuse what would not fit before llama.cpp maps the weights (issue 12).
        let estimate = crate::memory::estimate_with_draft(&summary.header, opts)?;
        crate::memory::check_fits(path, &estimate, opts.max_memory)?;
        let mparams = LlamaModelParams::default().with_n_gpu_layers(opts.gpu_layers);
        let header_ms = ms_since(t0);
        let weights_key = crate::weights_cache::WeightsKey::of(path, opts.gpu_layers);
        let (model, weights_reused) =
            crate::weights_cache::get_or_load(weights_key.as_ref(), || {
                backend::load_model(path, &mparams, "it")
            })?;
        let weights_ms = ms_since(t0) - header_ms;

        let (n_ctx, n_ctx_seq) = context_geometry(opts, model.n_ctx_train())?;
        if opts.n_parallel > opts.batch_size as usize {
            // Every generating sequence needs a place in each batch.
            return Err(EngineError::InvalidRequest(format!(
                "batch_size ({}) must be at least n_parallel ({})",
                opts.batch_size, opts.n_parallel
            )));
        }
        let threads = opts.threads.unwrap_or_else(cpu::physical_cores).max(1);
        let n_batch = opts.batch_size;
        // 512 is llama.cpp's default physical batch; larger ubatches mostly cost memory.
        let n_ubatch = n_batch.min(512);

        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (bos, eos) = special_texts(&model);
        let template = match (&opts.chat_template, &summary.chat_template) {
            // An explicit template is the user's input: a broken one is an error right away.
            (Some(src), _) => {
                TemplateState::Ready(Box::new(ChatTemplate::new(src.clone(), bos, eos)?))
            }
            (None, Some(src)) => match ChatTemplate::new(src.clone(), bos, eos) {
                Ok(t) => TemplateState::Ready(Box::new(t)),
                Err(e) => {
                    tracing::warn!(model = %name, error = %e, "the model's chat template does not compile; chat requests will fail");
                    TemplateState::Broken(e.to_string())
                }
            },
            (None, None) => TemplateState::Missing,
        };

        let shared = Arc::new(Shared::new(opts.n_parallel));
        let pooling = summary.header.hparam("pooling_type");
        let embed_cfg = crate::embedder::EmbedConfig::new(&model, pooling, threads);
        if pooling.is_some() {
            let mut m =
                Self::load_embedding_only(path, model, embed_cfg, name, t0, shared, threads)?;
            // No context is created at load: the embeddings worker makes its own.
            m.info.load_phases = Some(LoadPhases {
                header_ms,
                weights_ms,
                context_ms: 0.0,
                weights_reused,
            });
            m.weights_key = weights_key;
            return Ok(m);
        }
        let draft = match &opts.draft {
            Some(p) if opts.speculative != crate::Speculative::Off => {
                Some(crate::draft::load_draft(&model, p, opts.gpu_layers)?)
            }
            _ => None,
        };
        let cfg = SchedConfig {
            path: path.to_path_buf(),
            n_ctx,
            n_batch,
            n_ubatch,
            n_parallel: opts.n_parallel,
            threads,
            prefix_cache: opts.prefix_cache,
            prompt_cache_bytes: usize::try_from(opts.prompt_cache_bytes).unwrap_or(usize::MAX),
            speculative: opts.speculative == crate::Speculative::Ngram,
            pairs_rows: summary
                .header
                .dominant_type
                .is_some_and(crate::kernels::pairs_rows),
        };
        let (cmd_tx, cmd_rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let thread_model = Arc::clone(&model);
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("ingot-engine:{name}"))
            .spawn(move || {
                scheduler::run(thread_model, draft, cfg, cmd_rx, ready_tx, thread_shared)
            })
            .map_err(|e| EngineError::Backend(format!("cannot start the scheduler thread: {e}")))?;
        let actual_ctx = match ready_rx.recv() {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(EngineError::Backend(
                    "the scheduler thread died while creating the context".into(),
                ));
            }
        };
        let context_ms = ms_since(t0) - header_ms - weights_ms;
        // llama.cpp pads each sequence's share to a multiple of 256 and sizes the context as
        // n_parallel equal shares; that share is what a request may use.
        debug_assert!(actual_ctx / opts.n_parallel as u32 >= n_ctx_seq);
        let n_ctx_seq = actual_ctx / opts.n_parallel as u32;

        let info = ModelInfo {
            path: path.to_path_buf(),
            architecture: summary
                .architecture
                .clone()
                .unwrap_or_else(|| "unknown".into()),
            n_params: model.n_params(),
            n_ctx_train: model.n_ctx_train(),
            n_ctx: actual_ctx,
            n_ctx_per_seq: n_ctx_seq,
            n_parallel: opts.n_parallel,
            threads,
            has_chat_template: matches!(template, TemplateState::Ready(_)),
            load_ms: ms_since(t0),
            load_phases: Some(LoadPhases {
                header_ms,
                weights_ms,
                context_ms,
                weights_reused,
            }),
            size_bytes: model.size(),
            system_info: backend::system_info(),
        };
        tracing::info!(
            model = %name, n_ctx = actual_ctx, n_ctx_per_seq = n_ctx_seq, n_parallel = opts.n_parallel,
            threads, n_batch, load_ms = info.load_ms, header_ms, weights_ms, weights_reused, context_ms,
            memory_estimate_mib = estimate.total() >> 20, kv_estimate_mib = estimate.kv_cache >> 20,
            "model loaded"
        );
        let max_token_bytes = max_token_bytes(&model);
        let embedder = embed_cfg.map(|c| crate::embedder::Embedder::new(Arc::clone(&model), c));
        Ok(Self {
            info,
            model,
            weights_key,
            template,
            name,
            max_queue: opts.max_queue,
            shared,
            cmd_tx,
            thread: Mutex::new(Some(thread)),
            load_reported: AtomicBool::new(false),
            max_token_bytes,
            embedder,
            embedding_only: false,
        })
    }

    /// An embedding model: no generation context, no scheduler; the embeddings worker
    /// starts with the first request.
    fn load_embedding_only(
        path: &Path,
        model: Arc<LlamaModel>,
        cfg: Option<crate::embedder::EmbedConfig>,
        name: String,
        t0: Instant,
        shared: Arc<Shared>,
        threads: usize,
    ) -> Result<Self, EngineError> {
        let cfg = cfg.ok_or_else(|| EngineError::InvalidModel {
            path: path.to_path_buf(),
            reason:
                "its pooling type is neither mean, cls nor last, so it gives no embedding per input"
                    .into(),
        })?;
        let n_ctx = cfg.info.max_tokens;
        let info = ModelInfo {
            path: path.to_path_buf(),
            architecture: crate::gguf::validate(path)?
                .architecture
                .unwrap_or_else(|| "unknown".into()),
            n_params: model.n_params(),
            n_ctx_train: model.n_ctx_train(),
            n_ctx,
            n_ctx_per_seq: n_ctx,
            n_parallel: 1,
            threads,
            has_chat_template: false,
            load_ms: ms_since(t0),
            load_phases: None,
            size_bytes: model.size(),
            system_info: backend::system_info(),
        };
        tracing::info!(model = %name, pooling = %cfg.info.pooling, dimensions = cfg.info.dimensions, load_ms = info.load_ms, "embedding model loaded");
        // Nothing listens: generate() refuses before it would send.
        let (cmd_tx, _) = mpsc::channel();
        Ok(Self {
            info,
            weights_key: None,
            template: TemplateState::Missing,
            name,
            max_queue: 0,
            shared,
            cmd_tx,
            thread: Mutex::new(None),
            load_reported: AtomicBool::new(false),
            max_token_bytes: None,
            embedder: Some(crate::embedder::Embedder::new(Arc::clone(&model), cfg)),
            embedding_only: true,
            model,
        })
    }

    /// The compiled chat template, if the model (or the load options) has one.
    pub fn chat_template(&self) -> Option<&ChatTemplate> {
        match &self.template {
            TemplateState::Ready(t) => Some(t),
            _ => None,
        }
    }

    fn template(&self) -> Result<&ChatTemplate, EngineError> {
        match &self.template {
            TemplateState::Ready(t) => Ok(t),
            TemplateState::Missing => Err(EngineError::NoChatTemplate {
                model: self.name.clone(),
            }),
            TemplateState::Broken(e) => Err(EngineError::Template(e.clone())),
        }
    }

    /// Renders a prompt to the text the model will see.
    pub fn render_prompt(&self, prompt: &Prompt) -> Result<String, EngineError> {
        match prompt {
            Prompt::Raw(s) => Ok(s.clone()),
            Prompt::Chat(messages) => self.template()?.render(messages),
            Prompt::ChatWithTools(p) => ingot_core::tools::render(self.template()?, p),
        }
    }

    /// Tokenizes prompt text: BOS per the vocabulary's `add_bos` setting, special tokens
    /// (`<|im_start|>`) parsed into their single ids.
    pub fn tokenize_prompt(&self, text: &str) -> Result<Vec<LlamaToken>, EngineError> {
        let vocab = self.model.vocab();
        let tokens = tokenize(&self.model, text, vocab.should_add_bos())?;
        Ok(tokens)
    }

    /// Token ids (as plain integers) for `text`, as the prompt path would produce them.
    pub fn tokenize(&self, text: &str) -> Result<Vec<i32>, EngineError> {
        Ok(self
            .tokenize_prompt(text)?
            .into_iter()
            .map(|t| t.0)
            .collect())
    }

    fn path(&self) -> &PathBuf {
        &self.info.path
    }
}

impl LoadedModel for LlamaLoadedModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn tool_format(&self) -> ingot_core::tools::ToolFormat {
        ingot_core::tools::ToolFormat::detect(self.chat_template().map(|t| t.source()))
    }

    fn generate(&self, mut req: GenerateRequest) -> Result<EventStream, EngineError> {
        if self.embedding_only {
            return Err(EngineError::Unsupported {
                model: self.name.clone(),
                what: "text generation: it is an embedding model (use /v1/embeddings)".into(),
            });
        }
        let enqueued = Instant::now();
        sampler::validate(&req.sampling)?;
        sampler::resolve_json_schema(&mut req.sampling)?;
        let text = self.render_prompt(&req.prompt)?;
        let n_ctx = self.info.n_ctx_per_seq;
        check_prompt_bytes(text.len(), self.max_token_bytes, n_ctx)?;
        let tokens = self.tokenize_prompt(&text)?;
        if tokens.is_empty() {
            return Err(EngineError::InvalidRequest("the prompt is empty".into()));
        }
        let n_prompt = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
        let max_tokens = match req.sampling.max_tokens {
            Some(m) => {
                if u64::from(n_prompt) + u64::from(m) > u64::from(n_ctx) {
                    return Err(EngineError::ContextOverflow {
                        prompt_tokens: n_prompt,
                        max_tokens: m,
                        n_ctx,
                    });
                }
                m
            }
            None => {
                // At least one token must fit after the prompt.
                if n_prompt >= n_ctx {
                    return Err(EngineError::ContextOverflow {
                        prompt_tokens: n_prompt,
                        max_tokens: 1,
                        n_ctx,
                    });
                }
                n_ctx - n_prompt
            }
        };
        let mut sampler = sampler::Sampler::new(&self.model, &req.sampling, n_ctx)?;
        if req.sampling.has_penalties() {
            // The repeat penalty looks at the prompt too, like llama.cpp's CLI and server.
            let last_n = sampler::penalty_window(req.sampling.repeat_last_n, n_ctx) as usize;
            sampler.accept_prompt(&tokens[tokens.len().saturating_sub(last_n)..]);
        }

        self.shared.reserve(self.max_queue)?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let cancel = CancelToken::new();
        let load_ms = if self.load_reported.swap(true, Ordering::Relaxed) {
            0.0
        } else {
            self.info.load_ms
        };
        let job = Job {
            tokens,
            sampler,
            max_tokens,
            stop: req.sampling.stop.clone(),
            ignore_eos: req.sampling.ignore_eos,
            logprobs: req.sampling.logprobs,
            tx,
            cancel: cancel.clone(),
            enqueued,
            load_ms,
        };
        if self.cmd_tx.send(Command::Job(Box::new(job))).is_err() {
            self.shared.unreserve();
            return Err(EngineError::Unloaded);
        }
        Ok(EventStream::new(rx, cancel))
    }

    fn count_tokens(&self, text: &str) -> Result<u32, EngineError> {
        let n = tokenize(&self.model, text, false)?.len();
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn load_state(&self) -> (usize, usize) {
        self.shared.state()
    }

    fn capabilities(&self) -> Capabilities {
        if self.embedding_only {
            Capabilities::EMBEDDING
        } else {
            Capabilities::ALL
        }
    }

    fn embedding_info(&self) -> Option<ingot_core::embed::EmbeddingInfo> {
        self.embedder.as_ref().map(|e| e.info())
    }

    fn embed(
        &self,
        req: ingot_core::embed::EmbedRequest,
    ) -> Result<ingot_core::embed::Embeddings, EngineError> {
        match &self.embedder {
            Some(e) => e.embed(req),
            None => Err(EngineError::Unsupported {
                model: self.name.clone(),
                what: "embeddings".into(),
            }),
        }
    }

    fn kv_cache_usage(&self) -> Option<KvCacheUsage> {
        if self.embedding_only {
            return None;
        }
        Some(KvCacheUsage {
            used_cells: self.shared.kv_used() as u64,
            total_cells: u64::from(self.info.n_ctx),
        })
    }
}

impl Drop for LlamaLoadedModel {
    fn drop(&mut self) {
        let _ = self.cmd_tx.send(Command::Shutdown);
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            if t.join().is_err() {
                tracing::error!(model = %self.path().display(), "the scheduler thread panicked");
            }
        }
        // The scheduler thread's reference is gone; this model holds its own and its
        // embedder's.
        let own_refs = 1 + usize::from(self.embedder.is_some());
        crate::weights_cache::release(self.weights_key.as_ref(), &self.model, own_refs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_defaults_and_limits() {
        let o = LoadOptions::default();
        assert_eq!(context_geometry(&o, 8192).unwrap(), (4096, 4096));
        assert_eq!(context_geometry(&o, 2048).unwrap(), (2048, 2048));
        let o4 = LoadOptions {
            n_parallel: 4,
            ..Default::default()
        };
        assert_eq!(context_geometry(&o4, 8192).unwrap(), (16384, 4096));
        let o4c = LoadOptions {
            n_parallel: 4,
            context_length: Some(2048),
            ..Default::default()
        };
        assert_eq!(context_geometry(&o4c, 8192).unwrap(), (2048, 512));
        let tiny = LoadOptions {
            n_parallel: 4,
            context_length: Some(100),
            ..Default::default()
        };
        assert!(matches!(
            context_geometry(&tiny, 8192),
            Err(EngineError::InvalidRequest(_))
        ));
        let zero = LoadOptions {
            n_parallel: 0,
            ..Default::default()
        };
        assert!(matches!(
            context_geometry(&zero, 8192),
            Err(EngineError::InvalidRequest(_))
        ));
    }
}
