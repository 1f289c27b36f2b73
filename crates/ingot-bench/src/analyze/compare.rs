//! `ingot bench compare OLD.json NEW.json`: a diff of two runs, with bootstrap CIs, and a CI
//! gate (`--fail-if "p95_ms>+10%,tok_s<-5%"`).
//!
//! A change is **significant** when the two runs' bootstrap 95 % CIs do not overlap; metrics
//! without a CI (aggregate tok/s, req/s, error rate) count as significant whenever they moved.

use serde::{Deserialize, Serialize};

use crate::results::{Results, Status};

/// One metric of one model and scenario, old against new.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffRow {
    pub model: String,
    pub scenario: String,
    pub metric: String,
    pub old: Option<f64>,
    pub old_ci: Option<[f64; 2]>,
    pub new: Option<f64>,
    pub new_ci: Option<[f64; 2]>,
    /// (new − old)/old × 100.
    pub change_pct: Option<f64>,
    pub significant: bool,
    pub higher_is_better: bool,
    /// A/B rows ([`from_comparison`]): the 95 % CI of new/old over interleaved rounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio_ci: Option<[f64; 2]>,
}

/// Short names accepted by `--fail-if`: the registry's names and aliases, as the path the
/// comparison reports (`p95_ms` -> `e2e_ms.p95`); anything else is returned as it is.
pub fn metric_alias(name: &str) -> &str {
    match crate::analyze::metrics::find(name) {
        Some(m) if m.compared.is_some() => m.path(),
        _ => name,
    }
}

fn overlap(a: Option<[f64; 2]>, b: Option<[f64; 2]>) -> Option<bool> {
    let (a, b) = (a?, b?);
    Some(a[0] <= b[1] && b[0] <= a[1])
}

/// Diffs every (model, scenario) present and successful in both runs.
pub fn compare(old: &Results, new: &Results) -> Vec<DiffRow> {
    let mut rows = Vec::new();
    for nm in new.models.iter().filter(|m| m.status == Status::Ok) {
        let Some(om) = old
            .models
            .iter()
            .find(|m| m.alias == nm.alias && m.status == Status::Ok)
        else {
            continue;
        };
        for ns in &nm.scenarios {
            let Some(os) = om
                .scenarios
                .iter()
                .find(|s| s.scenario.name == ns.scenario.name)
            else {
                continue;
            };
            let (Some(o), Some(n)) = (&os.metrics, &ns.metrics) else {
                continue;
            };
            for metric in crate::analyze::metrics::compared() {
                let (ov, oci) = metric.in_scenario(o);
                let (nv, nci) = metric.in_scenario(n);
                let change_pct = match (ov, nv) {
                    (Some(a), Some(b)) if a != 0.0 => Some((b - a) / a.abs() * 100.0),
                    (Some(a), Some(b)) if a == b => Some(0.0),
                    _ => None,
                };
                let significant = match overlap(oci, nci) {
                    Some(ov) => !ov,
                    None => change_pct.is_some_and(|c| c != 0.0),
                };
                rows.push(DiffRow {
                    model: nm.alias.clone(),
                    scenario: ns.scenario.name.clone(),
                    metric: metric.path().to_string(),
                    old: ov,
                    old_ci: oci,
                    new: nv,
                    new_ci: nci,
                    change_pct,
                    significant,
                    higher_is_better: metric.higher_is_better,
                    ratio_ci: None,
                });
            }
        }
    }
    rows
}

/// The rows of an interleaved A/B run ([`crate::pipeline::ab`]): `old` is the baseline target, `new`
/// each other target; the change is the geometric-mean ratio over rounds, significant when
/// its bootstrap CI excludes 1 (the run's verdict).
pub fn from_comparison(c: &crate::results::comparison::Comparison) -> Vec<DiffRow> {
    c.ratios
        .iter()
        .map(|r| DiffRow {
            model: r.target.clone(),
            scenario: r.scenario.clone(),
            metric: r.metric.clone(),
            old: r.baseline_value,
            old_ci: None,
            new: r.value,
            new_ci: None,
            change_pct: r.ratio.map(|x| (x - 1.0) * 100.0),
            significant: r.verdict != crate::results::comparison::Verdict::NotSignificant,
            higher_is_better: r.higher_is_better,
            ratio_ci: r.ci,
        })
        .collect()
}

