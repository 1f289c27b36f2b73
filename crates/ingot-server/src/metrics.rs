//! Prometheus metrics, written in the text exposition format by hand: a handful of
//! histograms and counters do not justify the `prometheus` crate and its global registry.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ingot_core::Timings;

/// Buckets in seconds. TTFT spans prompt processing, which on CPU ranges from milliseconds to
/// a minute for long prompts.
const TTFT_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Per-token latency: ~1 ms (tiny models on GPU) to seconds (big models on slow CPUs).
const ITL_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
const E2E_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
const QUEUE_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
const LOAD_BUCKETS: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

struct Histogram {
    name: &'static str,
    help: &'static str,
    bounds: &'static [f64],
    /// (per-bucket counts, not cumulative; sum; count). A mutex is fine: a few observations
    /// per token at most, never contended enough to matter next to a decode step.
    data: Mutex<(Vec<u64>, f64, u64)>,
}

impl Histogram {
    fn new(name: &'static str, help: &'static str, bounds: &'static [f64]) -> Self {
        Self {
            name,
            help,
            bounds,
            data: Mutex::new((vec![0; bounds.len()], 0.0, 0)),
        }
    }

    fn observe(&self, v: f64) {
        if !v.is_finite() || v < 0.0 {
            return;
        }
        let mut d = self.data.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            d.0[i] += 1;
        }
        d.1 += v;
        d.2 += 1;
    }

    fn render(&self, out: &mut String) {
        let d = self.data.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} histogram", self.name);
        let mut cum = 0;
        for (b, c) in self.bounds.iter().zip(&d.0) {
            cum += c;
            let _ = writeln!(out, "{}_bucket{{le=\"{}\"}} {}", self.name, b, cum);
        }
        let _ = writeln!(out, "{}_bucket{{le=\"+Inf\"}} {}", self.name, d.2);
        let _ = writeln!(out, "{}_sum {}", self.name, d.1);
        let _ = writeln!(out, "{}_count {}", self.name, d.2);
    }
}

/// Engine-side state sampled at scrape time.
#[derive(Debug, Default, Clone)]
pub struct EngineSnapshot {
    pub loaded_models: usize,
    pub active_sequences: usize,
    pub queued_requests: usize,
    /// KV cells held by running sequences, and the cells of all loaded contexts (engines
    /// that do not report their KV cache count for neither).
    pub kv_used_cells: u64,
    pub kv_total_cells: u64,
    /// Ids of the loaded models.
    pub models: Vec<String>,
}

impl EngineSnapshot {
    /// KV-cache utilisation across loaded models, 0..=1.
    pub fn kv_usage(&self) -> f64 {
        ingot_core::KvCacheUsage {
            used_cells: self.kv_used_cells,
            total_cells: self.kv_total_cells,
        }
        .fraction()
    }
}

