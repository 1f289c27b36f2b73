//! Quality: checks carried by the cases of a prompt file, scored on the outputs of the same run.
//!
//! A case's checks each score 0..1 (most are pass/fail; `contains` with several values gives
//! partial credit; a judge's 1–5 verdict maps to (s − 1)/4). The **case score** is the weighted
//! mean of its checks' scores, shown as well on the 1–5 scale (1 + 4·score). A case **passes**
//! when its score reaches its threshold and every `required` check passes; a judge error never
//! passes. A model's **quality** is the mean case score, with a percentile-bootstrap 95 % CI
//! over the cases (the same bootstrap as the latency statistics).
//!
//! Judge checks are skipped (left out of the mean, and reported as skipped) when the run has no
//! judge; they are never counted as passed.

pub use crate::results::quality::{HumanScores, ModelQuality};
pub use crate::spec::checks::*;

use serde_json::Value;

/// 1 + 4·s: a 0..1 score on the 1–5 scale.
pub fn to_5(s: f64) -> f64 {
    1.0 + 4.0 * s
}

/// An answer that is not JSON (a `json` or `json_schema` check fails with it).
#[derive(Debug, thiserror::Error)]
#[error("not JSON: {0}")]
pub struct NotJson(#[source] pub serde_json::Error);

/// The answer as JSON: trimmed, with a surrounding Markdown code fence removed.
pub fn parse_json_answer(output: &str) -> Result<Value, NotJson> {
    let t = output.trim();
    let t = match t.strip_prefix("```") {
        Some(rest) => {
            let rest = rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
            rest.trim_end().strip_suffix("```").unwrap_or(rest).trim()
        }
        None => t,
    };
    serde_json::from_str(t).map_err(NotJson)
}

fn word_regex(value: &str, ignore_case: bool) -> regex::Regex {
    let p = format!(
        "{}\\b{}\\b",
        if ignore_case { "(?i)" } else { "" },
        regex::escape(value)
    );
    regex::Regex::new(&p).unwrap_or_else(|_| regex::Regex::new("$^").expect("valid"))
}

fn found(output: &str, value: &str, ignore_case: bool, whole_word: bool) -> bool {
    if whole_word {
        return word_regex(value, ignore_case).is_match(output);
    }
    if ignore_case {
        output.to_lowercase().contains(&value.to_lowercase())
    } else {
        output.contains(value)
    }
}

fn bool_result(c: &Check, ok: bool, detail: impl FnOnce() -> String) -> CheckResult {
    CheckResult {
        check: c.kind.type_name().into(),
        label: c.kind.label(),
        weight: c.weight,
        required: c.required,
        score: Some(if ok { 1.0 } else { 0.0 }),
        passed: ok,
        skipped: false,
        detail: (!ok).then(detail),
        judge: None,
    }
}

/// Scores one non-judge check on an answer. Judge checks go through [`judge_result`].
pub fn evaluate(c: &Check, output: &str) -> CheckResult {
    match &c.kind {
        CheckKind::Contains {
            values,
            any,
            ignore_case,
            whole_word,
        } => {
            let missing: Vec<&String> = values
                .iter()
                .filter(|v| !found(output, v, *ignore_case, *whole_word))
                .collect();
            let hit = values.len() - missing.len();
            let (score, passed) = if *any {
                let ok = hit > 0;
                (if ok { 1.0 } else { 0.0 }, ok)
            } else {
                (hit as f64 / values.len() as f64, missing.is_empty())
            };
            CheckResult {
                score: Some(score),
                passed,
                detail: (!passed).then(|| {
                    format!(
                        "missing: {}",
                        missing
                            .iter()
                            .map(|s| format!("\"{s}\""))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }),
                ..bool_result(c, passed, String::new)
            }
        }
        CheckKind::NotContains { values, whole_word } => {
            let present: Vec<&String> = values
                .iter()
                .filter(|v| found(output, v, true, *whole_word))
                .collect();
            bool_result(c, present.is_empty(), || {
                format!(
                    "contains: {}",
                    present
                        .iter()
                        .map(|s| format!("\"{s}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        }
        CheckKind::Regex { pattern } => match regex::Regex::new(pattern) {
            Ok(re) => bool_result(c, re.is_match(output), || "no match".into()),
            Err(e) => bool_result(c, false, || format!("invalid pattern: {e}")),
        },
        CheckKind::Equals { value, ignore_case } => {
            let (a, b) = (output.trim(), value.trim());
            let ok = if *ignore_case {
                a.to_lowercase() == b.to_lowercase()
            } else {
                a == b
            };
            bool_result(c, ok, || "differs".into())
        }
        CheckKind::MaxWords(n) => {
            let w = word_count(output);
            bool_result(c, w <= *n, || format!("{w} words > {n}"))
        }
        CheckKind::MinWords(n) => {
            let w = word_count(output);
            bool_result(c, w >= *n, || format!("{w} words < {n}"))
        }
        CheckKind::MaxChars(n) => {
            let k = output.trim().chars().count();
            bool_result(c, k <= *n, || format!("{k} characters > {n}"))
        }
        CheckKind::Json => match parse_json_answer(output) {
            Ok(_) => bool_result(c, true, String::new),
            Err(e) => bool_result(c, false, || e.to_string()),
        },
        CheckKind::JsonSchema { schema } => match parse_json_answer(output) {
            Err(e) => bool_result(c, false, || e.to_string()),
            Ok(v) => match jsonschema::validator_for(schema) {
                Err(e) => bool_result(c, false, || format!("invalid schema: {e}")),
                Ok(validator) => {
                    let errors: Vec<String> = validator
                        .iter_errors(&v)
                        .take(3)
                        .map(|e| format!("{e} at {}", e.instance_path))
                        .collect();
                    bool_result(c, errors.is_empty(), || errors.join("; "))
                }
            },
        },
        CheckKind::Judge { .. } => skipped(c, "no judge configured (--judge or --judge-endpoint)"),
    }
}

/// A judge check left out of the score.
pub fn skipped(c: &Check, why: &str) -> CheckResult {
    CheckResult {
        check: c.kind.type_name().into(),
        label: c.kind.label(),
        weight: c.weight,
        required: c.required,
        score: None,
        passed: false,
        skipped: true,
        detail: Some(why.to_string()),
        judge: None,
    }
}

/// A judge check's result from the judge's verdict. A verdict without a score is a judge error:
/// score 0, not passed.
pub fn judge_result(c: &Check, verdict: JudgeVerdict) -> CheckResult {
    let min = match &c.kind {
        CheckKind::Judge { min_score, .. } => *min_score,
        _ => DEFAULT_JUDGE_MIN_SCORE,
    };
    let (score, passed, detail) = match verdict.score {
        Some(s) => (
            ((s - 1.0) / 4.0).clamp(0.0, 1.0),
            s >= min,
            (s < min).then(|| format!("judge score {s} < {min}")),
        ),
        None => (
            0.0,
            false,
            Some(format!(
                "judge error: {}",
                verdict.error.as_deref().unwrap_or("no score")
            )),
        ),
    };
    CheckResult {
        check: "judge".into(),
        label: c.kind.label(),
        weight: c.weight,
        required: c.required,
        score: Some(score),
        passed,
        skipped: false,
        detail,
        judge: Some(verdict),
    }
}

/// Combines check results into the case score: the weighted mean of the scored checks; passed
/// when it reaches `threshold`, every required (scored) check passed and no judge erred.
pub fn combine(case: &str, threshold: f64, checks: Vec<CheckResult>) -> CaseScore {
    let scored: Vec<&CheckResult> = checks.iter().filter(|c| !c.skipped).collect();
    let wsum: f64 = scored.iter().map(|c| c.weight).sum();
    let score = (wsum > 0.0).then(|| {
        scored
            .iter()
            .map(|c| c.weight * c.score.unwrap_or(0.0))
            .sum::<f64>()
            / wsum
    });
    let judge_error = checks
        .iter()
        .any(|c| c.judge.as_ref().is_some_and(|j| j.score.is_none()));
    let required_ok = scored.iter().all(|c| !c.required || c.passed);
    // Comparisons at 1e-9 so that e.g. 3 of 4 checks (0.75) reach a 0.75 threshold.
    let passed = score.is_some_and(|s| s + 1e-9 >= threshold) && required_ok && !judge_error;
    CaseScore {
        case: case.to_string(),
        score,
        score_5: score.map(to_5),
        threshold,
        passed,
        judge_error,
        error: None,
        checks,
        human: None,
    }
}

/// A case whose model produced no successful output: score 0, failed.
pub fn no_output(case: &str, threshold: f64, why: &str) -> CaseScore {
    CaseScore {
        case: case.to_string(),
        score: Some(0.0),
        score_5: Some(1.0),
        threshold,
        passed: false,
        judge_error: false,
        error: Some(why.to_string()),
        checks: Vec::new(),
        human: None,
    }
}

/// Aggregates case scores (and human scores, where set) into a model's quality.
pub fn aggregate(case_scores: Vec<CaseScore>) -> ModelQuality {
    let scores: Vec<f64> = case_scores.iter().filter_map(|c| c.score).collect();
    let s = crate::util::numbers::summarize(&scores);
    let passed = case_scores
        .iter()
        .filter(|c| c.score.is_some() && c.passed)
        .count();
    let human: Vec<f64> = case_scores.iter().filter_map(|c| c.human).collect();
    let human = (!human.is_empty()).then(|| {
        let h = crate::util::numbers::summarize(&human);
        HumanScores {
            n: h.n,
            mean: h.mean,
            mean_ci: h.mean_ci,
        }
    });
    ModelQuality {
        cases: scores.len(),
        passed,
        pass_rate: (!scores.is_empty()).then(|| passed as f64 / scores.len() as f64),
        score: s.mean,
        score_ci: s.mean_ci,
        score_5: s.mean.map(to_5),
        score_5_ci: s.mean_ci.map(|[a, b]| [to_5(a), to_5(b)]),
        judge_errors: case_scores.iter().filter(|c| c.judge_error).count(),
        skipped_checks: case_scores
            .iter()
            .flat_map(|c| c.checks.iter())
            .filter(|c| c.skipped)
            .count(),
        human,
        case_scores,
    }
}

#[cfg(test)]
mod tests;
