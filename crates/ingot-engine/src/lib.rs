//! ingot-engine: the inference engine behind ingot's CLI, server and benchmarks.
//!
//! - [`types`]: the backend-independent API ([`Engine`], [`LoadedModel`], [`GenerateRequest`],
//!   the [`Event`] stream, [`Timings`], [`EngineError`]).
//! - [`LlamaEngine`]: the llama.cpp backend (CPU by default; cargo features `cuda`, `vulkan`,
//!   `metal`, `dynamic-backends` pass through to llama.cpp).
//! - [`mock::MockEngine`]: a scripted engine with the same semantics, for tests.
//! - [`render_chat`] / [`ChatTemplate`]: Hugging Face compatible chat-template rendering.
//! - [`bench_engine`]: llama-bench-equivalent pp/tg measurement.
//! - [`system_info`], [`physical_cores`]: facts for manifests.
//!
//! # How a request flows
//!
//! `generate` runs on the caller's thread and does everything that can fail up front: sampling
//! parameter checks, chat-template rendering, tokenization (BOS per the vocabulary, special
//! tokens parsed), the context check (`prompt + max_tokens <= n_ctx / n_parallel`, else
//! [`EngineError::ContextOverflow`]), building the sampler (grammar errors) and the bounded
//! queue check ([`EngineError::Overloaded`]). The prepared job then goes to the model's own
//! scheduler thread, which owns the llama.cpp context.
//!
//! The scheduler is a continuous-batching loop over `n_parallel` slots (llama.cpp sequence ids,
//! each with its own KV cells and sampler). Every step it takes new requests, drops cancelled
//! ones (a [`CancelToken`] or a dropped [`EventStream`] stops a sequence within one step and
//! frees its slot), admits waiting requests into free slots, and decodes **one** batch holding
//! the next token of every generating sequence plus a chunk of pending prompt tokens (at most
//! one ubatch while others generate, so a long prompt does not stall running streams), bounded
//! by `n_batch`. Then each sequence with logits in the batch samples, streams its text
//! (incremental UTF-8, stop strings held back and never emitted) and finishes on EOS, a stop
//! string, `max_tokens` or a full context. With `n_parallel = 1` this is the plain
//! single-stream loop the CLI uses. With `prefix_cache` on, a finished sequence keeps its KV
//! cells and the next request reuses the longest common token prefix (reported as
//! `cached_tokens`).
pub mod types;
pub use types::*;

mod backend;
pub mod bench;
mod cpu;
pub mod gguf;
pub mod grammar;
mod json_schema;
mod llama;
pub mod logprobs;
pub mod memory;
pub mod mock;
mod sampling;
mod scheduler;
pub mod stop;
pub mod template;
pub mod utf8;

pub use backend::{llama_cpp_version, system_info};
pub use bench::{bench_engine, BenchEngineParams, BenchEngineResult, MeanSd};
pub use cpu::{physical_cores, server_io_threads};
pub use json_schema::{json_schema_grammar, json_schema_grammar_str, SchemaError};
pub use llama::{LlamaEngine, LlamaLoadedModel, Tokenizer, DEFAULT_CTX_PER_SEQ};
pub use logprobs::{TokenLogprob, TopLogprob, MAX_TOP_LOGPROBS};
pub use memory::{available_memory, estimate_memory, parse_memory_size, MemoryEstimate};
pub use sampling::JSON_GBNF;
pub use template::{render_chat, ChatTemplate};
