//! An A/B comparison as results.json holds it (computed by [`crate::analyze::ab_compare`]).

use serde::{Deserialize, Serialize};

/// One compared target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparedTarget {
    pub name: String,
    /// The server's URL (credentials redacted); absent for in-process models.
    pub endpoint: Option<String>,
    /// The model requested (or loaded).
    pub model: String,
}

/// The verdict on one metric of one target against the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Better,
    Worse,
    NotSignificant,
}

/// One metric of one target against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    pub scenario: String,
    pub target: String,
    /// A [`crate::analyze::compare`] metric name (`e2e_ms.p95`, `output_tok_s`, ...).
    pub metric: String,
    pub higher_is_better: bool,
    /// Pooled over every round.
    pub baseline_value: Option<f64>,
    pub value: Option<f64>,
    /// Geometric mean of the per-round ratios target / baseline.
    pub ratio: Option<f64>,
    /// Bootstrap 95 % CI of `ratio` over rounds.
    pub ci: Option<[f64; 2]>,
    /// The ratio of each round (absent where a round has no value).
    pub per_round: Vec<Option<f64>>,
    pub verdict: Verdict,
}

/// One target's figures in one round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundFigure {
    pub round: u32,
    /// 0 when the target ran first in its round.
    pub position: usize,
    pub target: String,
    pub scenario: String,
    pub requests: usize,
    pub failed: usize,
    pub retried: usize,
    /// `(metric, value)` for every compared metric.
    pub values: Vec<(String, Option<f64>)>,
}

/// `results.json`'s `comparison`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The first target: every ratio is against it.
    pub baseline: String,
    pub targets: Vec<ComparedTarget>,
    pub rounds: u32,
    pub pause_s: f64,
    /// The order the targets ran in, per round.
    pub order: Vec<Vec<String>>,
    pub min_rounds_for_verdict: usize,
    pub round_figures: Vec<RoundFigure>,
    pub ratios: Vec<Ratio>,
}
