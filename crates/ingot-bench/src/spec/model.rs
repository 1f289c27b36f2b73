//! The models a run benchmarks, and how their files are found (the CLI's catalog implements
//! [`Resolver`]).

use std::path::PathBuf;

use crate::spec::workload::Mode;

/// A model to benchmark; `mode: None` picks chat when the model has a chat template.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub alias: String,
    pub mode: Option<Mode>,
}

/// What the resolver found for a model (in-process runs).
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    pub path: PathBuf,
    pub sha256: Option<String>,
    pub size_bytes: Option<u64>,
    pub quantization: Option<String>,
    pub parameters: Option<u64>,
    /// Whether the model has a chat template (else it is benchmarked in completion mode).
    pub chat_template: bool,
    /// A chat template from the catalog entry (`ingot model add --chat-template`) that replaces
    /// or supplies the file's own; the model is loaded with it.
    pub chat_template_override: Option<String>,
}

/// A catalog alias served by another OpenAI-compatible server (a remote adapter, `ingot model
/// add --endpoint`): in-process runs benchmark it over HTTP beside the local models.
#[derive(Debug, Clone)]
pub struct RemoteModel {
    /// The upstream base URL (with or without `/v1`).
    pub url: String,
    /// The model name the upstream knows it by.
    pub model: String,
    pub api_key: Option<String>,
}

/// Finds (downloading if needed) a model's file. Called outside any async runtime.
pub trait Resolver {
    fn resolve(&self, alias: &str) -> anyhow::Result<ResolvedModel>;
    /// The model's license (from the catalog) and whether it is permissive.
    fn license(&self, _alias: &str) -> Option<(String, bool)> {
        None
    }
    /// The model's file if it is already local, without downloading (used with an endpoint
    /// to report the disk footprint of a model served under a known alias).
    fn lookup(&self, _alias: &str) -> Option<ResolvedModel> {
        None
    }
    /// Where a remote adapter's requests go; `None` for local models.
    fn remote(&self, _alias: &str) -> Option<RemoteModel> {
        None
    }
}
