//! Issue 17 on the real engine (SmolLM2-135M), not only the mock: an interleaved A/B run of
//! two endpoints (the ratio table with CIs, verdicts, round figures and samples side by side), a sweep (saturation and the latency-against-throughput charts), and a
//! workshop-style models.json in-process (its capabilities choose the mode, its size_mb is
//! checked) with the cost estimate. Kept small (8 output tokens, a few requests) so a debug build finishes quickly;
//! the figures themselves are for `scripts/bench-bar.sh` on a release build.

use std::time::Duration;

use serde_json::Value;

mod common;
use common::*;

/// Flags every run here shares: 8 output tokens, no warm-up or calibration, JSON out.
const SMALL_RUN: [&str; 6] = [
    "--max-tokens",
    "8",
    "--warmup",
    "0",
    "--no-calibrate",
    "--json",
];

fn bench_json(cmd: &mut assert_cmd::Command) -> Value {
    let out = cmd.timeout(Duration::from_secs(900)).output().unwrap();
    assert!(
        out.status.success(),
        "bench failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_of(&out.stdout)
}

#[test]
fn interleaved_ab_and_sweep_against_a_real_ingot_serve() {
    let home = home_with_smollm2();
    let mut cmd = serve_command(home.path(), &[]);
    cmd.args(["--threads", "2", "--parallel", "4"]);
    let serve = Serve::spawn(cmd);
    let dir = tempfile::tempdir().unwrap();

    // Two names for the one server: the comparison machinery runs end to end on real answers
    // (the verdict itself is noise here, so only its vocabulary is checked).
    let ab = dir.path().join("ab");
    let v = bench_json(
        ingot(home.path())
            .args(["bench", "--model", "smollm2-135m", "--interleave"])
            .args(["--endpoint", &format!("a={}", serve.base)])
            .args(["--endpoint", &format!("b={}", serve.base)])
            .args(["--rounds", "3", "--pause", "100ms", "--requests", "2"])
            .args(SMALL_RUN)
            .arg("--out")
            .arg(&ab),
    );
    let c = &v["comparison"];
    assert_eq!(c["baseline"], "a", "{c}");
    assert_eq!(c["rounds"], 3);
    // The order alternates: a first, then b first, then a first.
    assert_eq!(
        c["order"],
        serde_json::json!([["a", "b"], ["b", "a"], ["a", "b"]])
    );
    let figures = c["round_figures"].as_array().unwrap();
    assert_eq!(figures.len(), 6, "one figure set per target and round: {c}");
    assert!(
        figures
            .iter()
            .all(|f| f["failed"] == 0 && f["requests"] == 2),
        "{c}"
    );
    let ratios = c["ratios"].as_array().unwrap();
    let tok_s = ratios
        .iter()
        .find(|r| r["metric"] == "output_tok_s")
        .unwrap_or_else(|| panic!("no output_tok_s ratio: {c}"));
    assert_eq!(tok_s["target"], "b");
    let ratio = tok_s["ratio"].as_f64().unwrap();
    let (lo, hi) = (
        tok_s["ci"][0].as_f64().unwrap(),
        tok_s["ci"][1].as_f64().unwrap(),
    );
    assert!(lo <= ratio && ratio <= hi && lo > 0.0, "{tok_s}");
    assert_eq!(tok_s["per_round"].as_array().unwrap().len(), 3);
    assert!(
        ["better", "worse", "not_significant"].contains(&tok_s["verdict"].as_str().unwrap()),
        "{tok_s}"
    );
    for m in v["models"].as_array().unwrap() {
        assert_eq!(m["status"], "ok", "{m}");
    }
    let md = std::fs::read_to_string(ab.join("report.md")).unwrap();
    assert!(
        md.contains("| prompt | a | b |"),
        "samples side by side:\n{md}"
    );
    assert!(md.contains("ratio"), "{md}");
    // `bench compare` reads the A/B run alone.
    let out = stdout_of(
        ingot(home.path())
            .args(["bench", "compare"])
            .arg(ab.join("results.json")),
    );
    assert!(out.contains("output_tok_s") && out.contains('b'), "{out}");

    // A sweep: one at a time, then concurrency 4 (four slots decode together, so its request
    // rate is well above the sync one), then one rate between.
    let sweep = dir.path().join("sweep");
    let v = bench_json(
        ingot(home.path())
            .args([
                "bench",
                "--endpoint",
                &serve.base,
                "--model",
                "smollm2-135m",
            ])
            .args(["--sweep", "1", "--concurrency", "4", "--requests", "8"])
            .args(SMALL_RUN)
            .arg("--out")
            .arg(&sweep),
    );
    let m = &v["models"][0];
    assert_eq!(m["status"], "ok", "{m}");
    let points = m["sweep"]["points"].as_array().unwrap();
    let kinds: Vec<&str> = points.iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["sync", "throughput", "rate"], "{}", m["sweep"]);
    let sync = points[0]["achieved_req_s"].as_f64().unwrap();
    let max = points[1]["achieved_req_s"].as_f64().unwrap();
    let rate = points[2]["offered_rate"].as_f64().unwrap();
    assert!(sync > 0.0 && max > 0.0, "{m}");
    // The rate lies between the two closed-loop throughputs.
    assert!(rate > sync.min(max) && rate < sync.max(max) * 1.0001, "{m}");
    for s in m["scenarios"].as_array().unwrap() {
        assert_eq!(s["metrics"]["failed"], 0, "{s}");
    }
    let md = std::fs::read_to_string(sweep.join("report.md")).unwrap();
    assert!(md.contains("## Sweep: latency against throughput"), "{md}");
    let html = std::fs::read_to_string(sweep.join("report.html")).unwrap();
    assert!(
        html.contains("TTFT p50 against throughput"),
        "the sweep's chart is drawn"
    );
}

