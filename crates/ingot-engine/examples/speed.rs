//! Compares the engine's single-stream generation speed with the raw llama-bench-style decode
//! loop of `bench_engine` on the same model and threads, alternating short runs so background
//! load affects both alike:
//! `cargo run --release --example speed -- MODEL.gguf [threads] [rounds]`.
use ingot_engine::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = std::path::PathBuf::from(
        args.get(1)
            .ok_or("usage: speed MODEL.gguf [threads] [rounds]")?,
    );
    let threads = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(physical_cores);
    let rounds: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
    let engine_first = std::env::var_os("ENGINE_FIRST").is_some();
    let model = LlamaLoadedModel::load(
        &path,
        &LoadOptions {
            threads: Some(threads),
            prefix_cache: false,
            // Like for like with the raw loop, which decodes one token at a time.
            speculative: Speculative::Off,
            ..Default::default()
        },
    )?;
    println!("{}", system_info());
    let (mut b, mut e) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let run_engine = |e: &mut Vec<f64>| -> Result<(), Box<dyn std::error::Error>> {
            let mut stream = model.generate(GenerateRequest {
                prompt: Prompt::Raw("Once upon a time".into()),
                sampling: SamplingParams {
                    max_tokens: Some(128),
                    ignore_eos: true,
                    ..Default::default()
                },
            })?;
            while let Some(ev) = stream.blocking_next() {
                match ev {
                    Event::Done { timings, .. } => e.push(timings.gen_tokens_per_s),
                    Event::Error(err) => return Err(err.into()),
                    Event::Token { .. } => {}
                }
            }
            Ok(())
        };
        let run_bench = |b: &mut Vec<f64>| -> Result<(), Box<dyn std::error::Error>> {
            let r = bench_engine(
                &path,
                &BenchEngineParams {
                    threads: Some(threads),
                    repetitions: 1,
                    ..Default::default()
                },
            )?;
            println!("bench pp512 {:.1} t/s", r.prompt_tok_s.mean);
            b.push(r.gen_tok_s.mean);
            Ok(())
        };
        if engine_first {
            run_engine(&mut e)?;
            run_bench(&mut b)?;
        } else {
            run_bench(&mut b)?;
            run_engine(&mut e)?;
        }
        println!(
            "round {round}: bench tg128 {:.1} t/s | engine tg128 {:.1} t/s",
            b[round], e[round]
        );
    }
    let (bm, em) = (
        MeanSd::from_samples(b.clone()),
        MeanSd::from_samples(e.clone()),
    );
    let max = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    println!(
        "threads {threads}: bench {:.1} ± {:.1} (best {:.1}) | engine {:.1} ± {:.1} (best {:.1}) | engine/bench {:.1}% (best/best {:.1}%)",
        bm.mean, bm.sd, max(&b), em.mean, em.sd, max(&e),
        100.0 * em.mean / bm.mean, 100.0 * max(&e) / max(&b)
    );
    Ok(())
}
