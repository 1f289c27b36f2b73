//! Editing the user catalog (`$INGOT_HOME/catalog.toml`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use toml_edit::{ArrayOfTables, DocumentMut, Item};

use crate::{parse, CatalogError, Format, ModelEntry, Origin, Result, USER_CATALOG_FILE};

const LOCK_FILE: &str = ".catalog.lock";

const HEADER: &str = "\
# ingot user catalog. Entries here are merged over the built-in catalog.
# `ingot model add` and `ingot model rm` edit this file (comments are kept); the format is
# the built-in catalog's, see `ingot model info ALIAS` for what each entry resolves to.

";

/// The user catalog, opened for changes.
///
/// Holds an exclusive lock on `$INGOT_HOME/.catalog.lock` from [`UserCatalog::open`] until
/// it is dropped, so two `ingot model add` running at once cannot lose each other's entry.
/// Changes are in memory until [`UserCatalog::save`], which replaces the file atomically
/// (a crash leaves the old file or the new one, never half of one). Comments and the
/// layout of the existing entries are kept.
#[derive(Debug)]
pub struct UserCatalog {
    path: PathBuf,
    doc: DocumentMut,
    entries: Vec<ModelEntry>,
    existed: bool,
    _lock: File,
}

impl UserCatalog {
    /// Opens (and locks) the user catalog of `home`; a missing file is an empty catalog.
    pub fn open(home: &Path) -> Result<UserCatalog> {
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CatalogError::Write { path, source }
        };
        std::fs::create_dir_all(home).map_err(write_err(home))?;
        let lock_path = home.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(write_err(&lock_path))?;
        lock.lock().map_err(write_err(&lock_path))?;

