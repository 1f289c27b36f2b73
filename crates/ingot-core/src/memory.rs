//! Will a model fit? An estimate of the memory a load takes, read from the GGUF header
//! before anything is loaded, and the memory there is to take it from (issue 12 part 1b).
//!
//! The estimate is the sum of
//! - the weights: the tensor data of the file (llama.cpp maps it and touches all of it);
//! - the KV cache: `n_ctx` cells (every slot's share) × per layer `(n_head_kv × (key_length +
//!   value_length))` f16 values, as llama.cpp sizes it (its sliding-window layers get the full
//!   size too: `swa_full` is on by default);
//! - compute and output buffers, the vocabulary's tables and the backend's fixed cost: what
//!   the load really touches, calibrated on the catalog's models (`ingot-cli`'s
//!   `memory_limit` tests compare the estimate with the resident memory a load adds).
//!
//! What is available: `--max-memory` when given (it is the budget, whatever the machine has),
//! else the memory the OS says it can hand out (`MemAvailable`, and a cgroup limit when one
//! applies); on platforms where that is unknown the check is skipped.

use std::path::Path;

pub use crate::error::{human_bytes, MemorySource};
pub use crate::types::MemoryEstimate;
use crate::types::{EngineError, LoadOptions};

/// llama.cpp pads each sequence's context to a multiple of this.
const CTX_PAD: u64 = 256;
/// The physical batch the engine uses at most (see `LlamaLoadedModel::load`).
const MAX_UBATCH: u64 = 512;

/// Estimates the memory loading `path` with `opts` takes, from its GGUF header alone.
/// A draft model (`opts.draft`, when speculation is on) counts too: it is a second model
/// whose context has the same geometry as the model's (its sequence `i` mirrors slot `i`).
pub fn estimate_memory(path: &Path, opts: &LoadOptions) -> Result<MemoryEstimate, EngineError> {
    estimate_with_draft(&crate::gguf::validate(path)?.header, opts)
}

/// [`estimate_memory`] for the model's header already read; the draft model's, if any, is
/// read here. What the engine checks before it loads.
pub fn estimate_with_draft(
    h: &ingot_gguf::GgufHeader,
    opts: &LoadOptions,
) -> Result<MemoryEstimate, EngineError> {
    let mut estimate = estimate_from_header(h, opts);
    if let Some(draft) = opts
        .draft
        .as_deref()
        .filter(|_| opts.speculative != crate::Speculative::Off)
    {
        let d = estimate_from_header(&crate::gguf::validate(draft)?.header, opts);
        estimate.weights = estimate.weights.saturating_add(d.weights);
        estimate.kv_cache = estimate.kv_cache.saturating_add(d.kv_cache);
        estimate.compute = estimate.compute.saturating_add(d.compute);
    }
    Ok(estimate)
}

/// One model's estimate from its header, without a draft model.
pub fn estimate_from_header(h: &ingot_gguf::GgufHeader, opts: &LoadOptions) -> MemoryEstimate {
    let n_par = opts.n_parallel.clamp(1, 256) as u64;
    let n_ctx_train = h
        .context_length
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(crate::DEFAULT_CTX_PER_SEQ);
    let per_seq = match opts.context_length {
        Some(total) => u64::from(total) / n_par,
        None => u64::from(n_ctx_train.clamp(64, crate::DEFAULT_CTX_PER_SEQ)),
    };
    let per_seq = per_seq.div_ceil(CTX_PAD) * CTX_PAD;
    let n_ctx = per_seq.saturating_mul(n_par);

    let n_layer = h.hparam("block_count").unwrap_or(0);
    let n_embd = h.hparam("embedding_length").unwrap_or(0);
    let n_head = h.hparam("attention.head_count").unwrap_or(0).max(1);
    let layers = usize::try_from(n_layer).unwrap_or(0).min(4096);
    let head_kv = h
        .hparam_per_layer("attention.head_count_kv", layers)
        .or_else(|| h.hparam_per_layer("attention.head_count", layers))
        .unwrap_or_default();
    let k_len = h.hparam("attention.key_length").unwrap_or(n_embd / n_head);
    let v_len = h
        .hparam("attention.value_length")
        .unwrap_or(n_embd / n_head);
    // f16: 2 bytes per value.
    let per_cell: u64 = head_kv
        .iter()
        .map(|&kv| kv.saturating_mul(k_len + v_len).saturating_mul(2))
        .sum();
    let kv_cache = per_cell.saturating_mul(n_ctx);

    let n_vocab = h.vocab_size.unwrap_or(32_000);
    let n_ff = h.hparam("feed_forward_length").unwrap_or(4 * n_embd);
    let n_ubatch = u64::from(opts.batch_size).clamp(1, MAX_UBATCH);
    // llama.cpp reserves its compute buffer for a ubatch whose every row has logits
    // (n_vocab floats each: 512 MiB for Gemma 3's vocabulary), but the engine asks for the
    // logits of one row per sequence, so those pages are never touched and cost no memory.
    // What is used: the logits of one batch (the output buffer), one ubatch's activations
    // (residual stream, attention and FFN intermediates; flash attention keeps no score
    // matrix), the vocabulary's tables (token texts, scores, merges), and the backend's
    // own fixed cost. Calibrated on the catalog's models (debug `ingot serve`, 4 slots):
    // smollm2-135m 494 MiB measured, gemma3-270m 615, qwen2.5-coder-0.5b 781.
    let output = n_vocab * 4 * n_par;
    let activations = n_ubatch * 4 * (4 * n_embd + n_ff);
    let vocab_tables = n_vocab * 200;
    const RUNTIME: u64 = 24 << 20;
    MemoryEstimate {
        weights: h.data_size,
        kv_cache,
        compute: output + activations + vocab_tables + RUNTIME,
        n_ctx: u32::try_from(n_ctx).unwrap_or(u32::MAX),
        n_parallel: n_par as usize,
    }
}

