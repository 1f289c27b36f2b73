//! The status file of the detached service.
//!
//! `ingot service start` runs `ingot serve --status-file $INGOT_HOME/service/status.json`
//! in the background. The server writes the file once it listens (so the URL holds the real
//! port, even with `--port 0`) and removes it when it stops. Clients — `ingot service
//! status|stop`, `ingot model load|unload|ps`, and [`crate::Manager`] — find the running
//! service through it. A file whose process is gone is stale and removed by
//! [`live_status`]. A server removes the file only while it is its own
//! ([`remove_status_of`]), and `service start` holds a [`StartLock`] from its check for a
//! running service until the new one has written the file, so two starts give one service.
//!
//! The format (JSON):
//!
//! ```json
//! {"pid": 4242, "url": "http://127.0.0.1:5273", "started": "2026-01-01T12:00:00Z", "version": "0.1.0"}
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a running service records in `$INGOT_HOME/service/status.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// Process id of the server.
    pub pid: u32,
    /// Base URL, without `/v1` (`http://127.0.0.1:5273`).
    pub url: String,
    /// When the server started listening.
    #[serde(with = "time::serde::rfc3339")]
    pub started: time::OffsetDateTime,
    /// The ingot version that runs it.
    pub version: String,
    /// The process's start time (Linux: clock ticks since boot, from `/proc/PID/stat`), so a
    /// pid reused by an unrelated process after the service died is not mistaken for it (and
    /// `ingot service stop` never signals that process). Absent in older files and on other
    /// systems, where only the pid is checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_start: Option<u64>,
}

/// Why the status file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StatusFileError {
    /// The file exists but cannot be read, or its folder cannot be created.
    #[error("cannot access the service status file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a status file.
    #[error("corrupt service status file {path}: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

/// `$INGOT_HOME/service`: the status file and the service's log.
pub fn service_dir(home: &Path) -> PathBuf {
    home.join("service")
}

/// `$INGOT_HOME/service/status.json`.
pub fn status_path(home: &Path) -> PathBuf {
    service_dir(home).join("status.json")
}

/// `$INGOT_HOME/service/start.lock`: see [`StartLock`].
pub fn start_lock_path(home: &Path) -> PathBuf {
    service_dir(home).join("start.lock")
}

