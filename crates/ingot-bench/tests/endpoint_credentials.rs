//! Issue 12: credentials in an endpoint URL (`user:pass@`, `?api_key=`) are used to reach the
//! server but never written to results.json, requests.jsonl or the reports.

use std::sync::Arc;
use std::time::Duration;

use ingot_bench::mock::{MockServer, MockServerConfig};
use ingot_bench::run::{ModelSpec, RunConfig, TargetSpec};
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

const SECRETS: [&str; 2] = ["hunter2", "s3cret"];

fn run_against(url: String, dir: &std::path::Path) -> ingot_bench::results::Results {
    let cfg = RunConfig::builder()
        .models(vec![ModelSpec {
            alias: "mock".into(),
            mode: None,
        }])
        .gen(GenParams {
            max_tokens: 4,
            timeout_s: 10.0,
            ..GenParams::default()
        })
        .rounds(1)
        .warmup(0)
        .target(TargetSpec::Endpoint {
            url,
            api_key: None,
            server_pid: None,
        })
        .out_dir(dir.to_path_buf())
        .calibrate(false)
        .load_test(false)
        .build()
        .unwrap();
    let engine = Arc::new(MockEngine::new(MockConfig::default()));
    ingot_bench::run::run(&cfg, &NoFiles, engine)
        .unwrap()
        .results
}

fn assert_no_secret_written(dir: &std::path::Path) {
    for f in [
        "results.json",
        "requests.jsonl",
        "report.md",
        "report.html",
        "results.csv",
    ] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        for s in SECRETS {
            assert!(!text.contains(s), "{f} contains the credential {s}");
        }
    }
}

#[test]
fn endpoint_credentials_never_reach_the_written_results() {
    let server = MockServer::start(
        MockServerConfig {
            ttft: Duration::from_millis(1),
            itl: Duration::from_millis(1),
            tokens: 4,
            ..MockServerConfig::default()
        },
        1,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = server.url().replace("http://", "http://bob:hunter2@");
    let results = run_against(format!("{base}/v1?api_key=s3cret"), dir.path());
    // The credentials still reach the server: the run itself succeeds.
    let m = results.models[0].scenarios[0].metrics.as_ref().unwrap();
    assert_eq!(m.failed, 0, "{:?}", m.errors);
    let endpoint = results.manifest.target.endpoint.as_deref().unwrap();
    assert!(endpoint.contains("***@127.0.0.1"), "{endpoint}");
    assert!(endpoint.contains("api_key=***"), "{endpoint}");
    assert_no_secret_written(dir.path());

    // A failing request quotes the URL in its error (reqwest does): redacted there too.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = tempfile::tempdir().unwrap();
    let results = run_against(
        format!("http://bob:hunter2@127.0.0.1:{port}/v1?token=s3cret"),
        dead.path(),
    );
    let m = results.models[0].scenarios[0].metrics.as_ref().unwrap();
    assert_eq!(m.failed, m.requests);
    assert!(
        m.errors[0].0.starts_with("request failed"),
        "{:?}",
        m.errors
    );
    assert_no_secret_written(dead.path());
}
