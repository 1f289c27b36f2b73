//! Reports from a synthetic results set with fixed numbers (insta snapshots of the Markdown and
//! the CSV), JSON Schema validation of results.json, and whole runs on the engine's mock.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ingot_bench::calibrate::Calibration;
use ingot_bench::exec::{Scenario, StopAt};
use ingot_bench::record::{CountSource, RequestRecord};
use ingot_bench::resources::MachineInfo;
use ingot_bench::results::*;
use ingot_bench::run::{ModelSpec, RunConfig};
use ingot_bench::stats::{scenario_metrics, Slo};
use ingot_bench::workload::{builtin_prompts, prompt_set_hash, GenParams, Mode};
use ingot_core::mock::{MockConfig, MockEngine};
use ingot_core::{Engine, EngineError, LoadOptions, LoadedModel};
use ingot_core::{ModelDescriptor, ModelDetails, ModelProvider, ProviderError, ResolvedModel};

fn rec(
    model: &str,
    scenario: &str,
    i: u64,
    send: f64,
    ttft: f64,
    itl: f64,
    n: usize,
) -> RequestRecord {
    let prompts = builtin_prompts();
    let mut r = RequestRecord::start(
        model,
        scenario,
        i,
        (i / 4) as u32,
        &prompts[(i % 4) as usize].id,
        false,
        send,
        send,
    );
    let first = send + ttft;
    r.first_byte_ms = Some(first);
    r.first_token_ms = Some(first);
    r.token_ms = (0..n).map(|k| first + itl * k as f64).collect();
    r.end_ms = first + itl * (n - 1) as f64 + 1.0;
    r.prompt_tokens = Some(30);
    r.completion_tokens = Some(n as u32);
    r.count_source = CountSource::Engine;
    r.finish_reason = Some("length".into());
    r.output = "x".repeat(n);
    r
}

/// Eight sequential requests per scenario with deterministic, varied timings.
fn records(model: &str, scenario: &str, base_ttft: f64, itl: f64) -> Vec<RequestRecord> {
    let mut t = 0.0;
    (0..8u64)
        .map(|i| {
            let ttft = base_ttft + (i % 3) as f64 * 4.0;
            let r = rec(model, scenario, i, t, ttft, itl + (i % 2) as f64, 16);
            t = r.end_ms + 2.0;
            r
        })
        .collect()
}

