//! Quality in a whole run, on the engine's scripted mock: rule checks, a local judge, a
//! scripted HTTP judge that answers malformed JSON (judge errors, never passes), human
//! annotations merged by `report`, `rescore` with new checks, and the recommendation.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ingot_bench::results::Status;
use ingot_bench::run::{JudgeSpec, JudgeTarget, ModelSpec, RunConfig};
use ingot_bench::rundir::RunDir;
use ingot_bench::select::{parse_constraints, Goal, SelectSpec};
use ingot_bench::workload::{parse_prompts, GenParams};
use ingot_core::mock::{MockConfig, MockEngine};
use ingot_core::{Engine, EngineError, LoadOptions, LoadedModel};
use ingot_core::{ModelDescriptor, ModelDetails, ModelProvider, ProviderError, ResolvedModel};

const GOOD: &str =
    "Retrieval augmented generation retrieves documents and gives them to the model as context.";
const BAD: &str = "I do not know, sorry.";
const VERDICT: &str = r#"{"score": 4, "reason": "covers retrieval"}"#;

/// One mock per file name: the answer depends on the model.
struct Engines;

impl Engine for Engines {
    fn name(&self) -> &str {
        "mock"
    }
    fn load(&self, path: &Path, opts: &LoadOptions) -> Result<Arc<dyn LoadedModel>, EngineError> {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let text = match name.as_str() {
            "good-model" => GOOD,
            "bad-model" => BAD,
            "judge-model" => VERDICT,
            _ => "whatever",
        };
        MockEngine::new(
            MockConfig::default()
                .with_text(text)
                .with_timing(Duration::from_millis(1), Duration::from_millis(1)),
        )
        .load(path, opts)
    }
}

struct Files(PathBuf);

impl ModelProvider for Files {
    fn list(&self) -> Vec<ModelDescriptor> {
        Vec::new()
    }
    fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
        let path = self.0.join(format!("{id}.gguf"));
        // The mock engine loads anything; the size is what the report shows.
        let f = std::fs::File::create(&path).map_err(|e| ProviderError::Other(e.to_string()))?;
        f.set_len(1 << 20)
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
            chat_template: Some(true),
            license: Some(
                if id == "bad-model" {
                    "Llama-3.2-Community"
                } else {
                    "Apache-2.0"
                }
                .into(),
            ),
            license_permissive: Some(id != "bad-model"),
            ..ModelDetails::default()
        })
    }
}

const PROMPTS: &str = r#"[
  {"id": "rag", "prompt": "Explain RAG in one sentence.", "checks": [
    {"type": "icontains", "value": "retriev", "required": true},
    {"max_words": 30},
    {"type": "judge", "rubric": "Explains retrieval and grounding.", "weight": 2}
  ]},
  {"id": "short", "prompt": "Answer briefly.", "threshold": 0.5, "checks": [
    {"max_words": 5},
    {"not_contains": ["sorry"], "required": true}
  ]},
  {"id": "free", "prompt": "Say anything."}
]"#;

fn config(dir: &Path, judge: Option<JudgeSpec>) -> RunConfig {
    RunConfig::builder()
        .models(
            ["good-model", "bad-model"]
                .iter()
                .map(|a| ModelSpec {
                    alias: a.to_string(),
                    mode: None,
                })
                .collect(),
        )
        .prompts(parse_prompts(PROMPTS).unwrap())
        .prompt_source("test".into())
        .gen(GenParams {
            max_tokens: 32,
            timeout_s: 30.0,
            ..GenParams::default()
        })
        .rounds(2)
        .out_dir(dir.join("out"))
        .calibrate(false)
        .load_test(false)
        .judge(judge)
        .build()
        .unwrap()
}

fn validate(results: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/results.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(results)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "schema:\n{}", errors.join("\n"));
}

fn case<'a>(
    r: &'a ingot_bench::results::Results,
    model: &str,
    id: &str,
) -> &'a ingot_bench::quality::CaseScore {
    r.models
        .iter()
        .find(|m| m.alias == model)
        .unwrap()
        .quality
        .as_ref()
        .unwrap()
        .case_scores
        .iter()
        .find(|c| c.case == id)
        .unwrap()
}

