//! Issue 7: bring your own model — `ingot model add` (a GGUF from a path, in place or
//! copied; files downloaded later; remote adapters), `ingot model rm`, chat-template
//! overrides, and extra catalogs (`--catalog`, `INGOT_CATALOG`: files and URLs). End to end
//! through the binary, each test in its own INGOT_HOME, with the real SmolLM2 and Gemma 3
//! models where a model has to answer.

use ingot_testkit as model_file;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::Duration;

use predicates::prelude::*;
use serde_json::{json, Value};

mod common;
use common::*;

const SMOL_SHA: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
const GEMMA_TEMPLATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/gemma3-chat-template.jinja"
);

/// Models in the built-in catalog (issue 15 added all-minilm-l6-v2).
const BUILTIN: usize = 7;

fn list(home: &Path) -> Vec<Value> {
    json_of(stdout_of(ingot(home).args(["model", "list", "--json"])))
        .as_array()
        .unwrap()
        .clone()
}

fn find<'a>(models: &'a [Value], alias: &str) -> Option<&'a Value> {
    models.iter().find(|m| m["alias"] == alias)
}

/// A hand-made GGUF with one F32 tensor of 8 elements and architecture `arch`.
fn tiny_gguf(arch: &str) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&1u64.to_le_bytes()); // tensors
    b.extend_from_slice(&2u64.to_le_bytes()); // metadata
    let s = |b: &mut Vec<u8>, s: &str| {
        b.extend_from_slice(&(s.len() as u64).to_le_bytes());
        b.extend_from_slice(s.as_bytes());
    };
    s(&mut b, "general.architecture");
    b.extend_from_slice(&8u32.to_le_bytes());
    s(&mut b, arch);
    s(&mut b, &format!("{arch}.context_length"));
    b.extend_from_slice(&4u32.to_le_bytes());
    b.extend_from_slice(&512u32.to_le_bytes());
    s(&mut b, "w");
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&8u64.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    while !b.len().is_multiple_of(32) {
        b.push(0);
    }
    b.extend_from_slice(&[0u8; 32]);
    b
}

/// Nothing was registered: no user catalog file, only the built-in models.
fn assert_nothing_registered(home: &Path) {
    assert!(
        !home.join("catalog.toml").exists(),
        "{}",
        std::fs::read_to_string(home.join("catalog.toml")).unwrap_or_default()
    );
    assert_eq!(list(home).len(), BUILTIN);
}

