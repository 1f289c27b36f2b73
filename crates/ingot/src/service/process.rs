//! The service's process, per platform: whether a pid runs, when it started (the pid-reuse
//! guard), asking it to stop and killing it. Unix uses signals and (Linux) `/proc`; Windows
//! process handles; macOS `proc_pidinfo`. Elsewhere the start time is unknown (`None`) and
//! only the pid is checked.

use super::ServiceStatus;

/// Asks the service to shut down gracefully; whether it was asked (if not, [`kill`] follows
/// at once).
#[cfg(unix)]
pub(super) fn ask_to_stop(status: &ServiceStatus) -> std::io::Result<bool> {
    let pid = unix_pid(status.pid)?;
    // SAFETY: a plain signal to one pid, checked by the caller to be the service.
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(true)
}

/// Kills the service (it did not stop within the grace period).
#[cfg(unix)]
pub(super) fn kill(status: &ServiceStatus) -> std::io::Result<()> {
    let pid = unix_pid(status.pid)?;
    if status.is_alive() {
        // SAFETY: as above; checked again just now.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    Ok(())
}

#[cfg(unix)]
fn unix_pid(pid: u32) -> std::io::Result<i32> {
    match i32::try_from(pid) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("invalid pid {pid}"),
        )),
    }
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

/// Other Unixes: a zombie cannot be told apart here; it counts as running until reaped.
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

/// The start time of a process in microseconds since the epoch (`proc_pidinfo`'s BSD info).
#[cfg(target_os = "macos")]
pub fn process_start(pid: u32) -> Option<u64> {
    let pid = i32::try_from(pid).ok().filter(|p| *p > 0)?;
    // SAFETY: proc_bsdinfo is plain data; proc_pidinfo fills at most `size` bytes of it.
    let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::proc_bsdinfo>() as libc::c_int;
    let n = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDTBSDINFO,
            0,
            (&mut info as *mut libc::proc_bsdinfo).cast(),
            size,
        )
    };
    (n == size).then(|| info.pbi_start_tvsec * 1_000_000 + info.pbi_start_tvusec)
}

/// Start times are read on Linux, macOS and Windows only.
#[cfg(all(unix, not(any(target_os = "linux", target_os = "macos"))))]
pub fn process_start(_pid: u32) -> Option<u64> {
    None
}

#[cfg(windows)]
pub use windows::{ask_to_stop, kill, pid_alive, process_start};

#[cfg(windows)]
mod windows {
    use windows_sys::Win32::Foundation::{
        CloseHandle, ERROR_ACCESS_DENIED, FILETIME, HANDLE, STILL_ACTIVE,
    };
    use windows_sys::Win32::System::Threading::{
        GetExitCodeProcess, GetProcessTimes, OpenProcess, TerminateProcess,
        PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_TERMINATE,
    };

    use super::ServiceStatus;

    /// An open process handle, closed when dropped. While it is open the pid cannot be given
    /// to another process.
    struct Process(HANDLE);

    impl Process {
        fn open(pid: u32, access: u32) -> std::io::Result<Process> {
            if pid == 0 {
                return Err(std::io::Error::from_raw_os_error(87));
            }
            // SAFETY: OpenProcess returns null on failure; a handle it returns is ours.
            let h = unsafe { OpenProcess(access, 0, pid) };
            if h.is_null() {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(Process(h))
            }
        }

        /// Not exited yet. (A process that exited with code 259 reads as running: the API
        /// cannot tell them apart, and ingot never exits with it.)
        fn running(&self) -> bool {
            let mut code = 0u32;
            // SAFETY: a valid handle and a u32 out-parameter.
            let ok = unsafe { GetExitCodeProcess(self.0, &mut code) } != 0;
            ok && code == STILL_ACTIVE as u32
        }

        /// Creation time in 100 ns units since 1601.
        fn created(&self) -> Option<u64> {
            let mut t = [FILETIME::default(); 4];
            let [c, e, k, u] = &mut t;
            // SAFETY: a valid handle and four FILETIME out-parameters.
            let ok = unsafe { GetProcessTimes(self.0, c, e, k, u) } != 0;
            ok.then(|| (u64::from(c.dwHighDateTime) << 32) | u64::from(c.dwLowDateTime))
        }
    }

    impl Drop for Process {
        fn drop(&mut self) {
            // SAFETY: the handle is ours and closed once.
            unsafe { CloseHandle(self.0) };
        }
    }

    /// Whether process `pid` exists and has not exited.
    pub fn pid_alive(pid: u32) -> bool {
        match Process::open(pid, PROCESS_QUERY_LIMITED_INFORMATION) {
            Ok(p) => p.running(),
            // Another user's process (or a protected one): it exists.
            Err(e) => e.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32),
        }
    }

    /// The creation time of process `pid` (100 ns units since 1601); `None` where unknown.
    pub fn process_start(pid: u32) -> Option<u64> {
        Process::open(pid, PROCESS_QUERY_LIMITED_INFORMATION)
            .ok()?
            .created()
    }

    /// Windows has no SIGTERM for a detached console-less process: the server's own
    /// shutdown route, with the token from the status file.
    pub fn ask_to_stop(status: &ServiceStatus) -> std::io::Result<bool> {
        let Some(token) = &status.shutdown_token else {
            tracing::warn!(
                pid = status.pid,
                "the service's status file has no shutdown token; ending it"
            );
            return Ok(false);
        };
        match super::super::request_shutdown(&status.url, token) {
            Ok(()) => Ok(true),
            Err(e) => {
                tracing::warn!(
                    pid = status.pid,
                    "the shutdown request failed ({e}); ending it"
                );
                Ok(false)
            }
        }
    }

    /// Ends the service with `TerminateProcess`, if the pid is still the service's.
    pub fn kill(status: &ServiceStatus) -> std::io::Result<()> {
        let p = match Process::open(
            status.pid,
            PROCESS_TERMINATE | PROCESS_QUERY_LIMITED_INFORMATION,
        ) {
            Ok(p) => p,
            // Gone meanwhile.
            Err(_) if !pid_alive(status.pid) => return Ok(()),
            Err(e) => return Err(e),
        };
        // The handle pins the pid: if this is still the service, it is what gets ended.
        if !p.running() || status.process_start.is_some_and(|s| p.created() != Some(s)) {
            return Ok(());
        }
        // SAFETY: a valid handle opened with PROCESS_TERMINATE.
        if unsafe { TerminateProcess(p.0, 1) } == 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Neither Unix nor Windows: no process API; a recorded pid counts as alive and the service
/// cannot be stopped from here.
#[cfg(not(any(unix, windows)))]
mod other {
    use super::ServiceStatus;

    /// Any recorded pid counts as alive: there is no way to check it here.
    pub fn pid_alive(pid: u32) -> bool {
        pid > 0
    }

    /// Unknown here.
    pub fn process_start(_pid: u32) -> Option<u64> {
        None
    }

    /// Not supported here: an error saying so.
    pub fn ask_to_stop(status: &ServiceStatus) -> std::io::Result<bool> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!(
                "stopping the service (pid {}) is not supported on this platform; end the process yourself",
                status.pid
            ),
        ))
    }

    /// Not supported here: an error saying so.
    pub fn kill(status: &ServiceStatus) -> std::io::Result<()> {
        ask_to_stop(status).map(|_| ())
    }
}

#[cfg(not(any(unix, windows)))]
pub use other::{ask_to_stop, kill, pid_alive, process_start};
