//! A/B comparison in one run: the same workload against several targets (servers given as
//! `--endpoint NAME=URL`, or in-process models with `--models a,b --interleave`) in
//! alternating rounds, then per-metric ratios against the first target.
//!
//! # Method
//! Noise between two runs on a shared machine is often ±15 %, more than the differences worth
//! finding. So the targets take turns: round 1 runs A then B, round 2 B then A (the order is
//! reversed every round, so neither target always runs first, after a pause or warm), and so
//! on for `--rounds`. `--pause` separates consecutive targets (letting the last one's work
//! drain). Each round runs every scenario, with `--requests` requests (default: one pass of
//! the prompt set) or for `--duration`.
//!
//! For each scenario and metric, each round gives a paired ratio `target / baseline` (the
//! baseline is the first target). The reported ratio is their geometric mean; its 95 % CI is
//! the percentile bootstrap over rounds (1,000 resamples of the rounds, geometric mean of
//! each; fixed seed). The verdict: **better** or **worse** when the whole CI lies on one side
//! of 1 (for latencies a ratio below 1 is better; for throughputs above 1), else **not
//! significant**. With fewer than [`MIN_ROUNDS`] rounds there is no verdict: a bootstrap over
//! two values says nothing.
//!
//! The per-target tables pool every round: latency distributions over all requests, and
//! throughputs over the sum of the target's own measured windows (never the time the other
//! targets ran). Record times are milliseconds since the first measured round began, so
//! requests.jsonl shows the interleaving as it happened; each record carries its
//! `interleave_round`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ingot_core::{Engine, LoadOptions, LoadedModel};

use crate::measure::exec::{run_scenario, OnRecord, Scenario, StopAt};
use crate::measure::record::RequestRecord;
use crate::measure::target::{HttpTarget, InProcessTarget, Target};
use crate::pipeline::config::{bar, note, RunConfig, RunOutput, TargetSpec};
use crate::results::*;
use crate::spec::model::{ModelFiles, ModelProvider};
use crate::spec::workload::{Mode, PromptSpec};

use crate::analyze::ab_compare::compare_targets;
pub use crate::analyze::ab_compare::{
    judge_ratios, pooled_metrics, ComparedTarget, Comparison, Ratio, RoundFigure, Verdict,
    MIN_ROUNDS,
};
pub use crate::pipeline::config::Interleave;

/// A target ready to take requests.
struct Prepared {
    name: String,
    model: String,
    mode: Mode,
    endpoint: Option<String>,
    target: Arc<dyn Target>,
    file: Option<ModelFile>,
    /// Keeps an in-process model loaded for the whole run.
    loaded: Option<Arc<dyn LoadedModel>>,
}

