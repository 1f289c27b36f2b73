//! The `ingot` command line. `main` only forwards to [`main_with_args`], so tests can run any
//! command in-process; the library crates do the work and this crate only prints.

pub mod cli;
mod commands;
mod output;
mod progress;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Parser;

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
        ingot_catalog::env::INGOT_HOST,
        ingot_catalog::env::INGOT_PORT,
        ingot_catalog::env::INGOT_API_KEY,
    ] {
        if std::env::var_os(name).is_some_and(|v| v.is_empty()) {
            std::env::remove_var(name);
        }
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    init_tracing(cli.log_verbose);
    match run(cli) {
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

/// Runs a parsed command.
pub fn run(cli: Cli) -> Result<()> {
    if !cli.catalogs.is_empty() {
        // Through the environment, so the server's provider and `service start`'s child
        // process see the same catalogs as this command.
        std::env::set_var(
            ingot_catalog::env::INGOT_CATALOG,
            ingot_catalog::join_catalog_list(&cli.catalogs),
        );
    }
    let ctx = Context::new(cli.home.clone())?;
    commands::dispatch(&ctx, cli.command)
}

/// What every command needs: where ingot keeps its files.
pub(crate) struct Context {
    pub home: PathBuf,
}

impl Context {
    fn new(home: Option<PathBuf>) -> Result<Self> {
        let home = match home {
            Some(h) => h,
            None => ingot_cache::default_home().context("cannot determine ingot's home folder")?,
        };
        Ok(Self { home })
    }

    pub fn catalog(&self) -> Result<ingot_catalog::Catalog> {
        let (catalog, conflicts) = ingot_catalog::Catalog::load_with_env(&self.home)?;
        for c in conflicts {
            tracing::warn!("{c}");
        }
        Ok(catalog)
    }

    pub fn store(&self) -> Result<ingot_cache::Store> {
        Ok(ingot_cache::Store::open(&self.home)?)
    }
}
