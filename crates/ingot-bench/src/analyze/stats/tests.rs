use super::*;
use crate::measure::record::{CountSource, RequestRecord};

fn rec(index: u64, prompt: &str, send: f64, tokens: &[f64], end: f64) -> RequestRecord {
    let mut r = RequestRecord::start("m", "c1", index, 0, prompt, false, send, send);
    r.first_byte_ms = tokens.first().copied();
    r.first_token_ms = tokens.first().copied();
    r.token_ms = tokens.to_vec();
    r.end_ms = end;
    r.completion_tokens = Some(tokens.len() as u32);
    r.prompt_tokens = Some(10);
    r.count_source = CountSource::ServerUsage;
    r.finish_reason = Some("length".into());
    r
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

#[test]
fn per_request_metrics_exact() {
    let r = rec(0, "p", 0.0, &[100.0, 110.0, 120.0, 130.0, 140.0], 150.0);
    assert_eq!(r.ttft_ms(), Some(100.0));
    assert_eq!(r.e2e_ms(), 150.0);
    assert_eq!(r.itl_ms(), Some(12.5));
    assert_eq!(r.tpot_ms(), Some(30.0));
    assert_eq!(r.decode_tok_s(), Some(80.0));
    // One token: no ITL, no decode rate, but a TPOT.
    let one = rec(1, "p", 0.0, &[40.0], 50.0);
    assert_eq!(one.itl_ms(), None);
    assert_eq!(one.decode_tok_s(), None);
    assert_eq!(one.tpot_ms(), Some(50.0));
    // No token at all.
    let none = rec(2, "p", 0.0, &[], 5.0);
    assert_eq!(none.ttft_ms(), None);
    assert_eq!(none.tpot_ms(), None);
}

#[test]
fn percentiles_type7_exact() {
    let s = summarize(&[4.0, 1.0, 3.0, 2.0]);
    assert_eq!(s.n, 4);
    close(s.mean.unwrap(), 2.5);
    close(s.sd.unwrap(), (5.0f64 / 3.0).sqrt());
    close(s.min.unwrap(), 1.0);
    close(s.p50.unwrap(), 2.5);
    close(s.p90.unwrap(), 3.7);
    close(s.p95.unwrap(), 3.85);
    close(s.p99.unwrap(), 3.97);
    close(s.max.unwrap(), 4.0);
    let [lo, hi] = s.mean_ci.unwrap();
    assert!(
        (1.0..=2.5).contains(&lo) && (2.5..=4.0).contains(&hi),
        "{lo} {hi}"
    );
    let [lo, hi] = s.p95_ci.unwrap();
    assert!(lo >= 1.0 && hi <= 4.0 && lo <= hi);
}

#[test]
fn summary_n0_is_all_none() {
    let s = summarize(&[]);
    assert_eq!(s, Summary::default());
    // NaN and infinities are dropped, not propagated.
    let s = summarize(&[f64::NAN, f64::INFINITY]);
    assert_eq!(s.n, 0);
    assert_eq!(s.p95, None);
}

#[test]
fn summary_n1() {
    let s = summarize(&[7.0]);
    assert_eq!(s.n, 1);
    assert_eq!(s.mean, Some(7.0));
    assert_eq!(s.sd, None);
    for p in [s.min, s.p50, s.p90, s.p95, s.p99, s.max] {
        assert_eq!(p, Some(7.0));
    }
    assert_eq!(s.mean_ci, Some([7.0, 7.0]));
    assert_eq!(s.p95_ci, Some([7.0, 7.0]));
}

#[test]
fn summary_identical_values() {
    let s = summarize(&[5.0; 6]);
    assert_eq!(s.sd, Some(0.0));
    assert_eq!(s.p99, Some(5.0));
    assert_eq!(s.mean_ci, Some([5.0, 5.0]));
    assert_eq!(
        mad_outliers(&[(0, 5.0), (1, 5.0), (2, 5.0)]).unwrap().2,
        vec![]
    );
}

#[test]
fn bootstrap_is_reproducible() {
    let v: Vec<f64> = (0..50).map(|i| (i * 7 % 13) as f64).collect();
    assert_eq!(summarize(&v), summarize(&v));
}

#[test]
fn mad_flags_a_far_value() {
    let vals = [(0, 100.0), (1, 101.0), (2, 99.0), (3, 100.5), (4, 300.0)];
    let (median, mad, out) = mad_outliers(&vals).unwrap();
    assert_eq!(median, 100.5);
    assert_eq!(mad, 0.5);
    assert_eq!(out, vec![(4, 300.0)]);
    assert!(mad_outliers(&vals[..2]).is_none());
}

#[test]
fn scenario_metrics_exact() {
    let a = rec(0, "p1", 0.0, &[100.0, 110.0, 120.0, 130.0, 140.0], 150.0);
    let b = rec(1, "p2", 50.0, &[180.0, 200.0, 220.0], 250.0);
    let mut failed = rec(2, "p1", 60.0, &[], 70.0);
    failed.error = Some("HTTP 500".into());
    failed.completion_tokens = None;
    let mut warm = rec(3, "p1", -500.0, &[-400.0], -300.0);
    warm.warmup = true;
    let slo = Slo::parse("ttft=120ms,e2e=1s").unwrap();
    let m = scenario_metrics(&[a, b, failed, warm], &slo);
    assert_eq!(m.requests, 3);
    assert_eq!(m.succeeded, 2);
    assert_eq!(m.failed, 1);
    close(m.error_rate, 1.0 / 3.0);
    close(m.window_s, 0.25);
    assert_eq!(m.completion_tokens, 8);
    close(m.output_tok_s.unwrap(), 32.0);
    close(m.request_throughput.unwrap(), 8.0);
    // Only `a` meets ttft ≤ 120 ms.
    close(m.goodput.unwrap(), 4.0);
    close(m.slo_attainment.unwrap(), 1.0 / 3.0);
    assert_eq!(m.ttft_ms.n, 2);
    close(m.ttft_ms.mean.unwrap(), 115.0);
    close(m.e2e_ms.p50.unwrap(), 175.0);
    // a: 12.5, b: (200 − 130)/2 = 35.
    close(m.itl_ms.mean.unwrap(), 23.75);
    close(m.decode_tok_s.max.unwrap(), 80.0);
    assert_eq!(m.late_sends, 0);
    assert_eq!(m.errors, vec![("HTTP 500".to_string(), 1)]);
}

#[test]
fn scenario_metrics_empty_and_all_failed() {
    let m = scenario_metrics(&[], &Slo::default());
    assert_eq!(m.requests, 0);
    assert_eq!(m.output_tok_s, None);
    assert_eq!(m.error_rate, 0.0);
    let mut f = rec(0, "p", 0.0, &[], 10.0);
    f.error = Some("boom".into());
    let m = scenario_metrics_safe(&[f], &Slo::default()).unwrap();
    assert_eq!(m.error_rate, 1.0);
    assert_eq!(m.ttft_ms.n, 0);
    let j = serde_json::to_string(&m).unwrap();
    assert!(!j.contains("NaN"));
}

#[test]
fn late_sends_and_lag() {
    let mut r = rec(0, "p", 10.0, &[20.0, 30.0], 40.0);
    r.intended_start_ms = 5.0;
    let m = scenario_metrics(&[r], &Slo::default());
    assert_eq!(m.late_sends, 1);
    close(m.schedule_lag_ms.p50.unwrap(), 5.0);
    close(m.e2e_from_intended_ms.p50.unwrap(), 35.0);
    close(m.e2e_ms.p50.unwrap(), 30.0);
}

#[test]
fn slo_parse() {
    let s = Slo::parse("ttft=500ms,e2e=5s").unwrap();
    assert_eq!(s.ttft_ms, Some(500.0));
    assert_eq!(s.e2e_ms, Some(5000.0));
    assert!(Slo::parse("foo=1s").is_err());
    assert!(Slo::parse("ttft").is_err());
}

#[test]
fn percentile_select_matches_sorted() {
    let mut v: Vec<f64> = vec![9.0, 1.0, 5.0, 3.0, 7.0, 2.0];
    let mut sorted = v.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    for p in [0.0, 0.3, 0.5, 0.95, 1.0] {
        close(
            super::percentile_select(&mut v, p),
            percentile_sorted(&sorted, p).unwrap(),
        );
    }
}
