//! The ingot model catalog.
//!
//! A catalog is an ordered list of [`ModelEntry`]s keyed by alias. ingot ships a built-in
//! catalog (`catalog.toml`, compiled in); a user catalog at `$INGOT_HOME/catalog.toml`
//! and any extra catalogs — TOML or JSON files, or http(s) URLs (see
//! [`env::INGOT_CATALOG`] and [`Catalog::load_with`]) — are merged over it, later entries
//! replacing earlier ones with the same alias. An alias defined differently by two of the
//! extra catalogs (or by one of them and the catalogs below it) is reported as a
//! [`MergeConflict`]. A catalog fetched from a URL cannot set secrets, templates or
//! redirect a model to a remote endpoint unless it is trusted: see [`trust`].
//!
//! [`UserCatalog`] edits the user catalog (`ingot model add` / `ingot model rm`).
//!
//! Entries are model files ([`Source`]s to fetch them from, or a [`Source::Local`] file used
//! in place) or remote adapters ([`ModelEntry::remote`]: a model served by another
//! OpenAI-compatible server, which `ingot serve` proxies).
//!
//! ```
//! let catalog = ingot_catalog::Catalog::builtin();
//! let entry = catalog.get("smollm2-135m").unwrap();
//! assert_eq!(entry.quantization, "Q4_1");
//! let err = catalog.get("smollm2").unwrap_err();
//! assert!(err.to_string().contains("did you mean 'smollm2-135m'"));
//! ```

#![warn(missing_docs)]

mod alias;
pub mod env;
mod import;
mod location;
mod model;
mod register;
pub mod trust;
mod user;
mod variant;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use alias::{validate_alias, MAX_ALIAS_LEN};
pub use import::{ImportFrom, ImportFromError};
pub use location::{join_catalog_list, split_catalog_list, CatalogLocation};
pub use model::{
    is_env_var_name, is_sha256_hex, license_is_permissive, Capability, ModelEntry, Origin, Remote,
    Source,
};
pub use register::{
    capabilities_for, parse_capabilities, quantization_in_name, NewModel, RegisterError,
};
pub use trust::{trusted_urls, Refusal, UntrustedField};
pub use user::UserCatalog;
pub use variant::{tag_of, variant_alias};

/// The built-in catalog's text.
pub const BUILTIN_CATALOG: &str = include_str!("../catalog.toml");

/// File name of the user catalog inside `$INGOT_HOME`.
pub const USER_CATALOG_FILE: &str = "catalog.toml";

/// Errors of this crate. Each names the alias or file concerned.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The alias is malformed (and could not name any model).
    #[error("invalid model alias {alias:?}: {reason}")]
    InvalidAlias {
        /// What was given.
        alias: String,
        /// Why it is invalid.
        reason: String,
    },
    /// No entry has this alias.
    #[error("unknown model '{alias}'{}", match suggestion {
        Some(s) => format!(" — did you mean '{s}'?"),
        None => " — run `ingot list` to see the catalog".to_string(),
    })]
    UnknownAlias {
        /// What was given.
        alias: String,
        /// The closest known alias, if any is close.
        suggestion: Option<String>,
    },
    /// `BASE:TAG` where `BASE` exists but has no such variant.
    #[error("'{base}' has no variant '{tag}': it has {} (write {base}:TAG)", tags.join(", "))]
    UnknownVariant {
        /// The model.
        base: String,
        /// The tag asked for.
        tag: String,
        /// The tags it has.
        tags: Vec<String>,
    },
    /// A catalog file could not be read.
    #[error("cannot read catalog {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A catalog file is not valid TOML/JSON or does not follow the schema.
    #[error("cannot parse catalog {origin}: {message}")]
    Parse {
        /// Which catalog.
        origin: Origin,
        /// The parser's message (with line and column where it has them).
        message: String,
    },
    /// An entry parsed but its values are wrong.
    #[error("catalog {origin}: model '{alias}': {message}")]
    InvalidEntry {
        /// Which catalog.
        origin: Origin,
        /// The entry's alias.
        alias: String,
        /// What is wrong.
        message: String,
    },
    /// One file defines the same alias twice.
    #[error("catalog {origin}: model '{alias}' is defined twice")]
    DuplicateAlias {
        /// Which catalog.
        origin: Origin,
        /// The alias.
        alias: String,
    },
    /// A catalog URL could not be fetched.
    #[error("cannot fetch catalog {url}: {message}")]
    Fetch {
        /// The URL (credentials redacted).
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The alias is already taken (adding to the user catalog).
    #[error("model '{alias}' already exists (defined in {origin}): choose another alias, or remove it first with `ingot model rm {alias}`")]
    AliasTaken {
        /// The alias.
        alias: String,
        /// Where the existing entry is defined.
        origin: Origin,
    },
    /// The user catalog has no entry with this alias (removing from the user catalog).
    #[error("model '{alias}' is not in the user catalog {}", path.display())]
    NotInUserCatalog {
        /// The alias.
        alias: String,
        /// The user catalog file.
        path: PathBuf,
    },
    /// The alias was defined by a catalog fetched from a URL, with a field such a catalog
    /// may only set when it is trusted (see [`trust`]).
    #[error("{0}")]
    Untrusted(Refusal),
    /// The user catalog could not be written (or locked).
    #[error("cannot write catalog {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Result type of this crate.
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// An alias defined again by a later catalog, which replaced the earlier entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeConflict {
    /// The alias.
    pub alias: String,
    /// Where the replaced entry came from.
    pub previous: Origin,
    /// Where the entry now in force came from.
    pub replacement: Origin,
}

