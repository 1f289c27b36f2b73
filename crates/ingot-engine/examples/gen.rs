//! Streams one generation to stdout:
//! `cargo run --example gen -- MODEL.gguf "question" [max_tokens] [--raw]`.
use std::io::Write;

use ingot_engine::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: gen MODEL.gguf PROMPT [MAX_TOKENS] [--raw]");
        std::process::exit(2);
    }
    let max_tokens = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(64);
    let raw = args.iter().any(|a| a == "--raw");
    // INGOT_BATCH / INGOT_THREADS / INGOT_CTX override the load options (debugging aids).
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u32>().ok());
    let mut opts = LoadOptions::default();
    if let Some(b) = env("INGOT_BATCH") {
        opts.batch_size = b;
    }
    if let Some(t) = env("INGOT_THREADS") {
        opts.threads = Some(t as usize);
    }
    opts.context_length = env("INGOT_CTX");
    let model = LlamaLoadedModel::load(args[1].as_ref(), &opts)?;
    let prompt = if raw {
        Prompt::Raw(args[2].clone())
    } else {
        Prompt::Chat(vec![ChatMessage::new("user", args[2].clone())])
    };
    let text = model.render_prompt(&prompt)?;
    eprintln!(
        "--- prompt ---\n{text}\n--- tokens: {:?}",
        model.tokenize(&text)?
    );
    let mut stream = model.generate(GenerateRequest {
        prompt,
        sampling: SamplingParams {
            max_tokens: Some(max_tokens),
            ..Default::default()
        },
    })?;
    while let Some(ev) = stream.blocking_next() {
        match ev {
            Event::Token { text, .. } => {
                print!("{text}");
                std::io::stdout().flush()?;
            }
            Event::Done {
                finish_reason,
                usage,
                timings,
            } => {
                println!();
                eprintln!("{finish_reason:?} {usage:?}\n{timings:#?}");
            }
            Event::Error(e) => return Err(e.into()),
        }
    }
    Ok(())
}
