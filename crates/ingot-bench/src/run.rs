//! A whole benchmark run: models × scenarios, outputs written after every model, a failing
//! model recorded as `failed` while the run goes on.

use crate::progress::{BenchReporter, Phase, Silent};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ingot_core::{Engine, LoadOptions, LoadedModel};

use crate::exec::{run_scenario, Arrivals, OnRecord, Scenario, StopAt};
use crate::record::RequestRecord;
use crate::resources::{cpu_seconds, drop_page_cache, MemorySampler};
use crate::results::*;
use crate::score::{quality_info, score_model, score_run, JudgeMode};
use crate::select::{select, SelectSpec};
use crate::stats::Slo;
use crate::target::{HttpTarget, InProcessTarget, Job, Target};
use crate::workload::{GenParams, Mode, PromptSpec};

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

/// A model to benchmark; `mode: None` picks chat when the model has a chat template.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub alias: String,
    pub mode: Option<Mode>,
}

/// What the resolver found for a model (in-process runs).
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    pub path: PathBuf,
    pub sha256: Option<String>,
    pub size_bytes: Option<u64>,
    pub quantization: Option<String>,
    pub parameters: Option<u64>,
    /// Whether the model has a chat template (else it is benchmarked in completion mode).
    pub chat_template: bool,
    /// A chat template from the catalog entry (`ingot model add --chat-template`) that replaces
    /// or supplies the file's own; the model is loaded with it.
    pub chat_template_override: Option<String>,
}

/// A catalog alias served by another OpenAI-compatible server (a remote adapter, `ingot model
/// add --endpoint`): in-process runs benchmark it over HTTP beside the local models.
#[derive(Debug, Clone)]
pub struct RemoteModel {
    /// The upstream base URL (with or without `/v1`).
    pub url: String,
    /// The model name the upstream knows it by.
    pub model: String,
    pub api_key: Option<String>,
}

/// Finds (downloading if needed) a model's file. Called outside any async runtime.
pub trait Resolver {
    fn resolve(&self, alias: &str) -> anyhow::Result<ResolvedModel>;
    /// The model's license (from the catalog) and whether it is permissive.
    fn license(&self, _alias: &str) -> Option<(String, bool)> {
        None
    }
    /// The model's file if it is already local, without downloading (used with an endpoint
    /// to report the disk footprint of a model served under a known alias).
    fn lookup(&self, _alias: &str) -> Option<ResolvedModel> {
        None
    }
    /// Where a remote adapter's requests go; `None` for local models.
    fn remote(&self, _alias: &str) -> Option<RemoteModel> {
        None
    }
}

/// Which model judges the `judge` checks.
#[derive(Debug, Clone)]
pub enum JudgeTarget {
    /// A catalog alias, loaded in-process with the bench's loader after the last model.
    Local { alias: String },
    /// An OpenAI-compatible endpoint.
    Endpoint {
        url: String,
        model: String,
        api_key: Option<String>,
    },
}

/// The judge's settings.
#[derive(Debug, Clone)]
pub struct JudgeSpec {
    pub target: JudgeTarget,
    /// Samples per answer; the verdict is their median.
    pub samples: usize,
    pub temperature: f32,
    pub max_tokens: u32,
}

impl JudgeSpec {
    pub fn new(target: JudgeTarget) -> Self {
        Self {
            target,
            samples: 1,
            temperature: 0.0,
            max_tokens: 160,
        }
    }
}

/// A judge that cannot judge (it failed to load): every judge check becomes a judge error.
struct BrokenJudge {
    name: String,
    error: String,
}

impl crate::judge::JudgeBackend for BrokenJudge {
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn complete(
        &self,
        _: Vec<crate::workload::Message>,
        _: crate::judge::JudgeParams,
    ) -> futures_util::future::BoxFuture<'_, Result<String, String>> {
        let e = self.error.clone();
        Box::pin(async move { Err(e) })
    }
}

