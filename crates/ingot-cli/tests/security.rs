//! Issue 8, security: model ids can never reach outside the cache (catalog, cache, provider
//! and the real `ingot serve`), binds other than loopback need a key (IPv6 too), and the
//! server's log never holds the API key or prompt text.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ingot_server::ModelProvider;
use serde_json::{json, Value};

mod common;
use common::*;

/// `ingot [GLOBAL] serve --port 0 --threads 2 ARGS`, with `key` as INGOT_API_KEY.
fn start_serve(home: &Path, global: &[&str], args: &[&str], key: Option<&str>) -> Serve {
    let mut cmd = serve_command(home, global);
    cmd.args(["--threads", "2"]).args(args);
    if let Some(k) = key {
        cmd.env("INGOT_API_KEY", k);
    }
    Serve::spawn(cmd)
}

/// SIGTERM, wait for the exit, and return everything it wrote to stderr.
fn stop(serve: &mut Serve) -> String {
    serve.sigterm();
    let status = serve.child.wait().unwrap();
    assert!(status.success(), "{status}");
    serve.take_stderr()
}

/// One raw HTTP/1.1 request (the path exactly as given: no client normalises `..` away);
/// returns the status and the body.
fn raw_request(
    addr: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Percent-encodes what cannot appear raw in a request target, keeping `/` and `.` raw.
fn raw_path_segment(id: &str) -> String {
    let mut out = String::new();
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"/.-_~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(all_files(&p));
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

fn evil_ids(outer: &Path) -> Vec<String> {
    let escaped = outer.join("escaped.gguf").display().to_string();
    vec![
        "..".into(),
        ".".into(),
        "../x".into(),
        "../../../../etc/passwd".into(),
        "/etc/passwd".into(),
        escaped,
        "smollm2-135m/../../escaped".into(),
        "smollm2-135m/..".into(),
        "./smollm2-135m".into(),
        "smollm2-135m/".into(),
        "a\0b".into(),
        "smollm2-135m\0".into(),
        "\0".into(),
        "..\\..\\windows\\system32".into(),
        "C:\\escaped".into(),
        "%2e%2e%2fescaped".into(),
        "~/escaped".into(),
        "smollm2-135m ".into(),
        " smollm2-135m".into(),
        "-rf".into(),
        "\u{202e}mgg.135m".into(),
        "smollm2\u{2010}135m".into(),
        "x".repeat(5000),
        "manifests/smollm2-135m.json".into(),
        "../models/blobs".into(),
    ]
}

#[test]
fn issue8_model_ids_never_reach_outside_the_cache() {
    let outer = tempfile::tempdir().unwrap();
    let home = outer.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let ids = evil_ids(outer.path());

    // Catalog: none is an alias, none is even well-formed.
    let catalog = ingot_catalog::Catalog::load(&home).unwrap();
    for id in &ids {
        assert!(
            ingot_catalog::validate_alias(id).is_err(),
            "{id:?} validated"
        );
        assert!(catalog.get(id).is_err(), "{id:?} resolved in the catalog");
    }
    // Cache: every entry point that turns an alias into a path refuses them.
    let store = ingot_cache::Store::open(&home).unwrap();
    for id in &ids {
        let bad = |r: Result<(), ingot_cache::CacheError>| {
            matches!(r, Err(ingot_cache::CacheError::InvalidAlias(_)))
        };
        assert!(bad(store.lookup(id).map(|_| ())), "lookup {id:?}");
        assert!(bad(store.cached_path(id).map(|_| ())), "cached_path {id:?}");
        assert!(bad(store.rm(id).map(|_| ())), "rm {id:?}");
        assert!(
            ingot_cache::PartialKey::for_alias_source(id, "src").is_err(),
            "partial key {id:?}"
        );
    }
    // The server's provider: not found, nothing downloaded.
    let provider = ingot::CatalogModels::open(&home).unwrap();
    for id in &ids {
        assert_eq!(
            provider.resolve(id).unwrap_err(),
            ingot_server::ProviderError::NotFound(id.clone()),
            "{id:?}"
        );
    }

    // The real server, over HTTP: in the body's `model`, and raw in management paths.
    let before = all_files(outer.path());
    let mut serve = start_serve(&home, &[], &[], None);
    let addr = serve.addr();
    for id in &ids {
        for route in ["/v1/chat/completions", "/v1/completions"] {
            let body = json!({"model": id, "prompt": "x",
                              "messages": [{"role": "user", "content": "x"}]})
            .to_string();
            let (status, resp) = raw_request(&addr, "POST", route, None, &body);
            assert_eq!(status, 404, "{route} {id:?}: {resp}");
            let v: Value = serde_json::from_str(&resp).unwrap();
            assert_eq!(v["error"]["code"], "model_not_found", "{resp}");
        }
        let seg = raw_path_segment(id);
        for (method, path) in [
            ("GET", format!("/v1/models/{seg}")),
            ("POST", format!("/v1/models/{seg}/load")),
            ("POST", format!("/v1/models/{seg}/unload")),
            ("POST", format!("/v1/models/{seg}/download")),
        ] {
            let (status, resp) = raw_request(&addr, method, &path, None, "");
            assert!(
                status == 404 || status == 400,
                "{method} {path}: HTTP {status} {resp}"
            );
            assert!(resp.contains("\"error\""), "{method} {path}: {resp}");
        }
    }
    // A proper id in an improper path: the route needs an action after the id.
    let (status, _) = raw_request(
        &addr,
        "POST",
        "/v1/models/smollm2-135m/../../../etc",
        None,
        "",
    );
    assert_eq!(status, 404);
    let (status, resp) = raw_request(&addr, "GET", "/health", None, "");
    assert_eq!(status, 200, "{resp}");
    let stderr = stop(&mut serve);
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Nothing was written outside the home, and nothing in it is named after an id.
    let after = all_files(outer.path());
    let new: Vec<_> = after.iter().filter(|p| !before.contains(p)).collect();
    for p in &new {
        assert!(
            p.starts_with(&home),
            "written outside the home: {}",
            p.display()
        );
        let name = p.file_name().unwrap().to_string_lossy();
        assert!(
            !name.contains("passwd") && !name.contains("escaped") && !name.contains("windows"),
            "{}",
            p.display()
        );
    }
    assert!(!outer.path().join("escaped.gguf").exists());
    assert!(store.list().unwrap().is_empty(), "nothing was downloaded");
}

#[test]
fn issue8_loopback_by_default_and_any_public_bind_needs_a_key() {
    let home = tempfile::tempdir().unwrap();
    // Default host: loopback (the printed URL is the bound address).
    let mut serve = start_serve(home.path(), &[], &[], None);
    assert!(
        serve.base.starts_with("http://127.0.0.1:"),
        "{}",
        serve.base
    );
    stop(&mut serve);
    // Every spelling of "all interfaces" is refused without a key.
    for host in ["0.0.0.0", "::", "[::]"] {
        let out = ingot(home.path())
            .args(["serve", "--host", host, "--port", "0"])
            .timeout(Duration::from_secs(60))
            .assert()
            .failure()
            .get_output()
            .clone();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("API key"), "{host}: {err}");
    }
    // An empty key is no key.
    let out = ingot(home.path())
        .args(["serve", "--host", "0.0.0.0", "--port", "0"])
        .env("INGOT_API_KEY", "")
        .timeout(Duration::from_secs(60))
        .assert()
        .failure()
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&out.stderr).contains("API key"));
}

