//! A judge endpoint with a query string (`http://host/v1?api-version=...`, as some hosted
//! deployments want) is asked at `/v1/chat/completions?api-version=...`: the path goes before
//! the query, as for benchmarked targets (issue 13: one URL rule for both clients).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

use ingot_bench::judge::{HttpJudge, JudgeBackend, JudgeParams};
use ingot_bench::workload::Message;

/// A one-request server that answers a chat completion and sends back the request line.
fn recording_server() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        tx.send(request_line.trim_end().to_string()).unwrap();
        let payload = serde_json::json!({"choices": [{"message": {"role": "assistant",
            "content": "{\"score\": 4, \"reason\": \"fine\"}"}}]})
        .to_string();
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            payload.len()
        );
    });
    (url, rx)
}

#[test]
fn the_chat_path_goes_before_the_endpoints_query() {
    let (url, requests) = recording_server();
    let judge = HttpJudge::new(&format!("{url}/v1?api-version=2024-06-01"), "judge", None).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer = rt
        .block_on(judge.complete(
            vec![Message {
                role: "user".into(),
                content: "Rate this.".into(),
            }],
            JudgeParams {
                temperature: 0.0,
                max_tokens: 64,
                seed: 1,
                timeout_s: 30.0,
            },
        ))
        .unwrap();
    assert!(answer.contains("score"), "{answer}");
    assert_eq!(
        requests.recv().unwrap(),
        "POST /v1/chat/completions?api-version=2024-06-01 HTTP/1.1"
    );
    // The query is not part of what reports show as the judge.
    assert!(
        !judge.describe().contains("api-version"),
        "{}",
        judge.describe()
    );
}
