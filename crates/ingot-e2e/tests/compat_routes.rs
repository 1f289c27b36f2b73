//! Issue 16: Foundry Local's management routes and Ollama's API on the same port as the
//! OpenAI routes, against the scripted test engine, plus the gateway gauges under load with
//! the engine crate's mock. The official clients (foundry-local-sdk, ollama for Python and
//! JavaScript) run against the real `ingot serve` in the CLI crate's tests.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{chat_body, eventually, start, test_config, TestProvider, TestServer};
use ingot_core::mock::{MockConfig, MockEngine};
use ingot_server::ServerConfig;
use serde_json::{json, Value};

async fn text_of(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

/// Asserts Ollama's error shape: exactly `{"error": "<non-empty string>"}`.
fn ollama_error(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {body}"));
    assert_eq!(obj.len(), 1, "only `error`: {body}");
    let msg = v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("error is no string: {body}"));
    assert!(!msg.is_empty());
    msg.to_string()
}

/// Asserts Foundry's error shape: `{"success": false, "errorMessage": "..."}`.
fn foundry_error(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    assert_eq!(v["success"], false, "{body}");
    v["errorMessage"].as_str().unwrap().to_string()
}

fn ndjson(body: &str) -> Vec<Value> {
    body.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line ({e}): {l:?}")))
        .collect()
}

