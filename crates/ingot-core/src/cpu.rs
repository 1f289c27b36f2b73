//! CPU topology: the default thread count is the number of *physical* cores.
//!
//! llama.cpp's matrix kernels saturate a core's SIMD units, so hyper-threads add contention
//! rather than throughput; llama-bench and llama-cli default to physical cores for that reason,
//! and so do we (so `ingot bench engine` and llama-bench compare like for like).

use std::collections::HashSet;

/// Physical cores usable by this process: distinct (package, core) pairs from
/// `/proc/cpuinfo` on Linux, capped by the CPUs this process may run on. Falls back to the
/// logical CPU count where the topology is unknown (other platforms).
pub fn physical_cores() -> usize {
    let logical = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    match linux_physical_cores() {
        Some(n) => n.clamp(1, logical),
        None => logical,
    }
}

#[cfg(target_os = "linux")]
fn linux_physical_cores() -> Option<usize> {
    count_physical(&std::fs::read_to_string("/proc/cpuinfo").ok()?)
}

/// Elsewhere the topology is not read (yet): the logical count stands in.
#[cfg(not(target_os = "linux"))]
fn linux_physical_cores() -> Option<usize> {
    None
}

/// Async worker threads for a server whose inference uses `inference_threads` threads
/// (`None`: the default, all physical cores): the logical CPUs the inference leaves free,
/// at least 1 and at most 4.
///
/// Why not one per core, tokio's default: serving is light work next to inference, and on a
/// machine whose cores all run llama.cpp, extra runtime workers only preempt its compute
/// threads. Measured on 2 cores against llama-server at concurrency 8 (issue 4): aggregate
/// tok/s ratio 0.98-1.00 with 2 workers, 1.02-1.04 with 1.
pub fn server_io_threads(inference_threads: Option<usize>) -> usize {
    let logical = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let inference = inference_threads.unwrap_or_else(physical_cores);
    logical.saturating_sub(inference).clamp(1, 4)
}

/// Counts distinct `(physical id, core id)` pairs; `None` if the file lacks that information
/// (e.g. some ARM kernels), in which case the caller falls back to logical CPUs.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn count_physical(cpuinfo: &str) -> Option<usize> {
    let mut cores = HashSet::new();
    let mut physical: Option<&str> = None;
    let mut core: Option<&str> = None;
    // Each processor block ends with a blank line; handle the last block without one too.
    for line in cpuinfo.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if let Some(c) = core {
                cores.insert((physical.unwrap_or("0").to_string(), c.to_string()));
            }
            physical = None;
            core = None;
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "physical id" => physical = Some(value.trim()),
            "core id" => core = Some(value.trim()),
            _ => {}
        }
    }
    (!cores.is_empty()).then_some(cores.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyperthreads_are_counted_once() {
        let info = "processor\t: 0\nphysical id\t: 0\ncore id\t\t: 0\n\n\
                    processor\t: 1\nphysical id\t: 0\ncore id\t\t: 1\n\n\
                    processor\t: 2\nphysical id\t: 0\ncore id\t\t: 0\n\n\
                    processor\t: 3\nphysical id\t: 0\ncore id\t\t: 1\n";
        assert_eq!(count_physical(info), Some(2));
    }

    #[test]
    fn two_sockets() {
        let info = "physical id: 0\ncore id: 0\n\nphysical id: 1\ncore id: 0\n\n";
        assert_eq!(count_physical(info), Some(2));
    }

    #[test]
    fn no_topology() {
        assert_eq!(count_physical("processor: 0\nBogoMIPS: 50\n"), None);
    }

    #[test]
    fn server_io_threads_are_the_leftover_cores_within_1_to_4() {
        let logical = std::thread::available_parallelism().unwrap().get();
        assert_eq!(server_io_threads(Some(logical)), 1);
        assert_eq!(server_io_threads(Some(logical + 8)), 1);
        assert_eq!(server_io_threads(Some(0)), logical.min(4));
    }

    #[test]
    fn physical_cores_is_positive() {
        assert!(physical_cores() >= 1);
    }
}
