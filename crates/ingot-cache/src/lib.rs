//! ingot-cache
