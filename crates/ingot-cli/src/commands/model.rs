//! `ingot model list|info|download|add|rm`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use ingot::models::{NewModel, NewModelSource, Removed};
use ingot_catalog::{ModelEntry, Source};
use serde::Serialize;

use crate::cli::AddArgs;
use crate::output::{human_bytes, print_json, table};
use crate::Context;

/// One row of `model list --json` / the body of `model info --json`: the catalog entry plus
/// its cache state.
#[derive(Serialize)]
pub(crate) struct ModelJson<'a> {
    #[serde(flatten)]
    entry: &'a ModelEntry,
    license_permissive: bool,
    cached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    /// For a variant (issue 15): the model it is a quantization of, and the name that asks
    /// for it (`tiny:q8_0`).
    #[serde(skip_serializing_if = "Option::is_none")]
    variant_of: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
}

impl ModelJson<'_> {
    /// Marks a variant of `catalog`'s model.
    pub(crate) fn in_catalog(mut self, catalog: &ingot_catalog::Catalog) -> Self {
        if let Some(base) = catalog.variant_base(self.entry) {
            self.variant_of = Some(base.to_string());
            self.variant = Some(catalog.display_name(self.entry));
        }
        self
    }
}

/// Where a model's file is, without downloading anything: the cache, or the file a
/// `local` entry uses in place (if it is still there).
fn available_path(store: &ingot_cache::Store, entry: &ModelEntry) -> Result<Option<PathBuf>> {
    if let Some(p) = entry.local_path() {
        return Ok(p.is_file().then(|| p.to_path_buf()));
    }
    if entry.remote().is_some() {
        return Ok(None);
    }
    Ok(store.lookup(&entry.alias)?.map(|c| c.path))
}

pub(crate) fn model_json<'a>(entry: &'a ModelEntry, path: Option<&PathBuf>) -> ModelJson<'a> {
    ModelJson {
        entry,
        license_permissive: entry.license_is_permissive(),
        cached: path.is_some(),
        path: path.map(|p| p.display().to_string()),
        variant_of: None,
        variant: None,
    }
}

pub(crate) fn list(ctx: &Context, json: bool) -> Result<()> {
    let catalog = ctx.catalog()?;
    let store = ctx.store()?;
    let mut rows = Vec::new();
    // Each model's variants (issue 15) right after it.
    for entry in catalog.entries() {
        if catalog.variant_base(entry).is_some() {
            continue;
        }
        for e in catalog.variants(&entry.alias) {
            let path = available_path(&store, e)?;
            rows.push((e, path));
        }
    }
    if json {
        let out: Vec<ModelJson> = rows
            .iter()
            .map(|(entry, path)| model_json(entry, path.as_ref()).in_catalog(&catalog))
            .collect();
        return print_json(&out);
    }
    let mut t = table(&[
        "alias", "arch", "params", "quant", "size", "license", "ctx", "caps", "cached",
    ]);
    for (entry, cached) in &rows {
        // Converted files are sized once they exist.
        let size = entry.size.or_else(|| {
            cached
                .as_ref()
                .and_then(|p| std::fs::metadata(p).ok())
                .map(|m| m.len())
        });
        t.add_row(vec![
            catalog.display_name(entry),
            entry.architecture.clone(),
            entry.parameters_display(),
            entry.quantization.clone(),
            size.map(human_bytes).unwrap_or_else(|| "?".into()),
            entry.license.clone(),
            entry.context_length.to_string(),
            entry
                .capabilities
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(","),
            match (entry.remote(), entry.local_path(), cached) {
                (Some(_), _, _) => "remote".into(),
                (None, Some(_), Some(_)) => "in place".into(),
                (None, Some(_), None) => "missing".into(),
                (None, None, Some(_)) => "yes".into(),
                (None, None, None) => "no".into(),
            },
        ]);
    }
    println!("{t}");
    Ok(())
}