        let path = home.join(USER_CATALOG_FILE);
        let (text, existed) = match std::fs::read_to_string(&path) {
            Ok(t) => (t, true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), false),
            Err(source) => return Err(CatalogError::Read { path, source }),
        };
        let origin = Origin::File(path.clone());
        let entries = parse(&text, Format::Toml, origin.clone())?;
        let doc: DocumentMut =
            text.parse()
                .map_err(|e: toml_edit::TomlError| CatalogError::Parse {
                    origin,
                    message: e.to_string(),
                })?;
        Ok(UserCatalog {
            path,
            doc,
            entries,
            existed,
            _lock: lock,
        })
    }

    /// The catalog file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its entries, in file order.
    pub fn entries(&self) -> &[ModelEntry] {
        &self.entries
    }

    /// The entry for `alias`, if this file defines it.
    pub fn get(&self, alias: &str) -> Option<&ModelEntry> {
        self.entries.iter().find(|e| e.alias == alias)
    }

    /// Adds `entry` (validated; its `sha256` normalised). Errors if it is invalid or the
    /// file already defines its alias ([`CatalogError::AliasTaken`]). Whether the alias
    /// is free in the other catalogs is the caller's question.
    pub fn add(&mut self, entry: ModelEntry) -> Result<()> {
        let mut entry = entry;
        entry.origin = Origin::File(self.path.clone());
        entry.validate()?;
        if let Some(existing) = self.get(&entry.alias) {
            return Err(CatalogError::AliasTaken {
                alias: entry.alias.clone(),
                origin: existing.origin.clone(),
            });
        }
        let table = toml_edit::ser::to_document(&entry)
            .map_err(|e| CatalogError::InvalidEntry {
                origin: entry.origin.clone(),
                alias: entry.alias.clone(),
                message: format!("cannot be written as TOML: {e}"),
            })?
            .as_table()
            .clone();
        self.models_mut()?.push(table);
        self.entries.push(entry);
        Ok(())
    }

    /// Removes the entry for `alias` and returns it.
    pub fn remove(&mut self, alias: &str) -> Result<ModelEntry> {
        let path = self.path.clone();
        let not_here = move || CatalogError::NotInUserCatalog {
            alias: alias.to_string(),
            path,
        };
        let i = self
            .entries
            .iter()
            .position(|e| e.alias == alias)
            .ok_or_else(not_here.clone())?;
        let models = self.models_mut()?;
        let j = (0..models.len())
            .find(|&j| {
                models
                    .get(j)
                    .and_then(|t| t.get("alias"))
                    .and_then(|v| v.as_str())
                    == Some(alias)
            })
            .ok_or_else(not_here)?;
        models.remove(j);
        Ok(self.entries.remove(i))
    }

    fn models_mut(&mut self) -> Result<&mut ArrayOfTables> {
        let origin = Origin::File(self.path.clone());
        self.doc
            .entry("models")
            .or_insert(Item::ArrayOfTables(ArrayOfTables::new()))
            .as_array_of_tables_mut()
            .ok_or(CatalogError::Parse {
                origin,
                message: "`models` is not an array of tables ([[models]])".into(),
            })
    }

    /// The file's new text.
    pub fn to_toml(&self) -> String {
        let body = self.doc.to_string();
        if self.existed {
            body
        } else {
            format!("{HEADER}{}", body.trim_start())
        }
    }

    /// Writes the catalog: to a temporary file next to it, fsynced, then renamed over it.
    /// The text is parsed back first, so a file ingot could not read never replaces one
    /// it can.
    pub fn save(&self) -> Result<()> {
        let text = self.to_toml();
        parse(&text, Format::Toml, Origin::File(self.path.clone()))?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let tmp = dir.join(format!(".{USER_CATALOG_FILE}.tmp-{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            drop(f);
            // Retried while another process holds the catalog open (Windows).
            ingot_core::files::replace_file(&tmp, &self.path)?;
            // The rename itself is durable once the folder is synced.
            ingot_core::files::sync_dir(dir)
        };
        write().map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            CatalogError::Write {
                path: self.path.clone(),
                source,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{local_entry, USER_TOML};
    use crate::{Catalog, Remote};

    #[test]
    fn issue7_user_catalog_add_remove_keeps_comments_and_reloads() {
        let home = tempfile::tempdir().unwrap();
        let path = home.path().join(USER_CATALOG_FILE);
        std::fs::write(&path, format!("# my own notes\n{USER_TOML}")).unwrap();

        let mut user = UserCatalog::open(home.path()).unwrap();
        assert_eq!(user.path(), path);
        assert_eq!(user.entries().len(), 2);
        let mut e = local_entry("mine", "/models/m.gguf");
        e.chat_template_override = Some("{{ messages[0].content }}\n<end>".into());
        e.sha256 = Some("C".repeat(64));
        user.add(e.clone()).unwrap();
        let err = user.add(e.clone()).unwrap_err();
        assert!(matches!(err, CatalogError::AliasTaken { .. }), "{err}");
        user.save().unwrap();
        drop(user);

        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# my own notes"), "{text}");
        let c = Catalog::load(home.path()).unwrap();
        let mine = c.get("mine").unwrap();
        assert_eq!(mine.sha256.as_deref(), Some(&*"c".repeat(64)));
        assert_eq!(mine.chat_template_override, e.chat_template_override);
        assert_eq!(mine.local_path(), Some(Path::new("/models/m.gguf")));
        assert_eq!(mine.origin, Origin::File(path.clone()));

        let mut user = UserCatalog::open(home.path()).unwrap();
        assert_eq!(user.remove("mine").unwrap().alias, "mine");
        let err = user.remove("mine").unwrap_err();
        assert!(
            matches!(err, CatalogError::NotInUserCatalog { .. }),
            "{err}"
        );
        user.remove("tiny-local").unwrap();
        user.save().unwrap();
        drop(user);
        let c = Catalog::load(home.path()).unwrap();
        assert!(!c.contains("mine") && !c.contains("tiny-local"));
        assert_eq!(c.get("smollm2-135m").unwrap().name, "My SmolLM");
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("# my own notes"));
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(home.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != ".catalog.lock")
            .collect();
        assert_eq!(names, [USER_CATALOG_FILE]);
    }

    #[test]
    fn issue7_user_catalog_created_on_first_add_and_remote_round_trip() {
        let home = tempfile::tempdir().unwrap();
        let sub = home.path().join("new-home");
        let mut user = UserCatalog::open(&sub).unwrap();
        assert!(user.entries().is_empty());
        let mut far = local_entry("far", "/unused");
        far.sources.clear();
        far.remote = Some(Remote {
            endpoint: "http://127.0.0.1:8080/v1/".into(),
            model: "qwen".into(),
            api_key_env: None,
        });
        user.add(far).unwrap();
        // Invalid entries are refused before they reach the file.
        let mut bad = local_entry("bad", "/x");
        bad.sources.clear();
        assert!(user
            .add(bad)
            .unwrap_err()
            .to_string()
            .contains("no sources"));
        user.save().unwrap();
        drop(user);
        let text = std::fs::read_to_string(sub.join(USER_CATALOG_FILE)).unwrap();
        assert!(text.starts_with("# ingot user catalog"), "{text}");
        let c = Catalog::load(&sub).unwrap();
        let r = c.get("far").unwrap().remote().unwrap();
        assert_eq!(r.endpoint, "http://127.0.0.1:8080/v1");
        assert_eq!(r.api_key(), None);
    }

    #[test]
    fn issue7_user_catalog_lock_serialises_writers() {
        let home = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let home = home.path().to_path_buf();
                std::thread::spawn(move || {
                    let mut user = UserCatalog::open(&home).unwrap();
                    user.add(local_entry(&format!("m{i}"), "/x.gguf")).unwrap();
                    user.save().unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let c = Catalog::load(home.path()).unwrap();
        for i in 0..4 {
            assert!(c.contains(&format!("m{i}")), "m{i} was lost");
        }
    }
}
