//! Decision support: `--select "p95_ms<=2000,rss_mb<=1024" --maximize quality` picks the
//! recommended model, says why, and lists every model that failed a constraint and by how much.
//! Also the quality-against-p95 Pareto front drawn in the reports.
//!
//! Latency and throughput metrics are read from each model's **first scenario** (the one the
//! highlights use, normally `c1`), so models are compared like with like.

pub use crate::results::selection::{
    Candidate, Constraint, Goal, Op, SelectSpec, Selection, Violation,
};
use crate::results::{ModelResult, Results, Status};

/// A metric usable in `--select`, `--maximize` and `--minimize` (from the one registry,
/// [`crate::analyze::metrics`]).
pub use crate::analyze::metrics::Metric as MetricDef;
use crate::analyze::metrics::METRICS;

/// A name that is not a selectable metric.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown metric `{name}` (expected one of {})", selectable_names().join(", "))]
pub struct UnknownMetric {
    pub name: String,
}

/// Errors of `--select` ([`parse_constraints`]); `part` is the offending constraint.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConstraintError {
    #[error("constraint `{part}`: expected METRIC<=N (or <, >=, >, =)")]
    NoOperator { part: String },
    #[error("constraint `{part}`: {source}")]
    Metric { part: String, source: UnknownMetric },
    #[error("constraint `{part}`: the limit must be a number")]
    NotANumber { part: String },
    #[error("constraint `{part}`: the limit must be finite")]
    NotFinite { part: String },
    #[error("--select: no constraint given")]
    Empty,
}

/// The names usable in `--select`, `--maximize` and `--minimize`.
pub fn selectable_names() -> Vec<&'static str> {
    METRICS
        .iter()
        .filter(|m| m.selectable)
        .map(|m| m.name)
        .collect()
}

/// The definition of a metric name.
pub fn metric(name: &str) -> Result<&'static MetricDef, UnknownMetric> {
    METRICS
        .iter()
        .find(|m| m.selectable && m.name == name)
        .ok_or_else(|| UnknownMetric { name: name.into() })
}

/// A model's value of a metric.
pub fn value(m: &ModelResult, name: &str) -> Option<f64> {
    metric(name)
        .ok()
        .and_then(|d| d.for_model(m))
        .filter(|v| v.is_finite())
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Le => "<=",
            Op::Lt => "<",
            Op::Ge => ">=",
            Op::Gt => ">",
            Op::Eq => "=",
        }
    }
    fn holds(self, v: f64, limit: f64) -> bool {
        match self {
            Op::Le => v <= limit,
            Op::Lt => v < limit,
            Op::Ge => v >= limit,
            Op::Gt => v > limit,
            Op::Eq => (v - limit).abs() <= 1e-9 * limit.abs().max(1.0),
        }
    }
}

/// Parses `p95_ms<=2000,rss_mb<=1024` (operators `<=`, `<`, `>=`, `>`, `=`).
pub fn parse_constraints(s: &str) -> Result<Vec<Constraint>, ConstraintError> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (pos, op, len) = ["<=", ">=", "==", "<", ">", "="]
            .iter()
            .filter_map(|o| part.find(o).map(|p| (p, *o, o.len())))
            .min_by_key(|(p, _, len)| (*p, std::cmp::Reverse(*len)))
            .ok_or_else(|| ConstraintError::NoOperator { part: part.into() })?;
        let name = part[..pos].trim();
        metric(name).map_err(|source| ConstraintError::Metric {
            part: part.into(),
            source,
        })?;
        let limit: f64 = part[pos + len..]
            .trim()
            .parse()
            .map_err(|_| ConstraintError::NotANumber { part: part.into() })?;
        if !limit.is_finite() {
            return Err(ConstraintError::NotFinite { part: part.into() });
        }
        let op = match op {
            "<=" => Op::Le,
            ">=" => Op::Ge,
            "<" => Op::Lt,
            ">" => Op::Gt,
            _ => Op::Eq,
        };
        out.push(Constraint {
            metric: name.to_string(),
            op,
            limit,
        });
    }
    if out.is_empty() {
        return Err(ConstraintError::Empty);
    }
    Ok(out)
}

