//! Issue 12 part 4: the remote-adapter proxy keeps the server's limits. Upstream answers are
//! bounded, an adapter pointing at the server itself is refused, credentials in upstream
//! URLs never reach errors, and `max_tokens_cap` and the queue limit hold for forwarded
//! requests.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use ingot_server::{
    ModelDescriptor, ModelProvider, ProviderError, RemoteModel, ResolvedModel, ServerConfig,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Remote adapters set after the server started (the loop test needs the server's own URL).
#[derive(Default)]
struct Remotes(Mutex<Vec<RemoteModel>>);

impl Remotes {
    fn set(&self, id: &str, base_url: String) {
        self.0.lock().unwrap().push(RemoteModel {
            id: id.into(),
            base_url,
            model: "up".into(),
            api_key: None,
        });
    }
}

impl ModelProvider for Remotes {
    fn list(&self) -> Vec<ModelDescriptor> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|r| ModelDescriptor {
                id: r.id.clone(),
                remote: true,
                ..Default::default()
            })
            .collect()
    }
    fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
        let _ = PathBuf::new();
        Err(ProviderError::NotFound(id.into()))
    }
    fn remote(&self, id: &str) -> Option<RemoteModel> {
        self.0.lock().unwrap().iter().find(|r| r.id == id).cloned()
    }
}

/// What the fake upstream answers.
#[derive(Clone, Copy)]
enum Answer {
    /// A small chat completion, after `delay`.
    Small { delay: Duration },
    /// A JSON body of this many bytes, with its Content-Length.
    Huge(usize),
    /// A Content-Length far over the limit, with a few bytes of body.
    LyingLength,
}

struct Upstream {
    base: String,
    requests: Arc<AtomicUsize>,
    last_body: Arc<Mutex<Option<Value>>>,
}

/// A raw HTTP/1.1 upstream on port 0 (`base` ends in `/v1`).
async fn upstream(answer: Answer) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let last_body = Arc::new(Mutex::new(None));
    let (count, last) = (requests.clone(), last_body.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (count, last) = (count.clone(), last.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                // Read the head, then Content-Length bytes of body.
                let (head_end, len) = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (i + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                count.fetch_add(1, Ordering::SeqCst);
                *last.lock().unwrap() = serde_json::from_slice(&buf[head_end..head_end + len]).ok();
                let json_head = |len: usize| {
                    format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n")
                };
                match answer {
                    Answer::Small { delay } => {
                        tokio::time::sleep(delay).await;
                        let body = json!({"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}).to_string();
                        let _ = sock
                            .write_all(format!("{}{body}", json_head(body.len())).as_bytes())
                            .await;
                    }
                    Answer::Huge(n) => {
                        let _ = sock.write_all(json_head(n).as_bytes()).await;
                        let filler = vec![b' '; 64 * 1024];
                        let mut sent = 0;
                        while sent < n {
                            let k = filler.len().min(n - sent);
                            if sock.write_all(&filler[..k]).await.is_err() {
                                return;
                            }
                            sent += k;
                        }
                    }
                    Answer::LyingLength => {
                        let _ = sock.write_all(json_head(1 << 40).as_bytes()).await;
                        let _ = sock.write_all(b"{\"a\":").await;
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                }
            });
        }
    });
    Upstream {
        base,
        requests,
        last_body,
    }
}

async fn front(config: ServerConfig) -> (TestServer, Arc<Remotes>) {
    let remotes = Arc::new(Remotes::default());
    let s = start_with_provider(config, Script::default(), remotes.clone()).await;
    (s, remotes)
}

fn chat(model: &str, extra: Value) -> Value {
    let mut b = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

async fn error_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn a_huge_upstream_answer_is_cut_with_a_502() {
    let (s, remotes) = front(test_config()).await;
    let huge = upstream(Answer::Huge(17 * 1024 * 1024)).await;
    let lying = upstream(Answer::LyingLength).await;
    remotes.set("huge", huge.base.clone());
    remotes.set("lying", lying.base.clone());
    for model in ["huge", "lying"] {
        let r = tokio::time::timeout(
            Duration::from_secs(20),
            s.post_json("/v1/chat/completions", chat(model, json!({}))),
        )
        .await
        .expect("answered in time");
        let (status, v) = error_of(r).await;
        assert_eq!(status, 502, "{model}: {v}");
        assert_eq!(v["error"]["code"], "upstream_error");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("larger than"),
            "{v}"
        );
    }
    assert_eq!(s.get_json("/health").await["status"], "ok");
}

