//! Issue 17: A/B comparison in one run. Two mock servers with known, different latencies are
//! compared in interleaved rounds; the verdicts must name the slower one worse.

use std::sync::Arc;
use std::time::Duration;

use ingot_bench::ab::Verdict;
use ingot_bench::mock::{MockServer, MockServerConfig};
use ingot_bench::run::{ModelSpec, NamedEndpoint, RunConfig, TargetSpec};
use ingot_bench::workload::GenParams;
use ingot_core::mock::{MockConfig, MockEngine};
use ingot_core::{ModelDescriptor, ModelDetails, ModelProvider, ProviderError, ResolvedModel};

struct NoFiles;

impl ModelProvider for NoFiles {
    fn list(&self) -> Vec<ModelDescriptor> {
        Vec::new()
    }
    fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
        Err(ProviderError::Other(format!(
            "{id} is served by the endpoints"
        )))
    }
}

fn mock(ttft_ms: u64, itl_ms: u64) -> MockServer {
    MockServer::start(
        MockServerConfig {
            ttft: Duration::from_millis(ttft_ms),
            itl: Duration::from_millis(itl_ms),
            tokens: 6,
            ..MockServerConfig::default()
        },
        1,
    )
    .unwrap()
}

#[test]
fn interleaved_servers_get_ratios_with_cis_and_the_right_verdicts() {
    let fast = mock(5, 2);
    let slow = mock(40, 12);
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
        .rounds(4)
        .warmup(1)
        .concurrency(vec![2])
        .requests(Some(8))
        .target(TargetSpec::Endpoints(vec![
            NamedEndpoint {
                name: "fast".into(),
                url: fast.url(),
                api_key: None,
            },
            NamedEndpoint {
                name: "slow".into(),
                url: slow.url(),
                api_key: None,
            },
        ]))
        .interleave(Some(ingot_bench::ab::Interleave { pause_s: 0.02 }))
        .out_dir(dir.path().to_path_buf())
        .calibrate(false)
        .build()
        .unwrap();
    let engine = Arc::new(MockEngine::new(MockConfig::default()));
    let out = ingot_bench::run::run(&cfg, &NoFiles, engine).unwrap();
    let c = out.results.comparison.as_ref().expect("a comparison");
    assert_eq!(c.baseline, "fast");
    assert_eq!(c.rounds, 4);
    // ABAB..., the order reversed every round.
    assert_eq!(
        c.order,
        vec![
            vec!["fast", "slow"],
            vec!["slow", "fast"],
            vec!["fast", "slow"],
            vec!["slow", "fast"]
        ]
    );
    // Round by round: every target, every round.
    assert_eq!(c.round_figures.len(), 8);
    assert!(c
        .round_figures
        .iter()
        .all(|f| f.requests == 8 && f.failed == 0));
    let ratio = |metric: &str| {
        c.ratios
            .iter()
            .find(|r| r.metric == metric && r.target == "slow")
            .unwrap_or_else(|| panic!("no {metric}"))
    };
    for m in ["ttft_ms.p50", "e2e_ms.p50", "e2e_ms.p95", "itl_ms.mean"] {
        let r = ratio(m);
        assert_eq!(r.verdict, Verdict::Worse, "{m}: {r:?}");
        assert!(r.ratio.unwrap() > 1.5, "{m}: {r:?}");
        let [lo, hi] = r.ci.unwrap();
        assert!(
            lo > 1.0 && lo <= r.ratio.unwrap() && r.ratio.unwrap() <= hi,
            "{m}: {r:?}"
        );
        assert_eq!(r.per_round.len(), 4);
    }
    for m in ["output_tok_s", "request_throughput"] {
        let r = ratio(m);
        assert_eq!(r.verdict, Verdict::Worse, "{m}: {r:?}");
        assert!(r.ratio.unwrap() < 1.0, "{m}: {r:?}");
    }
    // Per-target tables pool the rounds: 4 × 8 measured requests each.
    for m in &out.results.models {
        let s = m.scenarios[0].metrics.as_ref().unwrap();
        assert_eq!((s.requests, s.failed), (32, 0), "{}", m.alias);
    }
    // Records: each measured one tagged with its round, indices unique per target.
    let measured: Vec<_> = out.records.iter().filter(|r| !r.warmup).collect();
    assert_eq!(measured.len(), 64);
    assert!(measured.iter().all(|r| r.interleave_round.is_some()));
    let mut idx: Vec<_> = measured
        .iter()
        .filter(|r| r.model == "slow")
        .map(|r| r.index)
        .collect();
    idx.sort_unstable();
    idx.dedup();
    assert_eq!(idx.len(), 32);
    // The reports carry it: results.json (schema-valid), report.md, the terminal table.
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/results.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&written)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(written["comparison"]["ratios"][0]["target"], "slow");
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("## A/B comparison (baseline: fast)"), "{md}");
    assert!(md.contains("### Round by round"));
    let term = ingot_bench::report::terminal_table(&out.results);
    assert!(term.contains("ratio [95% CI]"), "{term}");
    assert!(term.contains("worse"), "{term}");
    // `bench compare` reads the run: rows per target and metric, significant where the
    // verdict is.
    let rows = ingot_bench::compare::from_comparison(c);
    let p95 = rows.iter().find(|r| r.metric == "e2e_ms.p95").unwrap();
    assert!(p95.significant && p95.change_pct.unwrap() > 50.0);
    let rules = ingot_bench::compare::parse_fail_if("p95_ms>+10%").unwrap();
    assert!(!ingot_bench::compare::violations(&rows, &rules).is_empty());
}

#[test]
fn in_process_models_interleave_too() {
    struct Files(std::path::PathBuf);
    impl ModelProvider for Files {
        fn list(&self) -> Vec<ModelDescriptor> {
            Vec::new()
        }
        fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
            let path = self.0.join(format!("{id}.gguf"));
            // The mock engine loads anything; the size is what the report shows.
            let f =
                std::fs::File::create(&path).map_err(|e| ProviderError::Other(e.to_string()))?;
            f.set_len(4)
                .map_err(|e| ProviderError::Other(e.to_string()))?;
            Ok(ResolvedModel {
                id: id.into(),
                path,
                chat_template: None,
                context_length: None,
            })
        }
        fn details(&self, _id: &str) -> Option<ModelDetails> {
            Some(ModelDetails {
                chat_template: Some(true),
                ..ModelDetails::default()
            })
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = RunConfig::builder()
        .models(
            ["a", "b"]
                .iter()
                .map(|m| ModelSpec {
                    alias: m.to_string(),
                    mode: None,
                })
                .collect(),
        )
        .gen(GenParams {
            max_tokens: 4,
            ..GenParams::default()
        })
        .rounds(3)
        .warmup(0)
        .requests(Some(4))
        .interleave(Some(ingot_bench::ab::Interleave { pause_s: 0.0 }))
        .out_dir(dir.path().join("out"))
        .calibrate(false)
        .build()
        .unwrap();
    let engine = Arc::new(MockEngine::new(
        MockConfig::default().with_timing(Duration::from_millis(2), Duration::from_millis(1)),
    ));
    let out = ingot_bench::run::run(&cfg, &Files(dir.path().to_path_buf()), engine).unwrap();
    let c = out.results.comparison.unwrap();
    assert_eq!(c.baseline, "a");
    assert_eq!(c.targets[1].endpoint, None);
    assert_eq!(c.round_figures.len(), 6);
    assert!(c
        .ratios
        .iter()
        .all(|r| r.target == "b" && r.per_round.len() == 3));
    assert!(out.results.models.iter().all(|m| m.file.is_some()));
}
