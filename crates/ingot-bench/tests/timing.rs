//! The SSE client's timing accuracy against the scripted mock server. Alone in its own test
//! binary so that no other test competes for the CPU while it measures.

use std::time::Duration;

use ingot_bench::mock::{MockServer, MockServerConfig};
use ingot_bench::record::CountSource;
use ingot_bench::stats::{scenario_metrics, Slo};
use ingot_bench::workload::Mode;

mod common;
use common::run;

fn within(measured: f64, truth: f64, tol: f64) {
    assert!(
        (measured - truth).abs() / truth <= tol,
        "measured {measured} vs {truth} (tolerance {}%)",
        tol * 100.0
    );
}

#[test]
fn ttft_50ms_itl_10ms_measured_within_2_percent_at_concurrency_1_and_16() {
    for (c, n) in [(1usize, 10u64), (16, 80)] {
        let server = MockServer::start(
            MockServerConfig {
                ttft: Duration::from_millis(50),
                itl: Duration::from_millis(10),
                tokens: 10,
                // A single stream can afford a precise (spinning) mock.
                spin: if c == 1 {
                    Duration::from_micros(200)
                } else {
                    Duration::ZERO
                },
                ..MockServerConfig::default()
            },
            2,
        )
        .unwrap();
        let recs = run(&server, Some(&server), Mode::Chat, c, n);
        let m = scenario_metrics(&recs, &Slo::default());
        eprintln!(
            "c={c}: TTFT p50 {:?} ms, ITL p50 {:?} ms, mock emitted first token at p50 {:?} ms",
            m.ttft_ms.p50,
            m.itl_ms.p50,
            {
                let mut e: Vec<f64> = server.emitted().iter().map(|e| e.first_token_ms).collect();
                e.sort_by(|a, b| a.total_cmp(b));
                ingot_bench::stats::percentile_sorted(&e, 0.5)
            }
        );
        assert_eq!(m.failed, 0, "{:?}", m.errors);
        assert_eq!(m.succeeded as u64, n);
        within(m.ttft_ms.p50.unwrap(), 50.0, 0.02);
        within(m.itl_ms.p50.unwrap(), 10.0, 0.02);
        // e2e = TTFT + 9 ITL.
        within(m.e2e_ms.p50.unwrap(), 140.0, 0.02);
        let r = &recs[0];
        assert_eq!(r.token_ms.len(), 10, "the role-only chunk is not a token");
        assert_eq!(r.completion_tokens, Some(10));
        assert_eq!(r.count_source, CountSource::ServerUsage);
        assert_eq!(r.finish_reason.as_deref(), Some("length"));
        assert!(r.output.starts_with("tok0 tok1 "));
        assert!(r.first_byte_ms.unwrap() <= r.first_token_ms.unwrap());
    }
}
