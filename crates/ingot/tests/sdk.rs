//! The SDK's `Manager` (issue 7): finding the service through its status file, starting one
//! (embedded, or detached through an `ingot` executable), the catalog/cache/loaded listings,
//! downloads with progress, load/unload, remote entries, and a round trip with the real
//! SmolLM2-135M through `async-openai`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ingot::engine::mock::{MockConfig, MockEngine};
use ingot::fetch::Reporter;
use ingot::server::{ServerConfig, ServerHandle};
use ingot::service::{self, ServiceStatus};
use ingot::{CatalogModels, Error, Manager};
use sha2::{Digest, Sha256};

#[cfg(feature = "llama")]
use ingot_testkit as model_file;

#[cfg(feature = "llama")]
#[allow(dead_code)]
#[path = "../examples/sdk_chat.rs"]
mod sdk_chat;

/// Records every progress call.
#[derive(Default)]
struct Recorder(Mutex<Vec<(u64, Option<u64>)>>);

impl Reporter for Recorder {
    fn progress(&self, bytes_done: u64, total: Option<u64>, _rate: f64, _eta: Option<Duration>) {
        self.0.lock().unwrap().push((bytes_done, total));
    }
}

/// A home whose user catalog has `tiny-file` (a small file source: downloads in
/// milliseconds, and the mock engine "loads" anything) and `far` (a remote adapter).
fn home_with_catalog() -> (tempfile::TempDir, PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("tiny.gguf");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    let sha = hex(&Sha256::digest(&bytes));
    let catalog = format!(
        r#"
[[models]]
alias = "tiny-file"
name = "Tiny test file"
family = "test"
architecture = "llama"
quantization = "F16"
size = {size}
sha256 = "{sha}"
license = "MIT"
context_length = 2048
capabilities = ["chat", "completion"]
chat_template = true

[[models.sources]]
kind = "file"
path = "{path}"

[[models]]
alias = "far"
name = "A remote model"
family = "test"
architecture = "llama"
quantization = "unknown"
license = "MIT"
context_length = 2048
capabilities = ["chat"]
chat_template = true

[models.remote]
endpoint = "http://127.0.0.1:9/v1"
model = "upstream-name"
"#,
        size = bytes.len(),
        path = file.display()
    );
    std::fs::write(home.path().join("catalog.toml"), catalog).unwrap();
    (home, file)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A server over the home's catalog with the mock engine, as `ingot serve` would run it.
async fn mock_service(home: &Path) -> ServerHandle {
    let config = ServerConfig {
        port: 0,
        ..ServerConfig::default()
    };
    ingot::server::serve(
        config,
        Arc::new(MockEngine::new(MockConfig::default())),
        Arc::new(CatalogModels::open(home).unwrap()),
    )
    .await
    .unwrap()
}

#[test]
fn issue7_manager_finds_the_service_through_its_status_file() {
    let (home, _) = home_with_catalog();
    // Nothing runs, and the manager may not start anything: a clear error.
    let err = Manager::builder().home(home.path()).build().unwrap_err();
    assert!(matches!(err, Error::ServiceNotRunning { .. }), "{err}");
    assert!(err.to_string().contains("ingot service start"), "{err}");

    // A stale status file (its process is gone) is the same as none, and is cleaned up.
    let mut stale = ServiceStatus::for_this_process("http://127.0.0.1:9");
    stale.pid = i32::MAX as u32;
    stale.write(&service::status_path(home.path())).unwrap();
    let err = Manager::builder().home(home.path()).build().unwrap_err();
    assert!(matches!(err, Error::ServiceNotRunning { .. }), "{err}");
    assert!(!service::status_path(home.path()).exists());

    // A running service, advertised like `ingot service start` does.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(mock_service(home.path()));
    ServiceStatus::for_this_process(server.url())
        .write(&service::status_path(home.path()))
        .unwrap();
    let m = Manager::builder().home(home.path()).build().unwrap();
    assert!(!m.is_embedded());
    assert_eq!(m.endpoint(), format!("{}/v1", server.url()));
    assert_eq!(
        m.api_key(),
        "ingot",
        "placeholder when the service needs no key"
    );

    // Catalog and cache.
    let catalog = m.list_catalog().unwrap();
    for alias in ["smollm2-135m", "tiny-file", "far"] {
        assert!(
            catalog.iter().any(|e| e.alias == alias),
            "{alias} not listed"
        );
    }
    assert!(m.list_cached().unwrap().is_empty());

    // Download with progress, through the ingot-fetch Reporter.
    let rec = Recorder::default();
    let cached = m.download("tiny-file", &rec).unwrap();
    assert!(!cached.already_cached);
    assert_eq!(cached.size, 300_000);
    let calls = rec.0.lock().unwrap().clone();
    assert!(
        calls
            .iter()
            .any(|&(done, total)| done == 300_000 && total == Some(300_000)),
        "no final progress call: {calls:?}"
    );
    let cached_list = m.list_cached().unwrap();
    assert_eq!(cached_list.len(), 1);
    assert_eq!(cached_list[0].alias(), "tiny-file");
    assert!(m.download("tiny-file", &rec).unwrap().already_cached);

    // Load with a TTL, list, unload.
    assert!(m.list_loaded().unwrap().is_empty());
    let st = m.load("tiny-file", Some(Duration::from_secs(77))).unwrap();
    assert_eq!(st.id, "tiny-file");
    assert_eq!(st.ttl, 77);
    let loaded = m.list_loaded().unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, "tiny-file");
    assert!(m.unload("tiny-file").unwrap());
    assert!(!m.unload("tiny-file").unwrap());
    assert!(m.list_loaded().unwrap().is_empty());

    // ensure_model = download (cached already) + load.
    m.ensure_model("tiny-file").unwrap();
    assert_eq!(m.list_loaded().unwrap()[0].id, "tiny-file");

    // Errors: unknown aliases, and remote entries, which have nothing to download or load.
    let err = m.load("no-such-model", None).unwrap_err();
    match &err {
        Error::Api { status, code, .. } => {
            assert_eq!(*status, 404);
            assert_eq!(code.as_deref(), Some("model_not_found"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        m.download("no-such-model", &rec),
        Err(Error::Catalog(_))
    ));
    let err = m.download("far", &rec).unwrap_err();
    assert!(matches!(err, Error::RemoteModel { .. }), "{err}");
    assert!(err.to_string().contains("http://127.0.0.1:9/v1"), "{err}");
    assert_eq!(m.ensure_model("far").unwrap().alias, "far");

    // Dropping the manager of a service it found leaves that service running.
    drop(m);
    let health = rt.block_on(async {
        reqwest::get(format!("{}/health", server.url()))
            .await
            .map(|r| r.status().as_u16())
    });
    assert_eq!(health.unwrap(), 200);
    rt.block_on(server.shutdown());
}

#[test]
fn issue7_manager_needs_the_key_of_a_protected_service() {
    let (home, _) = home_with_catalog();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(async {
        ingot::server::serve(
            ServerConfig {
                port: 0,
                api_key: Some("sekret".into()),
                ..ServerConfig::default()
            },
            Arc::new(MockEngine::new(MockConfig::default())),
            Arc::new(CatalogModels::open(home.path()).unwrap()),
        )
        .await
        .unwrap()
    });
    ServiceStatus::for_this_process(server.url())
        .write(&service::status_path(home.path()))
        .unwrap();
    let m = Manager::builder()
        .home(home.path())
        .api_key("wrong")
        .build()
        .unwrap();
    match m.list_loaded().unwrap_err() {
        Error::Api { status, code, .. } => {
            assert_eq!(status, 401);
            assert_eq!(code.as_deref(), Some("invalid_api_key"));
        }
        other => panic!("unexpected {other:?}"),
    }
    let m = Manager::builder()
        .home(home.path())
        .api_key("sekret")
        .build()
        .unwrap();
    assert_eq!(m.api_key(), "sekret");
    assert!(m.list_loaded().unwrap().is_empty());
    drop(m);
    rt.block_on(server.shutdown());
}

/// `ingot_binary`: the manager runs `BIN --home H service start ARGS` and reads the status
/// file it leaves. A stand-in script plays the `ingot` executable: it starts a background
/// process and advertises it with the URL of a server of this test.
#[test]
fn issue7_manager_starts_a_detached_service_with_the_ingot_binary() {
    let (home, _) = home_with_catalog();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(mock_service(home.path()));
    let script = home.path().join("fake-ingot");
    let args_file = home.path().join("args");
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
echo "$@" > "{args}"
[ "$1" = --home ] && [ "$3" = service ] && [ "$4" = start ] || exit 2
sleep 300 </dev/null >/dev/null 2>&1 &
mkdir -p "$2/service"
printf '{{"pid": %d, "url": "{url}", "started": "2026-01-01T00:00:00Z", "version": "0.0.0"}}' $! > "$2/service/status.json"
echo "ingot service started"
"#,
            args = args_file.display(),
            url = server.url()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    let m = Manager::builder()
        .home(home.path())
        .start_service(true)
        .ingot_binary(&script)
        .service_args(["--port", "0"])
        .build()
        .unwrap();
    assert!(!m.is_embedded());
    assert_eq!(m.endpoint(), format!("{}/v1", server.url()));
    let args = std::fs::read_to_string(&args_file).unwrap();
    assert_eq!(
        args.trim(),
        format!("--home {} service start --port 0", home.path().display())
    );
    let status = service::live_status(home.path())
        .unwrap()
        .expect("advertised");
    assert!(service::pid_alive(status.pid));
    // Stopping a detached service signals its process and clears the status file.
    m.stop_service().unwrap();
    assert!(
        !service::pid_alive(status.pid),
        "the service process still runs"
    );
    assert!(!service::status_path(home.path()).exists());

    // A binary that fails: its output is in the error.
    let err = Manager::builder()
        .home(home.path())
        .start_service(true)
        .ingot_binary("/bin/false")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Start(_)), "{err}");
    rt.block_on(server.shutdown());
}

