//! Benchmark prompt and model files: parsing never panics, an accepted prompt set is
//! non-empty with unique ids, and writing it back (`prompts_json`) reads back unchanged.
#![no_main]

use ingot_bench::workload::{parse_models, parse_prompts, prompts_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(prompts) = parse_prompts(text) {
        assert!(!prompts.is_empty());
        let mut ids = std::collections::HashSet::new();
        assert!(prompts.iter().all(|p| ids.insert(p.id.clone())));
        let again = parse_prompts(&prompts_json(&prompts)).expect("written prompts read back");
        assert_eq!(again, prompts);
    }
    let _ = parse_models(text);
});