pub(crate) fn info(ctx: &Context, alias: &str, json: bool) -> Result<()> {
    let catalog = ctx.catalog()?;
    let entry = catalog.get(alias)?;
    let cached = available_path(&ctx.store()?, entry)?;
    if json {
        return print_json(&model_json(entry, cached.as_ref()).in_catalog(&catalog));
    }
    let opt = |v: Option<String>| v.unwrap_or_else(|| "unknown".into());
    println!("alias:          {}", entry.alias);
    let variants = catalog.variants(catalog.variant_base(entry).unwrap_or(&entry.alias));
    if variants.len() > 1 {
        let names: Vec<String> = variants.iter().map(|v| catalog.display_name(v)).collect();
        println!("variants:       {}", names.join(", "));
    }
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
        match (&entry.chat_template_override, entry.chat_template) {
            (Some(_), _) => "yes (the catalog entry's own, which overrides the model's)",
            (None, true) => "yes",
            (None, false) => "no (base model)",
        }
    );
    println!("defined in:     {}", entry.origin);
    if let Some(r) = entry.remote() {
        println!("remote:         model '{}' at {}", r.model, r.endpoint);
        if let Some(var) = &r.api_key_env {
            println!("api key from:   ${var}");
        }
        return Ok(());
    }
    match (&cached, entry.local_path()) {
        (Some(p), Some(_)) => println!("file:           {} (used in place)", p.display()),
        (None, Some(p)) => println!("file:           {} (missing!)", p.display()),
        (Some(p), None) => println!("cached:         yes, {}", p.display()),
        (None, None) => println!("cached:         no"),
    }
    println!("sources (tried in order):");
    for (i, s) in entry.sources.iter().enumerate() {
        println!("  {}. {}", i + 1, describe_source(s));
    }
    Ok(())
}

