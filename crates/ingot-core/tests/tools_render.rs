//! Rendering tool prompts through real chat templates: the model's own when it renders
//! `tools` (Qwen2.5, Hermes syntax), the generic tool prompt otherwise (SmolLM2, Gemma).

use std::path::PathBuf;

use ingot_core::tools::{
    render, ToolCall, ToolChoice, ToolFormat, ToolPrompt, ToolSpec, GENERIC_TOOL_PROMPT,
};
use ingot_core::{ChatMessage, ChatTemplate};
use serde_json::json;

fn template(name: &str, bos: &str, eos: &str) -> ChatTemplate {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/templates/{name}.jinja"));
    ChatTemplate::new(std::fs::read_to_string(path).unwrap(), bos, eos).unwrap()
}

fn qwen() -> ChatTemplate {
    template("qwen2.5-coder", "<|endoftext|>", "<|im_end|>")
}

fn smollm2() -> ChatTemplate {
    template("smollm2", "<|im_start|>", "<|im_end|>")
}

fn weather() -> ToolSpec {
    ToolSpec {
        name: "get_weather".into(),
        description: Some("Current weather in a city".into()),
        parameters: Some(json!({
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"]
        })),
    }
}

fn first_turn(choice: ToolChoice) -> ToolPrompt {
    ToolPrompt {
        messages: vec![ChatMessage::new("user", "What's the weather in Paris?")],
        tools: vec![weather()],
        choice,
        parallel: true,
    }
}

/// The conversation after the model called get_weather: the call and its result.
fn follow_up(system: Option<&str>) -> Vec<ChatMessage> {
    let mut messages = Vec::new();
    if let Some(s) = system {
        messages.push(ChatMessage::new("system", s));
    }
    messages.push(ChatMessage::new("user", "What's the weather in Paris?"));
    let mut call = ChatMessage::new("assistant", "");
    call.tool_calls.push(ToolCall {
        id: "call_abc".into(),
        name: "get_weather".into(),
        arguments: r#"{"city":"Paris"}"#.into(),
    });
    messages.push(call);
    let mut result = ChatMessage::new("tool", r#"{"temperature": 18, "sky": "clear"}"#);
    result.tool_call_id = Some("call_abc".into());
    messages.push(result);
    messages
}

const CALL_TEXT: &str =
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";

#[test]
fn qwen_renders_the_tools_block() {
    let t = qwen();
    assert_eq!(ToolFormat::detect(Some(t.source())), ToolFormat::Hermes);
    let out = render(&t, &first_turn(ToolChoice::Auto)).unwrap();
    assert!(out.starts_with("<|im_start|>system\nYou are Qwen"), "{out}");
    assert!(out.contains("# Tools"), "{out}");
    let tools_block = out.split("<tools>\n").nth(1).unwrap();
    let line = tools_block.lines().next().unwrap();
    // One tool per line, in OpenAI's shape.
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["type"], "function");
    assert_eq!(v["function"]["name"], "get_weather");
    assert_eq!(v["function"]["parameters"]["required"], json!(["city"]));
    // In the order Qwen was trained on (transformers renders the request's dicts as given).
    assert!(
        line.starts_with(
            "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": "
        ),
        "{line}"
    );
    assert!(out.ends_with(
        "<|im_start|>user\nWhat's the weather in Paris?<|im_end|>\n<|im_start|>assistant\n"
    ));
}

#[test]
fn qwen_renders_a_tool_follow_up() {
    let t = qwen();
    let prompt = ToolPrompt {
        messages: follow_up(None),
        tools: vec![weather()],
        choice: ToolChoice::Auto,
        parallel: true,
    };
    let out = render(&t, &prompt).unwrap();
    assert!(
        out.contains(&format!("<|im_start|>assistant\n{CALL_TEXT}<|im_end|>\n")),
        "{out}"
    );
    assert!(
        out.contains("<|im_start|>user\n<tool_response>\n{\"temperature\": 18, \"sky\": \"clear\"}\n</tool_response><|im_end|>\n<|im_start|>assistant\n"),
        "{out}"
    );
    // No tools offered (or tool_choice none): no tools block, but the history still renders.
    for (tools, choice) in [
        (vec![], ToolChoice::Auto),
        (vec![weather()], ToolChoice::None),
    ] {
        let prompt = ToolPrompt {
            messages: follow_up(None),
            tools,
            choice,
            parallel: true,
        };
        let out = render(&t, &prompt).unwrap();
        assert!(!out.contains("# Tools"), "{out}");
        assert!(out.contains(CALL_TEXT), "{out}");
        assert!(out.contains("<tool_response>"), "{out}");
    }
}