fn synthetic() -> (Results, Vec<RequestRecord>) {
    let slo = Slo::parse("ttft=100ms,e2e=1s").unwrap();
    let mut all = Vec::new();
    let mut models = Vec::new();
    for (alias, ttft, itl, rss) in [
        ("fast-model", 40.0, 10.0, 200u64 << 20),
        ("slow-model", 90.0, 25.0, 500 << 20),
    ] {
        let mut scenarios = Vec::new();
        for c in [1usize, 2] {
            let sc = Scenario::closed(c, StopAt::Requests(8));
            let recs = records(alias, &sc.name, ttft * c as f64, itl);
            scenarios.push(ScenarioResult {
                scenario: sc,
                started: "2026-01-01T00:00:00Z".into(),
                metrics: Some(scenario_metrics(&recs, &slo)),
                metrics_error: None,
            });
            all.extend(recs);
        }
        models.push(ModelResult {
            alias: alias.into(),
            status: Status::Ok,
            reason: None,
            mode: Mode::Chat,
            file: Some(ModelFile {
                path: format!("/models/{alias}.gguf"),
                sha256: Some("ab".repeat(32)),
                size_bytes: Some(rss / 2),
                quantization: Some("Q4_K_M".into()),
                parameters: Some(135_000_000),
            }),
            load: Some(LoadMetrics {
                cold_load_ms: Some(ttft * 10.0),
                cold_first_ttft_ms: Some(ttft * 2.0),
                page_cache_dropped: true,
                warm_load_ms: Some(ttft * 5.0),
                warm_first_ttft_ms: Some(ttft * 1.5),
                cold_load_phases: None,
                warm_load_phases: None,
            }),
            resources: Some(ResourceMetrics {
                baseline_rss_bytes: Some(8 << 20),
                peak_rss_bytes: Some(rss),
                peak_pss_bytes: Some(rss - (1 << 20)),
                peak_private_bytes: Some(rss - (2 << 20)),
                cpu_seconds: Some(3.2),
                cpu_s_per_1k_tokens: Some(12.5),
                energy_j_per_1k_tokens: Some(125.0),
                process: "self".into(),
            }),
            scenarios,
            license: Some(
                if alias == "fast-model" {
                    "Apache-2.0"
                } else {
                    "Gemma"
                }
                .into(),
            ),
            license_permissive: Some(alias == "fast-model"),
            quality: None,
            remote: None,
            sweep: None,
            cost: None,
            embedding: None,
        });
    }
    models.push(ModelResult {
        alias: "broken-model".into(),
        status: Status::Failed,
        reason: Some("load: not a GGUF file".into()),
        mode: Mode::Completion,
        file: None,
        load: None,
        resources: None,
        scenarios: Vec::new(),
        license: None,
        license_permissive: None,
        quality: None,
        remote: None,
        sweep: None,
        cost: None,
        embedding: None,
    });
    let prompts = builtin_prompts();
    let results = Results {
        schema_version: SCHEMA_VERSION,
        manifest: Manifest {
            ingot_version: "0.1.0".into(),
            git_sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
            started: "2026-01-01T00:00:00Z".into(),
            finished: Some("2026-01-01T00:10:00Z".into()),
            target: TargetInfo {
                kind: TargetKind::InProcess,
                endpoint: None,
                server_pid: None,
                connections: None,
            },
            engine: Some(EngineInfo {
                name: "llama.cpp".into(),
                llama_cpp: "llama-cpp-2 0.1.160".into(),
                system_info: "CPU : AVX2 = 1 |".into(),
                prefix_cache: false,
                n_parallel: 2,
                speculative: None,
            }),
            machine: MachineInfo {
                cpu_model: Some("Test CPU".into()),
                logical_cores: 2,
                physical_cores: 2,
                ram_bytes: Some(8 << 30),
                gpu: None,
                os: "TestOS".into(),
                kernel: Some("6.0".into()),
                arch: "x86_64".into(),
                load_avg_1m: Some(0.5),
                busy: false,
            },
            threads: Some(2),
            sampling: GenParams {
                max_tokens: 16,
                ..GenParams::default()
            },
            prompt_set: PromptSetInfo {
                source: "builtin".into(),
                sha256: prompt_set_hash(&prompts),
                count: prompts.len(),
                ids: prompts.iter().map(|p| p.id.clone()).collect(),
            },
            scenarios: vec![
                Scenario::closed(1, StopAt::Requests(8)),
                Scenario::closed(2, StopAt::Requests(8)),
            ],
            rounds: 2,
            warmup_rounds: 1,
            slo,
            watts_per_core: 10.0,
            calibration: Some(Calibration {
                scripted_ttft_ms: 5.0,
                scripted_itl_ms: 2.0,
                tokens: 8,
                ttft_error_ms_p50: Some(0.12),
                itl_error_ms_p50: Some(0.01),
                points: Vec::new(),
                max_streamed_req_per_s: Some(2500.0),
                throughput_concurrency: 32,
                throughput_requests: 2000,
                throughput_failed: 0,
                release_build: true,
                cores: 2,
            }),
            warnings: Vec::new(),
            quality: None,
            dataset: None,
            cost: None,
        },
        models,
        selection: None,
        comparison: None,
    };
    (results, all)
}

fn validate(results: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/results.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(results)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "results.json does not match its schema:\n{}",
        errors.join("\n")
    );
}

