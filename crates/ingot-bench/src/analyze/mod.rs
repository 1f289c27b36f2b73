//! Figures from the records and results: statistics, the metric registry, selection,
//! comparisons, sweeps and cost.
pub mod ab_compare;
pub mod compare;
pub mod cost;
pub mod embedding;
pub mod metrics;
pub mod select;
pub mod stats;
pub mod sweep;
