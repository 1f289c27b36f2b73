//! Chat templates render byte-identically to the Hugging Face reference (jinja2 with
//! transformers' environment). Expected outputs were produced by tests/fixtures/gen_reference.py
//! and are committed; regenerate them with `python3 gen_reference.py` after changing a case.

use std::path::PathBuf;

use ingot_core::{render_chat, ChatMessage};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn cases() -> Vec<(String, Vec<ChatMessage>)> {
    let text = std::fs::read_to_string(fixtures().join("cases.json")).unwrap();
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
    v.into_iter()
        .map(|(k, msgs)| (k, serde_json::from_value(msgs).unwrap()))
        .collect()
}

fn check(template: &str, bos: &str, eos: &str) {
    let source =
        std::fs::read_to_string(fixtures().join(format!("templates/{template}.jinja"))).unwrap();
    let cases = cases();
    assert!(cases.len() >= 3);
    for (case, messages) in cases {
        let expected =
            std::fs::read_to_string(fixtures().join(format!("expected/{template}__{case}.txt")))
                .unwrap();
        let got = render_chat(&source, &messages, bos, eos)
            .unwrap_or_else(|e| panic!("{template}/{case}: {e}"));
        assert_eq!(
            got, expected,
            "{template}/{case} differs from the jinja2 reference"
        );
    }
}

#[test]
fn smollm2_matches_reference() {
    check("smollm2", "<|im_start|>", "<|im_end|>");
}

#[test]
fn qwen25_coder_matches_reference() {
    check("qwen2.5-coder", "<|endoftext|>", "<|im_end|>");
}

/// A synthetic template exercising namespace(), loop controls, pycompat string methods,
/// tojson (with indent), Python-style booleans and bos/eos.
#[test]
fn feature_template_matches_reference() {
    check("features", "<s>", "</s>");
}

#[test]
fn smollm2_injects_its_default_system_prompt() {
    let source = std::fs::read_to_string(fixtures().join("templates/smollm2.jinja")).unwrap();
    let out = render_chat(
        &source,
        &[ChatMessage::new("user", "Hi")],
        "<|im_start|>",
        "<|im_end|>",
    )
    .unwrap();
    assert!(
        out.starts_with("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"),
        "{out}"
    );
    assert!(out.ends_with("<|im_start|>assistant\n"));
}

#[test]
fn raise_exception_in_features_template() {
    let source = std::fs::read_to_string(fixtures().join("templates/features.jinja")).unwrap();
    let err = render_chat(&source, &[ChatMessage::new("tool", "x")], "<s>", "</s>").unwrap_err();
    assert!(err.to_string().contains("unsupported role: tool"), "{err}");
}

/// Issue 12: minijinja runs with fuel, so a template that loops (a GGUF's own template is
/// untrusted) fails with a clear error instead of pinning a core.
#[test]
fn a_template_that_loops_runs_out_of_fuel() {
    let looping =
        "{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{% endfor %}{% endfor %}";
    let t0 = std::time::Instant::now();
    let e = render_chat(looping, &[ChatMessage::new("user", "hi")], "", "").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("ran out of its budget"), "{msg}");
    // 10^10 iterations unbounded; the fuel stops it in well under a second in release. The
    // generous bound is for a debug build on a loaded 2-core machine.
    assert!(t0.elapsed().as_secs() < 30, "{:?}", t0.elapsed());
}

#[test]
fn a_template_cannot_render_gigabytes() {
    // 100 × 10 MB: minijinja allows each repetition, the rendered prompt is capped.
    let huge = "{% for a in range(100) %}{{ 'x' * 10000000 }}{% endfor %}";
    let e = render_chat(huge, &[ChatMessage::new("user", "hi")], "", "").unwrap_err();
    assert!(e.to_string().contains("output exceeds"), "{e}");
}

#[test]
fn long_conversations_fit_the_template_fuel() {
    // No context holds 20,000 messages; the real templates render that many within the
    // budget.
    for name in ["smollm2", "qwen2.5-coder"] {
        let source =
            std::fs::read_to_string(fixtures().join(format!("templates/{name}.jinja"))).unwrap();
        let messages: Vec<ChatMessage> = (0..20_000)
            .map(|i| ChatMessage::new(if i % 2 == 0 { "user" } else { "assistant" }, "x"))
            .collect();
        let out = render_chat(&source, &messages, "", "<|im_end|>")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(out.len() > 20_000 * 5, "{name}");
    }
}