/// Puts the test model into the home's cache as `smollm2-135m`, as a download would (a hard
/// link when the file systems allow it: no 98 MB copy).
#[cfg(feature = "llama")]
fn seed_cache(home: &Path) {
    use ingot::cache::{PartialKey, Store};
    let model = model_file::model_path();
    let store = Store::open(home).unwrap();
    let lock = store
        .lock(&PartialKey::for_sha256(model_file::MODEL_SHA256).unwrap())
        .unwrap();
    let partial = lock.partial_path().to_path_buf();
    if std::fs::hard_link(&model, &partial).is_err() {
        std::fs::copy(&model, &partial).unwrap();
    }
    let size = std::fs::metadata(&partial).unwrap().len();
    store
        .commit(
            &lock,
            "smollm2-135m",
            model_file::MODEL_SHA256,
            size,
            "test seed",
        )
        .unwrap();
}

/// The issue's round trip: start the service, ensure the model, chat through the endpoint
/// with an ordinary OpenAI client, stop. The embedded service runs llama.cpp: feature `llama`
/// (on in workspace builds, where the CLI enables it).
#[cfg(feature = "llama")]
#[test]
fn issue7_sdk_round_trip_with_smollm2() {
    let home = tempfile::tempdir().unwrap();
    seed_cache(home.path());
    let m = Manager::builder()
        .home(home.path())
        .start_service(true)
        .server_config(ServerConfig {
            port: 0,
            // Two threads, one slot and a small context: robust on a busy 2-core machine.
            threads: Some(2),
            parallel: 1,
            context_length: Some(2048),
            ..ServerConfig::default()
        })
        .request_timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    assert!(m.is_embedded());
    // An embedded service belongs to this process: it is not advertised.
    assert!(!service::status_path(home.path()).exists());
    assert!(m
        .list_cached()
        .unwrap()
        .iter()
        .any(|c| c.alias() == "smollm2-135m"));
    assert!(m.list_loaded().unwrap().is_empty());

    let entry = m.ensure_model("smollm2-135m").unwrap();
    assert_eq!(entry.alias, "smollm2-135m");
    let loaded = m.list_loaded().unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, "smollm2-135m");

    let endpoint = m.endpoint();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (answer, streamed) = rt.block_on(async {
        let client = sdk_chat::client(&endpoint, m.api_key());
        let q = "What is the capital of France?";
        let answer = tokio::time::timeout(
            Duration::from_secs(240),
            sdk_chat::ask(&client, sdk_chat::request("smollm2-135m", q, 24).unwrap()),
        )
        .await
        .expect("answer within 4 minutes")
        .unwrap();
        let streamed = tokio::time::timeout(
            Duration::from_secs(240),
            sdk_chat::ask_streaming(&client, sdk_chat::request("smollm2-135m", q, 24).unwrap()),
        )
        .await
        .expect("stream within 4 minutes")
        .unwrap();
        (answer, streamed)
    });
    assert!(answer.contains("Paris"), "{answer}");
    // Greedy, one slot: the stream is the same text.
    assert_eq!(streamed, answer);

    assert!(m.unload("smollm2-135m").unwrap());
    m.stop_service().unwrap();
    // Stopped: nothing listens there any more.
    let after = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{endpoint}/models"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
    });
    assert!(after.is_err(), "the service still answers after stop");
}
