//! Adding models to the user catalog and removing them: the rules behind `ingot model add` and
//! `ingot model rm`, so that SDK users can do what the CLI does. Every check runs before
//! anything is written: on any error nothing is registered, copied or removed.

use std::path::{Path, PathBuf};

use ingot_cache::Store;
pub use ingot_catalog::NewModel;
use ingot_catalog::{Catalog, CatalogError, ModelEntry, Origin, Source, UserCatalog};
use ingot_fetch::{CachedModel, DownloadOptions, Downloader, Reporter};

use crate::error::{Error, Result};

/// Where a new model comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum NewModelSource {
    /// A GGUF file on disk: used in place, or copied into the cache (`copy`).
    File {
        /// The file (made absolute when registered).
        path: PathBuf,
        /// Copy it into the cache instead of using it where it is.
        copy: bool,
    },
    /// A file of a Hugging Face repository, downloaded on first use.
    Hf {
        /// `org/name`.
        repo: String,
        /// Branch, tag or commit (`main`).
        revision: String,
        /// The file's path in the repository.
        file: String,
    },
    /// A URL, downloaded on first use.
    Url(String),
    /// A model of another OpenAI-compatible server (a remote adapter).
    Remote {
        /// The server's OpenAI base URL.
        endpoint: String,
        /// The model name it knows the model by.
        model: String,
        /// The environment variable holding its API key.
        api_key_env: Option<String>,
    },
}

/// A registered model: its entry as saved, the catalog file, and its cached copy if one was
/// made.
#[derive(Debug, Clone)]
pub struct Added {
    /// The entry as validated and saved (sha256 in lowercase, endpoint normalised...).
    pub entry: ModelEntry,
    /// The user catalog file it was saved to.
    pub catalog: PathBuf,
    /// The cached copy, for [`NewModelSource::File`] with `copy`.
    pub copied: Option<CachedModel>,
}

/// Reads a chat template file and checks that it compiles, so a broken template is reported
/// now rather than on the first chat request.
pub fn read_chat_template(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadChatTemplate {
        path: path.to_path_buf(),
        source,
    })?;
    let problem = |problem: String| Error::ChatTemplate {
        path: path.to_path_buf(),
        problem,
    };
    if text.trim().is_empty() {
        return Err(problem("is empty".into()));
    }
    ingot_core::ChatTemplate::new(text.clone(), "", "")
        .map_err(|e| problem(format!("does not compile: {e}")))?;
    Ok(text)
}

/// Checks that `alias` is well formed and not taken in `catalog` (the first check of
/// [`add_model`], which callers may run before preparing the rest).
pub fn check_new_alias(catalog: &Catalog, alias: &str) -> Result<()> {
    ingot_catalog::validate_alias(alias)?;
    if let Some(existing) = catalog.entries().iter().find(|e| e.alias == alias) {
        return Err(CatalogError::AliasTaken {
            alias: alias.to_string(),
            origin: existing.origin.clone(),
        }
        .into());
    }
    Ok(())
}

/// Adds a model to the user catalog of `home`. `catalog` is the merged catalog (no alias of
/// it may be taken again); `reporter` shows the copy into the cache, if any.
pub fn add_model(
    home: &Path,
    catalog: &Catalog,
    model: &NewModel,
    source: &NewModelSource,
    reporter: &dyn Reporter,
) -> Result<Added> {
    check_new_alias(catalog, &model.alias)?;
    let (entry, copy) = match source {
        NewModelSource::File { path, copy } => (gguf_entry(model, path, *copy)?, *copy),
        NewModelSource::Hf {
            repo,
            revision,
            file,
        } => {
            let source = Source::Hf {
                repo: repo.clone(),
                revision: revision.clone(),
                file: file.clone(),
            };
            (ModelEntry::for_download(model, file, source), false)
        }
        NewModelSource::Url(url) => {
            let file = url.rsplit('/').next().unwrap_or(url);
            let source = Source::Url {
                url: url.clone(),
                sha256: None,
            };
            (ModelEntry::for_download(model, file, source), false)
        }
        NewModelSource::Remote {
            endpoint,
            model: upstream,
            api_key_env,
        } => (
            ModelEntry::for_remote(model, endpoint, upstream, api_key_env.clone()),
            false,
        ),
    };

    let mut user = UserCatalog::open(home)?;
    // Validates the entry and checks the user file again, now under its lock.
    user.add(entry)?;
    // As validated (sha256 in lowercase, endpoint without a trailing slash...).
    let entry = user
        .get(&model.alias)
        .cloned()
        .ok_or_else(|| CatalogError::UnknownAlias {
            alias: model.alias.clone(),
            suggestion: None,
        })?;
    let mut copied = None;
    if copy {
        // Copied (and verified against the hash just computed) before the entry is saved,
        // so a failed copy registers nothing.
        copied = Some(copy_into_cache(home, &entry, reporter)?);
    }
    if let Err(e) = user.save() {
        if copied.is_some() {
            if let Ok(store) = Store::open(home) {
                let _ = store.rm(&entry.alias);
            }
        }
        return Err(e.into());
    }
    Ok(Added {
        entry,
        catalog: user.path().to_path_buf(),
        copied,
    })
}

