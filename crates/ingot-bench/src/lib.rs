//! ingot-bench: the benchmark harness behind `ingot bench`.
pub mod record;
pub mod stats;
