//! `ingot bench calibrate`: the harness measured against a mock server whose timing is known.
//!
//! The error reported is **measured − true**, where *measured* is what the harness's SSE
//! client records (TTFT from its send, ITL = (e2e − TTFT)/(N − 1)) and *true* is what the mock
//! actually did, clocked on the server side from the request's arrival to its emitting the
//! first token (and, for ITL, the first to the last token over N − 1). Both are p50s over the
//! point's requests, so the figure covers everything the harness adds: request serialisation,
//! the loopback round trip, HTTP parsing on both sides, SSE parsing and scheduling delays.
//! The error against the *scripted* values is given too (it also contains the mock's own
//! timer error).
//!
//! `max_streamed_req_per_s` is the rate of completed streamed requests (16 tokens each) that
//! the client sustains against a zero-delay mock in the same process, closed loop.

use std::sync::Arc;
use std::time::Duration;

use crate::analyze::stats::{percentile_sorted, scenario_metrics, Slo};
use crate::measure::exec::{run_scenario, Scenario, StopAt};
use crate::measure::mock::{MockServer, MockServerConfig};
use crate::measure::target::{HttpTarget, Target};
pub use crate::results::calibration::{Calibration, CalibrationPoint};
use crate::spec::sets::builtin_prompts;
use crate::spec::workload::{GenParams, Mode};

/// What to measure.
#[derive(Debug, Clone)]
pub struct CalibrateOptions {
    pub ttft: Duration,
    pub itl: Duration,
    pub tokens: usize,
    /// Concurrency levels of the timing points.
    pub concurrency: Vec<usize>,
    /// Requests per timing point (at least the concurrency).
    pub requests: u64,
    /// Requests of the throughput point (0 skips it).
    pub throughput_requests: u64,
    pub throughput_concurrency: usize,
}

impl Default for CalibrateOptions {
    fn default() -> Self {
        Self {
            ttft: Duration::from_millis(50),
            itl: Duration::from_millis(10),
            tokens: 16,
            concurrency: vec![1, 64],
            requests: 64,
            throughput_requests: 10_000,
            throughput_concurrency: 64,
        }
    }
}

impl CalibrateOptions {
    /// A sub-second check for report manifests: 5 ms TTFT, 2 ms ITL, concurrency 1, 20
    /// requests, and a 2,000-request throughput point.
    pub fn quick() -> Self {
        Self {
            ttft: Duration::from_millis(5),
            itl: Duration::from_millis(2),
            tokens: 8,
            concurrency: vec![1],
            requests: 20,
            throughput_requests: 2000,
            throughput_concurrency: 32,
        }
    }
}

fn p50(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    v.sort_by(|a, b| a.total_cmp(b));
    percentile_sorted(&v, 0.5)
}

fn sub(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? - b?)
}

