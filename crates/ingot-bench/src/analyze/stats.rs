//! Statistics, computed only from [`RequestRecord`]s.
//!
//! The number statistics themselves (percentiles, sd, bootstrap CIs, MAD outliers) are in
//! [`crate::util::numbers`] and re-exported here; the metric types in [`crate::results::metrics`].

use crate::measure::record::RequestRecord;
pub use crate::results::metrics::{parse_ms, OutlierReport, ScenarioMetrics, Slo};
pub use crate::util::numbers::*;

/// A send later than its intended start by more than this is "late" (open loop). Tokio's timer
/// has 1 ms resolution, so lags under it are the timer's, not the harness's.
pub const LATE_THRESHOLD_MS: f64 = 2.0;

/// A scenario's measured records (warm-up left out), the successful ones among them, and the
/// seconds from the first send to the last end (0 without records): the window every rate
/// is computed over, for generations and embeddings alike.
pub(crate) fn measured_window(
    records: &[RequestRecord],
) -> (Vec<&RequestRecord>, Vec<&RequestRecord>, f64) {
    let measured: Vec<&RequestRecord> = records.iter().filter(|r| !r.warmup).collect();
    let ok: Vec<&RequestRecord> = measured.iter().copied().filter(|r| r.ok()).collect();
    let start = measured
        .iter()
        .map(|r| r.send_ms)
        .fold(f64::INFINITY, f64::min);
    let end = measured
        .iter()
        .map(|r| r.end_ms)
        .fold(f64::NEG_INFINITY, f64::max);
    let window_s = if !measured.is_empty() && end > start {
        (end - start) / 1000.0
    } else {
        0.0
    };
    (measured, ok, window_s)
}

/// Computes a scenario's metrics from its records. Never panics on empty or odd input.
pub fn scenario_metrics(records: &[RequestRecord], slo: &Slo) -> ScenarioMetrics {
    let (measured, ok, window_s) = measured_window(records);
    let requests = measured.len();
    let failed = requests - ok.len();
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

/// The statistics panicked (a bug); `message` is the panic's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("metric computation failed: {message}")]
pub struct MetricsPanic {
    pub message: String,
}

/// [`scenario_metrics`] behind `catch_unwind`: a bug in the statistics must not lose the raw
/// records or the rest of the run.
pub fn scenario_metrics_safe(
    records: &[RequestRecord],
    slo: &Slo,
) -> Result<ScenarioMetrics, MetricsPanic> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        scenario_metrics(records, slo)
    }))
    .map_err(|p| {
        let message = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        MetricsPanic { message }
    })
}

#[cfg(test)]
mod tests;