/// A foreground `ingot serve` on a free port, killed on drop.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(home: &Path) -> Server {
        let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("ingot"))
            .args([
                "serve",
                "--port",
                "0",
                "--threads",
                "2",
                "--ctx-size",
                "2048",
            ])
            .env("INGOT_HOME", home)
            .env_remove("INGOT_CATALOG")
            .env_remove("INGOT_LOG")
            .env_remove("INGOT_HOST")
            .env_remove("INGOT_PORT")
            .env_remove("INGOT_API_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let start = line
            .find("http://")
            .unwrap_or_else(|| panic!("no URL in {line:?}"));
        let url = line[start..].split_whitespace().next().unwrap();
        Server {
            child,
            base: url.trim_end_matches("/v1").to_string(),
        }
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        runtime().block_on(async move {
            let r = reqwest::Client::new()
                .post(url)
                .json(&body)
                .timeout(Duration::from_secs(600))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        })
    }

    fn get(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.base);
        runtime().block_on(async move { reqwest::get(url).await.unwrap().json().await.unwrap() })
    }

    /// A greedy chat request; returns the HTTP status and the answer (or the error body).
    fn chat(&self, model: &str, prompt: &str) -> (u16, String) {
        let (status, v) = self.post(
            "/v1/chat/completions",
            json!({
                "model": model,
                "messages": [{"role": "user", "content": prompt}],
                "temperature": 0,
                "max_tokens": 24,
            }),
        );
        let text = match v["choices"][0]["message"]["content"].as_str() {
            Some(t) => t.to_string(),
            None => v.to_string(),
        };
        (status, text)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn add_smollm2(home: &Path, alias: &str) -> Value {
    let path = model_file::model_path();
    json_of(stdout_of(ingot(home).args([
        "model",
        "add",
        path.to_str().unwrap(),
        "--alias",
        alias,
        "--json",
    ])))
}

#[test]
fn issue7_add_a_gguf_from_a_path_then_list_info_run_and_rm() {
    let home = tempfile::tempdir().unwrap();
    // Registered by its absolute, resolved path.
    let file = std::fs::canonicalize(model_file::model_path()).unwrap();
    let v = add_smollm2(home.path(), "my-smol");
    // Everything comes from the file's own header and bytes.
    assert_eq!(v["alias"], "my-smol");
    assert_eq!(v["architecture"], "llama");
    assert_eq!(v["parameters"], 134_515_008u64);
    assert_eq!(v["quantization"], "Q4_1");
    assert_eq!(v["context_length"], 8192);
    assert_eq!(v["size"], 98_362_432u64);
    assert_eq!(v["sha256"], SMOL_SHA);
    assert_eq!(v["chat_template"], true);
    assert_eq!(v["capabilities"], json!(["chat", "completion"]));
    assert_eq!(v["sources"], json!([{"kind": "local", "path": file}]));
    assert_eq!(v["path"], json!(file), "used in place");
    assert!(v.get("chat_template_override").is_none(), "{v}");

    let models = list(home.path());
    assert_eq!(models.len(), BUILTIN + 1);
    let m = find(&models, "my-smol").unwrap();
    assert_eq!(m["cached"], true);
    assert_eq!(m["path"], json!(file));
    let table = stdout_of(ingot(home.path()).args(["model", "list"]));
    assert!(
        table
            .lines()
            .any(|l| l.contains("my-smol") && l.contains("in place")),
        "{table}"
    );
    let info = stdout_of(ingot(home.path()).args(["model", "info", "my-smol"]));
    assert!(
        info.contains("used in place") && info.contains("catalog.toml"),
        "{info}"
    );
    // In place: nothing went into the cache.
    let cached = json_of(stdout_of(
        ingot(home.path()).args(["cache", "list", "--json"]),
    ));
    assert_eq!(cached, json!([]));

    let out = stdout_of(ingot(home.path()).args([
        "model",
        "run",
        "my-smol",
        "--prompt",
        "What is the capital of France?",
        "--temperature",
        "0",
        "--max-tokens",
        "16",
        "--threads",
        "2",
        "--ctx-size",
        "1024",
    ]));
    assert!(!out.trim().is_empty(), "empty answer");

    // The alias is taken now, and so are the built-in ones.
    let err = failure_of(ingot(home.path()).args([
        "model",
        "add",
        file.to_str().unwrap(),
        "--alias",
        "my-smol",
    ]));
    assert!(err.contains("'my-smol' already exists"), "{err}");
    let err = failure_of(ingot(home.path()).args([
        "model",
        "add",
        file.to_str().unwrap(),
        "--alias",
        "smollm2-135m",
    ]));
    assert!(
        err.contains("already exists (defined in built-in catalog)"),
        "{err}"
    );

    let out = stdout_of(ingot(home.path()).args(["model", "rm", "my-smol"]));
    assert!(out.contains("left as it is"), "{out}");
    assert!(file.exists(), "a file used in place is never deleted");
    assert!(find(&list(home.path()), "my-smol").is_none());
    let err = failure_of(ingot(home.path()).args(["model", "rm", "my-smol"]));
    assert!(err.contains("unknown model 'my-smol'"), "{err}");

    // Built-in entries stay.
    let err = failure_of(ingot(home.path()).args(["model", "rm", "gemma3-270m"]));
    assert!(
        err.contains("built-in catalog and cannot be removed") && err.contains("not in the cache"),
        "{err}"
    );
}

#[test]
fn issue7_an_added_model_is_served_and_answers_chat() {
    let home = tempfile::tempdir().unwrap();
    add_smollm2(home.path(), "my-smol");
    let server = Server::start(home.path());
    let models = server.get("/v1/models");
    assert!(
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "my-smol"),
        "{models}"
    );
    let (status, answer) = server.chat("my-smol", "What is the capital of France?");
    assert_eq!(status, 200, "{answer}");
    assert!(!answer.trim().is_empty());
}

