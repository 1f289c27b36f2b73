//! The start of every run: the machine, the harness's quick calibration and the manifest.

use ingot_core::Engine;

use crate::measure::exec::Scenario;
use crate::measure::resources::machine_info;
use crate::pipeline::calibrate::{calibrate, CalibrateOptions, Calibration};
use crate::pipeline::config::{note, RunConfig, TargetSpec};
use crate::results::*;
use crate::score::scoring::quality_info;
use crate::spec::workload::prompt_set_hash;

/// The source's git sha, read at build time (`build.rs`; `INGOT_GIT_SHA` overrides it).
fn git_sha() -> Option<String> {
    option_env!("INGOT_BENCH_GIT_SHA").map(str::to_string)
}

fn quick_calibration(cfg: &RunConfig) -> Option<Calibration> {
    note(
        cfg,
        "calibrating the harness against a loopback mock server...",
    );
    match std::panic::catch_unwind(|| calibrate(&CalibrateOptions::quick())) {
        Ok(Ok(c)) => Some(c),
        Ok(Err(e)) => {
            note(cfg, &format!("warning: calibration failed: {e:#}"));
            None
        }
        Err(_) => None,
    }
}

/// Sequences the in-process engine decodes together: `--parallel`, else the highest
/// concurrency (at least 4 with open loops, whose requests overlap).
pub fn n_parallel(cfg: &RunConfig, scenarios: &[Scenario]) -> usize {
    let max_conc = scenarios
        .iter()
        .filter_map(|s| s.concurrency())
        .max()
        .unwrap_or(1);
    let open_min = if scenarios.iter().any(|s| s.concurrency().is_none()) {
        4
    } else {
        1
    };
    cfg.parallel.unwrap_or(max_conc.max(open_min)).max(1)
}

/// The results of a run about to start (manifest filled in, no model yet), and the server
/// pid whose resources are sampled.
pub fn start_results(
    cfg: &RunConfig,
    engine: &dyn Engine,
    scenarios: &[Scenario],
    n_parallel: usize,
) -> (Results, Option<u32>) {
    let machine = machine_info();
    let backend = engine.backend_info();
    let mut warnings = cfg.warnings.clone();
    if machine.busy {
        let w = format!(
            "load average {:.2} exceeds the {} cores at start: numbers from a busy machine",
            machine.load_avg_1m.unwrap_or(0.0),
            machine.logical_cores
        );
        note(cfg, &format!("warning: {w}"));
        warnings.push(w);
    }
    let calibration = if cfg.calibrate {
        quick_calibration(cfg)
    } else {
        None
    };
    let in_process = matches!(cfg.target, TargetSpec::InProcess);
    let (target, server_pid) = match &cfg.target {
        TargetSpec::InProcess => (
            TargetInfo {
                kind: TargetKind::InProcess,
                endpoint: None,
                server_pid: None,
                connections: None,
            },
            None,
        ),
        TargetSpec::Endpoint {
            url, server_pid, ..
        } => (
            TargetInfo {
                kind: TargetKind::Endpoint,
                // Credentials in the URL (user:pass@, ?api_key=) never reach the reports.
                endpoint: Some(crate::util::redact::redact_url(url)),
                server_pid: *server_pid,
                connections: Some(cfg.connections),
            },
            *server_pid,
        ),
        // Several servers: each one's URL is in the comparison's targets.
        TargetSpec::Endpoints(_) => (
            TargetInfo {
                kind: TargetKind::Endpoint,
                endpoint: None,
                server_pid: None,
                connections: Some(cfg.connections),
            },
            None,
        ),
    };
    let results = Results {
        schema_version: SCHEMA_VERSION,
        manifest: Manifest {
            ingot_version: env!("CARGO_PKG_VERSION").to_string(),
            git_sha: git_sha(),
            started: now_rfc3339(),
            finished: None,
            target,
            engine: in_process.then(|| EngineInfo {
                name: engine.name().to_string(),
                llama_cpp: backend.version.clone(),
                system_info: backend.system_info.clone(),
                prefix_cache: false,
                n_parallel,
                // The loads of the pipeline keep the engine's default.
                speculative: Some(ingot_core::LoadOptions::default().speculative),
            }),
            machine,
            threads: cfg.threads,
            sampling: cfg.gen.clone(),
            prompt_set: PromptSetInfo {
                source: cfg.prompt_source.clone(),
                sha256: prompt_set_hash(&cfg.prompts),
                count: cfg.prompts.len(),
                ids: cfg.prompts.iter().map(|p| p.id.clone()).collect(),
            },
            scenarios: scenarios.to_vec(),
            rounds: cfg.rounds,
            warmup_rounds: cfg.warmup,
            slo: cfg.slo.clone(),
            watts_per_core: cfg.watts_per_core,
            calibration,
            warnings,
            quality: quality_info(&cfg.prompts, None, &cfg.prompt_source),
            dataset: cfg.dataset.clone(),
            cost: cfg.cost.clone(),
        },
        models: Vec::new(),
        selection: None,
        comparison: None,
    };
    (results, server_pid)
}
