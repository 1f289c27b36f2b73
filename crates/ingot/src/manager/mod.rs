//! [`Manager`]: the SDK's entry point, in the manner of Foundry Local's
//! `FoundryLocalManager`.

mod detached;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ingot_api::{LoadedModelStatus, PsResponse};
use ingot_cache::{CachedEntry, Store};
use ingot_catalog::{Catalog, ModelEntry};
use ingot_fetch::{CachedModel, DownloadOptions, Downloader, NoopReporter, Reporter};
use ingot_server::{ServerConfig, ServerHandle};

use crate::error::{Error, Result};
use crate::service::{self, ServiceStatus};
use crate::CatalogModels;
use detached::{spawn_detached, stop_process};

/// A found service must answer `/health` within this time.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
/// Default timeout of management requests. Loading a model is the slow one: seconds for
/// small models, a minute or more for large ones on a busy machine.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// What [`Manager::api_key`] returns when the service needs no key: OpenAI clients insist
/// on one, and the service ignores it.
const NO_KEY: &str = "ingot";

/// Builds a [`Manager`]; see [`Manager::builder`].
#[derive(Clone, Default)]
pub struct ManagerBuilder {
    home: Option<PathBuf>,
    start_service: bool,
    api_key: Option<String>,
    ingot_binary: Option<PathBuf>,
    service_args: Vec<String>,
    server_config: Option<ServerConfig>,
    request_timeout: Option<Duration>,
    engine: Option<Arc<dyn ingot_core::Engine>>,
}

impl std::fmt::Debug for ManagerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerBuilder")
            .field("home", &self.home)
            .field("start_service", &self.start_service)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("ingot_binary", &self.ingot_binary)
            .field("service_args", &self.service_args)
            .field("server_config", &self.server_config)
            .field("request_timeout", &self.request_timeout)
            .field(
                "engine",
                &self.engine.as_ref().map(|e| e.name().to_string()),
            )
            .finish()
    }
}

impl ManagerBuilder {
    /// The ingot home (catalog, cache, service status). Default: `$INGOT_HOME`, else
    /// `<user cache dir>/ingot`, as for the CLI.
    pub fn home(mut self, home: impl Into<PathBuf>) -> Self {
        self.home = Some(home.into());
        self
    }

    /// Start a service when none is running (default: `false`, and [`ManagerBuilder::build`]
    /// fails with [`Error::ServiceNotRunning`]). By default the service is embedded in this
    /// process; see [`ManagerBuilder::ingot_binary`] for a detached one.
    pub fn start_service(mut self, start: bool) -> Self {
        self.start_service = start;
        self
    }

