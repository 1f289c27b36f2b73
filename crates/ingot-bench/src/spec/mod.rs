//! What a benchmark asks: prompts, built-in sets, checks, datasets, models, scenarios.
pub mod checks;
pub mod dataset;
pub mod embed;
pub mod model;
pub mod models_file;
pub mod sets;
pub mod words;
pub mod workload;
