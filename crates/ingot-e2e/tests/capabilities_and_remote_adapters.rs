//! Issue 7 on the server side: engine capabilities (unsupported requests get a clear 400)
//! and remote adapters (requests proxied to an upstream OpenAI-compatible server, streams
//! chunk by chunk, upstream errors mapped through `ApiError`), against fakes and against a
//! second server running the real SmolLM2-135M.

mod common;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::real::{model_path, OneModel};
use common::{
    chat_body, eventually, sse_data, start_with, test_config, Script, Stats, TestEngine,
    TestProvider, TestServer,
};
use futures_util::StreamExt;
use ingot_core::mock::{MockConfig, MockEngine};
use ingot_core::{
    Capabilities, Engine, EngineError, EventStream, GenerateRequest, LoadOptions, LoadedModel,
    ModelInfo,
};
use ingot_server::{
    ModelDescriptor, ModelProvider, ProviderError, RemoteModel, ResolvedModel, ServerConfig,
};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// Capabilities
// ---------------------------------------------------------------------------------------

/// The mock engine, with the capabilities an adapter would declare.
struct Limited {
    inner: MockEngine,
    caps: Capabilities,
}

struct LimitedModel {
    inner: Arc<dyn LoadedModel>,
    caps: Capabilities,
}

impl Engine for Limited {
    fn name(&self) -> &str {
        "limited-mock"
    }
    fn load(&self, path: &Path, opts: &LoadOptions) -> Result<Arc<dyn LoadedModel>, EngineError> {
        Ok(Arc::new(LimitedModel {
            inner: self.inner.load(path, opts)?,
            caps: self.caps,
        }))
    }
}

impl LoadedModel for LimitedModel {
    fn info(&self) -> &ModelInfo {
        self.inner.info()
    }
    fn generate(&self, req: GenerateRequest) -> Result<EventStream, EngineError> {
        self.inner.generate(req)
    }
    fn count_tokens(&self, text: &str) -> Result<u32, EngineError> {
        self.inner.count_tokens(text)
    }
    fn load_state(&self) -> (usize, usize) {
        self.inner.load_state()
    }
    fn capabilities(&self) -> Capabilities {
        self.caps
    }
}

async fn serve_with(
    config: ServerConfig,
    engine: Arc<dyn Engine>,
    provider: Arc<dyn ModelProvider>,
) -> TestServer {
    let handle = ingot_server::serve(config, engine, provider)
        .await
        .expect("server starts");
    let base = handle.url();
    TestServer {
        handle,
        stats: Arc::new(Stats::default()),
        client: reqwest::Client::new(),
        base,
    }
}

async fn limited(caps: Capabilities) -> TestServer {
    serve_with(
        test_config(),
        Arc::new(Limited {
            inner: MockEngine::new(MockConfig::default()),
            caps,
        }),
        Arc::new(TestProvider),
    )
    .await
}

