//! Issue 12: a resume sends `If-Range` with the ETag (or Last-Modified) of the response that
//! started the partial, so a file that changed on the server meanwhile is downloaded again
//! from the start instead of being spliced from two versions, which, without a known
//! checksum, nothing else would catch. Against a fake server on port 0 whose file changes
//! between attempts.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use ingot_cache::Store;
use ingot_fetch::{DownloadOptions, Downloader, NoopReporter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One version of the served file.
#[derive(Clone)]
struct Version {
    body: Vec<u8>,
    etag: Option<&'static str>,
    last_modified: Option<&'static str>,
}

impl Version {
    fn validator(&self) -> Option<&'static str> {
        self.etag.or(self.last_modified)
    }
}

#[derive(Default)]
struct State {
    current: Option<Version>,
    /// Close the connection after this many body bytes of the next response.
    cut_next: Option<usize>,
    /// (Range, If-Range) of each request.
    requests: Vec<(Option<String>, Option<String>)>,
}

/// A server honouring Range, and If-Range like a conforming server: the rest of the file
/// when the validator still matches, the whole current file (200) when it does not.
async fn start(state: Arc<Mutex<State>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head).to_string();
                let header = |name: &str| {
                    text.lines().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                    })
                };
                let (range, if_range) = (header("range"), header("if-range"));
                let (version, cut) = {
                    let mut s = state.lock().unwrap();
                    s.requests.push((range.clone(), if_range.clone()));
                    (s.current.clone().unwrap(), s.cut_next.take())
                };
                let start = range
                    .as_deref()
                    .and_then(|r| r.strip_prefix("bytes="))
                    .and_then(|r| r.strip_suffix('-'))
                    .and_then(|r| r.parse::<usize>().ok())
                    .filter(|_| if_range.is_none() || if_range.as_deref() == version.validator())
                    .unwrap_or(0);
                let total = version.body.len();
                let mut h = if range.is_some() && start > 0 {
                    format!(
                        "HTTP/1.1 206 Partial Content\r\ncontent-range: bytes {start}-{}/{total}\r\n",
                        total - 1
                    )
                } else {
                    "HTTP/1.1 200 OK\r\n".to_string()
                };
                h.push_str(&format!(
                    "content-length: {}\r\naccept-ranges: bytes\r\nconnection: close\r\n",
                    total - start
                ));
                if let Some(e) = version.etag {
                    h.push_str(&format!("etag: {e}\r\n"));
                }
                if let Some(d) = version.last_modified {
                    h.push_str(&format!("last-modified: {d}\r\n"));
                }
                h.push_str("\r\n");
                let _ = stream.write_all(h.as_bytes()).await;
                let data = &version.body[start..];
                let data = &data[..cut.unwrap_or(data.len()).min(data.len())];
                let _ = stream.write_all(data).await;
                let _ = stream.flush().await;
            });
        }
    });
    base
}

/// An entry for the URL with no known checksum (and, unless given, no known size).
fn unverified(alias: &str, url: String, size: Option<u64>) -> ingot_catalog::ModelEntry {
    let mut e = entry(alias, b"", vec![url_source(url)]);
    e.sha256 = None;
    e.size = size;
    e
}

fn two_versions(etag: bool) -> (Version, Version) {
    let v1 = tiny_gguf(200 * 1024);
    let mut v2 = v1.clone();
    // Same length, different bytes after the cut: a splice would go unnoticed by size.
    for b in &mut v2[150 * 1024..] {
        *b = b.wrapping_add(1);
    }
    let version = |body, tag, date| Version {
        body,
        etag: etag.then_some(tag),
        last_modified: (!etag).then_some(date),
    };
    (
        version(v1, "\"v1\"", "Mon, 01 Jun 2026 10:00:00 GMT"),
        version(v2, "\"v2\"", "Tue, 02 Jun 2026 10:00:00 GMT"),
    )
}

