//! The one way to a [`RunConfig`]: a builder whose [`RunConfigBuilder::build`] checks the
//! settings, so that a library caller cannot start a run that `ingot bench run` would refuse.
//! The messages name the flags, as the CLI shows them.

use std::path::PathBuf;
use std::sync::Arc;

use crate::analyze::cost::CostInputs;
use crate::analyze::select::SelectSpec;
use crate::analyze::sweep::SweepSpec;
use crate::measure::conn::Connections;
use crate::measure::exec::Arrivals;
use crate::pipeline::config::{Interleave, RunConfig, Synthetic, TargetSpec};
use crate::pipeline::progress::BenchReporter;
use crate::results::metrics::Slo;
use crate::score::judge_spec::JudgeSpec;
use crate::spec::dataset::DatasetInfo;
use crate::spec::model::ModelSpec;
use crate::spec::workload::{GenParams, PromptSpec};

/// Settings that do not make a run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("no model to benchmark")]
    NoModels,
    #[error("the prompt set is empty")]
    NoPrompts,
    #[error("no scenario: give a concurrency, a rate or a sweep")]
    NoScenario,
    #[error("--rounds must be at least 1")]
    Rounds,
    #[error("--concurrency must be at least 1")]
    Concurrency,
    #[error("--rate must be positive")]
    Rate,
    #[error("--sweep chooses its own rates: leave out --rate")]
    SweepWithRates,
    #[error("--sweep N: between 1 and 50 rates")]
    SweepRates { rates: usize },
    #[error("--sweep and --interleave do not combine: sweep each target on its own")]
    SweepInterleaved,
    #[error("--pause must be a duration of 0 or more")]
    Pause { pause_s: f64 },
    #[error("--endpoint: two targets share a name; write NAME=URL for each")]
    EndpointNames { name: String },
    #[error("--embed-batch: between 1 and {max} texts per request", max = crate::spec::embed::MAX_EMBED_BATCH)]
    EmbedBatch { batch: usize },
    #[error("--hardware-cost and --hardware-life go together")]
    HardwareCost,
    /// `what` is the flag: `--price-per-kwh`, `--hardware-cost` or `--hardware-life`.
    #[error("{what} must be a number of 0 or more")]
    Negative { what: &'static str, value: f64 },
}

impl RunConfig {
    /// A builder with the defaults (3 rounds, 1 warm-up, concurrency 1, the built-in prompt
    /// set, in-process models, `ingot-results`); models must be given.
    pub fn builder() -> RunConfigBuilder {
        RunConfigBuilder(RunConfig::defaults())
    }

    /// A builder holding these settings, to change some and check them again.
    pub fn into_builder(self) -> RunConfigBuilder {
        RunConfigBuilder(self)
    }

    /// Checks the settings; every constructor goes through here.
    pub(crate) fn validated(self) -> Result<RunConfig, ConfigError> {
        let c = &self;
        if c.models.is_empty() {
            return Err(ConfigError::NoModels);
        }
        // A synthetic workload makes its prompts with each model's tokenizer during the run.
        if c.prompts.is_empty() && c.synthetic.is_none() {
            return Err(ConfigError::NoPrompts);
        }
        if c.rounds == 0 {
            return Err(ConfigError::Rounds);
        }
        if c.rates.iter().any(|r| r.is_nan() || *r <= 0.0) {
            return Err(ConfigError::Rate);
        }
        if c.concurrency.contains(&0) {
            return Err(ConfigError::Concurrency);
        }
        if let Some(sw) = &c.sweep {
            if !c.rates.is_empty() {
                return Err(ConfigError::SweepWithRates);
            }
            if sw.rates == 0 || sw.rates > 50 {
                return Err(ConfigError::SweepRates { rates: sw.rates });
            }
            if c.interleave.is_some() {
                return Err(ConfigError::SweepInterleaved);
            }
        } else if c.concurrency.is_empty() && c.rates.is_empty() {
            return Err(ConfigError::NoScenario);
        }
        if let Some(i) = &c.interleave {
            if !(i.pause_s >= 0.0 && i.pause_s.is_finite()) {
                return Err(ConfigError::Pause { pause_s: i.pause_s });
            }
        }
        if let TargetSpec::Endpoints(list) = &c.target {
            let mut names: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
            names.sort_unstable();
            if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
                return Err(ConfigError::EndpointNames {
                    name: w[0].to_string(),
                });
            }
        }
        if c.embed.batch == 0 || c.embed.batch > crate::spec::embed::MAX_EMBED_BATCH {
            return Err(ConfigError::EmbedBatch {
                batch: c.embed.batch,
            });
        }
        if let Some(cost) = &c.cost {
            check_cost(cost)?;
        }
        Ok(self)
    }
}

