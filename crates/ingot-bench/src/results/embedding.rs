//! An embedding model's results as results.json holds them (`models[].embedding`, issue 15;
//! computed by [`crate::analyze::embedding`]). An embedding model has no `scenarios` (no TTFT,
//! ITL or output tokens exist for it) and no quality scores.

use serde::{Deserialize, Serialize};

use crate::measure::exec::Scenario;
use crate::util::numbers::Summary;

/// What an embedding model's vectors look like and how it was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingResult {
    /// Texts per request.
    pub batch_size: usize,
    /// Length of the vectors (declared by the model, else measured).
    pub dimensions: Option<u32>,
    /// `mean`, `cls` or `last`.
    pub pooling: Option<String>,
    /// Whether the vectors are unit length.
    pub normalized: Option<bool>,
    /// The sanity check of every vector received in the measured scenarios.
    pub sanity: EmbeddingSanity,
    pub scenarios: Vec<EmbeddingScenario>,
}

/// Vectors checked (declared dimension, finite values, unit norm when normalized).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct EmbeddingSanity {
    pub vectors: u64,
    pub invalid: u64,
    /// The first problem found.
    pub problem: Option<String>,
}

impl EmbeddingSanity {
    /// Checked at least one vector and found no problem.
    pub fn passed(&self) -> bool {
        self.vectors > 0 && self.invalid == 0
    }
}

/// One scenario of an embedding model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingScenario {
    pub scenario: Scenario,
    pub started: String,
    pub metrics: Option<EmbeddingMetrics>,
    pub metrics_error: Option<String>,
}

/// The figures of one embedding scenario (warm-up excluded). Rates are over the measured
/// window (first send to last end), counting successful requests only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct EmbeddingMetrics {
    pub requests: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub error_rate: f64,
    /// Texts embedded by successful requests (requests × batch size).
    pub inputs: u64,
    /// Their tokens, from the usage (endpoint) or the engine's count.
    pub input_tokens: u64,
    /// Successful requests whose token count is unknown (no usage in the answer).
    pub uncounted: usize,
    pub window_s: f64,
    pub requests_per_s: Option<f64>,
    pub inputs_per_s: Option<f64>,
    pub input_tokens_per_s: Option<f64>,
    /// Send to whole answer, successful requests.
    pub latency_ms: Summary,
    /// Distinct errors and how often each occurred.
    pub errors: Vec<(String, usize)>,
}
