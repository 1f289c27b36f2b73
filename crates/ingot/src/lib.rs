//! ingot
