//! A run's settings, where its requests go, and its progress reporter.

use std::path::PathBuf;
use std::sync::Arc;

use crate::analyze::select::SelectSpec;
use crate::analyze::sweep::{rates_between, SweepSpec};
use crate::measure::exec::{Arrivals, Scenario, StopAt};
use crate::measure::record::RequestRecord;
use crate::pipeline::progress::{BenchReporter, Phase, Silent};
use crate::results::metrics::Slo;
use crate::results::{Results, ScenarioResult};
use crate::score::judge_spec::JudgeSpec;
use crate::spec::model::ModelSpec;
use crate::spec::workload::{GenParams, PromptSpec};

/// Where requests go.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    /// Models loaded by ingot itself.
    InProcess,
    /// An OpenAI-compatible server.
    Endpoint {
        url: String,
        api_key: Option<String>,
        server_pid: Option<u32>,
    },
    /// Several servers compared with each other (`--endpoint NAME=URL` repeated), in
    /// interleaved rounds; the first is the baseline.
    Endpoints(Vec<NamedEndpoint>),
}

/// One server of an A/B comparison.
#[derive(Debug, Clone)]
pub struct NamedEndpoint {
    pub name: String,
    pub url: String,
    pub api_key: Option<String>,
}

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub models: Vec<ModelSpec>,
    pub prompts: Vec<PromptSpec>,
    /// `builtin` or the prompts file.
    pub prompt_source: String,
    pub gen: GenParams,
    pub rounds: u32,
    pub warmup: u32,
    pub concurrency: Vec<usize>,
    pub rates: Vec<f64>,
    pub arrivals: Arrivals,
    pub requests: Option<u64>,
    pub duration_s: Option<f64>,
    pub threads: Option<usize>,
    /// Memory each in-process model may take (`--max-memory`); `None`: the free memory.
    pub max_memory: Option<u64>,
    /// Sequences the in-process engine decodes together [default: the highest concurrency].
    pub parallel: Option<usize>,
    pub slo: Slo,
    pub watts_per_core: f64,
    pub target: TargetSpec,
    pub out_dir: PathBuf,
    /// Run a quick harness calibration first, for the manifest.
    pub calibrate: bool,
    /// Measure cold and warm load (in-process).
    pub load_test: bool,
    /// Whether progress and notes go to [`RunConfig::reporter`]; off, the run reports nothing.
    pub progress: bool,
    /// Where progress and notes go (the CLI draws bars on stderr); `None`: nowhere.
    pub reporter: Option<Arc<dyn crate::pipeline::progress::BenchReporter>>,
    /// Judges the prompt set's `judge` checks (none: they are skipped).
    pub judge: Option<JudgeSpec>,
    /// The recommendation's question (`--select`, `--maximize`).
    pub select: SelectSpec,
    /// Pooled keep-alive connections or a new one per request (HTTP targets).
    pub connections: crate::measure::conn::Connections,
    /// Compare the targets (models, or `TargetSpec::Endpoints`) in alternating rounds.
    pub interleave: Option<Interleave>,
    /// `--dataset synthetic:...`: prompts rebuilt for each model with its own tokenizer
    /// (`prompts` holds the first model's).
    pub synthetic: Option<Synthetic>,
    /// The `--dataset`, for the manifest.
    pub dataset: Option<crate::spec::dataset::DatasetInfo>,
    /// `--sweep`: sync, throughput, then rates between (replaces the scenarios).
    pub sweep: Option<crate::analyze::sweep::SweepSpec>,
    /// Warnings found while setting up (models.json checks), kept in the manifest.
    pub warnings: Vec<String>,
    /// `--price-per-kwh` and the hardware's amortisation, for the cost estimate.
    pub cost: Option<crate::analyze::cost::CostInputs>,
}

