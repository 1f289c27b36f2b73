//! The backend-independent engine API. The server, the bench harness and the CLI only see
//! these types; the llama.cpp backend (and the scripted mock) implement them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use crate::cancel::CancelToken;
pub use crate::chat::ChatMessage;
pub use crate::error::{EngineError, MemorySource};

/// Default per-sequence context when the caller gives none (capped by the training context).
pub const DEFAULT_CTX_PER_SEQ: u32 = 4096;

/// How to load a model. `None` fields mean "pick a sensible default" (documented per field).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadOptions {
    /// Context length in tokens for the whole context, split evenly between the `n_parallel`
    /// sequences (each request may use `n_ctx / n_parallel` tokens, prompt plus output).
    /// Default: per sequence the smaller of the model's training context and 4096, times
    /// `n_parallel`. llama.cpp rounds each sequence's share up to a multiple of 256;
    /// [`ModelInfo`] reports what was allocated.
    pub context_length: Option<u32>,
    /// Threads for generation and prompt processing. Default: physical cores.
    pub threads: Option<usize>,
    /// Logical batch size (tokens per decode call during prompt processing). Default 512.
    pub batch_size: u32,
    /// Layers to offload to a GPU (ignored by CPU builds).
    pub gpu_layers: u32,
    /// Number of sequences decoded together (continuous batching slots). Default 1.
    pub n_parallel: usize,
    /// Reuse KV cells of a shared prompt prefix between requests on the same slot.
    pub prefix_cache: bool,
    /// Host memory, in bytes, for the prompt states a slot gives up when a new prompt takes
    /// it (llama-server's `--cache-ram`): a later prompt with the same start gets its cells
    /// back instead of computing them. 0 turns it off; it needs `prefix_cache`. Default
    /// [`DEFAULT_PROMPT_CACHE_BYTES`].
    #[serde(default = "default_prompt_cache_bytes")]
    pub prompt_cache_bytes: u64,
    /// Chat template (Jinja) used when the GGUF carries none, or to override it.
    pub chat_template: Option<String>,
    /// Bounded queue for requests waiting for a free slot. Beyond it `generate` fails with
    /// [`EngineError::Overloaded`].
    pub max_queue: usize,
    /// Memory the load may take, in bytes (`--max-memory`). Before loading, the engine
    /// estimates what the model needs (weights, KV cache, compute buffers; see
    /// [`crate::memory`]) and refuses with [`EngineError::InsufficientMemory`] when it does
    /// not fit. `None`: the memory the OS reports available.
    #[serde(default)]
    pub max_memory: Option<u64>,
    /// Speculative decoding (`--speculative`). Default: [`Speculative::Ngram`], prompt
    /// lookup, which changes no output and drafts only where the text repeats itself.
    #[serde(default)]
    pub speculative: crate::Speculative,
    /// A draft model (GGUF file) for speculative decoding instead of prompt lookup: a
    /// smaller model with the *same vocabulary* (checked at load: a mismatch fails the load
    /// naming the first token that differs) guesses the next tokens, and the model keeps
    /// those it would have produced. Ignored when `speculative` is `Off`.
    #[serde(default)]
    pub draft: Option<PathBuf>,
}

/// Default host memory for saved prompt states: 512 MiB (a 128-token prompt of SmolLM2-135M
/// takes 3 MiB, of Qwen2.5-0.5B 1.5 MiB).
pub const DEFAULT_PROMPT_CACHE_BYTES: u64 = 512 << 20;

fn default_prompt_cache_bytes() -> u64 {
    DEFAULT_PROMPT_CACHE_BYTES
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            context_length: None,
            threads: None,
            batch_size: 512,
            gpu_layers: 0,
            n_parallel: 1,
            prefix_cache: true,
            prompt_cache_bytes: DEFAULT_PROMPT_CACHE_BYTES,
            chat_template: None,
            max_queue: 64,
            max_memory: None,
            speculative: crate::Speculative::default(),
            draft: None,
        }
    }
}

/// What to generate from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Prompt {
    /// Rendered through the model's chat template.
    Chat(Vec<ChatMessage>),
    /// A chat that offers tools or carries tool turns, rendered by
    /// [`crate::tools::render`] (the model's template, or the generic tool prompt).
    ChatWithTools(crate::chat::ToolPrompt),
    /// Used as is (BOS added when the model wants one).
    Raw(String),
}

