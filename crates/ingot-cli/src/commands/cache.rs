//! `ingot cache list|dir|rm|gc` (and `ingot model rm`).

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::output::{human_bytes, print_json, short_time, table};
use crate::Context;

#[derive(Serialize)]
struct CachedJson {
    alias: String,
    size: u64,
    sha256: String,
    path: String,
    source: String,
    #[serde(with = "time::serde::rfc3339")]
    downloaded_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    last_used_at: time::OffsetDateTime,
}

pub(crate) fn list(ctx: &Context, json: bool) -> Result<()> {
    let store = ctx.store()?;
    let entries = store.list()?;
    if json {
        let rows: Vec<CachedJson> = entries
            .iter()
            .map(|e| CachedJson {
                alias: e.alias().to_string(),
                size: e.size(),
                sha256: e.sha256().to_string(),
                path: e.path.display().to_string(),
                source: e.manifest.source.clone(),
                downloaded_at: e.manifest.downloaded_at,
                last_used_at: e.manifest.last_used_at,
            })
            .collect();
        return print_json(&rows);
    }
    if entries.is_empty() {
        println!("The cache at {} holds no models.", store.root().display());
        println!("Download one with: ingot model download smollm2-135m");
        return Ok(());
    }
    let mut t = table(&["alias", "size", "downloaded", "last used", "path"]);
    let mut total = 0;
    for e in &entries {
        total += e.size();
        t.add_row(vec![
            e.alias().to_string(),
            human_bytes(e.size()),
            short_time(e.manifest.downloaded_at),
            short_time(e.manifest.last_used_at),
            e.path.display().to_string(),
        ]);
    }
    println!("{t}");
    println!(
        "{} model(s), {} in {}",
        entries.len(),
        human_bytes(total),
        store.root().display()
    );
    Ok(())
}

pub(crate) fn dir(ctx: &Context) -> Result<()> {
    let store = ctx.store()?;
    println!("{}", store.root().display());
    Ok(())
}

pub(crate) fn rm(ctx: &Context, alias: &str) -> Result<()> {
    let store = ctx.store()?;
    // An unknown or malformed alias is an error (with a suggestion) rather than a silent no-op.
    if store.lookup(alias)?.is_none() {
        let catalog = ctx.catalog()?;
        catalog.get(alias)?;
        anyhow::bail!(
            "model '{alias}' is not in the cache ({})",
            store.root().display()
        );
    }
    let freed = store
        .rm(alias)
        .with_context(|| format!("cannot remove '{alias}'"))?;
    println!("Removed {alias}: freed {}", human_bytes(freed));
    Ok(())
}

pub(crate) fn gc(ctx: &Context, all: bool) -> Result<()> {
    let store = ctx.store()?;
    let options = ingot_cache::GcOptions {
        all_partials: all,
        ..Default::default()
    };
    let report = store.gc(&options)?;
    for p in &report.removed {
        println!("removed {}", p.display());
    }
    for p in &report.skipped_in_use {
        println!("kept {} (a download is in progress)", p.display());
    }
    println!("Freed {}", human_bytes(report.bytes_freed));
    Ok(())
}
