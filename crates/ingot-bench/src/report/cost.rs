//! The cost estimate ([`crate::analyze::cost`]) in the reports: the terminal's lines, report.md's
//! and report.html's section.

use std::fmt::Write as _;

use crate::results::cost::CostInputs;
use crate::results::Results;

fn method(i: &CostInputs) -> String {
    let mut s = format!(
        "Estimated cost per 1M output tokens: CPU seconds per token × watts per core → kWh × {} per kWh",
        i.price_per_kwh
    );
    if let (Some(c), Some(l)) = (i.hardware_cost, i.hardware_life_s) {
        let _ = write!(
            s,
            ", plus the hardware ({c} over {:.1} years) for the time 1M tokens take at the measured output rate",
            l / (365.25 * 86400.0)
        );
    }
    s.push_str(". A first-order estimate (no idle power, cooling or other use of the machine).");
    s
}

fn cell(v: Option<f64>) -> String {
    match v {
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) if x >= 1.0 => format!("{x:.2}"),
        Some(x) => format!("{x:.4}"),
        None => "–".into(),
    }
}

/// The terminal's cost lines.
pub fn terminal(results: &Results) -> String {
    let mut o = String::new();
    for m in &results.models {
        if let Some(c) = &m.cost {
            let _ = writeln!(
                o,
                "cost {}: {} per 1M output tokens (energy {}, hardware {})",
                m.alias,
                cell(c.total_per_1m),
                cell(c.energy_per_1m),
                cell(c.hardware_per_1m)
            );
        }
    }
    o
}

/// report.md's section.
pub fn markdown(o: &mut String, results: &Results) {
    let Some(inputs) = &results.manifest.cost else {
        return;
    };
    let _ = writeln!(o, "## Cost\n\n{}\n", method(inputs));
    let _ = writeln!(
        o,
        "| model | energy J/1k tok | kWh/1M tok | energy /1M tok | hardware /1M tok | total /1M tok |"
    );
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|");
    for m in &results.models {
        let c = m.cost.clone().unwrap_or_default();
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            m.alias,
            crate::util::text::num(
                m.resources.as_ref().and_then(|r| r.energy_j_per_1k_tokens),
                1
            ),
            cell(c.energy_kwh_per_1m),
            cell(c.energy_per_1m),
            cell(c.hardware_per_1m),
            cell(c.total_per_1m)
        );
    }
    let _ = writeln!(o);
}

/// report.html's section.
pub fn html(o: &mut String, results: &Results) {
    let Some(inputs) = &results.manifest.cost else {
        return;
    };
    let _ = write!(
        o,
        "<h2>Cost</h2><p>{}</p><table><tr><th>model</th><th>energy J/1k tok</th><th>kWh/1M tok</th><th>energy /1M tok</th><th>hardware /1M tok</th><th>total /1M tok</th></tr>\n",
        method(inputs).replace('&', "&amp;").replace('<', "&lt;")
    );
    for m in &results.models {
        let c = m.cost.clone().unwrap_or_default();
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            m.alias.replace('&', "&amp;").replace('<', "&lt;"),
            crate::util::text::num(
                m.resources.as_ref().and_then(|r| r.energy_j_per_1k_tokens),
                1
            ),
            cell(c.energy_kwh_per_1m),
            cell(c.energy_per_1m),
            cell(c.hardware_per_1m),
            cell(c.total_per_1m)
        );
    }
    o.push_str("</table>\n");
}
