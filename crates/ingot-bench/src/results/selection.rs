//! The recommended model as results.json holds it: the question (constraints, goal) and the
//! answer (made by [`crate::analyze::select`]).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = "=")]
    Eq,
}

/// One constraint: `metric op limit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Constraint {
    pub metric: String,
    pub op: Op,
    pub limit: f64,
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{}", self.metric, self.op.as_str(), self.limit)
    }
}

/// What to optimise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Goal {
    pub metric: String,
    pub maximize: bool,
}

/// The question asked: constraints and goal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SelectSpec {
    pub constraints: Vec<Constraint>,
    /// `None`: quality when any model has a quality score, else the lowest p95.
    pub goal: Option<Goal>,
}

/// One failed constraint of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    pub constraint: String,
    pub metric: String,
    /// The model's value (`None`: the metric is unavailable for it).
    pub value: Option<f64>,
    pub limit: f64,
    /// How far past the limit, in the metric's unit (positive).
    pub excess: Option<f64>,
    /// The same as a percentage of the limit.
    pub excess_pct: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub model: String,
    /// Meets every constraint and has a value for the goal.
    pub eligible: bool,
    pub objective: Option<f64>,
    pub violations: Vec<Violation>,
    /// Why it cannot be chosen, beyond the constraints (failed run, no value for the goal).
    pub note: Option<String>,
}

/// The answer: the recommended model, why, and every model's standing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// The question as asked (re-used by `ingot bench report`).
    pub spec: SelectSpec,
    pub constraints: Vec<String>,
    /// e.g. `maximize quality`.
    pub objective: String,
    pub goal: Goal,
    pub recommended: Option<String>,
    pub why: String,
    pub candidates: Vec<Candidate>,
    /// Models on the quality-against-p95 Pareto front (no other model has both a higher
    /// quality and a lower p95).
    pub pareto_front: Vec<String>,
}
