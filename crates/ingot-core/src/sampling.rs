//! Checks of [`SamplingParams`] that every engine applies before a request reaches its
//! backend: the llama.cpp engine and the mock refuse exactly the same requests.

use crate::types::{EngineError, SamplingParams};

/// Rejects parameters llama.cpp would misbehave on (NaN, negative probabilities).
pub fn validate(p: &SamplingParams) -> Result<(), EngineError> {
    let bad = |m: String| Err(EngineError::InvalidRequest(m));
    if !p.temperature.is_finite() || p.temperature < 0.0 {
        return bad(format!("temperature must be >= 0, got {}", p.temperature));
    }
    if !(p.top_p > 0.0 && p.top_p <= 1.0) {
        return bad(format!("top_p must be in (0, 1], got {}", p.top_p));
    }
    if !(0.0..=1.0).contains(&p.min_p) {
        return bad(format!("min_p must be in [0, 1], got {}", p.min_p));
    }
    if !(p.repeat_penalty.is_finite() && p.repeat_penalty > 0.0) {
        return bad(format!(
            "repeat_penalty must be > 0, got {}",
            p.repeat_penalty
        ));
    }
    for (name, v) in [
        ("frequency_penalty", p.frequency_penalty),
        ("presence_penalty", p.presence_penalty),
    ] {
        if !(v.is_finite() && (-2.0..=2.0).contains(&v)) {
            return bad(format!("{name} must be between -2 and 2, got {v}"));
        }
    }
    if p.top_k < 0 {
        return bad(format!(
            "top_k must be >= 0 (0 disables it), got {}",
            p.top_k
        ));
    }
    if p.logprobs.is_some_and(|k| k > crate::MAX_TOP_LOGPROBS) {
        return bad(format!(
            "top_logprobs must be at most {}",
            crate::MAX_TOP_LOGPROBS
        ));
    }
    if p.max_tokens == Some(0) {
        return bad("max_tokens must be at least 1".into());
    }
    if p.stop.len() > 16 || p.stop.iter().any(|s| s.len() > 1024) {
        return bad("at most 16 stop strings of at most 1024 bytes each".into());
    }
    if p.repeat_last_n < -1 {
        return bad(format!(
            "repeat_last_n must be >= -1 (-1: the whole context), got {}",
            p.repeat_last_n
        ));
    }
    if let Some(g) = &p.grammar {
        // The syntax and size part; `<token>` references are checked against the model's
        // vocabulary when the sampler is built.
        crate::grammar::check(g, &|_| true).map_err(grammar_error)?;
    }
    if let Some(js) = &p.json_schema {
        if p.grammar.is_some() {
            return bad("a grammar and a JSON schema cannot be combined".into());
        }
        js.check()?;
    }
    Ok(())
}

/// The checks that depend on the model's context (issue 12: nothing size-like reaches
/// llama.cpp unbounded).
///
/// - `repeat_last_n` above the per-sequence context is refused (400) rather than clamped:
///   llama.cpp sizes the penalty's ring buffer by it (2^31 tokens held a server for 25 s
///   and doubled its memory), and no request can hold more tokens than its context, so a
///   larger value is a client error, as `max_tokens` beyond the context is. `-1` means the
///   whole context, as in llama.cpp.
/// - `top_k` above the vocabulary size is clamped by the backend's sampler (same result: it
///   keeps every token), as llama.cpp does.
/// - `max_tokens` is checked against the context by the caller (the prompt length is needed);
///   `seed` is any 64-bit value; stop strings are bounded by [`validate`].
pub fn validate_for_context(p: &SamplingParams, n_ctx_seq: u32) -> Result<(), EngineError> {
    // Unused (and so unchecked) while the penalty is off, as llama.cpp ignores it then.
    if p.has_penalties() && i64::from(p.repeat_last_n) > i64::from(n_ctx_seq) {
        return Err(EngineError::InvalidRequest(format!(
            "repeat_last_n ({}) is larger than the model's context ({n_ctx_seq} tokens per \
             sequence); use at most {n_ctx_seq}, or -1 for the whole context",
            p.repeat_last_n
        )));
    }
    Ok(())
}

/// A grammar refused by [`crate::grammar::check`] or the backend's parser.
pub fn grammar_error(msg: String) -> EngineError {
    EngineError::InvalidRequest(format!("invalid grammar: {msg}"))
}