/// Builds the judge of a run. A judge that cannot be loaded still yields a judge whose every
/// call fails, so that its checks are counted as judge errors instead of vanishing.
pub fn build_judge(
    spec: &JudgeSpec,
    resolver: &dyn Resolver,
    engine: &dyn Engine,
    threads: Option<usize>,
    timeout_s: f64,
) -> crate::judge::Judge {
    let built = match &spec.target {
        JudgeTarget::Local { alias } => {
            crate::rundir::local_judge(alias, resolver, engine, threads, spec.samples)
        }
        JudgeTarget::Endpoint {
            url,
            model,
            api_key,
        } => crate::judge::HttpJudge::new(url, model, api_key.clone())
            .map(|j| crate::judge::Judge::new(Arc::new(j), spec.samples)),
    };
    let mut judge = built.unwrap_or_else(|e| {
        let name = match &spec.target {
            JudgeTarget::Local { alias } => alias.clone(),
            JudgeTarget::Endpoint { url, model, .. } => {
                format!("{model} at {}", crate::redact::redact_url(url))
            }
        };
        crate::judge::Judge::new(
            Arc::new(BrokenJudge {
                name,
                error: crate::redact::redact_urls_in(&format!("judge unavailable: {e:#}")),
            }),
            1,
        )
    });
    judge.temperature = spec.temperature;
    judge.max_tokens = spec.max_tokens;
    judge.timeout_s = timeout_s;
    judge
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
    pub reporter: Option<Arc<dyn crate::progress::BenchReporter>>,
    /// Judges the prompt set's `judge` checks (none: they are skipped).
    pub judge: Option<JudgeSpec>,
    /// The recommendation's question (`--select`, `--maximize`).
    pub select: SelectSpec,
    /// Pooled keep-alive connections or a new one per request (HTTP targets).
    pub connections: crate::conn::Connections,
    /// Compare the targets (models, or `TargetSpec::Endpoints`) in alternating rounds.
    pub interleave: Option<crate::ab::Interleave>,
    /// `--dataset synthetic:...`: prompts rebuilt for each model with its own tokenizer
    /// (`prompts` holds the first model's).
    pub synthetic: Option<Synthetic>,
    /// The `--dataset`, for the manifest.
    pub dataset: Option<crate::dataset::DatasetInfo>,
    /// `--sweep`: sync, throughput, then rates between (replaces the scenarios).
    pub sweep: Option<crate::sweep::SweepSpec>,
    /// Warnings found while setting up (models.json checks), kept in the manifest.
    pub warnings: Vec<String>,
    /// `--price-per-kwh` and the hardware's amortisation, for the cost estimate.
    pub cost: Option<crate::cost::CostInputs>,
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
            prompts: crate::workload::builtin_prompts(),
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
            watts_per_core: crate::resources::DEFAULT_WATTS_PER_CORE,
            target: TargetSpec::InProcess,
            out_dir: PathBuf::from("ingot-results"),
            calibrate: true,
            load_test: true,
            progress: false,
            reporter: None,
            judge: None,
            select: SelectSpec::default(),
            connections: crate::conn::Connections::Pooled,
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
            return crate::sweep::fixed_scenarios(self, sw);
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
}

pub(crate) fn note(cfg: &RunConfig, msg: &str) {
    cfg.reporter().note(msg);
}

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
        return crate::ab::run(cfg, resolver, engine);
    }
    let rt = crate::exec::client_runtime()?;
    let scenarios = cfg.scenarios();
    let n_parallel = crate::setup::n_parallel(cfg, &scenarios);
    let (mut results, server_pid) =
        crate::setup::start_results(cfg, engine.as_ref(), &scenarios, n_parallel);
    // The prompt set with its checks, for `ingot bench annotate|report|rescore` later.
    std::fs::write(
        cfg.out_dir.join(crate::rundir::PROMPTS_FILE),
        crate::workload::prompts_json(&cfg.prompts),
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
                    own = crate::dataset::synthetic_for_model(
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
        mr.cost = crate::cost::estimate(cfg.cost.as_ref(), &mr);
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
        if let Err(e) = crate::report::write_all(&cfg.out_dir, &results, &records) {
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
            if let Err(e) = crate::report::write_all(&cfg.out_dir, &results, &records) {
                note(cfg, &format!("warning: cannot write the reports: {e:#}"));
            }
        }
    }
    Ok(RunOutput { results, records })
}

/// A progress phase of this run (nothing is drawn when progress is off).
pub(crate) fn bar(cfg: &RunConfig, len: Option<u64>, msg: String) -> Arc<dyn Phase> {
    cfg.reporter().phase(&msg, len)
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
    let baseline_rss = crate::resources::memory(pid).map(|m| m.0);
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
            anyhow::bail!("several endpoints are compared in interleaved rounds (crate::ab)")
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
                crate::redact::redact_url(&r.url)
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
    let tally = crate::measure::measure_all(
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
