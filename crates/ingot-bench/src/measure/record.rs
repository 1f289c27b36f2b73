//! The raw per-request record. Every metric in a report is computed from these records and
//! nothing else; `requests.jsonl` holds them as they were measured. Quality scores are kept
//! beside the records, not in them (`crate::score::scored`); `requests.jsonl` shows them inside
//! the scored records.
//!
//! Times are milliseconds since the scenario's epoch (`t0`, a monotonic clock reading taken when
//! the scenario started; its wall-clock time is the scenario's `started` field).

use serde::{Deserialize, Serialize};

/// Where `completion_tokens` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CountSource {
    /// The server's `usage` object (`stream_options.include_usage`).
    ServerUsage,
    /// The engine's tokenizer: in-process, the engine's own count; with an endpoint that
    /// sent no usage, the model's tokenizer loaded from its local GGUF (when it is cached).
    Engine,
    /// No usage was reported: the number of content chunks (one token per chunk, as
    /// OpenAI-compatible servers stream).
    Chunks,
    /// Nothing to count (the request failed before any output).
    #[default]
    None,
}

/// One request, as measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub model: String,
    pub scenario: String,
    /// Sequence number within the scenario (warm-up included).
    pub index: u64,
    /// Round of the prompt set this request belongs to (0-based).
    pub round: u32,
    pub prompt_id: String,
    /// Warm-up requests are kept here but excluded from every metric.
    pub warmup: bool,
    /// When the schedule wanted the request sent. Closed loop: when its worker became free.
    pub intended_start_ms: f64,
    /// When the harness started sending it.
    pub send_ms: f64,
    /// First response byte (HTTP headers included), if any arrived.
    pub first_byte_ms: Option<f64>,
    /// First non-empty content token.
    pub first_token_ms: Option<f64>,
    /// Arrival time of every content token (chunk), first included.
    pub token_ms: Vec<f64>,
    /// Response complete (`[DONE]`, the engine's final event) or failed.
    pub end_ms: f64,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    pub count_source: CountSource,
    pub finish_reason: Option<String>,
    pub output: String,
    /// `None` on success. HTTP errors, in-band SSE errors, streams cut before `[DONE]`,
    /// engine errors and timeouts are all failures.
    pub error: Option<String>,
    /// Sent twice: its first attempt went out on a reused keep-alive connection that closed
    /// before any response (the keep-alive race, see [`crate::measure::conn`]), so it was sent again
    /// on a new connection. The fields above describe the second attempt; it counts as
    /// failed only if that one failed too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retried: bool,
    /// Both attempts of a retried request, in order (empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<crate::measure::conn::Attempt>,
    /// In an interleaved comparison (`--interleave`), the round this request belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interleave_round: Option<u32>,
    /// An embedding request (issue 15): its batch and what came back. Absent for
    /// generations. `prompt_tokens` holds the batch's input tokens (usage, or the engine's
    /// count); `completion_tokens` stays unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<EmbedRecord>,
}

/// What an embedding request sent and got back (the vectors themselves are not kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct EmbedRecord {
    /// Texts sent in the request.
    pub inputs: u32,
    /// Vectors received.
    pub vectors: u32,
    /// Length of the vectors (of the first; a mismatch is a sanity problem).
    pub dimensions: Option<u32>,
    /// The pooling the server or engine reported (`mean`, `cls`, `last`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooling: Option<String>,
    /// Whether the vectors were declared unit length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalized: Option<bool>,
    /// Vectors that failed the sanity check (wrong dimension, a non-finite value, not unit
    /// length although declared normalized), and the first problem.
    #[serde(default)]
    pub invalid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl RequestRecord {
    /// An empty record for a request about to be sent.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        model: &str,
        scenario: &str,
        index: u64,
        round: u32,
        prompt_id: &str,
        warmup: bool,
        intended_start_ms: f64,
        send_ms: f64,
    ) -> Self {
        Self {
            model: model.to_string(),
            scenario: scenario.to_string(),
            index,
            round,
            prompt_id: prompt_id.to_string(),
            warmup,
            intended_start_ms,
            send_ms,
            first_byte_ms: None,
            first_token_ms: None,
            token_ms: Vec::new(),
            end_ms: send_ms,
            prompt_tokens: None,
            completion_tokens: None,
            count_source: CountSource::None,
            finish_reason: None,
            output: String::new(),
            error: None,
            retried: false,
            attempts: Vec::new(),
            interleave_round: None,
            embedding: None,
        }
    }

    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// Output tokens: the reported count, else the number of content chunks.
    pub fn tokens(&self) -> u32 {
        self.completion_tokens.unwrap_or(self.token_ms.len() as u32)
    }

    /// Time to first token, from the actual send.
    pub fn ttft_ms(&self) -> Option<f64> {
        self.first_token_ms.map(|t| t - self.send_ms)
    }

    /// Time to first token, from the intended start (includes schedule lag).
    pub fn ttft_from_intended_ms(&self) -> Option<f64> {
        self.first_token_ms.map(|t| t - self.intended_start_ms)
    }

    /// End-to-end latency from the actual send.
    pub fn e2e_ms(&self) -> f64 {
        self.end_ms - self.send_ms
    }

    /// End-to-end latency from the intended start.
    pub fn e2e_from_intended_ms(&self) -> f64 {
        self.end_ms - self.intended_start_ms
    }

    /// Schedule lag: actual send − intended start.
    pub fn lag_ms(&self) -> f64 {
        self.send_ms - self.intended_start_ms
    }

    /// Inter-token latency of this request: (e2e − TTFT) / (N − 1); needs N ≥ 2.
    pub fn itl_ms(&self) -> Option<f64> {
        let n = self.tokens();
        let ttft = self.ttft_ms()?;
        (n >= 2).then(|| (self.e2e_ms() - ttft) / f64::from(n - 1))
    }

    /// Time per output token, prefill included: e2e / N; needs N ≥ 1.
    pub fn tpot_ms(&self) -> Option<f64> {
        let n = self.tokens();
        (n >= 1).then(|| self.e2e_ms() / f64::from(n))
    }

    /// Per-request decode rate: (N − 1) / (e2e − TTFT), in tokens per second.
    pub fn decode_tok_s(&self) -> Option<f64> {
        let itl = self.itl_ms()?;
        (itl > 0.0).then(|| 1000.0 / itl)
    }
}
