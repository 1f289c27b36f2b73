//! Helpers that know nothing of benchmarks.
pub mod http;
pub mod numbers;
pub mod redact;
pub mod text;
