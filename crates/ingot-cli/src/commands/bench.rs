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