pub(crate) fn describe_source(s: &Source) -> String {
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
        Source::Local { path } => format!("local {} (used in place)", path.display()),
        Source::Import { from, quantize, .. } => format!(
            "import {from} (converted to GGUF {})",
            quantize.as_deref().unwrap_or("F16")
        ),
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

/// Downloads `entry` unless it is cached (or used in place), drawing progress on the
/// terminal.
pub(crate) async fn ensure_downloaded(
    ctx: &Context,
    entry: &ModelEntry,
) -> Result<ingot_fetch::CachedModel> {
    if let Some(r) = entry.remote() {
        bail!(
            "'{}' is a remote adapter for model '{}' at {}: it runs there, not here — use it \
             through `ingot serve`, which forwards requests for it",
            entry.alias,
            r.model,
            r.endpoint
        );
    }
    let store = ctx.store()?;
    // The engine quantizes `import` entries that ask for more than F16.
    let downloader = ingot_fetch::Downloader::new(store, ingot_fetch::DownloadOptions::from_env())?
        .with_quantizer(std::sync::Arc::new(ingot_engine::LlamaEngine::new()));
    let reporter = crate::progress::BarReporter::new(&entry.alias);
    Ok(downloader.download(entry, &reporter).await?)
}

/// `ingot model add`: registers a GGUF file (in place or copied into the cache), a file to
/// download later (`--hf`, `--url`) or a remote adapter (`--endpoint`) in the user catalog,
/// through the SDK's [`ingot::models::add_model`] (every check runs before anything is
/// written), then says what was registered.
pub(crate) fn add(ctx: &Context, args: AddArgs) -> Result<()> {
    let catalog = ctx.catalog()?;
    ingot::models::check_new_alias(&catalog, &args.alias)?;
    let model = NewModel {
        alias: args.alias.clone(),
        name: args.name.clone(),
        license: args.license.clone(),
        description: args.description.clone(),
        sha256: args.sha256.clone(),
        capabilities: ingot_catalog::parse_capabilities(&args.capabilities)?,
        chat_template_override: match &args.chat_template {
            Some(p) => Some(ingot::models::read_chat_template(p)?),
            None => None,
        },
    };
    let source = if let Some(path) = &args.path {
        NewModelSource::File {
            path: path.clone(),
            copy: args.copy,
        }
    } else if let Some(repo) = &args.hf {
        NewModelSource::Hf {
            repo: repo.clone(),
            revision: args.revision.clone(),
            file: args.file.clone().unwrap_or_default(),
        }
    } else if let Some(url) = &args.url {
        NewModelSource::Url(url.clone())
    } else if let Some(endpoint) = &args.endpoint {
        NewModelSource::Remote {
            endpoint: endpoint.clone(),
            model: args.remote_model.clone().unwrap_or_default(),
            api_key_env: args.api_key_env.clone(),
        }
    } else {
        // clap requires one of them.
        bail!("give a GGUF file, --hf, --url or --endpoint");
    };
    let reporter = crate::progress::BarReporter::new(&args.alias);
    let added = ingot::models::add_model(&ctx.home, &catalog, &model, &source, &reporter)?;
    print_added(&args, &added)
}

fn print_added(args: &AddArgs, added: &ingot::models::Added) -> Result<()> {
    let entry = &added.entry;
    let path = added
        .copied
        .as_ref()
        .map(|c| c.path.clone())
        .or_else(|| entry.local_path().map(Path::to_path_buf));
    if args.json {
        return print_json(&model_json(entry, path.as_ref()));
    }
    println!("Added '{}' to {}", entry.alias, added.catalog.display());
    if let Some(r) = entry.remote() {
        println!("  remote:        model '{}' at {}", r.model, r.endpoint);
        if let Some(var) = &r.api_key_env {
            println!("  api key from:  ${var}");
        }
        println!(
            "Serve it with: ingot serve   (requests for '{}' are forwarded)",
            entry.alias
        );
        return Ok(());
    }
    match (&added.copied, entry.local_path(), &entry.sources[..]) {
        (Some(c), _, _) => println!(
            "  file:          {} (copied into the cache)",
            c.path.display()
        ),
        (None, Some(p), _) => println!("  file:          {} (used in place)", p.display()),
        (None, None, [s]) => println!(
            "  source:        {} (downloaded on first use)",
            describe_source(s)
        ),
        _ => {}
    }
    if entry.architecture != "unknown" {
        println!("  architecture:  {}", entry.architecture);
        println!("  parameters:    {}", entry.parameters_display());
        println!("  quantization:  {}", entry.quantization);
        println!("  context:       {} tokens", entry.context_length);
    }
    let caps: Vec<String> = entry.capabilities.iter().map(|c| c.to_string()).collect();
    println!("  capabilities:  {}", caps.join(", "));
    println!(
        "  chat template: {}",
        match (&args.chat_template, entry.chat_template) {
            (Some(p), _) => format!("{} (overrides the model's)", p.display()),
            (None, true) => "the model's own".to_string(),
            (None, false) => "none (a base model: raw completion only)".to_string(),
        }
    );
    if let Some(sha) = &entry.sha256 {
        println!("  sha256:        {sha}");
    }
    println!("Run it with: ingot model run {}", entry.alias);
    Ok(())
}

/// `ingot model rm`: a user entry goes (with its cached copy, if it has one; a file used in
/// place is left alone). A built-in model (or one from an extra catalog) stays in the
/// catalog; its download is removed from the cache. The rules are the SDK's
/// ([`ingot::models::remove_model`]); this says what happened.
pub(crate) fn rm(ctx: &Context, alias: &str) -> Result<()> {
    let catalog = ctx.catalog()?;
    match ingot::models::remove_model(&ctx.home, &catalog, alias)? {
        Removed::Entry {
            entry,
            catalog: catalog_path,
            freed,
        } => {
            print!("Removed '{alias}' from {}", catalog_path.display());
            match (freed, entry.local_path()) {
                (Some(n), _) => println!("; its cached copy is gone: freed {}", human_bytes(n)),
                (None, Some(p)) => {
                    println!("; {} was used in place and is left as it is", p.display())
                }
                (None, None) => println!(),
            }
            if let Ok(c) = ctx.reload_catalog() {
                if let Ok(e) = c.get(alias) {
                    println!("'{alias}' now refers to the entry in {}", e.origin);
                }
            }
        }
        Removed::Download { entry, freed } => {
            println!("Removed {alias}: freed {}", human_bytes(freed));
            println!(
                "(the download only: the entry stays in the {})",
                ingot::models::describe_origin(&entry.origin)
            );
        }
    }
    Ok(())
}