#[test]
fn local_judge_scores_rules_and_verdicts_then_annotate_report_rescore() {
    let dir = tempfile::tempdir().unwrap();
    let judge = JudgeSpec::new(JudgeTarget::Local {
        alias: "judge-model".into(),
    });
    let cfg = config(dir.path(), Some(judge));
    let out = ingot_bench::run::run(&cfg, &Files(dir.path().into()), Arc::new(Engines)).unwrap();
    let r = &out.results;
    assert!(r.models.iter().all(|m| m.status == Status::Ok));

    // good-model, rag: retriev ✓ (1), ≤ 30 words ✓ (1), judge 4/5 → 0.75 × 2: 3.5/4 = 0.875.
    let rag = case(r, "good-model", "rag");
    assert!((rag.score.unwrap() - 0.875).abs() < 1e-9, "{rag:#?}");
    assert!((rag.score_5.unwrap() - 4.5).abs() < 1e-9);
    assert!(rag.passed);
    let verdict = rag.checks[2].judge.as_ref().unwrap();
    assert_eq!(verdict.score, Some(4.0));
    assert_eq!(verdict.reason.as_deref(), Some("covers retrieval"));
    assert_eq!(verdict.judge, "judge-model (in-process)");
    // bad-model, rag: the required check fails: (0 + 1 + 1.5)/4 = 0.625, failed.
    let bad = case(r, "bad-model", "rag");
    assert!((bad.score.unwrap() - 0.625).abs() < 1e-9);
    assert!(!bad.passed);
    // short: good-model is 13 words (fails max_words) but no "sorry": 0.5 at threshold 0.5;
    // bad-model says sorry: the required check fails the case.
    let short = case(r, "good-model", "short");
    assert_eq!(short.score, Some(0.5));
    assert!(short.passed);
    assert!(!case(r, "bad-model", "short").passed);
    // A case without checks is not scored.
    let gq = r.models[0].quality.as_ref().unwrap();
    assert_eq!(gq.cases, 2);
    assert_eq!(gq.judge_errors, 0);
    assert!((gq.score.unwrap() - 0.6875).abs() < 1e-9);
    assert!(gq.score_ci.is_some());
    // Default question: maximize quality.
    let sel = r.selection.as_ref().unwrap();
    assert_eq!(sel.recommended.as_deref(), Some("good-model"));
    assert_eq!(sel.objective, "maximize quality");
    // Licenses: the non-permissive one is flagged.
    assert_eq!(r.models[1].license_permissive, Some(false));
    let md = std::fs::read_to_string(dir.path().join("out/report.md")).unwrap();
    assert!(md.contains("Llama-3.2-Community ⚠ non-permissive"), "{md}");
    assert!(md.contains("## Recommendation"));
    assert!(md.contains("**Recommended: good-model.**"));
    assert!(md.contains("## Quality"));
    assert!(md.contains("judge 4/5 — covers retrieval"));
    assert!(md.contains("(quality_p95.svg)"));
    assert!(dir.path().join("out/quality_p95.svg").exists());
    let html = std::fs::read_to_string(dir.path().join("out/report.html")).unwrap();
    assert!(html.contains("<h2>Recommendation</h2>") && html.contains("Pareto front"));
    let results_json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/results.json")).unwrap(),
    )
    .unwrap();
    validate(&results_json);
    assert_eq!(
        results_json["manifest"]["quality"]["judge"],
        "judge-model (in-process)"
    );
    // The judge's reason is in the per-request record of the scored output.
    let jsonl = std::fs::read_to_string(dir.path().join("out/requests.jsonl")).unwrap();
    let scored: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("quality").is_some())
        .collect();
    assert_eq!(
        scored.len(),
        4,
        "one scored record per model and case with checks"
    );
    assert!(jsonl.contains("\"reason\":\"covers retrieval\""));

    // Annotate, fill in, report: the human scores appear.
    let run_dir = dir.path().join("out");
    let run = RunDir::load(&run_dir).unwrap();
    let (csv_path, rows, kept) = run.annotate().unwrap();
    assert_eq!((rows, kept), (6, 0), "2 models × 3 cases");
    let mut rows =
        ingot_bench::annotate::read(&std::fs::read_to_string(&csv_path).unwrap()).unwrap();
    assert!(rows.iter().all(|r| r.score.is_none()));
    assert_eq!(rows[0].output.trim(), GOOD);
    for r in rows.iter_mut() {
        r.score = Some(match (r.model.as_str(), r.case.as_str()) {
            ("good-model", "rag") => 5.0,
            ("good-model", _) => 4.0,
            (_, "free") => 1.0,
            _ => 2.0,
        });
    }
    std::fs::write(&csv_path, ingot_bench::annotate::to_csv(&rows)).unwrap();
    let mut run = RunDir::load(&run_dir).unwrap();
    let jsonl_before = std::fs::read(run_dir.join("requests.jsonl")).unwrap();
    assert_eq!(run.report(None).unwrap(), 6);
    // The raw records are written back byte for byte (floats round-trip exactly).
    assert_eq!(
        std::fs::read(run_dir.join("requests.jsonl")).unwrap(),
        jsonl_before
    );
    let good_h = run.results.models[0]
        .quality
        .as_ref()
        .unwrap()
        .human
        .clone()
        .unwrap();
    assert_eq!(good_h.n, 3);
    assert!((good_h.mean.unwrap() - 13.0 / 3.0).abs() < 1e-9);
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(md.contains("4.33 (n=3)"), "{md}");
    assert!(md.contains("(human 5)"));
    let csv = std::fs::read_to_string(run_dir.join("results.csv")).unwrap();
    assert!(csv.contains("good-model,,human_score,mean,4.33"));
    // The automatic scores did not move, and nothing was generated again.
    assert_eq!(case(&run.results, "good-model", "rag").score, rag.score);
    assert_eq!(run.records.len(), out.records.len());
    // Annotating again keeps the scores given.
    assert_eq!(run.annotate().unwrap().2, 6);
    // Asking another question re-renders the recommendation.
    run.report(Some(SelectSpec {
        constraints: parse_constraints("quality<=3.5").unwrap(),
        goal: Some(Goal::maximize("human").unwrap()),
    }))
    .unwrap();
    let sel = run.results.selection.as_ref().unwrap();
    assert_eq!(sel.recommended.as_deref(), Some("bad-model"));
    assert_eq!(sel.candidates[0].violations[0].constraint, "quality<=3.5");
    assert!((sel.candidates[0].violations[0].excess.unwrap() - 0.25).abs() < 1e-9);

    // Rescore with new checks, no judge: the judge verdict on the same rubric is reused.
    let new = parse_prompts(
        r#"[{"id": "rag", "prompt": "ignored: the saved outputs answered the old text", "checks": [
            {"icontains": ["documents", "context"]},
            {"type": "judge", "rubric": "Explains retrieval and grounding.", "weight": 2}
        ]}]"#,
    )
    .unwrap();
    let mut run = RunDir::load(&run_dir).unwrap();
    run.rescore(new, "new.json", None, None, &|_, _| {})
        .unwrap();
    let rag = case(&run.results, "good-model", "rag");
    // (1 + 0.75 × 2)/3
    assert!((rag.score.unwrap() - 2.5 / 3.0).abs() < 1e-9, "{rag:#?}");
    assert!(!rag.checks[1].skipped);
    assert_eq!(rag.human, Some(5.0), "annotations merged again");
    let bad = case(&run.results, "bad-model", "rag");
    assert!((bad.score.unwrap() - 1.5 / 3.0).abs() < 1e-9);
    assert_eq!(
        run.results.manifest.quality.as_ref().unwrap().checks_source,
        "new.json"
    );
    // The new checks are saved with the run; the messages sent are kept.
    let saved =
        parse_prompts(&std::fs::read_to_string(run_dir.join("prompts.json")).unwrap()).unwrap();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].messages[0].content, "Explain RAG in one sentence.");
    validate(&serde_json::to_value(&run.results).unwrap());
}

