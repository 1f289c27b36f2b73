//! Catalog files (TOML and JSON): parsing never panics, and every entry of a catalog that
//! parses has an alias that is safe as a file name in the cache.
#![no_main]

use ingot_catalog::{parse, validate_alias, Format, Origin};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for format in [Format::Toml, Format::Json] {
        if let Ok(entries) = parse(text, format, Origin::Builtin) {
            for e in &entries {
                assert!(validate_alias(&e.alias).is_ok(), "unsafe alias {:?}", e.alias);
            }
        }
    }
    let _ = Format::detect(std::path::Path::new("catalog"), text);
    let _ = validate_alias(text);
});