/// The synthetic run with quality scores: fast-model 3.0/5, slow-model 5.0/5, and a question.
fn synthetic_with_quality() -> (Results, Vec<RequestRecord>) {
    use ingot_bench::quality::{aggregate, combine, evaluate, Check};
    let (mut results, records) = synthetic();
    let checks = [
        Check::try_from(serde_json::json!({"icontains": "paris"})).unwrap(),
        Check::try_from(serde_json::json!({"max_words": 5, "required": true})).unwrap(),
    ];
    let case = |id: &str, answer: &str| {
        combine(
            id,
            0.75,
            checks.iter().map(|c| evaluate(c, answer)).collect(),
        )
    };
    results.models[0].quality = Some(aggregate(vec![
        case("workshop-1", "Paris."),
        case("workshop-2", "A large city somewhere in Europe, I think."),
    ]));
    results.models[1].quality = Some(aggregate(vec![
        case("workshop-1", "Paris."),
        case("workshop-2", "Paris, France."),
    ]));
    let prompts: Vec<_> = builtin_prompts()
        .into_iter()
        .take(2)
        .map(|p| p.with_checks(checks.to_vec()))
        .collect();
    results.manifest.quality = ingot_bench::score::quality_info(&prompts, None, "test.json");
    let spec = ingot_bench::select::SelectSpec {
        constraints: ingot_bench::select::parse_constraints("p95_ms<=300,rss_mb<=1024").unwrap(),
        goal: Some(ingot_bench::select::Goal::maximize("quality").unwrap()),
    };
    results.selection = Some(ingot_bench::select::select(&results, &spec));
    (results, records)
}

#[test]
fn issue6_select_picks_the_right_model_and_explains_rejections() {
    use ingot_bench::select::{explain, parse_constraints, select, value, Goal, SelectSpec};
    let (results, _) = synthetic_with_quality();
    let fast = value(&results.models[0], "p95_ms").unwrap();
    let slow = value(&results.models[1], "p95_ms").unwrap();
    assert!(fast < slow);
    assert_eq!(value(&results.models[0], "quality"), Some(3.0));
    assert_eq!(value(&results.models[1], "quality"), Some(5.0));
    assert_eq!(value(&results.models[0], "rss_mb"), Some(200.0));

    // No constraint: the highest quality wins.
    let q = select(
        &results,
        &SelectSpec {
            constraints: Vec::new(),
            goal: Some(Goal::maximize("quality").unwrap()),
        },
    );
    assert_eq!(q.recommended.as_deref(), Some("slow-model"));
    assert!(q.why.contains("highest quality (5.00/5)"), "{}", q.why);
    assert!(q.why.contains("next: fast-model (3.00/5)"), "{}", q.why);

    // A latency budget between the two: slow-model is rejected, by how much.
    let limit = ((fast + slow) / 2.0).round();
    let spec = SelectSpec {
        constraints: parse_constraints(&format!("p95_ms<={limit},rss_mb<=1024")).unwrap(),
        goal: Some(Goal::maximize("quality").unwrap()),
    };
    let sel = select(&results, &spec);
    assert_eq!(sel.recommended.as_deref(), Some("fast-model"));
    let slow_c = sel
        .candidates
        .iter()
        .find(|c| c.model == "slow-model")
        .unwrap();
    assert!(!slow_c.eligible);
    assert_eq!(slow_c.violations.len(), 1);
    let v = &slow_c.violations[0];
    assert_eq!(v.metric, "p95_ms");
    assert!((v.excess.unwrap() - (slow - limit)).abs() < 1e-9);
    assert!((v.excess_pct.unwrap() - (slow - limit) / limit * 100.0).abs() < 1e-9);
    let broken = sel
        .candidates
        .iter()
        .find(|c| c.model == "broken-model")
        .unwrap();
    assert_eq!(
        broken.note.as_deref(),
        Some("failed: load: not a GGUF file")
    );
    let lines = explain(&sel);
    assert!(lines[0].starts_with("recommended: fast-model — fast-model has the highest quality (3.00/5) of the 1 model(s) that meet"), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("slow-model: fails p95_ms<=") && l.contains("past the limit by")),
        "{lines:#?}"
    );
    assert!(lines
        .iter()
        .any(|l| l.contains("broken-model: not eligible (failed: load")));

    // Any metric: the highest tok/s under a memory cap, the lowest p95 at a quality floor.
    let sel = select(
        &results,
        &SelectSpec {
            constraints: parse_constraints("rss_mb<=300").unwrap(),
            goal: Some(Goal::maximize("tok_s").unwrap()),
        },
    );
    assert_eq!(sel.recommended.as_deref(), Some("fast-model"));
    let slow_c = sel
        .candidates
        .iter()
        .find(|c| c.model == "slow-model")
        .unwrap();
    assert_eq!(slow_c.violations[0].value, Some(500.0));
    assert_eq!(slow_c.violations[0].excess, Some(200.0));
    let sel = select(
        &results,
        &SelectSpec {
            constraints: parse_constraints("quality>=4").unwrap(),
            goal: Some(Goal::minimize("p95_ms").unwrap()),
        },
    );
    assert_eq!(sel.recommended.as_deref(), Some("slow-model"));
    // Nothing meets an impossible budget: no recommendation, every rejection explained.
    let sel = select(
        &results,
        &SelectSpec {
            constraints: parse_constraints("p95_ms<=1").unwrap(),
            goal: None,
        },
    );
    assert_eq!(sel.recommended, None);
    assert!(sel.why.starts_with("no model meets p95_ms<=1"));
    // Both models are on the quality/latency Pareto front (one is better, the other faster).
    assert_eq!(sel.pareto_front, vec!["fast-model", "slow-model"]);
}