/// The entry of a GGUF file: its header is read through the engine API's GGUF check, its
/// bytes hashed.
fn gguf_entry(model: &NewModel, path: &Path, copy: bool) -> Result<ModelEntry> {
    let read_error = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    // Absolute, so the entry does not depend on the folder the command ran in.
    let path = std::fs::canonicalize(path).map_err(read_error)?;
    let summary = ingot_core::gguf::validate(&path).map_err(|e| Error::InvalidModel {
        message: match &e {
            ingot_core::EngineError::Load { reason, .. } => {
                format!("cannot read {}: {reason}", path.display())
            }
            ingot_core::EngineError::InvalidModel { reason, .. } => {
                format!(
                    "{} is not a valid GGUF model file: {reason}",
                    path.display()
                )
            }
            other => format!("{}: {other}", path.display()),
        },
        path: path.clone(),
    })?;
    let (sha256, size) = ingot_fetch::sha256_file(&path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    if size != summary.header.file_size {
        return Err(Error::InvalidModel {
            message: format!("{} changed while it was being read", path.display()),
            path,
        });
    }
    Ok(ModelEntry::from_gguf(
        model,
        &path,
        &summary.header,
        sha256,
        copy,
        &ingot_core::gguf::architecture_supported,
    )?)
}

fn copy_into_cache(
    home: &Path,
    entry: &ModelEntry,
    reporter: &dyn Reporter,
) -> Result<CachedModel> {
    let store = Store::open(home)?;
    let downloader = Downloader::new(store, DownloadOptions::from_env())?;
    Ok(crate::support::block_on(
        downloader.download(entry, reporter),
    )?)
}

/// What [`remove_model`] removed.
#[derive(Debug, Clone)]
pub enum Removed {
    /// A user entry, from `catalog`; `freed`: the bytes of its cached copy, if it had one (a
    /// file used in place is left alone).
    Entry {
        /// The entry removed.
        entry: ModelEntry,
        /// The user catalog file.
        catalog: PathBuf,
        /// Bytes freed in the cache.
        freed: Option<u64>,
    },
    /// A model of another catalog (built-in or extra): its download only; the entry stays.
    Download {
        /// The entry, which stays.
        entry: ModelEntry,
        /// Bytes freed in the cache.
        freed: u64,
    },
}

/// How an entry's origin reads in messages.
pub fn describe_origin(origin: &Origin) -> String {
    match origin {
        Origin::Builtin => "built-in catalog".into(),
        other => format!("catalog {other}"),
    }
}

/// Removes `alias`: a user entry goes with its cached copy; a model of another catalog loses
/// its download only. The catalog is written first: if it cannot be, nothing has changed.
pub fn remove_model(home: &Path, catalog: &Catalog, alias: &str) -> Result<Removed> {
    if let Err(invalid) = ingot_catalog::validate_alias(alias) {
        // `get` turns a wrongly-cased alias into a suggestion.
        catalog.get(alias)?;
        return Err(invalid.into());
    }
    let mut user = UserCatalog::open(home)?;
    if user.get(alias).is_some() {
        let entry = user.remove(alias)?;
        user.save()?;
        let catalog_path = user.path().to_path_buf();
        drop(user);
        let store = Store::open(home)?;
        let freed = match store.lookup(alias)? {
            Some(_) => Some(store.rm(alias)?),
            None => None,
        };
        return Ok(Removed::Entry {
            entry,
            catalog: catalog_path,
            freed,
        });
    }
    drop(user);
    let entry = catalog.get(alias)?.clone();
    let store = Store::open(home)?;
    if store.lookup(alias)?.is_none() {
        return Err(Error::NotRemovable {
            alias: alias.to_string(),
            origin: describe_origin(&entry.origin),
            cache: store.root().to_path_buf(),
        });
    }
    let freed = store.rm(alias)?;
    Ok(Removed::Download { entry, freed })
}

/// The variant to run when `entry` (a model's default entry, asked for by its plain alias)
/// has several (issue 15): the default, unless it would not fit in `available` bytes of
/// memory (`max_memory`, else what the OS reports) — then the largest variant that fits,
/// with a note that says so. `BASE:TAG` requests never come here: they get what they name.
///
/// A variant's need is estimated from its cached file (weights, KV cache and compute
/// buffers for `opts`), else from its catalog size plus a fifth; a variant whose size is
/// not known yet is only chosen when nothing known fits.
pub fn pick_variant<'a>(
    catalog: &'a Catalog,
    store: &Store,
    entry: &'a ModelEntry,
    opts: &ingot_core::LoadOptions,
    available: Option<u64>,
) -> (&'a ModelEntry, Option<String>) {
    let Some(available) = available.or_else(ingot_core::available_memory) else {
        return (entry, None);
    };
    let variants = catalog.variants(&entry.alias);
    if variants.len() < 2 || catalog.variant_base(entry).is_some() {
        return (entry, None);
    }
    let need = |e: &ModelEntry| -> Option<u64> {
        if let Ok(Some(c)) = store.lookup(&e.alias) {
            if let Ok(est) = ingot_core::estimate_memory(&c.path, opts) {
                return Some(est.total());
            }
        }
        e.size.map(|s| s + s / 5)
    };
    match need(entry) {
        Some(n) if n > available => {}
        _ => return (entry, None),
    }
    let best = variants
        .iter()
        .filter_map(|v| need(v).map(|n| (n, *v)))
        .filter(|(n, _)| *n <= available)
        .max_by_key(|(n, _)| *n);
    match best {
        Some((n, v)) => (
            v,
            Some(format!(
                "'{}' ({}) needs more memory than the {} available; using its variant {} ({}, about {})",
                entry.alias,
                entry.quantization,
                ingot_core::units::human_bytes(available),
                catalog.display_name(v),
                v.quantization,
                ingot_core::units::human_bytes(n)
            )),
        ),
        // Nothing fits: the default, whose load then explains the shortfall in detail.
        None => (entry, None),
    }
}
