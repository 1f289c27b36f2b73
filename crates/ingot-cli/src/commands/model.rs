//! `ingot model list|info|download`.

use anyhow::Result;
use ingot_catalog::{ModelEntry, Source};
use serde::Serialize;

use crate::output::{human_bytes, print_json, table};
use crate::Context;

/// One row of `model list --json` / the body of `model info --json`: the catalog entry plus
/// its cache state.
#[derive(Serialize)]
struct ModelJson<'a> {
    #[serde(flatten)]
    entry: &'a ModelEntry,
    license_permissive: bool,
    cached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
}

pub(crate) fn list(ctx: &Context, json: bool) -> Result<()> {
    let catalog = ctx.catalog()?;
    let store = ctx.store()?;
    let mut rows = Vec::new();
    for entry in catalog.entries() {
        let cached = store.lookup(&entry.alias)?;
        rows.push((entry, cached));
    }
    if json {
        let out: Vec<ModelJson> = rows
            .iter()
            .map(|(entry, cached)| ModelJson {
                entry,
                license_permissive: entry.license_is_permissive(),
                cached: cached.is_some(),
                path: cached.as_ref().map(|c| c.path.display().to_string()),
            })
            .collect();
        return print_json(&out);
    }
    let mut t = table(&[
        "alias", "arch", "params", "quant", "size", "license", "ctx", "caps", "cached",
    ]);
    for (entry, cached) in &rows {
        t.add_row(vec![
            entry.alias.clone(),
            entry.architecture.clone(),
            entry.parameters_display(),
            entry.quantization.clone(),
            entry.size.map(human_bytes).unwrap_or_else(|| "?".into()),
            entry.license.clone(),
            entry.context_length.to_string(),
            entry
                .capabilities
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(","),
            if cached.is_some() {
                "yes".into()
            } else {
                "no".into()
            },
        ]);
    }
    println!("{t}");
    Ok(())
}

pub(crate) fn info(ctx: &Context, alias: &str, json: bool) -> Result<()> {
    let catalog = ctx.catalog()?;
    let entry = catalog.get(alias)?;
    let cached = ctx.store()?.lookup(alias)?;
    if json {
        return print_json(&ModelJson {
            entry,
            license_permissive: entry.license_is_permissive(),
            cached: cached.is_some(),
            path: cached.as_ref().map(|c| c.path.display().to_string()),
        });
    }
    let opt = |v: Option<String>| v.unwrap_or_else(|| "unknown".into());
    println!("alias:          {}", entry.alias);
    println!("name:           {}", entry.name);
    if let Some(d) = &entry.description {
        println!("description:    {d}");
    }
    println!("family:         {}", entry.family);
    println!("architecture:   {}", entry.architecture);
    println!("parameters:     {}", entry.parameters_display());
    println!("quantization:   {}", entry.quantization);
    println!(
        "size:           {}",
        opt(entry
            .size
            .map(|s| format!("{} ({s} bytes)", human_bytes(s))))
    );
    println!("sha256:         {}", opt(entry.sha256.clone()));
    let permissive = if entry.license_is_permissive() {
        ""
    } else {
        " (not a permissive license: read its terms)"
    };
    println!("license:        {}{permissive}", entry.license);
    println!("context length: {}", entry.context_length);
    let caps: Vec<String> = entry.capabilities.iter().map(|c| c.to_string()).collect();
    println!("capabilities:   {}", caps.join(", "));
    println!(
        "chat template:  {}",
        if entry.chat_template {
            "yes"
        } else {
            "no (base model)"
        }
    );
    println!("defined in:     {}", entry.origin);
    match &cached {
        Some(c) => println!("cached:         yes, {}", c.path.display()),
        None => println!("cached:         no"),
    }
    println!("sources (tried in order):");
    for (i, s) in entry.sources.iter().enumerate() {
        println!("  {}. {}", i + 1, describe_source(s));
    }
    Ok(())
}

fn describe_source(s: &Source) -> String {
    match s {
        Source::Hf {
            repo,
            revision,
            file,
        } => format!("hf   {repo} @ {revision}: {file}"),
        Source::Url { url, .. } => format!("url  {url}"),
        Source::Pip { packages, members } => {
            format!("pip  {} -> {}", packages.join(" "), members.join(" + "))
        }
        Source::File { path } => format!("file {}", path.display()),
    }
}

pub(crate) fn download(ctx: &Context, aliases: &[String]) -> Result<()> {
    let catalog = ctx.catalog()?;
    // Resolve every alias first, so a typo in the third one fails before two downloads.
    let entries: Vec<&ModelEntry> = aliases
        .iter()
        .map(|a| catalog.get(a))
        .collect::<Result<_, _>>()?;
    let rt = super::runtime()?;
    for entry in entries {
        let cached = rt.block_on(ensure_downloaded(ctx, entry))?;
        println!(
            "{}  {}  sha256:{}  {}",
            entry.alias,
            human_bytes(cached.size),
            cached.sha256,
            cached.path.display()
        );
    }
    Ok(())
}

/// Downloads `entry` unless it is cached, drawing progress on the terminal.
pub(crate) async fn ensure_downloaded(
    ctx: &Context,
    entry: &ModelEntry,
) -> Result<ingot_fetch::CachedModel> {
    let store = ctx.store()?;
    let downloader = ingot_fetch::Downloader::new(store, ingot_fetch::DownloadOptions::from_env())?;
    let reporter = crate::progress::BarReporter::new(&entry.alias);
    Ok(downloader.download(entry, &reporter).await?)
}
