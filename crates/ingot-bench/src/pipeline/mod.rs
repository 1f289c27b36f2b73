//! A whole run: setup, calibration, measurement, A/B rounds, and the run folder.
pub mod ab;
pub mod builder;
pub mod calibrate;
pub mod config;
pub mod embed;
pub mod measure;
pub mod model;
pub mod progress;
pub mod run;
pub mod rundir;
pub mod settings;
pub mod setup;