/// gemma3-270m's file (downloaded once through its catalog entry into a home kept across
/// test runs, like the SmolLM2 test file).
fn gemma3_file() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(".cache/ingot-test-models/gemma3-home");
    ingot(&home)
        .args(["model", "download", "gemma3-270m"])
        .timeout(Duration::from_secs(1800))
        .assert()
        .success();
    let cached = json_of(stdout_of(ingot(&home).args(["cache", "list", "--json"])));
    let path = cached
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["alias"] == "gemma3-270m")
        .unwrap()["path"]
        .as_str()
        .unwrap()
        .to_string();
    PathBuf::from(path)
}

#[test]
fn issue7_gemma3_base_model_with_a_template_override_answers_chat() {
    let file = gemma3_file();
    let home = tempfile::tempdir().unwrap();
    let file_arg = file.to_str().unwrap();

    // A base model: no template of its own, so chat cannot be claimed without one.
    let err = failure_of(ingot(home.path()).args([
        "model",
        "add",
        file_arg,
        "--alias",
        "gemma-chat",
        "--capabilities",
        "chat",
    ]));
    assert!(err.contains("needs a chat template"), "{err}");
    assert_nothing_registered(home.path());

    let v = json_of(stdout_of(ingot(home.path()).args([
        "model",
        "add",
        file_arg,
        "--alias",
        "gemma-chat",
        "--chat-template",
        GEMMA_TEMPLATE,
        "--license",
        "gemma",
        "--json",
    ])));
    assert_eq!(v["architecture"], "gemma3");
    assert_eq!(v["quantization"], "Q4_K_M");
    assert_eq!(v["context_length"], 32768);
    assert_eq!(v["chat_template"], false, "the GGUF has none");
    assert_eq!(v["capabilities"], json!(["chat", "completion"]));
    assert_eq!(v["license"], "gemma");
    let template = std::fs::read_to_string(GEMMA_TEMPLATE).unwrap();
    assert_eq!(v["chat_template_override"], json!(template));
    // The same file without a template: completion only.
    let v = json_of(stdout_of(ingot(home.path()).args([
        "model",
        "add",
        file_arg,
        "--alias",
        "gemma-base",
        "--json",
    ])));
    assert_eq!(v["capabilities"], json!(["completion"]));

    let server = Server::start(home.path());
    let (status, answer) = server.chat("gemma-chat", "Name a colour of the sky.");
    assert_eq!(status, 200, "{answer}");
    assert!(!answer.trim().is_empty(), "empty answer");
    // Without the override the same file cannot chat: the template is what made it work.
    let (status, body) = server.chat("gemma-base", "Name a colour of the sky.");
    assert_ne!(status, 200, "{body}");
    drop(server);

    // `model run` uses the override too.
    let out = stdout_of(ingot(home.path()).args([
        "model",
        "run",
        "gemma-chat",
        "--prompt",
        "Say hello.",
        "--temperature",
        "0",
        "--max-tokens",
        "12",
        "--threads",
        "2",
        "--ctx-size",
        "1024",
    ]));
    assert!(!out.trim().is_empty(), "empty answer");
}

