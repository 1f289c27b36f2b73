//! ingot-engine: the Engine trait, typed event stream and the llama.cpp backend.
pub mod types;
pub use types::*;