/// Runs the calibration (blocking; builds its own runtimes).
pub fn calibrate(opts: &CalibrateOptions) -> anyhow::Result<Calibration> {
    let client_rt = crate::measure::exec::client_runtime()?;
    let prompts: Vec<Arc<_>> = builtin_prompts().into_iter().map(Arc::new).collect();
    let gen = GenParams {
        max_tokens: opts.tokens as u32,
        timeout_s: 60.0,
        ..GenParams::default()
    };
    let mut points = Vec::new();
    for &c in &opts.concurrency {
        let server = MockServer::start(
            MockServerConfig {
                ttft: opts.ttft,
                itl: opts.itl,
                tokens: opts.tokens,
                // Spinning the last 200 µs is affordable for a single stream only.
                spin: if c <= 2 {
                    Duration::from_micros(200)
                } else {
                    Duration::ZERO
                },
                ..MockServerConfig::default()
            },
            2,
        )?;
        let target: Arc<dyn Target> = Arc::new(HttpTarget::new(
            &server.url(),
            "mock",
            None,
            Mode::Chat,
            gen.clone(),
        )?);
        // Warm the connection pool, then measure.
        client_rt.block_on(run_scenario(
            target.clone(),
            &prompts,
            &Scenario::closed(c, StopAt::Requests(c as u64)),
            "mock",
            0,
            true,
            None,
        ));
        server.clear_emitted();
        let (_, recs) = client_rt.block_on(run_scenario(
            target,
            &prompts,
            &Scenario::closed(c, StopAt::Requests(opts.requests.max(c as u64))),
            "mock",
            0,
            false,
            None,
        ));
        let emitted = server.emitted();
        let ok: Vec<_> = recs.iter().filter(|r| r.ok()).collect();
        let ttft_m = p50(ok.iter().filter_map(|r| r.ttft_ms()).collect());
        let itl_m = p50(ok.iter().filter_map(|r| r.itl_ms()).collect());
        let ttft_t = p50(emitted.iter().map(|e| e.first_token_ms).collect());
        let itl_t = p50(emitted
            .iter()
            .filter(|e| e.tokens >= 2)
            .map(|e| (e.last_token_ms - e.first_token_ms) / (e.tokens - 1) as f64)
            .collect());
        let scripted_ttft = opts.ttft.as_secs_f64() * 1000.0;
        let scripted_itl = opts.itl.as_secs_f64() * 1000.0;
        points.push(CalibrationPoint {
            concurrency: c,
            requests: recs.len(),
            failed: recs.len() - ok.len(),
            ttft_measured_ms_p50: ttft_m,
            ttft_true_ms_p50: ttft_t,
            ttft_error_ms_p50: sub(ttft_m, ttft_t),
            ttft_error_vs_scripted_ms_p50: ttft_m.map(|m| m - scripted_ttft),
            itl_measured_ms_p50: itl_m,
            itl_true_ms_p50: itl_t,
            itl_error_ms_p50: sub(itl_m, itl_t),
            itl_error_vs_scripted_ms_p50: itl_m.map(|m| m - scripted_itl),
        });
    }
    let (mut max_rps, mut tp_failed) = (None, 0);
    if opts.throughput_requests > 0 {
        let server = MockServer::start(
            MockServerConfig {
                ttft: Duration::ZERO,
                itl: Duration::ZERO,
                tokens: 16,
                ..MockServerConfig::default()
            },
            1,
        )?;
        let target: Arc<dyn Target> = Arc::new(HttpTarget::new(
            &server.url(),
            "mock",
            None,
            Mode::Chat,
            GenParams {
                max_tokens: 16,
                timeout_s: 60.0,
                ..GenParams::default()
            },
        )?);
        let c = opts.throughput_concurrency.max(1);
        client_rt.block_on(run_scenario(
            target.clone(),
            &prompts,
            &Scenario::closed(c, StopAt::Requests(c as u64 * 4)),
            "mock",
            0,
            true,
            None,
        ));
        let (_, recs) = client_rt.block_on(run_scenario(
            target,
            &prompts,
            &Scenario::closed(c, StopAt::Requests(opts.throughput_requests)),
            "mock",
            0,
            false,
            None,
        ));
        let m = scenario_metrics(&recs, &Slo::default());
        max_rps = m.request_throughput;
        tp_failed = m.failed;
    }
    let first = points.iter().min_by_key(|p| p.concurrency);
    Ok(Calibration {
        scripted_ttft_ms: opts.ttft.as_secs_f64() * 1000.0,
        scripted_itl_ms: opts.itl.as_secs_f64() * 1000.0,
        tokens: opts.tokens,
        ttft_error_ms_p50: first.and_then(|p| p.ttft_error_ms_p50),
        itl_error_ms_p50: first.and_then(|p| p.itl_error_ms_p50),
        points,
        max_streamed_req_per_s: max_rps,
        throughput_concurrency: opts.throughput_concurrency,
        throughput_requests: opts.throughput_requests,
        throughput_failed: tp_failed,
        release_build: !cfg!(debug_assertions),
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    })
}
