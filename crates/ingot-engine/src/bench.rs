//! In-process engine benchmark (`ingot bench engine`), mirroring llama-bench's method so the
//! numbers can be compared with llama.cpp's own tool:
//!
//! - **pp** (prompt processing): on a context of `prompt_tokens` cells, decode `prompt_tokens`
//!   random tokens (BOS first when the vocabulary adds one) in `n_batch`-sized
//!   `llama_batch_get_one` batches, then synchronise; tok/s = prompt_tokens / time.
//! - **tg** (text generation): on its own context of `gen_tokens` cells, decode `gen_tokens`
//!   single random tokens one at a time, synchronising after each; tok/s = gen_tokens / time.
//!   No sampling: llama-bench measures the model, not the sampler.
//! - Each test runs once as warm-up (pp: a full run; tg: one token), then `repetitions` times,
//!   each on a cleared KV cache. The result is the mean and the sample standard deviation of
//!   the per-repetition tok/s, exactly like llama-bench's `avg_ts`/`stdev_ts`.
//! - Defaults match llama-bench: p 512, n 128, r 5, n_batch 2048, n_ubatch 512, threads =
//!   physical cores, flash attention and KV types at llama.cpp's defaults.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use serde::{Deserialize, Serialize};

use crate::backend::{self, backend};
use crate::types::EngineError;
use crate::{cpu, gguf};

/// Parameters of [`bench_engine`]; `Default` gives llama-bench's defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchEngineParams {
    /// Default: physical cores.
    pub threads: Option<usize>,
    pub prompt_tokens: u32,
    pub gen_tokens: u32,
    pub repetitions: u32,
    pub n_batch: u32,
    pub n_ubatch: u32,
    pub gpu_layers: u32,
}

impl Default for BenchEngineParams {
    fn default() -> Self {
        Self {
            threads: None,
            prompt_tokens: 512,
            gen_tokens: 128,
            repetitions: 5,
            n_batch: 2048,
            n_ubatch: 512,
            gpu_layers: 0,
        }
    }
}

/// Mean and sample standard deviation (n - 1), with the samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MeanSd {
    pub mean: f64,
    pub sd: f64,
    pub samples: Vec<f64>,
}

impl MeanSd {
    pub fn from_samples(samples: Vec<f64>) -> Self {
        let n = samples.len() as f64;
        if samples.is_empty() {
            return Self::default();
        }
        let mean = samples.iter().sum::<f64>() / n;
        let sd = if samples.len() > 1 {
            (samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        Self { mean, sd, samples }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchEngineResult {
    pub model_path: PathBuf,
    pub threads: usize,
    pub prompt_tokens: u32,
    pub gen_tokens: u32,
    pub repetitions: u32,
    pub n_batch: u32,
    pub n_ubatch: u32,
    /// Prompt processing speed (tokens/s); no samples when `prompt_tokens` is 0.
    pub prompt_tok_s: MeanSd,
    /// Generation speed (tokens/s); no samples when `gen_tokens` is 0.
    pub gen_tok_s: MeanSd,
    pub load_ms: f64,
    pub model_size_bytes: u64,
    pub n_params: u64,
    pub system_info: String,
}

/// Runs the pp and tg tests on `model_path` (see the module docs for the method).
pub fn bench_engine(
    model_path: &Path,
    params: &BenchEngineParams,
) -> Result<BenchEngineResult, EngineError> {
    // Measure on a dedicated thread: its OpenMP worker pool dies with it, so neither a pool
    // left on the caller's thread slows down models loaded later in this process, nor the
    // other way round (see backend::release_thread_pool).
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("ingot-bench".into())
            .spawn_scoped(s, || bench_on_this_thread(model_path, params))
            .map_err(|e| EngineError::Backend(format!("cannot start the benchmark thread: {e}")))?
            .join()
            .map_err(|_| EngineError::Backend("the benchmark thread panicked".into()))?
    })
}

fn bench_on_this_thread(
    model_path: &Path,
    params: &BenchEngineParams,
) -> Result<BenchEngineResult, EngineError> {
    if params.repetitions == 0 {
        return Err(EngineError::InvalidRequest(
            "repetitions must be at least 1".into(),
        ));
    }
    if params.n_batch == 0 || params.n_ubatch == 0 {
        return Err(EngineError::InvalidRequest(
            "n_batch and n_ubatch must be at least 1".into(),
        ));
    }
    let threads = params.threads.unwrap_or_else(cpu::physical_cores).max(1);
    let summary = gguf::validate(model_path)?;
    // The same refusal as every other load: a model that cannot fit the free memory is not
    // mapped (issue 12).
    let opts = crate::LoadOptions {
        context_length: Some(params.prompt_tokens.max(params.gen_tokens).max(64)),
        batch_size: params.n_ubatch,
        ..Default::default()
    };
    let estimate = crate::memory::estimate_from_header(&summary.header, &opts);
    crate::memory::check_fits(model_path, &estimate, None)?;
    let backend = backend()?;
    let t0 = Instant::now();
    backend::clear_last_error();
    let model = LlamaModel::load_from_file(
        backend,
        ingot_core::files::native_path(model_path),
        &LlamaModelParams::default().with_n_gpu_layers(params.gpu_layers),
    )
    .map_err(|e| EngineError::InvalidModel {
        path: model_path.to_path_buf(),
        reason: backend::take_last_error().unwrap_or_else(|| e.to_string()),
    })?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);

    let prompt_tok_s = if params.prompt_tokens > 0 {
        let mut ctx = bench_context(&model, model_path, params.prompt_tokens, params, threads)?;
        // Warm-up: a full prompt run.
        test_prompt(
            &mut ctx,
            &model,
            params.prompt_tokens,
            params.n_batch,
            &mut rng,
        )?;
        let mut samples = Vec::with_capacity(params.repetitions as usize);
        for _ in 0..params.repetitions {
            ctx.clear_kv_cache();
            let t = Instant::now();
            test_prompt(
                &mut ctx,
                &model,
                params.prompt_tokens,
                params.n_batch,
                &mut rng,
            )?;
            samples.push(f64::from(params.prompt_tokens) / t.elapsed().as_secs_f64());
        }
        MeanSd::from_samples(samples)
    } else {
        MeanSd::default()
    };

    let gen_tok_s = if params.gen_tokens > 0 {
        let mut ctx = bench_context(&model, model_path, params.gen_tokens, params, threads)?;
        // Warm-up: one token.
        test_gen(&mut ctx, &model, 1, &mut rng)?;
        let mut samples = Vec::with_capacity(params.repetitions as usize);
        for _ in 0..params.repetitions {
            ctx.clear_kv_cache();
            let t = Instant::now();
            test_gen(&mut ctx, &model, params.gen_tokens, &mut rng)?;
            samples.push(f64::from(params.gen_tokens) / t.elapsed().as_secs_f64());
        }
        MeanSd::from_samples(samples)
    } else {
        MeanSd::default()
    };

    Ok(BenchEngineResult {
        model_path: model_path.to_path_buf(),
        threads,
        prompt_tokens: params.prompt_tokens,
        gen_tokens: params.gen_tokens,
        repetitions: params.repetitions,
        n_batch: params.n_batch,
        n_ubatch: params.n_ubatch,
        prompt_tok_s,
        gen_tok_s,
        load_ms,
        model_size_bytes: model.size(),
        n_params: model.n_params(),
        system_info: backend::system_info(),
    })
}

/// A context like llama-bench's for one test: `n_ctx` = the test's token count.
fn bench_context<'m>(
    model: &'m LlamaModel,
    path: &Path,
    n_ctx: u32,
    params: &BenchEngineParams,
    threads: usize,
) -> Result<LlamaContext<'m>, EngineError> {
    let threads = i32::try_from(threads).unwrap_or(i32::MAX);
    let cparams = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(params.n_batch)
        .with_n_ubatch(params.n_ubatch.min(params.n_batch))
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    model
        .new_context(backend()?, cparams)
        .map_err(|e| EngineError::Load {
            path: path.to_path_buf(),
            reason: format!("cannot create a {n_ctx}-token context: {e}"),
        })
}

