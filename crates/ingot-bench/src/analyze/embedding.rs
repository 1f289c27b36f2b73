//! The figures of embedding models (issue 15), computed from their records only: requests/s,
//! inputs/s, input tokens/s, latency percentiles and errors per scenario, and the sanity
//! check of every vector. Warm-up records are excluded.

use crate::analyze::stats::measured_window;
use crate::measure::record::RequestRecord;
use crate::results::embedding::{EmbeddingMetrics, EmbeddingSanity};
use crate::util::numbers::summarize;

/// A scenario's embedding figures. Never panics on empty or odd input.
pub fn embedding_metrics(records: &[RequestRecord]) -> EmbeddingMetrics {
    let (measured, ok, window_s) = measured_window(records);
    let requests = measured.len();
    let failed = requests - ok.len();
    let per_s = |count: f64| (window_s > 0.0).then(|| count / window_s);
    let inputs: u64 = ok
        .iter()
        .map(|r| u64::from(r.embedding.as_ref().map_or(0, |e| e.inputs)))
        .sum();
    let input_tokens: u64 = ok
        .iter()
        .map(|r| u64::from(r.prompt_tokens.unwrap_or(0)))
        .sum();
    let uncounted = ok.iter().filter(|r| r.prompt_tokens.is_none()).count();
    let latencies: Vec<f64> = ok.iter().map(|r| r.e2e_ms()).collect();
    let mut errors: Vec<(String, usize)> = Vec::new();
    for e in measured.iter().filter_map(|r| r.error.as_ref()) {
        match errors.iter_mut().find(|(m, _)| m == e) {
            Some((_, c)) => *c += 1,
            None => errors.push((e.clone(), 1)),
        }
    }
    EmbeddingMetrics {
        requests,
        succeeded: ok.len(),
        failed,
        error_rate: if requests > 0 {
            failed as f64 / requests as f64
        } else {
            0.0
        },
        inputs,
        input_tokens,
        uncounted,
        window_s,
        requests_per_s: per_s(ok.len() as f64),
        inputs_per_s: per_s(inputs as f64),
        // Only when every successful request was counted: a partial count would understate.
        input_tokens_per_s: if uncounted == 0 && !ok.is_empty() {
            per_s(input_tokens as f64)
        } else {
            None
        },
        latency_ms: summarize(&latencies),
        errors,
    }
}

/// [`embedding_metrics`], with a panic in the computation turned into an error (the records
/// are still written).
pub fn embedding_metrics_safe(records: &[RequestRecord]) -> Result<EmbeddingMetrics, String> {
    std::panic::catch_unwind(|| embedding_metrics(records))
        .map_err(|_| "internal error while computing the embedding metrics".to_string())
}

/// The sanity check over the measured records' vectors.
pub fn sanity(records: &[RequestRecord]) -> EmbeddingSanity {
    let mut s = EmbeddingSanity::default();
    for e in records
        .iter()
        .filter(|r| !r.warmup && r.ok())
        .filter_map(|r| r.embedding.as_ref())
    {
        s.vectors += u64::from(e.vectors);
        s.invalid += u64::from(e.invalid);
        if s.problem.is_none() {
            s.problem = e.problem.clone();
        }
    }
    s
}

/// What the records say of the vectors: (dimensions, pooling, normalized) of the first
/// successful request that reported them.
pub fn observed_shape(records: &[RequestRecord]) -> (Option<u32>, Option<String>, Option<bool>) {
    let mut out = (None, None, None);
    for e in records
        .iter()
        .filter(|r| r.ok())
        .filter_map(|r| r.embedding.as_ref())
    {
        out.0 = out.0.or(e.dimensions);
        if out.1.is_none() {
            out.1 = e.pooling.clone();
        }
        out.2 = out.2.or(e.normalized);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::record::EmbedRecord;

    fn rec(i: u64, send: f64, end: f64, inputs: u32, tokens: Option<u32>) -> RequestRecord {
        let mut r = RequestRecord::start("e", "c1", i, 0, "p", false, send, send);
        r.end_ms = end;
        r.prompt_tokens = tokens;
        r.embedding = Some(EmbedRecord {
            inputs,
            vectors: inputs,
            dimensions: Some(8),
            ..EmbedRecord::default()
        });
        r
    }

    #[test]
    fn rates_count_successful_requests_over_the_window() {
        let mut recs = vec![
            rec(0, 0.0, 100.0, 16, Some(160)),
            rec(1, 100.0, 300.0, 16, Some(150)),
            rec(2, 300.0, 500.0, 16, Some(140)),
            rec(3, 500.0, 1000.0, 16, None),
        ];
        recs[3].error = Some("HTTP 500: boom".into());
        let mut warm = rec(9, -50.0, -10.0, 16, Some(1));
        warm.warmup = true;
        recs.push(warm);
        let m = embedding_metrics(&recs);
        assert_eq!((m.requests, m.succeeded, m.failed), (4, 3, 1));
        assert_eq!(m.error_rate, 0.25);
        assert_eq!(m.inputs, 48);
        assert_eq!(m.input_tokens, 450);
        assert_eq!(m.window_s, 1.0);
        assert_eq!(m.requests_per_s, Some(3.0));
        assert_eq!(m.inputs_per_s, Some(48.0));
        assert_eq!(m.input_tokens_per_s, Some(450.0));
        assert_eq!(m.latency_ms.n, 3);
        assert_eq!(m.latency_ms.p50, Some(200.0));
        assert_eq!(m.latency_ms.max, Some(200.0));
        assert_eq!(m.errors, vec![("HTTP 500: boom".to_string(), 1)]);
    }

    #[test]
    fn no_usage_means_no_token_rate_and_empty_input_gives_no_rates() {
        let m = embedding_metrics(&[rec(0, 0.0, 10.0, 4, None)]);
        assert_eq!(m.uncounted, 1);
        assert_eq!(m.input_tokens_per_s, None);
        assert!(m.inputs_per_s.is_some());
        let m = embedding_metrics(&[]);
        assert_eq!(m.requests, 0);
        assert_eq!(m.requests_per_s, None);
        assert_eq!(m.latency_ms.p50, None);
    }

    #[test]
    fn sanity_and_shape_come_from_the_records() {
        let mut a = rec(0, 0.0, 1.0, 2, Some(4));
        let b = rec(1, 1.0, 2.0, 2, Some(4));
        if let Some(e) = a.embedding.as_mut() {
            e.invalid = 1;
            e.problem = Some("vector 1 has norm 2.0000, declared normalized".into());
            e.pooling = Some("mean".into());
        }
        let s = sanity(&[a.clone(), b.clone()]);
        assert_eq!((s.vectors, s.invalid), (4, 1));
        assert!(!s.passed());
        assert!(s.problem.unwrap().contains("norm"));
        assert_eq!(
            observed_shape(&[b, a]),
            (Some(8), Some("mean".to_string()), None)
        );
    }
}
