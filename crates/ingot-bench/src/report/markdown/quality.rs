//! `report.md`'s recommendation and quality sections.

use std::fmt::Write as _;

use crate::report::common::*;
use crate::report::exporter::QUALITY_CHART;
use crate::results::{ModelResult, Results};
use crate::util::text::md_cell;

pub(super) fn recommendation_md(o: &mut String, results: &Results) {
    let Some(sel) = &results.selection else {
        return;
    };
    let _ = writeln!(o, "## Recommendation\n");
    match &sel.recommended {
        Some(m) => {
            let _ = writeln!(o, "**Recommended: {m}.** {}.\n", sel.why);
        }
        None => {
            let _ = writeln!(o, "**No recommendation:** {}.\n", sel.why);
        }
    }
    let _ = writeln!(
        o,
        "Question: {}{}.\n",
        sel.objective,
        if sel.constraints.is_empty() {
            String::new()
        } else {
            format!(", subject to {}", sel.constraints.join(", "))
        }
    );
    let rejected = crate::analyze::select::explain(sel);
    if rejected.len() > 1 {
        let _ = writeln!(o, "Not chosen:\n");
        for l in &rejected[1..] {
            let _ = writeln!(o, "- {}", l.trim());
        }
        let _ = writeln!(o);
    }
    if !sel.pareto_front.is_empty() {
        let _ = writeln!(
            o,
            "Quality/p95 Pareto front (no other model is both better and faster): {}.\n",
            sel.pareto_front.join(", ")
        );
    }
}

/// The quality section: how the answers were scored, the models' scores, the chart, the
/// per-case table and the reasons behind failed checks.
pub(super) fn quality_md(o: &mut String, results: &Results) {
    let scored: Vec<&ModelResult> = results
        .models
        .iter()
        .filter(|m| m.quality.is_some())
        .collect();
    if scored.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Quality\n");
    quality_intro_md(o, results);
    quality_table_md(o, results, &scored);
    per_case_md(o, &scored);
    failed_checks_md(o, &scored);
}

/// What was checked, by which judge, on which output; how a case is scored.
fn quality_intro_md(o: &mut String, results: &Results) {
    if let Some(qi) = &results.manifest.quality {
        let _ = writeln!(
            o,
            "{} case(s) with {} check(s) from {}; judge: {}. Scored output: the {}.\n",
            qi.cases,
            qi.checks,
            qi.checks_source,
            match &qi.judge {
                Some(j) => format!(
                    "{j}, {} sample(s) at temperature {}",
                    qi.judge_samples, qi.judge_temperature
                ),
                None if qi.judge_checks > 0 => format!(
                    "none ({} judge check(s) per model skipped)",
                    qi.judge_checks
                ),
                None => "none".into(),
            },
            qi.scored_output
        );
    }
    let _ = writeln!(o, "Case score: weighted mean of its checks (0–1), shown as 1 + 4 × score (1–5); brackets: bootstrap 95 % CI over cases. A case passes when it reaches its threshold and every required check passes; a judge error never passes.\n");
}

/// One row per scored model, then the quality chart.
fn quality_table_md(o: &mut String, results: &Results, scored: &[&ModelResult]) {
    let _ = writeln!(
        o,
        "| model | license | quality (1–5) | cases passed | pass rate | judge errors | human (1–5) |"
    );
    let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|");
    for m in scored {
        let q = m.quality.as_ref().expect("filtered");
        let _ = writeln!(
            o,
            "| {} | {} | {} | {}/{} | {} | {} | {} |",
            m.alias,
            license_cell(m),
            with_ci(q.score_5, q.score_5_ci, 2),
            q.passed,
            q.cases,
            q.pass_rate
                .map(|p| format!("{:.0} %", p * 100.0))
                .unwrap_or_else(|| "–".into()),
            q.judge_errors,
            match &q.human {
                Some(h) => format!("{} (n={})", num(h.mean, 2), h.n),
                None => "–".into(),
            }
        );
    }
    let _ = writeln!(o);
    if !crate::analyze::select::quality_latency_points(results).is_empty() {
        let _ = writeln!(
            o,
            "![quality against p95 latency; Pareto front marked]({QUALITY_CHART})\n"
        );
    }
}

fn per_case_md(o: &mut String, scored: &[&ModelResult]) {
    // Per case: one column per model.
    let mut cases: Vec<String> = Vec::new();
    for m in scored {
        for c in &m.quality.as_ref().expect("filtered").case_scores {
            if !cases.contains(&c.case) {
                cases.push(c.case.clone());
            }
        }
    }
    let _ = writeln!(o, "### Per case\n");
    let _ = writeln!(o, "✓ passed, ✗ failed; human scores in brackets.\n");
    let _ = writeln!(
        o,
        "| case | {} |",
        scored
            .iter()
            .map(|m| m.alias.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(o, "|---|{}", "---:|".repeat(scored.len()));
    for case in &cases {
        let cells: Vec<String> = scored
            .iter()
            .map(|m| {
                let q = m.quality.as_ref().expect("filtered");
                match q.case_scores.iter().find(|c| &c.case == case) {
                    None => "–".into(),
                    Some(c) => {
                        let mut cell = match c.score_5 {
                            Some(s) if c.judge_error => format!("{s:.1} ✗ judge error"),
                            Some(s) => format!("{s:.1} {}", if c.passed { "✓" } else { "✗" }),
                            None => "–".into(),
                        };
                        if let Some(h) = c.human {
                            let _ = write!(cell, " (human {h})");
                        }
                        cell
                    }
                }
            })
            .collect();
        let _ = writeln!(o, "| {} | {} |", case, cells.join(" | "));
    }
    let _ = writeln!(o);
}

fn failed_checks_md(o: &mut String, scored: &[&ModelResult]) {
    // Failed checks and judge verdicts, for the why.
    let mut details = Vec::new();
    for m in scored {
        for c in &m.quality.as_ref().expect("filtered").case_scores {
            if let Some(e) = &c.error {
                details.push(format!("{} / {}: {e}", m.alias, c.case));
            }
            for r in &c.checks {
                if let Some(v) = &r.judge {
                    let reason: String = v
                        .reason
                        .as_deref()
                        .unwrap_or("")
                        .chars()
                        .take(200)
                        .collect();
                    details.push(match v.score {
                        Some(s) => format!(
                            "{} / {}: judge {s}/5 — {}",
                            m.alias,
                            c.case,
                            md_cell(&reason)
                        ),
                        None => format!(
                            "{} / {}: judge error — {}",
                            m.alias,
                            c.case,
                            md_cell(v.error.as_deref().unwrap_or(""))
                        ),
                    });
                } else if !r.passed && !r.skipped {
                    details.push(format!(
                        "{} / {}: {}{} — {}",
                        m.alias,
                        c.case,
                        md_cell(&r.label),
                        if r.required { " (required)" } else { "" },
                        md_cell(r.detail.as_deref().unwrap_or("failed"))
                    ));
                }
            }
        }
    }
    if !details.is_empty() {
        let _ = writeln!(o, "### Failed checks and judge verdicts\n");
        for d in details {
            let _ = writeln!(o, "- {d}");
        }
        let _ = writeln!(o);
    }
}