#[test]
fn issue7_bad_input_is_rejected_and_nothing_is_registered() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let add = |path: &Path, extra: &[&str]| {
        let mut cmd = ingot(home.path());
        cmd.args(["model", "add"])
            .arg(path)
            .args(["--alias", "bad"])
            .args(extra);
        cmd
    };

    let html = dir.path().join("page.gguf");
    std::fs::write(&html, "<html>not a model</html>").unwrap();
    let err = failure_of(&mut add(&html, &[]));
    assert!(
        err.contains("is not a valid GGUF model file") && err.contains("bad magic"),
        "{err}"
    );

    // The first 2 MB of a real model: a header that promises more than the file holds.
    let mut head = vec![0u8; 2 << 20];
    std::fs::File::open(model_file::model_path())
        .unwrap()
        .read_exact(&mut head)
        .unwrap();
    let cut = dir.path().join("cut.gguf");
    std::fs::write(&cut, &head).unwrap();
    let err = failure_of(&mut add(&cut, &[]));
    assert!(err.contains("truncated"), "{err}");

    let odd = dir.path().join("odd.gguf");
    std::fs::write(&odd, tiny_gguf("frobnicator")).unwrap();
    let err = failure_of(&mut add(&odd, &[]));
    assert!(
        err.contains("architecture 'frobnicator' is not supported"),
        "{err}"
    );

    let err = failure_of(&mut add(&dir.path().join("missing.gguf"), &[]));
    assert!(
        err.contains("cannot read") && err.contains("missing.gguf"),
        "{err}"
    );
    let err = failure_of(&mut add(dir.path(), &[]));
    assert!(err.contains("not a regular file"), "{err}");

    let good = dir.path().join("good.gguf");
    std::fs::write(&good, tiny_gguf("llama")).unwrap();
    let err = failure_of(
        ingot(home.path())
            .args(["model", "add"])
            .arg(&good)
            .args(["--alias", "Bad Alias"]),
    );
    assert!(err.contains("invalid model alias"), "{err}");
    let err = failure_of(&mut add(&good, &["--chat-template", "/nonexistent.jinja"]));
    assert!(err.contains("cannot read chat template"), "{err}");
    let broken = dir.path().join("broken.jinja");
    std::fs::write(&broken, "{% for m in messages %}{{ m.content }").unwrap();
    let err = failure_of(&mut add(
        &good,
        &["--chat-template", broken.to_str().unwrap()],
    ));
    assert!(err.contains("does not compile"), "{err}");
    let err = failure_of(&mut add(&good, &["--capabilities", "embeddings"]));
    assert!(err.contains("unknown capability"), "{err}");
    let err = failure_of(&mut add(&good, &["--sha256", &"0".repeat(64)]));
    assert!(err.contains("not the expected"), "{err}");
    // Usage errors (exit 2): --url needs --sha256, and one model at a time.
    ingot(home.path())
        .args([
            "model",
            "add",
            "--url",
            "http://127.0.0.1:1/x.gguf",
            "--alias",
            "x",
        ])
        .assert()
        .code(2);
    ingot(home.path())
        .args(["model", "add", "--alias", "x"])
        .arg(&good)
        .args(["--hf", "o/r", "--file", "f.gguf"])
        .assert()
        .code(2);

    assert_nothing_registered(home.path());

    // And the good file goes in.
    let v = json_of(stdout_of(&mut add(&good, &["--json"])));
    assert_eq!(v["context_length"], 512);
    assert_eq!(v["capabilities"], json!(["completion"]));
    assert_eq!(list(home.path()).len(), BUILTIN + 1);
}

#[test]
fn issue7_add_copy_caches_the_file_and_rm_removes_the_copy() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny.gguf");
    let bytes = tiny_gguf("llama");
    std::fs::write(&file, &bytes).unwrap();
    let v = json_of(stdout_of(
        ingot(home.path()).args(["model", "add"]).arg(&file).args([
            "--alias",
            "tiny",
            "--copy",
            "--license",
            "MIT",
            "--json",
        ]),
    ));
    assert_eq!(v["sources"][0]["kind"], "file");
    let cached = json_of(stdout_of(
        ingot(home.path()).args(["cache", "list", "--json"]),
    ));
    assert_eq!(cached[0]["alias"], "tiny");
    assert_eq!(cached[0]["sha256"], v["sha256"]);
    let copy = PathBuf::from(cached[0]["path"].as_str().unwrap());
    assert!(copy.starts_with(home.path()));
    assert_eq!(std::fs::read(&copy).unwrap(), bytes);
    assert_eq!(v["path"], json!(copy));

    // The original can go: the entry uses the copy.
    std::fs::remove_file(&file).unwrap();
    let m = find(&list(home.path()), "tiny").unwrap().clone();
    assert_eq!(m["cached"], true);
    assert_eq!(m["license"], "MIT");

    let out = stdout_of(ingot(home.path()).args(["model", "rm", "tiny"]));
    assert!(out.contains("cached copy is gone"), "{out}");
    assert!(!copy.exists());
    let cached = json_of(stdout_of(
        ingot(home.path()).args(["cache", "list", "--json"]),
    ));
    assert_eq!(cached, json!([]));
    assert!(find(&list(home.path()), "tiny").is_none());
}

