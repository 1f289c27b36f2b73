//! The GGUF header parser (`ingot_gguf::parse`) on arbitrary bytes: never panics, never
//! allocates beyond its limits, and what it accepts is self-consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match ingot_gguf::parse(data) {
        Ok(h) => {
            // Accessors of an accepted header must not panic either.
            let _ = h.quantization();
            let _ = format!("{h:?}");
        }
        Err(e) => {
            let _ = e.to_string();
            let _ = e.is_truncated();
        }
    }
});
