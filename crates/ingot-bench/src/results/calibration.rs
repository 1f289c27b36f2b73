//! The harness's calibration as results.json holds it (measured by
//! [`crate::pipeline::calibrate`]).

use serde::{Deserialize, Serialize};

/// One timing point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationPoint {
    pub concurrency: usize,
    pub requests: usize,
    pub failed: usize,
    pub ttft_measured_ms_p50: Option<f64>,
    pub ttft_true_ms_p50: Option<f64>,
    pub ttft_error_ms_p50: Option<f64>,
    pub ttft_error_vs_scripted_ms_p50: Option<f64>,
    pub itl_measured_ms_p50: Option<f64>,
    pub itl_true_ms_p50: Option<f64>,
    pub itl_error_ms_p50: Option<f64>,
    pub itl_error_vs_scripted_ms_p50: Option<f64>,
}

/// The harness's self-check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub scripted_ttft_ms: f64,
    pub scripted_itl_ms: f64,
    pub tokens: usize,
    /// At the lowest concurrency measured (1 by default).
    pub ttft_error_ms_p50: Option<f64>,
    pub itl_error_ms_p50: Option<f64>,
    pub points: Vec<CalibrationPoint>,
    pub max_streamed_req_per_s: Option<f64>,
    pub throughput_concurrency: usize,
    pub throughput_requests: u64,
    pub throughput_failed: usize,
    /// Whether this is a release build (debug builds are much slower).
    pub release_build: bool,
    pub cores: usize,
}