#[tokio::test]
async fn an_adapter_pointing_at_the_server_itself_is_refused() {
    let (s, remotes) = front(test_config()).await;
    let own = s.handle.local_addr();
    remotes.set("me", format!("http://{own}/v1"));
    remotes.set("me-by-name", format!("http://localhost:{}/v1", own.port()));
    for model in ["me", "me-by-name"] {
        for stream in [false, true] {
            let r = s
                .post_json(
                    "/v1/chat/completions",
                    chat(model, json!({"stream": stream})),
                )
                .await;
            let (status, v) = error_of(r).await;
            assert_eq!(status, 508, "{model}: {v}");
            assert_eq!(v["error"]["code"], "upstream_loop");
            assert!(
                v["error"]["message"].as_str().unwrap().contains("itself"),
                "{v}"
            );
        }
    }
    // Nothing was forwarded: the only requests the server saw were the four refused ones.
    let m = s.metrics().await;
    assert!(m.contains("ingot_requests_total{code=\"508\"} 4"), "{m}");
}

#[tokio::test]
async fn credentials_in_upstream_urls_never_reach_errors() {
    let (s, remotes) = front(test_config()).await;
    // Nobody listens on port 1: the error quotes the URL, which must be redacted.
    remotes.set(
        "creds",
        "http://user:s3cret-pass@127.0.0.1:1/v1?api_key=s3cret-key".into(),
    );
    for stream in [false, true] {
        let r = s
            .post_json(
                "/v1/chat/completions",
                chat("creds", json!({"stream": stream})),
            )
            .await;
        let (status, v) = error_of(r).await;
        assert_eq!(status, 502, "{v}");
        let text = v.to_string();
        assert!(!text.contains("s3cret"), "a credential leaked: {text}");
        assert!(
            text.contains("127.0.0.1:1"),
            "the upstream is still named: {text}"
        );
    }
    let r = s
        .client
        .post(s.url("/v1/models/creds/load"))
        .send()
        .await
        .unwrap();
    let (_, v) = error_of(r).await;
    assert!(!v.to_string().contains("s3cret"), "{v}");
}

#[tokio::test]
async fn max_tokens_cap_holds_for_forwarded_requests() {
    let (s, remotes) = front(ServerConfig {
        max_tokens_cap: Some(5),
        ..test_config()
    })
    .await;
    let up = upstream(Answer::Small {
        delay: Duration::ZERO,
    })
    .await;
    remotes.set("far", up.base.clone());
    for key in ["max_tokens", "max_completion_tokens"] {
        let r = s
            .post_json("/v1/chat/completions", chat("far", json!({ key: 50 })))
            .await;
        let (status, v) = error_of(r).await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["error"]["param"], key);
        assert_eq!(v["error"]["code"], "max_tokens_exceeded");
    }
    assert_eq!(
        up.requests.load(Ordering::SeqCst),
        0,
        "refused requests went upstream"
    );
    // Without max_tokens the upstream gets the cap; within it, the request's own value.
    let r = s
        .post_json("/v1/chat/completions", chat("far", json!({})))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        up.last_body.lock().unwrap().as_ref().unwrap()["max_tokens"],
        5
    );
    let r = s
        .post_json(
            "/v1/chat/completions",
            chat("far", json!({"max_tokens": 3})),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        up.last_body.lock().unwrap().as_ref().unwrap()["max_tokens"],
        3
    );
}

#[tokio::test]
async fn forwarded_requests_beyond_parallel_plus_queue_get_a_503() {
    let (s, remotes) = front(ServerConfig {
        parallel: 1,
        max_queue: 1,
        ..test_config()
    })
    .await;
    let up = upstream(Answer::Small {
        delay: Duration::from_millis(1500),
    })
    .await;
    remotes.set("far", up.base.clone());
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let (client, url) = (reqwest::Client::new(), s.url("/v1/chat/completions"));
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .json(&chat("far", json!({})))
                    .send()
                    .await
                    .unwrap();
                let retry = r.headers().get("retry-after").is_some();
                (r.status().as_u16(), retry)
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for c in calls {
        statuses.push(c.await.unwrap());
    }
    let ok = statuses.iter().filter(|(s, _)| *s == 200).count();
    let busy = statuses.iter().filter(|(s, r)| *s == 503 && *r).count();
    assert_eq!((ok, busy), (2, 2), "{statuses:?}");
    assert_eq!(up.requests.load(Ordering::SeqCst), 2);
    // The slots are given back: the next request goes through.
    let r = s
        .post_json("/v1/chat/completions", chat("far", json!({})))
        .await;
    assert_eq!(r.status(), 200);
}
