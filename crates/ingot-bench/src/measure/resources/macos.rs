//! macOS readings, from `proc_pid_rusage` and `sysctl` (libc).
//!
//! - RSS is the resident size; there is no PSS. Private memory is the physical footprint
//!   (what Activity Monitor shows as "Memory").
//! - CPU time is user + system time, in Mach absolute time units (nanoseconds on Intel,
//!   ~41.7 ns ticks on Apple silicon), converted with `mach_timebase_info`.
//! - No page cache to drop per file (`F_NOCACHE` only affects new reads): cold loads are warm.

use std::path::Path;

use super::ProcessMemory;

fn rusage(pid: u32) -> Option<libc::rusage_info_v2> {
    let pid = i32::try_from(pid).ok().filter(|p| *p > 0)?;
    // SAFETY: rusage_info_v2 is plain data, filled whole by a successful call for V2.
    let mut info: libc::rusage_info_v2 = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::proc_pid_rusage(
            pid,
            libc::RUSAGE_INFO_V2,
            (&mut info as *mut libc::rusage_info_v2).cast(),
        )
    };
    (r == 0).then_some(info)
}

/// The resident size (as RSS) and the physical footprint (its private, dirty and compressed
/// memory) of a process; no PSS.
pub fn memory(pid: u32) -> Option<ProcessMemory> {
    rusage(pid).map(|r| ProcessMemory {
        rss: r.ri_resident_size,
        pss: None,
        private: Some(r.ri_phys_footprint),
    })
}

/// Nanoseconds per Mach absolute time unit.
#[allow(deprecated)] // libc points to the mach2 crate; this one call is all ingot needs.
fn ns_per_tick() -> Option<f64> {
    let mut tb = libc::mach_timebase_info { numer: 0, denom: 0 };
    // SAFETY: fills the struct passed.
    let r = unsafe { libc::mach_timebase_info(&mut tb) };
    (r == 0 && tb.denom != 0).then(|| f64::from(tb.numer) / f64::from(tb.denom))
}

/// User + system CPU seconds of a process so far.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let r = rusage(pid)?;
    Some((r.ri_user_time + r.ri_system_time) as f64 * ns_per_tick()? / 1e9)
}

pub fn load_average() -> Option<f64> {
    let mut avg = [0f64; 3];
    // SAFETY: writes at most 3 doubles.
    (unsafe { libc::getloadavg(avg.as_mut_ptr(), 3) } >= 1).then_some(avg[0])
}

/// Not possible per file on macOS (`purge` drops everything and needs root).
pub fn drop_page_cache(_path: &Path) -> bool {
    false
}

fn sysctl_bytes(name: &str) -> Option<Vec<u8>> {
    let name = std::ffi::CString::new(name).ok()?;
    let mut len: libc::size_t = 0;
    // SAFETY: the first call only measures; the second fills a buffer of that size.
    unsafe {
        if libc::sysctlbyname(
            name.as_ptr(),
            std::ptr::null_mut(),
            &mut len,
            std::ptr::null_mut(),
            0,
        ) != 0
        {
            return None;
        }
        let mut buf = vec![0u8; len];
        if libc::sysctlbyname(
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        ) != 0
        {
            return None;
        }
        buf.truncate(len);
        Some(buf)
    }
}

fn sysctl_string(name: &str) -> Option<String> {
    let b = sysctl_bytes(name)?;
    let s = String::from_utf8_lossy(b.split(|c| *c == 0).next()?)
        .trim()
        .to_string();
    (!s.is_empty()).then_some(s)
}

pub fn cpu_model() -> Option<String> {
    sysctl_string("machdep.cpu.brand_string")
}

pub fn ram_bytes() -> Option<u64> {
    let b = sysctl_bytes("hw.memsize")?;
    Some(u64::from_ne_bytes(b.get(..8)?.try_into().ok()?))
}

pub fn kernel() -> Option<String> {
    sysctl_string("kern.osrelease")
}

/// Not read yet: reports say "macos" (the target's name) and the Darwin release.
pub fn os_name() -> Option<String> {
    None
}

/// Apple GPUs are part of the chip (`cpu_model` names it).
pub fn gpu() -> Option<String> {
    None
}
