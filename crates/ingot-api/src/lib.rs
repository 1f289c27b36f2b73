//! ingot-api
