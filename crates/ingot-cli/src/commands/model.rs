//! `ingot model list|info|download|add|rm`.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use ingot_catalog::{Capability, CatalogError, ModelEntry, Origin, Remote, Source, UserCatalog};
use ingot_gguf::{GgufError, Limits};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cli::AddArgs;
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

fn model_json<'a>(entry: &'a ModelEntry, path: Option<&PathBuf>) -> ModelJson<'a> {
    ModelJson {
        entry,
        license_permissive: entry.license_is_permissive(),
        cached: path.is_some(),
        path: path.map(|p| p.display().to_string()),
    }
}

pub(crate) fn list(ctx: &Context, json: bool) -> Result<()> {
    let catalog = ctx.catalog()?;
    let store = ctx.store()?;
    let mut rows = Vec::new();
    for entry in catalog.entries() {
        let path = available_path(&store, entry)?;
        rows.push((entry, path));
    }
    if json {
        let out: Vec<ModelJson> = rows
            .iter()
            .map(|(entry, path)| model_json(entry, path.as_ref()))
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
        return print_json(&model_json(entry, cached.as_ref()));
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
        Source::Local { path } => format!("local {} (used in place)", path.display()),
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
    let downloader = ingot_fetch::Downloader::new(store, ingot_fetch::DownloadOptions::from_env())?;
    let reporter = crate::progress::BarReporter::new(&entry.alias);
    Ok(downloader.download(entry, &reporter).await?)
}

/// `ingot model add`: registers a GGUF file (in place or copied into the cache), a file to
/// download later (`--hf`, `--url`) or a remote adapter (`--endpoint`) in the user catalog.
/// Every check runs before anything is written: on any error nothing is registered.
pub(crate) fn add(ctx: &Context, args: AddArgs) -> Result<()> {
    ingot_catalog::validate_alias(&args.alias)?;
    let catalog = ctx.catalog()?;
    if let Some(existing) = catalog.entries().iter().find(|e| e.alias == args.alias) {
        return Err(CatalogError::AliasTaken {
            alias: args.alias.clone(),
            origin: existing.origin.clone(),
        }
        .into());
    }
    let capabilities = parse_capabilities(&args.capabilities)?;
    let template = match &args.chat_template {
        Some(p) => Some(read_template(p)?),
        None => None,
    };

    let entry = if let Some(path) = &args.path {
        file_entry(&args, path, capabilities, template)?
    } else if let Some(repo) = &args.hf {
        let file = args.file.clone().unwrap_or_default();
        let source = Source::Hf {
            repo: repo.clone(),
            revision: args.revision.clone(),
            file: file.clone(),
        };
        later_entry(&args, &file, source, capabilities, template)
    } else if let Some(url) = &args.url {
        let file = url.rsplit('/').next().unwrap_or(url).to_string();
        let source = Source::Url {
            url: url.clone(),
            sha256: None,
        };
        later_entry(&args, &file, source, capabilities, template)
    } else if let Some(endpoint) = &args.endpoint {
        remote_entry(&args, endpoint, capabilities)
    } else {
        // clap requires one of them.
        bail!("give a GGUF file, --hf, --url or --endpoint");
    };

    let mut user = UserCatalog::open(&ctx.home)?;
    // Validates the entry and checks the user file again, now under its lock.
    user.add(entry)?;
    // As validated (sha256 in lowercase, endpoint without a trailing slash...).
    let entry = user
        .get(&args.alias)
        .cloned()
        .context("the entry just added is missing")?;
    let mut copied = None;
    if args.copy {
        // Copied (and verified against the hash just computed) before the entry is saved,
        // so a failed copy registers nothing.
        let rt = super::runtime()?;
        copied = Some(rt.block_on(ensure_downloaded(ctx, &entry))?);
    }
    if let Err(e) = user.save() {
        if copied.is_some() {
            let _ = ctx.store().and_then(|s| Ok(s.rm(&entry.alias)?));
        }
        return Err(e.into());
    }
    let catalog_path = user.path().to_path_buf();
    drop(user);

    let path = copied
        .as_ref()
        .map(|c| c.path.clone())
        .or_else(|| entry.local_path().map(Path::to_path_buf));
    if args.json {
        return print_json(&model_json(&entry, path.as_ref()));
    }
    println!("Added '{}' to {}", entry.alias, catalog_path.display());
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
    match (&copied, entry.local_path(), &entry.sources[..]) {
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

fn parse_capabilities(names: &[String]) -> Result<Vec<Capability>> {
    let mut caps = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let cap = match name.to_ascii_lowercase().as_str() {
            "chat" => Capability::Chat,
            "completion" | "completions" => Capability::Completion,
            other => bail!("unknown capability '{other}': use chat and/or completion"),
        };
        if !caps.contains(&cap) {
            caps.push(cap);
        }
    }
    Ok(caps)
}

/// Reads a chat template file and checks that it compiles, so a broken template is
/// reported now rather than on the first chat request.
fn read_template(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read chat template {}", path.display()))?;
    if text.trim().is_empty() {
        bail!("chat template {} is empty", path.display());
    }
    ingot_engine::ChatTemplate::new(text.clone(), "", "")
        .with_context(|| format!("chat template {} does not compile", path.display()))?;
    Ok(text)
}

/// The default capabilities, and a check that chat is only claimed with a template.
fn capabilities_for(given: Vec<Capability>, has_template: bool) -> Result<Vec<Capability>> {
    if given.is_empty() {
        return Ok(if has_template {
            vec![Capability::Chat, Capability::Completion]
        } else {
            vec![Capability::Completion]
        });
    }
    if given.contains(&Capability::Chat) && !has_template {
        bail!(
            "--capabilities chat needs a chat template, and this model has none: add one \
             with --chat-template FILE"
        );
    }
    Ok(given)
}

/// The entry for a GGUF file on disk: everything is read from its header.
fn file_entry(
    args: &AddArgs,
    path: &Path,
    capabilities: Vec<Capability>,
    template: Option<String>,
) -> Result<ModelEntry> {
    // Absolute, so the entry does not depend on the folder the command ran in.
    let path =
        std::fs::canonicalize(path).with_context(|| format!("cannot read {}", path.display()))?;
    let header = ingot_gguf::read_header(&path, &Limits::default()).map_err(|e| match e {
        GgufError::Open { source, .. } => anyhow!("cannot read {}: {source}", path.display()),
        other => anyhow!("{} is not a valid GGUF model file: {other}", path.display()),
    })?;
    let architecture = header.architecture.clone().ok_or_else(|| {
        anyhow!(
            "{} has no general.architecture: llama.cpp cannot load it",
            path.display()
        )
    })?;
    if !ingot_engine::gguf::architecture_supported(&architecture) {
        bail!(
            "{}: architecture '{architecture}' is not supported by ingot's engine (llama.cpp)",
            path.display()
        );
    }
    let (sha256, size) = sha256_file(&path)?;
    if size != header.file_size {
        bail!("{} changed while it was being read", path.display());
    }
    if let Some(want) = &args.sha256 {
        if !want.eq_ignore_ascii_case(&sha256) {
            bail!(
                "{}: sha256 is {sha256}, not the expected {want}",
                path.display()
            );
        }
    }
    let capabilities = capabilities_for(
        capabilities,
        header.chat_template.is_some() || template.is_some(),
    )?;
    let source = if args.copy {
        Source::File { path }
    } else {
        Source::Local { path }
    };
    Ok(ModelEntry {
        alias: args.alias.clone(),
        name: args
            .name
            .clone()
            .or(header.name.clone())
            .unwrap_or_else(|| args.alias.clone()),
        family: architecture.clone(),
        architecture,
        parameters: (header.parameter_count > 0).then_some(header.parameter_count),
        quantization: header.quantization().unwrap_or("unknown").to_string(),
        size: Some(size),
        sha256: Some(sha256),
        license: args
            .license
            .clone()
            .or(header.license.clone())
            .unwrap_or_else(|| "unknown".into()),
        context_length: header
            .context_length
            .map_or(0, |c| u32::try_from(c).unwrap_or(u32::MAX)),
        capabilities,
        chat_template: header.chat_template.is_some(),
        chat_template_override: template,
        description: args.description.clone(),
        sources: vec![source],
        remote: None,
        origin: Origin::default(),
    })
}

/// The quantisation named in a file name (`gemma-3-270m-q4_k_m.gguf` -> `Q4_K_M`).
fn quantization_in_name(file: &str) -> Option<&'static str> {
    let upper = file.to_ascii_uppercase();
    (0..64u32)
        .filter_map(ingot_gguf::file_type_name)
        // Longest first, so Q4_K_M wins over Q4_K... and over Q4.
        .fold(None, |best: Option<&'static str>, name| {
            let found = upper.match_indices(name).any(|(i, _)| {
                let before = upper[..i].chars().next_back();
                let after = upper[i + name.len()..].chars().next();
                !before.is_some_and(|c| c.is_ascii_alphanumeric())
                    && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            match best {
                Some(b) if b.len() >= name.len() => Some(b),
                _ if found => Some(name),
                _ => best,
            }
        })
}

/// An entry downloaded on first use: its details are not known until then.
fn later_entry(
    args: &AddArgs,
    file: &str,
    source: Source,
    capabilities: Vec<Capability>,
    template: Option<String>,
) -> ModelEntry {
    // Assumed to be a chat model (most published GGUFs are): without a template of its own
    // it will say so on the first chat request; --capabilities completion says otherwise.
    let capabilities = if capabilities.is_empty() {
        vec![Capability::Chat, Capability::Completion]
    } else {
        capabilities
    };
    ModelEntry {
        alias: args.alias.clone(),
        name: args.name.clone().unwrap_or_else(|| file.to_string()),
        family: "unknown".into(),
        architecture: "unknown".into(),
        parameters: None,
        quantization: quantization_in_name(file).unwrap_or("unknown").to_string(),
        size: None,
        sha256: args.sha256.clone(),
        license: args.license.clone().unwrap_or_else(|| "unknown".into()),
        context_length: 0,
        chat_template: capabilities.contains(&Capability::Chat),
        capabilities,
        chat_template_override: template,
        description: args.description.clone(),
        sources: vec![source],
        remote: None,
        origin: Origin::default(),
    }
}

fn remote_entry(args: &AddArgs, endpoint: &str, capabilities: Vec<Capability>) -> ModelEntry {
    let model = args.remote_model.clone().unwrap_or_default();
    let capabilities = if capabilities.is_empty() {
        vec![Capability::Chat, Capability::Completion]
    } else {
        capabilities
    };
    ModelEntry {
        alias: args.alias.clone(),
        name: args
            .name
            .clone()
            .unwrap_or_else(|| format!("{model} at {endpoint}")),
        family: "remote".into(),
        architecture: "remote".into(),
        parameters: None,
        quantization: "remote".into(),
        size: None,
        sha256: None,
        license: args.license.clone().unwrap_or_else(|| "unknown".into()),
        context_length: 0,
        // The upstream server applies its own template.
        chat_template: capabilities.contains(&Capability::Chat),
        capabilities,
        chat_template_override: None,
        description: args.description.clone(),
        sources: Vec::new(),
        remote: Some(Remote {
            endpoint: endpoint.to_string(),
            model,
            api_key_env: args.api_key_env.clone(),
        }),
        origin: Origin::default(),
    }
}

/// (lowercase hex SHA-256, size) of a file.
fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// `ingot model rm`: a user entry goes (with its cached copy, if it has one; a file used in
/// place is left alone). A built-in model (or one from an extra catalog) stays in the
/// catalog; its download is removed from the cache.
pub(crate) fn rm(ctx: &Context, alias: &str) -> Result<()> {
    if let Err(invalid) = ingot_catalog::validate_alias(alias) {
        // `get` turns a wrongly-cased alias into a suggestion.
        ctx.catalog()?.get(alias)?;
        return Err(invalid.into());
    }
    let mut user = UserCatalog::open(&ctx.home)?;
    if user.get(alias).is_some() {
        let entry = user.remove(alias)?;
        // The catalog first: if it cannot be written, nothing has changed.
        user.save()?;
        let catalog_path = user.path().to_path_buf();
        drop(user);
        let store = ctx.store()?;
        let freed = match store.lookup(alias)? {
            Some(_) => Some(
                store
                    .rm(alias)
                    .with_context(|| format!("cannot remove the cached copy of '{alias}'"))?,
            ),
            None => None,
        };
        print!("Removed '{alias}' from {}", catalog_path.display());
        match (freed, entry.local_path()) {
            (Some(n), _) => println!("; its cached copy is gone: freed {}", human_bytes(n)),
            (None, Some(p)) => println!("; {} was used in place and is left as it is", p.display()),
            (None, None) => println!(),
        }
        if let Ok(c) = ctx.catalog() {
            if let Ok(e) = c.get(alias) {
                println!("'{alias}' now refers to the entry in {}", e.origin);
            }
        }
        return Ok(());
    }
    drop(user);
    let catalog = ctx.catalog()?;
    let entry = catalog.get(alias)?;
    let store = ctx.store()?;
    if store.lookup(alias)?.is_none() {
        bail!(
            "model '{alias}' is defined in the {} and cannot be removed from the catalog (only \\
             entries added with `ingot model add` can be); it is not in the cache ({}) either",
            describe_origin(&entry.origin),
            store.root().display()
        );
    }
    let freed = store
        .rm(alias)
        .with_context(|| format!("cannot remove '{alias}'"))?;
    println!("Removed {alias}: freed {}", human_bytes(freed));
    println!(
        "(the download only: the entry stays in the {})",
        describe_origin(&entry.origin)
    );
    Ok(())
}

fn describe_origin(origin: &Origin) -> String {
    match origin {
        Origin::Builtin => "built-in catalog".into(),
        other => format!("catalog {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantization_from_file_names() {
        assert_eq!(
            quantization_in_name("gemma-3-270m-q4_k_m.gguf"),
            Some("Q4_K_M")
        );
        assert_eq!(
            quantization_in_name("SmolLM2-135M-Instruct.Q4_1.gguf"),
            Some("Q4_1")
        );
        assert_eq!(quantization_in_name("model-f16.gguf"), Some("F16"));
        assert_eq!(quantization_in_name("Q8_0.gguf"), Some("Q8_0"));
        assert_eq!(
            quantization_in_name("Qwen2.5-0.5B-Instruct-IQ4_XS.gguf"),
            Some("IQ4_XS")
        );
        assert_eq!(quantization_in_name("model.gguf"), None);
        assert_eq!(quantization_in_name("xq4_0y.gguf"), None);
    }

    #[test]
    fn capabilities() {
        assert_eq!(
            parse_capabilities(&["chat".into(), " Completion".into(), "chat".into()]).unwrap(),
            [Capability::Chat, Capability::Completion]
        );
        assert!(parse_capabilities(&["embeddings".into()]).is_err());
        assert_eq!(
            capabilities_for(vec![], false).unwrap(),
            [Capability::Completion]
        );
        assert!(capabilities_for(vec![Capability::Chat], false).is_err());
    }
}
