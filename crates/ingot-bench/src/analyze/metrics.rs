//! The one registry of metrics: every figure `--select`, `--maximize`, `--fail-if`,
//! `bench compare` and the A/B comparison read, defined once with its names, direction and
//! where it comes from.

use crate::analyze::stats::ScenarioMetrics;
use crate::results::ModelResult;

/// Where a metric's value comes from.
#[derive(Clone, Copy)]
pub enum Read {
    /// A scenario's figures: the value and, where the statistics give one, its 95 % CI.
    Scenario(fn(&ScenarioMetrics) -> (Option<f64>, Option<[f64; 2]>)),
    /// The model's result as a whole (quality, resources, load times).
    Model(fn(&ModelResult) -> Option<f64>),
}

/// One metric.
pub struct Metric {
    /// The name `--select`, `--maximize` and `--fail-if` take (`p95_ms`).
    pub name: &'static str,
    /// Other names accepted for it (`e2e_p95_ms`).
    pub aliases: &'static [&'static str],
    pub description: &'static str,
    pub higher_is_better: bool,
    pub read: Read,
    /// Scenario metrics that `bench compare` diffs: the statistic's path in results.json
    /// (`e2e_ms.p95`, the name comparisons report) and its place in their rows.
    pub compared: Option<(&'static str, u8)>,
    /// Compared between the targets of an interleaved A/B run.
    pub ab: bool,
    /// Offered to `--select` / `--maximize` / `--minimize`.
    pub selectable: bool,
}

impl Metric {
    /// The value (and CI) in one scenario's figures; `(None, None)` for model metrics.
    pub fn in_scenario(&self, s: &ScenarioMetrics) -> (Option<f64>, Option<[f64; 2]>) {
        match self.read {
            Read::Scenario(f) => f(s),
            Read::Model(_) => (None, None),
        }
    }

    /// The value for a model: model metrics from its result, scenario metrics from its
    /// **first** scenario (the one the highlights use, normally `c1`).
    pub fn for_model(&self, m: &ModelResult) -> Option<f64> {
        match self.read {
            Read::Model(f) => f(m),
            Read::Scenario(f) => f(m.scenarios.first()?.metrics.as_ref()?).0,
        }
    }

    /// The name comparisons report it under: its path in results.json, else its name.
    pub fn path(&self) -> &'static str {
        self.compared.map_or(self.name, |(p, _)| p)
    }
}

fn mib(b: Option<u64>) -> Option<f64> {
    b.map(|b| b as f64 / (1u64 << 20) as f64)
}

