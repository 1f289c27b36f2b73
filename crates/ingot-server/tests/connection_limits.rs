//! Issue 12 part 4: connections cannot lock clients out. Silent sockets are capped and make
//! room for real clients, idle connections are closed, busy ones are never cut for new
//! ones, and a stream whose client stopped reading is cancelled.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use ingot_server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Raises the soft file-descriptor limit to at least `want` (this process holds both ends
/// of every test socket). Returns false when the hard limit does not allow it.
#[cfg(unix)]
fn raise_fd_limit(want: u64) -> bool {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return false;
        }
        if lim.rlim_cur as u64 >= want {
            return true;
        }
        if (lim.rlim_max as u64) < want {
            return false;
        }
        lim.rlim_cur = want as libc::rlim_t;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0
    }
}

#[cfg(not(unix))]
fn raise_fd_limit(_want: u64) -> bool {
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_http2_prefaces_do_not_lock_clients_out() {
    const SILENT: usize = 1100;
    // Both ends of every socket live in this process, plus the test's own files.
    assert!(
        raise_fd_limit(2 * SILENT as u64 + 512),
        "this test needs {} file descriptors (RLIMIT_NOFILE)",
        2 * SILENT + 512
    );
    let s = start().await;
    let max = ServerConfig::default().max_connections;
    assert!(SILENT > max, "the test must exceed the default cap ({max})");
    let addr = s.handle.local_addr();
    let mut silent = Vec::with_capacity(SILENT);
    for _ in 0..SILENT {
        let mut c = TcpStream::connect(addr).await.expect("connect");
        c.write_all(H2_PREFACE).await.unwrap();
        silent.push(c);
    }
    // Let the server accept them all before a real client comes.
    let settled = eventually(Duration::from_secs(20), || async {
        s.metric("ingot_connections_shed_total").await >= (SILENT - max) as f64
    })
    .await;
    assert!(settled, "the server never reached its cap");

    // A real client, on a new connection, is served at once.
    let t0 = Instant::now();
    let r = reqwest::Client::new()
        .post(s.url("/v1/chat/completions"))
        .json(&chat_body("tiny"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("a legitimate request is answered while 1,100 silent sockets are open");
    assert_eq!(r.status(), 200);
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t0.elapsed()
    );
    let open = s.metric("ingot_connections_open").await;
    assert!(open <= max as f64, "{open} connections open, cap {max}");
    drop(silent);
}

#[tokio::test]
async fn busy_connections_are_never_cut_to_make_room() {
    let s = start_with(
        ServerConfig {
            max_connections: 2,
            ..test_config()
        },
        Script {
            token_delay: Duration::from_millis(300),
            ..Script::default()
        },
    )
    .await;
    let mut body = chat_body("tiny");
    body["stream"] = true.into();
    // Two streams, each on its own connection (own client), fill the cap.
    let streams: Vec<_> = (0..2)
        .map(|_| {
            let url = s.url("/v1/chat/completions");
            let body = body.clone();
            tokio::spawn(async move {
                let r = reqwest::Client::new()
                    .post(url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                r.text().await.unwrap()
            })
        })
        .collect();
    assert!(
        eventually(Duration::from_secs(5), || async {
            s.stats.last_request.lock().unwrap().is_some() && s.handle.metrics().active() == 2
        })
        .await
    );
    // A third connection finds both busy: it is closed, not served at their expense.
    let third = reqwest::Client::new()
        .get(s.url("/health"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(
        third.is_err(),
        "a connection beyond the cap was served: {third:?}"
    );
    for st in streams {
        let text = st.await.unwrap();
        assert!(
            text.trim_end().ends_with("data: [DONE]"),
            "a stream was cut: {text}"
        );
    }
    assert_eq!(s.stats.completed.load(Ordering::SeqCst), 2);
    assert_eq!(s.stats.cancelled.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let s = start_with(
        ServerConfig {
            idle_timeout: Duration::from_millis(300),
            ..test_config()
        },
        Script::default(),
    )
    .await;
    let addr = s.handle.local_addr();
    // HTTP/1 keep-alive after a request, and an HTTP/2 preface with nothing after it.
    let mut h1 = TcpStream::connect(addr).await.unwrap();
    h1.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut h2 = TcpStream::connect(addr).await.unwrap();
    h2.write_all(H2_PREFACE).await.unwrap();
    for (name, conn) in [("HTTP/1", &mut h1), ("HTTP/2", &mut h2)] {
        let t0 = Instant::now();
        let mut sink = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut sink)).await;
        assert!(closed.is_ok(), "{name}: the idle connection stayed open");
        assert!(
            t0.elapsed() >= Duration::from_millis(200),
            "{name}: closed too early"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_client_stopped_reading_is_cancelled() {
    // Long tokens fill the socket buffers quickly once the client stops reading; the
    // generation is long enough (about 20 s) that only the write timeout can end it early.
    let s = start_with(
        ServerConfig {
            write_timeout: Duration::from_secs(1),
            ..test_config()
        },
        Script {
            tokens: vec!["x".repeat(1000); 20_000],
            token_delay: Duration::from_millis(1),
            ..Script::default()
        },
    )
    .await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    // A small receive window, as a stalled client on a slow link has.
    socket.set_recv_buffer_size(4096).unwrap();
    let mut c = socket.connect(s.handle.local_addr()).await.unwrap();
    let mut body = chat_body("tiny");
    body["stream"] = true.into();
    let body = body.to_string();
    c.write_all(
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // Never read. The sequence must be cancelled well before the generation would end.
    let t0 = Instant::now();
    let cancelled = eventually(Duration::from_secs(15), || async {
        s.stats.cancelled.load(Ordering::SeqCst) == 1
    })
    .await;
    assert!(cancelled, "the stalled stream was not cancelled");
    assert_eq!(s.stats.completed.load(Ordering::SeqCst), 0);
    eprintln!("stalled stream cancelled after {:?}", t0.elapsed());
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_stream_the_client_stopped_reading_is_cancelled() {
    // Over HTTP/2 the connection stays healthy (the client's connection task answers pings
    // and takes other streams): only this stream's flow-control window fills.
    let s = start_with(
        ServerConfig {
            write_timeout: Duration::from_secs(1),
            ..test_config()
        },
        Script {
            tokens: vec!["x".repeat(1000); 20_000],
            token_delay: Duration::from_millis(1),
            ..Script::default()
        },
    )
    .await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let mut body = chat_body("tiny");
    body["stream"] = true.into();
    let stalled = client
        .post(s.url("/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(stalled.status(), 200);
    assert_eq!(stalled.version(), reqwest::Version::HTTP_2);
    // Never read `stalled`'s body.
    let cancelled = eventually(Duration::from_secs(15), || async {
        s.stats.cancelled.load(Ordering::SeqCst) == 1
    })
    .await;
    assert!(cancelled, "the stalled stream was not cancelled");
    assert_eq!(s.stats.completed.load(Ordering::SeqCst), 0);
    // The same connection still serves other requests.
    let r = client.get(s.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    drop(stalled);
}