fn check_cost(c: &CostInputs) -> Result<(), ConfigError> {
    if c.hardware_cost.is_some() != c.hardware_life_s.is_some() {
        return Err(ConfigError::HardwareCost);
    }
    for (v, what) in [
        (Some(c.price_per_kwh), "--price-per-kwh"),
        (c.hardware_cost, "--hardware-cost"),
        (c.hardware_life_s, "--hardware-life"),
    ] {
        if let Some(value) = v.filter(|x| !(x.is_finite() && *x >= 0.0)) {
            return Err(ConfigError::Negative { what, value });
        }
    }
    Ok(())
}

/// Builds a [`RunConfig`]: set what differs from the defaults, then [`build`](Self::build).
#[derive(Debug, Clone)]
pub struct RunConfigBuilder(RunConfig);

impl RunConfigBuilder {
    /// The checked settings.
    pub fn build(self) -> Result<RunConfig, ConfigError> {
        self.0.validated()
    }

    /// Where progress and notes go (with `progress` on).
    pub fn reporter(mut self, reporter: Arc<dyn BenchReporter>) -> Self {
        self.0.reporter = Some(reporter);
        self
    }
}

// One setter per setting, named after it (see [`RunConfig`]'s fields for their meaning).
macro_rules! setters {
    ($($name:ident: $ty:ty;)*) => {
        impl RunConfigBuilder {
            $(pub fn $name(mut self, $name: $ty) -> Self {
                self.0.$name = $name;
                self
            })*
        }
    };
}

setters! {
    models: Vec<ModelSpec>;
    prompts: Vec<PromptSpec>;
    prompt_source: String;
    gen: GenParams;
    rounds: u32;
    warmup: u32;
    concurrency: Vec<usize>;
    rates: Vec<f64>;
    arrivals: Arrivals;
    requests: Option<u64>;
    duration_s: Option<f64>;
    threads: Option<usize>;
    max_memory: Option<u64>;
    parallel: Option<usize>;
    slo: Slo;
    watts_per_core: f64;
    target: TargetSpec;
    out_dir: PathBuf;
    calibrate: bool;
    load_test: bool;
    progress: bool;
    judge: Option<JudgeSpec>;
    select: SelectSpec;
    connections: Connections;
    interleave: Option<Interleave>;
    synthetic: Option<Synthetic>;
    dataset: Option<DatasetInfo>;
    sweep: Option<SweepSpec>;
    warnings: Vec<String>;
    cost: Option<CostInputs>;
    embed: crate::spec::embed::EmbedSpec;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_model() -> RunConfigBuilder {
        RunConfig::builder().models(vec![ModelSpec {
            alias: "m".into(),
            mode: None,
        }])
    }

    #[test]
    fn the_builder_checks_what_the_flags_check() {
        assert!(one_model().build().is_ok());
        assert_eq!(
            RunConfig::builder().build().unwrap_err(),
            ConfigError::NoModels
        );
        assert_eq!(
            one_model().rounds(0).build().unwrap_err().to_string(),
            "--rounds must be at least 1"
        );
        assert_eq!(
            one_model().concurrency(vec![]).build().unwrap_err(),
            ConfigError::NoScenario
        );
        assert_eq!(
            one_model().rates(vec![0.0]).build().unwrap_err(),
            ConfigError::Rate
        );
        let sweep = SweepSpec {
            rates: 60,
            max_concurrency: 8,
        };
        assert_eq!(
            one_model().sweep(Some(sweep)).build().unwrap_err(),
            ConfigError::SweepRates { rates: 60 }
        );
        let twice = |name: &str| crate::pipeline::config::NamedEndpoint {
            name: name.into(),
            url: "http://127.0.0.1:1".into(),
            api_key: None,
        };
        let err = one_model()
            .target(TargetSpec::Endpoints(vec![twice("a"), twice("a")]))
            .build()
            .unwrap_err();
        assert_eq!(err, ConfigError::EndpointNames { name: "a".into() });
        let cost = CostInputs {
            price_per_kwh: -1.0,
            hardware_cost: None,
            hardware_life_s: None,
        };
        assert_eq!(
            one_model()
                .cost(Some(cost))
                .build()
                .unwrap_err()
                .to_string(),
            "--price-per-kwh must be a number of 0 or more"
        );
        // A valid config changed through its builder is checked again.
        let cfg = one_model().build().unwrap();
        assert!(cfg.into_builder().prompts(vec![]).build().is_err());
    }
}
