//! Reading responses into records: the SSE parser and its events (streamed), the JSON body
//! (non-streamed), and token counts when a server sends no usage.

use std::time::Instant;

use crate::measure::record::{CountSource, RequestRecord};

/// Incremental SSE parser state. Events are separated by a blank line; `data:` lines of one
/// event are joined with `\n`; `\r` is dropped.
#[derive(Default)]
pub struct SseParser {
    buf: Vec<u8>,
}

impl SseParser {
    /// Feeds bytes; returns the `data` payloads of every event completed by them (and the
    /// `event:` name, if any).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<(Option<String>, String)> {
        self.buf
            .extend(bytes.iter().copied().filter(|b| *b != b'\r'));
        let mut out = Vec::new();
        while let Some(pos) = find(&self.buf, b"\n\n") {
            let event: Vec<u8> = self.buf.drain(..pos + 2).collect();
            let text = String::from_utf8_lossy(&event[..pos]);
            let mut name = None;
            let mut data: Vec<&str> = Vec::new();
            for line in text.split('\n') {
                if let Some(d) = line.strip_prefix("data:") {
                    data.push(d.strip_prefix(' ').unwrap_or(d));
                } else if let Some(n) = line.strip_prefix("event:") {
                    name = Some(n.trim().to_string());
                }
            }
            if !data.is_empty() || name.is_some() {
                out.push((name, data.join("\n")));
            }
        }
        out
    }

    /// Bytes of an incomplete event.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Applies one SSE data payload to the record; returns true on `[DONE]`.
pub fn apply_sse_event(
    r: &mut RequestRecord,
    event: Option<&str>,
    data: &str,
    now_ms: f64,
) -> bool {
    let data = data.trim();
    if data == "[DONE]" {
        return true;
    }
    if data.is_empty() {
        return false;
    }
    let v: serde_json::Value = match serde_json::from_str(data) {
        Ok(v) => v,
        Err(e) => {
            r.error.get_or_insert(format!("invalid SSE data: {e}"));
            return false;
        }
    };
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        let msg = err
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| err.to_string());
        r.error.get_or_insert(format!("in-band error: {msg}"));
        return false;
    }
    if event == Some("error") {
        r.error.get_or_insert(format!("in-band error: {data}"));
        return false;
    }
    if let Some(choice) = v.get("choices").and_then(|c| c.get(0)) {
        let text = choice
            .get("delta")
            .and_then(|d| d.get("content"))
            .and_then(|c| c.as_str())
            .or_else(|| choice.get("text").and_then(|t| t.as_str()));
        if let Some(t) = text.filter(|t| !t.is_empty()) {
            if r.first_token_ms.is_none() {
                r.first_token_ms = Some(now_ms);
            }
            r.token_ms.push(now_ms);
            r.output.push_str(t);
        }
        if let Some(f) = choice.get("finish_reason").and_then(|f| f.as_str()) {
            r.finish_reason = Some(f.to_string());
        }
    }
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        let get = |k: &str| u.get(k).and_then(|x| x.as_u64()).map(|x| x as u32);
        if let Some(c) = get("completion_tokens") {
            r.completion_tokens = Some(c);
            r.count_source = CountSource::ServerUsage;
        }
        if let Some(p) = get("prompt_tokens") {
            r.prompt_tokens = Some(p);
        }
    }
    false
}

pub(crate) async fn read_sse(mut resp: reqwest::Response, t0: Instant, r: &mut RequestRecord) {
    let mut parser = SseParser::default();
    let mut done = false;
    loop {
        match resp.chunk().await {
            Ok(Some(bytes)) => {
                let now = ms(t0, Instant::now());
                for (name, data) in parser.feed(&bytes) {
                    if apply_sse_event(r, name.as_deref(), &data, now) {
                        done = true;
                    }
                }
                r.end_ms = now;
                if done {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                r.error
                    .get_or_insert(format!("stream error: {}", error_chain(&e)));
                break;
            }
        }
    }
    finish_count(r);
    if r.error.is_none() && !done {
        r.error = Some("stream ended before [DONE]".into());
    }
}

/// A non-streamed response: one JSON body. Only the end is timed; no token times exist, so
/// TTFT and ITL stay unavailable (never 0).
pub(crate) async fn read_whole(resp: reqwest::Response, t0: Instant, r: &mut RequestRecord) {
    let body = resp.bytes().await;
    r.end_ms = ms(t0, Instant::now());
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            r.error = Some(format!("response error: {}", error_chain(&e)));
            return;
        }
    };
    let v: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            r.error = Some(format!(
                "invalid JSON response ({e}): {}",
                truncate(&String::from_utf8_lossy(&body), 200)
            ));
            return;
        }
    };
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        let msg = err.get("message").and_then(|m| m.as_str());
        r.error = Some(format!(
            "error in response: {}",
            msg.map(str::to_string).unwrap_or_else(|| err.to_string())
        ));
        return;
    }
    let Some(choice) = v.get("choices").and_then(|c| c.get(0)) else {
        r.error = Some(format!(
            "response without choices: {}",
            truncate(&String::from_utf8_lossy(&body), 200)
        ));
        return;
    };
    let text = choice
        .get("message")
        .and_then(|m| m.get("content"))
        .and_then(|c| c.as_str())
        .or_else(|| choice.get("text").and_then(|t| t.as_str()))
        .unwrap_or("");
    r.output = text.to_string();
    r.finish_reason = choice
        .get("finish_reason")
        .and_then(|f| f.as_str())
        .map(str::to_string);
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        let get = |k: &str| u.get(k).and_then(|x| x.as_u64()).map(|x| x as u32);
        if let Some(c) = get("completion_tokens") {
            r.completion_tokens = Some(c);
            r.count_source = CountSource::ServerUsage;
        }
        r.prompt_tokens = get("prompt_tokens");
    }
}

pub(crate) fn finish_count(r: &mut RequestRecord) {
    if r.completion_tokens.is_none() && !r.token_ms.is_empty() {
        r.completion_tokens = Some(r.token_ms.len() as u32);
        r.count_source = CountSource::Chunks;
    }
}

/// Replaces chunk-based counts with the model's own tokenizer: for servers that send no
/// `usage`, one content chunk is not always one token (some servers batch tokens per chunk),
/// so when the model's GGUF is local its tokenizer counts the output instead.
pub fn recount_with_tokenizer(
    records: &mut [RequestRecord],
    tokenizer: &dyn ingot_core::Tokenizer,
) {
    for r in records {
        // Chunk counts, and non-streamed answers that came without usage.
        let uncounted = r.ok() && r.completion_tokens.is_none() && !r.output.is_empty();
        if r.count_source != CountSource::Chunks && !uncounted {
            continue;
        }
        if let Ok(n) = tokenizer.count(&r.output) {
            r.completion_tokens = Some(n);
            r.count_source = CountSource::Engine;
        }
    }
}

/// Milliseconds from `t0` to `t`.
pub fn ms(t0: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(t0).as_secs_f64() * 1000.0
}

pub(crate) fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.trim().to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", s[..end].trim())
}

/// The error and its causes, one line, with credentials in any URL they quote redacted
/// (reqwest's messages name the URL, user:pass@ included).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    crate::util::redact::redact_urls_in(&s)
}
