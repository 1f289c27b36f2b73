//! Issue 8: download and cache faults beyond issue 2's — a disk that fills up (a small
//! tmpfs where mounting is permitted, and RLIMIT_FSIZE in a child process everywhere), a
//! server that lies about `Content-Length`, a redirect loop, a slow server that stalls, and
//! `cache gc` while a download runs. Each ends with a clear error or a verified file, and
//! a store that is still valid.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use ingot_cache::{CacheError, GcOptions, Store};
use ingot_catalog::{ModelEntry, Source};
use ingot_fetch::{DownloadOptions, Downloader, FetchError, NoopReporter, Reporter};

const BODY_LEN: usize = 512 * 1024;

fn downloader(store: &Store) -> Downloader {
    Downloader::new(store.clone(), fast_options()).unwrap()
}

fn partial_of(store: &Store, body: &[u8]) -> PathBuf {
    store
        .models_dir()
        .join("partials")
        .join(format!("sha256-{}.partial", sha256_hex(body)))
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn assert_verified(model: &ingot_fetch::CachedModel, body: &[u8]) {
    assert_eq!(std::fs::read(&model.path).unwrap(), body);
    assert_eq!(model.sha256, sha256_hex(body));
    assert_eq!(model.size, body.len() as u64);
}

/// A model already in the cache, to check that a failed download leaves it intact.
async fn cache_bystander(store: &Store, dir: &Path) -> (ModelEntry, Vec<u8>) {
    let bytes = tiny_gguf(8 * 1024);
    let src = dir.join("bystander.gguf");
    std::fs::write(&src, &bytes).unwrap();
    let e = entry("bystander", &bytes, vec![Source::File { path: src }]);
    downloader(store).download(&e, &NoopReporter).await.unwrap();
    (e, bytes)
}

/// The store is still valid: it lists exactly the bystander, whose file is intact, and a
/// gc finds nothing broken to remove (young partials are kept for resuming).
fn assert_store_valid(store: &Store, bystander: &[u8]) {
    let list = store.list().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].manifest.alias, "bystander");
    assert_eq!(std::fs::read(&list[0].path).unwrap(), bystander);
    assert!(store.lookup("tiny").unwrap().is_none());
    let report = store.gc(&GcOptions::default()).unwrap();
    assert!(report.removed.is_empty(), "gc removed {:?}", report.removed);
}

/// A tmpfs of `size` mounted at a new temporary folder, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// None where mounting is not permitted (not root, no CAP_SYS_ADMIN, no tmpfs).
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs { dir })
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(ok.success(), "remount failed");
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn issue8_disk_full_on_a_small_tmpfs_keeps_the_partial_and_resumes() {
    // 384 KiB: the store and the bystander fit, the 512 KiB model does not.
    let Some(fs) = Tmpfs::mount("384k") else {
        assert!(
            std::env::var_os("CI").is_none() || unsafe_is_not_root(),
            "tmpfs mounting failed as root in CI"
        );
        eprintln!("cannot mount a tmpfs here (not root?); the RLIMIT_FSIZE test covers disk full");
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let store = Store::open(fs.path()).unwrap();
    let (_by, by_bytes) = cache_bystander(&store, scratch.path()).await;
    let body = tiny_gguf(BODY_LEN);
    let server = TestServer::start(body.clone(), |_, _| Action::Serve).await;
    let e = entry("tiny", &body, vec![url_source(server.url("/tiny.gguf"))]);

    let err = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    let partial = partial_of(&store, &body);
    match &err {
        FetchError::Cache {
            error: CacheError::DiskFull { path },
            ..
        } => assert_eq!(path, &partial),
        other => panic!("expected disk full, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("disk full") && msg.contains("'tiny'") && msg.contains("resumes"),
        "{msg}"
    );
    assert_eq!(server.requests().len(), 1, "a full disk is not retried");
    // The partial is kept: a true prefix of the file, for the next run to resume.
    let kept = std::fs::read(&partial).unwrap();
    assert!(
        !kept.is_empty() && kept.len() < body.len(),
        "{} bytes kept",
        kept.len()
    );
    assert_eq!(&body[..kept.len()], &kept[..]);
    assert_store_valid(&store, &by_bytes);

    // Room again: the download resumes where the disk filled up.
    fs.resize("4m");
    let model = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap();
    assert_verified(&model, &body);
    assert_eq!(
        server.requests()[1].range_start(),
        Some(kept.len() as u64),
        "resumed from the kept partial"
    );
    assert_eq!(store.list().unwrap().len(), 2);
}

fn unsafe_is_not_root() -> bool {
    // /proc/self/status: "Uid: real effective ..."
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|v| v.split_whitespace().nth(1) != Some("0"))
        })
        .unwrap_or(true)
}

