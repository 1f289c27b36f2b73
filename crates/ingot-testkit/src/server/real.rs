//! The real test model ([`crate::model_path`]) as a server's only model, for the real-engine
//! suites.

use std::path::PathBuf;

use ingot_server::{ModelDescriptor, ModelProvider, ProviderError, ResolvedModel};

pub use crate::model_path;

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
