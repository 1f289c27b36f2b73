//! ingot's Rust SDK facade. It ties the library crates together: [`CatalogModels`] serves the
//! catalog and the cache to the HTTP server.

mod provider;

pub use ingot_cache as cache;
pub use ingot_catalog as catalog;
pub use ingot_engine as engine;
pub use ingot_fetch as fetch;
pub use ingot_server as server;
pub use provider::CatalogModels;
