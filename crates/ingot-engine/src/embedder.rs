//! Embeddings on llama.cpp (issue 15): a worker thread per model owns an embeddings context
//! (`embeddings = true`, the model's pooling, or last-token pooling for a decoder) and packs
//! the inputs of every waiting request into shared batches.
//!
//! - Inputs are tokenized and bounded on the caller's thread ([`Embedder::embed`]), so bad
//!   input never reaches the worker.
//! - The worker takes sequences from the waiting requests in turn (round robin), so a request
//!   of 2,048 inputs does not hold back a one-line request that arrives after it: each batch
//!   carries the newcomer's inputs too.
//! - An encoder (BERT) attends to the whole input at once, so each input must fit one
//!   micro-batch: its `n_ubatch` equals `n_batch` and bounds the tokens per input. A decoder
//!   keeps a KV cache, which is cleared between batches.

use std::num::NonZeroU32;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use ingot_core::embed::{self, EmbedInput, EmbedRequest, EmbeddingInfo, Embeddings, Pooling};
use ingot_core::{CancelToken, EngineError};

use crate::backend::backend;

/// Most sequences one batch holds (llama.cpp allows 256 per context).
const MAX_SEQS_PER_BATCH: u32 = 64;

/// Tokens per batch, which also bounds one encoder input.
fn batch_tokens(n_ctx_train: u32) -> u32 {
    n_ctx_train.clamp(512, 2048)
}

/// How a model embeds, decided at load.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EmbedConfig {
    pub info: EmbeddingInfo,
    pub threads: usize,
    /// The pooling as llama.cpp's context parameter.
    llama_pooling: LlamaPoolingType,
}

impl EmbedConfig {
    /// From the GGUF: `pooling_type` (`{arch}.pooling_type`, llama.cpp's numbers) makes an
    /// embedding model; without it a decoder embeds with last-token pooling. Normalization
    /// follows `ingot.embedding.normalize` (written by `ingot model import` from the
    /// sentence-transformers modules), else on, as OpenAI, Ollama and llama-server return
    /// unit vectors.
    pub fn new(model: &LlamaModel, pooling_type: Option<u64>, threads: usize) -> Option<Self> {
        let (pooling, embedding_model) = match pooling_type {
            Some(n) => (Pooling::from_llama(n)?, true),
            None => (Pooling::Last, false),
        };
        let normalized = model
            .meta_val_str("ingot.embedding.normalize")
            .map(|v| v != "false")
            .unwrap_or(true);
        let dimensions = u32::try_from(model.n_embd()).ok().filter(|d| *d > 0)?;
        let llama_pooling = match pooling {
            Pooling::Mean => LlamaPoolingType::Mean,
            Pooling::Cls => LlamaPoolingType::Cls,
            Pooling::Last => LlamaPoolingType::Last,
        };
        Some(Self {
            info: EmbeddingInfo {
                dimensions,
                pooling,
                normalized,
                max_tokens: batch_tokens(model.n_ctx_train()).min(model.n_ctx_train().max(1)),
                embedding_model,
            },
            threads,
            llama_pooling,
        })
    }
}

/// One tokenized request waiting in the worker.
struct Job {
    inputs: Vec<Vec<LlamaToken>>,
    reply: mpsc::SyncSender<Result<(Vec<Vec<f32>>, f64), EngineError>>,
    cancel: CancelToken,
}

/// Embeds for one loaded model; the worker thread starts on the first request.
pub(crate) struct Embedder {
    cfg: EmbedConfig,
    model: Arc<LlamaModel>,
    worker: Mutex<Option<(mpsc::Sender<Job>, JoinHandle<()>)>>,
}

impl Embedder {
    pub fn new(model: Arc<LlamaModel>, cfg: EmbedConfig) -> Self {
        Self {
            cfg,
            model,
            worker: Mutex::new(None),
        }
    }

    pub fn info(&self) -> EmbeddingInfo {
        self.cfg.info
    }

