//! Which judge a run uses, and building it (in-process or an endpoint).

use std::sync::Arc;

use ingot_core::{Engine, LoadOptions};

use crate::score::judge::{Judge, LocalJudge};
use crate::spec::model::{ModelFiles, ModelProvider};

/// Which model judges the `judge` checks.
#[derive(Debug, Clone)]
pub enum JudgeTarget {
    /// A catalog alias, loaded in-process with the bench's loader after the last model.
    Local { alias: String },
    /// An OpenAI-compatible endpoint.
    Endpoint {
        url: String,
        model: String,
        api_key: Option<String>,
    },
}

/// The judge's settings.
#[derive(Debug, Clone)]
pub struct JudgeSpec {
    pub target: JudgeTarget,
    /// Samples per answer; the verdict is their median.
    pub samples: usize,
    pub temperature: f32,
    pub max_tokens: u32,
}

impl JudgeSpec {
    pub fn new(target: JudgeTarget) -> Self {
        Self {
            target,
            samples: 1,
            temperature: 0.0,
            max_tokens: 160,
        }
    }
}

/// A judge that cannot judge (it failed to load): every judge check becomes a judge error.
struct BrokenJudge {
    name: String,
    error: String,
}

impl crate::score::judge::JudgeBackend for BrokenJudge {
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn complete(
        &self,
        _: Vec<crate::spec::workload::Message>,
        _: crate::score::judge::JudgeParams,
    ) -> futures_util::future::BoxFuture<'_, Result<String, String>> {
        let e = self.error.clone();
        Box::pin(async move { Err(e) })
    }
}

/// Builds the judge of a run. A judge that cannot be loaded still yields a judge whose every
/// call fails, so that its checks are counted as judge errors instead of vanishing.
pub fn build_judge(
    spec: &JudgeSpec,
    resolver: &dyn ModelProvider,
    engine: &dyn Engine,
    threads: Option<usize>,
    timeout_s: f64,
) -> crate::score::judge::Judge {
    let built = match &spec.target {
        JudgeTarget::Local { alias } => local_judge(alias, resolver, engine, threads, spec.samples),
        JudgeTarget::Endpoint {
            url,
            model,
            api_key,
        } => crate::score::judge::HttpJudge::new(url, model, api_key.clone())
            .map(|j| crate::score::judge::Judge::new(Arc::new(j), spec.samples)),
    };
    let mut judge = built.unwrap_or_else(|e| {
        let name = match &spec.target {
            JudgeTarget::Local { alias } => alias.clone(),
            JudgeTarget::Endpoint { url, model, .. } => {
                format!("{model} at {}", crate::util::redact::redact_url(url))
            }
        };
        crate::score::judge::Judge::new(
            Arc::new(BrokenJudge {
                name,
                error: crate::util::redact::redact_urls_in(&format!("judge unavailable: {e:#}")),
            }),
            1,
        )
    });
    judge.temperature = spec.temperature;
    judge.max_tokens = spec.max_tokens;
    judge.timeout_s = timeout_s;
    judge
}

/// Loads a catalog alias in-process as a judge (downloading it if needed), with the bench's
/// own loader: one sequence, `threads` threads.
pub fn local_judge(
    alias: &str,
    resolver: &dyn ModelProvider,
    engine: &dyn Engine,
    threads: Option<usize>,
    samples: usize,
) -> anyhow::Result<Judge> {
    let resolved = resolver
        .file(alias)
        .map_err(|e| anyhow::anyhow!("judge {alias}: download: {e:#}"))?;
    let opts = LoadOptions {
        threads,
        n_parallel: 1,
        chat_template: resolved.chat_template_override.clone(),
        ..LoadOptions::default()
    };
    let model = engine
        .load(&resolved.path, &opts)
        .map_err(|e| anyhow::anyhow!("judge {alias}: load: {e}"))?;
    Ok(Judge::new(Arc::new(LocalJudge::new(alias, model)), samples))
}