const CHILD_HOME: &str = "INGOT_TEST_FSIZE_HOME";
const CHILD_URL: &str = "INGOT_TEST_FSIZE_URL";
const FSIZE_LIMIT: u64 = 128 * 1024;

/// Not a test on its own: the child of `issue8_file_size_limit_...`, run under
/// RLIMIT_FSIZE with SIGXFSZ ignored; prints the download's error.
#[tokio::test]
async fn issue8_child_fsize_download() {
    let (Ok(home), Ok(url)) = (std::env::var(CHILD_HOME), std::env::var(CHILD_URL)) else {
        return; // a normal test run
    };
    let store = Store::open(&home).unwrap();
    let body = tiny_gguf(BODY_LEN);
    let e = entry("tiny", &body, vec![url_source(url)]);
    match downloader(&store).download(&e, &NoopReporter).await {
        Ok(m) => println!("CHILD_RESULT ok {}", m.size),
        Err(err) => {
            let kind = match &err {
                FetchError::Cache {
                    error: CacheError::FileTooLarge { .. },
                    ..
                } => "file_too_large",
                _ => "other",
            };
            println!("CHILD_RESULT {kind} fatal={} {err}", err.is_fatal());
        }
    }
}

#[tokio::test]
async fn issue8_file_size_limit_in_a_child_keeps_the_partial_and_resumes() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let (_by, by_bytes) = cache_bystander(&store, home.path()).await;
    let body = tiny_gguf(BODY_LEN);
    let server = TestServer::start(body.clone(), |_, _| Action::Serve).await;

    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "issue8_child_fsize_download",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_HOME, home.path())
    .env(CHILD_URL, server.url("/tiny.gguf"))
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    // In the child only: the limit, and SIGXFSZ ignored so that writes fail with EFBIG
    // instead of killing it (both survive exec).
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            let lim = libc::rlimit {
                rlim_cur: FSIZE_LIMIT as libc::rlim_t,
                rlim_max: FSIZE_LIMIT as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        // libtest prints its "test ... " prefix on the same line.
        .find_map(|l| l.split_once("CHILD_RESULT ").map(|(_, r)| r))
        .unwrap_or_else(|| {
            panic!(
                "no result from the child ({}):\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(out.status.success(), "{}", out.status);
    assert!(
        line.starts_with("file_too_large fatal=true"),
        "unexpected child result: {line}"
    );
    assert!(
        line.contains("'tiny'") && line.contains("ulimit -f") && line.contains("resumes"),
        "{line}"
    );
    let partial = partial_of(&store, &body);
    assert!(line.contains(&partial.display().to_string()), "{line}");
    assert_eq!(server.requests().len(), 1, "not retried");

    // Exactly the limit was written, and it is a prefix of the file.
    let kept = std::fs::read(&partial).unwrap();
    assert_eq!(kept.len() as u64, FSIZE_LIMIT);
    assert_eq!(&body[..kept.len()], &kept[..]);
    assert_store_valid(&store, &by_bytes);

    // Without the limit (this process), the download resumes from the partial.
    let e = entry("tiny", &body, vec![url_source(server.url("/tiny.gguf"))]);
    let model = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap();
    assert_verified(&model, &body);
    assert_eq!(server.requests()[1].range_start(), Some(FSIZE_LIMIT));
}

#[tokio::test]
async fn issue8_content_length_larger_than_the_catalog_size_is_refused_before_transfer() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let (_by, by_bytes) = cache_bystander(&store, home.path()).await;
    let body = tiny_gguf(BODY_LEN);
    let server = TestServer::start(body.clone(), |_, _| Action::LieLength(1000)).await;
    let e = entry("tiny", &body, vec![url_source(server.url("/tiny.gguf"))]);
    let err = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    match &err {
        FetchError::SizeMismatch {
            expected, actual, ..
        } => assert_eq!(
            (*expected, *actual),
            (body.len() as u64, body.len() as u64 + 1000)
        ),
        other => panic!("expected a size mismatch, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("size mismatch") && msg.contains(&(body.len() + 1000).to_string()),
        "{msg}"
    );
    assert_eq!(server.body_transfers(), 1);
    assert_eq!(
        file_len(&partial_of(&store, &body)),
        0,
        "refused before any byte was written"
    );
    assert_store_valid(&store, &by_bytes);
}

/// Without a size in the catalog, a `Content-Length` longer than what comes looks like a
/// dropped connection: the download resumes, the server has nothing more (416), and the
/// SHA-256 proves the file whole. Nothing is transferred twice.
#[tokio::test]
async fn issue8_content_length_larger_than_the_body_resumes_and_verifies() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let body = tiny_gguf(BODY_LEN);
    let server = TestServer::start(body.clone(), |_, _| Action::LieLength(4096)).await;
    let mut e = entry("tiny", &body, vec![url_source(server.url("/tiny.gguf"))]);
    e.size = None;
    let model = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap();
    assert_verified(&model, &body);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[1].range_start(), Some(body.len() as u64));
    assert_eq!(server.bytes_sent(), body.len(), "no byte sent twice");
}

/// A `Content-Length` shorter than the file: the truncated file fails the checksum, is
/// discarded, and nothing is cached.
#[tokio::test]
async fn issue8_content_length_shorter_than_the_body_fails_the_checksum() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let (_by, by_bytes) = cache_bystander(&store, home.path()).await;
    let body = tiny_gguf(BODY_LEN);
    let server = TestServer::start(body.clone(), |_, _| Action::LieLength(-4096)).await;
    let mut e = entry("tiny", &body, vec![url_source(server.url("/tiny.gguf"))]);
    e.size = None;
    let err = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().contains("discarded"), "{err}");
    assert!(
        !partial_of(&store, &body).exists(),
        "the bad file is not kept"
    );
    assert_store_valid(&store, &by_bytes);
    // With the catalog's size, the lie is caught before the transfer instead.
    let e = entry("tiny", &body, vec![url_source(server.url("/tiny.gguf"))]);
    let err = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::SizeMismatch { .. }), "{err}");
}