/// Every metric, in the order `--select` lists them.
pub const METRICS: &[Metric] = &[
    Metric {
        name: "quality",
        aliases: &[],
        description: "mean case score of the checks, 1–5",
        higher_is_better: true,
        read: Read::Model(|m| m.quality.as_ref()?.score_5),
        compared: None,
        ab: false,
        selectable: true,
    },
    Metric {
        name: "pass_rate",
        aliases: &[],
        description: "share of cases passed, 0–1",
        higher_is_better: true,
        read: Read::Model(|m| m.quality.as_ref()?.pass_rate),
        compared: None,
        ab: false,
        selectable: true,
    },
    Metric {
        name: "human",
        aliases: &[],
        description: "mean human score from annotations.csv, 1–5",
        higher_is_better: true,
        read: Read::Model(|m| m.quality.as_ref()?.human.as_ref()?.mean),
        compared: None,
        ab: false,
        selectable: true,
    },
    Metric {
        name: "p50_ms",
        aliases: &[],
        description: "e2e latency p50, ms",
        higher_is_better: false,
        read: Read::Scenario(|s| (s.e2e_ms.p50, None)),
        compared: Some(("e2e_ms.p50", 4)),
        ab: true,
        selectable: true,
    },
    Metric {
        name: "p95_ms",
        aliases: &["e2e_p95_ms"],
        description: "e2e latency p95, ms",
        higher_is_better: false,
        read: Read::Scenario(|s| (s.e2e_ms.p95, s.e2e_ms.p95_ci)),
        compared: Some(("e2e_ms.p95", 5)),
        ab: true,
        selectable: true,
    },
    Metric {
        name: "p99_ms",
        aliases: &[],
        description: "e2e latency p99, ms",
        higher_is_better: false,
        read: Read::Scenario(|s| (s.e2e_ms.p99, None)),
        compared: Some(("e2e_ms.p99", 6)),
        ab: false,
        selectable: true,
    },
    Metric {
        name: "mean_ms",
        aliases: &["e2e_ms"],
        description: "e2e latency mean, ms",
        higher_is_better: false,
        read: Read::Scenario(|s| (s.e2e_ms.mean, s.e2e_ms.mean_ci)),
        compared: Some(("e2e_ms.mean", 3)),
        ab: false,
        selectable: true,
    },
    Metric {
        name: "ttft_ms",
        aliases: &["ttft_mean_ms"],
        description: "TTFT mean, ms",
        higher_is_better: false,
        read: Read::Scenario(|s| (s.ttft_ms.mean, s.ttft_ms.mean_ci)),
        compared: Some(("ttft_ms.mean", 0)),
        ab: false,
        selectable: true,
    },
    Metric {
        name: "ttft_p50_ms",
        aliases: &[],
        description: "TTFT p50, ms",
        higher_is_better: false,
        read: Read::Scenario(|s| (s.ttft_ms.p50, None)),
        compared: Some(("ttft_ms.p50", 1)),
        ab: true,
        selectable: true,
    },
    Metric {
        name: "ttft_p95_ms",
        aliases: &[],
        description: "TTFT p95, ms",
        higher_is_better: false,
        read: Read::Scenario(|s| (s.ttft_ms.p95, s.ttft_ms.p95_ci)),
        compared: Some(("ttft_ms.p95", 2)),
        ab: true,
        selectable: true,
    },
    Metric {
        name: "itl_ms",
        aliases: &[],
        description: "inter-token latency mean, ms",
        higher_is_better: false,
        read: Read::Scenario(|s| (s.itl_ms.mean, s.itl_ms.mean_ci)),
        compared: Some(("itl_ms.mean", 7)),
        ab: true,
        selectable: true,
    },
    Metric {
        name: "tok_s",
        aliases: &["output_tok_s"],
        description: "aggregate output tokens/s",
        higher_is_better: true,
        read: Read::Scenario(|s| (s.output_tok_s, None)),
        compared: Some(("output_tok_s", 10)),
        ab: true,
        selectable: true,
    },
    Metric {
        name: "decode_tok_s",
        aliases: &[],
        description: "per-request decode rate mean, tokens/s",
        higher_is_better: true,
        read: Read::Scenario(|s| (s.decode_tok_s.mean, s.decode_tok_s.mean_ci)),
        compared: Some(("decode_tok_s.mean", 9)),
        ab: false,
        selectable: true,
    },
    Metric {
        name: "req_s",
        aliases: &["rps"],
        description: "successful requests/s",
        higher_is_better: true,
        read: Read::Scenario(|s| (s.request_throughput, None)),
        compared: Some(("request_throughput", 11)),
        ab: true,
        selectable: true,
    },
    Metric {
        name: "error_rate",
        aliases: &[],
        description: "failed / measured requests, 0–1",
        higher_is_better: false,
        read: Read::Scenario(|s| (Some(s.error_rate), None)),
        compared: Some(("error_rate", 12)),
        ab: false,
        selectable: true,
    },
    Metric {
        name: "rss_mb",
        aliases: &[],
        description: "peak RSS, MiB",
        higher_is_better: false,
        read: Read::Model(|m| mib(m.resources.as_ref()?.peak_rss_bytes)),
        compared: None,
        ab: false,
        selectable: true,
    },
    Metric {
        name: "pss_mb",
        aliases: &[],
        description: "peak PSS, MiB",
        higher_is_better: false,
        read: Read::Model(|m| mib(m.resources.as_ref()?.peak_pss_bytes)),
        compared: None,
        ab: false,
        selectable: true,
    },
    Metric {
        name: "disk_mb",
        aliases: &[],
        description: "model file size, MiB",
        higher_is_better: false,
        read: Read::Model(|m| mib(m.file.as_ref()?.size_bytes)),
        compared: None,
        ab: false,
        selectable: true,
    },
    Metric {
        name: "cold_load_ms",
        aliases: &[],
        description: "cold load time, ms",
        higher_is_better: false,
        read: Read::Model(|m| m.load.as_ref()?.cold_load_ms),
        compared: None,
        ab: false,
        selectable: true,
    },
    Metric {
        name: "warm_load_ms",
        aliases: &[],
        description: "warm load time, ms",
        higher_is_better: false,
        read: Read::Model(|m| m.load.as_ref()?.warm_load_ms),
        compared: None,
        ab: false,
        selectable: true,
    },
    Metric {
        name: "cpu_s_per_1k",
        aliases: &[],
        description: "CPU seconds per 1k output tokens",
        higher_is_better: false,
        read: Read::Model(|m| m.resources.as_ref()?.cpu_s_per_1k_tokens),
        compared: None,
        ab: false,
        selectable: true,
    },
    Metric {
        name: "energy_j_per_1k",
        aliases: &[],
        description: "estimated joules per 1k output tokens",
        higher_is_better: false,
        read: Read::Model(|m| m.resources.as_ref()?.energy_j_per_1k_tokens),
        compared: None,
        ab: false,
        selectable: true,
    },
    Metric {
        name: "itl_p95_ms",
        aliases: &[],
        description: "inter-token latency p95, ms",
        higher_is_better: false,
        read: Read::Scenario(|s| (s.itl_ms.p95, s.itl_ms.p95_ci)),
        compared: Some(("itl_ms.p95", 8)),
        ab: false,
        selectable: false,
    },
];

