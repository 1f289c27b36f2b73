//! Cost as results.json holds it: the inputs and a model's estimate (made by
//! [`crate::analyze::cost`]).

use serde::{Deserialize, Serialize};

/// What the estimate is made from (`results.json`: `manifest.cost`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostInputs {
    /// Price of 1 kWh, in the user's currency.
    pub price_per_kwh: f64,
    /// The machine's price, same currency.
    #[serde(default)]
    pub hardware_cost: Option<f64>,
    /// Seconds the machine is written off over.
    #[serde(default)]
    pub hardware_life_s: Option<f64>,
}

/// A model's estimate (`models[].cost`), per 1M output tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CostEstimate {
    pub energy_kwh_per_1m: Option<f64>,
    pub energy_per_1m: Option<f64>,
    pub hardware_per_1m: Option<f64>,
    pub total_per_1m: Option<f64>,
}
