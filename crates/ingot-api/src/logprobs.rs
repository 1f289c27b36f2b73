//! The two OpenAI shapes of token log-probabilities, built from the engine's
//! [`TokenLogprob`] entries (see `ingot_core::logprobs` for what the values are).

use ingot_core::TokenLogprob;
use serde_json::{json, Map, Value};

/// Chat completions: `{"content": [{"token", "logprob", "bytes", "top_logprobs": [..]}],
/// "refusal": null}` (`top_logprobs` as many as the request asked for, most likely first).
pub fn chat_logprobs(entries: &[TokenLogprob]) -> Value {
    let content: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "token": e.token,
                "logprob": e.logprob,
                "bytes": e.bytes,
                "top_logprobs": e.top.iter().map(|t| json!({
                    "token": t.token,
                    "logprob": t.logprob,
                    "bytes": t.bytes,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "content": content, "refusal": null })
}

/// Legacy completions: `{"tokens", "token_logprobs", "top_logprobs": [{token: logprob}],
/// "text_offset"}`; `offset` is where the first entry's text starts in the choice's text.
pub fn completion_logprobs(entries: &[TokenLogprob], offset: usize) -> Value {
    let mut pos = offset;
    let mut text_offset = Vec::with_capacity(entries.len());
    for e in entries {
        text_offset.push(pos);
        pos += e.token.len();
    }
    let top: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut m = Map::new();
            for t in &e.top {
                // Two tokens with the same text (e.g. both render as U+FFFD) keep the likelier.
                m.entry(t.token.clone()).or_insert(json!(t.logprob));
            }
            Value::Object(m)
        })
        .collect();
    json!({
        "tokens": entries.iter().map(|e| e.token.as_str()).collect::<Vec<_>>(),
        "token_logprobs": entries.iter().map(|e| e.logprob).collect::<Vec<_>>(),
        "top_logprobs": top,
        "text_offset": text_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_core::TopLogprob;

    fn entry(token: &str, lp: f32) -> TokenLogprob {
        TokenLogprob {
            id: 1,
            token: token.into(),
            bytes: token.as_bytes().to_vec(),
            logprob: lp,
            top: vec![TopLogprob {
                id: 1,
                token: token.into(),
                bytes: token.as_bytes().to_vec(),
                logprob: lp,
            }],
        }
    }

    #[test]
    fn both_shapes() {
        let e = [entry("He", -0.5), entry("llo", -0.25)];
        let c = chat_logprobs(&e);
        assert_eq!(c["content"][1]["token"], "llo");
        assert_eq!(c["content"][0]["top_logprobs"][0]["logprob"], -0.5);
        assert_eq!(c["content"][0]["bytes"], json!([72, 101]));
        let l = completion_logprobs(&e, 3);
        assert_eq!(l["text_offset"], json!([3, 5]));
        assert_eq!(l["token_logprobs"], json!([-0.5, -0.25]));
        assert_eq!(l["top_logprobs"][1]["llo"], -0.25);
    }
}
