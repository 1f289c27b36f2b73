//! Compatibility with the official OpenAI Python SDK (`tests/python/openai_client.py`).
//!
//! This one runs against the scripted test engine, so it can pin exact texts, token counts and
//! error paths (n above 128, context overflow, bad key, abandoned streams). The same SDK against the
//! real llama.cpp engine and SmolLM2-135M, through `ingot serve` itself, is
//! `crates/ingot-cli/tests/service.rs` (`tests/python/openai_smollm2.py` there).
//!
//! Needs `python3` with the `openai` package (CI installs it). Elsewhere the test is skipped
//! with a message, unless `CI` is set, where a missing SDK is a failure.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{eventually, start_with, test_config, Script};
use ingot_server::ServerConfig;

fn sdk_available() -> bool {
    Command::new("python3")
        .args(["-c", "import openai"])
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_openai_python_client() {
    if !sdk_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with the openai package is required in CI"
        );
        eprintln!("skipping: python3 -c 'import openai' failed (pip install openai)");
        return;
    }
    let config = ServerConfig {
        api_key: Some("test-key".into()),
        ..test_config()
    };
    let s = start_with(config, Script::default()).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/openai_client.py");
    let base = s.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(&base)
            .arg("test-key")
            .output()
            .expect("run python3")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("OK"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // The stream the SDK abandoned was cancelled, not left running.
    let client = reqwest::Client::new();
    let metrics_url = s.url("/metrics");
    let idle = eventually(Duration::from_secs(2), || async {
        let text = client
            .get(&metrics_url)
            .bearer_auth("test-key")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.contains("\ningot_requests_active 0\n")
            && text.contains("\ningot_sequences_active 0\n")
    })
    .await;
    assert!(idle);
}
