//! `ingot serve`, `ingot service start|stop|status`, `ingot model load|unload|ps`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::cli::{ClientArgs, ServeArgs};
use crate::output::{human_bytes, print_json, table};
use crate::Context;

const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:5273";
/// How long `service start` waits for the server to listen (loading nothing: it is quick).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `service stop` waits after SIGTERM (Windows: the shutdown request) before it
/// kills the process.
const STOP_GRACE: Duration = Duration::from_secs(20);

// The status file (its type, reading, writing, liveness) is shared with the SDK, which finds
// the service through it too.
use ingot::service::ServiceStatus;

fn service_dir(ctx: &Context) -> PathBuf {
    ingot::service::service_dir(&ctx.home)
}

fn status_path(ctx: &Context) -> PathBuf {
    ingot::service::status_path(&ctx.home)
}

pub(crate) fn log_path(ctx: &Context) -> PathBuf {
    ingot::service::log_path(&ctx.home)
}

pub(crate) fn read_status(ctx: &Context) -> Result<Option<ServiceStatus>> {
    Ok(ServiceStatus::read(&status_path(ctx))?)
}

/// Written by the server itself once it listens, so the URL is the real one even with port 0.
fn write_status(path: &Path, status: &ServiceStatus) -> Result<()> {
    Ok(status.write(path)?)
}

/// The status of a service that is actually running; a stale file is removed.
pub(crate) fn live_status(ctx: &Context) -> Result<Option<ServiceStatus>> {
    Ok(ingot::service::live_status(&ctx.home)?)
}

fn server_config(args: &ServeArgs) -> ingot_server::ServerConfig {
    ingot_server::ServerConfig {
        host: args.host.clone(),
        port: args.port,
        api_key: args.api_key.clone().filter(|k| !k.is_empty()),
        parallel: args.parallel,
        max_queue: args.max_queue,
        max_loaded_models: args.max_loaded_models,
        default_ttl: Duration::from_secs(args.ttl),
        prefix_cache: !args.no_prefix_cache,
        prompt_cache_bytes: args.cache_ram,
        speculative: args.speculative,
        draft: args.draft.clone(),
        body_limit: args.body_limit,
        threads: args.threads,
        context_length: args.ctx_size,
        gpu_layers: args.gpu_layers,
        max_tokens_cap: args.max_tokens_cap,
        max_memory: args.max_memory,
        cors_origins: args.cors_origins.clone(),
        max_connections: args.max_connections,
        shutdown_token: args.shutdown_token.clone(),
        ..ingot_server::ServerConfig::default()
    }
}

pub(crate) fn serve(ctx: &Context, args: ServeArgs) -> Result<()> {
    let args = if args.options_from_env {
        let var = ingot_catalog::env::INGOT_SERVE_OPTIONS;
        let json =
            std::env::var(var).with_context(|| format!("--options-from-env: ${var} is not set"))?;
        serde_json::from_str(&json)
            .with_context(|| format!("--options-from-env: ${var} is not valid"))?
    } else {
        args
    };
    let config = server_config(&args);
    raise_fd_limit(config.max_connections);
    ingot_server::bound_malloc_arenas();
    let engine = Arc::new(ingot_engine::LlamaEngine::new());
    let provider = Arc::new(
        ingot::CatalogModels::with_catalog(&ctx.home, ctx.catalog()?.clone())?
            .with_quantizer(engine.clone()),
    );
    // Few runtime workers: they would otherwise compete with the inference threads.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(ingot_engine::server_io_threads(args.threads))
        .enable_all()
        .build()?;
    rt.block_on(async move {
        // Handlers first: a SIGTERM sent as soon as the URL is printed (or the status file
        // appears) must shut down gracefully, not kill the process by the default action.
        let signals = shutdown_signal()?;
        let handle = ingot_server::serve(config, engine, provider).await?;
        let url = handle.url();
        println!("ingot serving on {url}/v1 (pid {})", std::process::id());
        let status = ServiceStatus {
            shutdown_token: args.shutdown_token.clone(),
            ..ServiceStatus::for_this_process(url.clone())
        };
        if let Some(path) = &args.status_file {
            write_status(path, &status)?;
        }
        // A signal, or `service stop` through the shutdown route (Windows has no SIGTERM).
        let requested = handle.stop_requested();
        let cause = tokio::select! {
            _ = signals => "a signal",
            _ = requested => "`ingot service stop`",
        };
        eprintln!("shutting down ({cause}): finishing running requests");
        handle.shutdown().await;
        if let Some(path) = &args.status_file {
            // Only our own: another server may have taken the file over meanwhile.
            if let Err(e) = ingot::service::remove_status_of(path, &status) {
                eprintln!("warning: {e}");
            }
        }
        Ok::<_, anyhow::Error>(())
    })
}