fn decode_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::Backend(format!("llama_decode failed: {e}"))
}

fn test_prompt(
    ctx: &mut LlamaContext<'_>,
    model: &LlamaModel,
    n_prompt: u32,
    n_batch: u32,
    rng: &mut XorShift,
) -> Result<(), EngineError> {
    let vocab = model.vocab();
    let n_vocab = vocab.n_tokens().max(1) as u64;
    let mut tokens = vec![LlamaToken(0); n_batch.min(n_prompt) as usize];
    let mut done = 0u32;
    while done < n_prompt {
        let n = (n_prompt - done).min(n_batch) as usize;
        for (i, t) in tokens[..n].iter_mut().enumerate() {
            *t = if i == 0 && done == 0 && vocab.should_add_bos() {
                vocab.bos()
            } else {
                LlamaToken((rng.next() % n_vocab) as i32)
            };
        }
        let mut batch = LlamaBatch::get_one(&tokens[..n]).map_err(decode_err)?;
        ctx.decode(&mut batch).map_err(decode_err)?;
        done += n as u32;
    }
    ctx.synchronize();
    Ok(())
}

fn test_gen(
    ctx: &mut LlamaContext<'_>,
    model: &LlamaModel,
    n_gen: u32,
    rng: &mut XorShift,
) -> Result<(), EngineError> {
    let vocab = model.vocab();
    let n_vocab = vocab.n_tokens().max(1) as u64;
    let mut token = [if vocab.should_add_bos() {
        vocab.bos()
    } else {
        LlamaToken((rng.next() % n_vocab) as i32)
    }];
    for _ in 0..n_gen {
        {
            let mut batch = LlamaBatch::get_one(&token).map_err(decode_err)?;
            ctx.decode(&mut batch).map_err(decode_err)?;
        }
        ctx.synchronize();
        token[0] = LlamaToken((rng.next() % n_vocab) as i32);
    }
    Ok(())
}

/// xorshift64*: random token ids without a dependency (llama-bench uses `std::rand`).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_sd() {
        let m = MeanSd::from_samples(vec![2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert!((m.mean - 5.0).abs() < 1e-12);
        // Sample sd (n-1) of this classic set is sqrt(32/7).
        assert!((m.sd - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(MeanSd::from_samples(vec![3.0]).sd, 0.0);
        assert_eq!(MeanSd::from_samples(vec![]).mean, 0.0);
    }
}