#[test]
fn models_json_chooses_the_mode_and_checks_the_size_on_the_real_engine() {
    let home = home_with_smollm2();
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models.json");
    // SmolLM2's file is 98.4 MB: 50 is more than 10 % off. Completion mode: raw text.
    std::fs::write(
        &models,
        r#"{"smollm2-135m": {"capabilities": ["completion"], "size_mb": 50}}"#,
    )
    .unwrap();
    let out = dir.path().join("run");
    let v = bench_json(
        ingot(home.path())
            .arg("bench")
            .arg("--models")
            .arg(&models)
            .args([
                "--rounds",
                "1",
                "--max-tokens",
                "4",
                "--warmup",
                "0",
                "--threads",
                "2",
            ])
            .args(["--no-calibrate", "--no-load-test", "--json"])
            .args(["--price-per-kwh", "0.30", "--hardware-cost", "1500"])
            .args(["--hardware-life", "3years", "--out"])
            .arg(&out),
    );
    let m = &v["models"][0];
    assert_eq!(m["alias"], "smollm2-135m");
    assert_eq!(m["status"], "ok", "{m}");
    assert_eq!(m["mode"], "completion", "{m}");
    // In-process, the CPU time is ingot's own: the cost estimate has both parts.
    let cost = &m["cost"];
    let part = |k: &str| cost[k].as_f64().unwrap_or_else(|| panic!("no {k}: {cost}"));
    let (energy, hardware, total) = (
        part("energy_per_1m"),
        part("hardware_per_1m"),
        part("total_per_1m"),
    );
    assert!(energy > 0.0 && hardware > 0.0, "{cost}");
    assert!(
        (total - (energy + hardware)).abs() <= 1e-9 * total.max(1.0),
        "{cost}"
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("per 1M output tokens"), "{md}");
    let warnings = v["manifest"]["warnings"].to_string();
    assert!(
        warnings.contains("size_mb") && warnings.contains("smollm2-135m"),
        "{warnings}"
    );
}
