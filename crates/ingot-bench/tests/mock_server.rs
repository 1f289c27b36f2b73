//! The SSE client against the scripted mock server: timing accuracy and failure accounting.

use std::sync::Arc;
use std::time::Duration;

use ingot_bench::exec::{run_scenario, Scenario, StopAt};
use ingot_bench::mock::{MockServer, MockServerConfig};
use ingot_bench::record::{CountSource, RequestRecord};
use ingot_bench::stats::{scenario_metrics, Slo};
use ingot_bench::target::{HttpTarget, Target};
use ingot_bench::workload::{builtin_prompts, GenParams, Mode};

fn run(
    server: &MockServer,
    clear: Option<&MockServer>,
    mode: Mode,
    concurrency: usize,
    requests: u64,
) -> Vec<RequestRecord> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let target: Arc<dyn Target> = Arc::new(
        HttpTarget::new(
            &server.url(),
            "mock",
            None,
            mode,
            GenParams {
                max_tokens: 16,
                timeout_s: 30.0,
                ..GenParams::default()
            },
        )
        .unwrap(),
    );
    let prompts: Vec<_> = builtin_prompts().into_iter().map(Arc::new).collect();
    // Open the connections first, as a real run's warm-up does.
    rt.block_on(run_scenario(
        target.clone(),
        &prompts,
        &Scenario::closed(concurrency, StopAt::Requests(concurrency as u64)),
        "mock",
        0,
        true,
        None,
    ));
    if let Some(s) = clear {
        s.clear_emitted();
    }
    rt.block_on(run_scenario(
        target,
        &prompts,
        &Scenario::closed(concurrency, StopAt::Requests(requests)),
        "mock",
        0,
        false,
        None,
    ))
    .1
}

fn within(measured: f64, truth: f64, tol: f64) {
    assert!(
        (measured - truth).abs() / truth <= tol,
        "measured {measured} vs {truth} (tolerance {}%)",
        tol * 100.0
    );
}

#[test]
fn ttft_50ms_itl_10ms_measured_within_2_percent_at_concurrency_1_and_16() {
    for (c, n) in [(1usize, 8u64), (16, 32)] {
        let server = MockServer::start(
            MockServerConfig {
                ttft: Duration::from_millis(50),
                itl: Duration::from_millis(10),
                tokens: 10,
                ..MockServerConfig::default()
            },
            2,
        )
        .unwrap();
        let recs = run(&server, Some(&server), Mode::Chat, c, n);
        let m = scenario_metrics(&recs, &Slo::default());
        eprintln!(
            "c={c} ttft {:?} emitted {:?}",
            recs.iter()
                .map(|r| (r.first_byte_ms.unwrap() - r.send_ms, r.ttft_ms()))
                .collect::<Vec<_>>(),
            server
                .emitted()
                .iter()
                .map(|e| e.first_token_ms)
                .collect::<Vec<_>>()
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

#[test]
fn completion_mode_and_stream_options_retry() {
    let server = MockServer::start(
        MockServerConfig {
            ttft: Duration::ZERO,
            itl: Duration::ZERO,
            tokens: 5,
            reject_stream_options: true,
            ..MockServerConfig::default()
        },
        1,
    )
    .unwrap();
    let recs = run(&server, None, Mode::Completion, 1, 3);
    for r in &recs {
        assert!(r.ok(), "{:?}", r.error);
        assert_eq!(r.completion_tokens, Some(5));
        assert_eq!(r.count_source, CountSource::Chunks);
    }
}

#[test]
fn failures_are_counted_never_dropped() {
    let cases: [(MockServerConfig, &str); 3] = [
        (
            MockServerConfig {
                http_error: Some(500),
                ..MockServerConfig::default()
            },
            "HTTP 500",
        ),
        (
            MockServerConfig {
                error_after: Some(2),
                ..MockServerConfig::default()
            },
            "in-band error: scripted in-band error",
        ),
        (
            MockServerConfig {
                cut_after: Some(3),
                ..MockServerConfig::default()
            },
            "stream ended before [DONE]",
        ),
    ];
    for (mut cfg, expected) in cases {
        cfg.ttft = Duration::from_millis(1);
        cfg.itl = Duration::from_millis(1);
        let server = MockServer::start(cfg, 1).unwrap();
        let recs = run(&server, None, Mode::Chat, 2, 4);
        let m = scenario_metrics(&recs, &Slo::default());
        assert_eq!(m.requests, 4);
        assert_eq!(m.failed, 4, "{expected}");
        assert_eq!(m.error_rate, 1.0);
        assert!(m.errors[0].0.starts_with(expected), "{:?}", m.errors);
    }
}

#[test]
fn unreachable_endpoint_is_a_failure() {
    let server = MockServer::start(MockServerConfig::default(), 1).unwrap();
    let url = server.url();
    drop(server);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let target: Arc<dyn Target> =
        Arc::new(HttpTarget::new(&url, "m", None, Mode::Chat, GenParams::default()).unwrap());
    let prompts: Vec<_> = builtin_prompts().into_iter().map(Arc::new).collect();
    let (_, recs) = rt.block_on(run_scenario(
        target,
        &prompts,
        &Scenario::closed(1, StopAt::Requests(1)),
        "m",
        0,
        false,
        None,
    ));
    assert!(recs[0]
        .error
        .as_deref()
        .unwrap()
        .starts_with("request failed"));
}

#[test]
fn quick_calibration_reports_its_figures() {
    let c = ingot_bench::calibrate::calibrate(&ingot_bench::calibrate::CalibrateOptions {
        throughput_requests: 300,
        ..ingot_bench::calibrate::CalibrateOptions::quick()
    })
    .unwrap();
    assert!(c.ttft_error_ms_p50.is_some());
    assert!(c.itl_error_ms_p50.is_some());
    assert!(c.max_streamed_req_per_s.unwrap() > 0.0);
    assert_eq!(c.throughput_failed, 0);
    assert_eq!(c.points[0].failed, 0);
}
