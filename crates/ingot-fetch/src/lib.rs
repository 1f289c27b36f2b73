//! ingot-fetch
