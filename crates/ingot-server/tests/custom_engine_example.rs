//! The custom-engine example (issue 7's extension point) runs and is served: a rules-based
//! engine on ingot-core alone, without llama.cpp, answers chat and refuses what its
//! capabilities exclude.

#[allow(dead_code)]
#[path = "../examples/custom_engine.rs"]
mod custom_engine;

#[test]
fn custom_engine_example_serves_and_declares_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("faq.rules");
    std::fs::write(&rules, custom_engine::RULES).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let r = rt
        .block_on(custom_engine::demo(&rules))
        .map_err(|e| e.to_string())
        .unwrap();
    assert_eq!(
        r.answer,
        "ingot is a local foundry for small language models."
    );
    assert_eq!(r.json_mode, (400, "unsupported_capability".to_string()));
    assert_eq!(r.completion, (400, "unsupported_capability".to_string()));
}