#[test]
fn quality_report_snapshot_and_schema() {
    let (results, records) = synthetic_with_quality();
    insta::assert_snapshot!("report_quality_md", ingot_bench::report::markdown(&results));
    validate(&serde_json::to_value(&results).unwrap());
    let dir = tempfile::tempdir().unwrap();
    ingot_bench::report::write_all(dir.path(), &results, &records, &Default::default()).unwrap();
    let svg = std::fs::read_to_string(dir.path().join("quality_p95.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("fast-model (front)"));
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("<h2>Quality</h2>") && html.contains("Gemma ⚠ non-permissive"));
    assert!(
        html.matches("<svg").count() >= 6,
        "five charts and the quality chart"
    );
    let csv = ingot_bench::report::csv(&results);
    assert!(csv.contains("slow-model,,quality_5,mean,5,chat\n"));
    assert!(csv.contains("fast-model,,license,value,Apache-2.0,chat\n"));
    let t = ingot_bench::report::terminal_table(&results);
    assert!(t.contains("recommended: fast-model"), "{t}");
    assert!(t.contains("quality slow-model: 5.00/5"), "{t}");
}

/// Issue 18: an engine that times a load's parts gets them into results.json (valid against the
/// schema) and the CSV; a results.json written before them still reads.
#[test]
fn load_phases_reach_the_results_and_the_csv() {
    let (mut results, _) = synthetic();
    let load = results.models[0].load.as_mut().unwrap();
    load.warm_load_phases = Some(ingot_core::LoadPhases {
        header_ms: 1.5,
        weights_ms: 60.25,
        context_ms: 70.0,
        weights_reused: false,
    });
    let alias = results.models[0].alias.clone();
    let value = serde_json::to_value(&results).unwrap();
    validate(&value);
    let back: Results = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(back.models[0].load, results.models[0].load);
    let csv = ingot_bench::report::csv(&results);
    for line in [
        format!("{alias},,warm_load_header_ms,value,1.5,"),
        format!("{alias},,warm_load_weights_ms,value,60.25,"),
        format!("{alias},,warm_load_context_ms,value,70,"),
    ] {
        assert!(csv.contains(&line), "{line} missing from\n{csv}");
    }
    assert!(
        !csv.contains("cold_load_weights_ms"),
        "no cold phases were recorded"
    );
    // Older files have no phases at all.
    let mut old = value;
    let old_load = old["models"][0]["load"].as_object_mut().unwrap();
    old_load.remove("warm_load_phases");
    assert!(
        !old_load.contains_key("cold_load_phases"),
        "None is not written"
    );
    let back: Results = serde_json::from_value(old).unwrap();
    assert_eq!(back.models[0].load.as_ref().unwrap().warm_load_phases, None);
}

#[test]
fn markdown_snapshot() {
    let (results, _) = synthetic();
    insta::assert_snapshot!("report_md", ingot_bench::report::markdown(&results));
}

#[test]
fn csv_snapshot() {
    let (results, _) = synthetic();
    insta::assert_snapshot!("results_csv", ingot_bench::report::csv(&results));
}

#[test]
fn synthetic_results_match_the_schema_and_round_trip() {
    let (results, records) = synthetic();
    let v = serde_json::to_value(&results).unwrap();
    validate(&v);
    let back: Results = serde_json::from_value(v).unwrap();
    assert_eq!(back, results);
    // Every output file is written; the HTML is self-contained.
    let dir = tempfile::tempdir().unwrap();
    ingot_bench::report::write_all(dir.path(), &results, &records, &Default::default()).unwrap();
    for f in [
        "results.json",
        "requests.jsonl",
        "results.csv",
        "report.md",
        "report.html",
    ] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    // INGOT_BENCH_REPORT_DIR=DIR keeps a copy of the synthetic reports, to look at.
    if let Some(keep) = std::env::var_os("INGOT_BENCH_REPORT_DIR") {
        ingot_bench::report::write_all(Path::new(&keep), &results, &records, &Default::default())
            .unwrap();
    }
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.matches("<svg").count() >= 5, "five charts");
    assert!(!html.contains("<script"));
    assert!(
        !html.contains("http://") && !html.contains("https://") || !html.contains("src=\"http")
    );
    let lines = std::fs::read_to_string(dir.path().join("requests.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), records.len());
    let terminal = ingot_bench::report::terminal_table(&results);
    assert!(terminal.contains("fastest TTFT (p50): fast-model"));
    assert!(terminal.contains("smallest peak RSS: fast-model"));
    assert!(terminal.contains("broken-model failed: load: not a GGUF file"));
}

#[test]
fn compare_flags_a_regression() {
    let (old, _) = synthetic();
    let (mut new, _) = synthetic();
    // The new run is slower: rebuild fast-model c1 from slower records.
    let slo = old.manifest.slo.clone();
    let slow = records("fast-model", "c1", 80.0, 20.0);
    new.models[0].scenarios[0].metrics = Some(scenario_metrics(&slow, &slo));
    let rows = ingot_bench::compare::compare(&old, &new);
    let rules = ingot_bench::compare::parse_fail_if("p95_ms>+10%,tok_s<-5%").unwrap();
    let v = ingot_bench::compare::violations(&rows, &rules);
    assert!(v
        .iter()
        .any(|(_, r)| r.metric == "e2e_ms.p95" && r.scenario == "c1"));
    assert!(v.iter().any(|(_, r)| r.metric == "output_tok_s"));
    // Unchanged runs never fail.
    let same = ingot_bench::compare::compare(&old, &old);
    assert!(ingot_bench::compare::violations(&same, &rules).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Whole runs, in-process, on the engine's scripted mock.

/// MockEngine, except that models whose file name contains "broken" fail to load.
struct Engines(MockEngine);

impl Engine for Engines {
    fn name(&self) -> &str {
        "mock"
    }
    fn load(&self, path: &Path, opts: &LoadOptions) -> Result<Arc<dyn LoadedModel>, EngineError> {
        if path.to_string_lossy().contains("broken") {
            return Err(EngineError::InvalidModel {
                path: path.to_path_buf(),
                reason: "bad magic".into(),
            });
        }
        self.0.load(path, opts)
    }
}

struct Files(PathBuf);

impl ModelProvider for Files {
    fn list(&self) -> Vec<ModelDescriptor> {
        Vec::new()
    }
    fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
        if id == "missing" {
            return Err(ProviderError::Other(format!("unknown model '{id}'")));
        }
        let path = self.0.join(format!("{id}.gguf"));
        // The mock engine loads anything; the size is what the report shows.
        let f = std::fs::File::create(&path).map_err(|e| ProviderError::Other(e.to_string()))?;
        f.set_len(4)
            .map_err(|e| ProviderError::Other(e.to_string()))?;
        Ok(ResolvedModel {
            id: id.into(),
            path,
            chat_template: None,
            context_length: None,
        })
    }
    fn details(&self, id: &str) -> Option<ModelDetails> {
        Some(ModelDetails {
            sha256: Some("cd".repeat(32)),
            quantization: Some("Q8_0".into()),
            chat_template: Some(id != "base-model"),
            ..ModelDetails::default()
        })
    }
}

#[test]
fn in_process_run_with_failing_models_continues_and_writes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let engine = Arc::new(Engines(MockEngine::new(
        MockConfig::default().with_timing(Duration::from_millis(3), Duration::from_millis(1)),
    )));
    let cfg = RunConfig::builder()
        .models(
            ["good-model", "broken-model", "missing", "base-model"]
                .iter()
                .map(|a| ModelSpec {
                    alias: a.to_string(),
                    mode: None,
                })
                .collect(),
        )
        .gen(GenParams {
            max_tokens: 6,
            ..GenParams::default()
        })
        .rounds(1)
        .concurrency(vec![1, 2])
        .rates(vec![50.0])
        .slo(Slo::parse("ttft=1s").unwrap())
        .out_dir(out.clone())
        .calibrate(false)
        .build()
        .unwrap();
    let res = ingot_bench::run::run(&cfg, &Files(dir.path().to_path_buf()), engine).unwrap();
    let r = &res.results;
    let status: Vec<_> = r
        .models
        .iter()
        .map(|m| (m.alias.as_str(), m.status))
        .collect();
    assert_eq!(
        status,
        vec![
            ("good-model", Status::Ok),
            ("broken-model", Status::Failed),
            ("missing", Status::Failed),
            ("base-model", Status::Ok),
        ]
    );
    assert!(r.models[1].reason.as_deref().unwrap().starts_with("load:"));
    assert!(r.models[2]
        .reason
        .as_deref()
        .unwrap()
        .starts_with("download:"));
    assert_eq!(r.models[3].mode, Mode::Completion);
    let good = &r.models[0];
    assert_eq!(good.scenarios.len(), 3);
    let m = good.scenarios[0].metrics.as_ref().unwrap();
    assert_eq!(m.requests, 4);
    assert_eq!(m.failed, 0);
    assert_eq!(m.completion_tokens, 24);
    assert!(m.goodput.is_some());
    let load = good.load.as_ref().unwrap();
    assert!(load.cold_load_ms.is_some() && load.warm_first_ttft_ms.is_some());
    assert!(good.resources.as_ref().unwrap().peak_rss_bytes.is_some());
    // Warm-up and load requests are kept in the raw records, flagged.
    assert!(res
        .records
        .iter()
        .any(|r| r.warmup && r.scenario == "warmup"));
    assert!(res.records.iter().any(|r| r.scenario == "load-cold"));
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    validate(&written);
    assert_eq!(written["models"][1]["status"], "failed");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("broken-model failed: load:"));
}

/// A base model registered with `ingot model add --chat-template` is benchmarked in chat mode,
/// loaded with the catalog's template (issue 7 override, used by the in-process bench too).
#[test]
fn chat_template_override_reaches_the_in_process_loader() {
    struct Override(PathBuf);
    impl ModelProvider for Override {
        fn list(&self) -> Vec<ModelDescriptor> {
            Vec::new()
        }
        fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
            let path = self.0.join(format!("{id}.gguf"));
            std::fs::write(&path, b"GGUF").map_err(|e| ProviderError::Other(e.to_string()))?;
            Ok(ResolvedModel {
                id: id.into(),
                path,
                chat_template: Some("{{ messages[0].content }}".into()),
                context_length: None,
            })
        }
    }
    let dir = tempfile::tempdir().unwrap();
    // A file without a template of its own: chat requests fail unless the override is loaded.
    let mut mock =
        MockConfig::default().with_timing(Duration::from_millis(1), Duration::from_millis(1));
    mock.has_chat_template = false;
    let cfg = RunConfig::builder()
        .models(vec![ModelSpec {
            alias: "gemma-chat".into(),
            mode: None,
        }])
        .gen(GenParams {
            max_tokens: 4,
            ..GenParams::default()
        })
        .rounds(1)
        .warmup(0)
        .out_dir(dir.path().join("out"))
        .calibrate(false)
        .load_test(false)
        .build()
        .unwrap();
    let engine = Arc::new(MockEngine::new(mock));
    let res = ingot_bench::run::run(&cfg, &Override(dir.path().to_path_buf()), engine).unwrap();
    let m = &res.results.models[0];
    assert_eq!(m.status, Status::Ok, "{:?}", m.reason);
    assert_eq!(m.mode, Mode::Chat);
    let metrics = m.scenarios[0].metrics.as_ref().unwrap();
    assert_eq!(metrics.failed, 0);
    assert!(metrics.requests > 0);
}

