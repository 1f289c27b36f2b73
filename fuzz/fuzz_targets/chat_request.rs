//! Request bodies of `POST /v1/chat/completions` and `/v1/completions`: parsing and
//! validation never panic, every rejection is a well-formed 400, and whatever passes
//! validation is within the limits the engine relies on.
#![no_main]

use ingot_api::{parse_json, ApiError, ChatCompletionRequest, CompletionRequest, Validated};
use libfuzzer_sys::fuzz_target;

fn check_error(e: &ApiError) {
    assert_eq!(e.status().as_u16(), 400, "{e:?}");
    let body: serde_json::Value = serde_json::from_str(&e.body_json()).expect("error JSON");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(body["error"]["type"], "invalid_request_error");
}

fn check_valid(v: &Validated) {
    let s = &v.request.sampling;
    assert!(!v.model.trim().is_empty());
    assert!(s.temperature.is_finite() && (0.0..=2.0).contains(&s.temperature));
    assert!(s.top_p > 0.0 && s.top_p <= 1.0, "top_p {}", s.top_p);
    assert!(s.min_p.is_finite() && (0.0..=1.0).contains(&s.min_p));
    assert!(s.repeat_penalty > 0.0 && s.repeat_penalty <= 10.0);
    assert!(s.top_k >= 0 && s.repeat_last_n >= -1);
    assert!(s.max_tokens.is_none_or(|m| m >= 1));
    assert!(s.stop.len() <= ingot_api::validate::MAX_STOP_SEQUENCES);
    assert!(s
        .stop
        .iter()
        .all(|x| !x.is_empty() && x.len() <= ingot_api::validate::MAX_STOP_BYTES));
    assert!(s.grammar.as_deref().is_none_or(|g| !g.trim().is_empty()));
}

fuzz_target!(|data: &[u8]| {
    match parse_json::<ChatCompletionRequest>(data) {
        Ok(r) => match r.validate() {
            Ok(v) => check_valid(&v),
            Err(e) => check_error(&e),
        },
        Err(e) => check_error(&e),
    }
    match parse_json::<CompletionRequest>(data) {
        Ok(r) => match r.validate() {
            Ok(v) => check_valid(&v),
            Err(e) => check_error(&e),
        },
        Err(e) => check_error(&e),
    }
});
