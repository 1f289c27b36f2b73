//! The ingot model store.
//!
//! Layout under the home folder (`$INGOT_HOME`, see [`default_home`]):
//!
//! ```text
//! models-v1/
//!   blobs/sha256-<hex>        verified model files, named by content
//!   manifests/<alias>.json    alias -> blob, source, timestamps
//!   partials/<key>.partial    in-progress downloads, resumable
//!   partials/<key>.validator  the server's ETag/Last-Modified for resuming that partial
//!   locks/<key>.lock          one lock per download (see PartialKey)
//!   tmp/<key>~<random>/       scratch space of a download (pip wheels)
//! ```
//!
//! A model is visible (listed, returned by [`Store::lookup`]) only once its blob has been
//! verified by the downloader, renamed into `blobs/` and its manifest written atomically;
//! a crash at any point leaves at worst a partial that the next download resumes, or an
//! orphan that [`Store::gc`] removes.

#![warn(missing_docs)]

mod error;
mod fsutil;
mod lock;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use error::{CacheError, Result};
pub use lock::{DownloadLock, PartialKey};

use error::IoContext;
use fsutil::{remove_file_counted, remove_tree_counted, sync_dir, write_atomic, TMP_PREFIX};
use lock::StoreLock;

/// Name of the versioned layout folder; a future incompatible layout gets a new name, so
/// that old and new ingot versions never misread each other's files.
pub const LAYOUT_DIR: &str = "models-v1";

const PARTIAL_EXT: &str = "partial";
const STORE_LOCK: &str = ".store.lock";

/// The home folder: `$INGOT_HOME` if set and non-empty, else `<user cache dir>/ingot`.
pub fn default_home() -> Result<PathBuf> {
    match std::env::var_os(ingot_catalog::env::INGOT_HOME) {
        Some(h) if !h.is_empty() => Ok(PathBuf::from(h)),
        _ => dirs::cache_dir()
            .map(|d| d.join("ingot"))
            .ok_or(CacheError::NoHome),
    }
}

/// What the store records about a cached model (`manifests/<alias>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The alias.
    pub alias: String,
    /// SHA-256 of the blob (lowercase hex).
    pub sha256: String,
    /// Size of the blob in bytes.
    pub size: u64,
    /// The source the file was downloaded from (its one-line description).
    pub source: String,
    /// When the download completed.
    #[serde(with = "time::serde::rfc3339")]
    pub downloaded_at: OffsetDateTime,
    /// When the model was last used (or downloaded).
    #[serde(with = "time::serde::rfc3339")]
    pub last_used_at: OffsetDateTime,
}

/// A verified cached model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedEntry {
    /// The manifest.
    pub manifest: Manifest,
    /// Path of the model file.
    pub path: PathBuf,
}

impl CachedEntry {
    /// The alias.
    pub fn alias(&self) -> &str {
        &self.manifest.alias
    }
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.manifest.size
    }
    /// SHA-256 (lowercase hex).
    pub fn sha256(&self) -> &str {
        &self.manifest.sha256
    }
}

/// Options of [`Store::gc`].
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Remove every partial download not currently in progress, whatever its age.
    pub all_partials: bool,
    /// Otherwise, remove partial downloads untouched for longer than this.
    pub partial_max_age: Duration,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            all_partials: false,
            partial_max_age: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// What [`Store::gc`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Files and folders removed.
    pub removed: Vec<PathBuf>,
    /// Partial downloads kept because a live download holds their lock.
    pub skipped_in_use: Vec<PathBuf>,
    /// Bytes freed.
    pub bytes_freed: u64,
}

/// Handle on a store folder. Cheap to clone; every method works directly on the file
/// system, so several handles, threads and processes can share one store.
#[derive(Debug, Clone)]
pub struct Store {
    home: PathBuf,
    models: PathBuf,
}

impl Store {
    /// Opens (creating its folders if needed) the store under `home`.
    pub fn open(home: impl Into<PathBuf>) -> Result<Store> {
        let home = home.into();
        let models = home.join(LAYOUT_DIR);
        let store = Store { home, models };
        for dir in [
            store.blobs_dir(),
            store.manifests_dir(),
            store.partials_dir(),
            store.locks_dir(),
            store.tmp_dir(),
        ] {
            fs::create_dir_all(&dir).ctx(&dir)?;
        }
        Ok(store)
    }

    /// Opens the store under [`default_home`].
    pub fn open_default() -> Result<Store> {
        Store::open(default_home()?)
    }

    /// The home folder the store was opened with (`$INGOT_HOME`).
    pub fn root(&self) -> &Path {
        &self.home
    }