/// A scripted judge endpoint: rejects `response_format` (HTTP 400) and answers every other
/// request with `content`. Counts the requests.
fn fake_judge(content: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let h = h.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                h.fetch_add(1, Ordering::SeqCst);
                let body = String::from_utf8_lossy(&body);
                let (status, payload) = if body.contains("response_format") {
                    (
                        "400 Bad Request",
                        r#"{"error": {"message": "response_format unsupported"}}"#.to_string(),
                    )
                } else {
                    (
                        "200 OK",
                        serde_json::json!({"choices": [{"message": {"role": "assistant", "content": content}}]})
                            .to_string(),
                    )
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
                    payload.len()
                );
            });
        }
    });
    (url, hits)
}

#[test]
fn a_judge_answering_malformed_json_is_a_judge_error_never_a_pass() {
    let (url, hits) = fake_judge(r#"{"verdict": great answer, "sc"#);
    let dir = tempfile::tempdir().unwrap();
    let mut judge = JudgeSpec::new(JudgeTarget::Endpoint {
        url,
        model: "scripted".into(),
        api_key: None,
    });
    judge.samples = 3;
    let cfg = config(dir.path(), Some(judge));
    // Even a threshold of 0 must not let a judge error pass.
    let mut prompts = cfg.prompts().to_vec();
    prompts[0].threshold = Some(0.0);
    let cfg = cfg.into_builder().prompts(prompts).build().unwrap();
    let out = ingot_bench::run::run(&cfg, &Files(dir.path().into()), Arc::new(Engines)).unwrap();
    let r = &out.results;
    for model in ["good-model", "bad-model"] {
        let rag = case(r, model, "rag");
        assert!(rag.judge_error, "{rag:#?}");
        assert!(!rag.passed, "{model}: a judge error passed");
        let v = rag.checks[2].judge.as_ref().unwrap();
        assert_eq!(v.score, None);
        assert_eq!(v.samples.len(), 3);
        assert!(v.error.as_deref().unwrap().contains("no score"), "{v:#?}");
        assert_eq!(rag.checks[2].score, Some(0.0));
        let q = r
            .models
            .iter()
            .find(|m| m.alias == model)
            .unwrap()
            .quality
            .clone()
            .unwrap();
        assert_eq!(q.judge_errors, 1);
    }
    // 1 rejected json-mode call, then 3 samples × 2 models without it.
    assert_eq!(hits.load(Ordering::SeqCst), 1 + 6);
    let md = std::fs::read_to_string(dir.path().join("out/report.md")).unwrap();
    assert!(md.contains("judge error"), "{md}");
    assert!(md.contains("case(s) with a judge error (scored 0, never passed)"));
    validate(&serde_json::to_value(r).unwrap());

    // A valid verdict through the same endpoint code path scores normally.
    let (url, _) = fake_judge(r#"Here you go: {"score": "5", "reason": "perfect"}"#);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        Some(JudgeSpec::new(JudgeTarget::Endpoint {
            url,
            model: "scripted".into(),
            api_key: None,
        })),
    );
    let out = ingot_bench::run::run(&cfg, &Files(dir.path().into()), Arc::new(Engines)).unwrap();
    let rag = case(&out.results, "good-model", "rag");
    assert!(!rag.judge_error);
    assert_eq!(rag.score, Some(1.0));
    assert_eq!(
        rag.checks[2].judge.as_ref().unwrap().reason.as_deref(),
        Some("perfect")
    );
}

