//! Issue 16: ingot as a drop-in for Foundry Local. `ingot setup foundry-alias` makes a
//! `foundry` command; under that name ingot speaks Foundry Local's command line, and
//! Foundry Local's own Python SDK (`foundry-local-sdk` 0.5.1, `tests/python/foundry_sdk.py`)
//! starts the service through it, downloads, loads and chats, unchanged.
//!
//! The SDK test needs python3 with `foundry_local` and `openai` (CI installs them; elsewhere
//! it is skipped with a message unless `CI` is set).

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::Duration;

mod common;
use common::*;

/// A `foundry` link to the test binary in a fresh folder, made by `ingot setup`.
fn foundry_bin(home: &Path) -> (tempfile::TempDir, PathBuf) {
    let bin = tempfile::tempdir().unwrap();
    let out = stdout_of(ingot(home).args(["setup", "foundry-alias"]).arg(bin.path()));
    assert!(out.contains("created"), "{out}");
    let foundry = bin.path().join("foundry");
    assert!(foundry.exists());
    (bin, foundry)
}

/// `foundry ARGS` with the same clean environment as [`ingot`], a free port for the service.
fn foundry(path: &Path, home: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(path);
    cmd.env("INGOT_HOME", home)
        .env("INGOT_PORT", "0")
        .env_remove("INGOT_CATALOG")
        .env_remove("INGOT_LOG")
        .env_remove("INGOT_HOST")
        .env_remove("INGOT_API_KEY")
        .timeout(Duration::from_secs(900));
    cmd
}

/// Stops the home's service when the test ends, pass or fail.
struct StopService(PathBuf, PathBuf);

impl Drop for StopService {
    fn drop(&mut self) {
        let _ = foundry(&self.0, &self.1).args(["service", "stop"]).output();
    }
}

/// What foundry-local-sdk does with `foundry service status`: the first http URL.
fn sdk_url(out: &str) -> Option<String> {
    let start = out.find("http://")?;
    let rest = &out[start + 7..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == ':'))
        .unwrap_or(rest.len());
    Some(format!("http://{}", &rest[..end]))
}

#[test]
fn foundry_cli_speaks_foundry_locals_command_line() {
    let home = tempfile::tempdir().unwrap();
    let (_bin, f) = foundry_bin(home.path());
    let _stop = StopService(f.clone(), home.path().into());

    // Not running: no URL anywhere, or the SDK would take it for the service.
    let out = stdout_of(foundry(&f, home.path()).args(["service", "status"]));
    assert!(
        out.contains("not running") && !out.contains("http://"),
        "{out}"
    );

    let out = stdout_of(foundry(&f, home.path()).args(["model", "list"]));
    assert!(
        out.contains("smollm2-135m-generic-cpu:1") && out.contains("Model ID"),
        "{out}"
    );
    let out = stdout_of(foundry(&f, home.path()).args([
        "model",
        "info",
        "smollm2-135m-instruct-generic-cpu:4",
    ]));
    assert!(out.contains("Alias:              smollm2-135m"), "{out}");
    let out =
        stdout_of(foundry(&f, home.path()).args(["model", "info", "smollm2:135m", "--license"]));
    assert_eq!(out.trim(), "Apache-2.0");
    let out = stdout_of(foundry(&f, home.path()).args(["cache", "location"]));
    assert!(
        out.contains("Cache directory path: ") && out.contains(&*home.path().to_string_lossy()),
        "{out}"
    );
    let err = failure_of(foundry(&f, home.path()).args(["model", "info", "nope-generic-cpu:1"]));
    assert!(err.contains("nope-generic-cpu:1"), "{err}");

    let out = stdout_of(foundry(&f, home.path()).args(["service", "start"]));
    assert!(
        out.contains("Service is Started on http://127.0.0.1:"),
        "{out}"
    );
    let out = stdout_of(foundry(&f, home.path()).args(["service", "status"]));
    let url = sdk_url(&out).unwrap_or_else(|| panic!("no URL in {out}"));
    assert!(out.contains(&format!("{url}/openai/status")), "{out}");
    // The URL is the service's: its Foundry routes answer there.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status: serde_json::Value = rt.block_on(async {
        reqwest::get(format!("{url}/openai/status"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert!(status["modelDirPath"].is_string(), "{status}");
    // Starting again reports the running service.
    let again = stdout_of(foundry(&f, home.path()).args(["service", "start"]));
    assert!(again.contains(&url), "{again}");
    let out = stdout_of(foundry(&f, home.path()).args(["service", "ps"]));
    assert!(out.contains("No models are currently loaded"), "{out}");

    let out = stdout_of(foundry(&f, home.path()).args(["service", "stop"]));
    assert!(out.contains("stopped"), "{out}");
    let out = stdout_of(foundry(&f, home.path()).args(["service", "status"]));
    assert!(!out.contains("http://"), "{out}");
    // Unknown commands are usage errors, as with Foundry.
    foundry(&f, home.path())
        .args(["model", "frobnicate"])
        .assert()
        .code(2);
}

fn python_has(modules: &str) -> bool {
    StdCommand::new("python3")
        .args(["-c", &format!("import {modules}")])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn foundry_local_python_sdk_works_unchanged() {
    if !python_has("foundry_local, openai") {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with foundry-local-sdk and openai is required in CI"
        );
        eprintln!("skipping: pip install foundry-local-sdk==0.5.1 openai");
        return;
    }
    // A fresh home: the SDK's manager downloads the model itself (through the catalog's
    // pip source, from pip's cache after the first run).
    let home = tempfile::tempdir().unwrap();
    let (bin, f) = foundry_bin(home.path());
    let _stop = StopService(f.clone(), home.path().into());
    let path = std::env::join_paths(std::iter::once(bin.path().to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/foundry_sdk.py");
    let out = StdCommand::new("python3")
        .arg(script)
        .env("PATH", path)
        .env("INGOT_HOME", home.path())
        .env("INGOT_PORT", "0")
        .env_remove("INGOT_CATALOG")
        .env_remove("INGOT_HOST")
        .env_remove("INGOT_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let log = std::fs::read_to_string(home.path().join("service/ingot.log")).unwrap_or_default();
    assert!(
        out.status.success() && stdout.contains("OK"),
        "stdout:\n{stdout}\nstderr:\n{stderr}\nservice log:\n{log}"
    );
    // The model was fetched through Foundry's download route (the home started empty), and
    // the forced download went through it again.
    assert_eq!(
        stderr
            .matches("/openai/download \"HTTP/1.1 200 OK\"")
            .count(),
        2,
        "{stderr}"
    );
}