impl Goal {
    pub fn maximize(metric_name: &str) -> Result<Self, UnknownMetric> {
        metric(metric_name)?;
        Ok(Self {
            metric: metric_name.to_string(),
            maximize: true,
        })
    }
    pub fn minimize(metric_name: &str) -> Result<Self, UnknownMetric> {
        metric(metric_name)?;
        Ok(Self {
            metric: metric_name.to_string(),
            maximize: false,
        })
    }
    fn text(&self) -> String {
        format!(
            "{} {}",
            if self.maximize {
                "maximize"
            } else {
                "minimize"
            },
            self.metric
        )
    }
}

/// A value formatted for its metric.
pub fn fmt_value(metric_name: &str, v: f64) -> String {
    match metric_name {
        "quality" | "human" => format!("{v:.2}/5"),
        "pass_rate" | "error_rate" => format!("{:.0} %", v * 100.0),
        m if m.ends_with("_ms") => format!("{v:.1} ms"),
        m if m.ends_with("_mb") => format!("{v:.1} MiB"),
        m if m.ends_with("tok_s") => format!("{v:.1} tok/s"),
        _ => format!("{v:.3}"),
    }
}

/// Chooses the recommended model.
pub fn select(results: &Results, spec: &SelectSpec) -> Selection {
    let goal = spec.goal.clone().unwrap_or_else(|| {
        if results.models.iter().any(|m| value(m, "quality").is_some()) {
            Goal {
                metric: "quality".into(),
                maximize: true,
            }
        } else {
            Goal {
                metric: "p95_ms".into(),
                maximize: false,
            }
        }
    });
    let mut candidates = Vec::new();
    for m in &results.models {
        let mut violations = Vec::new();
        // A failed run has no figures to hold against the constraints; its note says why.
        let constraints = if m.status == Status::Failed {
            &[][..]
        } else {
            &spec.constraints[..]
        };
        for c in constraints {
            let v = value(m, &c.metric);
            let ok = v.is_some_and(|v| c.op.holds(v, c.limit));
            if !ok {
                let excess = v.map(|v| (v - c.limit).abs());
                violations.push(Violation {
                    constraint: c.to_string(),
                    metric: c.metric.clone(),
                    value: v,
                    limit: c.limit,
                    excess,
                    excess_pct: excess
                        .filter(|_| c.limit != 0.0)
                        .map(|e| e / c.limit.abs() * 100.0),
                });
            }
        }
        let objective = value(m, &goal.metric);
        let note = if m.status == Status::Failed {
            Some(format!(
                "failed: {}",
                m.reason.as_deref().unwrap_or("unknown reason")
            ))
        } else if m.is_embedding() {
            Some("embedding model: not ranked with generation models".to_string())
        } else if objective.is_none() {
            Some(format!("no {} value", goal.metric))
        } else {
            None
        };
        candidates.push(Candidate {
            model: m.alias.clone(),
            eligible: note.is_none() && violations.is_empty(),
            objective,
            violations,
            note,
        });
    }
    let mut ranked: Vec<&Candidate> = candidates.iter().filter(|c| c.eligible).collect();
    let p95 = |alias: &str| {
        results
            .models
            .iter()
            .find(|m| m.alias == alias)
            .and_then(|m| value(m, "p95_ms"))
            .unwrap_or(f64::INFINITY)
    };
    ranked.sort_by(|a, b| {
        let (x, y) = (a.objective.unwrap_or(0.0), b.objective.unwrap_or(0.0));
        let primary = if goal.maximize {
            y.total_cmp(&x)
        } else {
            x.total_cmp(&y)
        };
        primary
            .then(p95(&a.model).total_cmp(&p95(&b.model)))
            .then(a.model.cmp(&b.model))
    });
    let constraints: Vec<String> = spec.constraints.iter().map(|c| c.to_string()).collect();
    let within = if constraints.is_empty() {
        format!("of the {} model(s) that completed", ranked.len())
    } else {
        format!(
            "of the {} model(s) that meet {}",
            ranked.len(),
            constraints.join(", ")
        )
    };
    let best_word = if goal.maximize { "highest" } else { "lowest" };
    let (recommended, why) = match ranked.first() {
        Some(best) => {
            let mut why = format!(
                "{} has the {best_word} {} ({}) {within}",
                best.model,
                goal.metric,
                fmt_value(&goal.metric, best.objective.unwrap_or(0.0)),
            );
            if let Some(next) = ranked.get(1) {
                why.push_str(&format!(
                    "; next: {} ({})",
                    next.model,
                    fmt_value(&goal.metric, next.objective.unwrap_or(0.0))
                ));
            }
            if goal.metric == "quality" {
                if let Some(q) = results
                    .models
                    .iter()
                    .find(|m| m.alias == best.model)
                    .and_then(|m| m.quality.as_ref())
                {
                    if q.judge_errors > 0 {
                        why.push_str(&format!(
                            " (warning: {} judge error(s) in its cases)",
                            q.judge_errors
                        ));
                    }
                }
            }
            (Some(best.model.clone()), why)
        }
        None => (
            None,
            if constraints.is_empty() {
                format!("no model has a {} value", goal.metric)
            } else {
                format!(
                    "no model meets {} with a {} value",
                    constraints.join(", "),
                    goal.metric
                )
            },
        ),
    };
    Selection {
        spec: spec.clone(),
        constraints,
        objective: goal.text(),
        goal,
        recommended,
        why,
        candidates,
        pareto_front: pareto_front(results),
    }
}

