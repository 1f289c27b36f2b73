//! Issue 17: `ingot bench` reads the workshop script's environment (FOUNDRY_LOCAL_ENDPOINT,
//! BENCH_MODELS, BENCH_STREAM) as defaults; flags win. Against the harness's mock server.

use std::time::Duration;

use ingot_bench::mock::{MockServer, MockServerConfig};
use serde_json::Value;

mod common;
use common::*;

fn mock() -> MockServer {
    MockServer::start(
        MockServerConfig {
            ttft: Duration::from_millis(2),
            itl: Duration::from_millis(1),
            tokens: 4,
            ..MockServerConfig::default()
        },
        1,
    )
    .unwrap()
}

const QUICK: [&str; 7] = [
    "--rounds",
    "1",
    "--warmup",
    "0",
    "--no-calibrate",
    "--json",
    "--out",
];

#[test]
fn environment_gives_endpoint_models_and_streaming() {
    let server = mock();
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let v: Value = json_of(&stdout_of(
        ingot(home.path())
            .env("FOUNDRY_LOCAL_ENDPOINT", format!("{}/v1", server.url()))
            .env("BENCH_MODELS", "mock-a,mock-b")
            .env("BENCH_STREAM", "0")
            .arg("bench")
            .args(QUICK)
            .arg(&out),
    ));
    assert_eq!(
        v["manifest"]["target"]["endpoint"],
        format!("{}/v1", server.url())
    );
    assert_eq!(v["manifest"]["target"]["connections"], "pooled");
    assert_eq!(v["manifest"]["sampling"]["stream"], false);
    let aliases: Vec<&str> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["alias"].as_str().unwrap())
        .collect();
    assert_eq!(aliases, ["mock-a", "mock-b"]);
    // Non-streamed: e2e only; TTFT is absent (null), never 0.
    let m = &v["models"][0]["scenarios"][0]["metrics"];
    assert_eq!(m["failed"], 0, "{m}");
    assert_eq!(m["ttft_ms"]["n"], 0);
    assert!(m["ttft_ms"]["p50"].is_null());
    assert!(m["e2e_ms"]["p50"].as_f64().unwrap() > 0.0);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("TTFT, ITL and decode tok/s are unavailable"),
        "{md}"
    );
}

#[test]
fn flags_win_over_the_environment() {
    let server = mock();
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let v: Value = json_of(&stdout_of(
        ingot(home.path())
            // An endpoint nobody listens on, a model list and no streaming: all overridden.
            .env("FOUNDRY_LOCAL_ENDPOINT", "http://127.0.0.1:9/v1")
            .env("BENCH_MODELS", "from-env")
            .env("BENCH_STREAM", "0")
            .args(["bench", "--endpoint", &server.url(), "--model", "mock"])
            .args(["--stream", "1", "--connections", "fresh"])
            .args(QUICK)
            .arg(&out),
    ));
    assert_eq!(v["manifest"]["target"]["endpoint"], server.url());
    assert_eq!(v["manifest"]["target"]["connections"], "fresh");
    assert_eq!(v["manifest"]["sampling"]["stream"], true);
    assert_eq!(v["models"].as_array().unwrap().len(), 1);
    assert_eq!(v["models"][0]["alias"], "mock");
    let m = &v["models"][0]["scenarios"][0]["metrics"];
    assert_eq!(m["failed"], 0, "{m}");
    assert!(m["ttft_ms"]["p50"].as_f64().unwrap() > 0.0);
    // --no-stream wins over BENCH_STREAM=1; a bad BENCH_STREAM is a usage error.
    let v: Value = json_of(&stdout_of(
        ingot(home.path())
            .env("BENCH_STREAM", "1")
            .args([
                "bench",
                "--endpoint",
                &server.url(),
                "--model",
                "mock",
                "--no-stream",
            ])
            .args(QUICK)
            .arg(home.path().join("out2")),
    ));
    assert_eq!(v["manifest"]["sampling"]["stream"], false);
    ingot(home.path())
        .env("BENCH_STREAM", "maybe")
        .args(["bench", "--endpoint", &server.url(), "--model", "mock"])
        .args(QUICK)
        .arg(home.path().join("out3"))
        .assert()
        .code(1)
        .stderr(predicates::str::contains("expected 0 or 1"));
}

#[test]
fn two_endpoints_compare_in_interleaved_rounds_and_compare_reads_the_run() {
    let a = mock();
    let b = mock();
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("ab");
    let o = stdout_of(
        ingot(home.path())
            .args(["bench", "--endpoint"])
            .arg(format!("ingot={}", a.url()))
            .arg("--endpoint")
            .arg(format!("llama={}", b.url()))
            .args(["--model", "mock", "--interleave", "--rounds", "3"])
            .args(["--requests", "4", "--concurrency", "2", "--pause", "10ms"])
            .args(["--warmup", "0", "--no-calibrate", "--quiet", "--out"])
            .arg(&out),
    );
    assert!(o.contains("A/B comparison against ingot"), "{o}");
    assert!(o.contains("ratio [95% CI]"), "{o}");
    let results = out.join("results.json");
    let c = stdout_of(ingot(home.path()).args(["bench", "compare"]).arg(&results));
    assert!(c.contains("A/B run: old = ingot (baseline)"), "{c}");
    assert!(c.contains("llama"), "{c}");
}
