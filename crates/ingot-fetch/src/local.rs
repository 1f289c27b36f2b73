//! Local sources: a `local` model used where it is (only its size is checked), and a file
//! copied into the store with hashing as it goes (a `file` source, or the fallback for a
//! `local` one).

use ingot_cache::CacheError;
use ingot_catalog::ModelEntry;

use crate::copy::{run_with_progress, HashingWriter, WriteError};
use crate::{cache_err, CachedModel, FetchError, Reporter};

/// A model used where it is (a `local` source): nothing is copied. The file must still be
/// there with the size recorded when it was added (re-hashing gigabytes on every load
/// would cost more than the check is worth; `ingot model add` hashed it).
pub(crate) fn local_file(
    entry: &ModelEntry,
    path: &std::path::Path,
) -> Result<CachedModel, FetchError> {
    let source_desc = format!("local:{}", path.display());
    let meta = std::fs::metadata(path).map_err(|error| FetchError::SourceFile {
        alias: entry.alias.clone(),
        source_desc: source_desc.clone(),
        path: path.to_path_buf(),
        error,
    })?;
    if let Some(expected) = entry.size {
        if meta.len() != expected {
            return Err(FetchError::SizeMismatch {
                alias: entry.alias.clone(),
                source_desc,
                expected,
                actual: meta.len(),
            });
        }
    }
    Ok(CachedModel {
        alias: entry.alias.clone(),
        path: path.to_path_buf(),
        sha256: entry.sha256.clone().unwrap_or_default(),
        size: meta.len(),
        source: source_desc,
        already_cached: true,
    })
}

/// Copies a local file into `out`, hashing as it goes.
pub(crate) async fn copy_file(
    alias: &str,
    source_desc: &str,
    path: &std::path::Path,
    out: &std::path::Path,
    reporter: &dyn Reporter,
) -> Result<(String, u64), FetchError> {
    let (src, dst) = (path.to_path_buf(), out.to_path_buf());
    let result = run_with_progress(reporter, move |tx| -> std::io::Result<(String, u64)> {
        let mut input = std::fs::File::open(&src)?;
        let total = input.metadata()?.len();
        let mut w = HashingWriter::create(&dst, tx).map_err(|e| {
            std::io::Error::other(WriteError {
                path: dst.clone(),
                error: e,
            })
        })?;
        w.start(Some(total));
        w.copy_from(&mut input)?;
        w.finish()
    })
    .await;
    result.map_err(|e| match WriteError::take(e) {
        Ok(w) => cache_err(alias, CacheError::from_io(&w.path, w.error)),
        Err(error) => FetchError::SourceFile {
            alias: alias.to_string(),
            source_desc: source_desc.to_string(),
            path: path.to_path_buf(),
            error,
        },
    })
}