/// Sampling parameters. `temperature == 0` means greedy and fully deterministic.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SamplingParams {
    pub temperature: f32,
    /// 0 disables top-k.
    pub top_k: i32,
    /// 1.0 disables top-p.
    pub top_p: f32,
    /// 0.0 disables min-p.
    pub min_p: f32,
    /// 1.0 disables the repeat penalty.
    pub repeat_penalty: f32,
    /// Tokens considered by the repeat, frequency and presence penalties.
    pub repeat_last_n: i32,
    /// OpenAI's frequency penalty (per occurrence in the window); 0 disables it.
    #[serde(default)]
    pub frequency_penalty: f32,
    /// OpenAI's presence penalty (once per token present in the window); 0 disables it.
    #[serde(default)]
    pub presence_penalty: f32,
    pub seed: u64,
    /// `None`: until EOS or the context is full.
    pub max_tokens: Option<u32>,
    /// Stop strings; they may span several tokens and are never emitted.
    pub stop: Vec<String>,
    /// Keep generating past EOS until `max_tokens` (benchmarks with a fixed length).
    pub ignore_eos: bool,
    /// A GBNF grammar that constrains the output (e.g. JSON mode).
    pub grammar: Option<String>,
    /// A JSON schema the output must validate against (structured outputs). The engine turns
    /// it into a grammar with its backend's converter, so the HTTP layer needs no backend;
    /// exclusive with `grammar`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<JsonSchemaConstraint>,
    /// Report log-probabilities of the generated tokens, with this many alternatives per
    /// position (0..=[`crate::MAX_TOP_LOGPROBS`]); `None` computes none (no cost).
    #[serde(default)]
    pub logprobs: Option<u32>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            seed: 0,
            max_tokens: None,
            stop: Vec::new(),
            ignore_eos: false,
            grammar: None,
            json_schema: None,
            logprobs: None,
        }
    }
}

impl SamplingParams {
    /// Whether any of the repeat, frequency or presence penalties is on.
    pub fn has_penalties(&self) -> bool {
        self.repeat_penalty != 1.0 || self.frequency_penalty != 0.0 || self.presence_penalty != 0.0
    }
}

/// A JSON schema to constrain the output to, as the client sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonSchemaConstraint {
    /// The schema as JSON text (its key order is the order the properties are written in).
    pub schema: String,
    /// Where the request carried it (`response_format.json_schema.schema`, `format`), so a
    /// schema the converter refuses is reported against the field the client wrote.
    pub param: String,
}

/// A generation request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerateRequest {
    pub prompt: Prompt,
    pub sampling: SamplingParams,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// EOS or a stop string.
    Stop,
    /// `max_tokens` reached (or the context filled up).
    Length,
    /// The caller cancelled.
    Cancelled,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// Timings of one request, all measured by the engine. The server exposes this object as is
/// (`timings` in every response), so its fields are part of the documented API.
///
/// Clock points: *received* = `generate` called; *admitted* = the request got a slot;
/// *prompt done* = the decode holding the last prompt token finished; *first*/*last token* =
/// the first/last generated token was sampled (an end-of-generation token is not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Time the model took to load. The engine reports it on the model's first request and 0
    /// afterwards; callers that load on demand may overwrite it.
    pub load_ms: f64,
    /// Received → admitted: time spent waiting for a free slot.
    pub queue_ms: f64,
    /// Admitted → prompt done (with parallel sequences this includes their interleaved
    /// decoding).
    pub prompt_ms: f64,
    /// Prompt tokens actually evaluated (excluding `cached_tokens`) per second of `prompt_ms`.
    pub prompt_tokens_per_s: f64,
    /// Received → first token: queueing plus prompt processing plus the first sampling.
    pub ttft_ms: f64,
    /// First token → last token.
    pub gen_ms: f64,
    /// Generation speed over the tokens after the first: `(completion_tokens - 1) / gen_ms`,
    /// as llama.cpp's "eval" rate (the first token's cost belongs to `ttft_ms`). 0 with fewer
    /// than two tokens.
    pub gen_tokens_per_s: f64,
    /// Prompt tokens whose KV cells were reused from a previous request (prefix cache).
    pub cached_tokens: u32,
    /// Speculative decoding: draft tokens decoded for this request, and how many of them
    /// were accepted (output tokens that came without a decode step of their own). Named as
    /// llama-server names them; 0 and 0 without speculation.
    #[serde(default)]
    pub draft_n: u32,
    #[serde(default)]
    pub draft_n_accepted: u32,
}