/// Memory the OS can hand out now: on Linux `MemAvailable`, capped by a cgroup v2 limit (a
/// container) when one is set; on Windows the available physical memory
/// (`GlobalMemoryStatusEx`); on macOS the free pages plus those the kernel can take back
/// without swapping (file-backed and purgeable ones, `sysctl vm.page_*_count`). `None` where
/// this is unknown (other platforms, or a reading that fails), and the check is skipped.
pub fn available_memory() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
        let avail = meminfo.lines().find_map(|l| {
            let kb = l.strip_prefix("MemAvailable:")?.trim().strip_suffix("kB")?;
            kb.trim().parse::<u64>().ok().map(|k| k * 1024)
        })?;
        let read = |p: &str| std::fs::read_to_string(p).ok()?.trim().parse::<u64>().ok();
        let cgroup = read("/sys/fs/cgroup/memory.max")
            .zip(read("/sys/fs/cgroup/memory.current"))
            .map(|(max, cur)| max.saturating_sub(cur));
        Some(cgroup.map_or(avail, |c| c.min(avail)))
    }
    #[cfg(windows)]
    {
        use windows_sys::Win32::System::SystemInformation::{GlobalMemoryStatusEx, MEMORYSTATUSEX};
        let mut m = MEMORYSTATUSEX {
            dwLength: std::mem::size_of::<MEMORYSTATUSEX>() as u32,
            ..Default::default()
        };
        // SAFETY: a MEMORYSTATUSEX with its length set, filled by the call.
        (unsafe { GlobalMemoryStatusEx(&mut m) } != 0).then_some(m.ullAvailPhys)
    }
    #[cfg(target_os = "macos")]
    {
        // Like Linux's MemAvailable: free pages (the speculative ones included) and the pages
        // that can be dropped rather than compressed or swapped: file-backed (the file cache,
        // re-read from disk when needed) and purgeable ones.
        // SAFETY: sysconf only reads a constant.
        let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
        let free = sysctl_count(c"vm.page_free_count")?;
        let file_backed = sysctl_count(c"vm.page_pageable_external_count").unwrap_or(0);
        let purgeable = sysctl_count(c"vm.page_purgeable_count").unwrap_or(0);
        (page > 0).then(|| (free + file_backed + purgeable) * page)
    }
    #[cfg(not(any(target_os = "linux", windows, target_os = "macos")))]
    {
        None
    }
}