#[tokio::test]
async fn foundry_sdk_routes_answer_in_foundry_shapes() {
    let s = start().await;
    // The fields foundry-local-sdk 0.5.1's FoundryListResponseModel requires.
    let list = s.get_json("/foundry/list").await;
    let m = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["alias"] == "tiny-chat")
        .unwrap();
    for k in [
        "name",
        "displayName",
        "modelType",
        "providerType",
        "uri",
        "version",
        "promptTemplate",
        "publisher",
        "task",
        "runtime",
        "fileSizeMb",
        "modelSettings",
        "alias",
        "supportsToolCalling",
        "license",
        "licenseDescription",
        "parentModelUri",
        "maxOutputTokens",
    ] {
        assert!(m.get(k).is_some(), "{k} missing in {m}");
    }
    assert_eq!(m["name"], "tiny-chat-generic-cpu:1");
    assert_eq!(m["runtime"]["deviceType"], "CPU");
    assert!(m["fileSizeMb"].is_u64());

    let status = s.get_json("/openai/status").await;
    assert!(status.get("modelDirPath").is_some(), "{status}");
    assert_eq!(status["endpoints"][0], s.base);

    let cached = s.get_json("/openai/models").await;
    let cached: Vec<&str> = cached
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(cached.contains(&"tiny-chat-generic-cpu:1"), "{cached:?}");
    assert!(
        !cached.contains(&"third-generic-cpu:1"),
        "third is not downloaded"
    );

    // Download: progress lines with percentages, then the result as one JSON line.
    let body = json!({"model": {"Name": "third-generic-cpu:1", "Uri": "x", "Publisher": "p", "ProviderType": "ingot", "PromptTemplate": null}, "token": null, "IgnorePipeReport": true});
    let (code, text) = text_of(s.post_json("/openai/download", body).await).await;
    assert_eq!(code, 200, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    // Progress is throttled to a few lines a second: the first report and the last.
    assert!(lines.iter().any(|l| l.contains("25.00%")), "{text}");
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(last, json!({"success": true, "errorMessage": null}));
    assert!(lines[..lines.len() - 1].iter().all(|l| !l.starts_with('{')));

    // Load and unload by Foundry id (any version, -instruct or not), chat by Foundry id.
    let r = s
        .client
        .get(s.url("/openai/load/tiny-chat-instruct-generic-cpu:4?ttl=600&ep="))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        s.get_json("/openai/loadedmodels").await,
        json!(["tiny-chat-generic-cpu:1"])
    );
    let r = s
        .post_json("/v1/chat/completions", chat_body("tiny-chat-generic-cpu:1"))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["model"], "tiny-chat");
    let r = s
        .client
        .get(s.url("/openai/unload/tiny-chat-generic-cpu:1?force=false"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["unloaded"], true);
    assert_eq!(s.get_json("/openai/loadedmodels").await, json!([]));

    // Errors: Foundry's shape, with the message the SDK recognises for undownloaded models.
    let (code, text) = text_of(
        s.client
            .get(s.url("/openai/load/third-generic-cpu:1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 400);
    // `third` was "downloaded" above, but the test provider keeps it uncached.
    assert!(
        foundry_error(&text).contains("No OpenAIService provider found for modelName"),
        "{text}"
    );
    let (code, text) = text_of(
        s.client
            .get(s.url("/openai/load/nope-generic-cpu:1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 404);
    assert!(
        foundry_error(&text).contains("nope-generic-cpu:1"),
        "{text}"
    );
    let (code, text) = text_of(
        s.client
            .get(s.url("/openai/load/tiny-chat?ttl=soon"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 400);
    assert!(foundry_error(&text).contains("ttl"));
    let (code, text) = text_of(s.post_json("/openai/download", json!({"model": {}})).await).await;
    assert_eq!(code, 400);
    foundry_error(&text);
    let (code, text) = text_of(
        s.client
            .post(s.url("/openai/download"))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 400);
    foundry_error(&text);
    // The SDK reads a failed download from the body, whatever the status.
    let (_, text) = text_of(
        s.post_json("/openai/download", json!({"model": {"Name": "nope:1"}}))
            .await,
    )
    .await;
    assert!(foundry_error(&text).contains("nope:1"));
}

#[tokio::test]
async fn ollama_routes_list_show_pull_chat_and_generate() {
    let s = start().await;
    let v = s.get_json("/api/version").await;
    assert!(v["version"].as_str().unwrap().contains('.'));
    assert_eq!(
        s.client
            .get(s.url("/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "Ollama is running"
    );

    let tags = s.get_json("/api/tags").await;
    let names: Vec<&str> = tags["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"tiny-chat:latest"), "{names:?}");
    assert!(!names.contains(&"third:latest"), "not downloaded");
    let m = &tags["models"][0];
    for k in ["name", "model", "modified_at", "size", "digest", "details"] {
        assert!(m.get(k).is_some(), "{k} missing in {m}");
    }

    let r = s
        .post_json("/api/show", json!({"model": "tiny-chat:latest"}))
        .await;
    assert_eq!(r.status(), 200);
    let show: Value = r.json().await.unwrap();
    assert!(
        show["model_info"].is_object() && show["details"]["format"] == "gguf",
        "{show}"
    );
    assert!(show["capabilities"]
        .as_array()
        .unwrap()
        .contains(&json!("completion")));
    // Tool calling works for every chat model, and Ollama clients check for it.
    assert!(
        show["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("tools")),
        "{show}"
    );

    // Non-streamed chat: one object with the statistics Ollama reports.
    let r = s
        .post_json("/api/chat", json!({"model": "tiny-chat", "messages": [{"role": "user", "content": "hi"}], "stream": false, "options": {"temperature": 0, "seed": 1, "num_predict": 16}}))
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["message"]["content"], "Hello, world!");
    assert_eq!(v["message"]["role"], "assistant");
    assert_eq!(v["done"], true);
    assert_eq!(v["done_reason"], "stop");
    assert_eq!(v["model"], "tiny-chat");
    assert_eq!(v["eval_count"], 4);
    assert!(v["total_duration"].as_u64().unwrap() > 0);

    // Streamed (the default): NDJSON fragments, then the done object.
    let r = s
        .post_json(
            "/api/chat",
            json!({"model": "tiny-chat:latest", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let lines = ndjson(&r.text().await.unwrap());
    let text: String = lines
        .iter()
        .filter_map(|l| l["message"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello, world!");
    assert!(lines[..lines.len() - 1].iter().all(|l| l["done"] == false));
    assert_eq!(lines.last().unwrap()["done"], true);
    assert_eq!(lines.last().unwrap()["done_reason"], "stop");

    // num_predict stops it early, with Ollama's done_reason.
    let r = s
        .post_json("/api/generate", json!({"model": "tiny-chat", "prompt": "hi", "stream": false, "options": {"num_predict": 2}}))
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["response"], "Hello,");
    assert_eq!(v["done_reason"], "length");
    let r = s
        .post_json(
            "/api/generate",
            json!({"model": "tiny-chat", "prompt": "hi", "raw": true, "format": "json"}),
        )
        .await;
    let lines = ndjson(&r.text().await.unwrap());
    assert_eq!(lines.last().unwrap()["done"], true);
    assert!(s
        .stats
        .last_request
        .lock()
        .unwrap()
        .as_ref()
        .unwrap()
        .sampling
        .grammar
        .is_some());
    // `format` as a JSON schema: the same converter as OpenAI's `json_schema` response format.
    let schema =
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
    let r = s
        .post_json(
            "/api/chat",
            json!({"model": "tiny-chat", "messages": [{"role": "user", "content": "hi"}], "stream": false, "format": schema}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // The engine receives the schema itself and converts it with its own backend.
    let js = s
        .stats
        .last_request
        .lock()
        .unwrap()
        .as_ref()
        .unwrap()
        .sampling
        .json_schema
        .clone()
        .unwrap();
    assert!(js.schema.contains("city"), "{js:?}");
    assert_eq!(js.param, "format");

    // keep_alive: loaded with an empty prompt, listed by /api/ps, unloaded with 0.
    let v: Value = s
        .post_json(
            "/api/generate",
            json!({"model": "other", "keep_alive": "-1"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["done_reason"], "load");
    let ps = s.get_json("/api/ps").await;
    let m = ps["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "other:latest")
        .unwrap();
    assert!(m["expires_at"].as_str().unwrap().starts_with("9999"), "{m}");
    assert!(m["context_length"].as_u64().unwrap() > 0);
    let v: Value = s
        .post_json(
            "/api/chat",
            json!({"model": "other", "messages": [], "keep_alive": 0}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["done_reason"], "unload");
    assert!(!s
        .get_json("/api/ps")
        .await
        .to_string()
        .contains("other:latest"));

    // Pull: Ollama's progress lines, ending in success.
    let r = s.post_json("/api/pull", json!({"model": "third"})).await;
    let lines = ndjson(&r.text().await.unwrap());
    assert_eq!(lines[0]["status"], "pulling manifest");
    assert!(
        lines
            .iter()
            .any(|l| l["completed"] == 250 && l["total"] == 1000),
        "{lines:?}"
    );
    assert_eq!(lines.last().unwrap()["status"], "success");
    let v: Value = s
        .post_json("/api/pull", json!({"model": "third", "stream": false}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"status": "success"}));

    // Embeddings (issue 15): a decoder embeds with its last token, in Ollama's shapes.
    let (code, text) = text_of(
        s.post_json(
            "/api/embed",
            json!({"model": "tiny-chat", "input": ["x", "y z"]}),
        )
        .await,
    )
    .await;
    assert_eq!(code, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["embeddings"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["prompt_eval_count"], 3, "{v}");
    let (code, text) = text_of(
        s.post_json(
            "/api/embeddings",
            json!({"model": "tiny-chat", "prompt": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(code, 200, "{text}");
    let old: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(old["embedding"], v["embeddings"][0], "{old}");
}

#[tokio::test]
async fn ollama_bad_input_gets_ollama_errors_and_nothing_panics() {
    let s = start().await;
    let chat = json!({"model": "tiny-chat", "messages": [{"role": "user", "content": "hi"}], "stream": false});
    let with = |k: &str, v: Value| {
        let mut b = chat.clone();
        b[k] = v;
        b
    };
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "/api/chat",
            json!({"model": "tiny-chat:bad tag", "messages": []}),
            400,
            "invalid model name",
        ),
        (
            "/api/chat",
            json!({"model": "tiny-chat:", "messages": []}),
            400,
            "invalid model name",
        ),
        (
            "/api/chat",
            json!({"model": "tiny-chat:v9!", "messages": []}),
            400,
            "invalid model name",
        ),
        (
            "/api/chat",
            json!({"model": "tiny-chat:v9", "messages": []}),
            404,
            "not found",
        ),
        (
            "/api/chat",
            json!({"model": "nope", "messages": []}),
            404,
            "try pulling it first",
        ),
        (
            "/api/chat",
            json!({"model": "third", "messages": []}),
            404,
            "not found",
        ),
        ("/api/chat", json!({"messages": []}), 400, "model"),
        ("/api/chat", with("messages", json!("hi")), 400, "messages"),
        (
            "/api/chat",
            with("options", json!({"temperature": "hot"})),
            400,
            "temperature",
        ),
        (
            "/api/chat",
            with("options", json!({"temperature": 9})),
            400,
            "options.temperature",
        ),
        (
            "/api/chat",
            with("options", json!({"num_ctx": -5})),
            400,
            "num_ctx",
        ),
        (
            "/api/chat",
            with("options", json!({"num_predict": 0})),
            400,
            "options.num_predict must be at least 1",
        ),
        (
            "/api/chat",
            with("options", json!({"num_predict": 1_000_000})),
            400,
            "context length",
        ),
        (
            "/api/chat",
            // A schema the grammar converter cannot express (a plain object schema works).
            with("format", json!({"not": {"type": "string"}})),
            400,
            "not",
        ),
        ("/api/chat", with("format", json!("yaml")), 400, "format"),
        (
            "/api/chat",
            // Tools work (tool_calls.rs); a malformed one names its field.
            with("tools", json!([{"type": "function"}])),
            400,
            "tools[0].function",
        ),
        (
            "/api/chat",
            with("keep_alive", json!("forever")),
            400,
            "keep_alive",
        ),
        ("/api/chat", with("think", json!(true)), 400, "thinking"),
        (
            "/api/chat",
            with(
                "messages",
                json!([{"role": "user", "content": "hi", "images": ["aGk="]}]),
            ),
            400,
            "vision",
        ),
        (
            "/api/chat",
            with(
                "messages",
                json!([{"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f"}}]}]),
            ),
            400,
            "needs `name` and `arguments`",
        ),
        (
            "/api/chat",
            with("messages", json!([{"role": "wizard", "content": "hi"}])),
            400,
            "role",
        ),
        (
            "/api/generate",
            json!({"model": "tiny-chat", "prompt": "x", "suffix": "y"}),
            400,
            "fill-in-the-middle",
        ),
        (
            "/api/generate",
            json!({"model": "tiny-chat", "prompt": 5}),
            400,
            "prompt",
        ),
        ("/api/show", json!({}), 400, "model is required"),
        (
            "/api/show",
            json!({"model": "../../etc/passwd"}),
            400,
            "invalid model name",
        ),
        (
            "/api/pull",
            json!({"model": "nope:latest"}),
            404,
            "not found",
        ),
        (
            "/api/embed",
            json!({"model": "nope", "input": "x"}),
            404,
            "not found",
        ),
    ];
    for (route, body, code, needle) in cases {
        let (got, text) = text_of(s.post_json(route, body.clone()).await).await;
        assert_eq!(got, code, "{route} {body}: {text}");
        let msg = ollama_error(&text);
        assert!(
            msg.contains(needle),
            "{route} {body}: `{needle}` not in {msg}"
        );
    }
    // Malformed bodies on every POST route.
    for route in [
        "/api/chat",
        "/api/generate",
        "/api/show",
        "/api/pull",
        "/api/embed",
        "/api/embeddings",
    ] {
        for raw in ["", "{", "[]", "null", "{\"model\": 5}", "{} {}"] {
            let (got, text) =
                text_of(s.client.post(s.url(route)).body(raw).send().await.unwrap()).await;
            assert_eq!(got, 400, "{route} {raw:?}: {text}");
            ollama_error(&text);
        }
    }
    let (got, text) = text_of(
        s.client
            .delete(s.url("/api/delete"))
            .body("{")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(got, 400);
    ollama_error(&text);
    // The test provider cannot delete: a clear 400, not a 500.
    let (got, text) = text_of(
        s.client
            .delete(s.url("/api/delete"))
            .json(&json!({"model": "tiny-chat"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(got, 400, "{text}");
    ollama_error(&text);
    // Routes and methods outside the implemented set, in Ollama's shape too.
    let (got, text) = text_of(s.post_json("/api/create", json!({"model": "x"})).await).await;
    assert_eq!(got, 501);
    assert!(ollama_error(&text).contains("ingot model add"));
    let (got, text) = text_of(s.client.get(s.url("/api/nothing")).send().await.unwrap()).await;
    assert_eq!(got, 404);
    ollama_error(&text);
    let (got, text) = text_of(s.client.get(s.url("/api/chat")).send().await.unwrap()).await;
    assert_eq!(got, 405);
    ollama_error(&text);
    // The OpenAI routes keep OpenAI's shape.
    let (got, text) = text_of(
        s.post_json(
            "/v1/chat/completions",
            json!({"model": "nope", "messages": []}),
        )
        .await,
    )
    .await;
    assert_eq!(got, 400);
    assert!(serde_json::from_str::<Value>(&text).unwrap()["error"]["message"].is_string());
    // Still serving.
    assert_eq!(s.post_json("/api/chat", chat).await.status(), 200);
}

#[tokio::test]
async fn ollama_and_foundry_errors_keep_their_shape_behind_an_api_key() {
    let config = ServerConfig {
        api_key: Some("k".into()),
        ..test_config()
    };
    let s = common::start_with(config, common::Script::default()).await;
    let (got, text) = text_of(s.client.get(s.url("/api/tags")).send().await.unwrap()).await;
    assert_eq!(got, 401);
    assert!(ollama_error(&text).contains("API key"));
    let (got, text) = text_of(s.client.get(s.url("/foundry/list")).send().await.unwrap()).await;
    assert_eq!(got, 401);
    foundry_error(&text);
    let r = s
        .client
        .get(s.url("/api/tags"))
        .bearer_auth("k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn start_mock(config: ServerConfig, mock: MockConfig) -> TestServer {
    let engine = Arc::new(MockEngine::new(mock));
    let handle = ingot_server::serve(config, engine, Arc::new(TestProvider))
        .await
        .expect("server starts");
    let base = handle.url();
    TestServer {
        handle,
        stats: Default::default(),
        client: reqwest::Client::new(),
        base,
    }
}

/// The model-server-protocol gauges move under a c=8 load on 4 slots: requests wait, slots
/// run, the KV cache fills; all three fall back to 0 when the load is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_gauges_follow_a_c8_load() {
    let config = ServerConfig {
        parallel: 4,
        ..test_config()
    };
    let mock = MockConfig::default()
        .with_text(&"word ".repeat(40))
        .with_timing(Duration::from_millis(20), Duration::from_millis(15));
    let s = Arc::new(start_mock(config, mock).await);
    // Load first, so the load does not count as waiting.
    assert_eq!(
        s.post_json("/api/generate", json!({"model": "tiny-chat"}))
            .await
            .status(),
        200
    );
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let body = json!({"model": "tiny-chat", "messages": [{"role": "user", "content": format!("request {i} with some prompt words")}], "max_tokens": 40});
            s.post_json("/v1/chat/completions", body).await.status()
        }));
    }
    let saw_load = eventually(Duration::from_secs(10), || {
        let s = s.clone();
        async move {
            s.metric("ingot:num_requests_waiting").await > 0.0
                && s.metric("ingot:num_requests_running").await == 4.0
                && s.metric("ingot:kv_cache_usage_perc").await > 0.0
        }
    })
    .await;
    assert!(
        saw_load,
        "gauges never showed the load:\n{}",
        s.metrics().await
    );
    let text = s.metrics().await;
    let kv = s.metric("ingot:kv_cache_usage_perc").await;
    assert!(kv > 0.0 && kv <= 1.0, "{kv}");
    assert!(
        text.contains("ingot:model_loaded{model_name=\"tiny-chat\"} 1"),
        "{text}"
    );
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let drained = eventually(Duration::from_secs(5), || {
        let s = s.clone();
        async move {
            s.metric("ingot:num_requests_waiting").await == 0.0
                && s.metric("ingot:num_requests_running").await == 0.0
                && s.metric("ingot:kv_cache_usage_perc").await == 0.0
        }
    })
    .await;
    assert!(
        drained,
        "gauges did not return to 0:\n{}",
        s.metrics().await
    );
}
