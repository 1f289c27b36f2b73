//! The GBNF grammar behind `response_format: {"type": "json_object"}`: the engine's, so JSON
//! mode means the same thing in the server, the CLI and the benchmarks.

pub use ingot_core::JSON_GBNF;
