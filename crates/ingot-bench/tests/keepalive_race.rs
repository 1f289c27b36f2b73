//! Issue 17, truthful connections: a request caught by the keep-alive race (a reused
//! connection the server closed as the request went out) is sent again on a new connection
//! and is not a failure; failures the server may have seen are never retried.

use std::sync::Arc;
use std::time::Duration;

use ingot_bench::conn::Connections;
use ingot_bench::exec::{run_scenario, Scenario, StopAt};
use ingot_bench::mock::{MockServer, MockServerConfig};
use ingot_bench::record::RequestRecord;
use ingot_bench::stats::{scenario_metrics, Slo};
use ingot_bench::target::{HttpTarget, Target};
use ingot_bench::workload::{builtin_prompts, GenParams, Mode};

fn target(server: &MockServer, connections: Connections) -> Arc<dyn Target> {
    Arc::new(
        HttpTarget::new(
            &server.url(),
            "mock",
            None,
            Mode::Chat,
            GenParams {
                max_tokens: 4,
                timeout_s: 30.0,
                ..GenParams::default()
            },
        )
        .unwrap()
        .with_connections(connections),
    )
}

/// `batches` closed-loop batches at concurrency 8, with `pause` between them (long enough
/// for the server to consider every pooled connection idle).
fn batches(
    target: Arc<dyn Target>,
    batches: usize,
    per_batch: u64,
    pause: Duration,
) -> Vec<RequestRecord> {
    let rt = ingot_bench::exec::client_runtime().unwrap();
    let prompts: Vec<_> = builtin_prompts().into_iter().map(Arc::new).collect();
    let mut out = Vec::new();
    for b in 0..batches {
        if b > 0 {
            std::thread::sleep(pause);
        }
        let (_, recs) = rt.block_on(run_scenario(
            target.clone(),
            &prompts,
            &Scenario::closed(8, StopAt::Requests(per_batch)),
            "mock",
            0,
            false,
            None,
        ));
        out.extend(recs);
    }
    out
}

fn fast() -> MockServerConfig {
    MockServerConfig {
        ttft: Duration::from_millis(2),
        itl: Duration::from_millis(1),
        tokens: 4,
        ..MockServerConfig::default()
    }
}

#[test]
fn idle_connection_closes_are_retried_and_never_reported_as_failures() {
    let server = MockServer::start(
        MockServerConfig {
            idle_close: Some(Duration::from_millis(50)),
            ..fast()
        },
        1,
    )
    .unwrap();
    let recs = batches(
        target(&server, Connections::Pooled),
        4,
        24,
        Duration::from_millis(120),
    );
    let m = scenario_metrics(&recs, &Slo::default());
    assert_eq!(m.requests, 96);
    assert_eq!(m.failed, 0, "{:?}", m.errors);
    // Every request was answered by the server, each exactly once.
    assert_eq!(server.answered(), 96);
    // The race really happened (each batch after the first starts on 8 idle connections),
    // and each dropped request is a retried record that keeps both attempts.
    assert!(server.dropped() >= 8, "dropped {}", server.dropped());
    assert_eq!(m.retried, server.dropped());
    for r in recs.iter().filter(|r| r.retried) {
        assert_eq!(r.attempts.len(), 2, "{r:?}");
        assert!(r.attempts[0].reused_connection);
        assert!(
            r.attempts[0]
                .error
                .as_deref()
                .unwrap()
                .starts_with("request failed"),
            "{:?}",
            r.attempts[0].error
        );
        assert!(!r.attempts[1].reused_connection && r.attempts[1].error.is_none());
        assert!(r.attempts[1].send_ms >= r.attempts[0].end_ms);
        assert_eq!(r.send_ms, r.attempts[1].send_ms);
    }
    // requests.jsonl keeps the attempts; records without a retry keep their old shape.
    let line = serde_json::to_value(recs.iter().find(|r| r.retried).unwrap()).unwrap();
    assert_eq!(line["retried"], true);
    assert_eq!(line["attempts"].as_array().unwrap().len(), 2);
    let plain = serde_json::to_value(recs.iter().find(|r| !r.retried).unwrap()).unwrap();
    assert!(plain.get("retried").is_none() && plain.get("attempts").is_none());
}

#[test]
fn fresh_connections_never_meet_the_race() {
    let server = MockServer::start(
        MockServerConfig {
            idle_close: Some(Duration::from_millis(50)),
            ..fast()
        },
        1,
    )
    .unwrap();
    let recs = batches(
        target(&server, Connections::Fresh),
        2,
        16,
        Duration::from_millis(120),
    );
    let m = scenario_metrics(&recs, &Slo::default());
    assert_eq!((m.failed, m.retried, server.dropped()), (0, 0, 0));
    assert_eq!(server.answered(), 32);
}

#[test]
fn a_reset_mid_stream_is_still_a_failure_and_never_retried() {
    // The server resets reused connections after the first token: response bytes have
    // arrived, so the server saw the request; a retry would hide a real failure.
    let server = MockServer::start(
        MockServerConfig {
            ttft: Duration::from_millis(20),
            itl: Duration::from_millis(20),
            tokens: 4,
            reset_after: Some(1),
            ..MockServerConfig::default()
        },
        1,
    )
    .unwrap();
    let recs = batches(target(&server, Connections::Pooled), 1, 24, Duration::ZERO);
    let m = scenario_metrics(&recs, &Slo::default());
    assert!(server.resets() > 0);
    assert_eq!(m.failed, server.resets(), "{:?}", m.errors);
    assert_eq!(m.retried, 0);
    assert_eq!(m.succeeded, server.answered());
    for r in recs.iter().filter(|r| !r.ok()) {
        assert!(r.first_token_ms.is_some() && r.attempts.is_empty(), "{r:?}");
        let e = r.error.as_deref().unwrap();
        assert!(e.starts_with("stream error"), "{e}");
    }
}

#[test]
fn a_close_on_a_new_connection_is_a_failure_and_never_retried() {
    // The server reads each request and closes without answering. Every connection is new
    // (the server closes each one), so the server may have seen every request: no retry.
    let server = MockServer::start(
        MockServerConfig {
            close_without_answer: true,
            ..fast()
        },
        1,
    )
    .unwrap();
    let recs = batches(target(&server, Connections::Pooled), 1, 16, Duration::ZERO);
    let m = scenario_metrics(&recs, &Slo::default());
    assert_eq!((m.failed, m.retried), (16, 0), "{:?}", m.errors);
    assert_eq!(server.dropped(), 16);
}