/// An exclusive lock on starting the service of one home, held by `ingot service start` from
/// its check that no service runs until the one it spawned has written its status file (or
/// failed). Without it, two starts at once both find no service and both spawn one (issue
/// 12). Released when dropped, or by the kernel when the process dies.
#[derive(Debug)]
pub struct StartLock(#[allow(dead_code)] std::fs::File);

impl StartLock {
    /// Takes the lock, waiting while another start holds it.
    pub fn acquire(home: &Path) -> Result<StartLock, StatusFileError> {
        let path = start_lock_path(home);
        let io = |source| StatusFileError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(service_dir(home)).map_err(io)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        file.lock().map_err(io)?;
        Ok(StartLock(file))
    }
}

/// Removes the status file at `path` only if it still describes the process of `status`
/// (same pid and, where recorded, start time). A server shutting down must not remove the
/// file of another server that has replaced it meanwhile (issue 12). Returns whether it
/// removed the file.
pub fn remove_status_of(path: &Path, status: &ServiceStatus) -> Result<bool, StatusFileError> {
    match ServiceStatus::read(path) {
        Ok(Some(s)) if s.pid == status.pid && s.process_start == status.process_start => {
            match std::fs::remove_file(path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(source) => Err(StatusFileError::Io {
                    path: path.to_path_buf(),
                    source,
                }),
            }
        }
        Ok(_) => Ok(false),
        // Not a status file (any more): not ours to remove either.
        Err(StatusFileError::Corrupt { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `$INGOT_HOME/service/starting`: the pid of an `ingot service start` still waiting for its
/// server to listen. Status queries made meanwhile wait for the start instead of reporting
/// "not running" (Foundry Local's SDK polls `foundry service status` right after launching
/// `foundry service start`, for about a second).
pub fn starting_path(home: &Path) -> PathBuf {
    service_dir(home).join("starting")
}

/// Marks a start in progress (see [`starting_path`]) until dropped.
pub struct StartingMarker(PathBuf);

impl StartingMarker {
    /// Writes this process's pid to the marker file.
    pub fn create(home: &Path) -> Result<Self, StatusFileError> {
        let path = starting_path(home);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StatusFileError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&path, std::process::id().to_string()).map_err(|source| {
            StatusFileError::Io {
                path: path.clone(),
                source,
            }
        })?;
        Ok(StartingMarker(path))
    }
}

impl Drop for StartingMarker {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Like [`live_status`], but while another process is starting the service (its marker is
/// there and its process alive) waits up to `timeout` for the start to finish.
pub fn live_status_after_start(
    home: &Path,
    timeout: std::time::Duration,
) -> Result<Option<ServiceStatus>, StatusFileError> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(s) = live_status(home)? {
            return Ok(Some(s));
        }
        let starter = std::fs::read_to_string(starting_path(home))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        match starter {
            Some(pid) if pid_alive(pid) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            _ => return Ok(None),
        }
    }
}

/// `$INGOT_HOME/service/ingot.log`: the detached service's stdout and stderr.
pub fn log_path(home: &Path) -> PathBuf {
    service_dir(home).join("ingot.log")
}

impl ServiceStatus {
    /// A status for this process, listening at `url`, starting now.
    pub fn for_this_process(url: impl Into<String>) -> Self {
        ServiceStatus {
            pid: std::process::id(),
            url: url.into(),
            started: time::OffsetDateTime::now_utc(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            process_start: process_start(std::process::id()),
        }
    }

    /// Reads the status file at `path`; `None` when there is none.
    pub fn read(path: &Path) -> Result<Option<ServiceStatus>, StatusFileError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|source| {
                StatusFileError::Corrupt {
                    path: path.to_path_buf(),
                    source,
                }
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StatusFileError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Writes the status file atomically (a reader never sees half a file).
    pub fn write(&self, path: &Path) -> Result<(), StatusFileError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StatusFileError::Io { path, source }
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let tmp = path.with_extension("json.tmp");
        // Serializing these plain fields cannot fail.
        let json = serde_json::to_vec_pretty(self).unwrap_or_default();
        std::fs::write(&tmp, json).map_err(io(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io(path))
    }

    /// Whether the process that wrote the file still runs: its pid exists and, where the
    /// file records it, has the same start time (it is the same process, not a reused pid).
    pub fn is_alive(&self) -> bool {
        pid_alive(self.pid)
            && match self.process_start {
                Some(start) => process_start(self.pid) == Some(start),
                None => true,
            }
    }
}

/// The status of the service of `home` if it is actually running. A stale file (its process
/// is gone) is removed.
pub fn live_status(home: &Path) -> Result<Option<ServiceStatus>, StatusFileError> {
    let path = status_path(home);
    match ServiceStatus::read(&path)? {
        Some(s) if s.is_alive() => Ok(Some(s)),
        Some(_) => {
            let _ = std::fs::remove_file(&path);
            Ok(None)
        }
        None => Ok(None),
    }
}

/// How [`stop`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It exited after SIGTERM (or was already gone).
    Gracefully,
    /// It was still running after the grace period and got SIGKILL.
    Killed,
}

/// Stops the service `status` describes: SIGTERM, then SIGKILL if it is still running after
/// `grace`. [`ServiceStatus::is_alive`] checks the recorded start time too, so a pid reused
/// by an unrelated process is never signalled. Errors: the SIGTERM could not be sent.
#[cfg(unix)]
pub fn stop(status: &ServiceStatus, grace: std::time::Duration) -> std::io::Result<Stopped> {
    let pid = match i32::try_from(status.pid) {
        Ok(p) if p > 0 && status.is_alive() => p,
        _ => return Ok(Stopped::Gracefully),
    };
    // SAFETY: plain signals to one pid, checked above to be the service.
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let deadline = std::time::Instant::now() + grace;
    while status.is_alive() {
        if std::time::Instant::now() > deadline {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return Ok(Stopped::Killed);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(Stopped::Gracefully)
}

/// Stopping a detached service is implemented with Unix signals only so far.
#[cfg(not(unix))]
pub fn stop(status: &ServiceStatus, _grace: std::time::Duration) -> std::io::Result<Stopped> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        format!(
            "stopping the service (pid {}) is not supported on this platform yet; end the process yourself",
            status.pid
        ),
    ))
}

/// Whether process `pid` exists (and is not a zombie).
#[cfg(unix)]
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        // 0 and negative values address process groups, not a process.
        return false;
    }
    // Signal 0 checks existence; EPERM still means the process exists.
    // SAFETY: kill with signal 0 sends nothing; it only checks the pid.
    let r = unsafe { libc::kill(pid, 0) };
    let exists = r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && !is_zombie(pid)
}

/// Without a process API for this platform yet, a recorded pid counts as alive; callers
/// then find out from the service's `/health` whether it answers.
#[cfg(not(unix))]
pub fn pid_alive(pid: u32) -> bool {
    pid > 0
}

/// A service that exited but was not reaped still answers signal 0. Its parent, `ingot
/// service start`, is long gone, and in containers PID 1 often does not reap orphans, so
/// without this check a dead service would count as running.
#[cfg(target_os = "linux")]
fn is_zombie(pid: i32) -> bool {
    // /proc/PID/stat is "PID (COMM) STATE ..."; COMM may hold spaces or parentheses.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')').and_then(|(_, rest)| {
                rest.split_whitespace()
                    .next()
                    .map(|st| st == "Z" || st == "X")
            })
        })
        .unwrap_or(false)
}