async fn error_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn issue7_chat_to_a_completion_only_model_is_a_clear_400() {
    let s = limited(Capabilities {
        chat: false,
        completion: true,
        grammar: true,
        embedding: false,
    })
    .await;
    let (status, v) = error_of(
        s.post_json("/v1/chat/completions", chat_body("tiny-base"))
            .await,
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "unsupported_capability");
    assert_eq!(v["error"]["param"], "model");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("does not support chat") && msg.contains("/v1/completions"),
        "{msg}"
    );
    // Streaming requests are rejected the same way, before any SSE is sent.
    let mut body = chat_body("tiny-base");
    body["stream"] = json!(true);
    let (status, v) = error_of(s.post_json("/v1/chat/completions", body).await).await;
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (400, json!("unsupported_capability"))
    );
    // What it can do still works.
    let r = s
        .post_json(
            "/v1/completions",
            json!({"model": "tiny-base", "prompt": "Once", "max_tokens": 3}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn issue7_json_mode_and_completions_to_an_engine_without_them_are_400s() {
    let s = limited(Capabilities {
        chat: true,
        completion: false,
        grammar: false,
        embedding: false,
    })
    .await;
    let mut body = chat_body("tiny-chat");
    body["response_format"] = json!({"type": "json_object"});
    let (status, v) = error_of(s.post_json("/v1/chat/completions", body).await).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "unsupported_capability");
    assert_eq!(v["error"]["param"], "response_format");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("json_object"));
    // The `grammar` extension needs the same support.
    let mut body = chat_body("tiny-chat");
    body["grammar"] = json!("root ::= \"a\"");
    let (status, _) = error_of(s.post_json("/v1/chat/completions", body).await).await;
    assert_eq!(status, 400);
    let (status, v) = error_of(
        s.post_json(
            "/v1/completions",
            json!({"model": "tiny-chat", "prompt": "Once", "max_tokens": 3}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "unsupported_capability");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/v1/chat/completions"));
    // A plain chat is fine, and the 400s were counted as such.
    assert_eq!(
        s.post_json("/v1/chat/completions", chat_body("tiny-chat"))
            .await
            .status(),
        200
    );
    assert!(s.metrics().await.contains("code=\"400\""));
}

/// The provider's (catalog's) capabilities count too: a base model listed without `chat`
/// gets no chat, whatever the engine could do.
struct DeclaredProvider;

impl ModelProvider for DeclaredProvider {
    fn list(&self) -> Vec<ModelDescriptor> {
        TestProvider
            .list()
            .into_iter()
            .map(|mut d| {
                if d.id == "tiny-base" {
                    d.capabilities = vec![ingot_core::Capability::Completion];
                }
                d
            })
            .collect()
    }
    fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
        TestProvider.resolve(id)
    }
}

#[tokio::test]
async fn issue7_catalog_capabilities_are_enforced_too() {
    let s = serve_with(
        test_config(),
        Arc::new(MockEngine::new(MockConfig::default())),
        Arc::new(DeclaredProvider),
    )
    .await;
    let (status, v) = error_of(
        s.post_json("/v1/chat/completions", chat_body("tiny-base"))
            .await,
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "unsupported_capability");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("supports: completion"));
    let r = s
        .post_json(
            "/v1/completions",
            json!({"model": "tiny-base", "prompt": "Once", "max_tokens": 3}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        s.post_json("/v1/chat/completions", chat_body("tiny-chat"))
            .await
            .status(),
        200
    );
}

// ---------------------------------------------------------------------------------------
// Remote adapters against a scripted upstream
// ---------------------------------------------------------------------------------------

/// The test models plus remote adapters for an upstream at `base` (`http://host:port`).
struct WithRemotes {
    base: String,
}

impl WithRemotes {
    fn remotes(&self) -> Vec<RemoteModel> {
        let up = format!("{}/v1", self.base);
        let r = |id: &str, base: &str, model: &str, key: Option<&str>| RemoteModel {
            id: id.into(),
            base_url: base.into(),
            model: model.into(),
            api_key: key.map(str::to_string),
        };
        vec![
            r("far", &up, "tiny-chat", Some("sekret")),
            r("far-nokey", &up, "tiny-chat", None),
            r("far-missing", &up, "no-such-model", Some("sekret")),
            // Port 1: nothing listens there.
            r("far-down", "http://127.0.0.1:1/v1", "tiny-chat", None),
        ]
    }
}

impl ModelProvider for WithRemotes {
    fn list(&self) -> Vec<ModelDescriptor> {
        let mut v = TestProvider.list();
        v.extend(self.remotes().into_iter().map(|r| ModelDescriptor {
            id: r.id,
            capabilities: vec![
                ingot_core::Capability::Chat,
                ingot_core::Capability::Completion,
            ],
            owned_by: "remote".into(),
            remote: true,
            ..Default::default()
        }));
        v
    }
    fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
        TestProvider.resolve(id)
    }
    fn remote(&self, id: &str) -> Option<RemoteModel> {
        self.remotes().into_iter().find(|r| r.id == id)
    }
}

