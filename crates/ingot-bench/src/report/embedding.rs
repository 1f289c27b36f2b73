//! The embedding models of a run (issue 15) in every report: a separate "Embedding models"
//! table in report.md and report.html and the terminal, rows of kind `embedding` in
//! results.csv, and their warnings. The chat tables show such a model as
//! "n/a — embedding model" instead of empty figures.

use std::fmt::Write as _;

use crate::report::common::status;
use crate::results::embedding::{EmbeddingMetrics, EmbeddingResult};
use crate::results::{ModelResult, Results, Status};
use crate::util::text::{html_escape as esc, md_cell, num};

/// What the chat tables show for an embedding model.
pub const NOT_CHAT: &str = "n/a — embedding model";

fn embedding_models(results: &Results) -> impl Iterator<Item = (&ModelResult, &EmbeddingResult)> {
    results
        .models
        .iter()
        .filter_map(|m| m.embedding.as_ref().map(|e| (m, e)))
}

/// `768, mean, normalized`.
fn shape(e: &EmbeddingResult) -> (String, String, String) {
    (
        e.dimensions
            .map(|d| d.to_string())
            .unwrap_or_else(|| "–".into()),
        e.pooling.clone().unwrap_or_else(|| "–".into()),
        match e.normalized {
            Some(true) => "yes".into(),
            Some(false) => "no".into(),
            None => "–".into(),
        },
    )
}

/// `ok (n vectors)`, `k of n invalid`, or `–` when nothing was checked.
pub fn sanity_cell(e: &EmbeddingResult) -> String {
    let s = &e.sanity;
    if s.vectors == 0 {
        "–".into()
    } else if s.invalid == 0 {
        format!("ok ({} vectors)", s.vectors)
    } else {
        format!("{} of {} invalid", s.invalid, s.vectors)
    }
}

/// The cells of one scenario row: ok, failed, req/s, inputs/s, input tok/s, latency mean,
/// p50, p90, p95, p99.
fn figures(d: &EmbeddingMetrics) -> [String; 10] {
    let l = &d.latency_ms;
    [
        d.succeeded.to_string(),
        d.failed.to_string(),
        num(d.requests_per_s, 2),
        num(d.inputs_per_s, 1),
        num(d.input_tokens_per_s, 0),
        num(l.mean, 1),
        num(l.p50, 1),
        num(l.p90, 1),
        num(l.p95, 1),
        num(l.p99, 1),
    ]
}

const HEAD: [&str; 18] = [
    "model",
    "scenario",
    "status",
    "batch",
    "dims",
    "pooling",
    "normalized",
    "ok",
    "failed",
    "req/s",
    "inputs/s",
    "input tok/s",
    "mean ms",
    "p50 ms",
    "p90 ms",
    "p95 ms",
    "p99 ms",
    "sanity",
];

/// Every row of the embedding table (a model without a measured scenario gets one row).
fn rows(results: &Results) -> Vec<[String; 18]> {
    let mut out = Vec::new();
    for (m, e) in embedding_models(results) {
        let (dims, pooling, normalized) = shape(e);
        let lead = |scenario: String| {
            [
                m.alias.clone(),
                scenario,
                status(m),
                e.batch_size.to_string(),
                dims.clone(),
                pooling.clone(),
                normalized.clone(),
            ]
        };
        let mut push = |lead: [String; 7], fig: [String; 10]| {
            let mut row: Vec<String> = lead.into_iter().chain(fig).collect();
            row.push(sanity_cell(e));
            out.push(row.try_into().expect("18 cells"));
        };
        if e.scenarios.is_empty() {
            push(lead("–".into()), std::array::from_fn(|_| "–".to_string()));
        }
        for s in &e.scenarios {
            let fig = match &s.metrics {
                Some(d) => figures(d),
                None => std::array::from_fn(|_| "–".to_string()),
            };
            push(lead(s.scenario.name.clone()), fig);
        }
    }
    out
}

/// report.md's "Embedding models" section (nothing when the run has none).
pub fn markdown(o: &mut String, results: &Results) {
    let rows = rows(results);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Embedding models\n");
    let _ = writeln!(
        o,
        "Batches of texts per request (`embed()` in-process, `POST /v1/embeddings` of an endpoint). Latency: send to the whole answer, successful requests, in ms. inputs/s: texts embedded per second; input tok/s: their tokens (usage or the engine's count). TTFT, ITL, output tokens and quality do not apply to embedding models. Sanity: every vector has the declared dimension, finite values, and unit length when normalized.\n"
    );
    let _ = writeln!(o, "| {} |", HEAD.join(" | "));
    let align: Vec<&str> = (0..HEAD.len())
        .map(|i| if (7..=16).contains(&i) { "---:" } else { "---" })
        .collect();
    let _ = writeln!(o, "|{}|", align.join("|"));
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| md_cell(c)).collect();
        let _ = writeln!(o, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(o);
}

