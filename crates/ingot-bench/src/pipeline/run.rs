//! A whole benchmark run: models × scenarios, outputs written after every model, a failing
//! model recorded as `failed` while the run goes on. One model's steps: [`crate::pipeline::model`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ingot_core::Engine;

use crate::analyze::select::select;
use crate::measure::record::RequestRecord;
pub use crate::pipeline::builder::{ConfigError, RunConfigBuilder};
pub(crate) use crate::pipeline::config::{bar, note};
pub use crate::pipeline::config::{NamedEndpoint, RunConfig, RunOutput, Synthetic, TargetSpec};
use crate::pipeline::embed::EmbedBench;
use crate::pipeline::model::{ModelBench, RunContext};
use crate::results::{now_rfc3339, Manifest, ModelResult, Results, Status};
pub use crate::score::judge_spec::{build_judge, JudgeSpec, JudgeTarget};
use crate::score::scored::RecordScores;
use crate::score::scoring::{quality_info, score_model, score_run, JudgeMode};
use crate::spec::model::ModelFiles;
pub use crate::spec::model::{ModelProvider, ModelSpec, RemoteModel, ResolvedModel};
use crate::spec::workload::PromptSpec;

/// Runs the benchmark. `engine` loads models for in-process runs (ignored with an endpoint).
/// Outputs are written to `cfg.out_dir` after every model.
pub fn run(
    cfg: &RunConfig,
    resolver: &dyn ModelProvider,
    engine: Arc<dyn Engine>,
) -> anyhow::Result<RunOutput> {
    anyhow::ensure!(!cfg.prompts.is_empty(), "the prompt set is empty");
    anyhow::ensure!(!cfg.models.is_empty(), "no model to benchmark");
    std::fs::create_dir_all(&cfg.out_dir)?;
    if cfg.interleave.is_some() || matches!(cfg.target, TargetSpec::Endpoints(_)) {
        if let Some(m) = cfg
            .models
            .iter()
            .find(|m| crate::pipeline::embed::is_embedding(cfg, resolver, &m.alias))
        {
            anyhow::bail!(
                "{} is an embedding model: embedding models are not compared in interleaved rounds (--interleave, several --endpoint); benchmark them without",
                m.alias
            );
        }
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
    let ctx = RunContext {
        cfg,
        resolver,
        engine: engine.as_ref(),
        rt: &rt,
        scenarios: &scenarios,
        n_parallel,
        server_pid,
    };
    let mut records: Vec<RequestRecord> = Vec::new();
    let mut scores = RecordScores::default();
    bench_models(&ctx, &mut results, &mut records, &mut scores);
    if let Some(spec) = cfg.judge.as_ref().filter(|_| has_judge_checks(cfg)) {
        if results.models.iter().any(|m| m.quality.is_some()) {
            judge_all(&ctx, spec, &mut results, &records, &mut scores);
        }
    }
    Ok(RunOutput {
        results,
        records,
        scores,
    })
}

fn has_judge_checks(cfg: &RunConfig) -> bool {
    cfg.prompts
        .iter()
        .flat_map(|p| &p.checks)
        .any(|c| c.is_judge())
}

/// Every model in turn: benchmarked, rule-scored, and the reports written after each.
fn bench_models(
    ctx: &RunContext,
    results: &mut Results,
    records: &mut Vec<RequestRecord>,
    scores: &mut RecordScores,
) {
    let cfg = ctx.cfg;
    let rule_mode = JudgeMode::Reuse(if cfg.judge.is_some() {
        "pending: judged after the last model"
    } else {
        "no judge configured (--judge or --judge-endpoint)"
    });
    let prompts: Vec<Arc<PromptSpec>> = cfg.prompts.iter().cloned().map(Arc::new).collect();
    for spec in &cfg.models {
        note(cfg, &format!("== {} ==", spec.alias));
        let mut mr = new_model_result(spec, ctx.resolver);
        bench_catching(ctx, spec, &prompts, &mut mr, records, &mut results.manifest);
        if !mr.is_embedding() {
            // Per 1M output tokens: an embedding model has none.
            mr.cost = crate::analyze::cost::estimate(cfg.cost.as_ref(), &mr);
        }
        // Rule checks now (cheap); judge checks after the last model, so that the judge
        // never shares the machine with a model being measured.
        mr.quality = ctx.rt.block_on(score_model(
            &mr,
            records,
            scores,
            &cfg.prompts,
            &rule_mode,
            &|_, _| {},
        ));
        results.models.push(mr);
        finish_and_write(cfg, results, records, scores);
    }
}

fn new_model_result(spec: &ModelSpec, resolver: &dyn ModelProvider) -> ModelResult {
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
        embedding: None,
    };
    if let Some((l, permissive)) = resolver.license(&spec.alias) {
        mr.license = Some(l);
        mr.license_permissive = Some(permissive);
    }
    mr
}

/// Benchmarks one model; an error or a panic marks it `failed` and the run goes on.
fn bench_catching(
    ctx: &RunContext,
    spec: &ModelSpec,
    prompts: &[Arc<PromptSpec>],
    mr: &mut ModelResult,
    records: &mut Vec<RequestRecord>,
    manifest: &mut Manifest,
) {
    let cfg = ctx.cfg;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // A synthetic workload is made of this model's own tokens.
        let own;
        let prompts = match &cfg.synthetic {
            Some(sy) => {
                own = crate::spec::dataset::synthetic_for_model(
                    ctx.resolver,
                    ctx.engine,
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
            None => prompts,
        };
        if crate::pipeline::embed::is_embedding(cfg, ctx.resolver, &spec.alias) {
            let alias = &spec.alias;
            return EmbedBench {
                ctx,
                alias,
                prompts,
            }
            .run(mr, records, manifest);
        }
        ModelBench { ctx, spec, prompts }.run(mr, records, manifest)
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
}

/// Stamps the finish time, selects the recommended model and rewrites the reports.
fn finish_and_write(
    cfg: &RunConfig,
    results: &mut Results,
    records: &[RequestRecord],
    scores: &RecordScores,
) {
    results.manifest.finished = Some(now_rfc3339());
    results.selection = Some(select(results, &cfg.select));
    if let Err(e) = crate::report::files::write_all(&cfg.out_dir, results, records, scores) {
        note(cfg, &format!("warning: cannot write the reports: {e:#}"));
    }
}

/// The judge checks of every scored model, after the last model (the judge never shares the
/// machine with a model being measured).
fn judge_all(
    ctx: &RunContext,
    spec: &JudgeSpec,
    results: &mut Results,
    records: &[RequestRecord],
    scores: &mut RecordScores,
) {
    let cfg = ctx.cfg;
    note(cfg, "judging the answers...");
    let judge = build_judge(
        spec,
        ctx.resolver,
        ctx.engine,
        cfg.threads,
        cfg.gen.timeout_s,
    );
    let cases = cfg
        .prompts
        .iter()
        .filter(|p| p.checks.iter().any(|c| c.is_judge()))
        .count();
    let scored = results
        .models
        .iter()
        .filter(|m| m.quality.is_some())
        .count();
    let pb = bar(
        cfg,
        Some((cases * scored) as u64),
        format!("judge {}", judge.describe()),
    );
    let progress = {
        let pb = pb.clone();
        move |_: &str, _: &str| pb.inc(1)
    };
    ctx.rt.block_on(score_run(
        results,
        records,
        scores,
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
    finish_and_write(cfg, results, records, scores);
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
