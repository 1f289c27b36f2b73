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
//! {"pid": 4242, "url": "http://127.0.0.1:5273", "started": "2026-01-01T12:00:00Z", "version": "0.1.0",
//!  "process_start": 123456, "shutdown_token": "..."}
//! ```
//!
//! The last two are optional: the pid-reuse guard, and the secret of the server's shutdown
//! route, which `ingot service stop` uses where there are no signals (Windows). The file is
//! written readable by its owner only (Unix; on Windows the home folder's ACL already is).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod process;

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
    /// The process's start time (Linux: clock ticks since boot, from `/proc/PID/stat`;
    /// Windows: its creation time in 100 ns units since 1601; macOS: microseconds since the
    /// epoch), so a pid reused by an unrelated process after the service died is not mistaken
    /// for it (and `ingot service stop` never signals or ends that process). Absent in older
    /// files, where only the pid is checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_start: Option<u64>,
    /// The secret that lets `ingot service stop` ask the server to shut down gracefully
    /// (`POST /ingot/shutdown`, see [`request_shutdown`]) where there are no signals: set by
    /// `ingot service start`. The file is readable by its owner only (Unix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_token: Option<String>,
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
            shutdown_token: None,
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
        // It may hold the shutdown token: the owner's only.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
                .map_err(io(&tmp))?;
        }
        // Retried while a client reads the old file (Windows).
        ingot_core::files::replace_file(&tmp, path).map_err(io(path))
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
    /// It exited after SIGTERM or the shutdown request (or was already gone).
    Gracefully,
    /// It was still running after the grace period and was killed (SIGKILL, or
    /// `TerminateProcess` on Windows).
    Killed,
}

pub use process::{pid_alive, process_start};

/// Stops the service `status` describes and waits up to `grace` for it to exit gracefully,
/// then kills it. [`ServiceStatus::is_alive`] checks the recorded start time too, so a pid
/// reused by an unrelated process is never signalled or ended.
///
/// - Unix: SIGTERM, then SIGKILL. Errors: the SIGTERM could not be sent.
/// - Windows (no signals): `POST /ingot/shutdown` with the status file's shutdown token
///   ([`request_shutdown`]), then `TerminateProcess`, on a handle whose creation time is
///   checked again (the pid cannot be reused while the handle is open). Without a token
///   (a service started by an older ingot) it is ended at once. Errors: ending it failed.
pub fn stop(status: &ServiceStatus, grace: std::time::Duration) -> std::io::Result<Stopped> {
    if !status.is_alive() {
        return Ok(Stopped::Gracefully);
    }
    let asked = process::ask_to_stop(status)?;
    let deadline = std::time::Instant::now() + grace;
    while asked && status.is_alive() {
        if std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if !status.is_alive() {
        return Ok(Stopped::Gracefully);
    }
    process::kill(status)?;
    Ok(Stopped::Killed)
}

/// Asks the server at `url` (`http://127.0.0.1:PORT`) to shut down gracefully:
/// `POST /ingot/shutdown` with `Authorization: Bearer <token>` (a plain HTTP/1.1 request on a
/// loopback socket: no runtime needed). Ok once the server accepted (202).
pub fn request_shutdown(url: &str, token: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
    let authority = url
        .strip_prefix("http://")
        .ok_or_else(|| invalid(format!("not an http:// URL: {url}")))?
        .split('/')
        .next()
        .unwrap_or_default();
    let timeout = std::time::Duration::from_secs(5);
    let addr = authority
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| invalid(format!("no address for {authority}")))?;
    let mut conn = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    conn.set_read_timeout(Some(timeout))?;
    conn.set_write_timeout(Some(timeout))?;
    write!(
        conn,
        "POST /ingot/shutdown HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        match conn.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    let line = String::from_utf8_lossy(&head[..n]);
    match line.split_whitespace().nth(1) {
        Some("202") | Some("200") => Ok(()),
        other => Err(std::io::Error::other(format!(
            "the service refused the shutdown request (HTTP {})",
            other.unwrap_or("?")
        ))),
    }
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

    /// Issue 19: the shutdown request `service stop` sends where there are no signals.
    #[test]
    fn the_shutdown_request_carries_the_token_and_needs_a_202() {
        use std::io::{Read, Write};
        let serve_once = |answer: &'static str| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let server = std::thread::spawn(move || {
                let (mut c, _) = listener.accept().unwrap();
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.ends_with(b"\r\n\r\n") {
                    let n = c.read(&mut buf).unwrap();
                    assert!(n > 0);
                    req.extend_from_slice(&buf[..n]);
                }
                c.write_all(answer.as_bytes()).unwrap();
                String::from_utf8(req).unwrap()
            });
            (url, server)
        };
        let (url, server) = serve_once("HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n");
        request_shutdown(&url, "s3cret").unwrap();
        let req = server.join().unwrap();
        assert!(
            req.starts_with("POST /ingot/shutdown HTTP/1.1\r\n"),
            "{req}"
        );
        assert!(
            req.contains("\r\nAuthorization: Bearer s3cret\r\n"),
            "{req}"
        );
        let (url, server) = serve_once("HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n");
        let e = request_shutdown(&url, "wrong").unwrap_err();
        assert!(e.to_string().contains("401"), "{e}");
        server.join().unwrap();
        assert!(request_shutdown("https://127.0.0.1:1", "t").is_err());
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
