//! The server suites' harness lives in ingot-testkit (feature `server`), shared with the
//! end-to-end suites of ingot-e2e.
#![allow(unused_imports)]

pub use ingot_testkit::server::*;
