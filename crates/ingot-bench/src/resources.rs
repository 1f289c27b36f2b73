//! Resources and machine facts, read from /proc (Linux; elsewhere the values are absent).
//!
//! - **Peak RSS and PSS** of the serving process: sampled every 50 ms from
//!   `/proc/<pid>/smaps_rollup` while a model is benchmarked (in-process: ingot's own process,
//!   so the harness's own few MB are included; with an endpoint: `--server-pid`).
//! - **CPU time**: user + system time of the serving process over the measured scenarios
//!   (`/proc/<pid>/stat`), reported per 1,000 output tokens.
//! - **Energy estimate**: CPU seconds × watts per busy core (`--watts-per-core`, default
//!   [`DEFAULT_WATTS_PER_CORE`]). One CPU-second is one core busy for one second, so this is a
//!   first-order estimate of the package power attributable to the work, not a measurement.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Default power of one busy core, in watts (a mid-range laptop/desktop x86 core at load).
pub const DEFAULT_WATTS_PER_CORE: f64 = 10.0;

/// Memory of a process: (RSS, PSS) in bytes, from smaps_rollup (RSS falls back to statm).
pub fn memory(pid: u32) -> Option<(u64, Option<u64>)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok();
    let field = |name: &str| -> Option<u64> {
        let t = text.as_ref()?;
        t.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    if let Some(rss) = field("Rss:") {
        return Some((rss, field("Pss:")));
    }
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some((pages * page_size(), None))
}

fn page_size() -> u64 {
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

fn clock_ticks() -> f64 {
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// User + system CPU seconds of a process so far.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// Samples a process's peak RSS and PSS on a background thread until stopped.
pub struct MemorySampler {
    stop: Arc<AtomicBool>,
    peak_rss: Arc<AtomicU64>,
    peak_pss: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MemorySampler {
    pub fn start(pid: u32, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_rss = Arc::new(AtomicU64::new(0));
        let peak_pss = Arc::new(AtomicU64::new(0));
        let sample = {
            let (rss, pss) = (peak_rss.clone(), peak_pss.clone());
            move || {
                if let Some((r, p)) = memory(pid) {
                    rss.fetch_max(r, Ordering::Relaxed);
                    if let Some(p) = p {
                        pss.fetch_max(p, Ordering::Relaxed);
                    }
                }
            }
        };
        sample();
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("ingot-bench-mem".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        sample();
                        std::thread::sleep(every);
                    }
                    sample();
                })
                .ok()
        };
        Self {
            stop,
            peak_rss,
            peak_pss,
            thread,
        }
    }

    /// Stops sampling; returns (peak RSS, peak PSS) in bytes, when known.
    pub fn finish(mut self) -> (Option<u64>, Option<u64>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let nz = |v: u64| (v > 0).then_some(v);
        (
            nz(self.peak_rss.load(Ordering::Relaxed)),
            nz(self.peak_pss.load(Ordering::Relaxed)),
        )
    }
}

impl Drop for MemorySampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Asks the kernel to drop `path` from the page cache (posix_fadvise DONTNEED), so the next
/// load reads from disk. Returns whether the call succeeded; pages still mapped elsewhere stay.
pub fn drop_page_cache(path: &Path) -> bool {
    use std::os::unix::io::AsRawFd;
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let _ = f.sync_all();
    let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    r == 0
}

/// The machine, for manifests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MachineInfo {
    pub cpu_model: Option<String>,
    pub logical_cores: usize,
    pub physical_cores: usize,
    pub ram_bytes: Option<u64>,
    pub gpu: Option<String>,
    pub os: String,
    pub kernel: Option<String>,
    pub arch: String,
    /// 1-minute load average when the run started.
    pub load_avg_1m: Option<f64>,
    /// The load average exceeded the logical cores: numbers may be disturbed.
    pub busy: bool,
}

pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Collects machine facts (cheap; reads /proc and /etc/os-release).
pub fn machine_info() -> MachineInfo {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| {
            l.starts_with("model name") || l.starts_with("Hardware") || l.starts_with("Model")
        })
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string());
    let ram_bytes = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024);
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("PRETTY_NAME="))
                .map(|l| l["PRETTY_NAME=".len()..].trim_matches('"').to_string())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string());
    let gpu = std::fs::read_dir("/proc/driver/nvidia/gpus")
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .and_then(|e| std::fs::read_to_string(e.path().join("information")).ok())
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Model:"))
                .map(|l| l["Model:".len()..].trim().to_string())
        });
    let logical_cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let load_avg_1m = load_average();
    MachineInfo {
        cpu_model,
        logical_cores,
        physical_cores: ingot_engine::physical_cores(),
        ram_bytes,
        gpu,
        os,
        kernel,
        arch: std::env::consts::ARCH.to_string(),
        load_avg_1m,
        busy: load_avg_1m.is_some_and(|l| l > logical_cores as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_resources() {
        let pid = std::process::id();
        let (rss, _) = memory(pid).unwrap();
        assert!(rss > 1 << 20);
        assert!(cpu_seconds(pid).is_some());
        let s = MemorySampler::start(pid, Duration::from_millis(5));
        let v = vec![1u8; 8 << 20];
        std::thread::sleep(Duration::from_millis(30));
        let (peak, _) = s.finish();
        assert!(peak.unwrap() >= rss);
        drop(v);
        let m = machine_info();
        assert!(m.logical_cores >= 1);
        let f = tempfile::NamedTempFile::new().unwrap();
        assert!(drop_page_cache(f.path()));
    }
}
