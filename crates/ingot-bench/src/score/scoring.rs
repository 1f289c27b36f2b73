//! Scoring a run's outputs against the prompt set's checks.
//!
//! **Which output is scored**: per model and case, the first successful measured request
//! (warm-up excluded) of the model's first scenario. At temperature 0 the other rounds repeat
//! it; scoring one output per case keeps judge calls and annotation rows to one per case. A
//! case whose requests all failed scores 0 and fails ("no successful output").

use std::collections::HashMap;

use crate::measure::record::RequestRecord;
use crate::results::{ModelResult, QualityInfo, Results, Status};
use crate::score::judge::Judge;
use crate::score::quality::{
    aggregate, combine, evaluate, judge_result, no_output, skipped, CaseScore, CheckKind,
    ModelQuality,
};
use crate::score::scored::RecordScores;
use crate::spec::workload::PromptSpec;

/// Describes [`SCORED_OUTPUT`] in manifests.
pub const SCORED_OUTPUT: &str =
    "first successful measured request of each case in the model's first scenario";

/// The index in `records` of the output scored for (model, case), if any succeeded.
pub fn scored_index(
    records: &[RequestRecord],
    model: &str,
    scenario: &str,
    case: &str,
) -> Option<usize> {
    records
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.model == model && r.scenario == scenario && r.prompt_id == case && !r.warmup && r.ok()
        })
        .min_by_key(|(_, r)| r.index)
        .map(|(i, _)| i)
}

/// The name of a model's first scenario (where its outputs are scored).
pub fn first_scenario(m: &ModelResult) -> Option<&str> {
    m.scenarios.first().map(|s| s.scenario.name.as_str())
}

