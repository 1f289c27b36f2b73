//! Issue 8: graceful shutdown of the real `ingot serve` (SmolLM2-135M) under SIGTERM while
//! streams run. The grace period is the server's default (10 s): streams that can finish
//! in it finish; those that cannot are ended near its end with a JSON error event
//! (`server_shutting_down`) and `[DONE]`; the listener closes at once; the process exits
//! 0 within the grace period.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
use common::*;

/// `ingot_server::ServerConfig::default().shutdown_timeout`.
const GRACE: Duration = Duration::from_secs(10);

/// `ingot serve --port 0 --threads 1 ARGS`. One thread: two OpenMP threads spinning at each
/// decode step's barrier crawl on a busy 2-core machine, and "short" must stay short there.
fn start_serve(home: &Path, args: &[&str]) -> Serve {
    let mut cmd = serve_command(home, &[]);
    cmd.args(["--threads", "1"]).args(args);
    Serve::spawn(cmd)
}

fn chat(max_tokens: u32, ignore_eos: bool) -> Value {
    json!({
        "model": "smollm2-135m",
        "stream": true,
        "temperature": 0,
        "max_tokens": max_tokens,
        "ignore_eos": ignore_eos,
        "messages": [{"role": "user", "content": "Tell me a long story about a lighthouse."}],
    })
}

/// A stream as it arrived: its `data:` payloads, and when it ended.
struct Received {
    events: Vec<String>,
    ended: Instant,
}

/// Starts a stream and returns once its first text chunk has arrived; the rest is read in
/// the background.
async fn start_stream(
    client: &reqwest::Client,
    base: &str,
    body: Value,
) -> tokio::task::JoinHandle<Received> {
    let mut r = client
        .post(format!("{base}/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut text = String::new();
    // Until a chunk with text after the role chunk: the sequence is decoding, not queued.
    while text.matches("data: ").count() < 2 {
        let chunk = r.chunk().await.unwrap().expect("stream ended early");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    tokio::spawn(async move {
        while let Ok(Some(chunk)) = r.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        let events = text
            .split("\n\n")
            .filter_map(|ev| ev.lines().find_map(|l| l.strip_prefix("data: ")))
            .map(str::to_string)
            .collect();
        Received {
            events,
            ended: Instant::now(),
        }
    })
}

fn has_error(events: &[String]) -> bool {
    events.iter().any(|e| e.contains("\"error\""))
}

#[test]
fn issue8_sigterm_finishes_short_streams_ends_long_ones_with_an_error_event_and_exits_0() {
    let home = home_with_smollm2();
    // 3 slots of 2048 tokens: two streams that cannot finish within the grace period
    // (1800 tokens, EOS ignored) and one that can (4 tokens, so even on a loaded machine).
    let mut serve = start_serve(home.path(), &["--parallel", "3", "--ctx-size", "6144"]);
    let base = serve.base.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();

    let (long, short) = rt.block_on(async {
        let a = start_stream(&client, &base, chat(1800, true)).await;
        let b = start_stream(&client, &base, chat(1800, true)).await;
        let c = start_stream(&client, &base, chat(4, true)).await;
        (vec![a, b], c)
    });
    let t_term = Instant::now();
    serve.sigterm();

    // The listener closes at once: new connections are refused while streams drain.
    std::thread::sleep(Duration::from_millis(500));
    let refused = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{base}/health"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_err()
    });
    assert!(refused, "a new connection was accepted after SIGTERM");

    let (status, _, stderr) = serve.wait_exit(GRACE + Duration::from_secs(10));
    let exited = t_term.elapsed();

    let short = rt.block_on(short).unwrap();
    assert!(
        !has_error(&short.events),
        "the short stream was cut: {:?}",
        short.events
    );
    assert_eq!(short.events.last().map(String::as_str), Some("[DONE]"));
    assert!(
        short
            .events
            .iter()
            .any(|e| e.contains("\"finish_reason\":\"length\"")),
        "{:?}",
        short.events
    );

    for h in long {
        let got = rt.block_on(h).unwrap();
        let n = got.events.len();
        assert!(n >= 4, "{:?}", got.events);
        assert_eq!(got.events[n - 1], "[DONE]", "{:?}", &got.events[n - 3..]);
        let err: Value = serde_json::from_str(&got.events[n - 2]).unwrap();
        assert_eq!(err["error"]["code"], "server_shutting_down", "{err}");
        assert_eq!(err["error"]["type"], "server_error", "{err}");
        assert!(!has_error(&got.events[..n - 2]), "{:?}", got.events);
        // Ended near the end of the grace period, not at once: they had their chance.
        let ended = got.ended.duration_since(t_term);
        assert!(
            ended > GRACE / 2 && ended < GRACE + Duration::from_secs(3),
            "long stream ended {ended:?} after SIGTERM"
        );
    }

    assert!(status.success(), "exit {status}; stderr:\n{stderr}");
    assert!(
        exited < GRACE + Duration::from_secs(5),
        "exited {exited:?} after SIGTERM"
    );
    assert!(stderr.contains("shutting down"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// When every stream can finish within the grace period, none is cut and the process
/// exits as soon as they are done.
#[test]
fn issue8_sigterm_with_short_streams_lets_them_finish() {
    let home = home_with_smollm2();
    let mut serve = start_serve(home.path(), &["--parallel", "2", "--ctx-size", "2048"]);
    let base = serve.base.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let streams = rt.block_on(async {
        vec![
            start_stream(&client, &base, chat(4, true)).await,
            start_stream(&client, &base, chat(4, true)).await,
        ]
    });
    let t_term = Instant::now();
    serve.sigterm();
    let (status, _, stderr) = serve.wait_exit(GRACE + Duration::from_secs(10));
    let exited = t_term.elapsed();
    for h in streams {
        let got = rt.block_on(h).unwrap();
        assert!(!has_error(&got.events), "{:?}", got.events);
        assert_eq!(got.events.last().map(String::as_str), Some("[DONE]"));
        assert!(
            got.events
                .iter()
                .any(|e| e.contains("\"finish_reason\":\"length\"")),
            "{:?}",
            got.events
        );
    }
    assert!(status.success(), "exit {status}; stderr:\n{stderr}");
    // Before the grace period's cut-off (8 s of 10): it ended when the streams did.
    assert!(
        exited < GRACE * 3 / 4,
        "waited {exited:?}: the shutdown did not end when the streams did"
    );
}