/// Successful models with both a quality score and a p95: `(alias, quality 1–5, p95 ms)`.
pub fn quality_latency_points(results: &Results) -> Vec<(String, f64, f64)> {
    results
        .models
        .iter()
        .filter(|m| m.status == Status::Ok)
        .filter_map(|m| Some((m.alias.clone(), value(m, "quality")?, value(m, "p95_ms")?)))
        .collect()
}

/// Models no other model beats on both quality (higher) and p95 (lower), in p95 order.
pub fn pareto_front(results: &Results) -> Vec<String> {
    let pts = quality_latency_points(results);
    let mut front: Vec<&(String, f64, f64)> = pts
        .iter()
        .filter(|(_, q, p)| {
            !pts.iter()
                .any(|(_, q2, p2)| q2 >= q && p2 <= p && (q2 > q || p2 < p))
        })
        .collect();
    front.sort_by(|a, b| a.2.total_cmp(&b.2));
    front.into_iter().map(|p| p.0.clone()).collect()
}

/// Lines explaining a selection, for the terminal and the reports.
pub fn explain(sel: &Selection) -> Vec<String> {
    let mut out = Vec::new();
    match &sel.recommended {
        Some(m) => out.push(format!("recommended: {m} — {}", sel.why)),
        None => out.push(format!("no recommendation: {}", sel.why)),
    }
    for c in &sel.candidates {
        if let Some(n) = &c.note {
            out.push(format!("  {}: not eligible ({n})", c.model));
        }
        for v in &c.violations {
            let line = match (v.value, v.excess) {
                (Some(val), Some(ex)) if ex > 0.0 => format!(
                    "  {}: fails {} — {} is {}, past the limit by {}{}",
                    c.model,
                    v.constraint,
                    v.metric,
                    fmt_value(&v.metric, val),
                    fmt_value(&v.metric, ex).replace("/5", ""),
                    v.excess_pct
                        .map(|p| format!(" ({p:.1} %)"))
                        .unwrap_or_default()
                ),
                (Some(val), _) => format!(
                    "  {}: fails {} — {} is {}, at the limit",
                    c.model,
                    v.constraint,
                    v.metric,
                    fmt_value(&v.metric, val)
                ),
                _ => format!(
                    "  {}: fails {} — no {} value",
                    c.model, v.constraint, v.metric
                ),
            };
            out.push(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_constraints() {
        let c = parse_constraints("p95_ms<=2000, rss_mb<1024,quality>=3.5,tok_s>10").unwrap();
        assert_eq!(c.len(), 4);
        assert_eq!(c[0].op, Op::Le);
        assert_eq!(c[1].op, Op::Lt);
        assert_eq!(c[2].op, Op::Ge);
        assert_eq!(c[2].limit, 3.5);
        assert_eq!(c[3].to_string(), "tok_s>10");
        assert!(parse_constraints("speed<=3")
            .unwrap_err()
            .to_string()
            .contains("unknown metric"));
        assert!(parse_constraints("p95_ms 2000").is_err());
        assert!(parse_constraints("p95_ms<=fast").is_err());
        assert!(parse_constraints("").is_err());
        assert!(Goal::maximize("quality").is_ok());
        assert!(Goal::maximize("nope").is_err());
    }
}
