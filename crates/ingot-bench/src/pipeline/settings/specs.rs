//! The prompt set, the judge and the selection a run (or a rescore) asks for.

use std::path::Path;

use anyhow::{bail, Context as _, Result};

use super::{JudgeFlags, SelectFlags};
use crate::analyze::select::{Goal, SelectSpec};
use crate::score::judge_spec::{JudgeSpec, JudgeTarget};
use crate::spec::workload::PromptSpec;

pub(super) fn builtin_name(p: &Path) -> Option<&str> {
    let s = p.to_str()?;
    crate::spec::sets::BUILTIN_SETS.contains(&s).then_some(s)
}

/// `workshop`, `summarize`, or a prompts.json file; with the source named for the manifest.
pub fn load_prompts(p: &Path) -> Result<(Vec<PromptSpec>, String)> {
    if let Some(name) = builtin_name(p) {
        let set = crate::spec::sets::builtin_set(name).expect("listed");
        return Ok((set, format!("builtin {name}")));
    }
    let text = std::fs::read_to_string(p).with_context(|| {
        format!(
            "cannot read {} (--prompts takes {} or a file)",
            p.display(),
            crate::spec::sets::BUILTIN_SETS.join(", ")
        )
    })?;
    let prompts = crate::spec::workload::parse_prompts(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
    Ok((prompts, p.display().to_string()))
}

pub fn judge_spec(a: &JudgeFlags) -> Result<Option<JudgeSpec>> {
    let target = match (&a.judge, &a.judge_endpoint) {
        (Some(_), Some(_)) => bail!("use either --judge ALIAS or --judge-endpoint URL, not both"),
        (Some(alias), None) => JudgeTarget::Local {
            alias: alias.clone(),
        },
        (None, Some(url)) => JudgeTarget::Endpoint {
            url: url.clone(),
            model: a
                .judge_model
                .clone()
                .context("--judge-endpoint needs --judge-model NAME")?,
            api_key: a.judge_api_key.clone(),
        },
        (None, None) => return Ok(None),
    };
    let mut spec = JudgeSpec::new(target);
    if let Some(k) = a.judge_samples {
        if k == 0 {
            bail!("--judge-samples must be at least 1");
        }
        spec.samples = k;
    }
    if let Some(t) = a.judge_temperature {
        if !t.is_finite() || t < 0.0 {
            bail!("--judge-temperature must be >= 0");
        }
        spec.temperature = t;
    }
    if let Some(n) = a.judge_max_tokens {
        if n < 8 {
            bail!("--judge-max-tokens must be at least 8");
        }
        spec.max_tokens = n;
    }
    Ok(Some(spec))
}

pub fn select_spec(a: &SelectFlags) -> Result<Option<SelectSpec>> {
    if a.select.is_none() && a.maximize.is_none() && a.minimize.is_none() {
        return Ok(None);
    }
    let constraints = match &a.select {
        Some(s) => crate::analyze::select::parse_constraints(s)?,
        None => Vec::new(),
    };
    let goal = match (&a.maximize, &a.minimize) {
        (Some(_), Some(_)) => bail!("use either --maximize or --minimize"),
        (Some(m), None) => Some(Goal::maximize(m)?),
        (None, Some(m)) => Some(Goal::minimize(m)?),
        (None, None) => None,
    };
    Ok(Some(SelectSpec { constraints, goal }))
}
