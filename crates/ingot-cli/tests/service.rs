//! Issue 4: `ingot serve`, `ingot service start|status|stop` and `ingot model load|unload|ps`,
//! end to end through the binary, each test in its own INGOT_HOME. Every server a test
//! starts is killed by a guard when the test ends, pass or fail.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
use common::*;

/// Whether `pid` is a running process (an exited but unreaped one counts as gone).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Kills the background service of a home (whatever pid its status file names) on drop.
struct ServiceGuard(PathBuf);

impl ServiceGuard {
    fn status(&self) -> Option<Value> {
        let bytes = std::fs::read(self.0.join("service/status.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

impl Drop for ServiceGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.status().and_then(|s| s["pid"].as_u64()) {
            if running(pid as u32) {
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
    }
}

/// A foreground `ingot serve`, killed on drop unless the test waited for it.
struct ServeChild(Child);

impl Drop for ServeChild {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `http://127.0.0.1:PORT` out of a line such as "... at http://127.0.0.1:PORT/v1 (pid N)".
fn base_url(line: &str) -> String {
    let start = line
        .find("http://")
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    let url = line[start..].split_whitespace().next().unwrap();
    let base = url.trim_end_matches("/v1");
    let port: u16 = base
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    assert_ne!(port, 0, "port 0 must be replaced by the real port: {line}");
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    base.to_string()
}

#[test]
fn issue4_service_start_status_load_ps_chat_unload_stop() {
    let home = home_with_smollm2();
    let guard = ServiceGuard(home.path().to_path_buf());

    // Nothing runs yet.
    let out = stdout_of(ingot(home.path()).args(["service", "status"]));
    assert!(out.contains("not running"), "{out}");
    let v = json_of(stdout_of(
        ingot(home.path()).args(["service", "status", "--json"]),
    ));
    assert_eq!(v["running"], false, "{v}");

    // Start: it prints the real URL (port 0 picks one) and returns while the service runs.
    let out = stdout_of(ingot(home.path()).args([
        "service",
        "start",
        "--port",
        "0",
        "--threads",
        "2",
        "--parallel",
        "2",
        "--ctx-size",
        "2048",
        "--max-tokens-cap",
        "64",
    ]));
    let first = out.lines().next().unwrap_or_default();
    assert!(first.contains("started"), "{out}");
    let base = base_url(first);
    let status = guard.status().expect("status file written");
    let pid = status["pid"].as_u64().unwrap() as u32;
    assert_eq!(status["url"], base.as_str(), "{status}");
    assert!(first.contains(&format!("pid {pid}")), "{out}");
    assert!(running(pid));
    assert!(
        out.contains(&home.path().join("service/ingot.log").display().to_string()),
        "{out}"
    );

    // A second start refuses and names the running one.
    let err = ingot(home.path())
        .args(["service", "start", "--port", "0"])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8_lossy(&err);
    assert!(
        err.contains("already running") && err.contains(&base),
        "{err}"
    );

    // Status: url, pid, uptime.
    let out = stdout_of(ingot(home.path()).args(["service", "status"]));
    assert!(out.contains(&format!("{base}/v1")), "{out}");
    assert!(out.contains(&format!("pid:     {pid}")), "{out}");
    assert!(out.contains("uptime:"), "{out}");
    assert!(out.contains("no models loaded"), "{out}");
    let v = json_of(stdout_of(
        ingot(home.path()).args(["service", "status", "--json"]),
    ));
    assert_eq!(v["running"], true, "{v}");
    assert_eq!(v["url"], format!("{base}/v1"), "{v}");
    assert_eq!(v["pid"], pid, "{v}");
    assert!(v["uptime_s"].as_i64().unwrap() >= 0, "{v}");
    assert_eq!(v["loaded"], json!([]), "{v}");

    // Load, then ps lists it (table and JSON); status shows it too.
    let out = stdout_of(ingot(home.path()).args(["model", "load", "smollm2-135m", "--ttl", "300"]));
    assert!(out.contains("loaded smollm2-135m"), "{out}");
    assert!(out.contains("300 s"), "{out}");
    let out = stdout_of(ingot(home.path()).args(["model", "ps"]));
    assert!(out.contains("smollm2-135m"), "{out}");
    assert!(out.contains("unloads in"), "{out}");
    let v = json_of(stdout_of(
        ingot(home.path()).args(["model", "ps", "--json"]),
    ));
    let models = v.as_array().expect("ps --json is a list");
    assert_eq!(models.len(), 1, "{v}");
    assert_eq!(models[0]["id"], "smollm2-135m", "{v}");
    assert_eq!(models[0]["n_parallel"], 2, "{v}");
    assert_eq!(models[0]["context_length"], 2048, "{v}");
    assert!(models[0]["size"].as_u64().unwrap() > 50_000_000, "{v}");
    assert!(models[0]["expires_at"].as_i64().is_some(), "{v}");
    let out = stdout_of(ingot(home.path()).args(["service", "status"]));
    assert!(out.contains("smollm2-135m"), "{out}");

    // A chat completion over HTTP.
    let v: Value = runtime().block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{base}/v1/chat/completions"))
            .json(&json!({
                "model": "smollm2-135m",
                "temperature": 0,
                "max_tokens": 24,
                "messages": [
                    {"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": "What is the capital of France?"},
                ],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    });
    let answer = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(answer.contains("Paris"), "{v}");
    // Every serve option reaches the service (they travel as one serialized type): the
    // --max-tokens-cap given to `service start` refuses a larger max_tokens.
    let status = runtime().block_on(async {
        reqwest::Client::new()
            .post(format!("{base}/v1/chat/completions"))
            .json(&json!({"model": "smollm2-135m", "max_tokens": 65,
                          "messages": [{"role": "user", "content": "Hi"}]}))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 400);
    assert!(
        v["usage"]["completion_tokens"].as_u64().unwrap() >= 1,
        "{v}"
    );

    // Unload; ps is empty again. Unloading an unknown alias fails with the server's reason.
    let out = stdout_of(ingot(home.path()).args(["model", "unload", "smollm2-135m"]));
    assert!(out.contains("unloaded smollm2-135m"), "{out}");
    let out = stdout_of(ingot(home.path()).args(["model", "ps"]));
    assert!(out.contains("no models loaded"), "{out}");
    let v = json_of(stdout_of(
        ingot(home.path()).args(["model", "ps", "--json"]),
    ));
    assert_eq!(v, json!([]));
    let err = ingot(home.path())
        .args(["model", "unload", "no-such-model"])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8_lossy(&err);
    assert!(err.contains("404"), "{err}");

    // Stop: the process goes away and status says so.
    // (In containers whose PID 1 does not reap orphans, the exited service lingers as a
    // zombie: `stop` must see it as gone rather than wait out its grace period and kill.)
    let t0 = Instant::now();
    let out = ingot(home.path())
        .args(["service", "stop"])
        .assert()
        .success()
        .get_output()
        .clone();
    let (out, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.contains(&format!("stopped (pid {pid})")), "{out}");
    assert!(!err.contains("killing"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    assert!(!running(pid), "pid {pid} still running after stop");
    assert!(!home.path().join("service/status.json").exists());
    let out = stdout_of(ingot(home.path()).args(["service", "status"]));
    assert!(out.contains("not running"), "{out}");
    let out = stdout_of(ingot(home.path()).args(["service", "stop"]));
    assert!(out.contains("not running"), "{out}");
    // It shut down gracefully: its log says so.
    let log = std::fs::read_to_string(home.path().join("service/ingot.log")).unwrap();
    assert!(log.contains("shutting down"), "{log}");

    // With no service, the client commands say how to start one.
    let err = ingot(home.path())
        .args(["model", "ps", "--endpoint", &base])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8_lossy(&err);
    assert!(err.contains("ingot service start"), "{err}");
}

#[test]
fn issue4_serve_refuses_a_public_host_without_an_api_key() {
    let home = tempfile::tempdir().unwrap();
    let out = ingot(home.path())
        .args(["serve", "--host", "0.0.0.0", "--port", "0"])
        .timeout(Duration::from_secs(60))
        .assert()
        .failure()
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("0.0.0.0") && stderr.contains("API key") && stderr.contains("--api-key"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // `service start` fails the same way, with the reason from the log, and leaves nothing.
    let guard = ServiceGuard(home.path().to_path_buf());
    let out = ingot(home.path())
        .args(["service", "start", "--host", "0.0.0.0", "--port", "0"])
        .timeout(Duration::from_secs(60))
        .assert()
        .failure()
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("API key"), "{stderr}");
    assert!(guard.status().is_none());
}

fn sdk_available() -> bool {
    StdCommand::new("python3")
        .args(["-c", "import openai"])
        .status()
        .is_ok_and(|s| s.success())
}

/// `ingot serve --port 0` in the foreground: prints its URL, serves SmolLM2-135M to the
/// official OpenAI Python SDK (tests/python/openai_smollm2.py), and exits 0 on SIGTERM.
#[test]
fn issue4_serve_foreground_with_the_openai_python_client_exits_0_on_sigterm() {
    let home = home_with_smollm2();
    let child = StdCommand::new(assert_cmd::cargo::cargo_bin("ingot"))
        .args(["serve", "--port", "0", "--threads", "2", "--parallel", "2"])
        .args(["--ctx-size", "2048"])
        .env("INGOT_HOME", home.path())
        .env_remove("INGOT_CATALOG")
        .env_remove("INGOT_LOG")
        .env_remove("INGOT_HOST")
        .env_remove("INGOT_PORT")
        .env_remove("INGOT_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = ServeChild(child);
    // Drained as it comes, so a chatty server never blocks on a full pipe.
    let mut stderr_pipe = child.0.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr_pipe, &mut s);
        s
    });
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("serving"), "{line:?}");
    let base = base_url(&line);
    assert!(line.contains(&format!("pid {}", child.0.id())), "{line}");

    let health = runtime().block_on(async {
        reqwest::get(format!("{base}/health"))
            .await
            .unwrap()
            .status()
    });
    assert_eq!(health, 200);

    if sdk_available() {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/openai_smollm2.py"
        );
        let out = StdCommand::new("python3")
            .arg(script)
            .arg(&base)
            .output()
            .expect("run python3");
        let py_out = String::from_utf8_lossy(&out.stdout);
        let py_err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && py_out.contains("OK"),
            "stdout:\n{py_out}\nstderr:\n{py_err}"
        );
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with the openai package is required in CI"
        );
        eprintln!("skipping the SDK part: python3 -c 'import openai' failed (pip install openai)");
    }

    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let exited = wait_until(Duration::from_secs(30), || {
        matches!(child.0.try_wait(), Ok(Some(_)))
    });
    assert!(exited, "ingot serve did not exit within 30 s of SIGTERM");
    let status = child.0.wait().unwrap();
    let stderr = stderr.join().unwrap();
    assert!(status.success(), "{status}; stderr:\n{stderr}");
    assert!(stderr.contains("shutting down"), "{stderr}");
}

/// A SIGTERM as soon as the URL is printed still shuts down gracefully (exit 0): the
/// handlers are in place before the server announces itself.
#[test]
fn issue4_serve_exits_0_on_an_immediate_sigterm() {
    let home = tempfile::tempdir().unwrap();
    for _ in 0..3 {
        let child = StdCommand::new(assert_cmd::cargo::cargo_bin("ingot"))
            .args(["serve", "--port", "0"])
            .env("INGOT_HOME", home.path())
            .env_remove("INGOT_CATALOG")
            .env_remove("INGOT_HOST")
            .env_remove("INGOT_PORT")
            .env_remove("INGOT_API_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = ServeChild(child);
        let mut line = String::new();
        BufReader::new(child.0.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        base_url(&line);
        unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
        assert!(wait_until(Duration::from_secs(20), || matches!(
            child.0.try_wait(),
            Ok(Some(_))
        )));
        let status = child.0.wait().unwrap();
        assert!(status.success(), "{status}");
    }
}

/// The `ingot serve` processes running for `home` (by their command line).
fn serve_processes(home: &std::path::Path) -> Vec<u32> {
    let home = home.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).to_string())
                .collect();
            args.iter().any(|a| a == "serve") && args.iter().any(|a| a == &home) && running(pid)
        })
        .collect()
}

/// Issue 12: two `service start` at once give one service (the start lock spans the check
/// and the spawn); the other start says it is already running.
#[test]
fn concurrent_service_starts_give_one_service() {
    let home = tempfile::tempdir().unwrap();
    let guard = ServiceGuard(home.path().to_path_buf());
    let start = || {
        let mut c = StdCommand::new(assert_cmd::cargo::cargo_bin("ingot"));
        c.env("INGOT_HOME", home.path());
        for var in [
            "INGOT_CATALOG",
            "INGOT_TRUST_CATALOG",
            "INGOT_LOG",
            "INGOT_HOST",
            "INGOT_PORT",
            "INGOT_API_KEY",
        ] {
            c.env_remove(var);
        }
        c.args(["service", "start", "--port", "0", "--threads", "2"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    let outcomes = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let started: Vec<_> = outcomes.iter().filter(|o| o.status.success()).collect();
    assert_eq!(
        started.len(),
        1,
        "{}\n---\n{}",
        text(&outcomes[0]),
        text(&outcomes[1])
    );
    let refused = outcomes.iter().find(|o| !o.status.success()).unwrap();
    assert!(
        text(refused).contains("already running"),
        "{}",
        text(refused)
    );
    let pid = guard.status().expect("status file")["pid"]
        .as_u64()
        .unwrap() as u32;
    assert!(text(started[0]).contains(&format!("pid {pid}")));
    assert_eq!(serve_processes(home.path()), vec![pid]);

    stdout_of(ingot(home.path()).args(["service", "stop"]));
    assert!(wait_until(Duration::from_secs(10), || !running(pid)));
}

/// Issue 12: a server that shuts down removes the status file only if it is still its own:
/// one that another process wrote meanwhile survives.
#[test]
fn serve_removes_only_its_own_status_file() {
    let home = tempfile::tempdir().unwrap();
    let status = home.path().join("status.json");
    let start = || {
        let mut cmd = serve_command(home.path(), &[]);
        cmd.args(["--threads", "2", "--status-file"]).arg(&status);
        let serve = ServeChild(
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let pid = serve.0.id();
        assert!(
            wait_until(Duration::from_secs(60), || {
                std::fs::read(&status)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .is_some_and(|v| v["pid"] == pid)
            }),
            "ingot serve did not write its status file"
        );
        serve
    };
    let stop = |mut serve: ServeChild| {
        unsafe { libc::kill(serve.0.id() as i32, libc::SIGTERM) };
        assert!(serve.0.wait().unwrap().success());
    };

    // Another server (here: this test process, which runs) took the file over.
    let serve = start();
    let other = json!({
        "pid": std::process::id(),
        "url": "http://127.0.0.1:9",
        "started": "2026-01-01T00:00:00Z",
        "version": "0.1.0",
    });
    std::fs::write(&status, other.to_string()).unwrap();
    stop(serve);
    let left: Value = serde_json::from_slice(&std::fs::read(&status).unwrap()).unwrap();
    assert_eq!(left, other);

    // Its own file, it removes.
    std::fs::remove_file(&status).unwrap();
    let serve = start();
    stop(serve);
    assert!(!status.exists());
}
