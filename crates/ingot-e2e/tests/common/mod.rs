//! The harness shared with ingot-server's suites (ingot-testkit, feature `server`), plus
//! the real-engine server in a child process that only these suites need.
#![allow(dead_code, unused_imports)]

pub mod server_process;

pub use ingot_testkit::server::*;
