//! A whole benchmark run: models × scenarios, outputs written after every model, a failing
//! model recorded as `failed` while the run goes on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ingot_core::{Engine, LoadOptions, LoadedModel};

use crate::analyze::select::select;
use crate::measure::exec::{run_scenario, OnRecord, Scenario, StopAt};
use crate::measure::record::RequestRecord;
use crate::measure::resources::{cpu_seconds, drop_page_cache, MemorySampler};
use crate::measure::target::{HttpTarget, InProcessTarget, Job, Target};
pub(crate) use crate::pipeline::config::{bar, note};
pub use crate::pipeline::config::{NamedEndpoint, RunConfig, RunOutput, Synthetic, TargetSpec};
use crate::results::*;
pub use crate::score::judge_spec::{build_judge, JudgeSpec, JudgeTarget};
use crate::score::scoring::{quality_info, score_model, score_run, JudgeMode};
pub use crate::spec::model::{ModelSpec, RemoteModel, ResolvedModel, Resolver};
use crate::spec::workload::{GenParams, Mode, PromptSpec};

/// Runs the benchmark. `engine` loads models for in-process runs (ignored with an endpoint).
/// Outputs are written to `cfg.out_dir` after every model.
pub fn run(
    cfg: &RunConfig,
    resolver: &dyn Resolver,
    engine: Arc<dyn Engine>,
) -> anyhow::Result<RunOutput> {
    anyhow::ensure!(!cfg.prompts.is_empty(), "the prompt set is empty");
    anyhow::ensure!(!cfg.models.is_empty(), "no model to benchmark");
    std::fs::create_dir_all(&cfg.out_dir)?;
    if cfg.interleave.is_some() || matches!(cfg.target, TargetSpec::Endpoints(_)) {
        return crate::pipeline::ab::run(cfg, resolver, engine);
    }
    let rt = crate::measure::exec::client_runtime()?;
    let scenarios = cfg.scenarios();
    let n_parallel = crate::pipeline::setup::n_parallel(cfg, &scenarios);
    let (mut results, server_pid) =
        crate::pipeline::setup::start_results(cfg, engine.as_ref(), &scenarios, n_parallel);
    // The prompt set with its checks, for `ingot bench annotate|report|rescore` later.
    std::fs::write(
        cfg.out_dir.join(crate::pipeline::rundir::PROMPTS_FILE),
        crate::spec::workload::prompts_json(&cfg.prompts),
    )?;
    let has_judge_checks = cfg
        .prompts
        .iter()
        .flat_map(|p| &p.checks)
        .any(|c| c.is_judge());
    let rule_mode = JudgeMode::Reuse(if cfg.judge.is_some() {
        "pending: judged after the last model"
    } else {
        "no judge configured (--judge or --judge-endpoint)"
    });
    let prompts: Vec<Arc<PromptSpec>> = cfg.prompts.iter().cloned().map(Arc::new).collect();
    let mut records: Vec<RequestRecord> = Vec::new();

    for spec in &cfg.models {
        note(cfg, &format!("== {} ==", spec.alias));
        let mut mr = ModelResult {
            alias: spec.alias.clone(),
            status: Status::Ok,
            reason: None,
            mode: spec.mode.unwrap_or_default(),
            file: None,
            load: None,
            resources: None,
            scenarios: Vec::new(),
            license: None,
            license_permissive: None,
            quality: None,
            remote: None,
            sweep: None,
            cost: None,
        };
        if let Some((l, permissive)) = resolver.license(&spec.alias) {
            mr.license = Some(l);
            mr.license_permissive = Some(permissive);
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // A synthetic workload is made of this model's own tokens.
            let own;
            let prompts = match &cfg.synthetic {
                Some(sy) => {
                    own = crate::spec::dataset::synthetic_for_model(
                        resolver,
                        engine.as_ref(),
                        &spec.alias,
                        sy.input_tokens,
                        sy.prompts,
                        cfg.gen.seed,
                    )?
                    .into_iter()
                    .map(Arc::new)
                    .collect::<Vec<_>>();
                    &own
                }
                None => &prompts,
            };
            bench_model(
                cfg,
                spec,
                resolver,
                engine.as_ref(),
                &rt,
                prompts,
                &scenarios,
                n_parallel,
                server_pid,
                &mut mr,
                &mut records,
                &mut results.manifest,
            )
        }));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                mr.status = Status::Failed;
                mr.reason = Some(format!("{e:#}"));
            }
            Err(_) => {
                mr.status = Status::Failed;
                mr.reason = Some("internal error (panic) while benchmarking".into());
            }
        }
        if mr.status == Status::Failed {
            note(
                cfg,
                &format!(
                    "{}: failed: {}",
                    mr.alias,
                    mr.reason.as_deref().unwrap_or("")
                ),
            );
        }
        mr.cost = crate::analyze::cost::estimate(cfg.cost.as_ref(), &mr);
        // Rule checks now (cheap); judge checks after the last model, so that the judge
        // never shares the machine with a model being measured.
        mr.quality = rt.block_on(score_model(
            &mr,
            &mut records,
            &cfg.prompts,
            &rule_mode,
            &|_, _| {},
        ));
        results.models.push(mr);
        results.manifest.finished = Some(now_rfc3339());
        results.selection = Some(select(&results, &cfg.select));
        if let Err(e) = crate::report::write::write_all(&cfg.out_dir, &results, &records) {
            note(cfg, &format!("warning: cannot write the reports: {e:#}"));
        }
    }
    if let Some(spec) = cfg.judge.as_ref().filter(|_| has_judge_checks) {
        if results.models.iter().any(|m| m.quality.is_some()) {
            note(cfg, "judging the answers...");
            let judge = build_judge(
                spec,
                resolver,
                engine.as_ref(),
                cfg.threads,
                cfg.gen.timeout_s,
            );
            let cases = cfg
                .prompts
                .iter()
                .filter(|p| p.checks.iter().any(|c| c.is_judge()))
                .count();
            let n = (cases
                * results
                    .models
                    .iter()
                    .filter(|m| m.quality.is_some())
                    .count()) as u64;
            let pb = bar(cfg, Some(n), format!("judge {}", judge.describe()));
            let progress = {
                let pb = pb.clone();
                move |_: &str, _: &str| pb.inc(1)
            };
            rt.block_on(score_run(
                &mut results,
                &mut records,
                &cfg.prompts,
                &JudgeMode::Judge(&judge),
                &progress,
            ));
            pb.finish();
            results.manifest.quality = quality_info(&cfg.prompts, Some(&judge), &cfg.prompt_source);
            let errors: usize = results
                .models
                .iter()
                .filter_map(|m| m.quality.as_ref())
                .map(|q| q.judge_errors)
                .sum();
            if errors > 0 {
                note(
                    cfg,
                    &format!("warning: {errors} judge error(s); see the report"),
                );
            }
            results.manifest.finished = Some(now_rfc3339());
            results.selection = Some(select(&results, &cfg.select));
            if let Err(e) = crate::report::write::write_all(&cfg.out_dir, &results, &records) {
                note(cfg, &format!("warning: cannot write the reports: {e:#}"));
            }
        }
    }
    Ok(RunOutput { results, records })
}