    /// The service's API key: sent as `Authorization: Bearer` to a running service, and
    /// required by an embedded one. Default: `$INGOT_API_KEY`, else none.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Start a *detached* service with this `ingot` executable (`ingot --home H service
    /// start`) instead of embedding the server. The service then outlives the manager, writes
    /// the status file, and is shared with the CLI and other programs.
    pub fn ingot_binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.ingot_binary = Some(path.into());
        self
    }

    /// Extra arguments for `ingot service start` (`["--port", "0", "--threads", "2"]`);
    /// used with [`ManagerBuilder::ingot_binary`] only.
    pub fn service_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.service_args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Configuration of an embedded server. Default: `127.0.0.1`, a free port, and
    /// [`ServerConfig`]'s defaults otherwise. The builder's API key wins over the config's.
    pub fn server_config(mut self, config: ServerConfig) -> Self {
        self.server_config = Some(config);
        self
    }

    /// The engine of an embedded service. Default: llama.cpp (feature `llama`); without that
    /// feature an embedded service needs one.
    pub fn engine(mut self, engine: Arc<dyn ingot_core::Engine>) -> Self {
        self.engine = Some(engine);
        self
    }

    /// Timeout of each management request (load, unload, list). Default: 10 minutes.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Finds the running service of the home through its status file, or starts one when
    /// [`ManagerBuilder::start_service`] allows it.
    ///
    /// Blocking; from async code call it inside `tokio::task::spawn_blocking` (it works
    /// anywhere, but blocks the calling thread meanwhile).
    pub fn build(self) -> Result<Manager> {
        let home = match self.home.clone() {
            Some(h) => h,
            None => ingot_cache::default_home()?,
        };
        let api_key = self.api_key.clone().or_else(|| {
            std::env::var(ingot_catalog::env::INGOT_API_KEY)
                .ok()
                .filter(|k| !k.trim().is_empty())
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ingot-sdk")
            .enable_all()
            .build()
            .map_err(|e| Error::Start(format!("cannot create the SDK's async runtime: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(self.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT))
            .build()
            .map_err(|e| Error::Start(format!("cannot create the HTTP client: {e}")))?;
        let mut manager = Manager {
            home,
            runtime: Some(runtime),
            http,
            base_url: String::new(),
            api_key,
            service: Service::Detached(None),
        };

        if let Some(s) = service::live_status(&manager.home)? {
            manager.base_url = s.url.trim_end_matches('/').to_string();
            manager.service = Service::Detached(Some(s));
            manager.check_health()?;
            return Ok(manager);
        }
        if !self.start_service {
            return Err(Error::ServiceNotRunning {
                status: service::status_path(&manager.home),
                home: manager.home.clone(),
            });
        }
        match &self.ingot_binary {
            Some(bin) => {
                let status =
                    spawn_detached(bin, &manager.home, &self.service_args, &manager.api_key)?;
                manager.base_url = status.url.trim_end_matches('/').to_string();
                manager.service = Service::Detached(Some(status));
                manager.check_health()?;
            }
            None => {
                let mut config = self.server_config.clone().unwrap_or_else(|| ServerConfig {
                    port: 0,
                    ..ServerConfig::default()
                });
                if manager.api_key.is_some() {
                    config.api_key = manager.api_key.clone();
                }
                let engine = match self.engine.clone() {
                    Some(e) => e,
                    None => default_engine()?,
                };
                let provider = CatalogModels::open(&manager.home)?;
                let handle = manager.block(async move {
                    ingot_server::serve(config, engine, Arc::new(provider)).await
                })?;
                manager.base_url = handle.url();
                manager.service = Service::Embedded(Some(handle));
            }
        }
        Ok(manager)
    }
}

#[cfg(feature = "llama")]
fn default_engine() -> Result<Arc<dyn ingot_core::Engine>> {
    Ok(Arc::new(ingot_engine::LlamaEngine::new()))
}

#[cfg(not(feature = "llama"))]
fn default_engine() -> Result<Arc<dyn ingot_core::Engine>> {
    Err(Error::Start(
        "no engine for the embedded service: build the SDK with feature `llama`, or pass one with ManagerBuilder::engine".into(),
    ))
}

/// How the manager reaches its service.
enum Service {
    /// A detached service, found through its status file or started with the `ingot`
    /// binary (`None` once stopped).
    Detached(Option<ServiceStatus>),
    /// The server runs inside this process, on the manager's runtime.
    Embedded(Option<ServerHandle>),
}

/// A handle on the local ingot service: the catalog, the cache, and the models the service
/// has loaded, like Foundry Local's `FoundryLocalManager`.
///
/// ```no_run
/// # fn main() -> Result<(), ingot::Error> {
/// let manager = ingot::Manager::builder().start_service(true).build()?;
/// manager.ensure_model("smollm2-135m")?; // downloads if needed, then loads
/// // Point any OpenAI client at the service:
/// println!("base URL {} key {}", manager.endpoint(), manager.api_key());
/// # Ok(()) }
/// ```
///
/// # Finding or starting the service
///
/// [`ManagerBuilder::build`] first looks for a running service of the home through its
/// status file (`$INGOT_HOME/service/status.json`, written by `ingot service start`; see
/// [`crate::service`]) and checks that it answers. Otherwise, with `start_service(true)`, it
/// starts one:
///
/// - by default **embedded**: the HTTP server runs inside this process, on a runtime the
///   manager owns, serving the same catalog and cache (llama.cpp engine). This needs no
///   `ingot` executable and cannot be left behind as a stray process; it stops with the
///   manager (or [`Manager::stop_service`]). It binds `127.0.0.1` on a free port and is not
///   advertised in the status file, because it belongs to this process: `ingot service
///   stop` must not be able to kill your program.
/// - **detached** with [`ManagerBuilder::ingot_binary`]: runs `ingot service start`, which
///   outlives the manager and is shared with the CLI and other programs.
///
/// # Blocking
///
/// The methods block until the service answers. They may be called from async code too
/// (they then run on a helper thread), but they block that task's thread meanwhile: prefer
/// `tokio::task::spawn_blocking` there.
pub struct Manager {
    home: PathBuf,
    /// Runs the HTTP client and, when embedded, the server. `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    http: reqwest::Client,
    /// `http://host:port`, without `/v1`.
    base_url: String,
    api_key: Option<String>,
    service: Service,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("home", &self.home)
            .field("url", &self.base_url)
            .field(
                "service",
                &match self.service {
                    Service::Detached(_) => "detached",
                    Service::Embedded(_) => "embedded",
                },
            )
            .finish()
    }
}

impl Manager {
    /// A builder; `Manager::builder().start_service(true).build()?` connects to the running
    /// service or starts one.
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder::default()
    }

    /// The OpenAI base URL of the service, with `/v1` (`http://127.0.0.1:5273/v1`): give it
    /// to any OpenAI client.
    pub fn endpoint(&self) -> String {
        format!("{}/v1", self.base_url)
    }

    /// The API key for [`Manager::endpoint`]: the service's key, or the placeholder
    /// `"ingot"` when it requires none (OpenAI clients insist on some key; the service
    /// ignores it then).
    pub fn api_key(&self) -> &str {
        self.api_key.as_deref().unwrap_or(NO_KEY)
    }

    /// The ingot home this manager works on.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Whether the service runs inside this process (see [`Manager`]).
    pub fn is_embedded(&self) -> bool {
        matches!(self.service, Service::Embedded(_))
    }

    /// Every model of the catalog (built-in, user catalog, `INGOT_CATALOG`), re-read on each
    /// call so that models added meanwhile (`ingot model add`) show up.
    pub fn list_catalog(&self) -> Result<Vec<ModelEntry>> {
        Ok(crate::support::load_catalog(&self.home)?.entries().to_vec())
    }

    /// Adds a model to the user catalog, as `ingot model add` does: a GGUF file (read,
    /// hashed, optionally copied into the cache), a file to download later, or a remote
    /// adapter. On any error nothing is registered. See [`crate::models::add_model`].
    pub fn add_model(
        &self,
        model: &crate::models::NewModel,
        source: &crate::models::NewModelSource,
    ) -> Result<crate::models::Added> {
        let catalog = crate::support::load_catalog(&self.home)?;
        crate::models::add_model(
            &self.home,
            &catalog,
            model,
            source,
            &ingot_fetch::NoopReporter,
        )
    }

    /// Removes a model, as `ingot model rm` does: a user entry with its cached copy, or the
    /// download of a catalog model. See [`crate::models::remove_model`].
    pub fn remove_model(&self, alias: &str) -> Result<crate::models::Removed> {
        let catalog = crate::support::load_catalog(&self.home)?;
        crate::models::remove_model(&self.home, &catalog, alias)
    }

    /// The models in the cache (downloaded and verified).
    pub fn list_cached(&self) -> Result<Vec<CachedEntry>> {
        Ok(Store::open(&self.home)?.list()?)
    }

    /// The models the service has in memory (`GET /v1/ps`).
    pub fn list_loaded(&self) -> Result<Vec<LoadedModelStatus>> {
        let req = self.http.get(self.url("/v1/ps"));
        let ps: PsResponse = self.call(req, "list loaded models".into())?;
        Ok(ps.data)
    }

    /// Downloads `alias` into the cache, reporting progress to `progress` (any
    /// [`Reporter`]; `&ingot::fetch::NoopReporter` for none). Returns at once when it is
    /// already cached.
    pub fn download(&self, alias: &str, progress: &dyn Reporter) -> Result<CachedModel> {
        let entry = self.entry(alias)?;
        if let Some(remote) = entry.remote() {
            return Err(Error::RemoteModel {
                alias: alias.to_string(),
                endpoint: remote.endpoint.clone(),
                action: "download",
            });
        }
        let downloader = Downloader::new(Store::open(&self.home)?, DownloadOptions::from_env())?;
        Ok(self.block(downloader.download(&entry, progress))?)
    }

    /// Loads `alias` into the service's memory. `ttl`: unload after this long idle
    /// (`Some(Duration::ZERO)`: never); `None` keeps the service's default (10 minutes).
    pub fn load(&self, alias: &str, ttl: Option<Duration>) -> Result<LoadedModelStatus> {
        let body = match ttl {
            Some(t) => serde_json::json!({ "ttl": t.as_secs() }),
            None => serde_json::json!({}),
        };
        let req = self
            .http
            .post(self.url(&format!("/v1/models/{alias}/load")))
            .json(&body);
        self.call(req, format!("load '{alias}'"))
    }

    /// Unloads `alias`; returns whether it was loaded.
    pub fn unload(&self, alias: &str) -> Result<bool> {
        let req = self
            .http
            .post(self.url(&format!("/v1/models/{alias}/unload")));
        let v: serde_json::Value = self.call(req, format!("unload '{alias}'"))?;
        Ok(v["unloaded"].as_bool().unwrap_or(false))
    }

    /// Makes `alias` ready to answer: downloads it if it is not cached, then loads it.
    /// A remote adapter needs neither and is returned as is. Returns its catalog entry.
    pub fn ensure_model(&self, alias: &str) -> Result<ModelEntry> {
        let entry = self.entry(alias)?;
        if entry.remote().is_some() {
            return Ok(entry);
        }
        self.download(alias, &NoopReporter)?;
        self.load(alias, None)?;
        Ok(entry)
    }

    /// Stops the service: an embedded one is shut down (running requests finish first); a
    /// detached one, whether this manager started it or found it, gets SIGTERM (and SIGKILL
    /// if it has not stopped within 20 s), like `ingot service stop`.
    pub fn stop_service(mut self) -> Result<()> {
        match std::mem::replace(&mut self.service, Service::Detached(None)) {
            Service::Embedded(handle) => {
                if let Some(handle) = handle {
                    self.block(handle.shutdown());
                }
                Ok(())
            }
            Service::Detached(None) => Ok(()),
            Service::Detached(Some(status)) => {
                let pid = status.pid;
                stop_process(&status);
                // The service removes its status file itself; a killed one cannot.
                if let Ok(Some(s)) = ServiceStatus::read(&service::status_path(&self.home)) {
                    if s.pid == pid {
                        let _ = std::fs::remove_file(service::status_path(&self.home));
                    }
                }
                Ok(())
            }
        }
    }

    fn entry(&self, alias: &str) -> Result<ModelEntry> {
        let (catalog, _) = Catalog::load_with_env(&self.home)?;
        Ok(catalog.get(alias)?.clone())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    fn check_health(&self) -> Result<()> {
        let req = self.http.get(self.url("/health")).timeout(HEALTH_TIMEOUT);
        let url = self.base_url.clone();
        self.block(async move {
            match req.send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(Error::Unreachable {
                    url,
                    message: format!("/health answered HTTP {}", r.status()),
                }),
                Err(e) => Err(Error::Unreachable {
                    url,
                    message: e.to_string(),
                }),
            }
        })
    }

    /// Sends a management request and decodes the answer, turning OpenAI error bodies into
    /// [`Error::Api`].
    fn call<T: serde::de::DeserializeOwned + Send>(
        &self,
        req: reqwest::RequestBuilder,
        what: String,
    ) -> Result<T> {
        let req = match &self.api_key {
            Some(k) => req.bearer_auth(k),
            None => req,
        };
        let url = self.base_url.clone();
        self.block(async move {
            let resp = req.send().await.map_err(|e| Error::Unreachable {
                url: url.clone(),
                message: e.to_string(),
            })?;
            let status = resp.status();
            let bytes = resp.bytes().await.map_err(|e| Error::Unreachable {
                url: url.clone(),
                message: e.to_string(),
            })?;
            if !status.is_success() {
                let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                return Err(Error::Api {
                    what,
                    status: status.as_u16(),
                    message: v["error"]["message"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()),
                    code: v["error"]["code"].as_str().map(str::to_string),
                });
            }
            serde_json::from_slice(&bytes).map_err(|e| Error::Api {
                what,
                status: status.as_u16(),
                message: format!("unexpected answer from the service: {e}"),
                code: None,
            })
        })
    }

    /// Runs `fut` to completion on the manager's runtime, from sync or async callers.
    fn block<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        let handle = self
            .runtime
            .as_ref()
            .expect("the runtime lives as long as the manager")
            .handle()
            .clone();
        if tokio::runtime::Handle::try_current().is_err() {
            return handle.block_on(fut);
        }
        // Handle::block_on refuses to run inside an async context: use a helper thread.
        std::thread::scope(|s| match s.spawn(move || handle.block_on(fut)).join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        let embedded = match &mut self.service {
            Service::Embedded(handle) => handle.take(),
            _ => None,
        };
        if let Some(handle) = embedded {
            // Graceful: running requests finish and the models are freed.
            self.block(handle.shutdown());
        }
        if let Some(rt) = self.runtime.take() {
            // Never blocks, and does not panic when dropped inside an async context.
            rt.shutdown_background();
        }
    }
}