#[test]
fn an_unreachable_judge_yields_judge_errors_and_no_judge_skips() {
    let dir = tempfile::tempdir().unwrap();
    // Port 9 on loopback: nothing listens.
    let cfg = config(
        dir.path(),
        Some(JudgeSpec::new(JudgeTarget::Endpoint {
            url: "http://127.0.0.1:9".into(),
            model: "nobody".into(),
            api_key: None,
        })),
    );
    let out = ingot_bench::run::run(&cfg, &Files(dir.path().into()), Arc::new(Engines)).unwrap();
    let rag = case(&out.results, "good-model", "rag");
    assert!(rag.judge_error && !rag.passed);

    // Without a judge, judge checks are skipped (reported, left out of the score).
    let dir = tempfile::tempdir().unwrap();
    let out = ingot_bench::run::run(
        &config(dir.path(), None),
        &Files(dir.path().into()),
        Arc::new(Engines),
    )
    .unwrap();
    let rag = case(&out.results, "good-model", "rag");
    assert!(!rag.judge_error);
    assert!(rag.checks[2].skipped);
    assert_eq!(rag.score, Some(1.0));
    let q = out.results.models[0].quality.as_ref().unwrap();
    assert_eq!(q.skipped_checks, 1);
    let md = std::fs::read_to_string(dir.path().join("out/report.md")).unwrap();
    assert!(
        md.contains("judge: none (1 judge check(s) per model skipped)"),
        "{md}"
    );
}
