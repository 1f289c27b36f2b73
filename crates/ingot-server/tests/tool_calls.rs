//! Tool calls through the HTTP routes (issue 14), against the scripted test engine: the
//! answer is scripted to contain a call in the generic `<tool_call>` syntax, split across
//! tokens the way a model writes it, and each route must turn it into its API's shape.
//! The same paths run against real models in ingot-e2e (`tool_calls_real_model.rs`).

mod common;

use common::*;
use serde_json::{json, Value};

/// A content sentence, then one call whose markers and JSON are cut across tokens.
fn calling_script() -> Script {
    Script {
        tokens: [
            "Let",
            " me",
            " check",
            ".\n<tool",
            "_call>\n{\"name\": \"get_",
            "weather\", \"arguments\": {\"city\": ",
            "\"Par",
            "is\"}}\n</tool_call>",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        ..Script::default()
    }
}

fn weather_tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
}

fn body(stream: bool) -> Value {
    json!({"model": "tiny-chat", "stream": stream, "tools": weather_tools(),
           "messages": [{"role": "user", "content": "Weather in Paris?"}]})
}

#[tokio::test]
async fn a_call_in_the_answer_becomes_tool_calls() {
    let s = start_with(test_config(), calling_script()).await;
    let r = s.post_json("/v1/chat/completions", body(false)).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{v}");
    assert_eq!(choice["message"]["content"], "Let me check.");
    let call = &choice["message"]["tool_calls"][0];
    assert!(call["id"].as_str().unwrap().starts_with("call_"), "{call}");
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Paris"}));
    assert_eq!(choice["message"]["tool_calls"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_streamed_call_arrives_as_tool_call_deltas() {
    let s = start_with(test_config(), calling_script()).await;
    let r = s.post_json("/v1/chat/completions", body(true)).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let chunks: Vec<Value> = sse_data(&text)
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let mut content = String::new();
    let mut id = None;
    let mut name = None;
    let mut args = String::new();
    let mut finish = None;
    for c in &chunks {
        let ch = &c["choices"][0];
        if let Some(t) = ch["delta"]["content"].as_str() {
            content.push_str(t);
        }
        for d in ch["delta"]["tool_calls"].as_array().into_iter().flatten() {
            assert_eq!(d["index"], 0, "{d}");
            if let Some(i) = d["id"].as_str() {
                assert!(id.is_none(), "the id comes once: {text}");
                id = Some(i.to_string());
                assert_eq!(d["type"], "function");
                name = d["function"]["name"].as_str().map(String::from);
            }
            args.push_str(d["function"]["arguments"].as_str().unwrap_or(""));
        }
        if let Some(f) = ch["finish_reason"].as_str() {
            finish = Some(f.to_string());
        }
    }
    assert_eq!(content.trim(), "Let me check.", "{text}");
    assert!(
        !content.contains("<tool"),
        "call markup leaked into content: {text}"
    );
    assert!(id.unwrap().starts_with("call_"));
    assert_eq!(name.as_deref(), Some("get_weather"));
    let args: Value = serde_json::from_str(&args).unwrap_or_else(|e| panic!("{e}: {args}"));
    assert_eq!(args, json!({"city": "Paris"}));
    assert_eq!(finish.as_deref(), Some("tool_calls"));
}

#[tokio::test]
async fn an_answer_without_a_call_is_plain_content() {
    // The default script answers "Hello, world!".
    let s = start().await;
    let r = s.post_json("/v1/chat/completions", body(false)).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "Hello, world!");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(
        v["choices"][0]["message"].get("tool_calls").is_none(),
        "{v}"
    );
}

#[tokio::test]
async fn a_forced_call_is_generated_under_the_function_s_schema() {
    let s = start_with(test_config(), calling_script()).await;
    let mut b = body(false);
    b["tool_choice"] = json!({"type": "function", "function": {"name": "get_weather"}});
    let r = s.post_json("/v1/chat/completions", b).await;
    assert_eq!(r.status(), 200);
    let req = s.stats.last_request.lock().unwrap().clone().unwrap();
    let js = req
        .sampling
        .json_schema
        .expect("a forced call is constrained");
    assert_eq!(js.param, "tool_choice");
    let schema: Value = serde_json::from_str(&js.schema).unwrap();
    assert!(schema.to_string().contains("get_weather"), "{schema}");
    assert!(schema.to_string().contains("city"), "{schema}");
    let ingot_core::Prompt::ChatWithTools(p) = req.prompt else {
        panic!("{:?}", req.prompt)
    };
    assert!(p.choice.is_forced());
}

#[tokio::test]
async fn tool_requests_that_cannot_be_honoured_are_400s_naming_the_field() {
    let s = start().await;
    for (patch, param) in [
        (
            json!({"tool_choice": {"type": "function", "function": {"name": "nope"}}}),
            "tool_choice",
        ),
        (
            json!({"tool_choice": "required", "tools": []}),
            "tool_choice",
        ),
        (
            json!({"tools": [{"type": "code_interpreter"}]}),
            "tools[0].type",
        ),
        (
            json!({"tool_choice": "required", "response_format": {"type": "json_object"}}),
            "tool_choice",
        ),
    ] {
        let mut b = body(false);
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        let r = s.post_json("/v1/chat/completions", b.clone()).await;
        assert_eq!(r.status(), 400, "{b}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["param"], param, "{v}");
    }
}

#[tokio::test]
async fn a_follow_up_with_the_tool_result_is_accepted() {
    let s = start().await;
    let b = json!({"model": "tiny-chat", "tools": weather_tools(), "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C and sunny"}
    ]});
    let r = s.post_json("/v1/chat/completions", b).await;
    assert_eq!(r.status(), 200);
    let req = s.stats.last_request.lock().unwrap().clone().unwrap();
    let ingot_core::Prompt::ChatWithTools(p) = req.prompt else {
        panic!("{:?}", req.prompt)
    };
    assert_eq!(p.messages[1].tool_calls[0].name, "get_weather");
    assert_eq!(p.messages[2].tool_call_id.as_deref(), Some("call_1"));
    assert_eq!(p.messages[2].content, "18 C and sunny");
}

#[tokio::test]
async fn n_choices_each_split_their_calls() {
    let mut config = test_config();
    config.parallel = 2;
    let s = start_with(config, calling_script()).await;
    let mut b = body(false);
    b["n"] = json!(2);
    let v: Value = s
        .post_json("/v1/chat/completions", b)
        .await
        .json()
        .await
        .unwrap();
    for i in 0..2 {
        assert_eq!(v["choices"][i]["finish_reason"], "tool_calls", "{v}");
        assert_eq!(
            v["choices"][i]["message"]["tool_calls"][0]["function"]["name"],
            "get_weather"
        );
    }
}

#[tokio::test]
async fn responses_api_returns_function_call_items() {
    let s = start_with(test_config(), calling_script()).await;
    let tools = json!([{"type": "function", "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let v: Value = s
        .post_json(
            "/v1/responses",
            json!({"model": "tiny-chat", "input": "Weather in Paris?", "tools": tools}),
        )
        .await
        .json()
        .await
        .unwrap();
    let output = v["output"].as_array().unwrap();
    assert_eq!(output[0]["type"], "message", "{v}");
    assert_eq!(output[0]["content"][0]["text"], "Let me check.");
    assert_eq!(output[1]["type"], "function_call", "{v}");
    assert_eq!(output[1]["name"], "get_weather");
    assert!(output[1]["call_id"].as_str().unwrap().starts_with("call_"));
    let args: Value = serde_json::from_str(output[1]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Paris"}));
    assert_eq!(v["tools"][0]["name"], "get_weather");

    // Streamed: the call is an output item whose arguments arrive as deltas.
    let text = s
        .post_json(
            "/v1/responses",
            json!({"model": "tiny-chat", "input": "Weather?", "tools": tools, "stream": true}),
        )
        .await
        .text()
        .await
        .unwrap();
    let events: Vec<Value> = sse_data(&text)
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let added = events
        .iter()
        .find(|e| e["type"] == "response.output_item.added" && e["item"]["type"] == "function_call")
        .unwrap_or_else(|| panic!("{kinds:?}"));
    assert_eq!(added["item"]["name"], "get_weather");
    let args: String = events
        .iter()
        .filter(|e| e["type"] == "response.function_call_arguments.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"city": "Paris"})
    );
    assert!(
        kinds.contains(&"response.function_call_arguments.done"),
        "{kinds:?}"
    );
    let done = events.last().unwrap();
    assert_eq!(done["type"], "response.completed");
    assert_eq!(done["response"]["output"][1]["type"], "function_call");
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| e["sequence_number"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
}

/// Issue 16: Ollama's `/api/chat` takes `tools` and answers with `message.tool_calls`
/// (arguments as an object, no ids), whole or streamed; results come back as `tool` messages.
#[tokio::test]
async fn ollama_chat_returns_tool_calls_in_its_shape() {
    let s = start_with(test_config(), calling_script()).await;
    let b = json!({"model": "tiny-chat", "stream": false, "tools": weather_tools(),
                   "messages": [{"role": "user", "content": "Weather in Paris?"}]});
    let v: Value = s
        .post_json("/api/chat", b.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["done"], true, "{v}");
    assert_eq!(v["message"]["content"], "Let me check.");
    let call = &v["message"]["tool_calls"][0]["function"];
    assert_eq!(call["name"], "get_weather", "{v}");
    assert_eq!(call["arguments"], json!({"city": "Paris"}));

    let mut b = b;
    b["stream"] = json!(true);
    let text = s.post_json("/api/chat", b).await.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let content: String = lines
        .iter()
        .filter_map(|l| l["message"]["content"].as_str())
        .collect();
    assert_eq!(content.trim(), "Let me check.", "{text}");
    let calls: Vec<&Value> = lines
        .iter()
        .filter_map(|l| l["message"]["tool_calls"].as_array())
        .flatten()
        .collect();
    assert_eq!(calls.len(), 1, "{text}");
    assert_eq!(calls[0]["function"]["arguments"], json!({"city": "Paris"}));
    assert_eq!(lines.last().unwrap()["done"], true);

    // The follow-up: the call (no id) and its result (no id) pair up in order.
    let follow = json!({"model": "tiny-chat", "stream": false, "tools": weather_tools(), "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "18 C", "tool_name": "get_weather"}
    ]});
    let r = s.post_json("/api/chat", follow).await;
    assert_eq!(r.status(), 200);
    let req = s.stats.last_request.lock().unwrap().clone().unwrap();
    let ingot_core::Prompt::ChatWithTools(p) = req.prompt else {
        panic!("{:?}", req.prompt)
    };
    assert_eq!(
        p.messages[2].tool_call_id.as_deref(),
        Some(p.messages[1].tool_calls[0].id.as_str())
    );
    assert_eq!(p.messages[2].name.as_deref(), Some("get_weather"));
}

/// `parallel_tool_calls: false`: one call per answer, whole or streamed, even when the model
/// writes two.
#[tokio::test]
async fn parallel_tool_calls_false_keeps_the_first_call() {
    let two = Script {
        tokens: [
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n",
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        ..Script::default()
    };
    let s = start_with(test_config(), two).await;
    let v: Value = s
        .post_json("/v1/chat/completions", body(false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{v}"
    );
    let mut b = body(false);
    b["parallel_tool_calls"] = json!(false);
    let v: Value = s
        .post_json("/v1/chat/completions", b.clone())
        .await
        .json()
        .await
        .unwrap();
    let calls = v["choices"][0]["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{v}");
    assert!(calls[0]["function"]["arguments"]
        .as_str()
        .unwrap()
        .contains("Paris"));
    b["stream"] = json!(true);
    let text = s
        .post_json("/v1/chat/completions", b)
        .await
        .text()
        .await
        .unwrap();
    assert!(text.contains("Paris") && !text.contains("Rome"), "{text}");
}