impl fmt::Display for MergeConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "catalog conflict: model '{}' from {} overrides a different definition in {}",
            self.alias, self.replacement, self.previous
        )
    }
}

/// Format of a catalog file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TOML: `[[models]]` tables.
    Toml,
    /// JSON: `{"models": [...]}`.
    Json,
}

impl Format {
    /// Guesses the format from the file extension, then from the content (`{` starts JSON).
    pub fn detect(path: &Path, text: &str) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Format::Json,
            Some(e) if e.eq_ignore_ascii_case("toml") => Format::Toml,
            _ if text.trim_start().starts_with('{') => Format::Json,
            _ => Format::Toml,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    models: Vec<ModelEntry>,
}

/// An ordered set of model entries, unique by alias.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    entries: Vec<ModelEntry>,
    index: HashMap<String, usize>,
    /// Entries of untrusted catalogs that were left out, by alias (the last one wins).
    refused: Vec<Refusal>,
}

impl Catalog {
    /// The catalog compiled into ingot.
    pub fn builtin() -> Catalog {
        let entries = parse(BUILTIN_CATALOG, Format::Toml, Origin::Builtin)
            // The built-in text is fixed at compile time and checked by the tests, so a
            // failure here is a bug in ingot, not something a user can cause.
            .expect("the built-in catalog is valid");
        let mut catalog = Catalog::default();
        catalog.merge_entries(entries);
        catalog
    }

    /// The built-in catalog with the user catalog `home/catalog.toml` (if it exists)
    /// merged over it.
    pub fn load(home: &Path) -> Result<Catalog> {
        let mut catalog = Catalog::builtin();
        let user = home.join(USER_CATALOG_FILE);
        if user.is_file() {
            catalog.merge_file(&user)?;
        }
        Ok(catalog)
    }

    /// [`Catalog::load`], then the catalogs listed in `INGOT_CATALOG` (files or URLs, see
    /// [`split_catalog_list`]) merged in order, the URLs listed in `INGOT_TRUST_CATALOG`
    /// trusted. Returns the conflicts among those extra catalogs and with what they
    /// override; refused entries are in [`Catalog::refused`].
    pub fn load_with_env(home: &Path) -> Result<(Catalog, Vec<MergeConflict>)> {
        let list = |name| match std::env::var_os(name) {
            Some(list) => split_catalog_list(&list.to_string_lossy()),
            None => Vec::new(),
        };
        let trusted = trusted_urls(&list(env::INGOT_TRUST_CATALOG));
        Catalog::load_with_trust(home, &list(env::INGOT_CATALOG), &trusted)
    }