/// Issue 7: a remote adapter sits in the same in-process comparison as local models; it is
/// measured over HTTP (here against the mock server) and gets no local resource figures.
#[test]
fn issue7_remote_adapter_is_benchmarked_beside_local_models() {
    use ingot_bench::mock::{MockServer, MockServerConfig};

    struct WithRemote(PathBuf, String);
    impl ModelProvider for WithRemote {
        fn list(&self) -> Vec<ModelDescriptor> {
            Vec::new()
        }
        fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
            if id == "far" {
                return Err(ProviderError::Other(
                    "a remote alias is never downloaded".into(),
                ));
            }
            Files(self.0.clone()).resolve(id)
        }
        fn details(&self, id: &str) -> Option<ModelDetails> {
            Files(self.0.clone()).details(id)
        }
        fn remote(&self, id: &str) -> Option<ingot_core::RemoteModel> {
            (id == "far").then(|| ingot_core::RemoteModel {
                id: id.into(),
                base_url: format!("{}/v1", self.1),
                model: "mock".into(),
                api_key: None,
            })
        }
    }
    let server = MockServer::start(
        MockServerConfig {
            ttft: Duration::from_millis(2),
            itl: Duration::from_millis(1),
            tokens: 5,
            ..MockServerConfig::default()
        },
        1,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = RunConfig::builder()
        .models(
            ["good-model", "far"]
                .iter()
                .map(|a| ModelSpec {
                    alias: a.to_string(),
                    mode: None,
                })
                .collect(),
        )
        .gen(GenParams {
            max_tokens: 5,
            ..GenParams::default()
        })
        .rounds(1)
        .warmup(0)
        .out_dir(dir.path().join("out"))
        .calibrate(false)
        .build()
        .unwrap();
    let engine = Arc::new(MockEngine::new(
        MockConfig::default().with_timing(Duration::from_millis(1), Duration::from_millis(1)),
    ));
    let res = ingot_bench::run::run(
        &cfg,
        &WithRemote(dir.path().to_path_buf(), server.url()),
        engine,
    )
    .unwrap();
    let models = &res.results.models;
    assert_eq!(models[0].status, Status::Ok, "{:?}", models[0].reason);
    assert_eq!(models[0].remote, None);
    let far = &models[1];
    assert_eq!(far.status, Status::Ok, "{:?}", far.reason);
    assert_eq!(
        far.remote.as_deref(),
        Some(&*format!("mock at {}/v1", server.url()))
    );
    assert!(far.resources.is_none() && far.file.is_none() && far.load.is_none());
    let m = far.scenarios[0].metrics.as_ref().unwrap();
    assert!(m.requests > 0);
    assert_eq!(m.failed, 0);
    // The mock streams exactly 5 tokens per request and reports usage.
    assert_eq!(m.completion_tokens, 5 * m.requests as u64);
    let md = std::fs::read_to_string(dir.path().join("out/report.md")).unwrap();
    assert!(
        md.contains("chat, remote: mock at http://127.0.0.1:"),
        "{md}"
    );
}