#[tokio::test]
async fn a_file_changed_between_attempts_is_restarted_not_spliced() {
    let (v1, v2) = two_versions(true);
    let state = Arc::new(Mutex::new(State {
        current: Some(v1.clone()),
        cut_next: Some(100 * 1024),
        ..State::default()
    }));
    let base = start(state.clone()).await;
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let e = unverified(
        "changing",
        format!("{base}/m.gguf"),
        Some(v1.body.len() as u64),
    );
    // The file changes on the server while the client waits to retry.
    let swap = {
        let state = state.clone();
        let v2 = v2.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                let mut s = state.lock().unwrap();
                if !s.requests.is_empty() {
                    s.current = Some(v2);
                    return;
                }
            }
        })
    };
    let options = DownloadOptions {
        backoff_base: std::time::Duration::from_millis(200),
        ..fast_options()
    };
    let model = Downloader::new(store, options)
        .unwrap()
        .download(&e, &NoopReporter)
        .await
        .unwrap();
    swap.await.unwrap();
    assert_eq!(std::fs::read(&model.path).unwrap(), v2.body, "spliced");
    assert_eq!(model.sha256, sha256_hex(&v2.body));
    let requests = state.lock().unwrap().requests.clone();
    assert_eq!(requests[0], (None, None));
    assert_eq!(
        requests[1],
        (
            Some(format!("bytes={}-", 100 * 1024)),
            Some("\"v1\"".into())
        )
    );
    assert_eq!(requests.len(), 2, "{requests:?}");
}

#[tokio::test]
async fn a_later_process_resumes_with_last_modified_and_restarts_on_a_new_version() {
    let (v1, v2) = two_versions(false);
    let state = Arc::new(Mutex::new(State {
        current: Some(v1.clone()),
        cut_next: Some(100 * 1024),
        ..State::default()
    }));
    let base = start(state.clone()).await;
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let e = unverified("changing", format!("{base}/m.gguf"), None);
    // The first process gives up after the cut, leaving its partial (and validator).
    let once = DownloadOptions {
        max_attempts: 1,
        ..fast_options()
    };
    Downloader::new(store.clone(), once)
        .unwrap()
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();

    // Same version still served: the next run resumes (206), sending the date.
    state.lock().unwrap().cut_next = Some(50 * 1024);
    Downloader::new(
        store.clone(),
        DownloadOptions {
            max_attempts: 1,
            ..fast_options()
        },
    )
    .unwrap()
    .download(&e, &NoopReporter)
    .await
    .unwrap_err();
    let requests = state.lock().unwrap().requests.clone();
    assert_eq!(
        requests[1],
        (
            Some(format!("bytes={}-", 100 * 1024)),
            Some("Mon, 01 Jun 2026 10:00:00 GMT".into())
        )
    );

    // Now the file changes: the next run gets the whole new version, not a splice.
    state.lock().unwrap().current = Some(v2.clone());
    let model = Downloader::new(store, fast_options())
        .unwrap()
        .download(&e, &NoopReporter)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&model.path).unwrap(), v2.body, "spliced");
    let requests = state.lock().unwrap().requests.clone();
    assert_eq!(
        requests[2],
        (
            Some(format!("bytes={}-", 150 * 1024)),
            Some("Mon, 01 Jun 2026 10:00:00 GMT".into())
        )
    );
    assert_eq!(requests.len(), 3, "{requests:?}");
}

#[tokio::test]
async fn a_file_whose_length_changed_is_restarted_even_without_validators() {
    let v1 = tiny_gguf(100 * 1024);
    let v2 = tiny_gguf(120 * 1024);
    let plain = |body| Version {
        body,
        etag: None,
        last_modified: None,
    };
    let state = Arc::new(Mutex::new(State {
        current: Some(plain(v1)),
        cut_next: Some(60 * 1024),
        ..State::default()
    }));
    let base = start(state.clone()).await;
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let e = unverified("growing", format!("{base}/m.gguf"), None);
    Downloader::new(
        store.clone(),
        DownloadOptions {
            max_attempts: 1,
            ..fast_options()
        },
    )
    .unwrap()
    .download(&e, &NoopReporter)
    .await
    .unwrap_err();
    state.lock().unwrap().current = Some(plain(v2.clone()));
    let model = Downloader::new(store, fast_options())
        .unwrap()
        .download(&e, &NoopReporter)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&model.path).unwrap(), v2);
    let requests = state.lock().unwrap().requests.clone();
    // Resume (no If-Range to send), the length differs, so: the whole file again.
    assert_eq!(requests[1], (Some(format!("bytes={}-", 60 * 1024)), None));
    assert_eq!(requests[2], (None, None));
}
