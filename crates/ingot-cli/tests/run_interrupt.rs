//! Ctrl+C in `ingot model run` stops the answer, not the program (issue 19: "as on Linux";
//! scripts/windows-cross.sh checks the same under wine with a console control event). The
//! real engine answers; SIGINT is what a terminal sends on Ctrl+C.
#![cfg(unix)]

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;
use common::*;

#[test]
fn ctrl_c_stops_a_one_shot_answer_and_the_program_exits_cleanly() {
    let home = home_with_smollm2();
    let mut child = ingot_process(home.path())
        .args([
            "model",
            "run",
            "smollm2-135m",
            "--prompt",
            "Tell me a very long story about a lighthouse keeper and the sea.",
            "--max-tokens",
            "2000",
            "--temperature",
            "0",
            "--threads",
            "1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Some of the answer first: the handler must interrupt a running generation.
    let mut stdout = child.stdout.take().unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 256];
    while answer.len() < 40 {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "the answer ended before Ctrl+C");
        answer.extend_from_slice(&buf[..n]);
    }
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let sent = Instant::now();
    let reader = std::thread::spawn(move || {
        let _ = stdout.read_to_end(&mut answer);
        answer
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(30),
            "still running 30 s after Ctrl+C"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let answer = reader.join().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(stderr.contains("(stopped)"), "{stderr}");
    // 2000 tokens would be several kilobytes; stopping early leaves far less.
    assert!(answer.len() < 4000, "{} bytes", answer.len());
}