#[test]
fn qwen_forced_call_ends_with_the_opener() {
    let out = render(&qwen(), &first_turn(ToolChoice::Required)).unwrap();
    assert!(
        out.ends_with("<|im_start|>assistant\n<tool_call>\n"),
        "{out}"
    );
    let out = render(
        &qwen(),
        &first_turn(ToolChoice::Function("get_weather".into())),
    )
    .unwrap();
    assert!(
        out.ends_with("<|im_start|>assistant\n<tool_call>\n"),
        "{out}"
    );
}

#[test]
fn smollm2_gets_the_generic_prompt() {
    let t = smollm2();
    assert_eq!(ToolFormat::detect(Some(t.source())), ToolFormat::Generic);
    let out = render(&t, &first_turn(ToolChoice::Auto)).unwrap();
    // The tool prompt replaces the default system prompt.
    assert!(out.starts_with("<|im_start|>system\n# Tools\n"), "{out}");
    assert!(!out.contains("SmolLM"), "{out}");
    assert!(out.contains(
        "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Current weather in a city\", \"parameters\": {"
    ), "{out}");
    assert!(out.contains(
        "<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>"
    ));
    assert!(out.ends_with("<|im_start|>assistant\n"));

    let forced = render(&t, &first_turn(ToolChoice::Required)).unwrap();
    assert!(
        forced.ends_with("<|im_start|>assistant\n<tool_call>\n"),
        "{forced}"
    );
}

