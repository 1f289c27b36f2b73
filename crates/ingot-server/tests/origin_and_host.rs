//! Issue 12 part 3: a keyless loopback server cannot be driven by a web page. Foreign
//! `Host`s (DNS rebinding), cross-site `Origin`/`Sec-Fetch-Site` and non-JSON bodies are
//! refused on every route; origins allowed with `cors_origins` get proper CORS answers.

mod common;

use std::time::Duration;

use common::*;
use ingot_server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends one raw HTTP/1.1 request (so that `Host` is exactly what the test says) and returns
/// (status, lowercased head, body).
async fn raw(addr: std::net::SocketAddr, head_lines: &str, body: &str) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{head_lines}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("answer within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn error_code(body: &str) -> String {
    // Bodies of Connection: close answers are not chunked; JSON starts at the first brace.
    let json = &body[body.find('{').unwrap_or(0)..];
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap_or_default();
    v["error"]["code"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_foreign_host_is_refused_by_the_keyless_server() {
    let s = start().await;
    let addr = s.handle.local_addr();
    let port = addr.port();
    for host in ["evil.example".to_string(), format!("evil.example:{port}")] {
        let (status, _, body) = raw(
            addr,
            &format!("GET /v1/models HTTP/1.1\r\nHost: {host}"),
            "",
        )
        .await;
        assert_eq!(status, 403, "Host {host}: {body}");
        assert_eq!(error_code(&body), "forbidden_host", "{body}");
        assert!(
            body.contains("evil.example"),
            "the message names the host: {body}"
        );
    }
    // A rebinding page's POSTs are refused before anything runs.
    let (status, _, body) = raw(
        addr,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/json",
        &chat_body("tiny").to_string(),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(s.stats.loads.load(std::sync::atomic::Ordering::SeqCst), 0);
    // The names the server is really known by pass, with or without the port.
    for host in [
        "localhost".to_string(),
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "[::1]".to_string(),
        format!("[::1]:{port}"),
    ] {
        let (status, _, body) = raw(
            addr,
            &format!("GET /v1/models HTTP/1.1\r\nHost: {host}"),
            "",
        )
        .await;
        assert_eq!(status, 200, "Host {host}: {body}");
    }
}

#[tokio::test]
async fn a_server_with_a_key_answers_any_host() {
    let s = start_with(
        ServerConfig {
            api_key: Some("k3y".into()),
            ..test_config()
        },
        Script::default(),
    )
    .await;
    let (status, _, body) = raw(
        s.handle.local_addr(),
        "GET /v1/models HTTP/1.1\r\nHost: my-box.lan:8080\r\nAuthorization: Bearer k3y",
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_no_cors_download_from_a_web_page_is_refused() {
    let s = start().await;
    let addr = s.handle.local_addr();
    // What `fetch("http://127.0.0.1:PORT/v1/models/tiny/download", {method: "POST",
    // mode: "no-cors"})` sends from a page on another site.
    let (status, _, body) = raw(
        addr,
        "POST /v1/models/tiny-chat/download HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://evil.example\r\nSec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: no-cors\r\nContent-Type: text/plain;charset=UTF-8",
        "",
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(error_code(&body), "forbidden_origin", "{body}");
    assert!(
        body.contains("--cors-origin"),
        "the message says how to allow a page: {body}"
    );
    // The same with a text/plain body from a browser that sends no Origin: the content type
    // alone is refused.
    let (status, _, body) = raw(
        addr,
        "POST /v1/models/tiny-chat/load HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain",
        "{\"ttl\": 5}",
    )
    .await;
    assert_eq!(status, 415, "{body}");
    assert_eq!(error_code(&body), "unsupported_media_type", "{body}");
    assert_eq!(s.stats.loads.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn cross_site_fetch_metadata_is_refused_and_same_origin_passes() {
    let s = start().await;
    let addr = s.handle.local_addr();
    let port = addr.port();
    for site in ["cross-site", "same-site"] {
        let (status, _, body) = raw(
            addr,
            &format!("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nSec-Fetch-Site: {site}"),
            "",
        )
        .await;
        assert_eq!(status, 403, "{site}: {body}");
    }
    for site in ["none", "same-origin"] {
        let (status, _, body) = raw(
            addr,
            &format!("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nSec-Fetch-Site: {site}"),
            "",
        )
        .await;
        assert_eq!(status, 200, "{site}: {body}");
    }
    // Another port of localhost is another origin.
    let (status, _, body) = raw(
        addr,
        &format!(
            "GET /v1/models HTTP/1.1\r\nHost: localhost:{port}\r\nOrigin: http://localhost:3000"
        ),
        "",
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // This server's own origin is fine.
    let (status, _, body) = raw(
        addr,
        &format!(
            "GET /v1/models HTTP/1.1\r\nHost: localhost:{port}\r\nOrigin: http://localhost:{port}"
        ),
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn routes_the_router_does_not_know_are_guarded_too() {
    // Routes added later (Ollama's /api/*, Foundry's) sit behind the same layer: a page is
    // refused before the router even looks for the route.
    let s = start().await;
    let (status, _, body) = raw(
        s.handle.local_addr(),
        "POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://evil.example\r\nContent-Type: application/json",
        "{}",
    )
    .await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn an_allowed_origin_gets_cors_preflights_and_headers_streams_included() {
    let s = start_with(
        ServerConfig {
            cors_origins: vec!["http://localhost:3000".into()],
            api_key: Some("k3y".into()),
            ..test_config()
        },
        Script::default(),
    )
    .await;
    let origin = "http://localhost:3000";
    // The preflight carries no key, and must not need one.
    let r = s
        .client
        .request(reqwest::Method::OPTIONS, s.url("/v1/chat/completions"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .header("access-control-request-private-network", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], origin);
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{methods}"
    );
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert_eq!(h["access-control-allow-private-network"], "true");
    assert!(h["vary"].to_str().unwrap().contains("Origin"));

    // The real request: a stream, with the CORS header on its response.
    let mut body = chat_body("tiny");
    body["stream"] = true.into();
    let r = s
        .client
        .post(s.url("/v1/chat/completions"))
        .header("origin", origin)
        .header("sec-fetch-site", "same-site")
        .bearer_auth("k3y")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], origin);
    assert!(r.headers()["vary"].to_str().unwrap().contains("Origin"));
    let text = r.text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    // Errors carry it too, so the page can read them.
    let r = s
        .client
        .get(s.url("/v1/models"))
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["access-control-allow-origin"], origin);

    // Another origin is still refused, preflight or not.
    for method in [reqwest::Method::OPTIONS, reqwest::Method::POST] {
        let r = s
            .client
            .request(method.clone(), s.url("/v1/chat/completions"))
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{method}");
        assert!(r.headers().get("access-control-allow-origin").is_none());
    }
}

#[tokio::test]
async fn json_bodies_need_the_json_content_type() {
    let s = start().await;
    let body = chat_body("tiny").to_string();
    for (ct, want) in [
        (Some("text/plain"), 415),
        (Some("application/x-www-form-urlencoded"), 415),
        (None, 415),
        (Some("application/json; charset=utf-8"), 200),
        (Some("Application/JSON"), 200),
    ] {
        let mut req = s
            .client
            .post(s.url("/v1/chat/completions"))
            .body(body.clone());
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), want, "content type {ct:?}");
        if want == 415 {
            let v: serde_json::Value = r.json().await.unwrap();
            assert_eq!(v["error"]["code"], "unsupported_media_type");
            assert!(v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("application/json"));
        }
    }
    // A POST without a body needs no content type.
    let r = s
        .client
        .post(s.url("/v1/models/tiny-chat/load"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