#[test]
fn issue7_entries_downloaded_later_and_remote_adapters() {
    let home = tempfile::tempdir().unwrap();
    let sha = "ab".repeat(32);
    let v = json_of(stdout_of(ingot(home.path()).args([
        "model",
        "add",
        "--hf",
        "someone/Model-GGUF",
        "--file",
        "model-Q4_K_M.gguf",
        "--alias",
        "later-hf",
        "--json",
    ])));
    assert_eq!(
        v["sources"],
        json!([{"kind": "hf", "repo": "someone/Model-GGUF", "revision": "main", "file": "model-Q4_K_M.gguf"}])
    );
    assert_eq!(v["quantization"], "Q4_K_M");
    assert_eq!(v["cached"], false);
    let v = json_of(stdout_of(ingot(home.path()).args([
        "model",
        "add",
        "--url",
        "http://127.0.0.1:1/x.gguf",
        "--sha256",
        &sha.to_uppercase(),
        "--alias",
        "later-url",
        "--capabilities",
        "completion",
        "--json",
    ])));
    assert_eq!(v["sha256"], sha, "normalised to lowercase");
    assert_eq!(v["capabilities"], json!(["completion"]));

    let err = failure_of(ingot(home.path()).args([
        "model",
        "add",
        "--hf",
        "not-a-repo",
        "--file",
        "x.gguf",
        "--alias",
        "bad-hf",
    ]));
    assert!(err.contains("owner/name"), "{err}");

    let v = json_of(stdout_of(ingot(home.path()).args([
        "model",
        "add",
        "--endpoint",
        "http://127.0.0.1:9/v1/",
        "--remote-model",
        "qwen2.5:0.5b",
        "--alias",
        "far-qwen",
        "--api-key-env",
        "FAR_KEY",
        "--json",
    ])));
    assert_eq!(
        v["remote"],
        json!({"endpoint": "http://127.0.0.1:9/v1", "model": "qwen2.5:0.5b", "api_key_env": "FAR_KEY"})
    );
    assert!(v.get("sources").is_none(), "{v}");
    let err = failure_of(ingot(home.path()).args([
        "model",
        "add",
        "--endpoint",
        "ftp://h/v1",
        "--remote-model",
        "m",
        "--alias",
        "bad-remote",
    ]));
    assert!(err.contains("not an http(s) URL"), "{err}");
    let err = failure_of(ingot(home.path()).args([
        "model",
        "add",
        "--endpoint",
        "http://h/v1",
        "--remote-model",
        "m",
        "--alias",
        "bad-remote",
        "--api-key-env",
        "NOT-A-VAR",
    ]));
    assert!(err.contains("environment variable"), "{err}");

    let table = stdout_of(ingot(home.path()).args(["model", "list"]));
    assert!(
        table
            .lines()
            .any(|l| l.contains("far-qwen") && l.contains("remote")),
        "{table}"
    );
    let info = stdout_of(ingot(home.path()).args(["model", "info", "far-qwen"]));
    assert!(
        info.contains("model 'qwen2.5:0.5b' at http://127.0.0.1:9/v1") && info.contains("$FAR_KEY"),
        "{info}"
    );
    let err = failure_of(ingot(home.path()).args(["model", "run", "far-qwen", "--prompt", "hi"]));
    assert!(err.contains("remote adapter"), "{err}");

    // The user catalog is plain TOML that the next command reads back.
    let text = std::fs::read_to_string(home.path().join("catalog.toml")).unwrap();
    assert!(
        text.contains("far-qwen") && text.contains("later-hf"),
        "{text}"
    );
    let aliases: Vec<String> = list(home.path())
        .iter()
        .map(|m| m["alias"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(aliases[BUILTIN..], ["later-hf", "later-url", "far-qwen"]);

    for alias in ["far-qwen", "later-hf", "later-url"] {
        stdout_of(ingot(home.path()).args(["model", "rm", alias]));
    }
    assert_eq!(list(home.path()).len(), BUILTIN);
}

const CATALOG_A: &str = r#"
[[models]]
alias = "extra-x"
name = "X from TOML"
family = "x"
architecture = "llama"
quantization = "Q4_0"
license = "MIT"
context_length = 512
capabilities = ["completion"]
chat_template = false

[[models.sources]]
kind = "hf"
repo = "o/x"
file = "x.gguf"

[[models]]
alias = "only-a"
name = "Only in A"
family = "x"
architecture = "llama"
quantization = "Q4_0"
license = "MIT"
context_length = 512
capabilities = ["completion"]
chat_template = false

[[models.sources]]
kind = "hf"
repo = "o/a"
file = "a.gguf"
"#;

const CATALOG_B: &str = r#"{"models": [{
    "alias": "extra-x", "name": "X from JSON", "family": "x", "architecture": "llama",
    "quantization": "Q8_0", "license": "MIT", "context_length": 1024,
    "capabilities": ["completion"], "chat_template": false,
    "sources": [{"kind": "hf", "repo": "o/x", "file": "x-q8.gguf"}]
}]}"#;