/// A synthetic workload: prompts of exactly `input_tokens`, `prompts` of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Synthetic {
    pub input_tokens: u32,
    pub prompts: usize,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            models: Vec::new(),
            prompts: crate::spec::sets::builtin_prompts(),
            prompt_source: "builtin".into(),
            gen: GenParams::default(),
            rounds: 3,
            warmup: 1,
            concurrency: vec![1],
            rates: Vec::new(),
            arrivals: Arrivals::Poisson,
            requests: None,
            duration_s: None,
            threads: None,
            max_memory: None,
            parallel: None,
            slo: Slo::default(),
            watts_per_core: crate::measure::resources::DEFAULT_WATTS_PER_CORE,
            target: TargetSpec::InProcess,
            out_dir: PathBuf::from("ingot-results"),
            calibrate: true,
            load_test: true,
            progress: false,
            reporter: None,
            judge: None,
            select: SelectSpec::default(),
            connections: crate::measure::conn::Connections::Pooled,
            interleave: None,
            synthetic: None,
            dataset: None,
            sweep: None,
            warnings: Vec::new(),
            cost: None,
        }
    }
}

impl RunConfig {
    /// The reporter progress goes to: [`RunConfig::reporter`] when `progress` is on.
    pub fn reporter(&self) -> &dyn BenchReporter {
        match &self.reporter {
            Some(r) if self.progress => r.as_ref(),
            _ => &Silent,
        }
    }

    /// The scenarios: one closed loop per concurrency, then one open loop per rate.
    pub fn scenarios(&self) -> Vec<Scenario> {
        if let Some(sw) = &self.sweep {
            // The rates come from these two points' results, during the run.
            return fixed_scenarios(self, sw);
        }
        let stop = match (self.duration_s, self.requests) {
            (Some(d), _) => StopAt::Duration(d),
            (None, Some(n)) => StopAt::Requests(n),
            (None, None) => {
                StopAt::Requests(u64::from(self.rounds.max(1)) * self.prompts.len() as u64)
            }
        };
        let mut out: Vec<Scenario> = self
            .concurrency
            .iter()
            .map(|c| Scenario::closed(*c, stop))
            .collect();
        out.extend(
            self.rates
                .iter()
                .map(|r| Scenario::open(*r, self.arrivals, stop)),
        );
        out
    }
}

/// Everything a run produced so far.
pub struct RunOutput {
    pub results: Results,
    pub records: Vec<RequestRecord>,
    /// The quality scores of `records`, by position.
    pub scores: crate::score::scored::RecordScores,
}

pub(crate) fn note(cfg: &RunConfig, msg: &str) {
    cfg.reporter().note(msg);
}

/// A progress phase of this run (nothing is drawn when progress is off).
pub(crate) fn bar(cfg: &RunConfig, len: Option<u64>, msg: String) -> Arc<dyn Phase> {
    cfg.reporter().phase(&msg, len)
}

/// `--interleave` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Interleave {
    /// Seconds between consecutive targets.
    pub pause_s: f64,
}

impl Default for Interleave {
    fn default() -> Self {
        Self { pause_s: 1.0 }
    }
}

// ---------------------------------------------------------------------------------------------
// The points of a `--sweep` (the method: [`crate::analyze::sweep`])

fn stop(cfg: &RunConfig) -> StopAt {
    match (cfg.duration_s, cfg.requests) {
        (Some(d), _) => StopAt::Duration(d),
        (None, Some(n)) => StopAt::Requests(n),
        (None, None) => StopAt::Requests(u64::from(cfg.rounds.max(1)) * cfg.prompts.len() as u64),
    }
}

/// The two closed-loop points every sweep starts with (also the manifest's scenarios).
pub fn fixed_scenarios(cfg: &RunConfig, sweep: &SweepSpec) -> Vec<Scenario> {
    vec![
        Scenario {
            name: "sync".into(),
            ..Scenario::closed(1, stop(cfg))
        },
        Scenario {
            name: "throughput".into(),
            ..Scenario::closed(sweep.max_concurrency, stop(cfg))
        },
    ]
}

pub fn first_scenario(cfg: &RunConfig, sweep: &SweepSpec) -> Scenario {
    fixed_scenarios(cfg, sweep).remove(0)
}

/// The next point after `done`, or `None` when the sweep is over.
pub fn next_scenario(
    cfg: &RunConfig,
    sweep: &SweepSpec,
    done: &[ScenarioResult],
) -> Option<Scenario> {
    if done.len() == 1 {
        return Some(fixed_scenarios(cfg, sweep).remove(1));
    }
    let rate = |i: usize| done.get(i)?.metrics.as_ref()?.request_throughput;
    let rates = rates_between(rate(0)?, rate(1)?, sweep.rates);
    let r = *rates.get(done.len() - 2)?;
    Some(Scenario::open(r, cfg.arrivals, stop(cfg)))
}
