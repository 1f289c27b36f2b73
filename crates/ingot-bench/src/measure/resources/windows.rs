//! Windows readings, from the process and memory APIs (windows-sys).
//!
//! - RSS is the working set (`PROCESS_MEMORY_COUNTERS.WorkingSetSize`); there is no PSS.
//! - CPU time is kernel + user time from `GetProcessTimes`.
//! - No load average, no page cache to drop per file, no kernel release string here: those
//!   figures are unavailable (`None` / `false`).

use std::path::Path;

use super::ProcessMemory;

use windows_sys::Win32::Foundation::{CloseHandle, FILETIME, HANDLE};
use windows_sys::Win32::System::ProcessStatus::{
    K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS, PROCESS_MEMORY_COUNTERS_EX,
};
use windows_sys::Win32::System::SystemInformation::{GlobalMemoryStatusEx, MEMORYSTATUSEX};
use windows_sys::Win32::System::Threading::{
    GetProcessTimes, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_VM_READ,
};

/// An open process handle, closed when dropped.
struct Process(HANDLE);

impl Process {
    fn open(pid: u32) -> Option<Process> {
        // SAFETY: OpenProcess returns null on failure; a handle it returns is ours to close.
        let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_VM_READ, 0, pid) };
        (!h.is_null()).then_some(Process(h))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // SAFETY: the handle is ours and closed once.
        unsafe { CloseHandle(self.0) };
    }
}

/// The memory counters of a process (working set, peak working set, private bytes).
fn counters(pid: u32) -> Option<PROCESS_MEMORY_COUNTERS_EX> {
    let p = Process::open(pid)?;
    let mut c = PROCESS_MEMORY_COUNTERS_EX {
        cb: std::mem::size_of::<PROCESS_MEMORY_COUNTERS_EX>() as u32,
        ..Default::default()
    };
    // SAFETY: the _EX struct starts with the plain one and `cb` gives its real size.
    let ok = unsafe {
        K32GetProcessMemoryInfo(
            p.0,
            (&mut c as *mut PROCESS_MEMORY_COUNTERS_EX).cast::<PROCESS_MEMORY_COUNTERS>(),
            c.cb,
        )
    } != 0;
    ok.then_some(c)
}

/// The working set (as RSS) and private bytes (the commit charge) of a process; no PSS.
pub fn memory(pid: u32) -> Option<ProcessMemory> {
    counters(pid).map(|c| ProcessMemory {
        rss: c.WorkingSetSize as u64,
        pss: None,
        private: Some(c.PrivateUsage as u64),
    })
}

fn filetime_100ns(t: &FILETIME) -> u64 {
    (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime)
}

/// Kernel + user CPU seconds of a process so far.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let p = Process::open(pid)?;
    let mut t = [FILETIME::default(); 4];
    let [created, exited, kernel, user] = &mut t;
    // SAFETY: a valid handle and four FILETIME out-parameters.
    let ok = unsafe { GetProcessTimes(p.0, created, exited, kernel, user) } != 0;
    ok.then(|| (filetime_100ns(kernel) + filetime_100ns(user)) as f64 / 1e7)
}

/// Windows keeps no load average.
pub fn load_average() -> Option<f64> {
    None
}

/// Windows cannot evict one file from its cache without administrator rights: cold loads
/// are then warm, and the manifest says the cache was not dropped.
pub fn drop_page_cache(_path: &Path) -> bool {
    false
}

/// The CPU's model name is in the registry, which is not read here.
pub fn cpu_model() -> Option<String> {
    None
}

/// Installed memory in bytes.
pub fn ram_bytes() -> Option<u64> {
    let mut m = MEMORYSTATUSEX {
        dwLength: std::mem::size_of::<MEMORYSTATUSEX>() as u32,
        ..Default::default()
    };
    // SAFETY: a MEMORYSTATUSEX with its length set.
    (unsafe { GlobalMemoryStatusEx(&mut m) } != 0).then_some(m.ullTotalPhys)
}

pub fn kernel() -> Option<String> {
    None
}

pub fn gpu() -> Option<String> {
    None
}
