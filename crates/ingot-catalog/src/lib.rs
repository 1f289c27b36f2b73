//! ingot-catalog