#[tokio::test]
async fn issue8_redirect_loop_is_reported_at_once_and_not_retried() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let (_by, by_bytes) = cache_bystander(&store, home.path()).await;
    let body = tiny_gguf(BODY_LEN);
    // Every path redirects to itself (relative Location, as many servers send).
    let server = TestServer::start(body.clone(), |_, req| Action::Redirect(req.path.clone())).await;
    let e = entry("tiny", &body, vec![url_source(server.url("/loop.gguf"))]);
    let t0 = Instant::now();
    let err = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::RedirectLoop { max: 10, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("redirects in a loop") && msg.contains("/loop.gguf") && msg.contains("'tiny'"),
        "{msg}"
    );
    // One attempt: the first request plus 10 redirects.
    assert_eq!(server.requests().len(), 11);
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert_store_valid(&store, &by_bytes);

    // A two-server loop (A → B → A) is the same.
    let b_url = std::sync::Arc::new(Mutex::new(String::new()));
    let b_for_a = b_url.clone();
    let a = TestServer::start(Vec::new(), move |_, _| {
        Action::Redirect(b_for_a.lock().unwrap().clone())
    })
    .await;
    let a_url = a.url("/a.gguf");
    let b = TestServer::start(Vec::new(), move |_, _| Action::Redirect(a_url.clone())).await;
    *b_url.lock().unwrap() = b.url("/b.gguf");
    let e = entry("tiny", &body, vec![url_source(a.url("/a.gguf"))]);
    let err = downloader(&store)
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::RedirectLoop { .. }), "{err}");
}