fn prepare(
    cfg: &RunConfig,
    resolver: &dyn ModelProvider,
    engine: &dyn Engine,
    n_parallel: usize,
) -> anyhow::Result<Vec<Prepared>> {
    let http = |name: &str, url: &str, model: &str, key: Option<String>, mode: Mode| {
        anyhow::Ok(Prepared {
            name: name.to_string(),
            model: model.to_string(),
            mode,
            endpoint: Some(crate::util::redact::redact_url(url)),
            target: Arc::new(
                HttpTarget::new(url, model, key, mode, cfg.gen.clone())?
                    .with_connections(cfg.connections),
            ),
            file: None,
            loaded: None,
        })
    };
    let mode_of = |m: &crate::spec::model::ModelSpec| m.mode.unwrap_or(Mode::Chat);
    match &cfg.target {
        TargetSpec::Endpoints(list) => {
            anyhow::ensure!(
                cfg.models.len() == 1,
                "comparing servers needs one --model (the name every server is asked for), not {}",
                cfg.models.len()
            );
            let m = &cfg.models[0];
            list.iter()
                .map(|e| http(&e.name, &e.url, &m.alias, e.api_key.clone(), mode_of(m)))
                .collect()
        }
        TargetSpec::Endpoint { url, api_key, .. } => cfg
            .models
            .iter()
            .map(|m| http(&m.alias, url, &m.alias, api_key.clone(), mode_of(m)))
            .collect(),
        TargetSpec::InProcess => {
            let mut out = Vec::new();
            for spec in &cfg.models {
                if let Some(r) = resolver.upstream(&spec.alias) {
                    out.push(http(
                        &spec.alias,
                        &r.url,
                        &r.model,
                        r.api_key,
                        mode_of(spec),
                    )?);
                    continue;
                }
                note(cfg, &format!("loading {}...", spec.alias));
                let resolved = resolver
                    .file(&spec.alias)
                    .map_err(|e| anyhow::anyhow!("{}: download: {e:#}", spec.alias))?;
                let mode = spec.mode.unwrap_or(if resolved.chat_template {
                    Mode::Chat
                } else {
                    Mode::Completion
                });
                let opts = LoadOptions {
                    threads: cfg.threads,
                    max_memory: cfg.max_memory,
                    n_parallel,
                    prefix_cache: false,
                    max_queue: 1 << 20,
                    chat_template: resolved.chat_template_override.clone(),
                    ..LoadOptions::default()
                };
                let model = engine
                    .load(&resolved.path, &opts)
                    .map_err(|e| anyhow::anyhow!("{}: load: {e}", spec.alias))?;
                out.push(Prepared {
                    name: spec.alias.clone(),
                    model: spec.alias.clone(),
                    mode,
                    endpoint: None,
                    target: Arc::new(InProcessTarget::new(model.clone(), mode, cfg.gen.clone())),
                    file: Some(ModelFile {
                        path: resolved.path.display().to_string(),
                        sha256: resolved.sha256.clone(),
                        size_bytes: resolved
                            .size_bytes
                            .or_else(|| std::fs::metadata(&resolved.path).ok().map(|m| m.len())),
                        quantization: resolved.quantization.clone(),
                        parameters: resolved.parameters,
                    }),
                    loaded: Some(model),
                });
            }
            Ok(out)
        }
    }
}

/// The order of the targets in `round`: as given in even rounds, reversed in odd ones.
pub fn round_order(n: usize, round: u32) -> Vec<usize> {
    let mut o: Vec<usize> = (0..n).collect();
    if round % 2 == 1 {
        o.reverse();
    }
    o
}

/// The scenarios of one round: each with one round's worth of requests.
fn round_scenarios(cfg: &RunConfig) -> Vec<Scenario> {
    let stop = match (cfg.duration_s, cfg.requests) {
        (Some(d), _) => StopAt::Duration(d),
        (None, Some(n)) => StopAt::Requests(n),
        (None, None) => StopAt::Requests(cfg.prompts.len() as u64),
    };
    let mut out: Vec<Scenario> = cfg
        .concurrency
        .iter()
        .map(|c| Scenario::closed(*c, stop))
        .collect();
    out.extend(
        cfg.rates
            .iter()
            .map(|r| Scenario::open(*r, cfg.arrivals, stop)),
    );
    out
}