    /// [`Catalog::load_with_trust`] trusting no URL.
    pub fn load_with(
        home: &Path,
        extra: &[CatalogLocation],
    ) -> Result<(Catalog, Vec<MergeConflict>)> {
        Catalog::load_with_trust(home, extra, &[])
    }

    /// [`Catalog::load`], then `extra` catalogs (files or URLs) merged in order. Returns
    /// the conflicts: aliases an extra catalog defines differently from an earlier one.
    /// Nothing is merged if any extra catalog fails to load.
    ///
    /// Files, and the URLs listed (exactly) in `trusted`, are merged as they are. From any
    /// other URL, the entries that [`trust`] forbids are left out and recorded in
    /// [`Catalog::refused`]; [`Catalog::get`] answers their alias with
    /// [`CatalogError::Untrusted`].
    pub fn load_with_trust(
        home: &Path,
        extra: &[CatalogLocation],
        trusted: &[String],
    ) -> Result<(Catalog, Vec<MergeConflict>)> {
        let mut catalog = Catalog::load(home)?;
        // Aliases an untrusted catalog may not turn into remote endpoints.
        let mut protected: HashSet<String> = catalog.aliases().map(str::to_string).collect();
        let mut conflicts = Vec::new();
        for location in extra {
            let entries = location.load()?;
            let entries = if trust::is_trusted(location, trusted) {
                protected.extend(entries.iter().map(|e| e.alias.clone()));
                entries
            } else {
                let mut accepted = Vec::with_capacity(entries.len());
                for entry in entries {
                    match trust::check(&entry, &protected) {
                        Some(refusal) => catalog.refuse(refusal),
                        None => accepted.push(entry),
                    }
                }
                accepted
            };
            conflicts.extend(catalog.merge_entries(entries));
        }
        Ok((catalog, conflicts))
    }

    /// The entries of untrusted catalogs that were left out, in load order (one per alias).
    pub fn refused(&self) -> &[Refusal] {
        &self.refused
    }

    fn refuse(&mut self, refusal: Refusal) {
        self.refused.retain(|r| r.alias != refusal.alias);
        self.refused.push(refusal);
    }

    /// Parses a catalog from text.
    pub fn parse_str(text: &str, format: Format) -> Result<Catalog> {
        let mut catalog = Catalog::default();
        catalog.merge_entries(parse(text, format, Origin::Builtin)?);
        Ok(catalog)
    }

    /// Merges one catalog file (TOML or JSON, see [`Format::detect`]) over this catalog.
    pub fn merge_file(&mut self, path: &Path) -> Result<Vec<MergeConflict>> {
        let entries = CatalogLocation::File(path.to_path_buf()).load()?;
        Ok(self.merge_entries(entries))
    }

    /// Merges catalog files in order; each one's entries replace earlier ones with the same
    /// alias. Nothing is merged if any file fails to load.
    pub fn merge_files<P: AsRef<Path>>(&mut self, paths: &[P]) -> Result<Vec<MergeConflict>> {
        let mut merged = self.clone();
        let mut conflicts = Vec::new();
        for p in paths {
            conflicts.extend(merged.merge_file(p.as_ref())?);
        }
        *self = merged;
        Ok(conflicts)
    }

    /// Adds entries, replacing (in place, keeping the order) any with the same alias.
    /// Returns the replacements that changed the entry (an identical redefinition is not a
    /// conflict).
    pub fn merge_entries(&mut self, entries: Vec<ModelEntry>) -> Vec<MergeConflict> {
        let mut conflicts = Vec::new();
        for entry in entries {
            // A later, acceptable definition supersedes an earlier refused one.
            self.refused.retain(|r| r.alias != entry.alias);
            match self.index.get(&entry.alias) {
                Some(&i) => {
                    if !self.entries[i].same_content(&entry) {
                        conflicts.push(MergeConflict {
                            alias: entry.alias.clone(),
                            previous: self.entries[i].origin.clone(),
                            replacement: entry.origin.clone(),
                        });
                    }
                    self.entries[i] = entry;
                }
                None => {
                    self.index.insert(entry.alias.clone(), self.entries.len());
                    self.entries.push(entry);
                }
            }
        }
        conflicts
    }