/// The metric `name` names: its name, an alias, or its path in results.json.
pub fn find(name: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| {
        m.name == name || m.aliases.contains(&name) || m.compared.is_some_and(|(p, _)| p == name)
    })
}

/// The metrics `bench compare` diffs, in its row order.
pub fn compared() -> Vec<&'static Metric> {
    let mut v: Vec<_> = METRICS.iter().filter(|m| m.compared.is_some()).collect();
    v.sort_by_key(|m| m.compared.map(|(_, o)| o));
    v
}

/// The metrics an interleaved A/B run compares, in the same order.
pub fn ab_compared() -> Vec<&'static Metric> {
    compared().into_iter().filter(|m| m.ab).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_orders_are_the_reports_orders() {
        let names: Vec<_> = compared().iter().map(|m| m.path()).collect();
        assert_eq!(
            names,
            [
                "ttft_ms.mean",
                "ttft_ms.p50",
                "ttft_ms.p95",
                "e2e_ms.mean",
                "e2e_ms.p50",
                "e2e_ms.p95",
                "e2e_ms.p99",
                "itl_ms.mean",
                "itl_ms.p95",
                "decode_tok_s.mean",
                "output_tok_s",
                "request_throughput",
                "error_rate"
            ]
        );
        let ab: Vec<_> = ab_compared().iter().map(|m| m.path()).collect();
        assert_eq!(
            ab,
            [
                "ttft_ms.p50",
                "ttft_ms.p95",
                "e2e_ms.p50",
                "e2e_ms.p95",
                "itl_ms.mean",
                "output_tok_s",
                "request_throughput"
            ]
        );
    }

    #[test]
    fn every_name_and_alias_finds_one_metric() {
        for (n, path) in [
            ("p95_ms", "e2e_ms.p95"),
            ("e2e_p95_ms", "e2e_ms.p95"),
            ("rps", "request_throughput"),
            ("tok_s", "output_tok_s"),
            ("itl_p95_ms", "itl_ms.p95"),
            ("e2e_ms.p99", "e2e_ms.p99"),
        ] {
            assert_eq!(find(n).map(|m| m.path()), Some(path), "{n}");
        }
        assert!(find("nope").is_none());
        let mut all: Vec<&str> = METRICS
            .iter()
            .flat_map(|m| std::iter::once(m.name).chain(m.aliases.iter().copied()))
            .collect();
        all.sort();
        let n = all.len();
        all.dedup();
        assert_eq!(all.len(), n, "a name is defined twice");
    }
}
