//! Download behaviour against a fault-injecting server on loopback (issue 2).

mod common;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use common::*;
use ingot_cache::Store;
use ingot_catalog::Source;
use ingot_fetch::{DownloadOptions, Downloader, FetchError, NoopReporter, Reporter};

const BODY_LEN: usize = 512 * 1024;

fn setup() -> (tempfile::TempDir, Store, Vec<u8>) {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    (home, store, tiny_gguf(BODY_LEN))
}

fn downloader(store: &Store) -> Downloader {
    Downloader::new(store.clone(), fast_options()).unwrap()
}

/// Nothing of the model is visible in the cache, and no blob or manifest exists.
fn assert_nothing_cached(store: &Store) {
    assert!(store.list().unwrap().is_empty());
    for sub in ["blobs", "manifests"] {
        let dir = store.models_dir().join(sub);
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(files.is_empty(), "{} has {files:?}", dir.display());
    }
}

fn partials(store: &Store) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(store.models_dir().join("partials"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

/// Records what a download reports.
#[derive(Default)]
struct Recorder {
    starts: Mutex<Vec<(Option<u64>, u64)>>,
    last_progress: Mutex<Option<u64>>,
    messages: Mutex<Vec<String>>,
    finished: Mutex<usize>,
}

impl Reporter for Recorder {
    fn start(&self, total: Option<u64>, resumed_from: u64) {
        self.starts.lock().unwrap().push((total, resumed_from));
    }
    fn progress(&self, done: u64, _total: Option<u64>, rate: f64, _eta: Option<Duration>) {
        assert!(rate >= 0.0);
        *self.last_progress.lock().unwrap() = Some(done);
    }
    fn message(&self, msg: &str) {
        self.messages.lock().unwrap().push(msg.to_string());
    }
    fn finish(&self) {
        *self.finished.lock().unwrap() += 1;
    }
}

fn assert_verified(model: &ingot_fetch::CachedModel, body: &[u8]) {
    assert_eq!(std::fs::read(&model.path).unwrap(), body);
    assert_eq!(model.sha256, sha256_hex(body));
    assert_eq!(model.size, body.len() as u64);
    assert!(!model.already_cached);
}

#[tokio::test]
async fn issue2_resume_after_drop() {
    let (_home, store, body) = setup();
    let server = TestServer::start(body.clone(), |i, _| {
        if i == 0 {
            Action::DropAfter(100_000)
        } else {
            Action::Serve
        }
    })
    .await;
    let e = entry("tiny", &body, vec![url_source(server.url("/tiny.gguf"))]);
    let rec = Recorder::default();
    let model = downloader(&store).download(&e, &rec).await.unwrap();
    assert_verified(&model, &body);

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[0].range_start(), None);
    assert_eq!(
        reqs[1].range_start(),
        Some(100_000),
        "resumed from the offset: {reqs:?}"
    );
    assert_eq!(server.bytes_sent(), body.len(), "no byte was sent twice");
    assert_eq!(
        rec.starts.lock().unwrap().as_slice(),
        [
            (Some(body.len() as u64), 0),
            (Some(body.len() as u64), 100_000)
        ]
    );
    assert_eq!(*rec.last_progress.lock().unwrap(), Some(body.len() as u64));
    assert_eq!(*rec.finished.lock().unwrap(), 1);
    assert!(rec
        .messages
        .lock()
        .unwrap()
        .iter()
        .any(|m| m.contains("retrying")));
    assert!(partials(&store).is_empty());
    assert_eq!(store.list().unwrap().len(), 1);
}

#[tokio::test]
async fn issue2_retry_after_500() {
    let (_home, store, body) = setup();
    let server = TestServer::start(body.clone(), |i, _| {
        if i == 0 {
            Action::Status(500)
        } else {
            Action::Serve
        }
    })
    .await;
    let e = entry("tiny", &body, vec![url_source(server.url("/tiny.gguf"))]);
    let model = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap();
    assert_verified(&model, &body);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn issue2_persistent_5xx_gives_up_after_max_attempts() {
    let (_home, store, body) = setup();
    let server = TestServer::start(body.clone(), |_, _| Action::Status(503)).await;
    let e = entry("tiny", &body, vec![url_source(server.url("/tiny.gguf"))]);
    let err = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::HttpStatus {
                status: 503,
                attempts: 4,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(server.requests().len(), 4);
    assert_nothing_cached(&store);
}

#[tokio::test]
async fn issue2_checksum_mismatch_leaves_nothing() {
    let (_home, store, body) = setup();
    let server = TestServer::start(body.clone(), |_, _| Action::Corrupt).await;
    let e = entry("tiny", &body, vec![url_source(server.url("/tiny.gguf"))]);
    let err = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    match &err {
        FetchError::ChecksumMismatch {
            alias,
            expected,
            actual,
            ..
        } => {
            assert_eq!(alias, "tiny");
            assert_eq!(*expected, sha256_hex(&body));
            assert_ne!(expected, actual);
        }
        other => panic!("expected a checksum mismatch, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("expected sha256") && msg.contains("discarded"),
        "{msg}"
    );
    assert_nothing_cached(&store);
    assert!(
        partials(&store).is_empty(),
        "the corrupt partial is deleted"
    );
}

#[tokio::test]
async fn issue2_not_found_is_not_retried() {
    let (_home, store, body) = setup();
    let server = TestServer::start(body.clone(), |_, _| Action::Status(404)).await;
    let url = server.url("/missing.gguf");
    let e = entry("tiny", &body, vec![url_source(url.clone())]);
    let err = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::NotFound { status: 404, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("'tiny'") && msg.contains(&url) && msg.contains("not found"),
        "{msg}"
    );
    assert_eq!(server.requests().len(), 1, "a 404 is not retried");
    assert_nothing_cached(&store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue2_concurrent_downloads_transfer_once() {
    let (_home, store, body) = setup();
    let server =
        TestServer::start(body.clone(), |_, _| Action::Slow(Duration::from_millis(10))).await;
    let e = entry("tiny", &body, vec![url_source(server.url("/tiny.gguf"))]);
    // Two downloaders (as two processes would have), racing on two worker threads.
    let (d1, d2) = (downloader(&store), downloader(&store));
    let (e1, e2) = (e.clone(), e.clone());
    let t1 = tokio::spawn(async move { d1.download(&e1, &NoopReporter).await });
    let t2 = tokio::spawn(async move { d2.download(&e2, &NoopReporter).await });
    let (m1, m2) = (t1.await.unwrap().unwrap(), t2.await.unwrap().unwrap());
    assert_eq!(m1.path, m2.path);
    assert_eq!(std::fs::read(&m1.path).unwrap(), body);
    assert_eq!(server.body_transfers(), 1, "the model is transferred once");
    assert_eq!(store.list().unwrap().len(), 1);
}

#[tokio::test]
async fn issue2_already_cached_returns_immediately() {
    let (_home, store, body) = setup();
    let server = TestServer::start(body.clone(), |_, _| Action::Serve).await;
    let e = entry("tiny", &body, vec![url_source(server.url("/tiny.gguf"))]);
    let d = downloader(&store);
    let first = d.download(&e, &NoopReporter).await.unwrap();
    let second = d.download(&e, &NoopReporter).await.unwrap();
    assert!(second.already_cached);
    assert_eq!(second.path, first.path);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn issue2_server_ignoring_range_restarts_from_zero() {
    let (_home, store, body) = setup();
    let server = TestServer::start(body.clone(), |i, _| {
        if i == 0 {
            Action::DropAfter(64 * 1024)
        } else {
            Action::IgnoreRange
        }
    })
    .await;
    let e = entry("tiny", &body, vec![url_source(server.url("/tiny.gguf"))]);
    let model = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap();
    assert_verified(&model, &body);
    let reqs = server.requests();
    assert_eq!(reqs[1].range_start(), Some(64 * 1024), "it asked to resume");
}

#[tokio::test]
async fn issue2_size_mismatch_is_caught_before_transfer() {
    let (_home, store, body) = setup();
    let server = TestServer::start(body.clone(), |_, _| Action::Serve).await;
    let mut e = entry("tiny", &body, vec![url_source(server.url("/tiny.gguf"))]);
    e.size = Some(body.len() as u64 + 1);
    let err = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::SizeMismatch { .. }), "{err}");
    assert_nothing_cached(&store);
}

#[tokio::test]
async fn issue2_stalled_transfer_times_out_and_resumes() {
    let (_home, store, body) = setup();
    let server = TestServer::start(body.clone(), |i, _| {
        if i == 0 {
            Action::StallAfter(32 * 1024)
        } else {
            Action::Serve
        }
    })
    .await;
    let e = entry("tiny", &body, vec![url_source(server.url("/tiny.gguf"))]);
    let opts = DownloadOptions {
        read_timeout: Duration::from_millis(500),
        ..fast_options()
    };
    let model = Downloader::new(store.clone(), opts)
        .unwrap()
        .download(&e, &NoopReporter)
        .await
        .unwrap();
    assert_verified(&model, &body);
    // Whatever arrived before the stall is kept (all of it, unless the machine is very
    // slow), and the retry asks for the rest.
    let resumed = server.requests()[1].range_start().expect("a Range request");
    assert!(resumed > 0 && resumed <= 32 * 1024, "{resumed}");
}

#[tokio::test]
async fn issue2_next_source_after_failure_and_all_failures_listed() {
    let (home, store, body) = setup();
    let server = TestServer::start(body.clone(), |_, _| Action::Status(404)).await;
    let local = home.path().join("local.gguf");
    std::fs::write(&local, &body).unwrap();

    let e = entry(
        "tiny",
        &body,
        vec![
            url_source(server.url("/a.gguf")),
            Source::File {
                path: local.clone(),
            },
        ],
    );
    let model = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap();
    assert_verified(&model, &body);
    assert_eq!(model.source, format!("file:{}", local.display()));

    let e = entry(
        "tiny2",
        &body,
        vec![
            url_source(server.url("/a.gguf")),
            Source::File {
                path: home.path().join("nope.gguf"),
            },
        ],
    );
    let err = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    let FetchError::AllSourcesFailed { failures, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(failures.len(), 2);
    assert!(matches!(failures[0].error, FetchError::NotFound { .. }));
    assert!(matches!(failures[1].error, FetchError::SourceFile { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("could not download 'tiny2'")
            && msg.contains("1. url:")
            && msg.contains("2. file:"),
        "{msg}"
    );
}

#[tokio::test]
async fn issue2_file_source_copies_and_verifies() {
    let (home, store, body) = setup();
    let local = home.path().join("local.gguf");
    std::fs::write(&local, &body).unwrap();
    let e = entry(
        "tiny",
        &body,
        vec![Source::File {
            path: local.clone(),
        }],
    );
    let model = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap();
    assert_verified(&model, &body);
    assert!(local.exists(), "the source file is left alone");

    let mut bad = entry(
        "tiny-bad",
        &body,
        vec![Source::File {
            path: local.clone(),
        }],
    );
    bad.sha256 = Some("0".repeat(64));
    let err = downloader(&store)
        .download(&bad, &NoopReporter)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::ChecksumMismatch { .. }), "{err}");
    assert!(store.lookup("tiny-bad").unwrap().is_none());
}

#[tokio::test]
async fn issue2_hf_source_uses_endpoint_token_and_linked_etag() {
    let (_home, store, body) = setup();
    let sha = sha256_hex(&body);
    let etag = format!("\"{sha}\"");
    let len = body.len();
    let server = TestServer::start(body.clone(), move |_, req| {
        if req.method == "HEAD" {
            Action::WithHeaders(vec![
                ("X-Linked-Etag".into(), etag.clone()),
                ("X-Linked-Size".into(), len.to_string()),
            ])
        } else {
            Action::Serve
        }
    })
    .await;
    let mut e = entry(
        "tiny",
        &body,
        vec![Source::Hf {
            repo: "o/r".into(),
            revision: "main".into(),
            file: "t.gguf".into(),
        }],
    );
    e.sha256 = None;
    e.size = None;
    let opts = DownloadOptions {
        hf_endpoint: server.url(""),
        hf_token: Some("hf_secret".into()),
        ..fast_options()
    };
    let model = Downloader::new(store.clone(), opts.clone())
        .unwrap()
        .download(&e, &NoopReporter)
        .await
        .unwrap();
    assert_verified(&model, &body);
    assert_eq!(model.source, "hf:o/r@main/t.gguf");
    let reqs = server.requests();
    assert_eq!(
        (reqs[0].method.as_str(), reqs[1].method.as_str()),
        ("HEAD", "GET")
    );
    assert_eq!(reqs[1].path, "/o/r/resolve/main/t.gguf");
    assert_eq!(reqs[1].header("authorization"), Some("Bearer hf_secret"));

    // A linked ETag that does not match what is served: rejected.
    let server = TestServer::start(body.clone(), move |_, req| {
        if req.method == "HEAD" {
            Action::WithHeaders(vec![(
                "X-Linked-Etag".into(),
                format!("\"{}\"", "a".repeat(64)),
            )])
        } else {
            Action::Serve
        }
    })
    .await;
    e.alias = "tiny-2".into();
    let opts = DownloadOptions {
        hf_endpoint: server.url(""),
        ..opts
    };
    let err = Downloader::new(store.clone(), opts)
        .unwrap()
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::ChecksumMismatch { .. }), "{err}");
    assert!(!err.to_string().contains("hf_secret"));
}

#[tokio::test]
async fn issue2_credentials_never_appear_in_errors() {
    let (_home, store, body) = setup();
    let server = TestServer::start(body.clone(), |_, _| Action::Status(403)).await;
    let url = format!(
        "http://user:hunter2@{}/m.gguf?token=s3cret&x=1",
        server.addr
    );
    let e = entry("tiny", &body, vec![url_source(url)]);
    let err = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, FetchError::Unauthorized { .. }), "{msg}");
    assert!(!msg.contains("hunter2") && !msg.contains("s3cret"), "{msg}");
    assert!(msg.contains("HF_TOKEN"), "says what to do: {msg}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn issue2_connection_refused_is_retried_then_reported() {
    let (_home, store, body) = setup();
    // Bind then drop: nothing listens on this port any more.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let e = entry(
        "tiny",
        &body,
        vec![url_source(format!("http://{addr}/m.gguf"))],
    );
    let err = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Network { attempts: 4, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("resumes where it stopped"),
        "{err}"
    );
}

#[tokio::test]
async fn issue2_bad_alias_is_rejected_with_a_suggestion() {
    let catalog = ingot_catalog::Catalog::builtin();
    let err = catalog.get("../x").unwrap_err();
    assert!(err.to_string().contains("invalid model alias"), "{err}");
    let err = catalog.get("smollm2").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown model 'smollm2' — did you mean 'smollm2-135m'?"
    );

    // A hand-built entry with a hostile alias is refused before touching the disk.
    let (home, store, body) = setup();
    let e = entry(
        "../escape",
        &body,
        vec![Source::File {
            path: home.path().join("x"),
        }],
    );
    let err = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid model alias"), "{err}");
    assert!(!home.path().join("models-v1/escape.json").exists());
    assert_nothing_cached(&store);
}

// --- A download killed mid-transfer (issue 2, test 6) -----------------------------------

const CHILD_HOME: &str = "INGOT_TEST_CHILD_HOME";
const CHILD_URL: &str = "INGOT_TEST_CHILD_URL";

/// Not a test on its own: the body of the child process of
/// `issue2_killed_download_resumes`, which runs this test binary with these variables set.
#[tokio::test]
async fn issue2_child_download_helper() {
    let (Ok(home), Ok(url)) = (std::env::var(CHILD_HOME), std::env::var(CHILD_URL)) else {
        return; // a normal test run
    };
    let store = Store::open(&home).unwrap();
    let body = tiny_gguf(BODY_LEN);
    let e = entry("tiny", &body, vec![url_source(url)]);
    let _ = downloader(&store).download(&e, &NoopReporter).await;
    unreachable!("the parent kills this process mid-download");
}

#[tokio::test]
async fn issue2_killed_download_resumes() {
    let (home, store, body) = setup();
    const SENT_BEFORE_KILL: usize = 128 * 1024;
    let server = TestServer::start(body.clone(), |i, _| {
        if i == 0 {
            Action::StallAfter(SENT_BEFORE_KILL)
        } else {
            Action::Serve
        }
    })
    .await;

    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "issue2_child_download_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_HOME, home.path())
        .env(CHILD_URL, server.url("/tiny.gguf"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();

    // Wait until the child has written what the server sent, then SIGKILL it.
    let partial = store
        .models_dir()
        .join("partials")
        .join(format!("sha256-{}.partial", sha256_hex(&body)));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while file_len(&partial) < SENT_BEFORE_KILL as u64 {
        assert!(
            std::time::Instant::now() < deadline,
            "child never wrote its partial"
        );
        assert!(child.try_wait().unwrap().is_none(), "child exited early");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no cleanup runs
    child.wait().unwrap();

    // No half file is visible as cached.
    assert!(store.lookup("tiny").unwrap().is_none());
    assert_nothing_cached(&store);
    assert_eq!(file_len(&partial), SENT_BEFORE_KILL as u64);

    // The next run resumes where the killed one stopped (its lock died with it).
    let model = downloader(&store)
        .download(
            &entry("tiny", &body, vec![url_source(server.url("/tiny.gguf"))]),
            &NoopReporter,
        )
        .await
        .unwrap();
    assert_verified(&model, &body);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].range_start(), Some(SENT_BEFORE_KILL as u64));
}

#[tokio::test]
async fn issue2_cancelled_download_resumes() {
    let (_home, store, body) = setup();
    let server = TestServer::start(body.clone(), |i, _| {
        if i == 0 {
            Action::StallAfter(48 * 1024)
        } else {
            Action::Serve
        }
    })
    .await;
    let e = entry("tiny", &body, vec![url_source(server.url("/tiny.gguf"))]);
    let d = downloader(&store);
    let partial = store
        .models_dir()
        .join("partials")
        .join(format!("sha256-{}.partial", sha256_hex(&body)));
    // Dropping the future mid-body (Ctrl-C in the CLI) is the in-process kind of kill:
    // done once the partial holds all the server sent before stalling.
    tokio::select! {
        r = d.download(&e, &NoopReporter) => panic!("the stalled download finished: {r:?}"),
        _ = async {
            while file_len(&partial) < 48 * 1024 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        } => {}
    }
    assert_nothing_cached(&store);
    let model = d.download(&e, &NoopReporter).await.unwrap();
    assert_verified(&model, &body);
    assert_eq!(server.requests()[1].range_start(), Some(48 * 1024));
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test]
async fn issue2_disk_full_is_reported_as_such_and_stops() {
    // /dev/full fails every write with ENOSPC: the partial is made a link to it.
    if !Path::new("/dev/full").exists() {
        eprintln!("no /dev/full here; skipping");
        return;
    }
    let (home, store, body) = setup();
    let server = TestServer::start(body.clone(), |_, _| Action::Serve).await;
    let local = home.path().join("local.gguf");
    std::fs::write(&local, &body).unwrap();
    let partial = store
        .models_dir()
        .join("partials")
        .join(format!("sha256-{}.partial", sha256_hex(&body)));
    std::os::unix::fs::symlink("/dev/full", &partial).unwrap();

    let e = entry(
        "tiny",
        &body,
        vec![
            url_source(server.url("/tiny.gguf")),
            Source::File { path: local },
        ],
    );
    let err = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    match &err {
        FetchError::Cache {
            error: ingot_cache::CacheError::DiskFull { path },
            ..
        } => assert_eq!(path, &partial),
        other => panic!("expected disk full, got {other}"),
    }
    assert!(err.to_string().contains("disk full"), "{err}");
    assert!(
        err.is_fatal(),
        "no point trying the next source on a full disk"
    );
    assert_eq!(server.requests().len(), 1, "a full disk is not retried");
    assert!(store.list().unwrap().is_empty());
}

#[tokio::test]
async fn issue2_hf_token_is_not_sent_across_a_redirect() {
    let (_home, store, body) = setup();
    // The "CDN" serves the file; the "hub" redirects there, as the real hub does.
    let cdn = TestServer::start(body.clone(), |_, _| Action::Serve).await;
    let cdn_url = cdn.url("/blob?X-Amz-Signature=abc");
    let hub = TestServer::start(Vec::new(), move |_, _| Action::Redirect(cdn_url.clone())).await;
    let e = entry(
        "tiny",
        &body,
        vec![Source::Hf {
            repo: "o/r".into(),
            revision: "main".into(),
            file: "t.gguf".into(),
        }],
    );
    let opts = DownloadOptions {
        hf_endpoint: hub.url(""),
        hf_token: Some("hf_secret".into()),
        ..fast_options()
    };
    let model = Downloader::new(store.clone(), opts.clone())
        .unwrap()
        .download(&e, &NoopReporter)
        .await
        .unwrap();
    assert_verified(&model, &body);
    assert_eq!(
        hub.requests()[0].header("authorization"),
        Some("Bearer hf_secret")
    );
    assert_eq!(
        cdn.requests()[0].header("authorization"),
        None,
        "the token stays with the hub"
    );

    let opts = DownloadOptions {
        hf_token: Some("bad\ntoken".into()),
        ..opts
    };
    let e = entry("tiny2", &body, e.sources.clone());
    let err = Downloader::new(store.clone(), opts)
        .unwrap()
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("HF_TOKEN contains characters"),
        "{err}"
    );
    assert!(!err.to_string().contains("bad"), "{err}");
}