#[cfg(all(unix, not(target_os = "linux")))]
fn is_zombie(_pid: i32) -> bool {
    false
}

/// Field 22 of `/proc/PID/stat` (start time in clock ticks since boot); `None` where unknown.
#[cfg(target_os = "linux")]
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After "PID (COMM) " come fields 3.. ; starttime is field 22, the 20th after COMM.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Start times are only read on Linux.
#[cfg(not(target_os = "linux"))]
pub fn process_start(_pid: u32) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_stale_files() {
        let home = tempfile::tempdir().unwrap();
        assert!(live_status(home.path()).unwrap().is_none());
        let s = ServiceStatus::for_this_process("http://127.0.0.1:1234");
        s.write(&status_path(home.path())).unwrap();
        assert_eq!(live_status(home.path()).unwrap(), Some(s.clone()));
        // The CLI's format: these exact keys.
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(status_path(home.path())).unwrap()).unwrap();
        for k in ["pid", "url", "started", "version"] {
            assert!(v.get(k).is_some(), "{k} missing in {v}");
        }
        // A pid that cannot exist: the file is stale and goes away.
        let stale = ServiceStatus {
            pid: i32::MAX as u32,
            ..s
        };
        stale.write(&status_path(home.path())).unwrap();
        assert!(live_status(home.path()).unwrap().is_none());
        assert!(!status_path(home.path()).exists());
        // Garbage is reported, not ignored.
        std::fs::write(status_path(home.path()), b"{nope").unwrap();
        assert!(matches!(
            live_status(home.path()),
            Err(StatusFileError::Corrupt { .. })
        ));
        assert!(!pid_alive(0));
    }

    /// Issue 4: `service stop` must not signal an unrelated process that reused the pid.
    #[test]
    fn issue4_a_reused_pid_is_not_the_service() {
        let home = tempfile::tempdir().unwrap();
        let me = ServiceStatus::for_this_process("http://127.0.0.1:1234");
        assert!(me.process_start.is_some());
        assert!(me.is_alive());
        // Same pid (this test process is alive), different start time: another process.
        let reused = ServiceStatus {
            process_start: me.process_start.map(|t| t + 1),
            ..me.clone()
        };
        assert!(!reused.is_alive());
        reused.write(&status_path(home.path())).unwrap();
        assert!(live_status(home.path()).unwrap().is_none());
        assert!(!status_path(home.path()).exists());
        // Files written before start times were recorded still work (pid check only).
        let old: ServiceStatus = serde_json::from_str(&format!(
            r#"{{"pid": {}, "url": "http://127.0.0.1:1", "started": "2026-01-01T00:00:00Z", "version": "0.1.0"}}"#,
            std::process::id()
        ))
        .unwrap();
        assert_eq!(old.process_start, None);
        assert!(old.is_alive());
    }

    /// Issue 12: a server removes the status file only while it is its own.
    #[test]
    fn only_the_owner_removes_the_status_file() {
        let home = tempfile::tempdir().unwrap();
        let path = status_path(home.path());
        let me = ServiceStatus::for_this_process("http://127.0.0.1:1234");
        // Another process (PID 1 always runs) replaced it: it stays.
        let other = ServiceStatus {
            pid: 1,
            process_start: process_start(1),
            ..me.clone()
        };
        other.write(&path).unwrap();
        assert!(!remove_status_of(&path, &me).unwrap());
        assert_eq!(ServiceStatus::read(&path).unwrap(), Some(other));
        // Same pid, another start time (a reused pid): not ours either.
        let reused = ServiceStatus {
            process_start: me.process_start.map(|t| t + 1),
            ..me.clone()
        };
        reused.write(&path).unwrap();
        assert!(!remove_status_of(&path, &me).unwrap());
        assert!(path.exists());
        // Ours: removed; and nothing to remove is fine.
        me.write(&path).unwrap();
        assert!(remove_status_of(&path, &me).unwrap());
        assert!(!path.exists());
        assert!(!remove_status_of(&path, &me).unwrap());
    }

    /// Issue 12: a second start waits for the first to finish.
    #[test]
    fn the_start_lock_is_exclusive() {
        let home = tempfile::tempdir().unwrap();
        let first = StartLock::acquire(home.path()).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let h = home.path().to_path_buf();
        let second = std::thread::spawn(move || {
            let lock = StartLock::acquire(&h).unwrap();
            tx.send(()).unwrap();
            drop(lock);
        });
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(300))
            .is_err());
        drop(first);
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("the second start proceeds once the first is done");
        second.join().unwrap();
    }
}
