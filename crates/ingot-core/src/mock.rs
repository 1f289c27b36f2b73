//! A scripted engine for server and benchmark tests: deterministic output with configurable
//! timing and fault injection, and the same queue/slot semantics as the llama.cpp backend
//! (`n_parallel` slots, a bounded wait queue answering [`EngineError::Overloaded`], cancellation
//! via [`CancelToken`] or by dropping the stream, the same up-front errors and the same
//! [`Timings`] definitions).
//!
//! Timing model: a request that gets a slot emits its first token `ttft` after admission, then
//! one token every `inter_token`. Slots run independently (an ideal batched engine), so with
//! `n_parallel = 1` requests are served strictly one after another and queueing is visible in
//! `queue_ms`.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::slots::Shared;
use crate::stop::StopMatcher;
use crate::types::*;

pub use crate::embed::MOCK_EMBED_DIMS;

/// How the mock behaves.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Admission to first token.
    pub ttft: Duration,
    /// Between consecutive tokens.
    pub inter_token: Duration,
    /// The output, one entry per token. Generation ends with `stop` after the last one unless
    /// `ignore_eos` is set, in which case the list repeats until `max_tokens`.
    pub tokens: Vec<String>,
    /// Send [`Event::Error`] after this many tokens (fault injection).
    pub fail_after: Option<usize>,
    /// `load` fails with this error.
    pub load_error: Option<EngineError>,
    /// How long `load` takes.
    pub load_time: Duration,
    /// Per-sequence context for overflow checks.
    pub n_ctx_per_seq: u32,
    /// Whether chat requests are accepted (else [`EngineError::NoChatTemplate`]).
    pub has_chat_template: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            ttft: Duration::from_millis(20),
            inter_token: Duration::from_millis(5),
            tokens: split_words("Hello! I am a mock model and this is my scripted answer."),
            fail_after: None,
            load_error: None,
            load_time: Duration::ZERO,
            n_ctx_per_seq: 4096,
            has_chat_template: true,
        }
    }
}

impl MockConfig {
    /// Output `text`, one word (with its following whitespace) per token.
    pub fn with_text(mut self, text: &str) -> Self {
        self.tokens = split_words(text);
        self
    }

    pub fn with_timing(mut self, ttft: Duration, inter_token: Duration) -> Self {
        self.ttft = ttft;
        self.inter_token = inter_token;
        self
    }

    pub fn with_fail_after(mut self, n: usize) -> Self {
        self.fail_after = Some(n);
        self
    }
}

fn split_words(text: &str) -> Vec<String> {
    text.split_inclusive(char::is_whitespace)
        .map(str::to_string)
        .collect()
}

/// The mock [`Engine`].
#[derive(Debug, Clone, Default)]
pub struct MockEngine {
    pub config: MockConfig,
}

impl MockEngine {
    pub fn new(config: MockConfig) -> Self {
        Self { config }
    }
}

impl Engine for MockEngine {
    fn name(&self) -> &str {
        "mock"
    }

    fn load(&self, path: &Path, opts: &LoadOptions) -> Result<Arc<dyn LoadedModel>, EngineError> {
        Ok(Arc::new(MockModel::new(path, opts, self.config.clone())?))
    }
}

struct MockJob {
    prompt_tokens: u32,
    max_tokens: u32,
    stop: Vec<String>,
    ignore_eos: bool,
    logprobs: Option<u32>,
    tx: tokio::sync::mpsc::UnboundedSender<Event>,
    cancel: CancelToken,
    enqueued: Instant,
    load_ms: f64,
}

impl MockJob {
    fn abandoned(&self) -> bool {
        self.cancel.is_cancelled() || self.tx.is_closed()
    }
}

enum Cmd {
    Job(Box<MockJob>),
    Shutdown,
}

/// A "loaded" mock model with its own scheduler thread.
pub struct MockModel {
    info: ModelInfo,
    config: MockConfig,
    max_queue: usize,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Cmd>,
    thread: Mutex<Option<JoinHandle<()>>>,
    load_reported: AtomicBool,
}

