//! One function per command. They print; the library crates do the work.

mod bench;
pub(crate) mod cache;
mod import;
pub(crate) mod model;
pub(crate) mod run;
pub(crate) mod service;
mod setup;

use anyhow::Result;

use crate::cli::{BenchCmd, CacheCmd, Command, ModelCmd, ServiceCmd, SetupCmd};
use crate::Context;

pub(crate) fn dispatch(ctx: &Context, command: Command) -> Result<()> {
    match command {
        Command::Model(m) => match m {
            ModelCmd::List(j) => model::list(ctx, j.json),
            ModelCmd::Info { alias, json } => model::info(ctx, &alias, json.json),
            ModelCmd::Download { aliases } => model::download(ctx, &aliases),
            ModelCmd::Add(args) => model::add(ctx, args),
            ModelCmd::Import(args) => import::import(ctx, args),
            ModelCmd::Rm { alias } => model::rm(ctx, &alias),
            ModelCmd::Run(args) => run::run(ctx, args),
            ModelCmd::Load { alias, ttl, client } => service::load(ctx, &alias, ttl, &client),
            ModelCmd::Unload { alias, client } => service::unload(ctx, &alias, &client),
            ModelCmd::Ps { json, client } => service::ps(ctx, json.json, &client),
        },
        Command::Cache(c) => match c {
            CacheCmd::List(j) => cache::list(ctx, j.json),
            CacheCmd::Dir => cache::dir(ctx),
            CacheCmd::Rm { alias } => cache::rm(ctx, &alias),
            CacheCmd::Gc { all } => cache::gc(ctx, all),
        },
        Command::Bench(b) => match b.command {
            Some(BenchCmd::Engine(args)) => bench::engine(ctx, args),
            Some(BenchCmd::Calibrate(args)) => bench::calibrate(args),
            Some(BenchCmd::Compare(args)) => bench::compare(args),
            Some(BenchCmd::Annotate(args)) => bench::annotate(args),
            Some(BenchCmd::Report(args)) => bench::report(args),
            Some(BenchCmd::Rescore(args)) => bench::rescore(ctx, args),
            None => bench::run(ctx, b.run),
        },
        Command::Serve(args) => service::serve(ctx, args),
        Command::Service(s) => match s {
            ServiceCmd::Start(args) => service::start(ctx, args),
            ServiceCmd::Stop => service::stop(ctx),
            ServiceCmd::Status(j) => service::status(ctx, j.json),
        },
        Command::Setup(SetupCmd::FoundryAlias { dir, copy, force }) => {
            setup::foundry_alias(dir, copy, force)
        }
    }
}

/// A small runtime (two workers) for the async library calls: downloads, requests to the
/// running service, benchmark clients. Commands are short-lived and mostly sequential, and
/// more workers would only compete with llama.cpp's threads.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}
