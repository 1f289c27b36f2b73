//! ingot invoked as `foundry` (a link made by `ingot setup foundry-alias`): Foundry Local's
//! command line over ingot's commands, for scripts and SDKs written against Foundry Local.
//!
//! The output follows Foundry Local's where scripts read it: above all `foundry service
//! status` prints `... is running on http://HOST:PORT/openai/status`, the line
//! `foundry-local-sdk` parses for the service URL (and prints no URL at all when the service
//! is not running). Model names may be aliases, Foundry ids or Ollama names.

use std::ffi::OsString;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use ingot::api::names::foundry_id;

use crate::cli::{ClientArgs, RunArgs, ServeArgs};
use crate::commands::{cache, model, run, service};
use crate::output::human_bytes;
use crate::Context;

/// How long `foundry service status` waits for a `foundry service start` in progress.
const START_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Parser)]
#[command(
    name = "foundry",
    version,
    about = "Foundry Local's command line, served by ingot (run `ingot --help` for ingot's own)"
)]
pub struct FoundryCli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Debug, Subcommand)]
enum Top {
    /// Discover, download, load and run models
    #[command(subcommand)]
    Model(ModelCmd),
    /// Manage the background service
    #[command(subcommand)]
    Service(ServiceCmd),
    /// Manage the local model cache
    #[command(subcommand)]
    Cache(CacheCmd),
}

#[derive(Debug, Subcommand)]
enum ModelCmd {
    /// List the catalog's models
    #[command(visible_alias = "ls")]
    List,
    /// Show a model's details
    Info {
        model: String,
        /// Show the license only
        #[arg(long)]
        license: bool,
    },
    /// Download a model into the cache
    Download { model: String },
    /// Run a model: one answer with --prompt, else an interactive chat
    Run {
        model: String,
        /// The prompt (an ingot extension; without it ingot starts an interactive chat)
        #[arg(short, long)]
        prompt: Option<String>,
    },
    /// Load a model into the service
    Load {
        model: String,
        /// Idle time before it unloads, in seconds
        #[arg(long)]
        ttl: Option<u64>,
    },
    /// Unload a model from the service
    Unload { model: String },
}

#[derive(Debug, Subcommand)]
enum ServiceCmd {
    /// Start the service in the background
    Start,
    /// Stop the service
    Stop,
    /// Stop, then start the service
    Restart,
    /// Show whether the service runs, and its URL
    Status,
    /// List the models loaded in the service
    Ps,
}

#[derive(Debug, Subcommand)]
enum CacheCmd {
    /// List cached models
    #[command(visible_alias = "ls")]
    List,
    /// Print the cache folder
    Location,
    /// Remove a cached model
    #[command(visible_alias = "rm")]
    Remove {
        model: String,
        /// Do not ask (ingot never asks; accepted for Foundry's scripts)
        #[arg(short, long)]
        yes: bool,
    },
}

/// Whether argv[0] names the `foundry` command.
pub fn invoked_as_foundry(arg0: &OsString) -> bool {
    std::path::Path::new(arg0)
        .file_stem()
        .is_some_and(|s| s.eq_ignore_ascii_case("foundry"))
}

