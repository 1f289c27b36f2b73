//! Separating tool calls from content in realistic model outputs, whole and streamed.

use ingot_core::tools::{OutputParser, ParsedOutput, ToolEvent, ToolFormat, ToolSpec};

fn tools() -> Vec<ToolSpec> {
    let spec = |name: &str| ToolSpec {
        name: name.into(),
        description: None,
        parameters: Some(serde_json::json!({"type": "object"})),
    };
    vec![spec("get_weather"), spec("get_time")]
}

fn parse(format: ToolFormat, forced: bool, text: &str) -> ParsedOutput {
    OutputParser::parse(format, &tools(), forced, text)
}

/// (name, arguments) of the calls.
fn calls(p: &ParsedOutput) -> Vec<(&str, &str)> {
    p.calls
        .iter()
        .map(|c| (c.name.as_str(), c.arguments.as_str()))
        .collect()
}

fn assert_valid_args(p: &ParsedOutput) {
    for c in &p.calls {
        let v: serde_json::Value = serde_json::from_str(&c.arguments)
            .unwrap_or_else(|e| panic!("{}: {e}: {}", c.name, c.arguments));
        assert!(v.is_object(), "{}", c.arguments);
        assert!(c.id.starts_with("call_") && c.id.len() == 29, "{}", c.id);
    }
}

