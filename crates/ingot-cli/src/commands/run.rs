//! `ingot model run`: one answer, or an interactive chat.

use std::io::{IsTerminal, Read, Write};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{bail, Context as _, Result};
use ingot_catalog::{Capability, ModelEntry};
use ingot_engine::{
    CancelToken, ChatMessage, Engine, Event, FinishReason, GenerateRequest, LoadOptions,
    LoadedModel, Prompt, SamplingParams, Timings,
};

use crate::cli::{LoadArgs, RunArgs, SamplingArgs};
use crate::Context;

/// The generation Ctrl+C should stop. `None` between answers: then Ctrl+C ends the program
/// (rustyline handles it itself while it reads a line).
static CURRENT: OnceLock<Mutex<Option<CancelToken>>> = OnceLock::new();

fn current() -> &'static Mutex<Option<CancelToken>> {
    CURRENT.get_or_init(|| Mutex::new(None))
}

fn install_ctrlc() {
    let _ = ctrlc::set_handler(|| {
        let guard = current().lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(token) => token.cancel(),
            None => std::process::exit(130),
        }
    });
}

/// Downloads the model if needed and loads it on the llama.cpp engine.
pub(crate) fn load_model(
    ctx: &Context,
    entry: &ModelEntry,
    load: &LoadArgs,
) -> Result<Arc<dyn LoadedModel>> {
    let rt = super::runtime()?;
    let cached = rt.block_on(super::model::ensure_downloaded(ctx, entry))?;
    let draft = match &load.draft {
        Some(alias) => {
            let d = ctx.catalog()?.get(alias)?.clone();
            Some(rt.block_on(super::model::ensure_downloaded(ctx, &d))?.path)
        }
        None => None,
    };
    drop(rt);
    let chat_template = match &load.chat_template {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read chat template {}", p.display()))?,
        ),
        None => entry.chat_template_override.clone(),
    };
    let opts = LoadOptions {
        context_length: load.ctx_size,
        threads: load.threads,
        gpu_layers: load.gpu_layers,
        chat_template,
        // The CLI serves one conversation; its prompt prefix is reused turn after turn.
        n_parallel: 1,
        prefix_cache: true,
        max_memory: load.max_memory,
        speculative: load.speculative,
        draft,
        ..LoadOptions::default()
    };
    let engine = ingot_engine::LlamaEngine::new();
    let model = engine
        .load(&cached.path, &opts)
        .with_context(|| format!("cannot load model '{}'", entry.alias))?;
    Ok(model)
}

pub(crate) fn sampling(args: &SamplingArgs) -> SamplingParams {
    SamplingParams {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        repeat_penalty: args.repeat_penalty,
        seed: args.seed,
        max_tokens: Some(args.max_tokens),
        stop: args.stop.clone(),
        ..SamplingParams::default()
    }
}

pub(crate) fn run(ctx: &Context, args: RunArgs) -> Result<()> {
    let catalog = ctx.catalog()?;
    let mut entry = catalog.get(&args.alias)?.clone();
    if !args.alias.contains(':') {
        // A model with variants (issue 15): the default, or the largest that fits.
        let opts = LoadOptions {
            context_length: args.load.ctx_size,
            ..LoadOptions::default()
        };
        let (chosen, note) = ingot::models::pick_variant(
            catalog,
            &ctx.store()?,
            &entry,
            &opts,
            args.load.max_memory,
        );
        if let Some(note) = note {
            eprintln!("note: {note}");
        }
        entry = chosen.clone();
    }
    if let Some(text) = &args.embed {
        return embed(ctx, &entry, &args, text);
    }
    if entry.has(Capability::Embedding) {
        bail!(
            "'{}' is an embedding model: it does not generate text. Try `ingot model run {} --embed \"some text\"`, or POST /v1/embeddings on `ingot serve`",
            entry.alias,
            entry.alias
        );
    }
    let stdin_prompt = if args.prompt.is_none() && !std::io::stdin().is_terminal() {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the prompt from stdin")?;
        Some(s)
    } else {
        None
    };
    let one_shot = args.prompt.clone().or(stdin_prompt);
    // A base model has no chat template; raw completion is what it can do.
    let raw = args.raw
        || (!entry.has(Capability::Chat)
            && args.load.chat_template.is_none()
            && entry.has(Capability::Completion));
    if raw && !args.raw {
        eprintln!(
            "note: '{}' is a base model without a chat template; using raw completion",
            entry.alias
        );
    }

    let model = load_model(ctx, &entry, &args.load)?;
    if args.verbose {
        let info = model.info();
        eprintln!(
            "loaded {} in {:.0} ms: {} threads, context {} tokens\nsystem info: {}",
            entry.alias, info.load_ms, info.threads, info.n_ctx, info.system_info
        );
    }
    install_ctrlc();
    let sampling = sampling(&args.sampling);

    if let Some(prompt) = one_shot {
        let prompt = if raw {
            Prompt::Raw(prompt)
        } else {
            let mut messages = Vec::new();
            if let Some(s) = &args.system {
                messages.push(ChatMessage::new("system", s.clone()));
            }
            messages.push(ChatMessage::new("user", prompt.trim_end().to_string()));
            Prompt::Chat(messages)
        };
        let mut first = true;
        let (_, timings, reason) = stream_answer(
            model.as_ref(),
            GenerateRequest { prompt, sampling },
            &mut first,
        )?;
        // As in the chat: says that the answer ends early because of Ctrl+C (on stderr, so
        // the answer on stdout stays clean for scripts).
        if reason == FinishReason::Cancelled {
            eprintln!("(stopped)");
        }
        if args.verbose {
            print_timings(&timings, first);
        }
        return Ok(());
    }
    chat_loop(ctx, &entry, model.as_ref(), &args, raw, sampling)
}

