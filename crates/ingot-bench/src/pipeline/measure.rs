//! The measured part of a model's benchmark: its scenarios (or a sweep), each timed, counted
//! and summarised.

use std::sync::Arc;

use crate::analyze::stats::scenario_metrics_safe;
use crate::measure::exec::{run_scenario, OnRecord, Scenario, StopAt};
use crate::measure::record::RequestRecord;
use crate::measure::target::Target;
use crate::pipeline::config::{bar, RunConfig};
use crate::results::{now_rfc3339, ModelResult, ScenarioResult};
use crate::spec::workload::PromptSpec;

/// Totals over a model's measured scenarios.
#[derive(Debug, Default)]
pub struct Tally {
    pub tokens: u64,
    pub measured: usize,
    pub failed: usize,
    pub first_error: Option<String>,
}

/// Runs one scenario: its records (counted with `tokenizer` when the server sent no usage)
/// and its result.
#[allow(clippy::too_many_arguments)]
pub fn measure_one(
    cfg: &RunConfig,
    rt: &tokio::runtime::Runtime,
    target: &Arc<dyn Target>,
    prompts: &[Arc<PromptSpec>],
    sc: &Scenario,
    alias: &str,
    tokenizer: Option<&dyn ingot_core::Tokenizer>,
) -> (ScenarioResult, Vec<RequestRecord>) {
    let len = match sc.stop {
        StopAt::Requests(n) => Some(n),
        StopAt::Duration(_) => None,
    };
    let pb = bar(cfg, len, format!("{alias} {}", sc.name));
    let cb: OnRecord = {
        let pb = pb.clone();
        Arc::new(move |_| pb.inc(1))
    };
    let started = now_rfc3339();
    let (_, mut recs) = rt.block_on(run_scenario(
        target.clone(),
        prompts,
        sc,
        alias,
        cfg.gen.seed,
        false,
        Some(cb),
    ));
    pb.finish();
    if let Some(tok) = tokenizer {
        crate::measure::target::recount_with_tokenizer(&mut recs, tok);
    }
    let (metrics, metrics_error) = match scenario_metrics_safe(&recs, &cfg.slo) {
        Ok(m) => (Some(m), None),
        Err(e) => (None, Some(e.to_string())),
    };
    (
        ScenarioResult {
            scenario: sc.clone(),
            started,
            metrics,
            metrics_error,
        },
        recs,
    )
}

/// Runs every scenario (or the sweep, with `--sweep`), adding results to `mr` and records
/// to `records`.
#[allow(clippy::too_many_arguments)]
pub fn measure_all(
    cfg: &RunConfig,
    rt: &tokio::runtime::Runtime,
    target: &Arc<dyn Target>,
    prompts: &[Arc<PromptSpec>],
    scenarios: &[Scenario],
    alias: &str,
    tokenizer: Option<&dyn ingot_core::Tokenizer>,
    mr: &mut ModelResult,
    records: &mut Vec<RequestRecord>,
) -> Tally {
    let mut tally = Tally::default();
    let mut add = |res: ScenarioResult, recs: Vec<RequestRecord>, mr: &mut ModelResult| {
        if let Some(m) = &res.metrics {
            tally.tokens += m.completion_tokens;
            tally.measured += m.requests;
            tally.failed += m.failed;
            if tally.first_error.is_none() {
                tally.first_error = m.errors.first().map(|e| e.0.clone());
            }
        }
        mr.scenarios.push(res);
        records.extend(recs);
    };
    match &cfg.sweep {
        Some(sweep) => {
            let mut next = Some(crate::pipeline::config::first_scenario(cfg, sweep));
            while let Some(sc) = next.take() {
                let (res, recs) = measure_one(cfg, rt, target, prompts, &sc, alias, tokenizer);
                add(res, recs, mr);
                next = crate::pipeline::config::next_scenario(cfg, sweep, &mr.scenarios);
            }
            mr.sweep = Some(crate::analyze::sweep::summarize(
                &mr.scenarios,
                records,
                alias,
            ));
        }
        None => {
            for sc in scenarios {
                let (res, recs) = measure_one(cfg, rt, target, prompts, sc, alias, tokenizer);
                add(res, recs, mr);
            }
        }
    }
    tally
}