    /// Checks and tokenizes `req` here, then waits for the worker's vectors.
    pub fn embed(&self, req: EmbedRequest) -> Result<Embeddings, EngineError> {
        let vocab = self.model.vocab();
        embed::check_request(&req, u32::try_from(vocab.n_tokens()).unwrap_or(0))?;
        let max = self.cfg.info.max_tokens;
        let mut inputs = Vec::with_capacity(req.inputs.len());
        let (mut prompt_tokens, mut truncated) = (0u64, 0usize);
        for (i, input) in req.inputs.iter().enumerate() {
            let mut ids: Vec<i32> = match input {
                EmbedInput::Tokens(t) => t.clone(),
                EmbedInput::Text(text) => {
                    // Bounded before tokenizing: a token covers at least one byte of a
                    // normalized text, and even WordPiece keeps at most one token per
                    // byte, so 64 bytes per allowed token is generous.
                    if text.len() as u64 > u64::from(max) * 64 && !req.truncate {
                        return Err(EngineError::InvalidRequest(format!(
                            "input[{i}] is {} bytes; this model embeds at most {max} tokens per input",
                            text.len()
                        )));
                    }
                    let cut = text.len().min(max as usize * 64);
                    let text = truncate_at_char(text, cut);
                    crate::tokens::tokenize(&self.model, text, true)?
                        .into_iter()
                        .map(|t| t.0)
                        .collect()
                }
            };
            if ids.is_empty() {
                return Err(EngineError::InvalidRequest(format!(
                    "input[{i}] has no tokens: there is nothing to embed"
                )));
            }
            let last = *ids.last().unwrap_or(&-1);
            let keep_last = (last == vocab.sep().0 || last == vocab.eos().0).then_some(last);
            if embed::fit_tokens(i, &mut ids, max, req.truncate, keep_last)? {
                truncated += 1;
            }
            prompt_tokens += ids.len() as u64;
            inputs.push(ids.into_iter().map(LlamaToken).collect());
        }
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Job {
            inputs,
            reply: tx,
            cancel: req.cancel.clone(),
        })?;
        let (mut vectors, compute_ms) = rx.recv().map_err(|_| EngineError::Unloaded)??;
        if self.cfg.info.normalized {
            vectors.iter_mut().for_each(|v| embed::normalize(v));
        }
        Ok(Embeddings {
            vectors,
            prompt_tokens,
            pooling: self.cfg.info.pooling,
            normalized: self.cfg.info.normalized,
            truncated,
            compute_ms,
        })
    }

    fn send(&self, job: Job) -> Result<(), EngineError> {
        let mut guard = self.worker.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(self.start()?);
        }
        let (tx, _) = guard.as_ref().expect("started above");
        tx.send(job).map_err(|_| EngineError::Unloaded)
    }

    /// Starts the worker and waits until its context exists (or says why it does not).
    fn start(&self) -> Result<(mpsc::Sender<Job>, JoinHandle<()>), EngineError> {
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let model = Arc::clone(&self.model);
        let cfg = self.cfg;
        let handle = std::thread::Builder::new()
            .name("ingot-embed".into())
            .spawn(move || worker(model, cfg, rx, ready_tx))
            .map_err(|e| EngineError::Backend(format!("cannot start the embedding thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok((tx, handle)),
            Ok(Err(e)) => {
                let _ = handle.join();
                Err(e)
            }
            Err(_) => {
                let _ = handle.join();
                Err(EngineError::Backend(
                    "the embedding thread died while creating its context".into(),
                ))
            }
        }
    }
}

impl Drop for Embedder {
    fn drop(&mut self) {
        let taken = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((tx, handle)) = taken {
            drop(tx);
            let _ = handle.join();
        }
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncate_at_char(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A request in progress inside the worker.
struct Active {
    job: Job,
    next: usize,
    vectors: Vec<Option<Vec<f32>>>,
    started: Instant,
    compute_ms: f64,
    failed: Option<EngineError>,
}

fn worker(
    model: Arc<LlamaModel>,
    cfg: EmbedConfig,
    rx: mpsc::Receiver<Job>,
    ready: mpsc::SyncSender<Result<(), EngineError>>,
) {
    let backend = match backend() {
        Ok(b) => b,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let n_batch = cfg.info.max_tokens.max(1);
    let threads = i32::try_from(cfg.threads.max(1)).unwrap_or(i32::MAX);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_batch))
        .with_n_batch(n_batch)
        .with_n_ubatch(n_batch)
        .with_n_seq_max(MAX_SEQS_PER_BATCH)
        .with_embeddings(true)
        .with_pooling_type(cfg.llama_pooling)
        // One KV cache for all sequences: a decoder's single long input may use all of it
        // (split per sequence, each would get n_batch / 64 cells).
        .with_kv_unified(true)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    crate::backend::clear_last_error();
    let mut ctx = match model.new_context(backend, params) {
        Ok(c) => c,
        Err(e) => {
            let why = crate::backend::take_last_error().unwrap_or_else(|| e.to_string());
            let _ = ready.send(Err(EngineError::Backend(format!(
                "cannot create an embeddings context: {why}"
            ))));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    // One sequence id per token.
    let mut batch = LlamaBatch::new(n_batch as usize, 1);
    let mut active: Vec<Active> = Vec::new();
    loop {
        // Block only when idle; otherwise take whatever arrived since the last batch.
        if active.is_empty() {
            match rx.recv() {
                Ok(job) => active.push(Active::new(job)),
                Err(_) => return,
            }
        }
        while let Ok(job) = rx.try_recv() {
            active.push(Active::new(job));
        }
        active.retain(|a| !a.job.cancel.is_cancelled());
        // Round robin: one input from each request in turn while the batch has room.
        batch.clear();
        let mut members: Vec<(usize, usize)> = Vec::new(); // (active index, input index)
        let mut used = 0usize;
        let mut progress = true;
        while progress && members.len() < MAX_SEQS_PER_BATCH as usize {
            progress = false;
            for (ai, a) in active.iter_mut().enumerate() {
                if a.next >= a.job.inputs.len() || members.len() >= MAX_SEQS_PER_BATCH as usize {
                    continue;
                }
                let toks = &a.job.inputs[a.next];
                if used + toks.len() > n_batch as usize {
                    continue;
                }
                let seq = members.len() as i32;
                for (pos, t) in toks.iter().enumerate() {
                    if batch.add(*t, pos as i32, &[seq], true).is_err() {
                        // Sized above; unreachable, but never panic on the engine thread.
                        break;
                    }
                }
                used += toks.len();
                members.push((ai, a.next));
                a.next += 1;
                progress = true;
            }
        }
        if members.is_empty() {
            continue;
        }
        ctx.clear_kv_cache();
        let t0 = Instant::now();
        let decoded = ctx.decode(&mut batch);
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        match decoded {
            Ok(()) => {
                for (seq, (ai, ii)) in members.iter().enumerate() {
                    let a = &mut active[*ai];
                    match ctx.embeddings_seq_ith(seq as i32) {
                        Ok(v) => a.vectors[*ii] = Some(v.to_vec()),
                        Err(_) => {
                            a.failed.get_or_insert(EngineError::Backend(
                                "llama.cpp returned no pooled embedding".into(),
                            ));
                        }
                    }
                }
            }
            Err(e) => {
                let why = crate::backend::take_last_error().unwrap_or_else(|| e.to_string());
                for (ai, _) in &members {
                    active[*ai]
                        .failed
                        .get_or_insert(EngineError::Backend(format!("embedding failed: {why}")));
                }
            }
        }
        let mut touched: Vec<usize> = members.iter().map(|(ai, _)| *ai).collect();
        touched.dedup();
        for ai in &touched {
            active[*ai].compute_ms += ms;
        }
        // Answer the finished (or failed) requests.
        let mut i = 0;
        while i < active.len() {
            let a = &active[i];
            if a.failed.is_some() || a.next >= a.job.inputs.len() {
                let a = active.remove(i);
                a.finish();
            } else {
                i += 1;
            }
        }
    }
}

impl Active {
    fn new(job: Job) -> Self {
        let n = job.inputs.len();
        Self {
            job,
            next: 0,
            vectors: vec![None; n],
            started: Instant::now(),
            compute_ms: 0.0,
            failed: None,
        }
    }

    fn finish(self) {
        let result = match self.failed {
            Some(e) => Err(e),
            None => {
                let vectors: Option<Vec<Vec<f32>>> = self.vectors.into_iter().collect();
                vectors.map(|v| (v, self.compute_ms)).ok_or_else(|| {
                    EngineError::Backend("an input was left without an embedding".into())
                })
            }
        };
        tracing::debug!(
            inputs = self.job.inputs.len(),
            ms = self.started.elapsed().as_secs_f64() * 1e3,
            "embedded"
        );
        let _ = self.job.reply.send(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_on_a_character_boundary() {
        assert_eq!(truncate_at_char("héllo", 2), "h");
        assert_eq!(truncate_at_char("héllo", 3), "hé");
        assert_eq!(truncate_at_char("abc", 10), "abc");
    }

    #[test]
    fn batches_hold_at_least_the_training_context_up_to_2048() {
        assert_eq!(batch_tokens(128), 512);
        assert_eq!(batch_tokens(512), 512);
        assert_eq!(batch_tokens(8192), 2048);
    }
}
