//! The SSE client's timing accuracy against the scripted mock server. Alone in its own test
//! binary so that no other test of this crate competes for the CPU while it measures.
//!
//! What is asserted is what the harness controls: its own error, i.e. what it measured minus
//! what the mock recorded it actually emitted (the mock timestamps every write). A mock that
//! oversleeps on a loaded machine moves both figures alike, so it cannot fail the test; the
//! scripted times appear only as lower bounds (nothing can be seen before it is sent). The
//! precise figures for a given machine belong to `ingot bench calibrate` and the run
//! manifest, not here (issue 12: a 2 % wall-clock tolerance failed on a clean 2-core CI
//! machine when the harness was off by 1.1 ms).

use std::time::Duration;

use ingot_bench::mock::{Emitted, MockServer, MockServerConfig};
use ingot_bench::record::{CountSource, RequestRecord};
use ingot_bench::stats::{percentile_sorted, scenario_metrics, Slo};
use ingot_bench::workload::Mode;

mod common;
use common::run;

const TTFT_MS: u64 = 100;
const ITL_MS: u64 = 50;
const TOKENS: usize = 10;

/// Largest accepted harness error on the p50 TTFT and end-to-end latency. The harness adds
/// one loopback hop and an SSE parse (well under 1 ms idle, in release). On a 2-core machine
/// at load average 17, in a debug build, 16 streams saw up to 7 ms (TTFT) and 10 ms (e2e):
/// this bound leaves three times that, and still fails a harness that times from the wrong
/// event, which is off by at least one inter-token gap (50 ms).
const MAX_LATENCY_ERROR_MS: f64 = 30.0;
/// Largest accepted error on the p50 inter-token latency: the (e2e − TTFT) / 9 of each
/// request divides a delivery jitter of up to 45 ms by 9.
const MAX_ITL_ERROR_MS: f64 = 5.0;

fn p50(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty());
    v.sort_by(|a, b| a.total_cmp(b));
    percentile_sorted(&v, 0.5).unwrap()
}

/// What the mock really did, as the p50s the harness's figures are compared with.
struct Truth {
    ttft: f64,
    itl: f64,
    last_token: f64,
}

fn truth(emitted: &[Emitted]) -> Truth {
    Truth {
        ttft: p50(emitted.iter().map(|e| e.first_token_ms).collect()),
        itl: p50(emitted
            .iter()
            .map(|e| (e.last_token_ms - e.first_token_ms) / (e.tokens - 1) as f64)
            .collect()),
        last_token: p50(emitted.iter().map(|e| e.last_token_ms).collect()),
    }
}

fn check_error(what: &str, c: usize, measured: f64, truth: f64, min: f64, max: f64) {
    let error = measured - truth;
    assert!(
        (min..=max).contains(&error),
        "c={c}: {what}: the harness measured {measured:.3} ms, the mock emitted at \
         {truth:.3} ms: error {error:.3} ms, outside [{min}, {max}]"
    );
}

fn check_records(c: usize, n: u64, recs: &[RequestRecord]) {
    assert_eq!(recs.len() as u64, n, "c={c}");
    for r in recs {
        assert!(r.ok(), "c={c}: {:?}", r.error);
        assert_eq!(
            r.token_ms.len(),
            TOKENS,
            "the role-only chunk is not a token"
        );
        assert_eq!(r.completion_tokens, Some(TOKENS as u32));
        assert_eq!(r.count_source, CountSource::ServerUsage);
        assert_eq!(r.finish_reason.as_deref(), Some("length"));
        assert!(r.output.starts_with("tok0 tok1 "), "{:?}", r.output);
        assert!(r.first_byte_ms.unwrap() <= r.first_token_ms.unwrap());
        // Nothing is received before the mock sends it: the scripted times are lower bounds
        // whatever the load.
        assert!(r.ttft_ms().unwrap() >= TTFT_MS as f64, "c={c}: {r:?}");
        assert!(
            r.e2e_ms() >= (TTFT_MS + ITL_MS * (TOKENS as u64 - 1)) as f64,
            "c={c}: {r:?}"
        );
    }
}

#[test]
fn harness_error_against_the_mocks_emitted_timestamps_at_concurrency_1_and_16() {
    for (c, n) in [(1usize, 10u64), (16, 80)] {
        let server = MockServer::start(
            MockServerConfig {
                ttft: Duration::from_millis(TTFT_MS),
                itl: Duration::from_millis(ITL_MS),
                tokens: TOKENS,
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
        let emitted = server.emitted();
        let m = scenario_metrics(&recs, &Slo::default());
        assert_eq!(m.failed, 0, "{:?}", m.errors);
        assert_eq!(m.succeeded as u64, n);
        check_records(c, n, &recs);
        // One emission record per measured request (the warm-up's were cleared), each with
        // every token and never ahead of the script.
        assert_eq!(emitted.len() as u64, n, "c={c}");
        for e in &emitted {
            assert_eq!(e.tokens, TOKENS);
            assert!(e.first_token_ms >= TTFT_MS as f64, "{e:?}");
        }

        let t = truth(&emitted);
        let (ttft, itl, e2e) = (
            m.ttft_ms.p50.unwrap(),
            m.itl_ms.p50.unwrap(),
            m.e2e_ms.p50.unwrap(),
        );
        eprintln!(
            "c={c}: p50 measured/emitted: TTFT {ttft:.3}/{:.3} ms, ITL {itl:.3}/{:.3} ms, \
             e2e {e2e:.3}/{:.3} ms (last token)",
            t.ttft, t.itl, t.last_token
        );
        // Each request is sent before the mock sees it and read after the mock wrote it, so
        // its measured TTFT and e2e are never below the emitted ones, and neither are the
        // p50s (tiny slack for float rounding).
        // The lower bound allows -1 ms: the mock stamps a token when its write returns, and on
        // a loaded machine the client can read it first (-0.12 ms p50 seen by bench calibrate).
        check_error("TTFT p50", c, ttft, t.ttft, -1.0, MAX_LATENCY_ERROR_MS);
        check_error("e2e p50", c, e2e, t.last_token, -1.0, MAX_LATENCY_ERROR_MS);
        check_error(
            "ITL p50",
            c,
            itl,
            t.itl,
            -MAX_ITL_ERROR_MS,
            MAX_ITL_ERROR_MS,
        );
    }
}
