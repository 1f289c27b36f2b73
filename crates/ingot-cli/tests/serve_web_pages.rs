//! Issue 12 part 3, against the real `ingot serve` and smollm2-135m: the keyless server
//! refuses a foreign `Host` (DNS rebinding), pages of other sites and non-JSON bodies, and
//! answers an origin allowed with `--cors-origin` with CORS headers on a real stream.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

mod common;
use common::*;

/// One raw HTTP/1.1 request with exactly these header lines; returns (status, lowercased
/// head, body).
fn raw(addr: &str, request_line_and_headers: &str, body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        s,
        "{request_line_and_headers}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

#[test]
fn keyless_serve_refuses_foreign_hosts_pages_and_non_json_bodies() {
    let home = home_with_smollm2();
    let mut cmd = serve_command(home.path(), &[]);
    cmd.args(["--threads", "2", "--parallel", "1", "--ctx-size", "1024"])
        .args(["--cors-origin", "http://localhost:3000"]);
    let serve = Serve::spawn(cmd);
    let addr = serve.addr();
    let port = addr.rsplit(':').next().unwrap().to_string();

    // DNS rebinding: the page's own host name, resolved to 127.0.0.1.
    let (status, _, body) = raw(
        &addr,
        &format!("GET /v1/models HTTP/1.1\r\nHost: evil.example:{port}"),
        "",
    );
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("forbidden_host") && body.contains("evil.example"),
        "{body}"
    );

    // fetch(".../v1/models/smollm2-135m/download", {method: "POST", mode: "no-cors"}) from
    // another site.
    let (status, _, body) = raw(
        &addr,
        &format!("POST /v1/models/smollm2-135m/download HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: https://evil.example\r\nSec-Fetch-Site: cross-site\r\nContent-Type: text/plain;charset=UTF-8"),
        "",
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("forbidden_origin"), "{body}");

    // A text/plain body is refused even without an Origin.
    let chat = r#"{"model":"smollm2-135m","messages":[{"role":"user","content":"Hi"}],"max_tokens":4,"stream":true}"#;
    let (status, _, body) = raw(
        &addr,
        &format!("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/plain"),
        chat,
    );
    assert_eq!(status, 415, "{body}");

    // The allowed origin: a preflight, then a real stream from the model with CORS headers.
    let (status, head, body) = raw(
        &addr,
        &format!("OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: localhost:{port}\r\nOrigin: http://localhost:3000\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type"),
        "",
    );
    assert_eq!(status, 204, "{head}{body}");
    assert!(
        head.contains("access-control-allow-origin: http://localhost:3000"),
        "{head}"
    );
    let (status, head, body) = raw(
        &addr,
        &format!("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost:{port}\r\nOrigin: http://localhost:3000\r\nContent-Type: application/json"),
        chat,
    );
    assert_eq!(status, 200, "{head}{body}");
    assert!(
        head.contains("access-control-allow-origin: http://localhost:3000"),
        "{head}"
    );
    assert!(head.contains("text/event-stream"), "{head}");
    assert!(body.contains("data: [DONE]"), "{body}");

    // Still healthy, for ordinary clients.
    let (status, _, _) = raw(
        &addr,
        &format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}"),
        "",
    );
    assert_eq!(status, 200);
}