/// An upstream (key `sekret`) and a front server (key `front-key`, which must never reach
/// the upstream) that proxies the remote adapters to it.
async fn proxy_pair(script: Script) -> (TestServer, TestServer) {
    let upstream = start_with(
        ServerConfig {
            api_key: Some("sekret".into()),
            ..test_config()
        },
        script,
    )
    .await;
    let stats = Arc::new(Stats::default());
    let front = serve_with(
        ServerConfig {
            api_key: Some("front-key".into()),
            ..test_config()
        },
        Arc::new(TestEngine {
            script: Script::default(),
            stats: stats.clone(),
        }),
        Arc::new(WithRemotes {
            base: upstream.base.clone(),
        }),
    )
    .await;
    let front = TestServer { stats, ..front };
    (upstream, front)
}

async fn post(s: &TestServer, key: &str, path: &str, body: Value) -> reqwest::Response {
    s.client
        .post(s.url(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("request")
}

fn content_of_stream(text: &str) -> String {
    sse_data(text)
        .iter()
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .map(|v| {
            let c = &v["choices"][0];
            c["delta"]["content"]
                .as_str()
                .or(c["text"].as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn issue7_remote_adapter_proxies_json_and_sse() {
    let (upstream, front) = proxy_pair(Script::default()).await;

    // Listed, marked remote, never cached.
    let r = front
        .client
        .get(front.url("/v1/models"))
        .bearer_auth("front-key")
        .send()
        .await
        .unwrap();
    let models: Value = r.json().await.unwrap();
    let far = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "far")
        .expect("far listed")
        .clone();
    assert_eq!(far["remote"], true);
    assert_eq!(far["cached"], false);
    let local = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "tiny-chat")
        .unwrap()
        .clone();
    assert!(local.get("remote").is_none(), "{local}");

    // Non-streaming chat: the upstream's answer, unchanged.
    let direct: Value = post(
        &upstream,
        "sekret",
        "/v1/chat/completions",
        chat_body("tiny-chat"),
    )
    .await
    .json()
    .await
    .unwrap();
    let r = post(
        &front,
        "front-key",
        "/v1/chat/completions",
        chat_body("far"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let proxied: Value = r.json().await.unwrap();
    assert_eq!(
        proxied["choices"][0]["message"]["content"],
        direct["choices"][0]["message"]["content"]
    );
    assert_eq!(proxied["choices"][0]["message"]["content"], "Hello, world!");
    assert_eq!(proxied["usage"], direct["usage"]);
    // The front server loaded nothing: the request went upstream.
    assert_eq!(front.stats.loads.load(Ordering::SeqCst), 0);
    assert_eq!(upstream.stats.completed.load(Ordering::SeqCst), 2);

    // Raw completions go to the upstream's /v1/completions.
    let body = json!({"model": "far", "prompt": "Once upon", "max_tokens": 2});
    let r = post(&front, "front-key", "/v1/completions", body).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"][0]["text"], "Hello,");
    assert_eq!(v["choices"][0]["finish_reason"], "length");

    // Streaming, with the usage chunk, and [DONE] at the end.
    let mut body = chat_body("far");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let r = post(&front, "front-key", "/v1/chat/completions", body).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    assert_eq!(content_of_stream(&text), "Hello, world!");
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let usage: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(usage["usage"]["completion_tokens"], 4);

    // A body ingot's own request types reject (here: `n: 129`, above OpenAI's limit) is
    // still the upstream's to judge; this upstream (ingot) rejects it, and its 400 comes back.
    let mut body = chat_body("far");
    body["n"] = json!(129);
    let (status, v) = error_of(post(&front, "front-key", "/v1/chat/completions", body).await).await;
    assert_eq!(status, 400, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("remote model `far`"));

    // A failure in the middle of the upstream's stream reaches the client as its error
    // event and [DONE].
    let body = json!({"model": "far", "stream": true,
        "messages": [{"role": "user", "content": "FAIL_MIDSTREAM"}]});
    let text = post(&front, "front-key", "/v1/chat/completions", body)
        .await
        .text()
        .await
        .unwrap();
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    assert!(data.iter().any(|d| d.contains("\"error\"")), "{text}");
}

#[tokio::test]
async fn issue7_remote_adapter_maps_upstream_errors() {
    let (_upstream, front) = proxy_pair(Script::default()).await;

    // No key for the upstream: its 401, with its code, says where it came from.
    let (status, v) = error_of(
        post(
            &front,
            "front-key",
            "/v1/chat/completions",
            chat_body("far-nokey"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 401, "{v}");
    assert_eq!(v["error"]["code"], "invalid_api_key");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("remote model `far-nokey`"));

    // The upstream does not know the model: 404 model_not_found.
    let (status, v) = error_of(
        post(
            &front,
            "front-key",
            "/v1/chat/completions",
            chat_body("far-missing"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error"]["code"], "model_not_found");
    assert_eq!(v["error"]["param"], "model");

    // Nobody listens: 502 upstream_error, streaming or not.
    for stream in [false, true] {
        let mut body = chat_body("far-down");
        body["stream"] = json!(stream);
        let (status, v) =
            error_of(post(&front, "front-key", "/v1/chat/completions", body).await).await;
        assert_eq!(status, 502, "{v}");
        assert_eq!(v["error"]["code"], "upstream_error");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("http://127.0.0.1:1/v1"));
    }

    // The front server's own key is still required.
    let r = post(&front, "wrong", "/v1/chat/completions", chat_body("far")).await;
    assert_eq!(r.status(), 401);

    // Nothing to load or download for a remote model; unloading is a no-op.
    for action in ["load", "download"] {
        let r = post(
            &front,
            "front-key",
            &format!("/v1/models/far/{action}"),
            json!({}),
        )
        .await;
        let (status, v) = error_of(r).await;
        assert_eq!(status, 400, "{action}: {v}");
        assert_eq!(v["error"]["code"], "remote_model");
    }
    let r = post(&front, "front-key", "/v1/models/far/unload", json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["unloaded"], false);
}

#[tokio::test]
async fn issue7_remote_stream_is_relayed_chunk_by_chunk_and_cancels_upstream() {
    // 6 tokens, 250 ms apart: a buffering proxy would deliver everything after ~1.5 s.
    let script = Script {
        tokens: ["a", " b", " c", " d", " e", " f"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        token_delay: Duration::from_millis(250),
        ..Script::default()
    };
    let (upstream, front) = proxy_pair(script).await;
    let mut body = chat_body("far");
    body["stream"] = json!(true);
    let t0 = Instant::now();
    let r = post(&front, "front-key", "/v1/chat/completions", body.clone()).await;
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let mut seen = String::new();
    let mut first_token_at = None;
    while let Some(chunk) = stream.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        if first_token_at.is_none() && seen.contains("\"content\":\"a\"") {
            first_token_at = Some(t0.elapsed());
        }
    }
    let total = t0.elapsed();
    let first = first_token_at.expect("the first token arrived");
    assert!(
        total - first >= Duration::from_millis(800),
        "the first token came {first:?} into a {total:?} stream: the proxy buffered it"
    );
    assert_eq!(content_of_stream(&seen), "a b c d e f");

    // A client that goes away mid-stream cancels the upstream's sequence.
    let r = post(&front, "front-key", "/v1/chat/completions", body).await;
    let mut stream = r.bytes_stream();
    let mut got = String::new();
    while !got.contains("\"content\":\"a\"") {
        got.push_str(&String::from_utf8_lossy(
            &stream.next().await.unwrap().unwrap(),
        ));
    }
    drop(stream);
    assert!(
        eventually(Duration::from_secs(5), || async {
            upstream.stats.cancelled.load(Ordering::SeqCst) == 1
        })
        .await,
        "the upstream sequence was not cancelled"
    );
}

// ---------------------------------------------------------------------------------------
// Remote adapter to a second server with the real model
// ---------------------------------------------------------------------------------------

/// Only `far`, a remote adapter for `smollm2` at `base`.
struct OnlyRemote {
    base: String,
}

impl ModelProvider for OnlyRemote {
    fn list(&self) -> Vec<ModelDescriptor> {
        vec![ModelDescriptor {
            id: "far".into(),
            remote: true,
            ..Default::default()
        }]
    }
    fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
        Err(ProviderError::NotFound(id.into()))
    }
    fn remote(&self, id: &str) -> Option<RemoteModel> {
        (id == "far").then(|| RemoteModel {
            id: id.into(),
            base_url: format!("{}/v1", self.base),
            model: "smollm2".into(),
            api_key: None,
        })
    }
}

/// The issue's test: a remote adapter pointing at a second ingot server on another port
/// gives the same greedy output as asking that server directly, streaming included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue7_remote_adapter_to_a_real_ingot_server_matches_direct_output() {
    let path = tokio::task::spawn_blocking(model_path).await.unwrap();
    let upstream = serve_with(
        ServerConfig {
            port: 0,
            // One slot and two threads: deterministic greedy output, gentle on 2 cores.
            parallel: 1,
            threads: Some(2),
            context_length: Some(2048),
            ..test_config()
        },
        Arc::new(ingot_engine::LlamaEngine::new()),
        Arc::new(OneModel(path)),
    )
    .await;
    let front = serve_with(
        test_config(),
        Arc::new(TestEngine {
            script: Script::default(),
            stats: Arc::new(Stats::default()),
        }),
        Arc::new(OnlyRemote {
            base: upstream.base.clone(),
        }),
    )
    .await;
    let limit = Duration::from_secs(240);
    let ask = |s: &TestServer, path: &'static str, body: Value| {
        let req = s.client.post(s.url(path)).json(&body).timeout(limit);
        async move {
            let r = req.send().await.expect("request");
            assert_eq!(r.status(), 200, "{path}");
            r.text().await.unwrap()
        }
    };
    let chat = |model: &str, stream: bool| {
        json!({"model": model, "temperature": 0, "max_tokens": 24, "stream": stream,
               "messages": [{"role": "system", "content": "You are a helpful assistant."},
                            {"role": "user", "content": "What is the capital of France?"}]})
    };
    let text_of = |body: &str| -> String {
        let v: Value = serde_json::from_str(body).unwrap();
        let c = &v["choices"][0];
        c["message"]["content"]
            .as_str()
            .or(c["text"].as_str())
            .unwrap()
            .to_string()
    };

    let direct = text_of(&ask(&upstream, "/v1/chat/completions", chat("smollm2", false)).await);
    assert!(direct.contains("Paris"), "{direct}");
    let proxied = text_of(&ask(&front, "/v1/chat/completions", chat("far", false)).await);
    assert_eq!(proxied, direct);

    let direct_stream =
        content_of_stream(&ask(&upstream, "/v1/chat/completions", chat("smollm2", true)).await);
    let proxied_stream = ask(&front, "/v1/chat/completions", chat("far", true)).await;
    assert_eq!(
        sse_data(&proxied_stream).last().map(String::as_str),
        Some("[DONE]")
    );
    assert_eq!(content_of_stream(&proxied_stream), direct_stream);
    assert_eq!(direct_stream, direct);

    let completion = |model: &str, stream: bool| {
        json!({"model": model, "temperature": 0, "max_tokens": 16, "stream": stream,
               "prompt": "The three primary colours are"})
    };
    let direct = text_of(&ask(&upstream, "/v1/completions", completion("smollm2", false)).await);
    let proxied = text_of(&ask(&front, "/v1/completions", completion("far", false)).await);
    assert_eq!(proxied, direct);
    let proxied_stream =
        content_of_stream(&ask(&front, "/v1/completions", completion("far", true)).await);
    assert_eq!(proxied_stream, direct);
    upstream.handle.shutdown().await;
    front.handle.shutdown().await;
}