const CATALOG_URL: &str = r#"
[[models]]
alias = "from-url"
name = "From a URL"
family = "x"
architecture = "llama"
quantization = "F16"
license = "MIT"
context_length = 256
capabilities = ["completion"]
chat_template = false

[[models.sources]]
kind = "url"
url = "http://127.0.0.1:1/u.gguf"
"#;

/// An HTTP server on 127.0.0.1:0 answering every GET with `body`, for as long as the test
/// runs. Returns the base URL and a counter of requests served.
fn serve_catalog(body: &'static str) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (base, hits)
}

#[test]
fn issue7_extra_catalogs_merge_in_order_and_report_conflicts() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.json");
    std::fs::write(&a, CATALOG_A).unwrap();
    std::fs::write(&b, CATALOG_B).unwrap();

    // --catalog, TOML then JSON: the later one wins, and the conflict names both files.
    let out = ingot(home.path())
        .args(["model", "list", "--json", "--catalog"])
        .arg(&a)
        .arg("--catalog")
        .arg(&b)
        .assert()
        .success()
        .get_output()
        .clone();
    let models = json_of(String::from_utf8(out.stdout).unwrap())
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(models.len(), BUILTIN + 2);
    assert_eq!(find(&models, "extra-x").unwrap()["name"], "X from JSON");
    assert_eq!(find(&models, "only-a").unwrap()["name"], "Only in A");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let warning = stderr
        .lines()
        .find(|l| l.contains("catalog conflict"))
        .unwrap_or_else(|| panic!("no conflict reported: {stderr}"));
    assert!(
        warning.contains("'extra-x'")
            && warning.contains(&*a.to_string_lossy())
            && warning.contains(&*b.to_string_lossy()),
        "{warning}"
    );

    // The same catalog twice is no conflict.
    let list_env = format!("{}:{}", a.display(), a.display());
    ingot(home.path())
        .env("INGOT_CATALOG", &list_env)
        .args(["model", "list", "--json"])
        .assert()
        .success()
        .stderr(predicate::str::contains("conflict").not());

    // INGOT_CATALOG with a file and a URL (a port in it does not split the list).
    let (base, hits) = serve_catalog(CATALOG_URL);
    let url = format!("{base}/catalog.toml");
    let out = stdout_of(
        ingot(home.path())
            .env("INGOT_CATALOG", format!("{}:{url}", a.display()))
            .args(["model", "info", "from-url"]),
    );
    assert!(out.contains("From a URL") && out.contains(&url), "{out}");
    assert!(hits.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    // --catalog takes URLs too, and replaces INGOT_CATALOG.
    let models = json_of(stdout_of(
        ingot(home.path()).env("INGOT_CATALOG", &b).args([
            "model",
            "list",
            "--json",
            "--catalog",
            &url,
        ]),
    ));
    let models = models.as_array().unwrap();
    assert!(find(models, "from-url").is_some());
    assert!(
        find(models, "extra-x").is_none(),
        "INGOT_CATALOG was replaced"
    );

    // A catalog that cannot be read is an error that names it.
    let err = failure_of(
        ingot(home.path())
            .args(["model", "list", "--catalog"])
            .arg(dir.path().join("nope.toml")),
    );
    assert!(err.contains("nope.toml"), "{err}");
    let _ = std::io::stdout().flush();
}
