//! ingot-server
