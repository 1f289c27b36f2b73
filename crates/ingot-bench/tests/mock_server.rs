//! The SSE client against the scripted mock server: timing accuracy and failure accounting.

use std::sync::Arc;
use std::time::Duration;

use ingot_bench::exec::{run_scenario, Scenario, StopAt};
use ingot_bench::mock::{MockServer, MockServerConfig};
use ingot_bench::record::CountSource;
use ingot_bench::stats::{scenario_metrics, Slo};
use ingot_bench::target::{HttpTarget, Target};
use ingot_bench::workload::{builtin_prompts, GenParams, Mode};

mod common;
use common::run;

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
