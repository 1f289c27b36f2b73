//! `ingot bench`'s flags (clap, with the environment through clap, names in
//! `ingot_catalog::env`) handed to the library, which merges them with `--config` bench.toml
//! and the defaults and validates the result (`ingot_bench::settings`).

use std::sync::Arc;

use anyhow::Result;
use ingot_bench::models_file::CatalogFacts;
use ingot_bench::run::{JudgeSpec, RunConfig};
use ingot_bench::select::SelectSpec;
use ingot_bench::settings::{self, JudgeFlags, RunFlags, SelectFlags};

use crate::cli::{BenchJudgeArgs, BenchRunArgs, BenchSelectArgs};

pub(crate) use ingot_bench::settings::load_prompts;

/// The run configuration of `ingot bench run`, drawing its progress on the terminal.
pub(crate) fn build_config(
    a: &BenchRunArgs,
    catalog: &dyn Fn(&str) -> Option<CatalogFacts>,
) -> Result<RunConfig> {
    let cfg = settings::build_config(&run_flags(a), catalog)?;
    Ok(cfg
        .into_builder()
        .reporter(Arc::new(crate::progress::BenchBars))
        .build()?)
}

pub(crate) fn judge_spec(a: &BenchJudgeArgs) -> Result<Option<JudgeSpec>> {
    settings::judge_spec(&judge_flags(a))
}

pub(crate) fn select_spec(a: &BenchSelectArgs) -> Result<Option<SelectSpec>> {
    settings::select_spec(&select_flags(a))
}

fn run_flags(a: &BenchRunArgs) -> RunFlags {
    RunFlags {
        models: a.models.clone(),
        prompts: a.prompts.clone(),
        dataset: a.dataset.clone(),
        config: a.config.clone(),
        rounds: a.rounds,
        warmup: a.warmup,
        max_tokens: a.max_tokens,
        temperature: a.temperature,
        seed: a.seed,
        fixed_length: a.fixed_length,
        concurrency: a.concurrency.clone(),
        rate: a.rate.clone(),
        arrivals: a.arrivals.clone(),
        sweep: a.sweep,
        duration: a.duration.clone(),
        requests: a.requests,
        threads: a.threads,
        max_memory: a.max_memory,
        parallel: a.parallel,
        slo: a.slo.clone(),
        timeout: a.timeout.clone(),
        endpoint: a.endpoint.clone(),
        model: a.model.clone(),
        stream: a.stream.clone(),
        no_stream: a.no_stream,
        connections: a.connections.clone(),
        interleave: a.interleave,
        pause: a.pause.clone(),
        api_key: a.api_key.clone(),
        server_pid: a.server_pid,
        completion: a.completion,
        watts_per_core: a.watts_per_core,
        price_per_kwh: a.price_per_kwh,
        hardware_cost: a.hardware_cost,
        hardware_life: a.hardware_life.clone(),
        out: a.out.clone(),
        no_calibrate: a.no_calibrate,
        no_load_test: a.no_load_test,
        progress: !a.quiet && !a.json,
        judge: judge_flags(&a.judge),
        select: select_flags(&a.select),
        embeddings: a.embeddings,
        embedding_models: a.embedding_models.clone(),
        embed_batch: a.embed_batch,
    }
}

fn judge_flags(a: &BenchJudgeArgs) -> JudgeFlags {
    JudgeFlags {
        judge: a.judge.clone(),
        judge_endpoint: a.judge_endpoint.clone(),
        judge_model: a.judge_model.clone(),
        judge_api_key: a.judge_api_key.clone(),
        judge_samples: a.judge_samples,
        judge_temperature: a.judge_temperature,
        judge_max_tokens: a.judge_max_tokens,
    }
}

fn select_flags(a: &BenchSelectArgs) -> SelectFlags {
    SelectFlags {
        select: a.select.clone(),
        maximize: a.maximize.clone(),
        minimize: a.minimize.clone(),
    }
}