impl MockModel {
    pub fn new(path: &Path, opts: &LoadOptions, config: MockConfig) -> Result<Self, EngineError> {
        let t0 = Instant::now();
        std::thread::sleep(config.load_time);
        if let Some(e) = &config.load_error {
            return Err(e.clone());
        }
        if opts.n_parallel == 0 {
            return Err(EngineError::InvalidRequest(
                "n_parallel must be at least 1".into(),
            ));
        }
        let shared = Arc::new(Shared::new(opts.n_parallel));
        let (tx, rx) = mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        let thread_config = config.clone();
        let n_parallel = opts.n_parallel;
        let thread = std::thread::Builder::new()
            .name("ingot-engine:mock".into())
            .spawn(move || MockScheduler::new(thread_config, n_parallel, thread_shared).run(rx))
            .map_err(|e| EngineError::Backend(format!("cannot start the mock scheduler: {e}")))?;
        let info = ModelInfo {
            path: path.to_path_buf(),
            architecture: "mock".into(),
            n_params: 0,
            n_ctx_train: config.n_ctx_per_seq,
            n_ctx: config.n_ctx_per_seq * opts.n_parallel as u32,
            n_ctx_per_seq: config.n_ctx_per_seq,
            n_parallel: opts.n_parallel,
            threads: opts.threads.unwrap_or(1),
            has_chat_template: config.has_chat_template || opts.chat_template.is_some(),
            load_ms: t0.elapsed().as_secs_f64() * 1e3,
            load_phases: None,
            size_bytes: 0,
            system_info: "mock".into(),
        };
        Ok(Self {
            info,
            config,
            max_queue: opts.max_queue,
            shared,
            tx,
            thread: Mutex::new(Some(thread)),
            load_reported: AtomicBool::new(false),
        })
    }

    fn render(&self, prompt: &Prompt) -> Result<String, EngineError> {
        match prompt {
            Prompt::Raw(s) => Ok(s.clone()),
            Prompt::Chat(msgs) => {
                if !self.info.has_chat_template {
                    return Err(EngineError::NoChatTemplate {
                        model: self.info.path.display().to_string(),
                    });
                }
                Ok(msgs
                    .iter()
                    .map(|m| format!("{}: {}\n", m.role, m.content))
                    .collect())
            }
            // The mock has no Jinja template: it shows the tools and calls plainly, and
            // starts a forced call like the generic format does, so scripted answers can
            // exercise the server's tool path.
            Prompt::ChatWithTools(p) => {
                if !self.info.has_chat_template {
                    return Err(EngineError::NoChatTemplate {
                        model: self.info.path.display().to_string(),
                    });
                }
                let mut out = String::new();
                if !p.tools.is_empty() {
                    let names: Vec<&str> = p.tools.iter().map(|t| t.name.as_str()).collect();
                    out.push_str(&format!("tools: {}\n", names.join(", ")));
                }
                for m in &p.messages {
                    out.push_str(&format!("{}: {}\n", m.role, m.content));
                    for c in &m.tool_calls {
                        out.push_str(&format!("call {}: {} {}\n", c.id, c.name, c.arguments));
                    }
                }
                if p.choice.is_forced() {
                    out.push_str(crate::tools::forced_prefix(
                        crate::tools::ToolFormat::Generic,
                    ));
                }
                Ok(out)
            }
        }
    }
}

impl LoadedModel for MockModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn generate(&self, req: GenerateRequest) -> Result<EventStream, EngineError> {
        let enqueued = Instant::now();
        crate::sampling::validate(&req.sampling)?;
        let text = self.render(&req.prompt)?;
        let prompt_tokens = self.count_tokens(&text)?.max(1);
        let n_ctx = self.info.n_ctx_per_seq;
        crate::sampling::validate_for_context(&req.sampling, n_ctx)?;
        let max_tokens = match req.sampling.max_tokens {
            Some(m) if u64::from(prompt_tokens) + u64::from(m) > u64::from(n_ctx) => {
                return Err(EngineError::ContextOverflow {
                    prompt_tokens,
                    max_tokens: m,
                    n_ctx,
                })
            }
            Some(m) => m,
            None if prompt_tokens >= n_ctx => {
                return Err(EngineError::ContextOverflow {
                    prompt_tokens,
                    max_tokens: 1,
                    n_ctx,
                })
            }
            None => n_ctx - prompt_tokens,
        };
        if req.sampling.ignore_eos && self.config.tokens.is_empty() {
            return Err(EngineError::InvalidRequest(
                "the mock has no tokens to repeat".into(),
            ));
        }
        self.shared.reserve(self.max_queue)?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let cancel = CancelToken::new();
        let load_ms = if self.load_reported.swap(true, Ordering::Relaxed) {
            0.0
        } else {
            self.info.load_ms
        };
        let job = MockJob {
            prompt_tokens,
            max_tokens,
            stop: req.sampling.stop,
            ignore_eos: req.sampling.ignore_eos,
            logprobs: req.sampling.logprobs,
            tx,
            cancel: cancel.clone(),
            enqueued,
            load_ms,
        };
        if self.tx.send(Cmd::Job(Box::new(job))).is_err() {
            self.shared.unreserve();
            return Err(EngineError::Unloaded);
        }
        Ok(EventStream::new(rx, cancel))
    }

    /// Whitespace-separated words: a stable, obvious stand-in for a tokenizer.
    fn count_tokens(&self, text: &str) -> Result<u32, EngineError> {
        Ok(text.split_whitespace().count() as u32)
    }

    /// Embeds like a decoder (last-token pooling) into 8 dimensions.
    fn embedding_info(&self) -> Option<crate::embed::EmbeddingInfo> {
        Some(crate::embed::EmbeddingInfo {
            dimensions: MOCK_EMBED_DIMS,
            pooling: crate::embed::Pooling::Last,
            normalized: true,
            max_tokens: self.info.n_ctx_per_seq,
            embedding_model: false,
        })
    }

    fn embed(
        &self,
        req: crate::embed::EmbedRequest,
    ) -> Result<crate::embed::Embeddings, EngineError> {
        crate::embed::scripted_embeddings(&req, self.info.n_ctx_per_seq)
    }

    fn load_state(&self) -> (usize, usize) {
        self.shared.state()
    }

    /// Running sequences hold their prompt's words plus the tokens emitted so far.
    fn kv_cache_usage(&self) -> Option<KvCacheUsage> {
        Some(KvCacheUsage {
            used_cells: self.shared.kv_used() as u64,
            total_cells: u64::from(self.info.n_ctx),
        })
    }
}

