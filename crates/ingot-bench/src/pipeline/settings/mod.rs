//! A run's settings: the command-line flags ([`RunFlags`], already parsed: the CLI fills them
//! from its flags and the environment), then a `bench.toml` ([`RunFlags::config`], the same
//! names), then defaults, resolved and validated into a [`RunConfig`]. Here, not in the CLI,
//! so that a library caller gets the same checks and cannot build an invalid configuration
//! this way.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::Deserialize;

mod flags;
mod specs;

pub use flags::{JudgeFlags, RunFlags, SelectFlags};
use specs::builtin_name;
pub use specs::{judge_spec, load_prompts, select_spec};

use crate::measure::exec::Arrivals;
use crate::pipeline::config::{NamedEndpoint, RunConfig, Synthetic, TargetSpec};
use crate::results::metrics::Slo;

use crate::spec::dataset::{DatasetInfo, DatasetSpec};
use crate::spec::models_file::{CatalogFacts, ModelsFileEntry};
use crate::spec::workload::{GenParams, Mode};

/// The default candidates of the main job.
pub const DEFAULT_MODELS: &[&str] = &["smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b"];

/// `bench.toml`: the same settings as the flags (flags win).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BenchFile {
    /// A list of aliases, or the path of a models.json.
    models: Option<ModelsValue>,
    prompts: Option<PathBuf>,
    rounds: Option<u32>,
    warmup: Option<u32>,
    max_tokens: Option<u32>,
    temperature: Option<f32>,
    seed: Option<u64>,
    fixed_length: Option<bool>,
    concurrency: Option<Vec<usize>>,
    rate: Option<Vec<f64>>,
    arrivals: Option<String>,
    duration: Option<String>,
    requests: Option<u64>,
    threads: Option<usize>,
    parallel: Option<usize>,
    slo: Option<String>,
    timeout: Option<String>,
    endpoint: Option<EndpointsValue>,
    model: Option<Vec<String>>,
    stream: Option<bool>,
    dataset: Option<String>,
    sweep: Option<usize>,
    price_per_kwh: Option<f64>,
    hardware_cost: Option<f64>,
    hardware_life: Option<String>,
    connections: Option<String>,
    interleave: Option<bool>,
    pause: Option<String>,
    api_key: Option<String>,
    server_pid: Option<u32>,
    completion: Option<bool>,
    watts_per_core: Option<f64>,
    out: Option<PathBuf>,
    calibrate: Option<bool>,
    load_test: Option<bool>,
    judge: Option<String>,
    judge_endpoint: Option<String>,
    judge_model: Option<String>,
    judge_api_key: Option<String>,
    judge_samples: Option<usize>,
    judge_temperature: Option<f32>,
    judge_max_tokens: Option<u32>,
    select: Option<String>,
    maximize: Option<String>,
    minimize: Option<String>,
    /// `"embeddings"`: every model is an embedding model (`--embeddings`); `"auto"` (the
    /// default): the catalog's capabilities decide.
    kind: Option<String>,
    embedding_models: Option<Vec<String>>,
    embed_batch: Option<usize>,
}

/// The embedding workload's settings: `--embeddings` or `kind = "embeddings"`, the models
/// named by `--embedding-models` (or the file's `embedding_models`) and those models.json
/// declares with the `embedding` capability, `--embed-batch`.
fn embed_spec(
    a: &RunFlags,
    file: &BenchFile,
    entries: &[ModelsFileEntry],
) -> crate::spec::embed::EmbedSpec {
    let mut models = if a.embedding_models.is_empty() {
        file.embedding_models.clone().unwrap_or_default()
    } else {
        a.embedding_models.clone()
    };
    for e in entries {
        let declared = e
            .capabilities
            .as_ref()
            .is_some_and(|c| c.iter().any(|c| c == "embedding"));
        if declared && !models.contains(&e.alias) {
            models.push(e.alias.clone());
        }
    }
    crate::spec::embed::EmbedSpec {
        batch: a
            .embed_batch
            .or(file.embed_batch)
            .unwrap_or(crate::spec::embed::DEFAULT_EMBED_BATCH),
        all: a.embeddings || file.kind.as_deref() == Some("embeddings"),
        models,
    }
}

/// `endpoint = "URL"` or a list of `NAME=URL`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum EndpointsValue {
    One(String),
    Many(Vec<String>),
}