    /// The versioned models folder (`<home>/models-v1`).
    pub fn models_dir(&self) -> &Path {
        &self.models
    }

    fn blobs_dir(&self) -> PathBuf {
        self.models.join("blobs")
    }
    fn manifests_dir(&self) -> PathBuf {
        self.models.join("manifests")
    }
    fn partials_dir(&self) -> PathBuf {
        self.models.join("partials")
    }
    fn locks_dir(&self) -> PathBuf {
        self.models.join("locks")
    }
    fn tmp_dir(&self) -> PathBuf {
        self.models.join("tmp")
    }
    fn manifest_path(&self, alias: &str) -> PathBuf {
        self.manifests_dir().join(format!("{alias}.json"))
    }
    fn lock_path(&self, stem: &str) -> PathBuf {
        self.locks_dir().join(format!("{stem}.lock"))
    }
    fn store_lock_path(&self) -> PathBuf {
        self.locks_dir().join(STORE_LOCK)
    }

    /// Path of the blob with this SHA-256 (which may not exist).
    pub fn blob_path(&self, sha256: &str) -> PathBuf {
        self.blobs_dir()
            .join(format!("sha256-{}", sha256.to_ascii_lowercase()))
    }

    /// Path of the partial file for `key` (which may not exist).
    pub fn partial_path(&self, key: &PartialKey) -> PathBuf {
        self.partials_dir()
            .join(format!("{}.{PARTIAL_EXT}", key.stem()))
    }

    /// Takes the lock for downloading `key`, waiting while another thread or process holds
    /// it. Blocking: call it from a blocking context (e.g. `tokio::task::spawn_blocking`).
    ///
    /// After taking it, check [`Store::lookup`] again: the previous holder may have just
    /// cached the model.
    pub fn lock(&self, key: &PartialKey) -> Result<DownloadLock> {
        lock::lock_exclusive(
            &self.lock_path(&key.stem()),
            key.clone(),
            self.partial_path(key),
        )
    }

    /// Takes the lock for `key` if no one holds it.
    pub fn try_lock(&self, key: &PartialKey) -> Result<Option<DownloadLock>> {
        lock::try_lock_exclusive(
            &self.lock_path(&key.stem()),
            key.clone(),
            self.partial_path(key),
        )
    }

    /// A scratch folder for the download holding `lock` (e.g. for pip's wheels), removed
    /// when the returned value is dropped; `gc` removes leftovers of killed downloads.
    pub fn scratch_dir(&self, lock: &DownloadLock) -> Result<tempfile::TempDir> {
        let dir = self.tmp_dir();
        tempfile::Builder::new()
            .prefix(&format!("{}~", lock.key().stem()))
            .tempdir_in(&dir)
            .ctx(&dir)
    }

    /// The cached model `alias`, if its manifest is valid and its blob present with the
    /// recorded size. Does not re-hash the blob: it was verified before it was committed.
    pub fn lookup(&self, alias: &str) -> Result<Option<CachedEntry>> {
        ingot_catalog::validate_alias(alias)?;
        let path = self.manifest_path(alias);
        let manifest = match read_manifest(&path)? {
            Some(m) => m,
            None => return Ok(None),
        };
        if manifest.alias != alias {
            return Err(CacheError::CorruptManifest {
                path,
                message: format!("it is for alias '{}'", manifest.alias),
            });
        }
        Ok(self.entry_if_blob_ok(manifest))
    }

    fn entry_if_blob_ok(&self, manifest: Manifest) -> Option<CachedEntry> {
        let blob = self.blob_path(&manifest.sha256);
        match fs::metadata(&blob) {
            Ok(m) if m.is_file() && m.len() == manifest.size => Some(CachedEntry {
                manifest,
                path: blob,
            }),
            _ => None,
        }
    }

    /// Path of the cached model `alias`, recording the use (`last_used_at`).
    pub fn cached_path(&self, alias: &str) -> Result<Option<PathBuf>> {
        let Some(entry) = self.lookup(alias)? else {
            return Ok(None);
        };
        self.touch(&entry.manifest)?;
        Ok(Some(entry.path))
    }

