//! A model's quality as results.json holds it (aggregated by [`crate::score::quality`]).

use serde::{Deserialize, Serialize};

use crate::spec::checks::CaseScore;

/// People's 1–5 scores from annotations.csv.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HumanScores {
    pub n: usize,
    pub mean: Option<f64>,
    pub mean_ci: Option<[f64; 2]>,
}

/// A model's quality over the run's cases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ModelQuality {
    /// Cases with a score (every check skipped: not counted).
    pub cases: usize,
    pub passed: usize,
    pub pass_rate: Option<f64>,
    /// Mean case score, 0..1, and its bootstrap 95 % CI.
    pub score: Option<f64>,
    pub score_ci: Option<[f64; 2]>,
    /// The same on the 1–5 scale.
    pub score_5: Option<f64>,
    pub score_5_ci: Option<[f64; 2]>,
    /// Cases with a judge error.
    pub judge_errors: usize,
    /// Checks skipped (judge checks without a judge).
    pub skipped_checks: usize,
    pub human: Option<HumanScores>,
    pub case_scores: Vec<CaseScore>,
}
