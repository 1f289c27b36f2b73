//! Scoring the answers: checks, the LLM judge, a run's scores, human annotations.
pub mod annotate;
pub mod judge;
pub mod quality;
pub mod scored;
pub mod scoring;

pub use scoring::*;
pub mod judge_spec;