/// Events of one generation, in order: zero or more `Token`, then exactly one `Done` or `Error`.
#[derive(Debug, Clone)]
pub enum Event {
    /// A piece of text. `text` is valid UTF-8 (never half a character), never empty, and never
    /// contains part of a stop string. It holds several tokens' worth when text was held back
    /// (an incomplete character or a possible stop-string prefix); `id` is then the last of
    /// those tokens.
    Token {
        text: String,
        id: i32,
        /// With [`SamplingParams::logprobs`]: one entry per token whose text this event
        /// releases (text held back and released later carries its tokens' entries then).
        /// Empty otherwise.
        logprobs: Vec<crate::TokenLogprob>,
    },
    Done {
        finish_reason: FinishReason,
        usage: Usage,
        timings: Timings,
    },
    Error(EngineError),
}

/// The receiving end of a generation. Dropping it cancels the sequence.
#[derive(Debug)]
pub struct EventStream {
    rx: tokio::sync::mpsc::UnboundedReceiver<Event>,
    cancel: CancelToken,
}

impl EventStream {
    pub fn new(rx: tokio::sync::mpsc::UnboundedReceiver<Event>, cancel: CancelToken) -> Self {
        Self { rx, cancel }
    }
    /// Blocking receive, for synchronous callers (must not be called inside an async runtime).
    pub fn blocking_next(&mut self) -> Option<Event> {
        self.rx.blocking_recv()
    }
    /// Async receive.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }
    pub fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// What a loaded model can do; the server rejects requests outside it with a 400.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub architecture: String,
    pub n_params: u64,
    pub n_ctx_train: u32,
    /// The context length actually allocated.
    pub n_ctx: u32,
    /// Per-sequence context (n_ctx / n_parallel).
    pub n_ctx_per_seq: u32,
    pub n_parallel: usize,
    pub threads: usize,
    pub has_chat_template: bool,
    pub load_ms: f64,
    /// Where `load_ms` went, for engines that time the phases (llama.cpp does); `None`
    /// otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_phases: Option<LoadPhases>,
    /// Bytes of model weights.
    pub size_bytes: u64,
    /// llama.cpp's system info line (SIMD features), for manifests and `--verbose`.
    pub system_info: String,
}

/// The parts of a model load, in milliseconds (issue 18: which part a faster load has to win).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LoadPhases {
    /// Reading and checking the file's header and the memory estimate (ingot's own work).
    pub header_ms: f64,
    /// Loading the weights: metadata, vocabulary, tensor mapping.
    pub weights_ms: f64,
    /// Creating the context: KV cache, compute buffers, warm-up. Zero for an engine (or a
    /// model, such as an embedding model) that creates it on first use.
    pub context_ms: f64,
    /// The weights were already loaded (another model of the same file, or kept after an
    /// unload), so `weights_ms` is only the lookup.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub weights_reused: bool,
}

/// The memory a model load is expected to take, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEstimate {
    /// Tensor data of the GGUF file.
    pub weights: u64,
    /// The KV cache for the whole context (all slots).
    pub kv_cache: u64,
    /// Compute and output buffers, the vocabulary's tables and the backend's fixed cost.
    pub compute: u64,
    /// Context the estimate assumed, all slots together (tokens).
    pub n_ctx: u32,
    /// Slots (parallel sequences) the estimate assumed.
    pub n_parallel: usize,
}

impl MemoryEstimate {
    pub fn total(&self) -> u64 {
        self.weights
            .saturating_add(self.kv_cache)
            .saturating_add(self.compute)
    }
}

