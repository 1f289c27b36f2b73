//! ingot-engine: the inference engine behind ingot's CLI, server and benchmarks.
//!
//! - [`types`]: the backend-independent API ([`Engine`], [`LoadedModel`], [`GenerateRequest`],
//!   the [`Event`] stream, [`Timings`], [`EngineError`]).
//! - [`LlamaEngine`]: the llama.cpp backend. Each loaded model runs a continuous-batching
//!   scheduler thread (see [`scheduler`](crate::scheduler) docs in the source) serving
//!   `n_parallel` sequences.
//! - [`mock::MockEngine`]: a scripted engine with the same semantics, for tests.
//! - [`render_chat`] / [`ChatTemplate`]: Hugging Face compatible chat-template rendering.
//! - [`bench_engine`]: llama-bench-equivalent pp/tg measurement.
//! - [`system_info`], [`physical_cores`]: facts for manifests.
pub mod types;
pub use types::*;

mod backend;
pub mod bench;
mod cpu;
pub mod gguf;
mod llama;
pub mod mock;
mod sampling;
mod scheduler;
pub mod stop;
pub mod template;
pub mod utf8;

pub use backend::system_info;
pub use bench::{bench_engine, BenchEngineParams, BenchEngineResult, MeanSd};
pub use cpu::physical_cores;
pub use llama::{LlamaEngine, LlamaLoadedModel, DEFAULT_CTX_PER_SEQ};
pub use sampling::JSON_GBNF;
pub use template::{render_chat, ChatTemplate};
