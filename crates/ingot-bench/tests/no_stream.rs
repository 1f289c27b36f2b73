//! Issue 17: `--no-stream` sends non-streamed requests (how the workshop's script measures):
//! only end-to-end latency exists, and every report says TTFT is unavailable, never 0.

use std::sync::Arc;
use std::time::Duration;

use ingot_bench::mock::{MockServer, MockServerConfig};
use ingot_bench::record::CountSource;
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

#[test]
fn non_streamed_requests_measure_e2e_only_and_say_ttft_is_unavailable() {
    let server = MockServer::start(
        MockServerConfig {
            ttft: Duration::from_millis(20),
            itl: Duration::from_millis(5),
            tokens: 5,
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
            max_tokens: 5,
            stream: false,
            timeout_s: 30.0,
            ..GenParams::default()
        })
        .rounds(2)
        .warmup(0)
        .target(TargetSpec::Endpoint {
            url: server.url(),
            api_key: None,
            server_pid: None,
        })
        .out_dir(dir.path().to_path_buf())
        .calibrate(false)
        .load_test(false)
        .build()
        .unwrap();
    let out = ingot_bench::run::run(
        &cfg,
        &NoFiles,
        Arc::new(MockEngine::new(MockConfig::default())),
    )
    .unwrap();
    assert_eq!(server.answered(), 8);
    for r in out.records.iter().filter(|r| !r.warmup) {
        assert!(r.ok(), "{:?}", r.error);
        assert_eq!(r.output, "tok0 tok1 tok2 tok3 tok4 ");
        assert_eq!(r.first_token_ms, None);
        assert!(r.token_ms.is_empty());
        assert_eq!(r.completion_tokens, Some(5));
        assert_eq!(r.count_source, CountSource::ServerUsage);
        // The mock answers when its last token is due: 20 + 4 × 5 ms after arrival.
        assert!(r.e2e_ms() >= 39.0, "{}", r.e2e_ms());
    }
    let m = out.results.models[0].scenarios[0].metrics.as_ref().unwrap();
    assert_eq!(m.ttft_ms.n, 0);
    assert_eq!(m.ttft_ms.p50, None);
    assert_eq!(m.itl_ms.n, 0);
    assert_eq!(m.e2e_ms.n, 8);
    assert!(m.output_tok_s.unwrap() > 0.0);
    assert!(!out.results.manifest.sampling.stream);
    let term = ingot_bench::report::terminal_table(&out.results);
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    for text in [&term, &md, &html] {
        assert!(
            text.contains("TTFT, ITL and decode tok/s are unavailable"),
            "{text}"
        );
    }
    let json = std::fs::read_to_string(dir.path().join("results.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["manifest"]["sampling"]["stream"], false);
    assert!(v["models"][0]["scenarios"][0]["metrics"]["ttft_ms"]["p50"].is_null());
}