/// How judge checks are handled in a scoring pass.
pub enum JudgeMode<'a> {
    /// Call this judge.
    Judge(&'a Judge),
    /// No judge now: reuse an earlier verdict on the same rubric and answer (rescoring saved
    /// outputs), else skip the check with this note.
    Reuse(&'a str),
}

/// Scores one case on one answer. `previous` is the record's earlier score, for judge reuse.
pub async fn score_case(
    prompt: &PromptSpec,
    answer: &str,
    judge: &JudgeMode<'_>,
    previous: Option<&CaseScore>,
) -> CaseScore {
    let mut results = Vec::with_capacity(prompt.checks.len());
    for c in &prompt.checks {
        let r = match (&c.kind, judge) {
            (CheckKind::Judge { rubric, .. }, JudgeMode::Judge(j)) => {
                judge_result(c, j.judge(prompt, answer, rubric).await)
            }
            (CheckKind::Judge { rubric, .. }, JudgeMode::Reuse(note)) => {
                let earlier = previous.and_then(|p| {
                    p.checks
                        .iter()
                        .filter_map(|r| r.judge.as_ref())
                        .find(|v| &v.rubric == rubric)
                        .cloned()
                });
                match earlier {
                    Some(v) => judge_result(c, v),
                    None => skipped(c, note),
                }
            }
            _ => evaluate(c, answer),
        };
        results.push(r);
    }
    let mut case = combine(&prompt.id, prompt.threshold(), results);
    case.human = previous.and_then(|p| p.human);
    case
}

/// Scores every successful model of `results` on `prompts`' checks: writes each case's score
/// into `scores`, beside its scored record, and the model's quality onto its result. Models
/// without a scored case keep `quality: None`. `progress` is called once per judged case.
pub async fn score_run(
    results: &mut Results,
    records: &[RequestRecord],
    scores: &mut RecordScores,
    prompts: &[PromptSpec],
    judge: &JudgeMode<'_>,
    progress: &(dyn Fn(&str, &str) + Sync),
) {
    for m in results.models.iter_mut() {
        m.quality = score_model(m, records, scores, prompts, judge, progress).await;
    }
}

/// Scores one model (see [`score_run`]).
pub async fn score_model(
    m: &ModelResult,
    records: &[RequestRecord],
    scores: &mut RecordScores,
    prompts: &[PromptSpec],
    judge: &JudgeMode<'_>,
    progress: &(dyn Fn(&str, &str) + Sync),
) -> Option<ModelQuality> {
    if m.status != Status::Ok {
        return None;
    }
    let scenario = first_scenario(m)?.to_string();
    let mut cases = Vec::new();
    for p in prompts.iter().filter(|p| !p.checks.is_empty()) {
        let case = match scored_index(records, &m.alias, &scenario, &p.id) {
            None => no_output(&p.id, p.threshold(), "no successful output"),
            Some(i) => {
                if p.checks.iter().any(|c| c.is_judge()) && matches!(judge, JudgeMode::Judge(_)) {
                    progress(&m.alias, &p.id);
                }
                let previous = scores.get(i).cloned();
                let c = score_case(p, &records[i].output, judge, previous.as_ref()).await;
                scores.set(i, c.clone());
                c
            }
        };
        cases.push(case);
    }
    // Human scores of cases without checks are kept (annotations cover every case).
    if let Some(old) = &m.quality {
        for c in &old.case_scores {
            if c.human.is_some()
                && c.checks.is_empty()
                && c.error.is_none()
                && !cases.iter().any(|x| x.case == c.case)
            {
                cases.push(c.clone());
            }
        }
    }
    (!cases.is_empty()).then(|| aggregate(cases))
}

/// The manifest's description of the scoring.
pub fn quality_info(
    prompts: &[PromptSpec],
    judge: Option<&Judge>,
    checks_source: &str,
) -> Option<QualityInfo> {
    let checks: usize = prompts.iter().map(|p| p.checks.len()).sum();
    if checks == 0 {
        return None;
    }
    use sha2::{Digest, Sha256};
    Some(QualityInfo {
        cases: prompts.iter().filter(|p| !p.checks.is_empty()).count(),
        checks,
        judge_checks: prompts
            .iter()
            .flat_map(|p| p.checks.iter())
            .filter(|c| c.is_judge())
            .count(),
        judge: judge.map(|j| j.describe()),
        judge_samples: judge.map(|j| j.samples).unwrap_or(0),
        judge_temperature: judge.map(|j| j.temperature).unwrap_or(0.0),
        judge_prompt_sha256: hex::encode(Sha256::digest(
            crate::score::judge::JUDGE_SYSTEM.as_bytes(),
        )),
        scored_output: SCORED_OUTPUT.into(),
        checks_source: checks_source.to_string(),
    })
}

/// Human 1–5 scores keyed by (case, model), merged into the models' quality: each scored case
/// gets its `human` score, cases without checks get a human-only entry, and the models'
/// human means are recomputed. Returns how many scores were merged.
pub fn merge_human(results: &mut Results, scores: &HashMap<(String, String), f64>) -> usize {
    let mut merged = 0;
    for m in results.models.iter_mut() {
        let mut cases = m.quality.take().map(|q| q.case_scores).unwrap_or_default();
        for c in cases.iter_mut() {
            c.human = scores.get(&(c.case.clone(), m.alias.clone())).copied();
        }
        let mut extra: Vec<(&String, f64)> = scores
            .iter()
            .filter(|((_, model), _)| model == &m.alias)
            .filter(|((case, _), _)| !cases.iter().any(|c| &c.case == case))
            .map(|((case, _), s)| (case, *s))
            .collect();
        extra.sort_by(|a, b| a.0.cmp(b.0));
        for (case, s) in extra {
            cases.push(CaseScore {
                human: Some(s),
                ..combine(case, crate::score::quality::DEFAULT_THRESHOLD, Vec::new())
            });
        }
        cases.retain(|c| c.score.is_some() || c.human.is_some() || c.error.is_some());
        merged += cases.iter().filter(|c| c.human.is_some()).count();
        m.quality = (!cases.is_empty()).then(|| aggregate(cases));
    }
    merged
}