#[test]
fn hermes_single_call_with_text_before() {
    let out = "Let me check the weather.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
    let p = parse(ToolFormat::Hermes, false, out);
    assert_eq!(p.content.as_deref(), Some("Let me check the weather."));
    assert_eq!(calls(&p), [("get_weather", r#"{"city": "Paris"}"#)]);
    assert_valid_args(&p);
}

#[test]
fn hermes_two_calls_qwen_style_with_trailing_newline() {
    let out = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"Europe/Paris\"}}\n</tool_call>\n";
    let p = parse(ToolFormat::Hermes, false, out);
    assert_eq!(p.content, None);
    assert_eq!(
        calls(&p),
        [
            ("get_weather", r#"{"city": "Paris"}"#),
            ("get_time", r#"{"tz": "Europe/Paris"}"#)
        ]
    );
    assert_ne!(p.calls[0].id, p.calls[1].id);
    assert_valid_args(&p);
}

#[test]
fn unterminated_block_at_eos_is_accepted() {
    let out = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n";
    let p = parse(ToolFormat::Hermes, false, out);
    assert_eq!(p.content, None);
    assert_eq!(calls(&p), [("get_weather", r#"{"city": "Paris"}"#)]);
    let out = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}";
    assert_eq!(calls(&parse(ToolFormat::Generic, false, out)).len(), 1);
}

#[test]
fn unknown_function_is_content() {
    let out = "Sure.\n<tool_call>\n{\"name\": \"launch_rocket\", \"arguments\": {}}\n</tool_call>";
    let p = parse(ToolFormat::Hermes, false, out);
    assert!(p.calls.is_empty());
    assert_eq!(p.content.as_deref(), Some(out));
}

#[test]
fn invalid_json_is_content() {
    let out = "<tool_call>\n{name: get_weather, city: Paris}\n</tool_call>\nDone.";
    let p = parse(ToolFormat::Hermes, false, out);
    assert!(p.calls.is_empty());
    assert_eq!(p.content.as_deref(), Some(out));
    // Arguments before the name are checked as a whole: invalid JSON is content too.
    let out = "<tool_call>\n{\"arguments\": {\"city\": \"Paris\"}, \"name\": \"get_weather\",,}\n</tool_call>";
    let p = parse(ToolFormat::Hermes, false, out);
    assert!(p.calls.is_empty());
    assert_eq!(p.content.as_deref(), Some(out));
}

#[test]
fn arguments_first_parameters_and_string_arguments() {
    let out = "<tool_call>\n{\"arguments\": {\"city\": \"Paris\"}, \"name\": \"get_weather\"}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"parameters\": {\"tz\": \"UTC\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Rome\\\"}\"}\n</tool_call>";
    let p = parse(ToolFormat::Hermes, false, out);
    assert_eq!(p.content, None);
    assert_eq!(
        calls(&p),
        [
            ("get_weather", r#"{"city": "Paris"}"#),
            ("get_time", r#"{"tz": "UTC"}"#),
            ("get_weather", r#"{"city": "Rome"}"#)
        ]
    );
    assert_valid_args(&p);
}

#[test]
fn generic_array_in_one_block() {
    let out = "<tool_call>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, {\"name\": \"get_time\", \"arguments\": {}}]</tool_call>";
    let p = parse(ToolFormat::Generic, false, out);
    assert_eq!(p.content, None);
    assert_eq!(
        calls(&p),
        [("get_weather", r#"{"city": "Paris"}"#), ("get_time", "{}")]
    );
}

#[test]
fn mentions_of_tags_in_plain_text_are_content() {
    for out in [
        "use <tools> wisely",
        "Wrap it in <tool_call> tags, like <tool_call>this</tool_call>.",
        "The < sign and <tool",
        "[TOOL] not a call",
        "{curly} text and [1] a list",
        "```python\nprint({'a': 1})\n```",
    ] {
        for format in [ToolFormat::Hermes, ToolFormat::Generic, ToolFormat::Mistral] {
            let p = parse(format, false, out);
            assert!(p.calls.is_empty(), "{format:?}: {out}");
            assert_eq!(p.content.as_deref(), Some(out), "{format:?}");
        }
    }
}

#[test]
fn llama3_bare_json_with_parameters() {
    let out = "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}";
    let p = parse(ToolFormat::Llama3, false, out);
    assert_eq!(p.content, None);
    assert_eq!(calls(&p), [("get_weather", r#"{"city": "Paris"}"#)]);
    let two = "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}; {\"name\": \"get_time\", \"parameters\": {}}";
    let p = parse(ToolFormat::Llama3, false, two);
    assert_eq!(calls(&p).len(), 2);
    let text = "The weather in Paris is sunny. {\"name\": \"get_weather\"}";
    let p = parse(ToolFormat::Llama3, false, text);
    assert!(p.calls.is_empty());
    assert_eq!(p.content.as_deref(), Some(text));
    // JSON that is not a call of an offered tool is the answer.
    let json = "{\"name\": \"Alice\", \"age\": 30}";
    let p = parse(ToolFormat::Llama3, false, json);
    assert!(p.calls.is_empty());
    assert_eq!(p.content.as_deref(), Some(json));
}

#[test]
fn mistral_array_and_tag_form() {
    let out = "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, {\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}]";
    let p = parse(ToolFormat::Mistral, false, out);
    assert_eq!(p.content, None);
    assert_eq!(
        calls(&p),
        [
            ("get_weather", r#"{"city": "Paris"}"#),
            ("get_time", r#"{"tz": "UTC"}"#)
        ]
    );
    let out =
        "Checking.[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]get_time[ARGS]{}";
    let p = parse(ToolFormat::Mistral, false, out);
    assert_eq!(p.content.as_deref(), Some("Checking."));
    assert_eq!(
        calls(&p),
        [("get_weather", r#"{"city": "Paris"}"#), ("get_time", "{}")]
    );
}

#[test]
fn fallback_bare_json_in_a_fence() {
    let out = "```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n```";
    for format in [
        ToolFormat::Hermes,
        ToolFormat::Generic,
        ToolFormat::Mistral,
        ToolFormat::Llama3,
    ] {
        let p = parse(format, false, out);
        assert_eq!(p.content, None, "{format:?}");
        assert_eq!(calls(&p), [("get_weather", r#"{"city": "Paris"}"#)]);
    }
    let openai = "{\"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"get_time\", \"arguments\": \"{\\\"tz\\\": \\\"UTC\\\"}\"}}]}";
    let p = parse(ToolFormat::Hermes, false, openai);
    assert_eq!(calls(&p), [("get_time", r#"{"tz": "UTC"}"#)]);
    // An unknown name: the answer is text.
    let other = "```json\n{\"name\": \"x\", \"arguments\": {}}\n```";
    assert_eq!(
        parse(ToolFormat::Hermes, false, other).content.as_deref(),
        Some(other)
    );
}

#[test]
fn forced_outputs_start_inside_the_call() {
    let obj = "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}";
    for format in [ToolFormat::Hermes, ToolFormat::Generic] {
        let p = parse(format, true, obj);
        assert_eq!(calls(&p), [("get_weather", r#"{"city": "Paris"}"#)]);
        assert_eq!(p.content, None);
        let more = format!("{obj}\n</tool_call>\n<tool_call>\n{{\"name\": \"get_time\", \"arguments\": {{}}}}\n</tool_call>");
        assert_eq!(calls(&parse(format, true, &more)).len(), 2);
    }
    let p = parse(
        ToolFormat::Llama3,
        true,
        "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}",
    );
    assert_eq!(calls(&p), [("get_weather", r#"{"city": "Paris"}"#)]);
    let p = parse(
        ToolFormat::Mistral,
        true,
        "[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]",
    );
    assert_eq!(calls(&p), [("get_weather", r#"{"city": "Paris"}"#)]);
    assert_eq!(p.content, None);
}

#[test]
fn a_call_stands_once_started() {
    // Truncated at the end of the output: the call keeps the text seen.
    let out = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Par";
    let p = parse(ToolFormat::Hermes, false, out);
    assert_eq!(calls(&p), [("get_weather", "{\"city\": \"Par")]);
    // Truncated before the arguments: `{}`.
    let p = parse(
        ToolFormat::Hermes,
        false,
        "<tool_call>\n{\"name\": \"get_time\"",
    );
    assert_eq!(calls(&p), [("get_time", "{}")]);
}

#[test]
fn edge_cases() {
    let p = parse(ToolFormat::Hermes, false, "Answer first. <tool_call>");
    assert_eq!(p.content.as_deref(), Some("Answer first. <tool_call>"));
    let p = parse(
        ToolFormat::Hermes,
        false,
        "<tool_call>\n{\"name\": \"get_time\"}\n</tool_call>",
    );
    assert_eq!(calls(&p), [("get_time", "{}")]);
    // Junk after a started call: the call stands, the junk is content.
    let p = parse(
        ToolFormat::Hermes,
        false,
        "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}} junk</tool_call> tail",
    );
    assert_eq!(calls(&p), [("get_time", "{}")]);
    assert_eq!(p.content.as_deref(), Some("junk</tool_call> tail"));
    // No tools offered: everything is content.
    let out = "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";
    let p = OutputParser::parse(ToolFormat::Hermes, &[], false, out);
    assert!(p.calls.is_empty());
    assert_eq!(p.content.as_deref(), Some(out));
}

#[test]
fn streaming_emits_early_and_holds_marker_prefixes() {
    let mut p = OutputParser::new(ToolFormat::Hermes, &tools(), false);
    assert_eq!(
        p.push("Let me check <tool"),
        [ToolEvent::Content("Let me check ".into())]
    );
    let ev = p.push("_call>\n{\"name\": \"get_weather\", \"arguments\": {\"ci");
    assert!(
        matches!(&ev[..], [ToolEvent::CallStart { index: 0, name, .. }, ToolEvent::CallArguments { index: 0, fragment }] if name == "get_weather" && fragment == "{\"ci"),
        "{ev:?}"
    );
    let ev = p.push("ty\": \"Paris\"}}\n</tool_call>");
    assert_eq!(
        ev,
        [ToolEvent::CallArguments {
            index: 0,
            fragment: "ty\": \"Paris\"}".into()
        }]
    );
    assert_eq!(p.finish(), []);
}

/// Events concatenated: content, and (name, arguments) per call.
fn summarize(events: &[ToolEvent]) -> (String, Vec<(String, String)>) {
    let mut content = String::new();
    let mut calls: Vec<(String, String)> = Vec::new();
    for ev in events {
        match ev {
            ToolEvent::Content(t) => content.push_str(t),
            ToolEvent::CallStart { index, name, .. } => {
                assert_eq!(*index, calls.len(), "calls are indexed in order");
                calls.push((name.clone(), String::new()));
            }
            ToolEvent::CallArguments { index, fragment } => {
                assert_eq!(
                    *index + 1,
                    calls.len(),
                    "fragments follow their call's start"
                );
                calls[*index].1.push_str(fragment);
            }
        }
    }
    (content, calls)
}

fn stream(format: ToolFormat, forced: bool, chunks: &[&str]) -> Vec<ToolEvent> {
    let mut p = OutputParser::new(format, &tools(), forced);
    let mut events = Vec::new();
    for c in chunks {
        events.extend(p.push(c));
    }
    events.extend(p.finish());
    events
}

const SAMPLES: &[(ToolFormat, bool, &str)] = &[
    (ToolFormat::Hermes, false, "Let me check the weather.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris \\\"Île\\\" {x}\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>\n"),
    (ToolFormat::Hermes, false, "<tool_call>\n{\"arguments\": {\"city\": \"Paris\"}, \"name\": \"get_weather\"}\n</tool_call>"),
    (ToolFormat::Hermes, false, "use <tools> wisely, and <tool_call> tags </tool_call> too"),
    (ToolFormat::Hermes, false, "<tool_call>\n{\"name\": \"nope\", \"arguments\": {}}\n</tool_call> after"),
    (ToolFormat::Hermes, false, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Par"),
    (ToolFormat::Hermes, false, "```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n```"),
    (ToolFormat::Hermes, false, "```python\nx = {\"a\": 1}\n```\nThat's it."),
    (ToolFormat::Hermes, false, "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}} and then text <tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>"),
    (ToolFormat::Hermes, false, "Answer first. <tool_call>"),
    (ToolFormat::Hermes, false, "<tool_call>\n{\"name\": \"get_time\"}\n</tool_call>"),
    (ToolFormat::Hermes, false, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}} junk</tool_call> tail"),
    (ToolFormat::Hermes, false, "{\"tool_calls\": [{\"function\": {\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}}]}"),
    (ToolFormat::Hermes, false, "\n\n  {\"a\": 1}"),
    (ToolFormat::Generic, false, "<tool_call>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, {\"name\": \"get_time\", \"arguments\": \"{}\"}]</tool_call>"),
    (ToolFormat::Generic, false, "Hi é ü 🎉 <tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich 🎉\"}}\n</tool_call>\n{\"name\": \"get_time\"} <tool"),
    (ToolFormat::Generic, true, "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"),
    (ToolFormat::Llama3, false, "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}"),
    (ToolFormat::Llama3, false, "  {\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}\n{\"name\": \"get_time\", \"parameters\": {}}"),
    (ToolFormat::Llama3, false, "It is sunny in Paris today."),
    (ToolFormat::Llama3, true, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}"),
    (ToolFormat::Mistral, false, "Sure. [TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}] and [TOOL_CALLS]get_time[ARGS]{\"tz\": \"UTC\"}"),
    (ToolFormat::Mistral, false, "[TOOL] [TOOL_CALLS] garbage"),
    (ToolFormat::Mistral, true, "[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, {\"name\": \"get_time\", \"arguments\": {}}]"),
];

fn char_boundaries(s: &str) -> Vec<usize> {
    (0..=s.len()).filter(|&i| s.is_char_boundary(i)).collect()
}

/// The chunking never changes the result: split at every boundary, and randomly, the
/// streamed events concatenate to the same content and calls as one push and as `parse()`.
#[test]
fn streaming_matches_parse_for_every_chunking() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rand = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for &(format, forced, text) in SAMPLES {
        let whole = summarize(&stream(format, forced, &[text]));
        let parsed = OutputParser::parse(format, &tools(), forced, text);
        assert_eq!(
            whole.0.trim(),
            parsed.content.as_deref().unwrap_or(""),
            "{text}"
        );
        let parsed_calls: Vec<(String, String)> = parsed
            .calls
            .iter()
            .map(|c| (c.name.clone(), c.arguments.clone()))
            .collect();
        assert_eq!(whole.1, parsed_calls, "{text}");
        let bounds = char_boundaries(text);
        for &i in &bounds {
            let got = summarize(&stream(format, forced, &[&text[..i], &text[i..]]));
            assert_eq!(got, whole, "{format:?} split at {i}: {text}");
        }
        for _ in 0..200 {
            let mut cuts: Vec<usize> = (0..rand(8)).map(|_| bounds[rand(bounds.len())]).collect();
            cuts.push(0);
            cuts.push(text.len());
            cuts.sort_unstable();
            let chunks: Vec<&str> = cuts.windows(2).map(|w| &text[w[0]..w[1]]).collect();
            assert_eq!(
                summarize(&stream(format, forced, &chunks)),
                whole,
                "{chunks:?}"
            );
        }
        // One character at a time.
        let chars: Vec<String> = text.chars().map(String::from).collect();
        let chunks: Vec<&str> = chars.iter().map(String::as_str).collect();
        assert_eq!(summarize(&stream(format, forced, &chunks)), whole);
    }
}