/// Runs a parsed `foundry` command.
pub fn run_foundry(cli: FoundryCli) -> Result<()> {
    let ctx = Context::new(std::env::var_os(ingot_catalog::env::INGOT_HOME).map(Into::into))?;
    match cli.command {
        Top::Service(s) => match s {
            ServiceCmd::Start => service_start(&ctx),
            ServiceCmd::Stop => service_stop(&ctx),
            ServiceCmd::Restart => {
                service_stop(&ctx)?;
                service_start(&ctx)
            }
            ServiceCmd::Status => service_status(&ctx),
            ServiceCmd::Ps => service_ps(&ctx),
        },
        Top::Model(m) => match m {
            ModelCmd::List => model_list(&ctx),
            ModelCmd::Info { model, license } => model_info(&ctx, &model, license),
            ModelCmd::Download { model } => model::download(&ctx, &[alias_of(&ctx, &model)?]),
            ModelCmd::Run { model, prompt } => {
                let mut args = defaults::<RunArgs>(&[alias_of(&ctx, &model)?])?;
                args.prompt = prompt;
                run::run(&ctx, args)
            }
            ModelCmd::Load { model, ttl } => {
                service::load(&ctx, &alias_of(&ctx, &model)?, ttl, &client())
            }
            ModelCmd::Unload { model } => {
                service::unload(&ctx, &alias_of(&ctx, &model)?, &client())
            }
        },
        Top::Cache(c) => match c {
            CacheCmd::List => cache_list(&ctx),
            CacheCmd::Location => {
                println!(
                    "💾 Cache directory path: {}",
                    ctx.store()?.models_dir().display()
                );
                Ok(())
            }
            CacheCmd::Remove { model, .. } => cache::rm(&ctx, &alias_of(&ctx, &model)?),
        },
    }
}

/// A clap `Args` struct with its defaults (and environment variables) applied.
fn defaults<A: clap::Args>(positional: &[String]) -> Result<A> {
    #[derive(Parser)]
    struct Wrap<A: clap::Args> {
        #[command(flatten)]
        inner: A,
    }
    let argv = std::iter::once("foundry".to_string()).chain(positional.iter().cloned());
    Ok(Wrap::<A>::try_parse_from(argv)?.inner)
}

fn client() -> ClientArgs {
    ClientArgs {
        endpoint: None,
        api_key: std::env::var(ingot_catalog::env::INGOT_API_KEY)
            .ok()
            .filter(|k| !k.is_empty()),
    }
}

/// The catalog alias a Foundry id, Ollama name or alias refers to.
fn alias_of(ctx: &Context, name: &str) -> Result<String> {
    let catalog = ctx.catalog()?;
    Ok(ingot::compat::resolve_model_name(&catalog, name)?
        .alias
        .clone())
}

fn running_line(url: &str) -> String {
    format!("🟢 Model management service is running on {url}/openai/status")
}

fn service_start(ctx: &Context) -> Result<()> {
    // As `ingot service start`: a concurrent start waits here, then finds this one running.
    let _start_lock = ingot::service::StartLock::acquire(&ctx.home)?;
    if let Some(s) = ingot::service::live_status_after_start(&ctx.home, START_WAIT)? {
        println!("{}", running_line(&s.url));
        return Ok(());
    }
    let args = defaults::<ServeArgs>(&[])?;
    let s = service::start_detached(ctx, &args)?;
    println!("🟢 Service is Started on {}/, PID {}!", s.url, s.pid);
    Ok(())
}

fn service_stop(ctx: &Context) -> Result<()> {
    if service::live_status(ctx)?.is_none() {
        println!("🔴 Service is not running.");
        return Ok(());
    }
    service::stop(ctx)?;
    println!("🔴 Service is stopped.");
    Ok(())
}

fn service_status(ctx: &Context) -> Result<()> {
    match ingot::service::live_status_after_start(&ctx.home, START_WAIT)? {
        Some(s) => {
            println!("{}", running_line(&s.url));
            println!(
                "PID {}; logs in {}",
                s.pid,
                service::log_path(ctx).display()
            );
        }
        // No URL in this output: the SDK takes any URL it finds for the running service.
        None => {
            println!("🔴 Model management service is not running!");
            println!("To start the service, run the following command: foundry service start");
        }
    }
    Ok(())
}

