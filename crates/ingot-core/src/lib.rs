//! ingot-core: the engine API without an engine.
//!
//! Everything the HTTP layer, the benchmarks and custom engines need, and nothing that links
//! llama.cpp (that is `ingot-engine`, which implements these traits):
//! - [`types`]: [`Engine`], [`LoadedModel`], [`GenerateRequest`], the [`Event`] stream,
//!   [`Timings`], [`EngineError`], [`Tokenizer`];
//! - [`provider`]: the [`ModelProvider`] port that maps model ids to files, shared by the
//!   server and the benchmarks;
//! - [`template`]: Hugging Face compatible chat-template rendering;
//! - [`stop`], [`utf8`]: stop strings held back across tokens, incremental UTF-8 decoding;
//! - [`grammar`]: GBNF bounds checks and JSON mode's grammar; [`json_schema`]: the schema
//!   pre-scan and conversion around a backend's converter;
//! - [`logprobs`], [`memory`], [`cpu`], [`gguf`]: log-softmax entries, memory estimates,
//!   core counts, GGUF structure checks;
//! - [`sampling`]: the sampling-parameter checks every engine applies;
//! - [`capability`]: the one capability vocabulary ([`Capability`]: `chat`, `completion`,
//!   `json_mode`);
//! - [`embed`]: embedding requests, pooling, and the checks every engine applies;
//! - [`quant`]: the quantization types an engine can write;
//! - [`units`]: the one human-readable size format (`93.8 MiB`);
//! - [`tools`]: tool calling — rendering tools into a prompt (the model's template or the
//!   generic tool prompt), forced-call schemas, and parsing calls out of the output;
//! - [`slots`]: slot and queue accounting shared by engines;
//! - [`speculative`]: the speculative decoding modes ([`Speculative`]: `off`, `ngram`);
//! - `mock` (cargo feature `mock`): a scripted engine with the same semantics, for tests.

pub mod types;
pub use types::*;

pub mod cancel;
pub mod capability;
pub mod chat;
pub use capability::{Capability, UnknownCapability};
pub mod cpu;
pub mod embed;
pub mod error;
pub mod files;
pub mod gguf;
pub mod grammar;
pub mod json_schema;
pub mod logprobs;
pub mod memory;
#[cfg(feature = "mock")]
pub mod mock;
pub mod provider;
pub mod quant;
pub mod sampling;
pub mod slots;
pub mod speculative;
pub mod stop;
pub mod template;
pub mod tools;
pub mod units;
pub mod utf8;

pub use cpu::{physical_cores, server_io_threads};
pub use grammar::JSON_GBNF;
pub use json_schema::{check_json_schema, json_schema_grammar_with, RawConverter, SchemaError};
pub use logprobs::{TokenLogprob, TopLogprob, MAX_TOP_LOGPROBS};
pub use memory::{available_memory, estimate_memory, parse_memory_size, MemoryEstimate};
pub use provider::{
    DownloadProgress, ModelDescriptor, ModelDetails, ModelProvider, ProviderError, RemoteModel,
    ResolvedModel,
};
pub use quant::{QuantType, UnknownQuantType};
pub use speculative::{Speculative, UnknownSpeculative};
pub use template::{render_chat, ChatTemplate};
