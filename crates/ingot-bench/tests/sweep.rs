//! Issue 17: `--sweep` runs synchronous, then throughput, then N rates between, and draws
//! latency against throughput. Against the mock server.

use std::sync::Arc;
use std::time::Duration;

use ingot_bench::mock::{MockServer, MockServerConfig};
use ingot_bench::run::{ModelSpec, RunConfig, TargetSpec};
use ingot_bench::sweep::SweepSpec;
use ingot_bench::workload::GenParams;
use ingot_core::mock::{MockConfig, MockEngine};
use ingot_core::{ModelDescriptor, ModelProvider, ProviderError, ResolvedModel};

struct NoFiles;

impl ModelProvider for NoFiles {
    fn list(&self) -> Vec<ModelDescriptor> {
        Vec::new()
    }
    fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
        Err(ProviderError::Other(format!(
            "{id} is served by the endpoint"
        )))
    }
}

#[test]
fn sweep_runs_sync_throughput_and_rates_between_and_draws_the_curve() {
    let server = MockServer::start(
        MockServerConfig {
            ttft: Duration::from_millis(10),
            itl: Duration::from_millis(3),
            tokens: 6,
            ..MockServerConfig::default()
        },
        1,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = RunConfig::builder()
        .models(vec![ModelSpec {
            alias: "mock".into(),
            mode: None,
        }])
        .gen(GenParams {
            max_tokens: 6,
            timeout_s: 30.0,
            ..GenParams::default()
        })
        .requests(Some(16))
        .warmup(1)
        .sweep(Some(SweepSpec {
            rates: 3,
            max_concurrency: 4,
        }))
        .target(TargetSpec::Endpoint {
            url: server.url(),
            api_key: None,
            server_pid: None,
        })
        .out_dir(dir.path().to_path_buf())
        .calibrate(false)
        .build()
        .unwrap();
    let out = ingot_bench::run::run(
        &cfg,
        &NoFiles,
        Arc::new(MockEngine::new(MockConfig::default())),
    )
    .unwrap();
    let m = &out.results.models[0];
    let names: Vec<&str> = m
        .scenarios
        .iter()
        .map(|s| s.scenario.name.as_str())
        .collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert_eq!(&names[..2], ["sync", "throughput"]);
    assert!(
        names[2..].iter().all(|n| n.starts_with("rate")),
        "{names:?}"
    );
    let sweep = m.sweep.as_ref().expect("a sweep result");
    let sync = sweep.points[0].achieved_req_s.unwrap();
    let top = sweep.points[1].achieved_req_s.unwrap();
    assert!(top > sync, "throughput {top} vs sync {sync}");
    let offered: Vec<f64> = sweep.points[2..]
        .iter()
        .map(|p| p.offered_rate.unwrap())
        .collect();
    // Evenly spaced strictly between the two measured rates, increasing.
    assert!(offered.windows(2).all(|w| w[0] < w[1]), "{offered:?}");
    assert!(
        offered[0] > sync * 0.99 && offered[2] < top * 1.01,
        "{offered:?}"
    );
    for p in &sweep.points {
        assert!(p.ttft_p50_ms.is_some() && p.itl_mean_ms.is_some(), "{p:?}");
    }
    assert!(!sweep.summary.is_empty());
    assert!(m
        .scenarios
        .iter()
        .all(|s| s.metrics.as_ref().unwrap().failed == 0));
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("## Sweep: latency against throughput"), "{md}");
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    for title in [
        "TTFT p50 against throughput",
        "TTFT p90 against throughput",
        "ITL against throughput",
    ] {
        assert!(html.contains(title), "{title}");
    }
    assert!(html.contains("throughput (requests/s)"));
    // results.json carries the sweep and matches the schema.
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/results.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(
        v["models"][0]["sweep"]["points"].as_array().unwrap().len(),
        5
    );
}