/// Streams one answer to stdout. Returns the text, the timings, and the finish reason.
fn stream_answer(
    model: &dyn LoadedModel,
    req: GenerateRequest,
    first_answer: &mut bool,
) -> Result<(String, Timings, FinishReason)> {
    let mut stream = model.generate(req)?;
    *current().lock().unwrap_or_else(|e| e.into_inner()) = Some(stream.cancel_token().clone());
    let mut out = std::io::stdout().lock();
    let mut text = String::new();
    let result = loop {
        match stream.blocking_next() {
            Some(Event::Token { text: t, .. }) => {
                text.push_str(&t);
                out.write_all(t.as_bytes())?;
                out.flush()?;
            }
            Some(Event::Done {
                finish_reason,
                timings,
                usage,
            }) => {
                writeln!(out)?;
                let mut timings = timings;
                if !*first_answer {
                    timings.load_ms = 0.0;
                }
                let _ = usage;
                break Ok((text, timings, finish_reason));
            }
            Some(Event::Error(e)) => {
                writeln!(out)?;
                break Err(anyhow::Error::new(e));
            }
            None => bail!("the engine stopped without finishing the answer"),
        }
    };
    *current().lock().unwrap_or_else(|e| e.into_inner()) = None;
    *first_answer = false;
    result
}

fn print_timings(t: &Timings, _first: bool) {
    let drafts = if t.draft_n > 0 {
        format!(" | drafts accepted {}/{}", t.draft_n_accepted, t.draft_n)
    } else {
        String::new()
    };
    eprintln!(
        "[load {:.0} ms | TTFT {:.0} ms | prompt {:.1} tok/s | generation {:.1} tok/s | cached {} tokens{drafts}]",
        t.load_ms, t.ttft_ms, t.prompt_tokens_per_s, t.gen_tokens_per_s, t.cached_tokens
    );
}

const HELP: &str = "Commands:
  /help   show this help
  /reset  forget the conversation (keeps the system prompt)
  /exit   leave (also /quit or Ctrl+D)
Ctrl+C stops the current answer.";

fn chat_loop(
    ctx: &Context,
    entry: &ModelEntry,
    model: &dyn LoadedModel,
    args: &RunArgs,
    raw: bool,
    sampling: SamplingParams,
) -> Result<()> {
    use rustyline::error::ReadlineError;
    let mut rl = rustyline::DefaultEditor::new().context("cannot start the line editor")?;
    let history = ctx.home.join("history.txt");
    let _ = rl.load_history(&history);
    eprintln!(
        "Chatting with {} ({}). Type /help for commands.",
        entry.alias, entry.name
    );
    let system: Vec<ChatMessage> = args
        .system
        .iter()
        .map(|s| ChatMessage::new("system", s.clone()))
        .collect();
    let mut messages = system.clone();
    let mut first = true;
    loop {
        let line = match rl.readline(">>> ") {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        let input = line.trim();
        if input.is_empty() {
            continue;
        }
        let _ = rl.add_history_entry(input);
        match input {
            "/exit" | "/quit" | "/bye" => break,
            "/help" | "/?" => {
                println!("{HELP}");
                continue;
            }
            "/reset" | "/clear" => {
                messages = system.clone();
                println!("(conversation reset)");
                continue;
            }
            s if s.starts_with('/') => {
                println!("unknown command {s}; type /help");
                continue;
            }
            _ => {}
        }
        let prompt = if raw {
            Prompt::Raw(input.to_string())
        } else {
            messages.push(ChatMessage::new("user", input.to_string()));
            Prompt::Chat(messages.clone())
        };
        match stream_answer(
            model,
            GenerateRequest {
                prompt,
                sampling: sampling.clone(),
            },
            &mut first,
        ) {
            Ok((text, timings, reason)) => {
                if reason == FinishReason::Cancelled {
                    eprintln!("(stopped)");
                }
                if !raw {
                    messages.push(ChatMessage::new("assistant", text));
                }
                if args.verbose {
                    print_timings(&timings, first);
                }
            }
            Err(e) => {
                // Keep the conversation usable: drop the turn that failed.
                if !raw {
                    messages.pop();
                }
                eprintln!("error: {e:#}");
            }
        }
    }
    let _ = rl.save_history(&history);
    Ok(())
}

/// `ingot model run ALIAS --embed TEXT`: the vector as a JSON array on stdout (pooling and
/// size on stderr with `--verbose`), for quick checks and scripts.
fn embed(
    ctx: &Context,
    entry: &ingot_catalog::ModelEntry,
    args: &RunArgs,
    text: &str,
) -> Result<()> {
    use ingot_engine::embed::{EmbedInput, EmbedRequest};
    let model = load_model(ctx, entry, &args.load)?;
    let out = model
        .embed(EmbedRequest {
            inputs: vec![EmbedInput::Text(text.to_string())],
            truncate: false,
            ..Default::default()
        })
        .with_context(|| format!("cannot embed with '{}'", entry.alias))?;
    if args.verbose {
        eprintln!(
            "{} dimensions, {} pooling{}, {} tokens, {:.1} ms",
            out.vectors.first().map_or(0, Vec::len),
            out.pooling,
            if out.normalized { ", normalized" } else { "" },
            out.prompt_tokens,
            out.compute_ms
        );
    }
    let v = out.vectors.into_iter().next().unwrap_or_default();
    println!("{}", serde_json::to_string(&v)?);
    Ok(())
}
