//! Embedding routes (issue 15) against the scripted test engine: OpenAI's `/v1/embeddings`
//! shapes and errors, and Ollama's `/api/embed` and `/api/embeddings`. The vectors of a
//! real embedding model are checked in ingot-cli's `import_embeddings` suite.

mod common;

use base64::Engine as _;
use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn openai_embeddings_answer_every_input_in_order_with_usage() {
    let s = start().await;
    let r = s
        .post_json(
            "/v1/embeddings",
            json!({"model": "tiny", "input": ["one two", "three", "one two"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "tiny-chat", "the canonical id answers: {v}");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    for (i, d) in data.iter().enumerate() {
        assert_eq!(d["index"], i);
        assert_eq!(d["object"], "embedding");
        assert_eq!(d["embedding"].as_array().unwrap().len(), 8);
    }
    // Same text, same vector; another text, another vector.
    assert_eq!(data[0]["embedding"], data[2]["embedding"]);
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);
    assert_eq!(v["usage"]["prompt_tokens"], 5);
    assert_eq!(v["usage"]["total_tokens"], 5);
    // A decoder embeds with its last token, and says so.
    assert_eq!(v["pooling"], "last");
    assert_eq!(v["normalized"], true);
}

#[tokio::test]
async fn base64_vectors_decode_to_the_float_vectors() {
    let s = start().await;
    let float: Value = s
        .post_json(
            "/v1/embeddings",
            json!({"model": "tiny", "input": "hello there"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let b64: Value = s
        .post_json(
            "/v1/embeddings",
            json!({"model": "tiny", "input": "hello there", "encoding_format": "base64"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let decoded: Vec<f32> = bytes
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    // JSON carries each f32 in its shortest form, which parses back to the same f32.
    let floats: Vec<f32> = float["data"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(decoded, floats);
}

#[tokio::test]
async fn token_array_inputs_are_embedded_and_bad_ones_refused() {
    let s = start().await;
    let r = s
        .post_json(
            "/v1/embeddings",
            json!({"model": "tiny", "input": [[1, 2, 3], [4]]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["usage"]["prompt_tokens"], 4);
    for (body, needle) in [
        (json!({"model": "tiny", "input": []}), "at least one"),
        (json!({"model": "tiny", "input": [""]}), "input[0] is empty"),
        (json!({"model": "tiny", "input": [[]]}), "empty token array"),
        (json!({"model": "tiny", "input": 3.5}), "expected a string"),
        (
            json!({"model": "tiny", "input": "x", "encoding_format": "hex"}),
            "encoding_format",
        ),
        (
            json!({"model": "tiny", "input": "x", "dimensions": 4}),
            "8-dimensional",
        ),
    ] {
        let r = s.post_json("/v1/embeddings", body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
        let e: Value = r.json().await.unwrap();
        let msg = e["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{body}: {msg}");
    }
}

#[tokio::test]
async fn inputs_longer_than_the_context_are_refused_by_openai_and_cut_by_ollama() {
    let s = start().await;
    let long = "word ".repeat(5000);
    let r = s
        .post_json("/v1/embeddings", json!({"model": "tiny", "input": long}))
        .await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(msg.contains("input[0] is 5000 tokens"), "{e}");
    // "... embeds at most N tokens per input": one sequence's share of the context.
    let limit: u64 = msg
        .split("at most ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(limit < 5000, "{msg}");
    // Ollama truncates by default, and refuses with `truncate: false`.
    let r = s
        .post_json("/api/embed", json!({"model": "tiny-chat", "input": long}))
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["prompt_eval_count"], limit);
    let r = s
        .post_json(
            "/api/embed",
            json!({"model": "tiny-chat", "input": long, "truncate": false}),
        )
        .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn unknown_models_are_404_on_both_apis() {
    let s = start().await;
    let r = s
        .post_json("/v1/embeddings", json!({"model": "nope", "input": "x"}))
        .await;
    assert_eq!(r.status(), 404);
    let r = s
        .post_json("/api/embed", json!({"model": "nope", "input": "x"}))
        .await;
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert!(e["error"].is_string(), "Ollama's error shape: {e}");
}

#[tokio::test]
async fn ollama_embed_and_embeddings_have_ollamas_shapes() {
    let s = start().await;
    let r = s
        .post_json(
            "/api/embed",
            json!({"model": "tiny-chat", "input": ["a b", "c"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["model"], "tiny-chat");
    assert_eq!(v["embeddings"].as_array().unwrap().len(), 2);
    assert_eq!(v["prompt_eval_count"], 3);
    assert!(v["total_duration"].as_u64().unwrap() > 0);
    let r = s
        .post_json(
            "/api/embeddings",
            json!({"model": "tiny-chat", "prompt": "a b"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let old: Value = r.json().await.unwrap();
    assert_eq!(old["embedding"], v["embeddings"][0]);
    for (route, body, needle) in [
        (
            "/api/embed",
            json!({"model": "tiny-chat"}),
            "input is required",
        ),
        (
            "/api/embed",
            json!({"model": "tiny-chat", "input": 5}),
            "string or an array",
        ),
        (
            "/api/embeddings",
            json!({"model": "tiny-chat"}),
            "prompt is required",
        ),
        ("/api/embed", json!({"input": "x"}), "model is required"),
    ] {
        let r = s.post_json(route, body.clone()).await;
        assert_eq!(r.status(), 400, "{route} {body}");
        let e: Value = r.json().await.unwrap();
        assert!(
            e["error"].as_str().unwrap().contains(needle),
            "{route}: {e}"
        );
    }
}
