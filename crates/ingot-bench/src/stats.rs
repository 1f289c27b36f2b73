//! Statistics, computed only from [`RequestRecord`]s.
//!
//! **Percentiles** use one method everywhere: linear interpolation between closest ranks
//! (Hyndman & Fan type 7, the default of R, NumPy and Excel's `PERCENTILE.INC`). For sorted
//! values `x[0..n]` and `p` in [0, 1]: `h = (n − 1)·p`, `q = x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋])`.
//! With n = 1 every percentile is the value; with n = 0 every statistic is absent (`None`,
//! `null` in JSON, `–` in tables), never NaN.
//!
//! **sd** is the sample standard deviation (n − 1 denominator); absent for n < 2.
//!
//! **Confidence intervals**: percentile bootstrap, 1,000 resamples, 95 % (2.5th and 97.5th
//! percentiles of the resampled statistic, type 7), from a fixed seed so that a report is
//! reproducible from its records.
//!
//! **Outliers**: the modified Z-score test hyperfine uses, per prompt on e2e latency:
//! `z = 0.6745·(x − median)/MAD`, outlier when |z| > 3.5. No test when MAD = 0 or n < 3.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::record::RequestRecord;

/// Bootstrap resamples.
pub const BOOTSTRAP_RESAMPLES: usize = 1000;
/// Seed of the bootstrap's generator.
pub const BOOTSTRAP_SEED: u64 = 0x1960_7a11;
/// A send later than its intended start by more than this is "late" (open loop). Tokio's timer
/// has 1 ms resolution, so lags under it are the timer's, not the harness's.
pub const LATE_THRESHOLD_MS: f64 = 2.0;
/// Modified Z-score above which a request is an outlier.
pub const OUTLIER_Z: f64 = 3.5;

/// Summary statistics of one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Summary {
    pub n: usize,
    pub mean: Option<f64>,
    pub sd: Option<f64>,
    pub min: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
    /// Bootstrap 95 % CI of the mean.
    pub mean_ci: Option<[f64; 2]>,
    /// Bootstrap 95 % CI of p95.
    pub p95_ci: Option<[f64; 2]>,
}