/// An unsigned number read with `sysctlbyname` (the kernel's `vm.page_*_count` are 32-bit;
/// a 64-bit one is read too).
#[cfg(target_os = "macos")]
fn sysctl_count(name: &std::ffi::CStr) -> Option<u64> {
    let mut buf = [0u8; 8];
    let mut len: libc::size_t = buf.len();
    // SAFETY: the kernel writes at most `len` bytes into `buf` and sets `len` to what it wrote.
    let r = unsafe {
        libc::sysctlbyname(
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    match (r, len) {
        (0, 4) => Some(u64::from(u32::from_ne_bytes(buf[..4].try_into().ok()?))),
        (0, 8) => Some(u64::from_ne_bytes(buf)),
        _ => None,
    }
}

/// Checks that `estimate` fits in `max_memory` when given, else in [`available_memory`].
pub fn check_fits(
    path: &Path,
    estimate: &MemoryEstimate,
    max_memory: Option<u64>,
) -> Result<(), EngineError> {
    let (available, source) = match max_memory {
        Some(m) => (m, MemorySource::Limit),
        None => match available_memory() {
            Some(a) => (a, MemorySource::Free),
            None => return Ok(()),
        },
    };
    if estimate.total() <= available {
        return Ok(());
    }
    Err(EngineError::InsufficientMemory {
        path: path.to_path_buf(),
        needed: estimate.total(),
        available,
        limit: source,
        detail: format!(
            "weights {}, KV cache {} for {} tokens of context over {} slot(s), buffers {}",
            human_bytes(estimate.weights),
            human_bytes(estimate.kv_cache),
            estimate.n_ctx,
            estimate.n_parallel,
            human_bytes(estimate.compute)
        ),
    })
}

/// A memory size that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid memory size `{input}`: expected a number with an optional unit, e.g. 512MB, 2GiB or 1.5G (K/M/G/T and KiB/MiB/GiB/TiB are powers of 1024, KB/MB/GB/TB powers of 1000)")]
pub struct MemorySizeError {
    pub input: String,
}

/// [`parse_memory_size`], or `0` (a zero-size budget: the feature is off).
pub fn parse_memory_size_or_zero(s: &str) -> Result<u64, MemorySizeError> {
    if s.trim() == "0" {
        Ok(0)
    } else {
        parse_memory_size(s)
    }
}

/// Parses `50MB`, `2GiB`, `1.5G`, `1048576`: KB/MB/GB/TB are decimal, K/M/G/T and
/// KiB/MiB/GiB/TiB binary (as Docker and Kubernetes read `512M`); case-insensitive.
pub fn parse_memory_size(s: &str) -> Result<u64, MemorySizeError> {
    let err = || MemorySizeError {
        input: s.to_string(),
    };
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.parse().map_err(|_| err())?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024f64.powi(2),
        "g" | "gib" => 1024f64.powi(3),
        "t" | "tib" => 1024f64.powi(4),
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        _ => return Err(err()),
    };
    let bytes = num * mult;
    if !bytes.is_finite() || bytes < 1.0 || bytes >= u64::MAX as f64 {
        return Err(err());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_parse_like_docker_and_si() {
        assert_eq!(parse_memory_size("50MB"), Ok(50_000_000));
        assert_eq!(parse_memory_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_memory_size("512m"), Ok(512 << 20));
        assert_eq!(parse_memory_size(" 1.5G "), Ok(3 << 29));
        assert_eq!(parse_memory_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_memory_size("4 kb"), Ok(4000));
        for bad in ["", "MB", "-5MB", "0", "1.2.3G", "5XB", "nanG", "1e400"] {
            assert!(parse_memory_size(bad).is_err(), "{bad}");
        }
        let e = parse_memory_size("lots").unwrap_err().to_string();
        assert!(e.contains("`lots`") && e.contains("2GiB"), "{e}");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(50_000_000), "47.7 MiB");
        assert_eq!(human_bytes(20 << 30), "20.0 GiB");
    }

    #[cfg(any(target_os = "linux", windows, target_os = "macos"))]
    #[test]
    fn available_memory_is_known_on_linux_windows_and_macos() {
        let a = available_memory().expect("available memory");
        assert!(a > 1 << 20, "{a}");
    }

    #[test]
    fn a_limit_below_the_estimate_names_both_numbers_and_what_to_change() {
        let est = MemoryEstimate {
            weights: 100 << 20,
            kv_cache: 90 << 20,
            compute: 20 << 20,
            n_ctx: 8192,
            n_parallel: 4,
        };
        check_fits(Path::new("m.gguf"), &est, Some(210 << 20)).unwrap();
        let e = check_fits(Path::new("m.gguf"), &est, Some(50_000_000)).unwrap_err();
        let msg = e.to_string();
        for want in [
            "210.0 MiB",
            "47.7 MiB",
            "--max-memory",
            "quantization",
            "--ctx",
            "--parallel",
        ] {
            assert!(msg.contains(want), "{want}: {msg}");
        }
    }
}
