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

/// Settings of a run, valid by construction: made by [`RunConfig::builder`] (or
/// [`crate::pipeline::settings::build_config`] from flags and bench.toml), whose `build`
/// checks them ([`ConfigError`]); read through the accessors below.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub(crate) models: Vec<ModelSpec>,
    pub(crate) prompts: Vec<PromptSpec>,
    /// `builtin` or the prompts file.
    pub(crate) prompt_source: String,
    pub(crate) gen: GenParams,
    pub(crate) rounds: u32,
    pub(crate) warmup: u32,
    pub(crate) concurrency: Vec<usize>,
    pub(crate) rates: Vec<f64>,
    pub(crate) arrivals: Arrivals,
    pub(crate) requests: Option<u64>,
    pub(crate) duration_s: Option<f64>,
    pub(crate) threads: Option<usize>,
    /// Memory each in-process model may take (`--max-memory`); `None`: the free memory.
    pub(crate) max_memory: Option<u64>,
    /// Sequences the in-process engine decodes together [default: the highest concurrency].
    pub(crate) parallel: Option<usize>,
    pub(crate) slo: Slo,
    pub(crate) watts_per_core: f64,
    pub(crate) target: TargetSpec,
    pub(crate) out_dir: PathBuf,
    /// Run a quick harness calibration first, for the manifest.
    pub(crate) calibrate: bool,
    /// Measure cold and warm load (in-process).
    pub(crate) load_test: bool,
    /// Whether progress and notes go to [`RunConfig::reporter`]; off, the run reports nothing.
    pub(crate) progress: bool,
    /// Where progress and notes go (the CLI draws bars on stderr); `None`: nowhere.
    pub(crate) reporter: Option<Arc<dyn crate::pipeline::progress::BenchReporter>>,
    /// Judges the prompt set's `judge` checks (none: they are skipped).
    pub(crate) judge: Option<JudgeSpec>,
    /// The recommendation's question (`--select`, `--maximize`).
    pub(crate) select: SelectSpec,
    /// Pooled keep-alive connections or a new one per request (HTTP targets).
    pub(crate) connections: crate::measure::conn::Connections,
    /// Compare the targets (models, or `TargetSpec::Endpoints`) in alternating rounds.
    pub(crate) interleave: Option<Interleave>,
    /// `--dataset synthetic:...`: prompts rebuilt for each model with its own tokenizer
    /// (`prompts` holds the first model's).
    pub(crate) synthetic: Option<Synthetic>,
    /// The `--dataset`, for the manifest.
    pub(crate) dataset: Option<crate::spec::dataset::DatasetInfo>,
    /// `--sweep`: sync, throughput, then rates between (replaces the scenarios).
    pub(crate) sweep: Option<crate::analyze::sweep::SweepSpec>,
    /// Warnings found while setting up (models.json checks), kept in the manifest.
    pub(crate) warnings: Vec<String>,
    /// `--price-per-kwh` and the hardware's amortisation, for the cost estimate.
    pub(crate) cost: Option<crate::analyze::cost::CostInputs>,
    /// The embedding workload: which models get it and its batch size (issue 15).
    pub(crate) embed: crate::spec::embed::EmbedSpec,
}

/// A synthetic workload: prompts of exactly `input_tokens`, `prompts` of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Synthetic {
    pub input_tokens: u32,
    pub prompts: usize,
}

impl RunConfig {
    /// The defaults a builder starts from (not a valid run yet: no models).
    pub(crate) fn defaults() -> Self {
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
            embed: crate::spec::embed::EmbedSpec::default(),
        }
    }
}

// Read access for library callers (the fields are private so that a `RunConfig` is always
// one that `build` accepted). See the fields for what each means.
macro_rules! getters {
    ($($name:ident: $kind:tt $ret:ty;)*) => {
        impl RunConfig {
            $(pub fn $name(&self) -> $ret {
                getters!(@get $kind self.$name)
            })*
        }
    };
    (@get copy $e:expr) => { $e };
    (@get ref $e:expr) => { &$e };
    (@get opt $e:expr) => { $e.as_ref() };
}

getters! {
    models: ref &[ModelSpec];
    prompts: ref &[PromptSpec];
    prompt_source: ref &str;
    gen: ref &GenParams;
    rounds: copy u32;
    warmup: copy u32;
    concurrency: ref &[usize];
    rates: ref &[f64];
    arrivals: copy Arrivals;
    requests: copy Option<u64>;
    duration_s: copy Option<f64>;
    threads: copy Option<usize>;
    max_memory: copy Option<u64>;
    parallel: copy Option<usize>;
    slo: ref &Slo;
    watts_per_core: copy f64;
    target: ref &TargetSpec;
    out_dir: ref &std::path::Path;
    calibrate: copy bool;
    load_test: copy bool;
    progress: copy bool;
    judge: opt Option<&JudgeSpec>;
    select: ref &SelectSpec;
    connections: copy crate::measure::conn::Connections;
    interleave: opt Option<&Interleave>;
    synthetic: opt Option<&Synthetic>;
    dataset: opt Option<&crate::spec::dataset::DatasetInfo>;
    sweep: opt Option<&SweepSpec>;
    warnings: ref &[String];
    cost: opt Option<&crate::analyze::cost::CostInputs>;
    embed: ref &crate::spec::embed::EmbedSpec;
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