/// What a loaded model can serve. The server checks every request against it before it
/// generates anything, and answers a request the model cannot serve with a 400
/// (`unsupported_capability`) that names the missing capability, instead of silently
/// ignoring part of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Chat requests ([`Prompt::Chat`], `POST /v1/chat/completions`).
    pub chat: bool,
    /// Raw prompts ([`Prompt::Raw`], `POST /v1/completions`).
    pub completion: bool,
    /// Grammar-constrained sampling ([`SamplingParams::grammar`]): `response_format`
    /// `json_object` and the `grammar` extension. An adapter that cannot constrain its
    /// output must say so here, or JSON mode would silently produce free text.
    pub grammar: bool,
    /// An embedding model (`POST /v1/embeddings`). Decoders can embed too (see
    /// [`LoadedModel::embedding_info`]) but do not declare it: listings show `embedding`
    /// only for models made for it, as Ollama's do.
    #[serde(default)]
    pub embedding: bool,
}

impl Capabilities {
    /// Everything: chat, raw completion and grammars (the llama.cpp engine).
    pub const ALL: Capabilities = Capabilities {
        chat: true,
        completion: true,
        grammar: true,
        embedding: false,
    };

    /// An embedding model: embeddings only, no text generation.
    pub const EMBEDDING: Capabilities = Capabilities {
        chat: false,
        completion: false,
        grammar: false,
        embedding: true,
    };

    /// Whether the engine supports `cap` ([`crate::Capability::JsonMode`] is `grammar`).
    pub fn supports(&self, cap: crate::Capability) -> bool {
        match cap {
            crate::Capability::Chat => self.chat,
            crate::Capability::Completion => self.completion,
            crate::Capability::JsonMode => self.grammar,
            crate::Capability::Embedding => self.embedding,
        }
    }

    /// The supported capabilities, in [`crate::Capability::ALL`]'s order.
    pub fn list(&self) -> Vec<crate::Capability> {
        crate::Capability::ALL
            .into_iter()
            .filter(|c| self.supports(*c))
            .collect()
    }

    /// The names of the declared capabilities (`chat`, `completion`, `json_mode`), for error
    /// messages and listings.
    pub fn names(&self) -> Vec<&'static str> {
        self.list()
            .into_iter()
            .map(crate::Capability::as_str)
            .collect()
    }
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities::ALL
    }
}

/// A backend that can load models: the extension point for new inference engines.
///
/// The server, the benchmark harness and the CLI see models only through this trait and
/// [`LoadedModel`], so any backend — another runtime, a rule-based responder, a test double —
/// can be served over ingot's OpenAI-compatible API. An implementation has two parts:
///
/// 1. [`Engine::load`] (the adapter's `load()`): turn a model file into a [`LoadedModel`].
///    It is called on a blocking thread, the first time a request names the model.
/// 2. [`LoadedModel::generate`] (the adapter's `generate()`): start one generation and
///    return an [`EventStream`] at once; send [`Event::Token`]s and then exactly one
///    [`Event::Done`] (or [`Event::Error`]) from a thread of your own. Check the stream's
///    [`CancelToken`] between steps: the server drops the stream when the client goes away.
///
/// Declare what the model supports with [`LoadedModel::capabilities`]; the server rejects
/// other requests with a 400. `crates/ingot-server/examples/custom_engine.rs` is a complete, served
/// example. The engines are `ingot_engine::LlamaEngine` (llama.cpp) and `mock::MockEngine`
/// (scripted, for tests; cargo feature `mock`).
pub trait Engine: Send + Sync {
    /// A short name for logs and manifests (`llama.cpp`, `mock`).
    fn name(&self) -> &str;
    /// Loads a model. Slow (seconds); call it off the async runtime.
    fn load(&self, path: &Path, opts: &LoadOptions) -> Result<Arc<dyn LoadedModel>, EngineError>;
    /// Frees what the engine keeps of models already unloaded (weights kept for a quick
    /// reload), so that the next load starts from the file: a benchmark's cold load. The
    /// default: an engine that keeps nothing.
    fn forget_unloaded(&self) {}
    /// What loading `path` with `opts` would take in memory, when the engine can tell
    /// (cheap: reads the file's header). The server uses it to unload idle models before a
    /// load that would not fit otherwise. The default: unknown.
    fn estimate_memory(&self, _path: &Path, _opts: &LoadOptions) -> Option<MemoryEstimate> {
        None
    }
    /// The vocabulary of the model file at `path` alone (no weights), for counting the tokens
    /// of text another process generated (`ingot bench --endpoint` against a server that
    /// reports no usage). The default: this engine cannot.
    fn load_tokenizer(&self, path: &Path) -> Result<Box<dyn Tokenizer>, EngineError> {
        Err(EngineError::InvalidRequest(format!(
            "the {} engine cannot read a tokenizer from {}",
            self.name(),
            path.display()
        )))
    }
    /// The backend library's version and build, for benchmark manifests. The default: empty.
    /// Writes `input` (a GGUF file) to `output` quantized to `to` (issue 15: `ingot model
    /// import --quantize`). The default: this engine has no quantizer.
    fn quantize(
        &self,
        input: &Path,
        output: &Path,
        to: crate::quant::QuantType,
    ) -> Result<(), EngineError> {
        let _ = (output, to);
        Err(EngineError::Unsupported {
            model: input.display().to_string(),
            what: format!("quantization with the {} engine", self.name()),
        })
    }
    fn backend_info(&self) -> BackendInfo {
        BackendInfo::default()
    }
}

