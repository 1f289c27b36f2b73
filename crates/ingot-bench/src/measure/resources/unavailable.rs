//! Platforms without readings yet: every figure is unavailable (`None` / `false`), which
//! reports show as such, never as 0.

use std::path::Path;

use super::ProcessMemory;

/// The memory of a process: unavailable here.
pub fn memory(_pid: u32) -> Option<ProcessMemory> {
    None
}

/// CPU seconds of a process: unavailable here.
pub fn cpu_seconds(_pid: u32) -> Option<f64> {
    None
}

/// Dropping a file from the page cache: not done here (cold loads are then warm).
pub fn drop_page_cache(_path: &Path) -> bool {
    false
}

/// The load average: unavailable here.
pub fn load_average() -> Option<f64> {
    None
}

pub fn cpu_model() -> Option<String> {
    None
}

pub fn ram_bytes() -> Option<u64> {
    None
}

pub fn kernel() -> Option<String> {
    None
}

/// No name beyond the target's (`std::env::consts::OS`, which machine_info falls back to).
pub fn os_name() -> Option<String> {
    None
}

pub fn gpu() -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_platform_without_readings_reports_every_figure_unavailable() {
        let pid = std::process::id();
        assert_eq!(memory(pid), None);
        assert_eq!(cpu_seconds(pid), None);
        assert!(!drop_page_cache(Path::new(".")));
        assert_eq!(load_average(), None);
        assert_eq!(
            (cpu_model(), ram_bytes(), kernel(), gpu(), os_name()),
            (None, None, None, None, None)
        );
    }
}
