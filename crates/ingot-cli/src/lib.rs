//! The `ingot` command line. `main` only forwards to [`main_with_args`], so tests can run any
//! command in-process; the library crates do the work and this crate only prints.

pub mod cli;
mod commands;
mod foundry;
mod output;
mod progress;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

pub use cli::Cli;

/// Parses `args` and runs the command. Exit codes: 0 success, 1 failure, 2 usage error.
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    // An empty variable means "unset" (as in `INGOT_HOME= ingot ...`); clap would otherwise
    // take it as an empty value and fail with a usage error.
    for name in [
        ingot_catalog::env::INGOT_HOME,
        ingot_catalog::env::INGOT_THREADS,
        ingot_catalog::env::INGOT_MAX_MEMORY,
        ingot_catalog::env::INGOT_SPECULATIVE,
        ingot_catalog::env::INGOT_HOST,
        ingot_catalog::env::INGOT_PORT,
        ingot_catalog::env::INGOT_API_KEY,
    ] {
        if std::env::var_os(name).is_some_and(|v| v.is_empty()) {
            std::env::remove_var(name);
        }
    }
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    if args.first().is_some_and(foundry::invoked_as_foundry) {
        return run_as_foundry(args);
    }
    let parsed = Cli::command()
        .try_get_matches_from(args)
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    for (flag, var) in secrets_on_command_line(&matches) {
        eprintln!(
            "warning: {flag} on the command line can be read by other users of this machine \
             (ps, /proc) and is kept in shell history; set {var} instead"
        );
    }
    init_tracing(cli.log_verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Flags whose values are secrets (by clap id), and the variable to pass them in instead.
const SECRET_FLAGS: [(&str, &str, &str); 2] = [
    ("api_key", "--api-key", ingot_catalog::env::INGOT_API_KEY),
    (
        "judge_api_key",
        "--judge-api-key",
        ingot_catalog::env::INGOT_JUDGE_API_KEY,
    ),
];

/// The secret flags given on the command line itself (not through their variable), in any
/// subcommand: (flag, variable).
fn secrets_on_command_line(matches: &ArgMatches) -> Vec<(&'static str, &'static str)> {
    let mut found = Vec::new();
    let mut level = Some(matches);
    while let Some(m) = level {
        for (id, flag, var) in SECRET_FLAGS {
            // Only ids this level defines may be queried.
            let present = m.ids().any(|i| i.as_str() == id);
            if present && m.value_source(id) == Some(ValueSource::CommandLine) {
                found.push((flag, var));
            }
        }
        level = m.subcommand().map(|(_, sub)| sub);
    }
    found
}

/// ingot under the name `foundry`: Foundry Local's command line (see [`foundry`]).
fn run_as_foundry(args: Vec<OsString>) -> ExitCode {
    let cli = match <foundry::FoundryCli as clap::Parser>::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    init_tracing(0);
    match apply_kernel_choice().and_then(|()| foundry::run_foundry(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_tracing(verbosity: u8) {
    use tracing_subscriber::EnvFilter;
    // llama.cpp logs a lot at info level; keep it quiet unless asked.
    let default = match verbosity {
        // Download failures are already reported through the progress reporter. llama.cpp's
        // warnings are model quirks users cannot act on ("token 212 was not control-type",
        // "using full-size SWA cache"); its errors stay, and load failures quote them anyway.
        0 => "warn,ingot_fetch=error,llama_cpp_2=off,llama.cpp=error",
        1 => "info,llama_cpp_2=warn",
        2 => "debug",
        _ => "trace",
    };
    let filter = std::env::var(ingot_catalog::env::INGOT_LOG)
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// `INGOT_KERNELS`: whether ingot's own CPU kernels replace ggml's (before any model loads).
fn apply_kernel_choice() -> Result<()> {
    use ingot_engine::kernels::{set_choice, KernelChoice};
    let choice = match std::env::var(ingot_catalog::env::INGOT_KERNELS).as_deref() {
        Err(_) | Ok("ingot") => KernelChoice::Best,
        Ok("ingot-avx2") => KernelChoice::Avx2,
        Ok("ggml") => KernelChoice::Ggml,
        Ok(other) => anyhow::bail!(
            "{}={other:?} is not a kernel choice: use `ingot` (the default), `ingot-avx2` or `ggml`",
            ingot_catalog::env::INGOT_KERNELS
        ),
    };
    set_choice(choice);
    Ok(())
}

/// `INGOT_KEEP_WEIGHTS`: how long an unloaded model's weights stay for a quick reload.
fn apply_keep_weights() -> Result<()> {
    let var = ingot_catalog::env::INGOT_KEEP_WEIGHTS;
    let Ok(v) = std::env::var(var) else {
        return Ok(());
    };
    let secs: u64 = v
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{var}={v:?} is not a number of seconds (0 keeps nothing)"))?;
    ingot_engine::weights_cache::set_keep_for(std::time::Duration::from_secs(secs));
    Ok(())
}

/// Runs a parsed command.
pub fn run(cli: Cli) -> Result<()> {
    apply_kernel_choice()?;
    apply_keep_weights()?;
    if !cli.catalogs.is_empty() {
        // Through the environment, so the server's provider and `service start`'s child
        // process see the same catalogs as this command.
        std::env::set_var(
            ingot_catalog::env::INGOT_CATALOG,
            ingot_catalog::join_catalog_list(&cli.catalogs),
        );
    }
    if !cli.trust_catalogs.is_empty() {
        std::env::set_var(
            ingot_catalog::env::INGOT_TRUST_CATALOG,
            ingot_catalog::join_catalog_list(&cli.trust_catalogs),
        );
    }
    let ctx = Context::new(cli.home.clone())?;
    commands::dispatch(&ctx, cli.command)
}

/// What every command needs: where ingot keeps its files, and the catalog, read once per
/// command (its warnings are printed once).
pub(crate) struct Context {
    pub home: PathBuf,
    catalog: std::sync::OnceLock<ingot_catalog::Catalog>,
}

impl Context {
    pub(crate) fn new(home: Option<PathBuf>) -> Result<Self> {
        let home = match home {
            Some(h) => h,
            None => ingot_cache::default_home().context("cannot determine ingot's home folder")?,
        };
        Ok(Self {
            home,
            catalog: std::sync::OnceLock::new(),
        })
    }

    /// The merged catalog, parsed on first use and then kept for the command.
    pub fn catalog(&self) -> Result<&ingot_catalog::Catalog> {
        if let Some(c) = self.catalog.get() {
            return Ok(c);
        }
        let loaded = self.reload_catalog()?;
        Ok(self.catalog.get_or_init(|| loaded))
    }

    /// The catalog as it is on disk now (after this command changed the user catalog).
    pub fn reload_catalog(&self) -> Result<ingot_catalog::Catalog> {
        Ok(ingot::load_catalog(&self.home)?)
    }

    pub fn store(&self) -> Result<ingot_cache::Store> {
        Ok(ingot_cache::Store::open(&self.home)?)
    }
}