#[test]
fn smollm2_follow_up_shows_the_call_and_the_result_as_a_user_turn() {
    let prompt = ToolPrompt {
        messages: follow_up(Some("You are terse.")),
        tools: vec![weather()],
        choice: ToolChoice::Auto,
        parallel: true,
    };
    let out = render(&smollm2(), &prompt).unwrap();
    assert!(
        out.starts_with("<|im_start|>system\nYou are terse.\n\n# Tools\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!("<|im_start|>assistant\n{CALL_TEXT}<|im_end|>\n")),
        "{out}"
    );
    assert!(
        out.contains("<|im_start|>user\n<tool_response>\n{\"name\": \"get_weather\", \"content\": {\"temperature\": 18, \"sky\": \"clear\"}}\n</tool_response><|im_end|>\n<|im_start|>assistant\n"),
        "{out}"
    );
    assert!(!out.contains("<|im_start|>tool"), "{out}");
    // Without tools the system prompt is the conversation's own.
    let prompt = ToolPrompt {
        tools: vec![],
        ..prompt
    };
    let out = render(&smollm2(), &prompt).unwrap();
    assert!(out.starts_with("<|im_start|>system\nYou are terse.<|im_end|>\n"));
    assert!(out.contains("<tool_response>"));
}

/// Gemma's template raises unless roles alternate user/assistant; tool turns become user
/// turns and consecutive turns are merged, so a follow-up still renders.
#[test]
fn a_template_that_demands_alternation_renders_a_follow_up() {
    let t = template("gemma-alternating", "<bos>", "<eos>");
    assert_eq!(ToolFormat::detect(Some(t.source())), ToolFormat::Generic);
    let mut messages = follow_up(Some("Be brief."));
    // Two tool results in a row and then the user again: all one user turn.
    let mut second = ChatMessage::new("tool", "no wind");
    second.tool_call_id = Some("call_other".into());
    messages.push(second);
    messages.push(ChatMessage::new("user", "And tomorrow?"));
    // The plain history is what the template rejects.
    let plain_err = t.render(&messages).unwrap_err();
    assert!(plain_err.to_string().contains("alternate"), "{plain_err}");

    let prompt = ToolPrompt {
        messages,
        tools: vec![weather()],
        choice: ToolChoice::Required,
        parallel: true,
    };
    let out = render(&t, &prompt).unwrap();
    assert!(
        out.starts_with("<bos><start_of_turn>user\nBe brief.\n\n# Tools\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!("<start_of_turn>model\n{CALL_TEXT}<end_of_turn>\n")),
        "{out}"
    );
    assert!(out.contains("</tool_response>\n\n<tool_response>\nno wind\n</tool_response>\n\nAnd tomorrow?<end_of_turn>\n"), "{out}");
    assert!(
        out.ends_with("<start_of_turn>model\n<tool_call>\n"),
        "{out}"
    );
}

const LLAMA31_MIN: &str = "{{- bos_token }}{%- if tools is not none and tools %}Environment: ipython\n{%- for t in tools %}{{ t | tojson }}\n{% endfor %}{%- endif %}{%- for message in messages %}{%- if message.tool_calls %}{%- for tool_call in message.tool_calls %}{{- '<|python_tag|>' if false }}{{- '{\"name\": \"' + tool_call.function.name + '\", \"parameters\": ' + tool_call.function.arguments | tojson + '}' }}{%- endfor %}<|eom_id|>{%- else %}<|start_header_id|>{{ message.role }}<|end_header_id|>\n\n{{ message.content }}<|eot_id|>{%- endif %}{%- endfor %}{%- if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}";

const MISTRAL_MIN: &str = "{{ bos_token }}{% if tools %}[AVAILABLE_TOOLS]{{ tools | tojson }}[/AVAILABLE_TOOLS]{% endif %}{% for message in messages %}{% if message.role == 'user' %}[INST]{{ message.content }}[/INST]{% elif message.tool_calls %}[TOOL_CALLS]{{ message.tool_calls | map(attribute='function') | list | tojson }}{{ eos_token }}{% elif message.role == 'tool' %}[TOOL_RESULTS]{{ message.content }}[/TOOL_RESULTS]{% else %}{{ message.content }}{{ eos_token }}{% endif %}{% endfor %}";

#[test]
fn llama31_and_mistral_templates_are_detected_and_render_their_own_tools() {
    assert_eq!(ToolFormat::detect(Some(LLAMA31_MIN)), ToolFormat::Llama3);
    assert_eq!(ToolFormat::detect(Some(MISTRAL_MIN)), ToolFormat::Mistral);
    assert_eq!(ToolFormat::detect(None), ToolFormat::Generic);
    // A template that mentions the markers but never `tools` cannot render them.
    assert_eq!(
        ToolFormat::detect(Some("<tool_call>{{ messages }}")),
        ToolFormat::Generic
    );

    let llama = ChatTemplate::new(LLAMA31_MIN, "<|begin_of_text|>", "<|eot_id|>").unwrap();
    let out = render(&llama, &first_turn(ToolChoice::Required)).unwrap();
    assert!(out.contains("Environment: ipython{\""), "{out}");
    assert!(out.contains("\"name\": \"get_weather\""), "{out}");
    assert!(out.ends_with("<|start_header_id|>assistant<|end_header_id|>\n\n"));
    let prompt = ToolPrompt {
        messages: follow_up(None),
        tools: vec![],
        choice: ToolChoice::Auto,
        parallel: true,
    };
    let out = render(&llama, &prompt).unwrap();
    assert!(
        out.contains(
            "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eom_id|>"
        ),
        "{out}"
    );

    let mistral = ChatTemplate::new(MISTRAL_MIN, "<s>", "</s>").unwrap();
    let out = render(&mistral, &first_turn(ToolChoice::Required)).unwrap();
    assert!(out.starts_with("<s>[AVAILABLE_TOOLS][{"), "{out}");
    assert!(
        out.ends_with("[INST]What's the weather in Paris?[/INST][TOOL_CALLS]"),
        "{out}"
    );
    let out = render(&mistral, &prompt).unwrap();
    assert!(
        out.contains("[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]</s>[TOOL_RESULTS]"),
        "{out}"
    );
}

#[test]
fn the_generic_prompt_documents_the_syntax() {
    assert!(GENERIC_TOOL_PROMPT.contains("{tools}"));
    assert!(GENERIC_TOOL_PROMPT.contains(
        "<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>"
    ));
}
