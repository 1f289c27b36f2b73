//! ingot-bench
