//! ingot-engine: the llama.cpp backend of ingot's engine API ([`ingot_core`]).
//!
//! - [`types`] (from ingot-core, re-exported): the backend-independent API ([`Engine`],
//!   [`LoadedModel`], [`GenerateRequest`], the [`Event`] stream, [`Timings`], [`EngineError`]).
//! - [`LlamaEngine`]: the llama.cpp backend (CPU by default; cargo features `cuda`, `vulkan`,
//!   `metal`, `dynamic-backends` pass through to llama.cpp).
//! - [`json_schema_grammar`]: JSON schemas to grammars through llama.cpp's converter.
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
//! by `n_batch`. With speculative decoding (`LoadOptions::speculative`, prompt lookup by
//! default) a generating sequence whose last tokens occurred before in its prompt or output
//! also puts the tokens that followed them into the batch, and keeps those its own sampler
//! confirms, so one decode can give it several tokens and the output stays that of plain
//! decoding. Then each sequence with logits in the batch samples, streams its text
//! (incremental UTF-8, stop strings held back and never emitted) and finishes on EOS, a stop
//! string, `max_tokens` or a full context. With `n_parallel = 1` this is the plain
//! single-stream loop the CLI uses. With `prefix_cache` on, a finished sequence keeps its KV
//! cells and the next request reuses the longest common token prefix (reported as
//! `cached_tokens`).
// The backend-independent API lives in ingot-core; it is re-exported here so the binary and
// the SDK can name everything through this crate.
pub use ingot_core::*;

mod backend;
pub mod bench;
mod draft;
mod embedder;
pub mod fresh_pages;
pub mod kernels;
mod llama;
pub mod logits;
pub mod quantize;
mod sampler;
mod scheduler;
mod schema_grammar;
mod tokens;
pub mod weights_cache;

pub use backend::{llama_cpp_version, system_info};
pub use bench::{bench_engine, BenchEngineParams, BenchEngineResult, MeanSd};
pub use llama::{LlamaEngine, LlamaLoadedModel};
pub use schema_grammar::{
    json_schema_grammar, json_schema_grammar_str, llama_json_schema_converter,
};
pub use tokens::LlamaTokenizer;

#[cfg(test)]
mod tests {
    /// The parser's own type table must size tensors exactly as the linked ggml does, or
    /// the truncation check would accept cut files (or reject good ones).
    #[test]
    fn ingot_gguf_type_table_matches_ggml() {
        let count = llama_cpp_sys_2::GGML_TYPE_COUNT;
        assert_eq!(
            count,
            ingot_gguf::GGML_TYPE_COUNT,
            "ggml gained or lost types: update ingot-gguf's table"
        );
        for ty in 0..count {
            // SAFETY: `ty` is below GGML_TYPE_COUNT; both functions read a static table.
            let (blck, size) = unsafe {
                (
                    llama_cpp_sys_2::ggml_blck_size(ty),
                    llama_cpp_sys_2::ggml_type_size(ty),
                )
            };
            match ingot_gguf::ggml_type(ty) {
                Some(t) => assert_eq!(
                    (t.block_size, t.type_size),
                    (blck as u64, size as u64),
                    "type {ty} ({})",
                    t.name
                ),
                None => assert!(
                    blck == 0 || size == 0,
                    "type {ty} is missing from ingot-gguf"
                ),
            }
        }
    }
}
