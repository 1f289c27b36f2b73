//! Windows readings, from the process and memory APIs (windows-sys).
//!
//! - RSS is the working set (`PROCESS_MEMORY_COUNTERS.WorkingSetSize`); there is no PSS.
//! - CPU time is kernel + user time from `GetProcessTimes`.
//! - The CPU's name is the registry's `ProcessorNameString` (what Task Manager shows); the
//!   kernel is the version `RtlGetVersion` gives (`10.0.<build>.<update>`: unlike
//!   `GetVersionEx` it is not capped by the manifest's compatibility entries), and the OS name
//!   is Windows 10 or 11 by that build, with the registry's `DisplayVersion` (`23H2`).
//! - No load average and no page cache to drop per file: those figures are unavailable
//!   (`None` / `false`).

use std::path::Path;

use super::ProcessMemory;

use windows_sys::Wdk::System::SystemServices::RtlGetVersion;
use windows_sys::Win32::Foundation::{CloseHandle, ERROR_SUCCESS, FILETIME, HANDLE};
use windows_sys::Win32::System::ProcessStatus::{
    K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS, PROCESS_MEMORY_COUNTERS_EX,
};
use windows_sys::Win32::System::Registry::{
    RegGetValueW, HKEY_LOCAL_MACHINE, RRF_RT_REG_DWORD, RRF_RT_REG_SZ,
};
use windows_sys::Win32::System::SystemInformation::{
    GlobalMemoryStatusEx, MEMORYSTATUSEX, OSVERSIONINFOW,
};
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

/// A NUL-terminated UTF-16 string for the wide Win32 functions.
fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// Reads value `value` of `key` under HKEY_LOCAL_MACHINE, of the type `flags` allows, into
/// `data` (`bytes`: its size in, what was written out). Whether it succeeded.
///
/// # Safety
/// `data` must be valid for writes of `*bytes` bytes.
unsafe fn registry_value(
    key: &str,
    value: &str,
    flags: u32,
    data: *mut std::ffi::c_void,
    bytes: &mut u32,
) -> bool {
    let (key, value) = (wide(key), wide(value));
    // SAFETY: NUL-terminated names; the caller vouches for `data` and `bytes`.
    let rc = unsafe {
        RegGetValueW(
            HKEY_LOCAL_MACHINE,
            key.as_ptr(),
            value.as_ptr(),
            flags,
            std::ptr::null_mut(),
            data,
            bytes,
        )
    };
    rc == ERROR_SUCCESS
}

/// A string value under HKEY_LOCAL_MACHINE; `None` when absent, empty or unreadable.
fn registry_string(key: &str, value: &str) -> Option<String> {
    // Processor names and version strings are short: one fixed buffer, no size query.
    let mut buf = [0u16; 256];
    let mut bytes = std::mem::size_of_val(&buf) as u32;
    // SAFETY: a buffer of `bytes` bytes; RRF_RT_REG_SZ makes the function NUL-terminate what
    // it writes or fail (ERROR_MORE_DATA).
    if !unsafe {
        registry_value(
            key,
            value,
            RRF_RT_REG_SZ,
            buf.as_mut_ptr().cast(),
            &mut bytes,
        )
    } {
        return None;
    }
    let n = (bytes as usize / 2).min(buf.len());
    let s = String::from_utf16_lossy(&buf[..n]);
    let s = s.trim_end_matches('\0').trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// A DWORD value under HKEY_LOCAL_MACHINE.
fn registry_dword(key: &str, value: &str) -> Option<u32> {
    let mut v = 0u32;
    let mut bytes = std::mem::size_of::<u32>() as u32;
    // SAFETY: a 4-byte out-parameter of that size.
    unsafe {
        registry_value(
            key,
            value,
            RRF_RT_REG_DWORD,
            (&mut v as *mut u32).cast(),
            &mut bytes,
        )
    }
    .then_some(v)
}

const CURRENT_VERSION: &str = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion";

/// The CPU's marketing name, as the firmware's CPUID brand string that Windows keeps in the
/// registry (processor 0: every core of a desktop CPU has the same).
pub fn cpu_model() -> Option<String> {
    registry_string(
        r"HARDWARE\DESCRIPTION\System\CentralProcessor\0",
        "ProcessorNameString",
    )
}

/// (major, minor, build) from `RtlGetVersion`, which, unlike `GetVersionExW`, reports the
/// real version whatever the manifest declares.
fn version() -> Option<(u32, u32, u32)> {
    let mut v = OSVERSIONINFOW {
        dwOSVersionInfoSize: std::mem::size_of::<OSVERSIONINFOW>() as u32,
        ..Default::default()
    };
    // SAFETY: an OSVERSIONINFOW with its size set; RtlGetVersion only fills it.
    let status = unsafe { RtlGetVersion(&mut v) };
    (status >= 0).then_some((v.dwMajorVersion, v.dwMinorVersion, v.dwBuildNumber))
}

/// The Windows version, `10.0.22631.4460`: major.minor.build, and the update revision (UBR)
/// when the registry has it.
pub fn kernel() -> Option<String> {
    let (major, minor, build) = version()?;
    Some(match registry_dword(CURRENT_VERSION, "UBR") {
        Some(ubr) => format!("{major}.{minor}.{build}.{ubr}"),
        None => format!("{major}.{minor}.{build}"),
    })
}

/// "Windows 11 23H2": Windows 11 still reports version 10.0 (and the registry's ProductName
/// still says "Windows 10"), so the name comes from the build number (22000 and later is 11).
/// Older versions appear under wine, whose prefixes may claim to be Windows 7 (6.1).
pub fn os_name() -> Option<String> {
    let (major, minor, build) = version()?;
    let name = match (major, minor, build) {
        (10, _, b) if b >= 22000 => "Windows 11".to_string(),
        (10, _, _) => "Windows 10".to_string(),
        (6, 3, _) => "Windows 8.1".to_string(),
        (6, 2, _) => "Windows 8".to_string(),
        (6, 1, _) => "Windows 7".to_string(),
        (m, n, _) => format!("Windows {m}.{n}"),
    };
    Some(match registry_string(CURRENT_VERSION, "DisplayVersion") {
        Some(d) => format!("{name} {d}"),
        None => name,
    })
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

pub fn gpu() -> Option<String> {
    None
}