    /// Records a use of `manifest`'s model. The manifest on disk is read again under the
    /// store lock, held exclusively: what `manifest` says may be stale by now (a concurrent
    /// download committed a new file for the alias, or `rm` removed it), and writing it back
    /// would undo that commit (issue 12). Only `last_used_at` changes.
    fn touch(&self, manifest: &Manifest) -> Result<()> {
        let _guard = StoreLock::exclusive(&self.store_lock_path())?;
        let path = self.manifest_path(&manifest.alias);
        // Someone may have removed the model meanwhile; do not resurrect its manifest.
        let Some(mut current) = read_manifest(&path)? else {
            return Ok(());
        };
        if current.alias != manifest.alias {
            return Ok(()); // corrupt; `lookup` and `gc` deal with it
        }
        current.last_used_at = current.last_used_at.max(OffsetDateTime::now_utc());
        self.write_manifest(&current)
    }

    fn write_manifest(&self, m: &Manifest) -> Result<()> {
        let json = serde_json::to_vec_pretty(m).expect("manifests serialise");
        write_atomic(&self.manifest_path(&m.alias), &json)
    }

    /// All verified cached models, sorted by alias. Unreadable manifests are skipped (with
    /// a warning); `gc` removes them.
    pub fn list(&self) -> Result<Vec<CachedEntry>> {
        let mut out: Vec<CachedEntry> = self
            .all_manifests()?
            .into_iter()
            .filter_map(|(_, m)| m)
            .filter_map(|m| self.entry_if_blob_ok(m))
            .collect();
        out.sort_by(|a, b| a.manifest.alias.cmp(&b.manifest.alias));
        Ok(out)
    }

