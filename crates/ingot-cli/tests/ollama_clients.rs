//! Issue 16: the official Ollama clients against `ingot serve` and SmolLM2-135M: the Python
//! client (`tests/python/ollama_client.py`: list, show, pull, chat streamed and not, tools
//! with qwen2.5-coder-0.5b, generate, embed and embeddings, ps, bad names) and the JavaScript client
//! (`tests/js/ollama_client.cjs`: list, a streamed chat and embed).
//!
//! Needs python3 with `ollama`, and node with the `ollama` npm package on NODE_PATH (CI
//! installs both, see `.ci/run`); elsewhere each part is skipped with a message unless `CI`
//! is set.

use std::process::Command as StdCommand;

mod common;
use common::*;

fn available(cmd: &str, args: &[&str]) -> bool {
    StdCommand::new(cmd)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn skip_or_fail(what: &str, hint: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is required in CI ({hint})"
    );
    eprintln!("skipping the {what} part: {hint}");
}

#[test]
fn official_ollama_clients_work_against_ingot_serve() {
    let python = available("python3", &["-c", "import ollama"]);
    let node = available("node", &["-e", "require('ollama')"]);
    if !python {
        skip_or_fail("Ollama Python client", "pip install ollama");
    }
    if !node {
        skip_or_fail(
            "Ollama JavaScript client",
            "npm install ollama, put its node_modules on NODE_PATH",
        );
    }
    if !python && !node {
        return;
    }
    let home = home_with_smollm2();
    if python {
        // The tools part needs a model that calls tools when asked (Ollama cannot force one).
        ingot(home.path())
            .args(["model", "download", "qwen2.5-coder-0.5b"])
            .assert()
            .success();
    }
    let mut cmd = serve_command(home.path(), &[]);
    cmd.args(["--parallel", "2"]);
    let mut serve = Serve::spawn(cmd);
    if python {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/ollama_client.py");
        let out = StdCommand::new("python3")
            .arg(script)
            .arg(&serve.base)
            .arg("qwen2.5-coder-0.5b")
            .env_remove("OLLAMA_API_KEY")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("OK"),
            "python stdout:\n{stdout}\nstderr:\n{stderr}"
        );
    }
    if node {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js/ollama_client.cjs");
        let out = StdCommand::new("node")
            .arg(script)
            .arg(&serve.base)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("OK"),
            "node stdout:\n{stdout}\nstderr:\n{stderr}"
        );
    }
    // The gateway gauges on the real engine: a long generation holds KV cells while it runs,
    // and none once it is done.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let metric = |text: &str, name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("{name} missing in:\n{text}"))
        };
        let body = serde_json::json!({"model": "smollm2-135m", "prompt": "Tell a long story about a dragon.", "stream": false, "options": {"num_predict": 400, "temperature": 0}});
        let req = client.post(format!("{}/api/generate", serve.base)).json(&body).send();
        let poll = async {
            for _ in 0..400 {
                let text = client.get(format!("{}/metrics", serve.base)).send().await.unwrap().text().await.unwrap();
                if metric(&text, "ingot:kv_cache_usage_perc") > 0.0 {
                    assert_eq!(metric(&text, "ingot:num_requests_running"), 1.0, "{text}");
                    assert!(text.contains("ingot:model_loaded{model_name=\"smollm2-135m\"} 1"), "{text}");
                    return true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            false
        };
        let (resp, seen) = tokio::join!(req, poll);
        assert_eq!(resp.unwrap().status(), 200);
        assert!(seen, "kv_cache_usage_perc never rose above 0 during a generation");
        let text = client.get(format!("{}/metrics", serve.base)).send().await.unwrap().text().await.unwrap();
        assert_eq!(metric(&text, "ingot:kv_cache_usage_perc"), 0.0, "{text}");
        assert_eq!(metric(&text, "ingot:num_requests_running"), 0.0, "{text}");
    });
    serve.sigterm();
    let (status, _, stderr) = serve.wait_exit(std::time::Duration::from_secs(30));
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
