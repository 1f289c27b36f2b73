//! ingot's Rust SDK.
//!
//! - [`Manager`] — like Foundry Local's `FoundryLocalManager`: finds the running ingot
//!   service (or starts one), lists the catalog, the cache and the loaded models, downloads
//!   and loads models, and hands out the OpenAI endpoint for any OpenAI client:
//!
//!   ```no_run
//!   # fn main() -> Result<(), ingot::Error> {
//!   let manager = ingot::Manager::builder().start_service(true).build()?;
//!   manager.ensure_model("smollm2-135m")?;
//!   println!("{} (key {})", manager.endpoint(), manager.api_key());
//!   # Ok(()) }
//!   ```
//!
//!   `examples/sdk_chat.rs` chats through it with `async-openai`.
//! - [`import`] — `ingot model import`: Hugging Face checkpoints converted to GGUF,
//!   quantized, cached and registered.
//! - [`models`] — adding models to the user catalog and removing them (what `ingot model
//!   add|rm` do; also [`Manager::add_model`] / [`Manager::remove_model`]).
//! - [`CatalogModels`] — the server's model provider over the catalog and the cache (what
//!   `ingot serve` runs), including remote adapters, which the server proxies.
//! - [`service`] — the status file through which clients find the detached service.
//! - [`compat`] — Foundry Local and Ollama model names, and the `foundry` command alias.
//! - The library crates, re-exported: [`catalog`], [`cache`], [`fetch`], [`engine`] (the
//!   [`engine::Engine`] trait is the extension point for new backends; see
//!   ingot-server's `examples/custom_engine.rs`) and [`server`]. Feature `llama` (off by
//!   default; the `ingot` binary enables it) brings the llama.cpp engine for an embedded
//!   service; without it nothing here builds llama.cpp.

#![warn(missing_docs)]

pub mod compat;
mod error;
pub mod import;
mod manager;
pub mod models;
mod provider;
pub mod service;
mod support;

pub use error::{Error, Result};
pub use ingot_api as api;
pub use ingot_cache as cache;
pub use ingot_catalog as catalog;
/// The engine API (feature `llama` is off: no llama.cpp engine).
#[cfg(not(feature = "llama"))]
pub use ingot_core as engine;
/// The engine API; with feature `llama` (the default) also the llama.cpp engine.
#[cfg(feature = "llama")]
pub use ingot_engine as engine;
pub use ingot_fetch as fetch;
pub use ingot_server as server;
pub use manager::{Manager, ManagerBuilder};
pub use provider::CatalogModels;
pub use support::load_catalog;
