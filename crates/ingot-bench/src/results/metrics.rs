//! The metrics of a scenario as results.json holds them, and the SLOs they are measured
//! against (computed by [`crate::analyze::stats`]).

use serde::{Deserialize, Serialize};

use crate::measure::record::RequestRecord;
use crate::util::numbers::Summary;

/// Median and MAD-based outliers of one prompt's e2e latencies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutlierReport {
    pub prompt_id: String,
    pub n: usize,
    pub median_ms: f64,
    pub mad_ms: f64,
    /// Indices (record `index`) of the outliers and their latency.
    pub outliers: Vec<(u64, f64)>,
}

/// A duration that is neither a number of milliseconds nor in humantime syntax.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid duration '{value}': {source}")]
pub struct DurationError {
    /// The text as given.
    pub value: String,
    pub source: humantime::DurationError,
}

/// Errors of `--slo` ([`Slo::parse`]); `part` is the offending `name=duration`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SloError {
    #[error("SLO '{part}': expected name=duration")]
    NotNameValue { part: String },
    #[error("SLO '{part}': {source}")]
    Duration { part: String, source: DurationError },
    #[error("unknown SLO '{name}' (ttft, e2e, itl)")]
    UnknownName { name: String },
}

/// Service-level objectives for goodput: a request is "good" when it succeeded and meets all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    pub ttft_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
    pub itl_ms: Option<f64>,
}

impl Slo {
    /// Parses `ttft=500ms,e2e=5s,itl=50ms` (durations in humantime syntax; bare numbers are ms).
    pub fn parse(s: &str) -> Result<Self, SloError> {
        let mut slo = Slo::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| SloError::NotNameValue { part: part.into() })?;
            let ms = parse_ms(v.trim()).map_err(|source| SloError::Duration {
                part: part.into(),
                source,
            })?;
            match k.trim() {
                "ttft" => slo.ttft_ms = Some(ms),
                "e2e" => slo.e2e_ms = Some(ms),
                "itl" | "tpot" => slo.itl_ms = Some(ms),
                other => return Err(SloError::UnknownName { name: other.into() }),
            }
        }
        Ok(slo)
    }

    pub fn is_empty(&self) -> bool {
        self.ttft_ms.is_none() && self.e2e_ms.is_none() && self.itl_ms.is_none()
    }

    /// Whether a record meets every objective (a failed request never does).
    pub fn met(&self, r: &RequestRecord) -> bool {
        if !r.ok() {
            return false;
        }
        let within = |limit: Option<f64>, v: Option<f64>| match (limit, v) {
            (None, _) => true,
            (Some(l), Some(v)) => v <= l,
            (Some(_), None) => false,
        };
        within(self.ttft_ms, r.ttft_ms())
            && within(self.e2e_ms, Some(r.e2e_ms()))
            && (self.itl_ms.is_none() || r.itl_ms().is_none() || within(self.itl_ms, r.itl_ms()))
    }
}

/// Milliseconds from `500ms`, `5s`, `1m`, or a bare number of milliseconds.
pub fn parse_ms(v: &str) -> Result<f64, DurationError> {
    if let Ok(n) = v.parse::<f64>() {
        return Ok(n);
    }
    humantime::parse_duration(v)
        .map(|d| d.as_secs_f64() * 1000.0)
        .map_err(|source| DurationError {
            value: v.into(),
            source,
        })
}

/// Everything a scenario reports, computed from its records (warm-up excluded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ScenarioMetrics {
    /// Measured requests (warm-up excluded), failed ones included.
    pub requests: usize,
    pub succeeded: usize,
    pub failed: usize,
    /// failed / requests (0 when there were none).
    pub error_rate: f64,
    /// First send to last end of the measured requests, in seconds.
    pub window_s: f64,
    /// Σ completion tokens of successful requests / window.
    pub output_tok_s: Option<f64>,
    /// Successful requests / window.
    pub request_throughput: Option<f64>,
    /// Requests meeting every SLO / window (absent without SLOs).
    pub goodput: Option<f64>,
    /// Share of requests meeting every SLO.
    pub slo_attainment: Option<f64>,
    pub completion_tokens: u64,
    pub prompt_tokens: u64,
    pub ttft_ms: Summary,
    pub e2e_ms: Summary,
    /// Per request: (e2e − TTFT)/(N − 1).
    pub itl_ms: Summary,
    /// Per request: e2e / N.
    pub tpot_ms: Summary,
    /// Per request: (N − 1)/(e2e − TTFT).
    pub decode_tok_s: Summary,
    /// Latency from the intended start (equal to the above in closed loop).
    pub ttft_from_intended_ms: Summary,
    pub e2e_from_intended_ms: Summary,
    /// Actual send − intended start.
    pub schedule_lag_ms: Summary,
    /// Sends later than [`crate::analyze::stats::LATE_THRESHOLD_MS`].
    pub late_sends: usize,
    pub late_share: f64,
    /// Distinct error messages and how often they occurred.
    pub errors: Vec<(String, usize)>,
    /// Requests sent a second time after the keep-alive race (a reused connection closed
    /// before any response, see [`crate::measure::conn`]); failed only if the retry failed too.
    #[serde(default)]
    pub retried: usize,
    /// Prompts with MAD outliers.
    pub outliers: Vec<OutlierReport>,
}