impl Drop for MockModel {
    fn drop(&mut self) {
        let _ = self.tx.send(Cmd::Shutdown);
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }
}

struct MockRun {
    job: Box<MockJob>,
    admitted: Instant,
    next_at: Instant,
    emitted: u32,
    first: Option<Instant>,
    last: Option<Instant>,
    stop: StopMatcher,
    /// Logprob entries of tokens whose text is still held back.
    pending_lp: Vec<crate::TokenLogprob>,
}

struct MockScheduler {
    config: MockConfig,
    slots: Vec<Option<MockRun>>,
    pending: VecDeque<Box<MockJob>>,
    shared: Arc<Shared>,
}

/// Upper bound on how long the mock sleeps while sequences run, so cancellation is noticed
/// quickly even with long scripted latencies.
const POLL: Duration = Duration::from_millis(5);

impl MockScheduler {
    fn new(config: MockConfig, n_parallel: usize, shared: Arc<Shared>) -> Self {
        Self {
            config,
            slots: (0..n_parallel).map(|_| None).collect(),
            pending: VecDeque::new(),
            shared,
        }
    }

    fn run(mut self, rx: mpsc::Receiver<Cmd>) {
        loop {
            let busy = !self.pending.is_empty() || self.slots.iter().any(Option::is_some);
            let cmd = if busy {
                let now = Instant::now();
                let next = self.slots.iter().flatten().map(|r| r.next_at).min();
                let wait = next
                    .map_or(POLL, |t| t.saturating_duration_since(now))
                    .min(POLL);
                match rx.recv_timeout(wait) {
                    Ok(c) => Some(c),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match rx.recv() {
                    Ok(c) => Some(c),
                    Err(_) => break,
                }
            };
            let mut shutdown = false;
            let mut take = |c: Cmd, this: &mut Self| match c {
                Cmd::Job(j) => this.pending.push_back(j),
                Cmd::Shutdown => shutdown = true,
            };
            if let Some(c) = cmd {
                take(c, &mut self);
            }
            while let Ok(c) = rx.try_recv() {
                take(c, &mut self);
            }
            if shutdown {
                break;
            }
            self.tick();
            let cells = self
                .slots
                .iter()
                .flatten()
                .map(|r| (r.job.prompt_tokens + r.emitted) as usize)
                .sum();
            self.shared.set_kv_used(cells);
        }
        for job in self.pending.drain(..) {
            self.shared.unreserve();
            let _ = job.tx.send(Event::Error(EngineError::Unloaded));
        }
        for run in self.slots.iter_mut().filter_map(Option::take) {
            self.shared.released();
            let _ = run.job.tx.send(Event::Error(EngineError::Unloaded));
        }
    }

    fn tick(&mut self) {
        let shared = &self.shared;
        self.pending.retain(|job| {
            if job.abandoned() {
                shared.unreserve();
                let _ = job.tx.send(Event::Done {
                    finish_reason: FinishReason::Cancelled,
                    usage: Usage {
                        prompt_tokens: job.prompt_tokens,
                        completion_tokens: 0,
                    },
                    timings: Timings {
                        load_ms: job.load_ms,
                        ..Default::default()
                    },
                });
                false
            } else {
                true
            }
        });
        for i in 0..self.slots.len() {
            if self.slots[i].as_ref().is_some_and(|r| r.job.abandoned()) {
                self.finish(i, FinishReason::Cancelled);
            }
        }
        for i in 0..self.slots.len() {
            if self.slots[i].is_none() {
                let Some(job) = self.pending.pop_front() else {
                    break;
                };
                self.shared.admitted();
                let now = Instant::now();
                let stop = StopMatcher::new(&job.stop);
                self.slots[i] = Some(MockRun {
                    job,
                    admitted: now,
                    next_at: now + self.config.ttft,
                    emitted: 0,
                    first: None,
                    last: None,
                    stop,
                    pending_lp: Vec::new(),
                });
            }
        }
        let now = Instant::now();
        for i in 0..self.slots.len() {
            // Emit every token that is due (catches up if the thread was descheduled).
            while self.slots[i].as_ref().is_some_and(|r| r.next_at <= now) {
                self.emit(i);
            }
        }
    }

    fn emit(&mut self, i: usize) {
        let n_tokens = self.config.tokens.len();
        let r = self.slots[i].as_mut().expect("running");
        let idx = r.emitted as usize;
        if let Some(n) = self.config.fail_after {
            if idx >= n {
                // Free the slot before the client hears about it (consistent load_state).
                let r = self.slots[i].take().expect("running");
                self.shared.released();
                let _ = r.job.tx.send(Event::Error(EngineError::Backend(format!(
                    "injected fault after {n} tokens"
                ))));
                return;
            }
        }
        if idx >= n_tokens && !r.job.ignore_eos {
            self.finish(i, FinishReason::Stop);
            return;
        }
        let now = Instant::now();
        r.first.get_or_insert(now);
        r.last = Some(now);
        r.emitted += 1;
        let piece = &self.config.tokens[idx % n_tokens.max(1)];
        if let Some(k) = r.job.logprobs {
            // A scripted token is certain: probability 1, and the only alternative.
            let bytes = piece.as_bytes().to_vec();
            let top = (k > 0)
                .then(|| crate::TopLogprob {
                    id: idx as i32,
                    token: piece.clone(),
                    bytes: bytes.clone(),
                    logprob: 0.0,
                })
                .into_iter()
                .collect();
            r.pending_lp.push(crate::TokenLogprob {
                id: idx as i32,
                token: piece.clone(),
                bytes,
                logprob: 0.0,
                top,
            });
        }
        let mut out = String::new();
        let stopped = r.stop.push(piece, &mut out);
        if !out.is_empty() {
            let _ = r.job.tx.send(Event::Token {
                text: out,
                id: idx as i32,
                logprobs: std::mem::take(&mut r.pending_lp),
            });
        }
        if stopped {
            self.finish(i, FinishReason::Stop);
        } else if r.emitted >= r.job.max_tokens {
            self.finish(i, FinishReason::Length);
        } else {
            r.next_at += self.config.inter_token;
        }
    }

    fn finish(&mut self, i: usize, reason: FinishReason) {
        let Some(mut r) = self.slots[i].take() else {
            return;
        };
        self.shared.released();
        if reason != FinishReason::Cancelled {
            let mut tail = String::new();
            r.stop.flush(&mut tail);
            if !tail.is_empty() {
                let _ = r.job.tx.send(Event::Token {
                    text: tail,
                    id: r.emitted as i32 - 1,
                    logprobs: std::mem::take(&mut r.pending_lp),
                });
            }
        }
        let ms = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64() * 1e3;
        let gen_ms = match (r.first, r.last) {
            (Some(a), Some(b)) => ms(a, b),
            _ => 0.0,
        };
        let prompt_ms = r.first.map_or(0.0, |t| ms(r.admitted, t));
        let timings = Timings {
            load_ms: r.job.load_ms,
            queue_ms: ms(r.job.enqueued, r.admitted),
            prompt_ms,
            prompt_tokens_per_s: if prompt_ms > 0.0 {
                f64::from(r.job.prompt_tokens) * 1e3 / prompt_ms
            } else {
                0.0
            },
            ttft_ms: r.first.map_or(0.0, |t| ms(r.job.enqueued, t)),
            gen_ms,
            gen_tokens_per_s: if r.emitted >= 2 && gen_ms > 0.0 {
                f64::from(r.emitted - 1) * 1e3 / gen_ms
            } else {
                0.0
            },
            cached_tokens: 0,
            ..Timings::default()
        };
        let _ = r.job.tx.send(Event::Done {
            finish_reason: reason,
            usage: Usage {
                prompt_tokens: r.job.prompt_tokens,
                completion_tokens: r.emitted,
            },
            timings,
        });
    }
}