#[derive(Default)]
struct Messages(Mutex<Vec<String>>);

impl Reporter for Messages {
    fn message(&self, msg: &str) {
        self.0.lock().unwrap().push(msg.to_string());
    }
}

/// A slow but steady server is not a stall: its pauses are shorter than the read timeout.
/// When it then stops sending, the read timeout ends the attempt and the retry resumes
/// from what arrived.
#[tokio::test]
async fn issue8_slow_server_that_stalls_times_out_then_resumes() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let body = tiny_gguf(BODY_LEN);
    const BEFORE_STALL: usize = 160 * 1024; // 10 chunks of 16 KiB
    let server = TestServer::start(body.clone(), |i, _| {
        if i == 0 {
            Action::SlowThenStall(Duration::from_millis(150), BEFORE_STALL)
        } else {
            Action::Serve
        }
    })
    .await;
    let e = entry("tiny", &body, vec![url_source(server.url("/tiny.gguf"))]);
    let opts = DownloadOptions {
        read_timeout: Duration::from_millis(1000),
        ..fast_options()
    };
    let reporter = Messages::default();
    let t0 = Instant::now();
    let model = Downloader::new(store.clone(), opts)
        .unwrap()
        .download(&e, &reporter)
        .await
        .unwrap();
    assert_verified(&model, &body);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "one stall, one resume: {reqs:?}");
    // Everything sent before the stall arrived despite the 150 ms gaps, and was kept.
    assert_eq!(reqs[1].range_start(), Some(BEFORE_STALL as u64));
    let messages = reporter.0.lock().unwrap().join("\n");
    assert!(messages.contains("timed out"), "{messages}");
    assert!(
        messages.contains("resuming") || messages.contains("retrying"),
        "{messages}"
    );
    // 10 gaps of 150 ms, then the 1 s timeout: well under the 60 s the server would hold.
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
}

/// `cache gc --all` while a download runs: the in-progress partial (its lock is held) is
/// left alone, and the download completes and verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue8_gc_during_a_download_leaves_it_intact() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let (_by, by_bytes) = cache_bystander(&store, home.path()).await;
    // A stale partial of some other download, which gc must remove.
    let stale = store
        .models_dir()
        .join("partials")
        .join(format!("sha256-{}.partial", "ab".repeat(32)));
    std::fs::write(&stale, b"stale").unwrap();

    let body = tiny_gguf(BODY_LEN);
    // 32 chunks, 50 ms apart: about 1.6 s of transfer.
    let server =
        TestServer::start(body.clone(), |_, _| Action::Slow(Duration::from_millis(50))).await;
    let e = entry("tiny", &body, vec![url_source(server.url("/tiny.gguf"))]);
    let d = downloader(&store);
    let download = tokio::spawn(async move { d.download(&e, &NoopReporter).await });

    let partial = partial_of(&store, &body);
    let deadline = Instant::now() + Duration::from_secs(20);
    while file_len(&partial) < 64 * 1024 {
        assert!(Instant::now() < deadline, "the download never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let gc_store = store.clone();
    let report = tokio::task::spawn_blocking(move || {
        gc_store.gc(&GcOptions {
            all_partials: true,
            ..Default::default()
        })
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        report.skipped_in_use.contains(&partial),
        "the running download's partial was not recognised: {report:?}"
    );
    assert!(!report.removed.contains(&partial), "{report:?}");
    assert!(report.removed.contains(&stale), "{report:?}");
    assert!(partial.exists());
    assert!(
        file_len(&partial) < body.len() as u64,
        "gc ran after the download"
    );

    let model = download.await.unwrap().unwrap();
    assert_verified(&model, &body);
    assert_eq!(server.requests().len(), 1, "not restarted");
    // And the store is consistent afterwards: both models, nothing for gc to do.
    assert_eq!(store.list().unwrap().len(), 2);
    assert_eq!(
        std::fs::read(store.lookup("bystander").unwrap().unwrap().path).unwrap(),
        by_bytes
    );
    let report = store
        .gc(&GcOptions {
            all_partials: true,
            ..Default::default()
        })
        .unwrap();
    assert!(report.removed.is_empty(), "{report:?}");
}
