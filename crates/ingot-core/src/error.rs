//! The engine API's errors and the small types their messages need. This module depends
//! on no other of the crate, so every module can return [`EngineError`] without a cycle.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize)]
pub enum EngineError {
    #[error("cannot load model {path}: {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("{path} is not a valid GGUF file: {reason}")]
    InvalidModel { path: PathBuf, reason: String },
    #[error("prompt ({prompt_tokens} tokens) plus max_tokens ({max_tokens}) exceeds the context length of {n_ctx} tokens")]
    ContextOverflow {
        prompt_tokens: u32,
        max_tokens: u32,
        n_ctx: u32,
    },
    /// The prompt is too long for the context by its byte length alone (checked before
    /// tokenizing it): it needs at least `min_tokens` tokens.
    #[error("the prompt is {bytes} bytes, at least {min_tokens} tokens: more than the context length of {n_ctx} tokens allows")]
    PromptTooLong {
        bytes: u64,
        min_tokens: u64,
        n_ctx: u32,
    },
    #[error("model {model} has no chat template; use a raw completion or configure a fallback chat template")]
    NoChatTemplate { model: String },
    #[error("chat template error: {0}")]
    Template(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A JSON schema ([`SamplingParams::json_schema`]) that cannot become a grammar.
    #[error("{}", invalid_schema_message(param, error))]
    InvalidJsonSchema { param: String, error: SchemaError },
    #[error("server overloaded: the request queue is full ({max_queue} waiting)")]
    Overloaded { max_queue: usize },
    #[error("the model was unloaded")]
    Unloaded,
    #[error("llama.cpp error: {0}")]
    Backend(String),
    /// The model cannot serve this kind of request (a text generation on an embedding
    /// model, embeddings from an engine that has none).
    #[error("model {model} does not support {what}")]
    Unsupported { model: String, what: String },
    /// The model would not fit in memory (checked before loading it).
    #[error("{}", insufficient_memory_message(path, *needed, *available, *limit, detail))]
    InsufficientMemory {
        path: PathBuf,
        /// Estimated bytes the load takes.
        needed: u64,
        /// Bytes available to it.
        available: u64,
        /// Where `available` came from.
        limit: MemorySource,
        /// The estimate's parts, for the message.
        detail: String,
    },
}

/// "`param`: this schema cannot be enforced: `why` at `where` [keyword `k`]".
fn invalid_schema_message(param: &str, e: &SchemaError) -> String {
    let keyword = e
        .keyword
        .as_deref()
        .map(|k| format!(" [keyword `{k}`]"))
        .unwrap_or_default();
    format!(
        "{param}: this schema cannot be enforced: {} at {}{keyword}",
        e.message, e.path
    )
}

fn insufficient_memory_message(
    path: &Path,
    needed: u64,
    available: u64,
    limit: MemorySource,
    detail: &str,
) -> String {
    let name = path
        .file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy();
    let what = match limit {
        MemorySource::Limit => "the --max-memory limit (INGOT_MAX_MEMORY) allows",
        MemorySource::Free => "the system has free",
    };
    format!(
        "not enough memory to load {name}: it needs about {} ({detail}), but {what} only {}. \
         Try a smaller quantization of the model, a shorter context (--ctx-size), or fewer parallel \
         slots (--parallel); unload other models first",
        human_bytes(needed),
        human_bytes(available)
    )
}

/// Why a JSON schema cannot become a grammar: the keyword at fault and where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{message} (at {path})")]
pub struct SchemaError {
    /// JSON pointer of the offending (sub)schema, `#` for the root.
    pub path: String,
    /// The keyword at fault, when there is one.
    pub keyword: Option<String>,
    pub message: String,
}

/// Where the available-memory figure came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemorySource {
    /// `--max-memory` / `INGOT_MAX_MEMORY` (less what other loaded models take).
    Limit,
    /// What the OS reports it can hand out.
    Free,
}

/// Sizes in messages (the path of earlier versions; the formatter is [`crate::units`]'s).
pub use crate::units::human_bytes;