pub struct Metrics {
    ttft: Histogram,
    itl: Histogram,
    e2e: Histogram,
    queue: Histogram,
    load: Histogram,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    /// Speculative decoding: draft tokens decoded, and those accepted.
    draft_tokens: AtomicU64,
    draft_accepted: AtomicU64,
    requests_by_code: Mutex<BTreeMap<u16, u64>>,
    active: AtomicI64,
    /// Open client connections, and the ones closed to stay under the connection cap (an
    /// idle one replaced, or a new one refused because all were busy).
    pub(crate) connections_open: AtomicI64,
    pub(crate) connections_shed: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self {
            ttft: Histogram::new(
                "ingot_time_to_first_token_seconds",
                "Time from a request reaching the engine to its first token.",
                TTFT_BUCKETS,
            ),
            itl: Histogram::new(
                "ingot_inter_token_latency_seconds",
                "Time between successive tokens of a response, as seen by the server.",
                ITL_BUCKETS,
            ),
            e2e: Histogram::new(
                "ingot_request_duration_seconds",
                "Time from receiving a generation request to its last token (model load included).",
                E2E_BUCKETS,
            ),
            queue: Histogram::new(
                "ingot_queue_time_seconds",
                "Time a request waited for a free decoding slot.",
                QUEUE_BUCKETS,
            ),
            load: Histogram::new(
                "ingot_model_load_seconds",
                "Time to load a model into memory.",
                LOAD_BUCKETS,
            ),
            prompt_tokens: AtomicU64::new(0),
            completion_tokens: AtomicU64::new(0),
            draft_tokens: AtomicU64::new(0),
            draft_accepted: AtomicU64::new(0),
            requests_by_code: Mutex::new(BTreeMap::new()),
            active: AtomicI64::new(0),
            connections_open: AtomicI64::new(0),
            connections_shed: AtomicU64::new(0),
        }
    }

    pub fn record_status(&self, code: u16) {
        *self
            .requests_by_code
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(code)
            .or_default() += 1;
    }

    pub fn observe_itl(&self, secs: f64) {
        self.itl.observe(secs);
    }

    pub fn observe_load(&self, secs: f64) {
        self.load.observe(secs);
    }

    /// A generation finished (not cancelled): record its engine timings and token counts.
    pub fn observe_done(
        &self,
        timings: &Timings,
        prompt_tokens: u32,
        completion_tokens: u32,
        e2e_secs: f64,
    ) {
        self.ttft.observe(timings.ttft_ms / 1000.0);
        self.queue.observe(timings.queue_ms / 1000.0);
        self.e2e.observe(e2e_secs);
        self.prompt_tokens
            .fetch_add(prompt_tokens as u64, Ordering::Relaxed);
        self.completion_tokens
            .fetch_add(completion_tokens as u64, Ordering::Relaxed);
        self.draft_tokens
            .fetch_add(u64::from(timings.draft_n), Ordering::Relaxed);
        self.draft_accepted
            .fetch_add(u64::from(timings.draft_n_accepted), Ordering::Relaxed);
    }

    /// Counts a generation request as active until the guard drops (for streams: until the
    /// body is finished or the client goes away).
    pub fn active_guard(self: &Arc<Self>) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::SeqCst);
        ActiveGuard(self.clone())
    }

    pub fn active(&self) -> i64 {
        self.active.load(Ordering::SeqCst)
    }

    pub fn render(&self, engine: EngineSnapshot) -> String {
        let mut out = String::with_capacity(8192);
        for h in [&self.ttft, &self.itl, &self.e2e, &self.queue, &self.load] {
            h.render(&mut out);
        }
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        let gauge = |out: &mut String, name: &str, help: &str, v: i64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        counter(
            &mut out,
            "ingot_prompt_tokens_total",
            "Prompt tokens processed.",
            self.prompt_tokens.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "ingot_completion_tokens_total",
            "Completion tokens generated.",
            self.completion_tokens.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "ingot_draft_tokens_total",
            "Speculative decoding: draft tokens decoded to be verified.",
            self.draft_tokens.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "ingot_draft_tokens_accepted_total",
            "Speculative decoding: draft tokens accepted (output tokens that needed no decode step of their own).",
            self.draft_accepted.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP ingot_requests_total HTTP requests by status code."
        );
        let _ = writeln!(out, "# TYPE ingot_requests_total counter");
        for (code, n) in self
            .requests_by_code
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(out, "ingot_requests_total{{code=\"{code}\"}} {n}");
        }
        gauge(
            &mut out,
            "ingot_requests_active",
            "Generation requests in progress (loading, queued or decoding).",
            self.active(),
        );
        gauge(
            &mut out,
            "ingot_requests_queued",
            "Requests waiting for a decoding slot.",
            engine.queued_requests as i64,
        );
        gauge(
            &mut out,
            "ingot_sequences_active",
            "Sequences the engine is decoding.",
            engine.active_sequences as i64,
        );
        gauge(
            &mut out,
            "ingot_connections_open",
            "Client connections open.",
            self.connections_open.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "ingot_connections_shed_total",
            "Connections closed to stay under --max-connections (the longest-idle one, or a new one when all were busy).",
            self.connections_shed.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "ingot_models_loaded",
            "Models in memory.",
            engine.loaded_models as i64,
        );
        render_gateway_gauges(&mut out, &engine);
        out
    }
}