/// One request, measured: the first after a load.
fn first_ttft(
    rt: &tokio::runtime::Runtime,
    target: Arc<dyn Target>,
    prompt: Arc<PromptSpec>,
    model: &str,
    scenario: &str,
) -> RequestRecord {
    let t0 = Instant::now();
    let mut r = rt.block_on(target.execute(
        Job {
            index: 0,
            round: 0,
            prompt,
            warmup: true,
            intended_ms: 0.0,
        },
        t0,
    ));
    r.model = model.to_string();
    r.scenario = scenario.to_string();
    r
}

#[allow(clippy::too_many_arguments)]
fn bench_model(
    cfg: &RunConfig,
    spec: &ModelSpec,
    resolver: &dyn Resolver,
    engine: &dyn Engine,
    rt: &tokio::runtime::Runtime,
    prompts: &[Arc<PromptSpec>],
    scenarios: &[Scenario],
    n_parallel: usize,
    server_pid: Option<u32>,
    mr: &mut ModelResult,
    records: &mut Vec<RequestRecord>,
    manifest: &mut Manifest,
) -> anyhow::Result<()> {
    let pid = server_pid.unwrap_or_else(std::process::id);
    let baseline_rss = crate::measure::resources::memory(pid).map(|m| m.0);
    // A remote adapter in an in-process run: its server is elsewhere, so this process's
    // memory and CPU say nothing about it.
    let remote = match cfg.target {
        TargetSpec::InProcess => resolver.remote(&spec.alias),
        TargetSpec::Endpoint { .. } | TargetSpec::Endpoints(_) => None,
    };
    let sampler = if in_process_or_pid(cfg, server_pid) && remote.is_none() {
        Some(MemorySampler::start(pid, Duration::from_millis(50)))
    } else {
        None
    };
    let mut _model: Option<Arc<dyn LoadedModel>> = None;
    // Counts tokens when the server sends no usage (the model's vocabulary only, when its
    // GGUF is cached locally).
    let mut tokenizer: Option<Box<dyn ingot_core::Tokenizer>> = None;
    let target: Arc<dyn Target> = match (&cfg.target, &remote) {
        (TargetSpec::Endpoints(_), _) => {
            anyhow::bail!(
                "several endpoints are compared in interleaved rounds (crate::pipeline::ab)"
            )
        }
        (TargetSpec::Endpoint { url, api_key, .. }, _) => {
            mr.mode = spec.mode.unwrap_or(Mode::Chat);
            if let Some(local) = resolver.lookup(&spec.alias) {
                tokenizer = engine.load_tokenizer(&local.path).ok();
                mr.file = Some(ModelFile {
                    path: local.path.display().to_string(),
                    sha256: local.sha256,
                    size_bytes: local.size_bytes,
                    quantization: local.quantization,
                    parameters: local.parameters,
                });
            }
            Arc::new(
                HttpTarget::new(url, &spec.alias, api_key.clone(), mr.mode, cfg.gen.clone())?
                    .with_connections(cfg.connections),
            )
        }
        (TargetSpec::InProcess, Some(r)) => {
            mr.mode = spec.mode.unwrap_or(Mode::Chat);
            mr.remote = Some(format!(
                "{} at {}",
                r.model,
                crate::util::redact::redact_url(&r.url)
            ));
            Arc::new(
                HttpTarget::new(
                    &r.url,
                    &r.model,
                    r.api_key.clone(),
                    mr.mode,
                    cfg.gen.clone(),
                )?
                .with_connections(cfg.connections),
            )
        }
        (TargetSpec::InProcess, None) => {
            let resolved = resolver
                .resolve(&spec.alias)
                .map_err(|e| anyhow::anyhow!("download: {e:#}"))?;
            mr.mode = spec.mode.unwrap_or(if resolved.chat_template {
                Mode::Chat
            } else {
                Mode::Completion
            });
            mr.file = Some(ModelFile {
                path: resolved.path.display().to_string(),
                sha256: resolved.sha256.clone(),
                size_bytes: resolved
                    .size_bytes
                    .or_else(|| std::fs::metadata(&resolved.path).ok().map(|m| m.len())),
                quantization: resolved.quantization.clone(),
                parameters: resolved.parameters,
            });
            let opts = LoadOptions {
                threads: cfg.threads,
                n_parallel,
                prefix_cache: false,
                max_queue: 1 << 20,
                chat_template: resolved.chat_template_override.clone(),
                max_memory: cfg.max_memory,
                ..LoadOptions::default()
            };
            let mut load = LoadMetrics::default();
            let mut model = None;
            let passes: &[bool] = if cfg.load_test {
                &[true, false]
            } else {
                &[false]
            };
            for &cold in passes {
                if cold {
                    load.page_cache_dropped = drop_page_cache(&resolved.path);
                }
                drop(model.take());
                let started = Instant::now();
                let m = engine
                    .load(&resolved.path, &opts)
                    .map_err(|e| anyhow::anyhow!("load: {e}"))?;
                let load_ms = started.elapsed().as_secs_f64() * 1000.0;
                if let Some(e) = manifest.engine.as_mut() {
                    e.system_info = m.info().system_info.clone();
                }
                // TTFT does not depend on max_tokens: a short probe is enough.
                let probe = GenParams {
                    max_tokens: cfg.gen.max_tokens.clamp(1, 4),
                    // The first token's time is what the probe is for, streamed or not.
                    stream: true,
                    ..cfg.gen.clone()
                };
                let t: Arc<dyn Target> = Arc::new(InProcessTarget::new(m.clone(), mr.mode, probe));
                let name = if cold { "load-cold" } else { "load-warm" };
                let r = first_ttft(rt, t, prompts[0].clone(), &spec.alias, name);
                if let Some(e) = &r.error {
                    anyhow::bail!("first request after load failed: {e}");
                }
                if cfg.load_test {
                    if cold {
                        load.cold_load_ms = Some(load_ms);
                        load.cold_first_ttft_ms = r.ttft_ms();
                    } else {
                        load.warm_load_ms = Some(load_ms);
                        load.warm_first_ttft_ms = r.ttft_ms();
                    }
                }
                records.push(r);
                model = Some(m);
            }
            if cfg.load_test {
                mr.load = Some(load);
            }
            let m = model.expect("loaded");
            _model = Some(m.clone());
            Arc::new(InProcessTarget::new(m, mr.mode, cfg.gen.clone()))
        }
    };

    // Warm-up: full rounds of the prompt set, one at a time, excluded from every metric.
    if cfg.warmup > 0 {
        let n = u64::from(cfg.warmup) * prompts.len() as u64;
        let pb = bar(cfg, Some(n), format!("{} warm-up", spec.alias));
        let cb: OnRecord = {
            let pb = pb.clone();
            Arc::new(move |_| pb.inc(1))
        };
        let (_, recs) = rt.block_on(run_scenario(
            target.clone(),
            prompts,
            &Scenario {
                name: "warmup".into(),
                ..Scenario::closed(1, StopAt::Requests(n))
            },
            &spec.alias,
            cfg.gen.seed,
            true,
            Some(cb),
        ));
        pb.finish();
        records.extend(recs);
    }

    let cpu_before = cpu_seconds(pid);
    let tally = crate::pipeline::measure::measure_all(
        cfg,
        rt,
        &target,
        prompts,
        scenarios,
        &spec.alias,
        tokenizer.as_deref(),
        mr,
        records,
    );
    let (tokens, measured, failed, first_error) = (
        tally.tokens,
        tally.measured,
        tally.failed,
        tally.first_error,
    );
    let cpu = match (cpu_before, cpu_seconds(pid)) {
        (Some(a), Some(b))
            if remote.is_none() && (server_pid.is_some() || in_process_or_pid(cfg, server_pid)) =>
        {
            Some(b - a)
        }
        _ => None,
    };
    let (peak_rss, peak_pss) = sampler.map(|s| s.finish()).unwrap_or((None, None));
    let per_1k = cpu
        .filter(|_| tokens > 0)
        .map(|c| c / tokens as f64 * 1000.0);
    mr.resources = Some(ResourceMetrics {
        baseline_rss_bytes: baseline_rss,
        peak_rss_bytes: peak_rss,
        peak_pss_bytes: peak_pss,
        cpu_seconds: cpu,
        cpu_s_per_1k_tokens: per_1k,
        energy_j_per_1k_tokens: per_1k.map(|c| c * cfg.watts_per_core),
        process: match server_pid {
            Some(p) => format!("pid {p}"),
            None => "self".into(),
        },
    });
    if remote.is_some() {
        mr.resources = None;
    }
    if measured > 0 && failed == measured {
        mr.status = Status::Failed;
        mr.reason = Some(format!(
            "every request failed: {}",
            first_error.unwrap_or_default()
        ));
    }
    drop(target);
    drop(_model);
    Ok(())
}

fn in_process_or_pid(cfg: &RunConfig, server_pid: Option<u32>) -> bool {
    matches!(cfg.target, TargetSpec::InProcess) || server_pid.is_some()
}

/// `./ingot-results/<timestamp>/`.
pub fn default_out_dir(base: &Path) -> PathBuf {
    let ts = time::OffsetDateTime::now_utc();
    base.join(format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        ts.year(),
        u8::from(ts.month()),
        ts.day(),
        ts.hour(),
        ts.minute(),
        ts.second()
    ))
}
