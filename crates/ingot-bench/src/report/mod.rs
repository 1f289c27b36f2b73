//! The run's files and the terminal table.
pub mod ab;
pub mod charts;
pub mod html;
pub mod samples;
pub mod write;

pub use write::*;