/// The gauges an inference gateway's endpoint picker scrapes (the Gateway API Inference
/// Extension's model server protocol, named after vLLM's `vllm:*` gauges): requests waiting
/// for a decoding slot, requests decoding, KV-cache utilisation (0..=1) and one series per
/// loaded model. Unlabelled sums over the loaded models, so a picker needs no label filter.
fn render_gateway_gauges(out: &mut String, engine: &EngineSnapshot) {
    let _ = writeln!(
        out,
        "# HELP ingot:num_requests_waiting Requests waiting for a decoding slot (all loaded models).\n# TYPE ingot:num_requests_waiting gauge\ningot:num_requests_waiting {}",
        engine.queued_requests
    );
    let _ = writeln!(
        out,
        "# HELP ingot:num_requests_running Requests being decoded (all loaded models).\n# TYPE ingot:num_requests_running gauge\ningot:num_requests_running {}",
        engine.active_sequences
    );
    let _ = writeln!(
        out,
        "# HELP ingot:kv_cache_usage_perc KV-cache utilisation of running sequences, 0 to 1 (1 = full).\n# TYPE ingot:kv_cache_usage_perc gauge\ningot:kv_cache_usage_perc {}",
        engine.kv_usage()
    );
    let _ = writeln!(
        out,
        "# HELP ingot:model_loaded A loaded model (value 1), by id.\n# TYPE ingot:model_loaded gauge"
    );
    for m in &engine.models {
        let _ = writeln!(
            out,
            "ingot:model_loaded{{model_name=\"{}\"}} 1",
            escape_label(m)
        );
    }
}

/// Prometheus label values escape backslash, quote and newline.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub struct ActiveGuard(Arc<Metrics>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_with_inf() {
        let m = Metrics::new();
        m.observe_itl(0.003);
        m.observe_itl(0.003);
        m.observe_itl(100.0);
        let text = m.render(EngineSnapshot::default());
        assert!(text.contains("ingot_inter_token_latency_seconds_bucket{le=\"0.0025\"} 0"));
        assert!(text.contains("ingot_inter_token_latency_seconds_bucket{le=\"0.005\"} 2"));
        assert!(text.contains("ingot_inter_token_latency_seconds_bucket{le=\"2.5\"} 2"));
        assert!(text.contains("ingot_inter_token_latency_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("ingot_inter_token_latency_seconds_count 3"));
    }

    #[test]
    fn gateway_gauges_carry_vllm_style_names() {
        let snap = EngineSnapshot {
            loaded_models: 1,
            active_sequences: 4,
            queued_requests: 3,
            kv_used_cells: 1024,
            kv_total_cells: 4096,
            models: vec!["a\"b".into()],
        };
        let text = Metrics::new().render(snap);
        assert!(text.contains("\ningot:num_requests_waiting 3\n"), "{text}");
        assert!(text.contains("\ningot:num_requests_running 4\n"));
        assert!(text.contains("\ningot:kv_cache_usage_perc 0.25\n"));
        assert!(text.contains("ingot:model_loaded{model_name=\"a\\\"b\"} 1"));
        let idle = Metrics::new().render(EngineSnapshot::default());
        assert!(idle.contains("\ningot:kv_cache_usage_perc 0\n"), "{idle}");
    }

    #[test]
    fn draft_counters_sum_the_timings_of_finished_requests() {
        let m = Metrics::new();
        let t = |n, a| Timings {
            draft_n: n,
            draft_n_accepted: a,
            ..Timings::default()
        };
        m.observe_done(&t(10, 7), 20, 15, 0.1);
        m.observe_done(&t(4, 0), 20, 5, 0.1);
        let text = m.render(EngineSnapshot::default());
        assert!(text.contains("\ningot_draft_tokens_total 14\n"), "{text}");
        assert!(text.contains("\ningot_draft_tokens_accepted_total 7\n"));
        assert!(text.contains("# TYPE ingot_draft_tokens_accepted_total counter"));
    }

    #[test]
    fn active_guard_counts() {
        let m = Arc::new(Metrics::new());
        let g = m.active_guard();
        assert_eq!(m.active(), 1);
        drop(g);
        assert_eq!(m.active(), 0);
        m.record_status(200);
        m.record_status(200);
        assert!(m
            .render(EngineSnapshot::default())
            .contains("ingot_requests_total{code=\"200\"} 2"));
    }
}