/// Raises the soft open-file limit so that `--max-connections` fit (a descriptor each, plus
/// some for the listener, models and logs): the usual default of 1024 would otherwise run
/// out first. Only warns when the hard limit is lower.
#[cfg(unix)]
fn raise_fd_limit(max_connections: usize) {
    let want = max_connections as u64 + 256;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 || lim.rlim_cur as u64 >= want {
            return;
        }
        let new = want.min(lim.rlim_max as u64);
        lim.rlim_cur = new as libc::rlim_t;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 || new < want {
            tracing::warn!(
                limit = new,
                wanted = want,
                "the open-file limit is below --max-connections; idle connections will be closed early"
            );
        }
    }
}

/// Windows sockets are handles, limited only by memory: nothing to raise.
#[cfg(not(unix))]
fn raise_fd_limit(_max_connections: usize) {}

/// Installs the SIGTERM and SIGINT handlers now; the future resolves on the first of them.
#[cfg(unix)]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

/// Installs the console handlers now: Ctrl+C, Ctrl+Break and closing the console window.
/// A detached service has no console; a handler that cannot be installed is only logged
/// (that service is stopped through its shutdown route).
#[cfg(windows)]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close};
    fn watch<T>(what: &str, r: std::io::Result<T>) -> Option<T> {
        r.map_err(|e| tracing::debug!("cannot watch {what}: {e}"))
            .ok()
    }
    // The three watchers are different types with the same `recv`.
    macro_rules! next {
        ($watcher:expr) => {
            async move {
                match $watcher {
                    Some(mut w) => {
                        w.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
        };
    }
    let c = watch("Ctrl+C", ctrl_c());
    let b = watch("Ctrl+Break", ctrl_break());
    let x = watch("the console closing", ctrl_close());
    Ok(async move {
        tokio::select! {
            _ = next!(c) => {}
            _ = next!(b) => {}
            _ = next!(x) => {}
        }
    })
}

pub(crate) fn start(ctx: &Context, args: ServeArgs) -> Result<()> {
    // Held until the new service has written its status file (or failed): a concurrent
    // start waits here, then finds this one running.
    let _start_lock = ingot::service::StartLock::acquire(&ctx.home)?;
    if let Some(s) = live_status(ctx)? {
        bail!(
            "the service is already running at {}/v1 (pid {}); stop it with `ingot service stop`",
            s.url,
            s.pid
        );
    }
    let s = start_detached(ctx, &args)?;
    println!("ingot service started at {}/v1 (pid {})", s.url, s.pid);
    println!("logs: {}", log_path(ctx).display());
    Ok(())
}

/// Starts `ingot serve` in the background and waits until it listens.
pub(crate) fn start_detached(ctx: &Context, args: &ServeArgs) -> Result<ServiceStatus> {
    // Status queries made while this runs wait for it (see `live_status_after_start`).
    let _marker = ingot::service::StartingMarker::create(&ctx.home)?;
    let dir = service_dir(ctx);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let status = status_path(ctx);
    let _ = std::fs::remove_file(&status);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(ctx))
        .with_context(|| format!("cannot open {}", log_path(ctx).display()))?;
    let exe = std::env::current_exe().context("cannot find the ingot executable")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--home")
        .arg(&ctx.home)
        .args(["serve", "--options-from-env"]);
    // Every option at once, as the parsed type: nothing is rebuilt flag by flag. Through the
    // environment, like the key it may hold (argv is readable by any local user in ps).
    let options = ServeArgs {
        status_file: Some(status.clone()),
        options_from_env: false,
        shutdown_token: Some(shutdown_token()),
        ..args.clone()
    };
    cmd.env(
        ingot_catalog::env::INGOT_SERVE_OPTIONS,
        serde_json::to_string(&options).context("cannot pass the serve options")?,
    );
    cmd.stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    detach(&mut cmd);
    let mut child = cmd.spawn().context("cannot start the service")?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(code) = child.try_wait()? {
            bail!(
                "the service exited during start-up ({code}); its log {}:\n{}",
                log_path(ctx).display(),
                tail(&log_path(ctx), 20)
            );
        }
        if let Some(s) = read_status(ctx)? {
            if s.pid == child.id() {
                return Ok(s);
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!(
                "the service did not start within {START_TIMEOUT:?}; see {}",
                log_path(ctx).display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A fresh secret for the service's shutdown route: 32 alphanumerics from the thread's
/// cryptographically secure generator (about 190 bits).
fn shutdown_token() -> String {
    use rand::Rng as _;
    rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// Its own process group: Ctrl+C in this terminal must not stop the service.
#[cfg(unix)]
fn detach(cmd: &mut std::process::Command) {
    std::os::unix::process::CommandExt::process_group(cmd, 0);
}

/// A process of its own, without a console (closing this window must not end it) and in a
/// new process group (Ctrl+C here does not reach it). Windows child processes inherit every
/// inheritable handle: this process's own stdout and stderr are made non-inheritable first,
/// or a caller reading them through pipes (the SDK) would wait for the service to exit.
#[cfg(windows)]
fn detach(cmd: &mut std::process::Command) {
    use std::os::windows::process::CommandExt as _;
    use windows_sys::Win32::Foundation::{SetHandleInformation, HANDLE_FLAG_INHERIT};
    use windows_sys::Win32::System::Console::{GetStdHandle, STD_ERROR_HANDLE, STD_OUTPUT_HANDLE};
    use windows_sys::Win32::System::Threading::{CREATE_NEW_PROCESS_GROUP, DETACHED_PROCESS};
    for which in [STD_OUTPUT_HANDLE, STD_ERROR_HANDLE] {
        // SAFETY: GetStdHandle has no preconditions; SetHandleInformation only changes the
        // inheritance flag of a valid handle (it fails harmlessly on a null or invalid one).
        unsafe {
            let h = GetStdHandle(which);
            if !h.is_null() {
                SetHandleInformation(h, HANDLE_FLAG_INHERIT, 0);
            }
        }
    }
    cmd.creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP);
}

#[cfg(not(any(unix, windows)))]
fn detach(_cmd: &mut std::process::Command) {}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub(crate) fn stop(ctx: &Context) -> Result<()> {
    let Some(s) = live_status(ctx)? else {
        println!("the service is not running");
        return Ok(());
    };
    let how = ingot::service::stop(&s, STOP_GRACE)
        .with_context(|| format!("cannot stop the service (pid {})", s.pid))?;
    if how == ingot::service::Stopped::Killed {
        eprintln!("the service did not stop within {STOP_GRACE:?}; it was killed");
    }
    // A killed service leaves its file behind; one started since then keeps its own.
    let _ = ingot::service::remove_status_of(&status_path(ctx), &s);
    println!("ingot service stopped (pid {})", s.pid);
    Ok(())
}

/// Where the client commands send requests.
fn endpoint(ctx: &Context, client: &ClientArgs) -> Result<String> {
    if let Some(e) = &client.endpoint {
        return Ok(e.trim_end_matches('/').trim_end_matches("/v1").to_string());
    }
    Ok(live_status(ctx)?
        .map(|s| s.url)
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()))
}

fn http() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?)
}

/// Sends a request and turns OpenAI error bodies into readable errors.
async fn call(req: reqwest::RequestBuilder, what: &str, base: &str) -> Result<serde_json::Value> {
    let resp = req.send().await.with_context(|| {
        format!("cannot reach the ingot service at {base} to {what}; start it with `ingot service start`")
    })?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        let msg = body["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| body.to_string());
        bail!("cannot {what}: {msg} (HTTP {status})");
    }
    Ok(body)
}

fn with_key(req: reqwest::RequestBuilder, client: &ClientArgs) -> reqwest::RequestBuilder {
    match &client.api_key {
        Some(k) if !k.is_empty() => req.bearer_auth(k),
        _ => req,
    }
}

pub(crate) fn load(
    ctx: &Context,
    alias: &str,
    ttl: Option<u64>,
    client: &ClientArgs,
) -> Result<()> {
    ingot_catalog::validate_alias(alias)?;
    let base = endpoint(ctx, client)?;
    let body = match ttl {
        Some(t) => serde_json::json!({ "ttl": t }),
        None => serde_json::json!({}),
    };
    let rt = super::runtime()?;
    let v = rt.block_on(call(
        with_key(
            http()?
                .post(format!("{base}/v1/models/{alias}/load"))
                .json(&body),
            client,
        ),
        &format!("load '{alias}'"),
        &base,
    ))?;
    let ttl = v["ttl"]
        .as_u64()
        .map(|t| format!(", unloads after {t} s idle"))
        .unwrap_or_default();
    println!("loaded {alias}{ttl}");
    Ok(())
}

pub(crate) fn unload(ctx: &Context, alias: &str, client: &ClientArgs) -> Result<()> {
    ingot_catalog::validate_alias(alias)?;
    let base = endpoint(ctx, client)?;
    let rt = super::runtime()?;
    rt.block_on(call(
        with_key(
            http()?.post(format!("{base}/v1/models/{alias}/unload")),
            client,
        ),
        &format!("unload '{alias}'"),
        &base,
    ))?;
    println!("unloaded {alias}");
    Ok(())
}

fn fetch_ps(base: &str, client: &ClientArgs) -> Result<serde_json::Value> {
    let rt = super::runtime()?;
    rt.block_on(call(
        with_key(http()?.get(format!("{base}/v1/ps")), client),
        "list loaded models",
        base,
    ))
}

fn print_ps(v: &serde_json::Value) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let models = v["data"].as_array().cloned().unwrap_or_default();
    if models.is_empty() {
        println!("no models loaded");
        return;
    }
    let mut t = table(&[
        "model",
        "size",
        "context",
        "slots",
        "active",
        "queued",
        "unloads in",
    ]);
    for m in models {
        let expires = match m["expires_at"].as_i64() {
            Some(e) => format!("{} s", (e - now).max(0)),
            None => "never".into(),
        };
        t.add_row(vec![
            m["id"].as_str().unwrap_or("?").to_string(),
            human_bytes(m["size"].as_u64().unwrap_or(0)),
            m["context_length"].to_string(),
            m["n_parallel"].to_string(),
            m["active_requests"].to_string(),
            m["queued_requests"].to_string(),
            expires,
        ]);
    }
    println!("{t}");
}

pub(crate) fn ps(ctx: &Context, json: bool, client: &ClientArgs) -> Result<()> {
    let base = endpoint(ctx, client)?;
    let v = fetch_ps(&base, client)?;
    if json {
        return print_json(&v["data"]);
    }
    print_ps(&v);
    Ok(())
}

pub(crate) fn status(ctx: &Context, json: bool) -> Result<()> {
    let Some(s) = live_status(ctx)? else {
        if json {
            return print_json(&serde_json::json!({ "running": false }));
        }
        println!("the service is not running (start it with `ingot service start`)");
        return Ok(());
    };
    let uptime = (time::OffsetDateTime::now_utc() - s.started)
        .whole_seconds()
        .max(0);
    let client = ClientArgs {
        endpoint: Some(s.url.clone()),
        api_key: std::env::var(ingot_catalog::env::INGOT_API_KEY).ok(),
    };
    let ps = fetch_ps(&s.url, &client);
    if json {
        return print_json(&serde_json::json!({
            "running": true,
            "url": format!("{}/v1", s.url),
            "pid": s.pid,
            "started": s.started.format(&time::format_description::well_known::Rfc3339)?,
            "uptime_s": uptime,
            "loaded": ps.as_ref().ok().map(|v| v["data"].clone()),
        }));
    }
    println!("ingot service running at {}/v1", s.url);
    println!("pid:     {}", s.pid);
    println!("uptime:  {}", humantime_secs(uptime));
    println!("logs:    {}", log_path(ctx).display());
    match ps {
        Ok(v) => print_ps(&v),
        Err(e) => println!("loaded models: unavailable ({e:#})"),
    }
    Ok(())
}

fn humantime_secs(s: i64) -> String {
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}h {m}m {sec}s")
    } else if m > 0 {
        format!("{m}m {sec}s")
    } else {
        format!("{sec}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn serve_config(argv: &[&str]) -> Result<ingot_server::ServerConfig, clap::Error> {
        let cli = crate::cli::Cli::try_parse_from(["ingot", "serve"].iter().chain(argv).copied())?;
        match cli.command {
            crate::cli::Command::Serve(args) => Ok(server_config(&args)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn speculative_flag_reaches_the_server_config() {
        use ingot_engine::Speculative;
        // Not set in the environment of this test: the default is prompt lookup.
        if std::env::var_os(ingot_catalog::env::INGOT_SPECULATIVE).is_none() {
            assert_eq!(serve_config(&[]).unwrap().speculative, Speculative::Ngram);
        }
        let off = serve_config(&["--speculative", "off"]).unwrap();
        assert_eq!(off.speculative, Speculative::Off);
        let err = serve_config(&["--speculative", "eagle"]).unwrap_err();
        assert!(err.to_string().contains("off or ngram"), "{err}");
    }
}
