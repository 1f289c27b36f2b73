//! What happened: raw per-request records, the targets requests go to, connections, the
//! executors, resources and the mock server.
pub mod conn;
pub mod embed;
pub mod exec;
pub mod mock;
pub mod openai;
pub mod record;
pub mod resources;
pub mod response;
pub mod target;
