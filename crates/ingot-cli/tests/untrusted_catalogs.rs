//! Issue 12: a catalog loaded from a URL cannot reach secrets or run code unless it is
//! trusted by name (`--trust-catalog URL` / INGOT_TRUST_CATALOG): end to end through the
//! binary, with the catalog and a would-be remote endpoint served by fakes on port 0.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use predicates::prelude::*;
use serde_json::Value;

mod common;
use common::*;

/// Serves `body` to every request; returns the base URL and every request head it saw.
fn serve_forever(status: &'static str, body: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
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
            log.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&req).to_string());
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (base, seen)
}

/// The variable the hostile catalog names; only this test binary sets it.
const SECRET_VAR: &str = "INGOT_TEST_ISSUE12_SECRET";
const SECRET: &str = "s3cret-do-not-send";

/// A catalog whose `exfil` entry would send $SECRET_VAR to `endpoint`, next to a harmless
/// entry.
fn hostile_catalog(endpoint: &str) -> String {
    let common = r#""family": "x", "architecture": "llama", "quantization": "F16",
        "license": "MIT", "context_length": 512, "capabilities": ["chat"], "chat_template": true"#;
    format!(
        r#"{{"models": [
        {{"alias": "exfil", "name": "Exfil", {common},
          "remote": {{"endpoint": "{endpoint}", "model": "m", "api_key_env": "{SECRET_VAR}"}}}},
        {{"alias": "harmless", "name": "Harmless", {common},
          "sources": [{{"kind": "url", "url": "http://127.0.0.1:1/h.gguf"}}]}}
    ]}}"#
    )
}

#[test]
fn a_url_catalog_naming_an_api_key_variable_is_refused_unless_trusted() {
    let home = tempfile::tempdir().unwrap();
    let (catalog_base, _) = serve_forever("200 OK", hostile_catalog("http://127.0.0.1:1/v1"));
    let url = format!("{catalog_base}/catalog.json");

    // Asking for the alias is an error naming the catalog, the alias, the field and the fix.
    let err = failure_of(ingot(home.path()).env(SECRET_VAR, SECRET).args([
        "--catalog",
        &url,
        "model",
        "info",
        "exfil",
    ]));
    for part in [
        url.as_str(),
        "'exfil'",
        "remote.api_key_env",
        SECRET_VAR,
        "--trust-catalog",
    ] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }
    assert!(!err.contains(SECRET), "{err}");

    // Listing warns the same way and keeps the rest of the catalog.
    let out = ingot(home.path())
        .args(["--catalog", &url, "model", "list", "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let models = json_of(&out.stdout);
    let aliases: Vec<&str> = models
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["alias"].as_str())
        .collect();
    assert!(aliases.contains(&"harmless") && !aliases.contains(&"exfil"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("'exfil' refused") && stderr.contains(&url),
        "{stderr}"
    );

    // Trusted by name (flag or environment): accepted as written.
    let info = json_of(stdout_of(ingot(home.path()).args([
        "--catalog",
        &url,
        "--trust-catalog",
        &url,
        "model",
        "info",
        "exfil",
        "--json",
    ])));
    assert_eq!(info["remote"]["api_key_env"], SECRET_VAR, "{info}");
    ingot(home.path())
        .env("INGOT_CATALOG", &url)
        .env("INGOT_TRUST_CATALOG", &url)
        .args(["model", "info", "exfil"])
        .assert()
        .success()
        .stderr(predicate::str::contains("refused").not());
    // Trusting another URL does not trust this one.
    failure_of(ingot(home.path()).args([
        "--catalog",
        &url,
        "--trust-catalog",
        &format!("{catalog_base}/other.json"),
        "model",
        "info",
        "exfil",
    ]));
    // Files need no trust: the flag takes URLs only.
    ingot(home.path())
        .args(["--trust-catalog", "./mine.toml", "model", "list"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not an http(s) URL"));
}

/// The bar of issue 12, against `ingot serve`: a request for the refused alias fails, and the
/// endpoint the catalog chose never receives the secret (nor any request at all).
#[test]
fn serve_never_sends_a_secret_named_by_an_untrusted_catalog() {
    let home = tempfile::tempdir().unwrap();
    let (endpoint, upstream) = serve_forever(
        "200 OK",
        r#"{"id":"x","object":"chat.completion","choices":[]}"#.to_string(),
    );
    let (catalog_base, _) = serve_forever("200 OK", hostile_catalog(&format!("{endpoint}/v1")));
    let url = format!("{catalog_base}/catalog.json");
    let mut cmd = serve_command(home.path(), &["--catalog", &url]);
    cmd.env(SECRET_VAR, SECRET).args(["--threads", "2"]);
    let mut serve = Serve::spawn(cmd);

    let body = r#"{"model":"exfil","messages":[{"role":"user","content":"hi"}]}"#;
    let mut s = TcpStream::connect(serve.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        serve.addr(),
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    let status: u16 = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    assert!(status >= 400, "{answer}");
    let json_body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    let v: Value = serde_json::from_str(json_body).unwrap_or(Value::Null);
    let msg = v["error"]["message"].as_str().unwrap_or(json_body);
    assert!(msg.contains("--trust-catalog"), "{answer}");
    assert!(
        upstream.lock().unwrap().is_empty(),
        "the catalog's endpoint was contacted: {:?}",
        upstream.lock().unwrap()
    );

    serve.sigterm();
    let (status, _, stderr) = serve.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("'exfil' refused"), "{stderr}");
    assert!(!stderr.contains(SECRET), "{stderr}");
}
