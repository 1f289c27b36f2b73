//! `ingot bench engine`: llama-bench's measurement, run in-process on ingot's own engine.

use anyhow::Result;
use serde::Serialize;

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context as _};

use crate::cli::{
    BenchAnnotateArgs, BenchCalibrateArgs, BenchCompareArgs, BenchEngineArgs, BenchReportArgs,
    BenchRescoreArgs, BenchRunArgs,
};
use crate::Context;

mod config;
use config::{build_config, judge_spec, load_prompts, select_spec};

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

/// The models a run benchmarks, found as the server finds them: the SDK's provider over the
/// catalog (the one this command already read) and the cache.
fn models(ctx: &Context) -> Result<ingot::CatalogModels> {
    Ok(ingot::CatalogModels::with_catalog(
        &ctx.home,
        ctx.catalog()?.clone(),
    )?)
}

/// Downloads the models an in-process run needs first, with progress bars (the benchmark
/// itself reports phases, not bytes). A failure is left for the run, which records it
/// against that model and goes on with the others.
fn predownload(ctx: &Context, cfg: &ingot_bench::run::RunConfig) {
    if !matches!(cfg.target(), ingot_bench::run::TargetSpec::InProcess) {
        return;
    }
    let (Ok(catalog), Ok(rt)) = (ctx.catalog(), super::runtime()) else {
        return;
    };
    for spec in cfg.models() {
        if let Ok(entry) = catalog.get(&spec.alias) {
            if entry.remote().is_none() {
                let _ = rt.block_on(super::model::ensure_downloaded(ctx, entry));
            }
        }
    }
}

pub(crate) fn run(ctx: &Context, args: BenchRunArgs) -> Result<()> {
    let catalog = ctx.catalog().ok();
    let facts = |alias: &str| {
        let e = catalog.as_ref()?.get(alias).ok()?;
        let cached = ctx
            .store()
            .ok()
            .and_then(|s| s.lookup(alias).ok().flatten())
            .map(|c| c.size());
        Some(ingot_bench::models_file::CatalogFacts {
            capabilities: e.capabilities.clone(),
            size_bytes: e.size.or(cached),
        })
    };
    let mut cfg = build_config(&args, &facts)?;
    for w in cfg.warnings() {
        if cfg.progress() {
            eprintln!("warning: {w}");
        }
    }
    let engine: Arc<dyn ingot_engine::Engine> = Arc::new(ingot_engine::LlamaEngine::new());
    predownload(ctx, &cfg);
    if let Some(sy) = cfg.synthetic().cloned() {
        // The first model's prompts (each model gets its own during the run), so that the
        // manifest and prompts.json describe a real set.
        let prompts = ingot_bench::dataset::synthetic_for_model(
            &models(ctx)?,
            engine.as_ref(),
            &cfg.models()[0].alias,
            sy.input_tokens,
            sy.prompts,
            cfg.gen().seed,
        )?;
        cfg = cfg.into_builder().prompts(prompts).build()?;
    }
    if cfg.progress() {
        eprintln!(
            "ingot bench: {} model(s), {} prompt(s), scenarios {}; results in {}",
            cfg.models().len(),
            cfg.prompts().len(),
            cfg.scenarios()
                .iter()
                .map(|s| s.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
            cfg.out_dir().display()
        );
    }
    let out = ingot_bench::run::run(&cfg, &models(ctx)?, engine)?;
    if args.json {
        return crate::output::print_json(&out.results);
    }
    println!("{}", ingot_bench::report::terminal_table(&out.results));
    println!("reports: {}", cfg.out_dir().display());
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
                &models(ctx)?,
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
    let rules = match &args.fail_if {
        Some(s) => ingot_bench::compare::parse_fail_if(s).map_err(anyhow::Error::msg)?,
        None => Vec::new(),
    };
    let rows = match &args.new {
        Some(p) => ingot_bench::compare::compare(&old, &load_results(p)?),
        None => match &old.comparison {
            Some(c) => ingot_bench::compare::from_comparison(c),
            None => bail!(
                "{} is not an interleaved comparison (--interleave): give a second results.json to compare with",
                args.old.display()
            ),
        },
    };
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
        if let Some(c) = old.comparison.as_ref().filter(|_| args.new.is_none()) {
            println!("A/B run: old = {} (baseline), new = each other target; change = geometric-mean ratio over {} rounds [95 % CI]", c.baseline, c.rounds);
        }
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
                match (r.change_pct, r.ratio_ci) {
                    (Some(c), Some([lo, hi])) => format!(
                        "{c:+.1}% [{:+.1}%–{:+.1}%]{better}",
                        (lo - 1.0) * 100.0,
                        (hi - 1.0) * 100.0
                    ),
                    (Some(c), None) => format!("{c:+.1}%{better}"),
                    _ => "–".into(),
                },
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