fn service_ps(ctx: &Context) -> Result<()> {
    let Some(s) = service::live_status(ctx)? else {
        println!("🔴 Model management service is not running!");
        return Ok(());
    };
    let rt = crate::commands::runtime()?;
    let mut req = reqwest::Client::new().get(format!("{}/openai/loadedmodels", s.url));
    if let Some(k) = client().api_key {
        req = req.bearer_auth(k);
    }
    let ids: Vec<String> = rt
        .block_on(async {
            let resp = req.send().await?.error_for_status()?;
            resp.json::<Vec<String>>().await
        })
        .with_context(|| format!("cannot list the loaded models of {}", s.url))?;
    if ids.is_empty() {
        println!("No models are currently loaded in the service.");
        return Ok(());
    }
    println!("Models running in service:");
    println!("    {:<30} {}", "Alias", "Model ID");
    for id in ids {
        let alias = alias_of(ctx, &id).unwrap_or_else(|_| id.clone());
        println!("🟢  {alias:<30} {id}");
    }
    Ok(())
}

fn task_of(entry: &ingot_catalog::ModelEntry) -> &'static str {
    if entry.has(ingot_catalog::Capability::Chat) {
        "chat-completion"
    } else {
        "text-generation"
    }
}

fn model_list(ctx: &Context) -> Result<()> {
    let catalog = ctx.catalog()?;
    println!(
        "{:<24} {:<7} {:<16} {:<10} {:<12} {}",
        "Alias", "Device", "Task", "File Size", "License", "Model ID"
    );
    println!("{}", "-".repeat(100));
    for e in catalog.entries().iter().filter(|e| e.remote().is_none()) {
        println!(
            "{:<24} {:<7} {:<16} {:<10} {:<12} {}",
            e.alias,
            "CPU",
            task_of(e),
            e.size.map(human_bytes).unwrap_or_else(|| "?".into()),
            e.license,
            foundry_id(&e.alias)
        );
    }
    Ok(())
}

fn model_info(ctx: &Context, name: &str, license_only: bool) -> Result<()> {
    let catalog = ctx.catalog()?;
    let e = ingot::compat::resolve_model_name(&catalog, name)?;
    if license_only {
        println!("{}", e.license);
        return Ok(());
    }
    let cached = ctx.store()?.lookup(&e.alias)?.is_some();
    println!("Model:              {}", e.name);
    println!("Alias:              {}", e.alias);
    println!("Model ID:           {}", foundry_id(&e.alias));
    println!("Device:             CPU");
    println!("Execution provider: CPUExecutionProvider");
    println!("Task:               {}", task_of(e));
    println!(
        "File size:          {}",
        e.size.map(human_bytes).unwrap_or_else(|| "?".into())
    );
    println!("Parameters:         {}", e.parameters_display());
    println!("Quantization:       {}", e.quantization);
    println!("Context length:     {}", e.context_length);
    println!("License:            {}", e.license);
    println!("Cached:             {}", if cached { "yes" } else { "no" });
    Ok(())
}

fn cache_list(ctx: &Context) -> Result<()> {
    let store = ctx.store()?;
    let entries = store.list()?;
    println!("Models cached on device:");
    if entries.is_empty() {
        println!("    (none)");
        return Ok(());
    }
    println!("    {:<30} {}", "Alias", "Model ID");
    for e in entries {
        println!("💾  {:<30} {}", e.alias(), foundry_id(e.alias()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv0_foundry_selects_the_foundry_cli() {
        assert!(invoked_as_foundry(&"foundry".into()));
        assert!(invoked_as_foundry(&"/usr/local/bin/foundry".into()));
        assert!(invoked_as_foundry(&"C:/bin/Foundry.exe".into()));
        assert!(!invoked_as_foundry(&"ingot".into()));
        assert!(!invoked_as_foundry(&"/opt/foundry/bin/ingot".into()));
    }

    #[test]
    fn the_running_line_is_what_the_sdk_parses() {
        // foundry-local-sdk's regex: http://(?:[a-zA-Z0-9.-]+|\d{1,3}(\.\d{1,3}){3}):\d+
        let line = running_line("http://127.0.0.1:5273");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap();
        assert_eq!(url, "http://127.0.0.1:5273/openai/status");
    }
}