/// A model's vocabulary on its own (see [`Engine::load_tokenizer`]).
pub trait Tokenizer: Send + Sync {
    /// Tokens in `text` as the model would generate it (no BOS; special tokens parsed).
    fn count(&self, text: &str) -> Result<u32, EngineError>;
}

/// What [`Engine::backend_info`] reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendInfo {
    /// The backend library's version (`b6123` for llama.cpp).
    pub version: String,
    /// Its build: enabled CPU features and backends (llama.cpp's `llama_print_system_info`).
    pub system_info: String,
}

/// A model in memory, ready to generate. Cheap to share; generation happens on the model's own
/// scheduler thread, so `generate` only enqueues.
/// KV-cache occupancy of a loaded model: cells (token positions) held by running sequences,
/// out of the context's cells across all slots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KvCacheUsage {
    pub used_cells: u64,
    pub total_cells: u64,
}

impl KvCacheUsage {
    /// `used / total`, within 0..=1 (0 for an empty context).
    pub fn fraction(&self) -> f64 {
        if self.total_cells == 0 {
            return 0.0;
        }
        (self.used_cells as f64 / self.total_cells as f64).clamp(0.0, 1.0)
    }
}

pub trait LoadedModel: Send + Sync {
    fn info(&self) -> &ModelInfo;
    /// Starts a generation. Errors that can be detected up front (no template, context
    /// overflow, full queue) are returned here; later ones arrive as [`Event::Error`].
    fn generate(&self, req: GenerateRequest) -> Result<EventStream, EngineError>;
    /// Number of tokens `text` encodes to (no BOS), for usage fallbacks and benchmarks.
    fn count_tokens(&self, text: &str) -> Result<u32, EngineError>;
    /// Sequences currently decoding, and requests waiting for a slot.
    fn load_state(&self) -> (usize, usize);
    /// How much of the KV cache the running sequences hold (an inference gateway's
    /// `kv_cache_usage_perc`). `None` when the engine cannot tell (the default).
    fn kv_cache_usage(&self) -> Option<KvCacheUsage> {
        None
    }
    /// What this model can serve; the server answers other requests with a 400. The default
    /// declares everything, which is right for engines that implement the whole
    /// [`GenerateRequest`] (llama.cpp, the mock). Adapters that cannot honour part of it —
    /// no chat template, no grammar support — must override this.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }
    /// How this model writes tool calls (detected from its chat template, see
    /// [`crate::chat::ToolFormat::detect`]). The default: the generic tool prompt.
    fn tool_format(&self) -> crate::chat::ToolFormat {
        crate::chat::ToolFormat::Generic
    }
    /// What this model's embeddings look like, when it can embed (issue 15): an embedding
    /// model with its own pooling, or a decoder with last-token pooling. `None` (the
    /// default): it cannot.
    fn embedding_info(&self) -> Option<crate::embed::EmbeddingInfo> {
        None
    }
    /// Embeds every input of `req`, batched as the engine sees fit. Runs on the caller's
    /// thread (the server calls it from a blocking task). The default refuses.
    fn embed(
        &self,
        req: crate::embed::EmbedRequest,
    ) -> Result<crate::embed::Embeddings, EngineError> {
        let _ = req;
        Err(EngineError::Unsupported {
            model: self.info().path.display().to_string(),
            what: "embeddings".into(),
        })
    }
}