/// `NAME=URL` or a bare URL (named after its host and port). A `=` belongs to a name only
/// when what precedes it has no `:` or `/` (a URL's query may hold `=` too).
fn named_endpoint(s: &str) -> Result<(String, String)> {
    if let Some((name, url)) = s.split_once('=') {
        if !name.is_empty() && !name.contains([':', '/']) {
            if url.is_empty() {
                bail!("--endpoint {s}: no URL after {name}=");
            }
            return Ok((name.to_string(), url.to_string()));
        }
    }
    let host = s
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(s)
        .split(['/', '?'])
        .next()
        .unwrap_or(s);
    let host = host.rsplit('@').next().unwrap_or(host);
    Ok((host.to_string(), s.to_string()))
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ModelsValue {
    List(Vec<String>),
    File(PathBuf),
}

fn read_models_file(path: &Path) -> Result<Vec<ModelsFileEntry>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    crate::spec::models_file::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn plain(aliases: &[String]) -> Vec<ModelsFileEntry> {
    aliases
        .iter()
        .map(|a| ModelsFileEntry {
            alias: a.clone(),
            ..ModelsFileEntry::default()
        })
        .collect()
}

/// Seconds from `30s`, `2m`, `500ms`, or a bare number of seconds.
fn seconds(v: &str, what: &str) -> Result<f64> {
    if let Ok(n) = v.parse::<f64>() {
        return Ok(n);
    }
    crate::analyze::stats::parse_ms(v)
        .map(|ms| ms / 1000.0)
        .map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

/// Resolves flags + config file + defaults into a run configuration. `catalog` tells what
/// the catalog knows of a model (models.json's capabilities and sizes are checked with it).
pub fn build_config(
    a: &RunFlags,
    catalog: &dyn Fn(&str) -> Option<CatalogFacts>,
) -> Result<RunConfig> {
    let file: BenchFile = match &a.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("invalid config {}", p.display()))?
        }
        None => BenchFile::default(),
    };
    let base = a
        .config
        .as_ref()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let rel = |p: &PathBuf| {
        if p.is_absolute() {
            p.clone()
        } else {
            base.join(p)
        }
    };

    let endpoints: Vec<String> = if !a.endpoint.is_empty() {
        a.endpoint.clone()
    } else {
        match &file.endpoint {
            Some(EndpointsValue::One(e)) => vec![e.clone()],
            Some(EndpointsValue::Many(l)) => l.clone(),
            None => Vec::new(),
        }
    };
    let endpoints = endpoints
        .iter()
        .map(|e| named_endpoint(e))
        .collect::<Result<Vec<_>>>()?;
    if !a.model.is_empty() && endpoints.is_empty() {
        bail!("--model names the model to request from --endpoint; in-process runs take --models");
    }
    let endpoint = endpoints.first().map(|(_, url)| url.clone());
    // Models: flag (aliases or one models.json), config, endpoint's --model, defaults.
    let mut aliases: Vec<ModelsFileEntry> = if !a.models.is_empty() {
        if a.models.len() == 1 && a.models[0].ends_with(".json") {
            read_models_file(Path::new(&a.models[0]))?
        } else {
            plain(&a.models)
        }
    } else if let Some(m) = &file.models {
        match m {
            ModelsValue::List(l) => plain(l),
            ModelsValue::File(p) => read_models_file(&rel(p))?,
        }
    } else {
        Vec::new()
    };
    if endpoint.is_some() {
        // --model wins, then --models / the file's models, then the file's model.
        if !a.model.is_empty() {
            aliases = plain(&a.model);
        } else if aliases.is_empty() {
            aliases = plain(&file.model.clone().unwrap_or_default());
        }
        if aliases.is_empty() {
            bail!("--endpoint needs --model NAME (the model to request)");
        }
    } else if aliases.is_empty() {
        aliases = plain(
            &DEFAULT_MODELS
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        );
    }
    if let Some(k) = file
        .kind
        .as_deref()
        .filter(|k| !matches!(*k, "embeddings" | "auto"))
    {
        bail!("kind = \"{k}\": expected \"embeddings\" or \"auto\"");
    }
    let completion = a.completion || file.completion.unwrap_or(false);
    let (mut models, warnings) = crate::spec::models_file::resolve(&aliases, catalog);
    if completion {
        for m in models.iter_mut() {
            m.mode = Some(Mode::Completion);
        }
    }

    // A built-in set's name wins over a relative path of the same name in the config's folder.
    let prompts_arg = a.prompts.clone().or(file.prompts.as_ref().map(|p| {
        if builtin_name(p).is_some() {
            p.clone()
        } else {
            rel(p)
        }
    }));
    let dataset_arg = a.dataset.clone().or(file.dataset.clone());
    if dataset_arg.is_some() && prompts_arg.is_some() {
        bail!("use either --dataset or --prompts");
    }
    let mut synthetic = None;
    let mut dataset = None;
    let (prompts, prompt_source) = match (&dataset_arg, prompts_arg) {
        (Some(spec), _) => match DatasetSpec::parse(spec)? {
            DatasetSpec::Synthetic {
                input_tokens,
                output_tokens,
                prompts,
            } => {
                synthetic = Some((input_tokens, output_tokens, prompts));
                dataset = Some(DatasetInfo {
                    spec: spec.clone(),
                    kind: "synthetic".into(),
                    sha256: None,
                    entries: None,
                    prompts,
                    input_tokens: Some(input_tokens),
                    output_tokens: Some(output_tokens),
                });
                // Made with the model's tokenizer once the run starts (see `run`).
                (Vec::new(), spec.clone())
            }
            DatasetSpec::File { path, limit } => {
                let path = if file.dataset.is_some() && a.dataset.is_none() {
                    rel(&path)
                } else {
                    path
                };
                let seed = a.seed.or(file.seed).unwrap_or(GenParams::default().seed);
                let (p, info) = crate::spec::dataset::load_file(spec, &path, limit, seed)?;
                dataset = Some(info);
                (p, spec.clone())
            }
        },
        (None, Some(p)) => load_prompts(&p)?,
        (None, None) => (
            crate::spec::sets::builtin_prompts(),
            "builtin workshop".to_string(),
        ),
    };
    let d = GenParams::default();
    let timeout_s = match a.timeout.as_ref().or(file.timeout.as_ref()) {
        Some(t) => seconds(t, "--timeout")?,
        None => d.timeout_s,
    };
    // --no-stream, then --stream 0|1 (or BENCH_STREAM), then the file.
    let stream = if a.no_stream {
        false
    } else {
        match a.stream.as_deref().map(str::trim) {
            Some("1" | "true" | "yes") => true,
            Some("0" | "false" | "no") => false,
            Some(other) => bail!(
                "--stream (or {}) {other}: expected 0 or 1",
                ingot_catalog::env::BENCH_STREAM
            ),
            None => file.stream.unwrap_or(true),
        }
    };
    let mut gen = GenParams {
        max_tokens: a.max_tokens.or(file.max_tokens).unwrap_or(d.max_tokens),
        temperature: a.temperature.or(file.temperature).unwrap_or(d.temperature),
        seed: a.seed.or(file.seed).unwrap_or(d.seed),
        fixed_length: a.fixed_length || file.fixed_length.unwrap_or(false),
        timeout_s,
        stream,
    };
    if let Some((_, out, _)) = synthetic {
        // Exactly M output tokens: EOS ignored, max_tokens M.
        if a.max_tokens.is_some_and(|m| m != out) {
            bail!("--max-tokens conflicts with the dataset's out={out}");
        }
        gen.max_tokens = out;
        gen.fixed_length = true;
    }
    let connections = match a.connections.as_deref().or(file.connections.as_deref()) {
        Some(c) => crate::measure::conn::Connections::parse(c)?,
        None => crate::measure::conn::Connections::Pooled,
    };
    let interleave_flag = a.interleave || file.interleave.unwrap_or(false);
    let interleave = if interleave_flag || endpoints.len() > 1 {
        let pause_s = match a.pause.as_ref().or(file.pause.as_ref()) {
            Some(p) => seconds(p, "--pause")?,
            None => crate::pipeline::config::Interleave::default().pause_s,
        };
        Some(crate::pipeline::config::Interleave { pause_s })
    } else {
        if a.pause.is_some() {
            bail!("--pause separates the targets of --interleave");
        }
        None
    };
    let arrivals = match a
        .arrivals
        .as_deref()
        .or(file.arrivals.as_deref())
        .unwrap_or("poisson")
    {
        "poisson" => Arrivals::Poisson,
        "constant" => Arrivals::Constant,
        other => bail!("--arrivals {other}: expected poisson or constant"),
    };
    let duration_s = match a.duration.as_ref().or(file.duration.as_ref()) {
        Some(v) => Some(seconds(v, "--duration")?),
        None => None,
    };
    let slo = match a.slo.as_ref().or(file.slo.as_ref()) {
        Some(s) => Slo::parse(s)?,
        None => Slo::default(),
    };
    let concurrency = if !a.concurrency.is_empty() {
        a.concurrency.clone()
    } else {
        file.concurrency.clone().unwrap_or_default()
    };
    let rates = if !a.rate.is_empty() {
        a.rate.clone()
    } else {
        file.rate.clone().unwrap_or_default()
    };
    // Rates, concurrency, sweep, pause, endpoint names and costs are checked with the
    // rest of the settings when the config is built (`RunConfig::validated`).
    let sweep = a
        .sweep
        .or(file.sweep)
        .map(|n| crate::analyze::sweep::SweepSpec {
            rates: n,
            max_concurrency: concurrency
                .iter()
                .copied()
                .max()
                .filter(|c| *c > 1)
                .unwrap_or(crate::analyze::sweep::DEFAULT_MAX_CONCURRENCY),
        });
    let hardware_cost = a.hardware_cost.or(file.hardware_cost);
    let hardware_life_s = match a.hardware_life.as_ref().or(file.hardware_life.as_ref()) {
        Some(l) => Some(seconds(l, "--hardware-life")?),
        None => None,
    };
    let price = a.price_per_kwh.or(file.price_per_kwh);
    // Checked with the rest (`RunConfig::validated`): the three are given together or not.
    let cost = match (price, hardware_cost, hardware_life_s) {
        (None, None, None) => None,
        (p, _, _) => Some(crate::analyze::cost::CostInputs {
            price_per_kwh: p.unwrap_or(0.0),
            hardware_cost,
            hardware_life_s,
        }),
    };
    let concurrency = if concurrency.is_empty() && rates.is_empty() {
        vec![1]
    } else {
        concurrency
    };
    let api_key = a.api_key.clone().or(file.api_key.clone());
    let target = match endpoint {
        Some(_) if endpoints.len() > 1 => TargetSpec::Endpoints(
            endpoints
                .iter()
                .map(|(name, url)| NamedEndpoint {
                    name: name.clone(),
                    url: url.clone(),
                    api_key: api_key.clone(),
                })
                .collect(),
        ),
        Some(url) => TargetSpec::Endpoint {
            url,
            api_key,
            server_pid: a.server_pid.or(file.server_pid),
        },
        None => TargetSpec::InProcess,
    };
    let out_dir = match a.out.clone().or(file.out.as_ref().map(rel)) {
        Some(o) => o,
        None => crate::pipeline::run::default_out_dir(Path::new("ingot-results")),
    };
    let rounds = a.rounds.or(file.rounds).unwrap_or(3);
    let judge = judge_spec(&JudgeFlags {
        judge: a.judge.judge.clone().or(file.judge.clone()),
        judge_endpoint: a
            .judge
            .judge_endpoint
            .clone()
            .or(file.judge_endpoint.clone()),
        judge_model: a.judge.judge_model.clone().or(file.judge_model.clone()),
        judge_api_key: a.judge.judge_api_key.clone().or(file.judge_api_key.clone()),
        judge_samples: a.judge.judge_samples.or(file.judge_samples),
        judge_temperature: a.judge.judge_temperature.or(file.judge_temperature),
        judge_max_tokens: a.judge.judge_max_tokens.or(file.judge_max_tokens),
    })?;
    let select = select_spec(&SelectFlags {
        select: a.select.select.clone().or(file.select.clone()),
        maximize: a.select.maximize.clone().or(file.maximize.clone()),
        minimize: a.select.minimize.clone().or(file.minimize.clone()),
    })?
    .unwrap_or_default();
    Ok(RunConfig {
        judge,
        select,
        models,
        prompts,
        prompt_source,
        gen,
        rounds,
        warmup: a.warmup.or(file.warmup).unwrap_or(1),
        concurrency,
        rates,
        arrivals,
        requests: a.requests.or(file.requests),
        duration_s,
        threads: a.threads.or(file.threads),
        max_memory: a.max_memory,
        parallel: a.parallel.or(file.parallel),
        slo,
        watts_per_core: a
            .watts_per_core
            .or(file.watts_per_core)
            .unwrap_or(crate::measure::resources::DEFAULT_WATTS_PER_CORE),
        target,
        out_dir,
        calibrate: !a.no_calibrate && file.calibrate.unwrap_or(true),
        load_test: !a.no_load_test && file.load_test.unwrap_or(true),
        progress: a.progress,
        reporter: None,
        connections,
        interleave,
        sweep,
        warnings,
        cost,
        synthetic: synthetic.map(|(input_tokens, _, prompts)| Synthetic {
            input_tokens,
            prompts,
        }),
        dataset,
        embed: embed_spec(a, &file, &aliases),
    }
    .validated()?)
}
