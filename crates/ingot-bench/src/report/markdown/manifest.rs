//! `report.md`'s manifest section.

use std::fmt::Write as _;

use crate::report::common::*;
use crate::results::{Manifest, Results};

/// The manifest: software, machine, workload and model files, one line each.
pub(super) fn manifest_md(o: &mut String, results: &Results) {
    let mf = &results.manifest;
    let _ = writeln!(o, "## Manifest\n");
    manifest_software(o, mf);
    manifest_machine(o, mf);
    manifest_workload(o, mf);
    manifest_models(o, results);
}

/// One manifest line.
fn kv(o: &mut String, k: &str, v: String) {
    let _ = writeln!(o, "- {k}: {v}");
}

fn manifest_software(o: &mut String, mf: &Manifest) {
    kv(
        o,
        "ingot",
        format!(
            "{} ({})",
            mf.ingot_version,
            mf.git_sha.as_deref().unwrap_or("git sha unknown")
        ),
    );
    if let Some(e) = &mf.engine {
        kv(
            o,
            "engine",
            format!(
                "{} via {}, prefix cache {}, {} parallel sequence(s){}",
                e.name,
                e.llama_cpp,
                if e.prefix_cache { "on" } else { "off" },
                e.n_parallel,
                e.speculative
                    .map(|s| format!(", speculative decoding {s}"))
                    .unwrap_or_default()
            ),
        );
        if !e.system_info.is_empty() {
            kv(
                o,
                "llama.cpp system info",
                format!("`{}`", e.system_info.trim()),
            );
        }
    }
}

fn manifest_machine(o: &mut String, mf: &Manifest) {
    kv(
        o,
        "CPU",
        format!(
            "{} ({} logical, {} physical cores, {})",
            mf.machine.cpu_model.as_deref().unwrap_or("unknown"),
            mf.machine.logical_cores,
            mf.machine.physical_cores,
            mf.machine.arch
        ),
    );
    kv(o, "RAM", bytes_h(mf.machine.ram_bytes));
    kv(
        o,
        "GPU",
        mf.machine
            .gpu
            .clone()
            .unwrap_or_else(|| "none detected".into()),
    );
    kv(
        o,
        "OS",
        format!(
            "{}{}",
            mf.machine.os,
            mf.machine
                .kernel
                .as_ref()
                .map(|k| format!(", kernel {k}"))
                .unwrap_or_default()
        ),
    );
    kv(o, "load average at start", num(mf.machine.load_avg_1m, 2));
    kv(
        o,
        "threads",
        mf.threads
            .map(|t| t.to_string())
            .unwrap_or_else(|| "default (physical cores)".into()),
    );
}

/// Sampling, prompts, scenarios, SLO, energy model and the harness calibration.
fn manifest_workload(o: &mut String, mf: &Manifest) {
    kv(
        o,
        "sampling",
        format!(
            "max_tokens {}, temperature {}, seed {}, fixed length {}",
            mf.sampling.max_tokens,
            mf.sampling.temperature,
            mf.sampling.seed,
            mf.sampling.fixed_length
        ),
    );
    kv(
        o,
        "prompt set",
        format!(
            "{} ({} prompts, sha256 {})",
            mf.prompt_set.source, mf.prompt_set.count, mf.prompt_set.sha256
        ),
    );
    kv(
        o,
        "scenarios",
        mf.scenarios
            .iter()
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
            .join(", "),
    );
    if !mf.slo.is_empty() {
        kv(
            o,
            "SLO",
            format!(
                "TTFT ≤ {} ms, e2e ≤ {} ms, ITL ≤ {} ms",
                num(mf.slo.ttft_ms, 0),
                num(mf.slo.e2e_ms, 0),
                num(mf.slo.itl_ms, 0)
            ),
        );
    }
    kv(
        o,
        "energy model",
        format!("CPU seconds × {} W per busy core", mf.watts_per_core),
    );
    match &mf.calibration {
        Some(c) => kv(o, "harness calibration", format!("TTFT error p50 {} ms, ITL error p50 {} ms (mock {} ms / {} ms), max {} streamed req/s", num(c.ttft_error_ms_p50, 3), num(c.itl_error_ms_p50, 3), c.scripted_ttft_ms, c.scripted_itl_ms, num(c.max_streamed_req_per_s, 0))),
        None => kv(o, "harness calibration", "not run".into()),
    }
}

/// The file of each model.
fn manifest_models(o: &mut String, results: &Results) {
    for m in &results.models {
        if let Some(f) = &m.file {
            kv(
                o,
                &format!("model {}", m.alias),
                format!(
                    "sha256 {}, {}, {}",
                    f.sha256.as_deref().unwrap_or("unknown"),
                    f.quantization.as_deref().unwrap_or("quant unknown"),
                    bytes_h(f.size_bytes)
                ),
            );
        }
    }
}