/// report.html's "Embedding models" table (nothing when the run has none).
pub fn html(o: &mut String, results: &Results) {
    let rows = rows(results);
    if rows.is_empty() {
        return;
    }
    o.push_str("<h2>Embedding models</h2><p>Batches of texts per request; latency from the send to the whole answer (ms). TTFT, ITL, output tokens and quality do not apply to embedding models.</p><div class=\"scroll\"><table><tr>");
    for h in HEAD {
        let _ = write!(o, "<th>{}</th>", esc(h));
    }
    o.push_str("</tr>\n");
    for r in rows {
        let class = if r[2] == "ok" {
            ""
        } else {
            " class=\"failed\""
        };
        let _ = write!(o, "<tr{class}>");
        for c in &r {
            let _ = write!(o, "<td>{}</td>", esc(c));
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</table></div>\n");
}

/// The terminal's table of embedding models, or `None` when the run has none.
pub fn terminal(results: &Results) -> Option<String> {
    let rows = rows(results);
    if rows.is_empty() {
        return None;
    }
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
        .set_header(vec![
            "embedding model",
            "scenario",
            "status",
            "batch",
            "dims",
            "ok/err",
            "req/s",
            "inputs/s",
            "input tok/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "sanity",
        ]);
    for r in rows {
        t.add_row(vec![
            r[0].clone(),
            r[1].clone(),
            r[2].clone(),
            r[3].clone(),
            r[4].clone(),
            format!("{}/{}", r[7], r[8]),
            r[9].clone(),
            r[10].clone(),
            r[11].clone(),
            r[13].clone(),
            r[15].clone(),
            r[16].clone(),
            r[17].clone(),
        ]);
    }
    Some(t.to_string())
}

/// results.csv rows `(scenario, metric, stat, value)` of an embedding model (model-level
/// values have an empty scenario).
pub fn csv_rows(e: &EmbeddingResult) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    let mut put = |scenario: &str, metric: &str, stat: &str, v: String| {
        out.push((scenario.into(), metric.into(), stat.into(), v));
    };
    put("", "batch_size", "value", e.batch_size.to_string());
    if let Some(d) = e.dimensions {
        put("", "dimensions", "value", d.to_string());
    }
    if let Some(p) = &e.pooling {
        put("", "pooling", "value", p.clone());
    }
    if let Some(n) = e.normalized {
        put("", "normalized", "value", n.to_string());
    }
    put("", "sanity", "vectors", e.sanity.vectors.to_string());
    put("", "sanity", "invalid", e.sanity.invalid.to_string());
    for s in &e.scenarios {
        let Some(d) = &s.metrics else { continue };
        let sc = s.scenario.name.as_str();
        let mut one = |metric: &str, v: Option<f64>| {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                put(sc, metric, "value", format!("{v}"));
            }
        };
        one("requests", Some(d.requests as f64));
        one("succeeded", Some(d.succeeded as f64));
        one("failed", Some(d.failed as f64));
        one("error_rate", Some(d.error_rate));
        one("inputs", Some(d.inputs as f64));
        one("input_tokens", Some(d.input_tokens as f64));
        one("window_s", Some(d.window_s));
        one("request_throughput", d.requests_per_s);
        one("inputs_per_s", d.inputs_per_s);
        one("input_tok_s", d.input_tokens_per_s);
        let l = &d.latency_ms;
        for (stat, v) in [
            ("n", Some(l.n as f64)),
            ("mean", l.mean),
            ("min", l.min),
            ("p50", l.p50),
            ("p90", l.p90),
            ("p95", l.p95),
            ("p99", l.p99),
            ("max", l.max),
        ] {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                put(sc, "latency_ms", stat, format!("{v}"));
            }
        }
    }
    out
}

/// Warnings of an embedding model: request errors and vectors that failed the sanity check.
pub fn warnings(m: &ModelResult) -> Vec<String> {
    let Some(e) = &m.embedding else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if m.status == Status::Ok && e.sanity.invalid > 0 {
        out.push(format!(
            "{}: {} of {} embedding vector(s) failed the sanity check: {}",
            m.alias,
            e.sanity.invalid,
            e.sanity.vectors,
            e.sanity.problem.as_deref().unwrap_or("")
        ));
    }
    for s in &e.scenarios {
        if let Some(err) = &s.metrics_error {
            out.push(format!("{} {}: {err}", m.alias, s.scenario.name));
        }
        for (err, n) in s.metrics.iter().flat_map(|d| &d.errors) {
            out.push(format!("{} {}: {n} × {err}", m.alias, s.scenario.name));
        }
    }
    out
}
