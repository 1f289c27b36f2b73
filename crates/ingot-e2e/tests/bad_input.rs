//! Issue 8: the committed bad-input corpus, `tests/corpus/bad_input/` (see
//! `common/corpus.rs` for its format), against the scripted engine. Its real-engine pass is
//! `bad_input_real_engine.rs`.
//!
//! The server runs with an API key, 1 s header and body timeouts and the scripted engine
//! (a second one without a key takes the `keyless` cases); a panic hook (forcing
//! backtraces, as `RUST_BACKTRACE=1` would) and a capture of the server's log at INFO
//! (stricter than `ingot serve`'s default WARN) check that nothing panicked, and that no log
//! line holds the API key or a prompt.

mod common;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::corpus::{self, Engine, API_KEY, BODY_TIMEOUT, HEADER_TIMEOUT, PROMPT_MARKER};
use common::{start_with, test_config, Script};

/// Everything the server logs, at INFO, for the whole test binary.
fn log_capture() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer_buf = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || LogWriter(writer_buf.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        buf
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Counts panics anywhere in the process, with a forced backtrace each.
fn panic_log() -> Arc<Mutex<Vec<String>>> {
    static PANICS: OnceLock<Arc<Mutex<Vec<String>>>> = OnceLock::new();
    PANICS
        .get_or_init(|| {
            let panics = Arc::new(Mutex::new(Vec::new()));
            let p = panics.clone();
            let default = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let bt = std::backtrace::Backtrace::force_capture();
                p.lock().unwrap().push(format!("{info}\n{bt}"));
                default(info);
            }));
            panics
        })
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue8_bad_input_corpus_exact_statuses_no_panic_no_secrets_in_logs() {
    let panics = panic_log();
    let log = log_capture();
    let cases = corpus::load().cases;

    let config = ingot_server::ServerConfig {
        api_key: Some(API_KEY.into()),
        header_read_timeout: HEADER_TIMEOUT,
        body_read_timeout: BODY_TIMEOUT,
        ..test_config()
    };
    let s = start_with(config.clone(), Script::default()).await;
    let keyless = start_with(
        ingot_server::ServerConfig {
            api_key: None,
            ..config
        },
        Script::default(),
    )
    .await;

    // A few at a time: the slow cases wait for timeouts, the big ones move 20 MB.
    let run = corpus::run(
        cases,
        Engine::Mock,
        s.handle.local_addr(),
        keyless.handle.local_addr(),
        8,
        Duration::from_secs(30),
    )
    .await;
    run.assert_all_as_expected(Engine::Mock);
    let checked = run.checked;

    // The server is unharmed: healthy, serving, nothing left running.
    let ok = s
        .client
        .post(s.url("/v1/chat/completions"))
        .bearer_auth(API_KEY)
        .json(&common::chat_body("tiny-chat"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        common::eventually(Duration::from_secs(5), || async {
            let m = s
                .client
                .get(s.url("/metrics"))
                .bearer_auth(API_KEY)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            m.contains("\ningot_requests_active 0\n")
        })
        .await
    );

    let panics = panics.lock().unwrap().clone();
    assert!(panics.is_empty(), "panics:\n{}", panics.join("\n----\n"));
    let log = String::from_utf8_lossy(&log.lock().unwrap()).to_string();
    assert!(
        log.contains("request done"),
        "the log capture saw nothing:\n{log}"
    );
    for needle in ["panicked", API_KEY, PROMPT_MARKER] {
        assert!(!log.contains(needle), "the log holds {needle:?}:\n{log}");
    }
    eprintln!(
        "{checked} corpus cases as expected; {} log lines scanned",
        log.lines().count()
    );
}