/// Type-7 percentile of sorted, finite values; `None` for an empty slice.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let p = p.clamp(0.0, 1.0);
    let h = (n - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

fn finite_sorted(values: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Sample standard deviation; `None` for n < 2.
pub fn sd(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let m = mean(values)?;
    let var = values.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (values.len() - 1) as f64;
    Some(var.max(0.0).sqrt())
}

/// Percentile-bootstrap 95 % CI of `stat` over `values` (n ≥ 1). `stat` may reorder the
/// resample in place.
fn bootstrap(values: &[f64], stat: impl Fn(&mut [f64]) -> f64) -> Option<[f64; 2]> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mut rng = StdRng::seed_from_u64(BOOTSTRAP_SEED);
    let mut stats = Vec::with_capacity(BOOTSTRAP_RESAMPLES);
    let mut sample = vec![0.0; n];
    for _ in 0..BOOTSTRAP_RESAMPLES {
        for s in sample.iter_mut() {
            *s = values[rng.gen_range(0..n)];
        }
        stats.push(stat(&mut sample));
    }
    stats.sort_by(|a, b| a.total_cmp(b));
    Some([
        percentile_sorted(&stats, 0.025)?,
        percentile_sorted(&stats, 0.975)?,
    ])
}

/// Percentile-bootstrap 95 % CI of `stat` over `values` (the same resampling, seed and
/// percentiles as every CI of a report); `None` for no values.
pub fn bootstrap_ci(values: &[f64], stat: impl Fn(&mut [f64]) -> f64) -> Option<[f64; 2]> {
    bootstrap(values, stat)
}

/// Type-7 percentile of unsorted values, reordering them (selection, not a full sort).
fn percentile_select(v: &mut [f64], p: f64) -> f64 {
    let n = v.len();
    let h = (n - 1) as f64 * p;
    let lo = h.floor() as usize;
    let (_, x_lo, upper) = v.select_nth_unstable_by(lo, |a, b| a.total_cmp(b));
    let x_lo = *x_lo;
    let x_hi = upper.iter().copied().fold(f64::INFINITY, f64::min);
    if upper.is_empty() {
        x_lo
    } else {
        x_lo + (h - lo as f64) * (x_hi - x_lo)
    }
}

/// Summary of `values` (non-finite values are dropped), with bootstrap CIs.
pub fn summarize(values: &[f64]) -> Summary {
    let v = finite_sorted(values);
    Summary {
        mean_ci: bootstrap(&v, |s| s.iter().sum::<f64>() / s.len() as f64),
        p95_ci: bootstrap(&v, |s| percentile_select(s, 0.95)),
        ..summarize_no_ci(&v)
    }
}

/// Summary without the (costly) bootstrap CIs.
pub fn summarize_no_ci(values: &[f64]) -> Summary {
    let v = finite_sorted(values);
    let p = |q| percentile_sorted(&v, q);
    Summary {
        n: v.len(),
        mean: mean(&v),
        sd: sd(&v),
        min: v.first().copied(),
        p50: p(0.50),
        p90: p(0.90),
        p95: p(0.95),
        p99: p(0.99),
        max: v.last().copied(),
        mean_ci: None,
        p95_ci: None,
    }
}

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

/// Median, MAD and the outlying `(index, value)` pairs.
pub type MadResult = (f64, f64, Vec<(u64, f64)>);

/// Modified Z-score outliers of `(index, value)` pairs; `None` when no test applies.
pub fn mad_outliers(values: &[(u64, f64)]) -> Option<MadResult> {
    if values.len() < 3 {
        return None;
    }
    let sorted = finite_sorted(&values.iter().map(|v| v.1).collect::<Vec<_>>());
    let median = percentile_sorted(&sorted, 0.5)?;
    let dev = finite_sorted(
        &sorted
            .iter()
            .map(|x| (x - median).abs())
            .collect::<Vec<_>>(),
    );
    let mad = percentile_sorted(&dev, 0.5)?;
    if mad <= 0.0 {
        return Some((median, mad, Vec::new()));
    }
    let out = values
        .iter()
        .filter(|(_, x)| (0.6745 * (x - median) / mad).abs() > OUTLIER_Z)
        .copied()
        .collect();
    Some((median, mad, out))
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
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut slo = Slo::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("SLO '{part}': expected name=duration"))?;
            let ms = parse_ms(v.trim()).map_err(|e| format!("SLO '{part}': {e}"))?;
            match k.trim() {
                "ttft" => slo.ttft_ms = Some(ms),
                "e2e" => slo.e2e_ms = Some(ms),
                "itl" | "tpot" => slo.itl_ms = Some(ms),
                other => return Err(format!("unknown SLO '{other}' (ttft, e2e, itl)")),
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
pub fn parse_ms(v: &str) -> Result<f64, String> {
    if let Ok(n) = v.parse::<f64>() {
        return Ok(n);
    }
    humantime::parse_duration(v)
        .map(|d| d.as_secs_f64() * 1000.0)
        .map_err(|e| format!("invalid duration '{v}': {e}"))
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
    /// Sends later than [`LATE_THRESHOLD_MS`].
    pub late_sends: usize,
    pub late_share: f64,
    /// Distinct error messages and how often they occurred.
    pub errors: Vec<(String, usize)>,
    /// Requests sent a second time after the keep-alive race (a reused connection closed
    /// before any response, see [`crate::conn`]); failed only if the retry failed too.
    #[serde(default)]
    pub retried: usize,
    /// Prompts with MAD outliers.
    pub outliers: Vec<OutlierReport>,
}

/// Computes a scenario's metrics from its records. Never panics on empty or odd input.
pub fn scenario_metrics(records: &[RequestRecord], slo: &Slo) -> ScenarioMetrics {
    let measured: Vec<&RequestRecord> = records.iter().filter(|r| !r.warmup).collect();
    let ok: Vec<&RequestRecord> = measured.iter().copied().filter(|r| r.ok()).collect();
    let requests = measured.len();
    let failed = requests - ok.len();
    let start = measured
        .iter()
        .map(|r| r.send_ms)
        .fold(f64::INFINITY, f64::min);
    let end = measured
        .iter()
        .map(|r| r.end_ms)
        .fold(f64::NEG_INFINITY, f64::max);
    let window_s = if requests > 0 && end > start {
        (end - start) / 1000.0
    } else {
        0.0
    };
    let per_s = |count: f64| (window_s > 0.0).then(|| count / window_s);
    let completion_tokens: u64 = ok.iter().map(|r| u64::from(r.tokens())).sum();
    let prompt_tokens: u64 = ok
        .iter()
        .map(|r| u64::from(r.prompt_tokens.unwrap_or(0)))
        .sum();
    let (goodput, slo_attainment) = if slo.is_empty() {
        (None, None)
    } else {
        let good = measured.iter().filter(|r| slo.met(r)).count();
        (
            per_s(good as f64),
            (requests > 0).then(|| good as f64 / requests as f64),
        )
    };
    let collect = |f: &dyn Fn(&RequestRecord) -> Option<f64>| -> Vec<f64> {
        ok.iter().filter_map(|r| f(r)).collect()
    };
    let lags: Vec<f64> = measured.iter().map(|r| r.lag_ms()).collect();
    let late_sends = lags.iter().filter(|l| **l > LATE_THRESHOLD_MS).count();

    let mut errors: Vec<(String, usize)> = Vec::new();
    for r in &measured {
        if let Some(e) = &r.error {
            match errors.iter_mut().find(|(m, _)| m == e) {
                Some((_, c)) => *c += 1,
                None => errors.push((e.clone(), 1)),
            }
        }
    }

    let mut prompt_ids: Vec<&str> = ok.iter().map(|r| r.prompt_id.as_str()).collect();
    prompt_ids.sort();
    prompt_ids.dedup();
    let outliers = prompt_ids
        .into_iter()
        .filter_map(|id| {
            let vals: Vec<(u64, f64)> = ok
                .iter()
                .filter(|r| r.prompt_id == id)
                .map(|r| (r.index, r.e2e_ms()))
                .collect();
            let (median_ms, mad_ms, outliers) = mad_outliers(&vals)?;
            (!outliers.is_empty()).then(|| OutlierReport {
                prompt_id: id.to_string(),
                n: vals.len(),
                median_ms,
                mad_ms,
                outliers,
            })
        })
        .collect();

    ScenarioMetrics {
        requests,
        succeeded: ok.len(),
        failed,
        error_rate: if requests > 0 {
            failed as f64 / requests as f64
        } else {
            0.0
        },
        window_s,
        output_tok_s: per_s(completion_tokens as f64),
        request_throughput: per_s(ok.len() as f64),
        goodput,
        slo_attainment,
        completion_tokens,
        prompt_tokens,
        ttft_ms: summarize(&collect(&|r| r.ttft_ms())),
        e2e_ms: summarize(&collect(&|r| Some(r.e2e_ms()))),
        itl_ms: summarize(&collect(&|r| r.itl_ms())),
        tpot_ms: summarize_no_ci(&collect(&|r| r.tpot_ms())),
        decode_tok_s: summarize(&collect(&|r| r.decode_tok_s())),
        ttft_from_intended_ms: summarize_no_ci(&collect(&|r| r.ttft_from_intended_ms())),
        e2e_from_intended_ms: summarize_no_ci(&collect(&|r| Some(r.e2e_from_intended_ms()))),
        schedule_lag_ms: summarize_no_ci(&lags),
        late_sends,
        late_share: if requests > 0 {
            late_sends as f64 / requests as f64
        } else {
            0.0
        },
        errors,
        retried: measured.iter().filter(|r| r.retried).count(),
        outliers,
    }
}

/// [`scenario_metrics`] behind `catch_unwind`: a bug in the statistics must not lose the raw
/// records or the rest of the run.
pub fn scenario_metrics_safe(
    records: &[RequestRecord],
    slo: &Slo,
) -> Result<ScenarioMetrics, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        scenario_metrics(records, slo)
    }))
    .map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        format!("metric computation failed: {msg}")
    })
}

#[cfg(test)]
mod tests;