/// Runs an interleaved comparison (called by [`crate::pipeline::run::run`]).
pub fn run(
    cfg: &RunConfig,
    resolver: &dyn ModelProvider,
    engine: Arc<dyn Engine>,
) -> anyhow::Result<RunOutput> {
    let rt = crate::measure::exec::client_runtime()?;
    let scenarios = round_scenarios(cfg);
    let n_parallel = crate::pipeline::setup::n_parallel(cfg, &scenarios);
    let (mut results, _) =
        crate::pipeline::setup::start_results(cfg, engine.as_ref(), &scenarios, n_parallel);
    let targets = prepare(cfg, resolver, engine.as_ref(), n_parallel)?;
    anyhow::ensure!(
        targets.len() >= 2,
        "an interleaved comparison needs at least two targets (several --endpoint NAME=URL, or --models a,b)"
    );
    let shared: Vec<Arc<PromptSpec>> = cfg.prompts.iter().cloned().map(Arc::new).collect();
    // A synthetic workload is made of each model's own tokens.
    let mut target_prompts = Vec::new();
    for t in &targets {
        target_prompts.push(match &cfg.synthetic {
            Some(sy) => crate::spec::dataset::synthetic_for_model(
                resolver,
                engine.as_ref(),
                &t.model,
                sy.input_tokens,
                sy.prompts,
                cfg.gen.seed,
            )?
            .into_iter()
            .map(Arc::new)
            .collect(),
            None => shared.clone(),
        });
    }
    std::fs::write(
        cfg.out_dir.join(crate::pipeline::rundir::PROMPTS_FILE),
        crate::spec::workload::prompts_json(&cfg.prompts),
    )?;
    let mut records: Vec<RequestRecord> = Vec::new();
    let mut scores = crate::score::scored::RecordScores::default();

    // Warm-up: every target, one at a time, excluded from the figures.
    for (t, prompts) in targets.iter().zip(&target_prompts) {
        if cfg.warmup == 0 {
            break;
        }
        let n = u64::from(cfg.warmup) * prompts.len() as u64;
        let pb = bar(cfg, Some(n), format!("{} warm-up", t.name));
        let cb: OnRecord = {
            let pb = pb.clone();
            Arc::new(move |_| pb.inc(1))
        };
        let sc = Scenario {
            name: "warmup".into(),
            ..Scenario::closed(1, StopAt::Requests(n))
        };
        let (_, recs) = rt.block_on(run_scenario(
            t.target.clone(),
            prompts,
            &sc,
            &t.name,
            cfg.gen.seed,
            true,
            Some(cb),
        ));
        pb.finish();
        records.extend(recs);
    }

    let rounds = cfg.rounds.max(1);
    let pause = Duration::from_secs_f64(cfg.interleave.clone().unwrap_or_default().pause_s);
    // per_round[target][scenario][round]: that segment's records.
    let mut per_round: Vec<Vec<Vec<Vec<RequestRecord>>>> =
        vec![vec![Vec::new(); scenarios.len()]; targets.len()];
    let mut cpu: Vec<Option<f64>> = vec![Some(0.0); targets.len()];
    let mut order = Vec::new();
    let epoch = Instant::now();
    let mut first_segment = true;
    for round in 0..rounds {
        let ord = round_order(targets.len(), round);
        order.push(ord.iter().map(|i| targets[*i].name.clone()).collect());
        for &ti in &ord {
            if !first_segment && !pause.is_zero() {
                std::thread::sleep(pause);
            }
            first_segment = false;
            let t = &targets[ti];
            let cpu_before = t
                .loaded
                .as_ref()
                .and_then(|_| crate::measure::resources::cpu_seconds(std::process::id()));
            for (si, sc) in scenarios.iter().enumerate() {
                let len = match sc.stop {
                    StopAt::Requests(n) => Some(n),
                    StopAt::Duration(_) => None,
                };
                let pb = bar(
                    cfg,
                    len,
                    format!("round {}/{} {} {}", round + 1, rounds, t.name, sc.name),
                );
                let cb: OnRecord = {
                    let pb = pb.clone();
                    Arc::new(move |_| pb.inc(1))
                };
                let (t0, mut recs) = rt.block_on(run_scenario(
                    t.target.clone(),
                    &target_prompts[ti],
                    sc,
                    &t.name,
                    cfg.gen.seed.wrapping_add(u64::from(round)),
                    false,
                    Some(cb),
                ));
                pb.finish();
                let offset = crate::measure::target::ms(epoch, t0);
                let base_index = per_round[ti][si].iter().map(Vec::len).sum::<usize>() as u64;
                for r in recs.iter_mut() {
                    shift(r, offset);
                    r.index += base_index;
                    r.interleave_round = Some(round);
                }
                per_round[ti][si].push(recs);
            }
            let cpu_after = t
                .loaded
                .as_ref()
                .and_then(|_| crate::measure::resources::cpu_seconds(std::process::id()));
            cpu[ti] = match (cpu[ti], cpu_before, cpu_after) {
                (Some(acc), Some(a), Some(b)) => Some(acc + (b - a)),
                _ => None,
            };
        }
    }

    // Per-target results, pooled over rounds.
    for (ti, t) in targets.iter().enumerate() {
        let mut mr = ModelResult {
            alias: t.name.clone(),
            status: Status::Ok,
            reason: None,
            mode: t.mode,
            file: t.file.clone(),
            load: None,
            resources: None,
            scenarios: Vec::new(),
            license: None,
            license_permissive: None,
            quality: None,
            remote: None,
            sweep: None,
            cost: None,
            embedding: None,
        };
        if let Some((l, p)) = resolver.license(&t.model) {
            mr.license = Some(l);
            mr.license_permissive = Some(p);
        }
        let (mut tokens, mut measured, mut failed) = (0u64, 0usize, 0usize);
        for (si, sc) in scenarios.iter().enumerate() {
            let m = pooled_metrics(&per_round[ti][si], &cfg.slo);
            tokens += m.completion_tokens;
            measured += m.requests;
            failed += m.failed;
            mr.scenarios.push(ScenarioResult {
                scenario: sc.clone(),
                started: results.manifest.started.clone(),
                metrics: Some(m),
                metrics_error: None,
            });
        }
        if let Some(c) = cpu[ti].filter(|_| t.loaded.is_some()) {
            let per_1k = (tokens > 0).then(|| c / tokens as f64 * 1000.0);
            mr.resources = Some(ResourceMetrics {
                cpu_seconds: Some(c),
                cpu_s_per_1k_tokens: per_1k,
                energy_j_per_1k_tokens: per_1k.map(|v| v * cfg.watts_per_core),
                process: "self (models loaded side by side: memory not separable)".into(),
                ..ResourceMetrics::default()
            });
        }
        if measured > 0 && failed == measured {
            mr.status = Status::Failed;
            mr.reason = Some("every request failed".into());
        }
        mr.cost = crate::analyze::cost::estimate(cfg.cost.as_ref(), &mr);
        for segs in &per_round[ti] {
            for s in segs {
                records.extend(s.iter().cloned());
            }
        }
        let rule_mode =
            crate::score::scoring::JudgeMode::Reuse("no judge in an interleaved comparison");
        mr.quality = rt.block_on(crate::score::scoring::score_model(
            &mr,
            &records,
            &mut scores,
            &cfg.prompts,
            &rule_mode,
            &|_, _| {},
        ));
        results.models.push(mr);
    }
    results.comparison = Some(compare_targets(
        &targets
            .iter()
            .map(|t| ComparedTarget {
                name: t.name.clone(),
                endpoint: t.endpoint.clone(),
                model: t.model.clone(),
            })
            .collect::<Vec<_>>(),
        &scenarios,
        &per_round,
        &results,
        order,
        cfg.interleave.clone().unwrap_or_default().pause_s,
    ));
    results.manifest.finished = Some(now_rfc3339());
    results.selection = Some(crate::analyze::select::select(&results, &cfg.select));
    if let Err(e) = crate::report::files::write_all(&cfg.out_dir, &results, &records, &scores) {
        note(cfg, &format!("warning: cannot write the reports: {e:#}"));
    }
    Ok(RunOutput {
        results,
        records,
        scores,
    })
}

fn shift(r: &mut RequestRecord, offset: f64) {
    r.intended_start_ms += offset;
    r.send_ms += offset;
    r.end_ms += offset;
    for t in [&mut r.first_byte_ms, &mut r.first_token_ms] {
        if let Some(v) = t.as_mut() {
            *v += offset;
        }
    }
    for t in r.token_ms.iter_mut() {
        *t += offset;
    }
    for a in r.attempts.iter_mut() {
        a.send_ms += offset;
        a.end_ms += offset;
        if let Some(v) = a.first_byte_ms.as_mut() {
            *v += offset;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_reversed_every_round() {
        assert_eq!(round_order(2, 0), vec![0, 1]);
        assert_eq!(round_order(2, 1), vec![1, 0]);
        assert_eq!(round_order(3, 2), vec![0, 1, 2]);
    }
}
