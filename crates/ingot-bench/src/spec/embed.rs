//! The embedding workload (issue 15): which models get it, how many texts each request
//! carries, and which texts.
//!
//! An embedding model is benchmarked with batches of texts sent to its `embed()` (in-process)
//! or to `POST /v1/embeddings` (an endpoint) instead of chat generations. A model is one when
//! its catalog capabilities contain `embedding`, when the run says so for every model
//! (`--embeddings`, `kind = "embeddings"` in bench.toml: what an endpoint needs, as the
//! server's catalog is not this one), or when it is named in `--embedding-models`.
//!
//! The inputs are the texts of the run's prompt set (each prompt's messages joined, as in
//! completion mode), cycled: request `i` carries texts `i·B, i·B + 1, ...` (mod the set's
//! size), B the batch size. `--prompts summarize` gives twelve documents; a `--dataset` file
//! gives its own.

use std::sync::Arc;

use crate::spec::workload::PromptSpec;

/// Texts per request when none is given.
pub const DEFAULT_EMBED_BATCH: usize = 16;

/// Most texts one request may carry (OpenAI's limit for `/v1/embeddings`, the engine's too).
pub const MAX_EMBED_BATCH: usize = ingot_core::embed::MAX_EMBED_INPUTS;

/// The embedding workload's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedSpec {
    /// Texts per request.
    pub batch: usize,
    /// Every model of the run is an embedding model (`--embeddings`).
    pub all: bool,
    /// These models are embedding models, whatever the catalog says (`--embedding-models`).
    pub models: Vec<String>,
}

impl Default for EmbedSpec {
    fn default() -> Self {
        Self {
            batch: DEFAULT_EMBED_BATCH,
            all: false,
            models: Vec::new(),
        }
    }
}

impl EmbedSpec {
    /// Whether `alias` gets the embedding workload; `catalog_says` is whether its catalog
    /// capabilities contain `embedding`.
    pub fn is_embedding(&self, alias: &str, catalog_says: bool) -> bool {
        self.all || catalog_says || self.models.iter().any(|m| m == alias)
    }
}

/// The texts requests are made of: one per prompt, its messages joined; empty ones left out
/// (an engine refuses an empty input).
pub fn embedding_texts(prompts: &[Arc<PromptSpec>]) -> Vec<Arc<str>> {
    prompts
        .iter()
        .map(|p| p.raw_text())
        .filter(|t| !t.trim().is_empty())
        .map(Arc::from)
        .collect()
}

/// The texts of request `index`: `batch` of them, from `index × batch` on, cycling.
pub fn batch_for(texts: &[Arc<str>], index: u64, batch: usize) -> Vec<Arc<str>> {
    if texts.is_empty() {
        return Vec::new();
    }
    let n = texts.len() as u64;
    let start = index.wrapping_mul(batch as u64);
    (0..batch as u64)
        .map(|k| texts[((start + k) % n) as usize].clone())
        .collect()
}

/// Requests in one pass over the texts (at least 1): a "round" of the embedding workload.
pub fn requests_per_round(texts: usize, batch: usize) -> u64 {
    texts.div_ceil(batch.max(1)).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cycle_over_the_texts() {
        let t: Vec<Arc<str>> = ["a", "b", "c"].iter().map(|s| Arc::from(*s)).collect();
        let b = |i| {
            batch_for(&t, i, 2)
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(b(0), ["a", "b"]);
        assert_eq!(b(1), ["c", "a"]);
        assert_eq!(b(2), ["b", "c"]);
        assert_eq!(batch_for(&t, 0, 5).len(), 5);
        assert!(batch_for(&[], 0, 4).is_empty());
        assert_eq!(requests_per_round(12, 16), 1);
        assert_eq!(requests_per_round(33, 16), 3);
    }

    #[test]
    fn which_models_embed() {
        let s = EmbedSpec {
            models: vec!["e".into()],
            ..EmbedSpec::default()
        };
        assert!(s.is_embedding("e", false));
        assert!(s.is_embedding("x", true));
        assert!(!s.is_embedding("x", false));
        let all = EmbedSpec {
            all: true,
            ..EmbedSpec::default()
        };
        assert!(all.is_embedding("x", false));
    }
}
