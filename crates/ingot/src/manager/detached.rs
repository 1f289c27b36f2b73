//! A detached service: started by running `ingot service start` (within a timeout, the API
//! key passed through the environment) and stopped with SIGTERM, then SIGKILL (on Windows
//! through its shutdown route, then `TerminateProcess`: see [`service::stop`]).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::service::{self, ServiceStatus};

/// How long [`Manager::stop_service`](super::Manager::stop_service) waits for a detached service after SIGTERM before it
/// kills it (the service itself gives running requests 10 s).
const STOP_GRACE: Duration = Duration::from_secs(20);
/// How long a detached service may take to come up (it loads nothing at start).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `ingot --home HOME service start ARGS` and reads the status file it leaves.
pub(super) fn spawn_detached(
    bin: &Path,
    home: &Path,
    args: &[String],
    api_key: &Option<String>,
) -> Result<ServiceStatus> {
    let mut cmd = Command::new(bin);
    cmd.arg("--home")
        .arg(home)
        .args(["service", "start"])
        .args(args);
    // Through the environment, not argv, which any local user can read in ps.
    match api_key {
        Some(k) => cmd.env(ingot_catalog::env::INGOT_API_KEY, k),
        None => cmd.env_remove(ingot_catalog::env::INGOT_API_KEY),
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    // `service start` returns once the server listens (or fails); it enforces its own
    // start-up timeout, ours only guards against a hung executable.
    let child = cmd
        .spawn()
        .map_err(|e| Error::Start(format!("cannot run {}: {e}", bin.display())))?;
    let out = wait_with_timeout(child, START_TIMEOUT + Duration::from_secs(10))
        .map_err(|e| Error::Start(format!("{}: {e}", bin.display())))?;
    if !out.status.success() {
        return Err(Error::Start(format!(
            "`{} service start` failed ({}): {}{}",
            bin.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    match service::live_status(home)? {
        Some(s) => {
            tracing::info!(url = %s.url, pid = s.pid, secs = started.elapsed().as_secs_f64(), "started the ingot service");
            Ok(s)
        }
        None => Err(Error::Start(format!(
            "`{} service start` succeeded but left no live status file at {}",
            bin.display(),
            service::status_path(home).display()
        ))),
    }
}

fn wait_with_timeout(
    mut child: std::process::Child,
    timeout: Duration,
) -> std::io::Result<std::process::Output> {
    let deadline = Instant::now() + timeout;
    loop {
        if child.try_wait()?.is_some() {
            return child.wait_with_output();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("did not finish within {timeout:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGTERM, then SIGKILL after [`STOP_GRACE`].
pub(super) fn stop_process(status: &ServiceStatus) {
    if let Ok(service::Stopped::Killed) = service::stop(status, STOP_GRACE) {
        tracing::warn!(
            pid = status.pid,
            "the service did not stop within {STOP_GRACE:?}; it was killed"
        );
    }
}