    /// Every `*.json` in manifests/, parsed (`None` for corrupt ones).
    fn all_manifests(&self) -> Result<Vec<(PathBuf, Option<Manifest>)>> {
        let dir = self.manifests_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).ctx(&dir)? {
            let path = entry.ctx(&dir)?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            let alias = &name[..name.len() - ".json".len()];
            match read_manifest(&path) {
                Ok(Some(m)) if m.alias == alias => out.push((path, Some(m))),
                Ok(None) => {} // removed meanwhile
                Ok(Some(_)) | Err(CacheError::CorruptManifest { .. }) => {
                    tracing::warn!(path = %path.display(), "skipping corrupt manifest");
                    out.push((path, None));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Makes the verified partial file of `lock` the cached model `alias`: fsync, rename
    /// into `blobs/sha256-<sha256>` (or drop it if that blob already exists), then write
    /// the manifest atomically.
    ///
    /// The caller must have verified that the partial's SHA-256 is `sha256`; the store
    /// only checks the size.
    pub fn commit(
        &self,
        lock: &DownloadLock,
        alias: &str,
        sha256: &str,
        size: u64,
        source: &str,
    ) -> Result<CachedEntry> {
        ingot_catalog::validate_alias(alias)?;
        if !ingot_catalog::is_sha256_hex(sha256) {
            return Err(CacheError::InvalidSha256(sha256.to_string()));
        }
        let sha256 = sha256.to_ascii_lowercase();
        let partial = lock.partial_path();
        let file = fs::File::open(partial).ctx(partial)?;
        let actual = file.metadata().ctx(partial)?.len();
        if actual != size {
            return Err(CacheError::SizeMismatch {
                path: partial.to_path_buf(),
                expected: size,
                actual,
            });
        }
        file.sync_all().ctx(partial)?;
        drop(file);

        let _guard = StoreLock::shared(&self.store_lock_path())?;
        let blob = self.blob_path(&sha256);
        match fs::metadata(&blob) {
            // Same content already stored (another alias, or a previous download):
            // content addressing makes the existing blob as good as ours.
            Ok(m) if m.is_file() && m.len() == size => {
                fs::remove_file(partial).ctx(partial)?;
            }
            _ => {
                ingot_core::files::replace_file(partial, &blob).ctx(&blob)?;
                sync_dir(&self.blobs_dir())?;
            }
        }
        // The partial is gone, and with it what its validator described.
        let _ = fs::remove_file(lock.validator_path());
        sync_dir(&self.partials_dir())?;
        let now = OffsetDateTime::now_utc();
        let manifest = Manifest {
            alias: alias.to_string(),
            sha256,
            size,
            source: source.to_string(),
            downloaded_at: now,
            last_used_at: now,
        };
        self.write_manifest(&manifest)?;
        Ok(CachedEntry {
            manifest,
            path: blob,
        })
    }

    /// Removes the cached model `alias`: its manifest, and its blob unless another alias
    /// uses the same file. Returns the bytes freed by removing the blob (0 when it is
    /// shared; the manifest's few bytes are not counted).
    pub fn rm(&self, alias: &str) -> Result<u64> {
        ingot_catalog::validate_alias(alias)?;
        let _guard = StoreLock::exclusive(&self.store_lock_path())?;
        let path = self.manifest_path(alias);
        let manifest = match read_manifest(&path) {
            Ok(Some(m)) => Some(m),
            Ok(None) => {
                return Err(CacheError::NotCached {
                    alias: alias.to_string(),
                })
            }
            // A corrupt manifest is still removable: that is the user's way out.
            Err(CacheError::CorruptManifest { .. }) => None,
            Err(e) => return Err(e),
        };
        remove_file_counted(&path)?;
        let mut freed = 0;
        sync_dir(&self.manifests_dir())?;
        if let Some(m) = manifest {
            let still_used = self
                .all_manifests()?
                .iter()
                .any(|(_, other)| other.as_ref().is_some_and(|o| o.sha256 == m.sha256));
            if !still_used {
                freed += remove_file_counted(&self.blob_path(&m.sha256))?;
                sync_dir(&self.blobs_dir())?;
            }
        }
        Ok(freed)
    }

    /// Removes what no cached model needs: blobs no manifest references, manifests that
    /// are corrupt or whose blob is gone, leftovers of crashed writers, and partial
    /// downloads (all of them with `all_partials`, else those older than
    /// `partial_max_age`) — but never those of a download in progress.
    pub fn gc(&self, options: &GcOptions) -> Result<GcReport> {
        let _guard = StoreLock::exclusive(&self.store_lock_path())?;
        let mut report = GcReport::default();
        let remove = |report: &mut GcReport, path: PathBuf| -> Result<()> {
            report.bytes_freed += remove_tree_counted(&path)?;
            report.removed.push(path);
            Ok(())
        };

        // Manifests: keep the valid ones whose blob exists.
        let mut referenced = std::collections::HashSet::new();
        for (path, manifest) in self.all_manifests()? {
            match manifest.and_then(|m| self.entry_if_blob_ok(m)) {
                Some(e) => {
                    referenced.insert(e.path);
                }
                None => remove(&mut report, path)?,
            }
        }

        // With the store lock held exclusively no commit is between its rename and its
        // manifest write, so an unreferenced blob really is an orphan, and any temporary
        // file is a crashed writer's.
        for dir in [self.blobs_dir(), self.manifests_dir()] {
            for entry in fs::read_dir(&dir).ctx(&dir)? {
                let path = entry.ctx(&dir)?.path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let is_tmp = name.starts_with(TMP_PREFIX);
                let orphan_blob = dir == self.blobs_dir() && !referenced.contains(&path);
                if is_tmp || orphan_blob {
                    remove(&mut report, path)?;
                }
            }
        }

        // Partials and scratch folders: skip those whose download lock is held.
        let now = SystemTime::now();
        for (dir, stem_of) in [
            (
                self.partials_dir(),
                partial_stem as fn(&str) -> Option<&str>,
            ),
            (self.tmp_dir(), scratch_stem),
        ] {
            for entry in fs::read_dir(&dir).ctx(&dir)? {
                let path = entry.ctx(&dir)?.path();
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("")
                    .to_string();
                let Some(stem) = stem_of(&name) else {
                    continue; // not ours; leave it
                };
                let lock_path = self.lock_path(stem);
                let key = PartialKey::Sha256(String::new()); // only the path matters here
                let Some(_held) = lock::try_lock_exclusive(&lock_path, key, path.clone())? else {
                    report.skipped_in_use.push(path);
                    continue;
                };
                let old_enough = options.all_partials
                    || fs::symlink_metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| now.duration_since(t).ok())
                        .is_some_and(|age| age > options.partial_max_age);
                if old_enough {
                    remove(&mut report, path)?;
                }
            }
        }
        Ok(report)
    }
}

/// The key stem of a partial or of its validator file.
fn partial_stem(name: &str) -> Option<&str> {
    name.strip_suffix(".partial")
        .or_else(|| name.strip_suffix(".validator"))
        .filter(|s| !s.is_empty() && !s.starts_with('.'))
}

fn scratch_stem(name: &str) -> Option<&str> {
    name.split_once('~')
        .map(|(stem, _)| stem)
        .filter(|s| !s.is_empty() && !s.starts_with('.'))
}

fn read_manifest(path: &Path) -> Result<Option<Manifest>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CacheError::from_io(path, e)),
    };
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| CacheError::CorruptManifest {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if !ingot_catalog::is_sha256_hex(&m.sha256) || ingot_catalog::validate_alias(&m.alias).is_err()
    {
        return Err(CacheError::CorruptManifest {
            path: path.to_path_buf(),
            message: "bad alias or sha256".into(),
        });
    }
    Ok(Some(m))
}

#[cfg(test)]
mod tests;
