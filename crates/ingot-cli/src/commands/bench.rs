//! `ingot bench engine`: llama-bench's measurement, run in-process on ingot's own engine.

use anyhow::Result;
use serde::Serialize;

use crate::cli::BenchEngineArgs;
use crate::Context;

#[derive(Serialize)]
struct MeanSdJson {
    mean: f64,
    sd: f64,
}

#[derive(Serialize)]
struct BenchEngineJson {
    model: String,
    model_sha256: String,
    prompt_tokens: u32,
    gen_tokens: u32,
    repetitions: u32,
    threads: usize,
    prompt_tok_s: MeanSdJson,
    gen_tok_s: MeanSdJson,
    system_info: String,
}

pub(crate) fn engine(ctx: &Context, args: BenchEngineArgs) -> Result<()> {
    let catalog = ctx.catalog()?;
    let entry = catalog.get(&args.alias)?.clone();
    let rt = super::runtime()?;
    let cached = rt.block_on(super::model::ensure_downloaded(ctx, &entry))?;
    drop(rt);
    let params = ingot_engine::BenchEngineParams {
        threads: args.threads,
        prompt_tokens: args.prompt_tokens,
        gen_tokens: args.gen_tokens,
        repetitions: args.repetitions,
        ..ingot_engine::BenchEngineParams::default()
    };
    if !args.json {
        eprintln!(
            "benchmarking {} (pp{} / tg{}, {} repetitions)...",
            entry.alias, args.prompt_tokens, args.gen_tokens, args.repetitions
        );
    }
    let r = ingot_engine::bench_engine(&cached.path, &params)?;
    let out = BenchEngineJson {
        model: entry.alias.clone(),
        model_sha256: cached.sha256.clone(),
        prompt_tokens: args.prompt_tokens,
        gen_tokens: args.gen_tokens,
        repetitions: args.repetitions,
        threads: r.threads,
        prompt_tok_s: MeanSdJson {
            mean: r.prompt_tok_s.mean,
            sd: r.prompt_tok_s.sd,
        },
        gen_tok_s: MeanSdJson {
            mean: r.gen_tok_s.mean,
            sd: r.gen_tok_s.sd,
        },
        system_info: r.system_info.clone(),
    };
    if args.json {
        return crate::output::print_json(&out);
    }
    let mut t = crate::output::table(&["model", "threads", "test", "t/s"]);
    t.add_row(vec![
        entry.alias.clone(),
        r.threads.to_string(),
        format!("pp{}", args.prompt_tokens),
        format!("{:.2} ± {:.2}", r.prompt_tok_s.mean, r.prompt_tok_s.sd),
    ]);
    t.add_row(vec![
        entry.alias.clone(),
        r.threads.to_string(),
        format!("tg{}", args.gen_tokens),
        format!("{:.2} ± {:.2}", r.gen_tok_s.mean, r.gen_tok_s.sd),
    ]);
    println!("{t}");
    println!("system info: {}", r.system_info);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// `ingot bench`: the main job.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use ingot_bench::exec::Arrivals;
use ingot_bench::run::{ModelSpec, RemoteModel, ResolvedModel, Resolver, RunConfig, TargetSpec};
use ingot_bench::stats::Slo;
use ingot_bench::workload::{GenParams, Mode};
use serde::Deserialize;

use crate::cli::{
    BenchAnnotateArgs, BenchCalibrateArgs, BenchCompareArgs, BenchJudgeArgs, BenchReportArgs,
    BenchRescoreArgs, BenchRunArgs, BenchSelectArgs,
};
use ingot_bench::run::{JudgeSpec, JudgeTarget};
use ingot_bench::select::{Goal, SelectSpec};
use ingot_bench::workload::PromptSpec;

/// The default candidates of the main job.
pub(crate) const DEFAULT_MODELS: &[&str] = &["smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b"];

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
    endpoint: Option<String>,
    model: Option<Vec<String>>,
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
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ModelsValue {
    List(Vec<String>),
    File(PathBuf),
}

fn read_models_file(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    ingot_bench::workload::parse_models(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Seconds from `30s`, `2m`, `500ms`, or a bare number of seconds.
fn seconds(v: &str, what: &str) -> Result<f64> {
    if let Ok(n) = v.parse::<f64>() {
        return Ok(n);
    }
    ingot_bench::stats::parse_ms(v)
        .map(|ms| ms / 1000.0)
        .map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

/// Resolves flags + config file + defaults into a run configuration.
fn build_config(a: &BenchRunArgs) -> Result<RunConfig> {
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

    let endpoint = a.endpoint.clone().or(file.endpoint.clone());
    // Models: flag (aliases or one models.json), config, endpoint's --model, defaults.
    let mut aliases: Vec<String> = if !a.models.is_empty() {
        if a.models.len() == 1 && a.models[0].ends_with(".json") {
            read_models_file(Path::new(&a.models[0]))?
        } else {
            a.models.clone()
        }
    } else if let Some(m) = &file.models {
        match m {
            ModelsValue::List(l) => l.clone(),
            ModelsValue::File(p) => read_models_file(&rel(p))?,
        }
    } else {
        Vec::new()
    };
    if endpoint.is_some() {
        // --model wins, then --models / the file's models, then the file's model.
        if !a.model.is_empty() {
            aliases = a.model.clone();
        } else if aliases.is_empty() {
            aliases = file.model.clone().unwrap_or_default();
        }
        if aliases.is_empty() {
            bail!("--endpoint needs --model NAME (the model to request)");
        }
    } else if aliases.is_empty() {
        aliases = DEFAULT_MODELS.iter().map(|s| s.to_string()).collect();
    }
    let completion = a.completion || file.completion.unwrap_or(false);
    let models = aliases
        .into_iter()
        .map(|alias| ModelSpec {
            alias,
            mode: completion.then_some(Mode::Completion),
        })
        .collect();

    // A built-in set's name wins over a relative path of the same name in the config's folder.
    let prompts_arg = a.prompts.clone().or(file.prompts.as_ref().map(|p| {
        if builtin_name(p).is_some() {
            p.clone()
        } else {
            rel(p)
        }
    }));
    let (prompts, prompt_source) = match prompts_arg {
        Some(p) => load_prompts(&p)?,
        None => (
            ingot_bench::workload::builtin_prompts(),
            "builtin workshop".to_string(),
        ),
    };
    let d = GenParams::default();
    let timeout_s = match a.timeout.as_ref().or(file.timeout.as_ref()) {
        Some(t) => seconds(t, "--timeout")?,
        None => d.timeout_s,
    };
    let gen = GenParams {
        max_tokens: a.max_tokens.or(file.max_tokens).unwrap_or(d.max_tokens),
        temperature: a.temperature.or(file.temperature).unwrap_or(d.temperature),
        seed: a.seed.or(file.seed).unwrap_or(d.seed),
        fixed_length: a.fixed_length || file.fixed_length.unwrap_or(false),
        timeout_s,
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
        Some(s) => Slo::parse(s).map_err(anyhow::Error::msg)?,
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
    if rates.iter().any(|r| r.is_nan() || *r <= 0.0) {
        bail!("--rate must be positive");
    }
    if concurrency.contains(&0) {
        bail!("--concurrency must be at least 1");
    }
    let concurrency = if concurrency.is_empty() && rates.is_empty() {
        vec![1]
    } else {
        concurrency
    };
    let target = match endpoint {
        Some(url) => TargetSpec::Endpoint {
            url,
            api_key: a.api_key.clone().or(file.api_key.clone()),
            server_pid: a.server_pid.or(file.server_pid),
        },
        None => TargetSpec::InProcess,
    };
    let out_dir = match a.out.clone().or(file.out.as_ref().map(rel)) {
        Some(o) => o,
        None => ingot_bench::run::default_out_dir(Path::new("ingot-results")),
    };
    let rounds = a.rounds.or(file.rounds).unwrap_or(3);
    if rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let judge = judge_spec(&BenchJudgeArgs {
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
    let select = select_spec(&BenchSelectArgs {
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
            .unwrap_or(ingot_bench::resources::DEFAULT_WATTS_PER_CORE),
        target,
        out_dir,
        calibrate: !a.no_calibrate && file.calibrate.unwrap_or(true),
        load_test: !a.no_load_test && file.load_test.unwrap_or(true),
        progress: !a.quiet && !a.json,
    })
}

fn builtin_name(p: &Path) -> Option<&str> {
    let s = p.to_str()?;
    ingot_bench::workload::BUILTIN_SETS
        .contains(&s)
        .then_some(s)
}

/// `workshop`, `summarize`, or a prompts.json file; with the source named for the manifest.
fn load_prompts(p: &Path) -> Result<(Vec<PromptSpec>, String)> {
    if let Some(name) = builtin_name(p) {
        let set = ingot_bench::workload::builtin_set(name).expect("listed");
        return Ok((set, format!("builtin {name}")));
    }
    let text = std::fs::read_to_string(p).with_context(|| {
        format!(
            "cannot read {} (--prompts takes {} or a file)",
            p.display(),
            ingot_bench::workload::BUILTIN_SETS.join(", ")
        )
    })?;
    let prompts = ingot_bench::workload::parse_prompts(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
    Ok((prompts, p.display().to_string()))
}

fn judge_spec(a: &BenchJudgeArgs) -> Result<Option<JudgeSpec>> {
    let target = match (&a.judge, &a.judge_endpoint) {
        (Some(_), Some(_)) => bail!("use either --judge ALIAS or --judge-endpoint URL, not both"),
        (Some(alias), None) => JudgeTarget::Local {
            alias: alias.clone(),
        },
        (None, Some(url)) => JudgeTarget::Endpoint {
            url: url.clone(),
            model: a
                .judge_model
                .clone()
                .context("--judge-endpoint needs --judge-model NAME")?,
            api_key: a.judge_api_key.clone(),
        },
        (None, None) => return Ok(None),
    };
    let mut spec = JudgeSpec::new(target);
    if let Some(k) = a.judge_samples {
        if k == 0 {
            bail!("--judge-samples must be at least 1");
        }
        spec.samples = k;
    }
    if let Some(t) = a.judge_temperature {
        if !t.is_finite() || t < 0.0 {
            bail!("--judge-temperature must be >= 0");
        }
        spec.temperature = t;
    }
    if let Some(n) = a.judge_max_tokens {
        if n < 8 {
            bail!("--judge-max-tokens must be at least 8");
        }
        spec.max_tokens = n;
    }
    Ok(Some(spec))
}

fn select_spec(a: &BenchSelectArgs) -> Result<Option<SelectSpec>> {
    if a.select.is_none() && a.maximize.is_none() && a.minimize.is_none() {
        return Ok(None);
    }
    let constraints = match &a.select {
        Some(s) => ingot_bench::select::parse_constraints(s).map_err(anyhow::Error::msg)?,
        None => Vec::new(),
    };
    let goal = match (&a.maximize, &a.minimize) {
        (Some(_), Some(_)) => bail!("use either --maximize or --minimize"),
        (Some(m), None) => Some(Goal::maximize(m).map_err(anyhow::Error::msg)?),
        (None, Some(m)) => Some(Goal::minimize(m).map_err(anyhow::Error::msg)?),
        (None, None) => None,
    };
    Ok(Some(SelectSpec { constraints, goal }))
}

/// Downloads models through the catalog, with a progress bar.
struct CatalogResolver<'a> {
    ctx: &'a Context,
}

impl Resolver for CatalogResolver<'_> {
    fn license(&self, alias: &str) -> Option<(String, bool)> {
        let catalog = self.ctx.catalog().ok()?;
        let entry = catalog.get(alias).ok()?;
        Some((entry.license.clone(), entry.license_is_permissive()))
    }

    fn resolve(&self, alias: &str) -> Result<ResolvedModel> {
        let catalog = self.ctx.catalog()?;
        let entry = catalog.get(alias)?.clone();
        let rt = super::runtime()?;
        let cached = rt.block_on(super::model::ensure_downloaded(self.ctx, &entry))?;
        Ok(ResolvedModel {
            path: cached.path,
            sha256: Some(cached.sha256),
            size_bytes: Some(cached.size),
            quantization: Some(entry.quantization.clone()),
            parameters: entry.parameters,
            chat_template: entry.chat_template || entry.chat_template_override.is_some(),
            chat_template_override: entry.chat_template_override.clone(),
        })
    }

    fn remote(&self, alias: &str) -> Option<RemoteModel> {
        let catalog = self.ctx.catalog().ok()?;
        let remote = catalog.get(alias).ok()?.remote()?.clone();
        Some(RemoteModel {
            url: remote.endpoint.clone(),
            api_key: remote.api_key(),
            model: remote.model,
        })
    }

    fn lookup(&self, alias: &str) -> Option<ResolvedModel> {
        let catalog = self.ctx.catalog().ok()?;
        let entry = catalog.get(alias).ok()?.clone();
        let cached = self.ctx.store().ok()?.lookup(alias).ok()??;
        Some(ResolvedModel {
            size_bytes: Some(cached.size()),
            sha256: Some(cached.sha256().to_string()),
            path: cached.path,
            quantization: Some(entry.quantization.clone()),
            parameters: entry.parameters,
            chat_template: entry.chat_template || entry.chat_template_override.is_some(),
            chat_template_override: entry.chat_template_override.clone(),
        })
    }
}

pub(crate) fn run(ctx: &Context, args: BenchRunArgs) -> Result<()> {
    let cfg = build_config(&args)?;
    if cfg.progress {
        eprintln!(
            "ingot bench: {} model(s), {} prompt(s), scenarios {}; results in {}",
            cfg.models.len(),
            cfg.prompts.len(),
            cfg.scenarios()
                .iter()
                .map(|s| s.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
            cfg.out_dir.display()
        );
    }
    let engine: Arc<dyn ingot_engine::Engine> = Arc::new(ingot_engine::LlamaEngine::new());
    let out = ingot_bench::run::run(&cfg, &CatalogResolver { ctx }, engine)?;
    if args.json {
        return crate::output::print_json(&out.results);
    }
    println!("{}", ingot_bench::report::terminal_table(&out.results));
    println!("reports: {}", cfg.out_dir.display());
    Ok(())
}

fn print_quality(results: &ingot_bench::results::Results) {
    for m in &results.models {
        if let Some(q) = &m.quality {
            println!(
                "quality {}: {}",
                m.alias,
                ingot_bench::report::quality_summary(q)
            );
        }
    }
    if let Some(sel) = &results.selection {
        for line in ingot_bench::select::explain(sel) {
            println!("{line}");
        }
    }
}

pub(crate) fn annotate(args: BenchAnnotateArgs) -> Result<()> {
    let run = ingot_bench::rundir::RunDir::load(&args.run_dir)?;
    let (path, rows, kept) = run.annotate()?;
    println!(
        "wrote {} ({rows} rows{}): fill in the score column with 1-5, then run `ingot bench report {}`",
        path.display(),
        if kept > 0 {
            format!(", {kept} score(s) already given kept")
        } else {
            String::new()
        },
        args.run_dir.display()
    );
    Ok(())
}

pub(crate) fn report(args: BenchReportArgs) -> Result<()> {
    let mut run = ingot_bench::rundir::RunDir::load(&args.run_dir)?;
    let spec = select_spec(&args.select)?;
    let merged = run.report(spec)?;
    if args.json {
        return crate::output::print_json(&run.results);
    }
    println!("{}", ingot_bench::report::terminal_table(&run.results));
    println!(
        "reports rewritten in {} ({merged} human score(s) merged)",
        args.run_dir.display()
    );
    Ok(())
}

pub(crate) fn rescore(ctx: &Context, args: BenchRescoreArgs) -> Result<()> {
    let mut run = ingot_bench::rundir::RunDir::load(&args.run_dir)?;
    let (prompts, source) = load_prompts(&args.prompts)?;
    let spec = select_spec(&args.select)?;
    let judge = match judge_spec(&args.judge)? {
        Some(js) => {
            let engine = ingot_engine::LlamaEngine::new();
            Some(ingot_bench::run::build_judge(
                &js,
                &CatalogResolver { ctx },
                &engine,
                args.threads,
                run.results.manifest.sampling.timeout_s,
            ))
        }
        None => None,
    };
    if !args.json {
        eprintln!(
            "rescoring {} with {} case(s) from {}{}...",
            args.run_dir.display(),
            prompts.len(),
            source,
            judge
                .as_ref()
                .map(|j| format!(", judge {}", j.describe()))
                .unwrap_or_default()
        );
    }
    run.rescore(prompts, &source, judge.as_ref(), spec, &|_, _| {})?;
    if args.json {
        return crate::output::print_json(&run.results);
    }
    print_quality(&run.results);
    println!("reports rewritten in {}", args.run_dir.display());
    Ok(())
}

pub(crate) fn calibrate(args: BenchCalibrateArgs) -> Result<()> {
    let opts = ingot_bench::calibrate::CalibrateOptions {
        ttft: std::time::Duration::from_secs_f64(args.ttft_ms / 1000.0),
        itl: std::time::Duration::from_secs_f64(args.itl_ms / 1000.0),
        tokens: args.tokens.max(1),
        concurrency: args.concurrency.clone(),
        requests: args.requests,
        throughput_requests: args.throughput_requests,
        throughput_concurrency: 64,
    };
    if !args.json {
        eprintln!(
            "calibrating against a loopback mock (TTFT {} ms, ITL {} ms, {} tokens)...",
            args.ttft_ms, args.itl_ms, args.tokens
        );
    }
    let c = ingot_bench::calibrate::calibrate(&opts)?;
    if args.json {
        return crate::output::print_json(&c);
    }
    let f = |v: Option<f64>| ingot_bench::report::num(v, 3);
    let mut t = crate::output::table(&[
        "concurrency",
        "requests",
        "failed",
        "TTFT measured",
        "TTFT true",
        "TTFT error",
        "ITL measured",
        "ITL true",
        "ITL error",
    ]);
    for p in &c.points {
        t.add_row(vec![
            p.concurrency.to_string(),
            p.requests.to_string(),
            p.failed.to_string(),
            f(p.ttft_measured_ms_p50),
            f(p.ttft_true_ms_p50),
            f(p.ttft_error_ms_p50),
            f(p.itl_measured_ms_p50),
            f(p.itl_true_ms_p50),
            f(p.itl_error_ms_p50),
        ]);
    }
    println!("{t}");
    println!("p50 values in ms; error = measured − true (the mock's own clock).");
    println!(
        "max streamed requests/s (zero-delay mock, concurrency {}, {} requests): {}{}",
        c.throughput_concurrency,
        c.throughput_requests,
        ingot_bench::report::num(c.max_streamed_req_per_s, 0),
        if c.release_build {
            ""
        } else {
            " (debug build: use --release for the real figure)"
        }
    );
    Ok(())
}

fn load_results(path: &Path) -> Result<ingot_bench::results::Results> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not an ingot results.json", path.display()))
}

pub(crate) fn compare(args: BenchCompareArgs) -> Result<()> {
    let old = load_results(&args.old)?;
    let new = load_results(&args.new)?;
    let rules = match &args.fail_if {
        Some(s) => ingot_bench::compare::parse_fail_if(s).map_err(anyhow::Error::msg)?,
        None => Vec::new(),
    };
    let rows = ingot_bench::compare::compare(&old, &new);
    let violations = ingot_bench::compare::violations(&rows, &rules);
    if args.json {
        crate::output::print_json(&serde_json::json!({
            "rows": rows,
            "violations": violations.iter().map(|(r, row)| serde_json::json!({
                "rule": r.text, "model": row.model, "scenario": row.scenario,
                "metric": row.metric, "change_pct": row.change_pct,
            })).collect::<Vec<_>>(),
        }))?;
    } else {
        let ci = |v: Option<f64>, c: Option<[f64; 2]>| match c {
            Some([lo, hi]) => format!("{} [{:.2}–{:.2}]", ingot_bench::report::num(v, 2), lo, hi),
            None => ingot_bench::report::num(v, 2),
        };
        let mut t = crate::output::table(&[
            "model",
            "scenario",
            "metric",
            "old",
            "new",
            "change",
            "significant",
        ]);
        for r in &rows {
            let better = match r.change_pct {
                Some(c) if c != 0.0 => {
                    if (c > 0.0) == r.higher_is_better {
                        " (better)"
                    } else {
                        " (worse)"
                    }
                }
                _ => "",
            };
            t.add_row(vec![
                r.model.clone(),
                r.scenario.clone(),
                r.metric.clone(),
                ci(r.old, r.old_ci),
                ci(r.new, r.new_ci),
                r.change_pct
                    .map(|c| format!("{c:+.1}%{better}"))
                    .unwrap_or_else(|| "–".into()),
                if r.significant {
                    "yes".into()
                } else {
                    "no".into()
                },
            ]);
        }
        println!("{t}");
        if rows.is_empty() {
            println!("no model and scenario in common");
        }
    }
    if !violations.is_empty() {
        for (rule, row) in &violations {
            eprintln!(
                "regression: {} {} {} changed {:+.1}% (rule {})",
                row.model,
                row.scenario,
                row.metric,
                row.change_pct.unwrap_or(0.0),
                rule.text
            );
        }
        bail!("{} significant regression(s)", violations.len());
    }
    Ok(())
}