    /// The entry for `alias`.
    ///
    /// Errors: [`CatalogError::InvalidAlias`] for a malformed alias,
    /// [`CatalogError::UnknownAlias`] (with the nearest alias) for an unknown one,
    /// [`CatalogError::Untrusted`] for one whose definition by an untrusted catalog was
    /// refused (even where ingot or an earlier catalog defines it: the user asked for the
    /// untrusted catalog's model, and must learn why they do not get it).
    pub fn get(&self, alias: &str) -> Result<&ModelEntry> {
        if let Some(r) = self.refused.iter().find(|r| r.alias == alias) {
            return Err(CatalogError::Untrusted(r.clone()));
        }
        if let Some(&i) = self.index.get(alias) {
            return Ok(&self.entries[i]);
        }
        if let Some((base, tag)) = alias.rsplit_once(':') {
            if let Some(e) = self.get_variant(alias) {
                return Ok(e);
            }
            let base_lc = base.to_ascii_lowercase();
            if self.contains(&base_lc) {
                return Err(CatalogError::UnknownVariant {
                    tags: self.variant_tags(&base_lc),
                    base: base_lc,
                    tag: tag.to_string(),
                });
            }
        }
        if let Err(invalid) = validate_alias(alias) {
            // A wrongly-cased alias is a typo, not an attempt to name a path: point at the
            // right one rather than lecture on the alias syntax.
            let lower = alias.to_ascii_lowercase();
            if self.index.contains_key(&lower) {
                return Err(CatalogError::UnknownAlias {
                    alias: alias.to_string(),
                    suggestion: Some(lower),
                });
            }
            return Err(invalid);
        }
        Err(CatalogError::UnknownAlias {
            alias: alias.to_string(),
            suggestion: alias::nearest(alias, self.aliases()),
        })
    }

    /// Whether an entry has this alias.
    pub fn contains(&self, alias: &str) -> bool {
        self.index.contains_key(alias)
    }

    /// All entries, in catalog order.
    pub fn entries(&self) -> &[ModelEntry] {
        &self.entries
    }

    /// All aliases, in catalog order.
    pub fn aliases(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.alias.as_str())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the catalog has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Parses and validates a catalog text; entries are tagged with `origin`.
pub fn parse(text: &str, format: Format, origin: Origin) -> Result<Vec<ModelEntry>> {
    let parse_err = |message: String| CatalogError::Parse {
        origin: origin.clone(),
        message,
    };
    let file: CatalogFile = match format {
        Format::Toml => toml::from_str(text).map_err(|e| parse_err(e.to_string()))?,
        Format::Json => serde_json::from_str(text).map_err(|e| parse_err(e.to_string()))?,
    };
    let mut seen = HashMap::new();
    let mut entries = file.models;
    for entry in &mut entries {
        entry.origin = origin.clone();
        entry.validate()?;
        match &origin {
            Origin::File(catalog_path) => {
                // A relative `file` source means "next to this catalog", not "wherever the
                // command happens to run".
                let base = catalog_path.parent().unwrap_or(Path::new(""));
                for source in &mut entry.sources {
                    if let Source::File { path } | Source::Local { path } = source {
                        if path.is_relative() {
                            *path = base.join(&*path);
                        }
                    }
                }
            }
            Origin::Url(_) => {
                // Whoever serves the catalog does not get to pick files on this machine.
                if let Some(s) = entry.sources.iter().find(|s| match s {
                    Source::File { .. } | Source::Local { .. } => true,
                    Source::Import { from, .. } => {
                        matches!(ImportFrom::parse(from), Ok(ImportFrom::Local(_)))
                    }
                    _ => false,
                }) {
                    return Err(CatalogError::InvalidEntry {
                        origin: origin.clone(),
                        alias: entry.alias.clone(),
                        message: format!(
                            "a catalog fetched from a URL cannot name local files ({s})"
                        ),
                    });
                }
            }
            Origin::Builtin => {}
        }
        if seen.insert(entry.alias.clone(), ()).is_some() {
            return Err(CatalogError::DuplicateAlias {
                origin: origin.clone(),
                alias: entry.alias.clone(),
            });
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests;
