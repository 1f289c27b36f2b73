//! Report sections for the run-wide notes and the A/B comparison ([`crate::pipeline::ab`]): the
//! terminal's ratio table, report.md's and report.html's comparison, round by round.

use std::fmt::Write as _;

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use crate::results::comparison::{Comparison, Ratio, Verdict};
use crate::results::Results;
use crate::util::text::num;

/// Said wherever TTFT would be shown, when requests were not streamed.
pub const NO_STREAM_NOTE: &str = "TTFT, ITL and decode tok/s are unavailable: requests were not streamed (--no-stream), so only end-to-end latency was measured.";

/// Notes on how the run measured, one line each (non-streamed requests, retried requests).
pub fn notes(results: &Results) -> Vec<String> {
    let mut out = Vec::new();
    if !results.manifest.sampling.stream {
        out.push(NO_STREAM_NOTE.to_string());
    }
    let retried: usize = results
        .models
        .iter()
        .flat_map(|m| &m.scenarios)
        .filter_map(|s| s.metrics.as_ref())
        .map(|m| m.retried)
        .sum();
    if retried > 0 {
        out.push(format!(
            "{retried} request(s) were sent again on a new connection: their reused keep-alive connection closed before any response (the server's idle close crossed the request). A request counts as failed only if that retry failed too; requests.jsonl keeps both attempts."
        ));
    }
    out
}

fn ratio_cell(r: &Ratio) -> String {
    match (r.ratio, r.ci) {
        (Some(x), Some([lo, hi])) => format!("{x:.3} [{lo:.3}–{hi:.3}]"),
        (Some(x), None) => format!("{x:.3}"),
        _ => "–".into(),
    }
}

fn change(r: &Ratio) -> String {
    r.ratio
        .map(|x| format!("{:+.1}%", (x - 1.0) * 100.0))
        .unwrap_or_else(|| "–".into())
}

fn digits(metric: &str) -> usize {
    if metric.contains("throughput") {
        3
    } else {
        1
    }
}

fn method(c: &Comparison) -> String {
    format!(
        "{} round(s), the order reversed every round ({}), {} s pause between targets. Ratio: target / {} per round, geometric mean over rounds, bootstrap 95 % CI over rounds. Verdict: better or worse when the CI excludes 1 (needs at least {} rounds), else not significant.",
        c.rounds,
        c.order
            .iter()
            .map(|o| o.join("→"))
            .collect::<Vec<_>>()
            .join(", "),
        c.pause_s,
        c.baseline,
        c.min_rounds_for_verdict
    )
}

/// The ratio table printed at the end of an interleaved run.
pub fn terminal(results: &Results) -> String {
    let mut out = String::new();
    for n in notes(results) {
        let _ = writeln!(out, "note: {n}");
    }
    let Some(c) = &results.comparison else {
        return out;
    };
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec![
            "scenario",
            "target",
            "metric",
            &format!("{} (baseline)", c.baseline),
            "target",
            "ratio [95% CI]",
            "change",
            "verdict",
        ]);
    for r in &c.ratios {
        t.add_row(vec![
            r.scenario.clone(),
            r.target.clone(),
            r.metric.clone(),
            num(r.baseline_value, digits(&r.metric)),
            num(r.value, digits(&r.metric)),
            ratio_cell(r),
            change(r),
            r.verdict.as_str().to_string(),
        ]);
    }
    let _ = writeln!(out, "A/B comparison against {}:", c.baseline);
    let _ = writeln!(out, "{t}");
    let _ = writeln!(out, "{}", method(c));
    out
}

/// report.md's notes and comparison sections.
pub fn markdown(o: &mut String, results: &Results) {
    for n in notes(results) {
        let _ = writeln!(o, "> **Note.** {n}\n");
    }
    let Some(c) = &results.comparison else {
        return;
    };
    let _ = writeln!(o, "## A/B comparison (baseline: {})\n", c.baseline);
    let _ = writeln!(o, "{}\n", method(c));
    for t in &c.targets {
        let _ = writeln!(
            o,
            "- **{}**: {}{}",
            t.name,
            t.model,
            t.endpoint
                .as_deref()
                .map(|e| format!(" at {e}"))
                .unwrap_or_else(|| " (in-process)".into())
        );
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "| scenario | target | metric | {} | target | ratio [95 % CI] | change | verdict |",
        c.baseline
    );
    let _ = writeln!(o, "|---|---|---|---:|---:|---:|---:|---|");
    for r in &c.ratios {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.scenario,
            r.target,
            r.metric,
            num(r.baseline_value, digits(&r.metric)),
            num(r.value, digits(&r.metric)),
            ratio_cell(r),
            change(r),
            r.verdict.as_str()
        );
    }
    let _ = writeln!(o, "\n### Round by round\n");
    let names: Vec<&str> = crate::analyze::metrics::ab_compared()
        .iter()
        .map(|m| m.path())
        .collect();
    let _ = writeln!(
        o,
        "| round | position | target | scenario | requests | failed | retried | {} |",
        names.join(" | ")
    );
    let _ = writeln!(
        o,
        "|---:|---:|---|---|---:|---:|---:|{}",
        "---:|".repeat(names.len())
    );
    for f in &c.round_figures {
        let vals: Vec<String> = f.values.iter().map(|(m, v)| num(*v, digits(m))).collect();
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            f.round + 1,
            f.position + 1,
            f.target,
            f.scenario,
            f.requests,
            f.failed,
            f.retried,
            vals.join(" | ")
        );
    }
    let _ = writeln!(o);
}

use crate::util::text::html_escape as esc;

/// report.html's notes and comparison sections.
pub fn html(o: &mut String, results: &Results) {
    for n in notes(results) {
        let _ = writeln!(o, "<p class=\"note\"><b>Note.</b> {}</p>", esc(&n));
    }
    let Some(c) = &results.comparison else {
        return;
    };
    let _ = writeln!(
        o,
        "<h2>A/B comparison (baseline: {})</h2>\n<p>{}</p>",
        esc(&c.baseline),
        esc(&method(c))
    );
    let _ = writeln!(
        o,
        "<div class=\"scroll\"><table><tr><th>scenario</th><th>target</th><th>metric</th><th>{}</th><th>target</th><th>ratio [95 % CI]</th><th>change</th><th>verdict</th></tr>",
        esc(&c.baseline)
    );
    for r in &c.ratios {
        let class = match r.verdict {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::NotSignificant => "ns",
        };
        let _ = writeln!(
            o,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.scenario),
            esc(&r.target),
            esc(&r.metric),
            num(r.baseline_value, digits(&r.metric)),
            num(r.value, digits(&r.metric)),
            ratio_cell(r),
            change(r),
            r.verdict.as_str()
        );
    }
    o.push_str("</table></div>\n<h3>Round by round</h3>\n<div class=\"scroll\"><table><tr><th>round</th><th>position</th><th>target</th><th>scenario</th><th>requests</th><th>failed</th><th>retried</th>");
    for m in crate::analyze::metrics::ab_compared() {
        let _ = write!(o, "<th>{}</th>", esc(m.path()));
    }
    o.push_str("</tr>\n");
    for f in &c.round_figures {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            f.round + 1,
            f.position + 1,
            esc(&f.target),
            esc(&f.scenario),
            f.requests,
            f.failed,
            f.retried
        );
        for (m, v) in &f.values {
            let _ = write!(o, "<td>{}</td>", num(*v, digits(m)));
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</table></div>\n");
}