const KEY: &str = "sk-issue8-log-secret-0123456789";
const WRONG_KEY: &str = "sk-issue8-wrong-key-9876543210";
const MARKER: &str = "ISSUE8-PROMPT-MARKER";

/// Sends requests that reach every logging path we have: completions (streamed and not),
/// a context overflow, bad requests echoing input, wrong keys, disconnects.
fn exercise(serve: &Serve) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let base = serve.base.clone();
    rt.block_on(async move {
        let c = reqwest::Client::new();
        let chat = |content: String, stream: bool, max: u32| {
            json!({"model": "smollm2-135m", "stream": stream, "max_tokens": max, "temperature": 0,
                   "messages": [{"role": "system", "content": format!("{MARKER} system")},
                                {"role": "user", "content": content}]})
        };
        let post = |body: Value, key: &str| {
            c.post(format!("{base}/v1/chat/completions"))
                .bearer_auth(key)
                .json(&body)
                .send()
        };
        let r = post(chat(format!("{MARKER} say hi"), false, 8), KEY).await.unwrap();
        assert_eq!(r.status(), 200);
        let r = post(chat(format!("{MARKER} count"), true, 8), KEY).await.unwrap();
        assert_eq!(r.status(), 200);
        let _ = r.text().await;
        let r = c
            .post(format!("{base}/v1/completions"))
            .bearer_auth(KEY)
            .json(&json!({"model": "smollm2-135m", "prompt": format!("{MARKER} once upon"), "max_tokens": 4}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // Too long for the context: tokenized, then refused.
        let long = format!("{MARKER} ") + &"word ".repeat(3000);
        let r = post(chat(long, false, 8), KEY).await.unwrap();
        assert_eq!(r.status(), 400);
        // A bad request whose error message echoes the input.
        let mut bad = chat("x".into(), false, 8);
        bad["messages"][1]["role"] = json!(format!("{MARKER}-role"));
        assert_eq!(post(bad, KEY).await.unwrap().status(), 400);
        // Wrong and missing keys.
        let r = post(chat(format!("{MARKER} hi"), false, 8), WRONG_KEY).await.unwrap();
        assert_eq!(r.status(), 401);
        // A stream the client abandons.
        let mut r = post(chat(format!("{MARKER} a long story"), true, 200), KEY).await.unwrap();
        let _ = r.chunk().await;
        drop(r);
        tokio::time::sleep(Duration::from_millis(500)).await;
    });
}

#[test]
fn issue8_logs_never_hold_the_api_key_or_prompts() {
    let home = tempfile::tempdir().unwrap();
    ingot(home.path())
        .args(["model", "download", "smollm2-135m"])
        .timeout(Duration::from_secs(900))
        .assert()
        .success();
    // The default level, and -v (INFO), which logs a line per request.
    for (global, must_log) in [(&[][..], None), (&["-v"][..], Some("request done"))] {
        let mut serve = start_serve(
            home.path(),
            global,
            &["--parallel", "2", "--ctx-size", "4096"],
            Some(KEY),
        );
        exercise(&serve);
        let log = stop(&mut serve);
        if let Some(line) = must_log {
            assert!(
                log.contains(line),
                "{global:?}: the log is not verbose:\n{log}"
            );
        }
        for secret in [KEY, WRONG_KEY, MARKER, "say hi", "once upon"] {
            assert!(
                !log.contains(secret),
                "{global:?}: the log holds {secret:?}:\n{log}"
            );
        }
    }
}

/// Issue 12: a key given as `--api-key` is in the process's argv, which every local user can
/// read (`ps`, /proc): say so, and point at INGOT_API_KEY; never print the key itself.
#[test]
fn an_api_key_on_the_command_line_warns_that_ps_shows_it() {
    let home = tempfile::tempdir().unwrap();
    // `model ps` against a closed port: it fails (exit 1) after parsing, as any command would.
    let stderr = failure_of(ingot(home.path()).args([
        "model",
        "ps",
        "--endpoint",
        "http://127.0.0.1:1",
        "--api-key",
        "k-issue12",
    ]));
    let warning = stderr
        .lines()
        .find(|l| l.starts_with("warning: --api-key"))
        .unwrap_or_else(|| panic!("no warning: {stderr}"));
    assert!(
        warning.contains("ps") && warning.contains("INGOT_API_KEY"),
        "{warning}"
    );
    assert!(!stderr.contains("k-issue12"), "{stderr}");
    // The same key through the variable: no warning.
    let stderr = failure_of(ingot(home.path()).env("INGOT_API_KEY", "k-issue12").args([
        "model",
        "ps",
        "--endpoint",
        "http://127.0.0.1:1",
    ]));
    assert!(!stderr.contains("warning: --api-key"), "{stderr}");
}
