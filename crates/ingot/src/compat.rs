//! Drop-in support for tools written against Foundry Local: its model ids in the catalog, and
//! the `foundry` command (the ingot binary under another name, see [`foundry_alias`]).

use std::path::{Path, PathBuf};

use ingot_catalog::{Catalog, CatalogError, ModelEntry};

/// The catalog entry `name` refers to: an alias, else a Foundry Local id
/// (`qwen2.5-0.5b-instruct-generic-cpu:4`) or an Ollama name (`qwen2.5:0.5b`) whose stem is
/// one ([`ingot_api::names::candidates`]). The error is the catalog's for `name` itself (with
/// its suggestion).
pub fn resolve_model_name<'c>(
    catalog: &'c Catalog,
    name: &str,
) -> Result<&'c ModelEntry, CatalogError> {
    let first = catalog.get(name);
    if first.is_ok() {
        return first;
    }
    ingot_api::names::candidates(name)
        .iter()
        .find_map(|c| catalog.get(c).ok())
        .map_or(first, Ok)
}

/// Why [`foundry_alias`] failed.
#[derive(Debug, thiserror::Error)]
pub enum AliasError {
    /// Something else already sits at the path.
    #[error("{path} already exists and is not ingot; remove it or pass --force")]
    Exists {
        /// The path.
        path: PathBuf,
    },
    /// Creating the link or copy failed.
    #[error("cannot create {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// How [`foundry_alias`] made the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasKind {
    /// A symbolic link to the binary.
    Link,
    /// A copy of the binary (`copy`, or where links cannot be made).
    Copy,
    /// It was already there.
    Existing,
}

/// The file name of the `foundry` command on this platform.
pub fn foundry_file_name() -> &'static str {
    if cfg!(windows) {
        "foundry.exe"
    } else {
        "foundry"
    }
}

/// Creates `dir/foundry`, a link to (or with `copy`, a copy of) the ingot binary `exe`:
/// invoked under that name, ingot speaks Foundry Local's command line. An existing link to
/// `exe` is kept; anything else there is replaced only with `force`.
pub fn foundry_alias(
    exe: &Path,
    dir: &Path,
    copy: bool,
    force: bool,
) -> Result<(PathBuf, AliasKind), AliasError> {
    let path = dir.join(foundry_file_name());
    let io = |source| AliasError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|source| AliasError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if let Ok(meta) = std::fs::symlink_metadata(&path) {
        let same = std::fs::canonicalize(&path)
            .ok()
            .zip(std::fs::canonicalize(exe).ok())
            .is_some_and(|(a, b)| a == b);
        if same && meta.file_type().is_symlink() && !copy {
            return Ok((path, AliasKind::Existing));
        }
        if !force && !same {
            return Err(AliasError::Exists { path });
        }
        std::fs::remove_file(&path).map_err(io)?;
    }
    if !copy {
        #[cfg(unix)]
        {
            if std::os::unix::fs::symlink(exe, &path).is_ok() {
                return Ok((path, AliasKind::Link));
            }
        }
    }
    std::fs::copy(exe, &path).map_err(io)?;
    Ok((path, AliasKind::Copy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foundry_and_ollama_names_find_catalog_entries() {
        let home = tempfile::tempdir().unwrap();
        let (catalog, _) = Catalog::load_with_env(home.path()).unwrap();
        for name in [
            "smollm2-135m",
            "smollm2-135m-generic-cpu:1",
            "smollm2-135m-instruct-generic-cpu:4",
            "smollm2-135m:latest",
            "smollm2:135m",
        ] {
            assert_eq!(
                resolve_model_name(&catalog, name).unwrap().alias,
                "smollm2-135m",
                "{name}"
            );
        }
        assert!(resolve_model_name(&catalog, "nope-generic-cpu:1").is_err());
        assert!(resolve_model_name(&catalog, "../x:latest").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn foundry_alias_links_once_and_refuses_strangers() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("ingot");
        std::fs::write(&exe, b"bin").unwrap();
        let bin = dir.path().join("bin");
        let (path, kind) = foundry_alias(&exe, &bin, false, false).unwrap();
        assert_eq!(kind, AliasKind::Link);
        assert_eq!(std::fs::read_link(&path).unwrap(), exe);
        assert_eq!(
            foundry_alias(&exe, &bin, false, false).unwrap().1,
            AliasKind::Existing
        );
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"someone else").unwrap();
        assert!(matches!(
            foundry_alias(&exe, &bin, false, false),
            Err(AliasError::Exists { .. })
        ));
        assert_eq!(
            foundry_alias(&exe, &bin, true, true).unwrap().1,
            AliasKind::Copy
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"bin");
    }
}
