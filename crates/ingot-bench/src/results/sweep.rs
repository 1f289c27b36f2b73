//! A model's sweep as results.json holds it (see [`crate::analyze::sweep`]).

use serde::{Deserialize, Serialize};

/// One point of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    pub scenario: String,
    /// `sync`, `throughput` or `rate`.
    pub kind: String,
    /// Offered requests/s (rate points).
    pub offered_rate: Option<f64>,
    pub achieved_req_s: Option<f64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p90_ms: Option<f64>,
    pub itl_mean_ms: Option<f64>,
    pub e2e_p50_ms: Option<f64>,
    /// Rate points: whether the queue stayed flat (see the module docs).
    pub sustained: Option<bool>,
}

/// A model's sweep (`results.json`: `models[].sweep`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepResult {
    pub points: Vec<SweepPoint>,
    /// The highest sustained offered rate (requests/s), if any rate was sustained.
    pub saturation_rate: Option<f64>,
    /// What the sweep found, in a sentence.
    pub summary: String,
}
