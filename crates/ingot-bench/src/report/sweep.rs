//! A run's sweeps ([`crate::analyze::sweep`]) in report.md: per model, its summary and one row
//! per point.

use std::fmt::Write as _;

use crate::results::Results;

/// The sweeps of a run, in report.md.
pub fn markdown(o: &mut String, results: &Results) {
    let swept: Vec<_> = results
        .models
        .iter()
        .filter_map(|m| Some((m, m.sweep.as_ref()?)))
        .collect();
    if swept.is_empty() {
        return;
    }
    let n = |v: Option<f64>, d| crate::util::text::num(v, d);
    let _ = writeln!(o, "## Sweep: latency against throughput\n");
    for (m, s) in swept {
        let _ = writeln!(o, "**{}**: {}.\n", m.alias, s.summary);
        let _ = writeln!(
            o,
            "| point | offered req/s | achieved req/s | TTFT p50 ms | TTFT p90 ms | ITL mean ms | e2e p50 ms | queue |"
        );
        let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---|");
        for p in &s.points {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                p.scenario,
                n(p.offered_rate, 2),
                n(p.achieved_req_s, 2),
                n(p.ttft_p50_ms, 1),
                n(p.ttft_p90_ms, 1),
                n(p.itl_mean_ms, 2),
                n(p.e2e_p50_ms, 1),
                match p.sustained {
                    Some(true) => "flat",
                    Some(false) => "growing",
                    None => "–",
                }
            );
        }
        let _ = writeln!(o);
    }
}