/// One `--fail-if` rule: `metric>+10%` (fail when it grows by more than 10 %) or
/// `metric<-5%` (fail when it drops by more than 5 %).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailRule {
    pub metric: String,
    pub greater: bool,
    pub pct: f64,
    pub text: String,
}

/// Errors of `--fail-if` ([`parse_fail_if`]); `part` is the offending rule.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FailIfError {
    #[error("--fail-if '{part}': expected METRIC>+N% or METRIC<-N%")]
    NoOperator { part: String },
    #[error("--fail-if '{part}': unknown metric (use p50_ms, p95_ms, p99_ms, mean_ms, ttft_ms, ttft_p95_ms, itl_ms, tok_s, decode_tok_s, req_s, error_rate or a full name such as e2e_ms.p95)")]
    UnknownMetric { part: String },
    #[error("--fail-if '{part}': '{value}' is not a percentage")]
    NotAPercentage { part: String, value: String },
    #[error("--fail-if: no rule")]
    Empty,
}

/// Parses `p95_ms>+10%,tok_s<-5%`.
pub fn parse_fail_if(s: &str) -> Result<Vec<FailRule>, FailIfError> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (idx, greater) = match (part.find('>'), part.find('<')) {
            (Some(i), None) => (i, true),
            (None, Some(i)) => (i, false),
            _ => return Err(FailIfError::NoOperator { part: part.into() }),
        };
        let metric = metric_alias(part[..idx].trim()).to_string();
        if !crate::analyze::metrics::compared()
            .iter()
            .any(|m| m.path() == metric)
        {
            return Err(FailIfError::UnknownMetric { part: part.into() });
        }
        let v = part[idx + 1..].trim().trim_end_matches('%');
        let pct: f64 = v.parse().map_err(|_| FailIfError::NotAPercentage {
            part: part.into(),
            value: v.into(),
        })?;
        out.push(FailRule {
            metric,
            greater,
            pct,
            text: part.to_string(),
        });
    }
    if out.is_empty() {
        return Err(FailIfError::Empty);
    }
    Ok(out)
}

/// The rows that break a rule with a significant change: `(rule, row)`.
pub fn violations<'a>(
    rows: &'a [DiffRow],
    rules: &'a [FailRule],
) -> Vec<(&'a FailRule, &'a DiffRow)> {
    let mut out = Vec::new();
    for rule in rules {
        for row in rows
            .iter()
            .filter(|r| r.metric == rule.metric && r.significant)
        {
            let Some(c) = row.change_pct else { continue };
            let broken = if rule.greater {
                c > rule.pct
            } else {
                c < rule.pct
            };
            if broken {
                out.push((rule, row));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_if_parsing() {
        let r = parse_fail_if("p95_ms>+10%, tok_s<-5%").unwrap();
        assert_eq!(r[0].metric, "e2e_ms.p95");
        assert!(r[0].greater);
        assert_eq!(r[0].pct, 10.0);
        assert_eq!(r[1].metric, "output_tok_s");
        assert_eq!(r[1].pct, -5.0);
        assert!(parse_fail_if("nope>1%").is_err());
        assert!(parse_fail_if("p95_ms=1%").is_err());
        assert!(parse_fail_if("p95_ms>x%").is_err());
    }

    fn row(metric: &str, change: f64, significant: bool) -> DiffRow {
        DiffRow {
            model: "m".into(),
            scenario: "c1".into(),
            metric: metric.into(),
            old: Some(100.0),
            old_ci: None,
            new: Some(100.0 + change),
            new_ci: None,
            change_pct: Some(change),
            significant,
            higher_is_better: false,
            ratio_ci: None,
        }
    }

    #[test]
    fn violations_need_significance_and_threshold() {
        let rules = parse_fail_if("p95_ms>+10%,tok_s<-5%").unwrap();
        let rows = vec![
            row("e2e_ms.p95", 20.0, true),
            row("e2e_ms.p95", 20.0, false),
            row("e2e_ms.p95", 5.0, true),
            row("output_tok_s", -6.0, true),
            row("output_tok_s", 6.0, true),
        ];
        let v = violations(&rows, &rules);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].1.change_pct, Some(20.0));
        assert_eq!(v[1].1.metric, "output_tok_s");
    }
}
