//! Formatting helpers shared by the commands.

use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{ContentArrangement, Table};

/// Sizes: the one formatter of ingot-core (`93.8 MiB`, binary units).
pub use ingot_engine::units::human_bytes;

/// A table that fits the terminal when there is one and stays plain when piped.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    t
}

/// RFC 3339 for JSON, `YYYY-MM-DD HH:MM` for tables.
pub fn short_time(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    t.format(&f).unwrap_or_else(|_| t.to_string())
}

pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
