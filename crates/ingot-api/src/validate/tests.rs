use super::*;
use crate::types::{ChatMessage, ContentPart, ResponseFormat, StopSequences};

fn chat(messages: Vec<ChatMessage>) -> ChatCompletionRequest {
    ChatCompletionRequest {
        model: "m".into(),
        messages,
        ..Default::default()
    }
}

fn code_of(e: &ApiError) -> u16 {
    e.status().as_u16()
}

#[test]
fn minimal_chat_is_valid_with_defaults() {
    let v = chat(vec![ChatMessage::new("user", "hi")])
        .validate()
        .unwrap();
    assert_eq!(v.model, "m");
    assert!(!v.stream && !v.include_usage && v.random_seed);
    assert_eq!(v.request.sampling.temperature, DEFAULT_TEMPERATURE);
    assert_eq!(v.request.sampling.max_tokens, None);
    match v.request.prompt {
        Prompt::Chat(m) => assert_eq!(m, vec![EngineMessage::new("user", "hi")]),
        _ => panic!("expected chat prompt"),
    }
}

#[test]
fn empty_messages_rejected() {
    let e = chat(vec![]).validate().unwrap_err();
    assert_eq!(code_of(&e), 400);
    assert_eq!(e.param(), Some("messages"));
}

#[test]
fn roles() {
    let e = chat(vec![ChatMessage::new("wizard", "hi")])
        .validate()
        .unwrap_err();
    assert_eq!(e.param(), Some("messages[0].role"));
    let e = chat(vec![ChatMessage::new("tool", "hi")])
        .validate()
        .unwrap_err();
    assert_eq!(code_of(&e), 400);
    assert_eq!(e.param(), Some("messages[0].tool_call_id"));
    let v = chat(vec![
        ChatMessage::new("developer", "be nice"),
        ChatMessage::new("user", "hi"),
    ])
    .validate()
    .unwrap();
    let Prompt::Chat(m) = v.request.prompt else {
        panic!()
    };
    assert_eq!(m[0].role, "system");
}

#[test]
fn content_parts_join_and_reject_images() {
    let mut r = chat(vec![ChatMessage {
        role: "user".into(),
        content: Some(MessageContent::Parts(vec![
            ContentPart {
                kind: "text".into(),
                text: Some("a".into()),
            },
            ContentPart {
                kind: "text".into(),
                text: Some("b".into()),
            },
        ])),
        tool_calls: None,
        tool_call_id: None,
        name: None,
    }]);
    let Prompt::Chat(m) = r.validate().unwrap().request.prompt else {
        panic!()
    };
    assert_eq!(m[0].content, "a\nb");
    r.messages[0].content = Some(MessageContent::Parts(vec![ContentPart {
        kind: "image_url".into(),
        text: None,
    }]));
    assert_eq!(code_of(&r.validate().unwrap_err()), 400);
    r.messages[0].content = None;
    assert_eq!(code_of(&r.validate().unwrap_err()), 400);
}

#[test]
fn max_tokens_rules() {
    let mut r = chat(vec![ChatMessage::new("user", "hi")]);
    r.max_tokens = Some(-1);
    assert_eq!(r.validate().unwrap_err().param(), Some("max_tokens"));
    r.max_tokens = Some(0);
    assert!(r.validate().is_err());
    r.max_tokens = Some(1 << 40);
    assert!(r.validate().is_err());
    r.max_tokens = Some(10);
    r.max_completion_tokens = Some(20);
    assert_eq!(r.validate().unwrap().request.sampling.max_tokens, Some(20));
    r.max_completion_tokens = Some(-5);
    assert_eq!(
        r.validate().unwrap_err().param(),
        Some("max_completion_tokens")
    );
}

#[test]
fn n_is_between_one_and_the_openai_limit() {
    let mut r = chat(vec![ChatMessage::new("user", "hi")]);
    assert_eq!(r.validate().unwrap().n, 1);
    r.sampling.n = Some(3);
    assert_eq!(r.validate().unwrap().n, 3);
    for bad in [0, -1, MAX_N + 1] {
        r.sampling.n = Some(bad);
        let e = r.validate().unwrap_err();
        assert_eq!((code_of(&e), e.param()), (400, Some("n")), "{bad}");
    }
}

#[test]
fn sampling_ranges() {
    let mut r = chat(vec![ChatMessage::new("user", "hi")]);
    r.sampling.temperature = Some(-0.1);
    assert!(r.validate().is_err());
    r.sampling.temperature = Some(f32::INFINITY);
    assert!(r.validate().is_err());
    r.sampling.temperature = Some(0.0);
    r.sampling.top_p = Some(1.5);
    assert!(r.validate().is_err());
    r.sampling.top_p = Some(0.0);
    assert!(r.validate().unwrap().request.sampling.top_p > 0.0);
    r.sampling.repeat_penalty = Some(0.0);
    assert_eq!(r.validate().unwrap_err().param(), Some("repeat_penalty"));
    r.sampling.repeat_penalty = None;
    r.sampling.top_p = Some(0.5);
    r.sampling.seed = Some(-1);
    let v = r.validate().unwrap();
    assert_eq!(v.request.sampling.seed, u64::MAX);
    assert!(!v.random_seed);
}

#[test]
fn stop_forms_and_empty_filtered() {
    let mut r = chat(vec![ChatMessage::new("user", "hi")]);
    r.sampling.stop = Some(StopSequences::Many(vec!["".into(), "\n".into()]));
    assert_eq!(
        r.validate().unwrap().request.sampling.stop,
        vec!["\n".to_string()]
    );
    r.sampling.stop = Some(StopSequences::Many(vec!["x".into(); 17]));
    assert!(r.validate().is_err());
    r.sampling.stop = Some(StopSequences::One("x".repeat(1025)));
    assert!(r.validate().is_err());
}

#[test]
fn response_format() {
    let mut r = chat(vec![ChatMessage::new("user", "hi")]);
    r.response_format = Some(ResponseFormat::new("json_object"));
    assert!(r.validate().unwrap().request.sampling.grammar.is_some());
    r.response_format = Some(ResponseFormat::new("json_schema"));
    assert!(r.validate().is_err());
    let with_schema = |schema: serde_json::Value| {
        Some(ResponseFormat {
            kind: "json_schema".into(),
            json_schema: Some(crate::JsonSchemaFormat {
                name: Some("notes".into()),
                schema: Some(crate::SchemaText::from_value(&schema)),
                strict: Some(true),
                ..Default::default()
            }),
        })
    };
    r.response_format = with_schema(serde_json::json!({
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 1}},
        "required": ["n"]
    }));
    let js = r.validate().unwrap().request.sampling.json_schema.unwrap();
    assert!(js.schema.contains(r#""minimum":1"#), "{js:?}");
    assert_eq!(js.param, "response_format.json_schema.schema");
    // A keyword the converter would drop is a 400 that names it.
    r.response_format = with_schema(serde_json::json!({"type": "integer", "multipleOf": 5}));
    let e = r.validate().unwrap_err();
    assert_eq!(e.param(), Some("response_format.json_schema.schema"));
    assert_eq!(e.code(), Some("invalid_json_schema"));
    assert!(e.to_string().contains("`multipleOf`"), "{e}");
    r.sampling.grammar = Some("root ::= \"x\"".into());
    r.response_format = with_schema(serde_json::json!({"type": "integer"}));
    assert_eq!(r.validate().unwrap_err().param(), Some("response_format"));
    r.sampling.grammar = None;
    r.response_format = Some(ResponseFormat::new("yaml"));
    assert!(r.validate().is_err());
}

#[test]
fn completion_prompts() {
    let mut r = CompletionRequest {
        model: "m".into(),
        prompt: PromptInput::One("x".into()),
        ..Default::default()
    };
    assert!(matches!(r.validate().unwrap().request.prompt, Prompt::Raw(ref s) if s == "x"));
    r.prompt = PromptInput::Many(vec!["y".into()]);
    assert!(matches!(r.validate().unwrap().request.prompt, Prompt::Raw(ref s) if s == "y"));
    r.prompt = PromptInput::Many(vec!["y".into(), "z".into()]);
    assert!(r.validate().is_err());
}

#[test]
fn parse_errors_are_400s_with_params() {
    let e = parse_json::<ChatCompletionRequest>(b"{not json").unwrap_err();
    assert_eq!(e.code(), Some("invalid_json"));
    let e = parse_json::<ChatCompletionRequest>(br#"{"messages":[]}"#).unwrap_err();
    assert_eq!(code_of(&e), 400);
    assert!(e.to_string().contains("model"), "{e}");
    let e =
        parse_json::<ChatCompletionRequest>(br#"{"model":"m","messages":[],"max_tokens":"ten"}"#)
            .unwrap_err();
    assert_eq!(code_of(&e), 400);
    assert!(e.to_string().contains("max_tokens"), "{e}");
    let e = parse_json::<ChatCompletionRequest>(
        br#"{"model":"m","messages":[{"role":"user","content":1}]}"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("messages[0].content"), "{e}");
    let e = parse_json::<ChatCompletionRequest>(b"[1,2]").unwrap_err();
    assert_eq!(code_of(&e), 400);
}

#[test]
fn issue8_trailing_data_is_malformed() {
    let one = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    assert!(parse_json::<ChatCompletionRequest>(one).is_ok());
    let with_ws = [&one[..], b" \n\t "].concat();
    assert!(parse_json::<ChatCompletionRequest>(&with_ws).is_ok());
    for tail in [&one[..], &b"x"[..], &b"{"[..], &b"null"[..], &b"\0"[..]] {
        let body = [&one[..], tail].concat();
        let e = parse_json::<ChatCompletionRequest>(&body).unwrap_err();
        assert_eq!(e.code(), Some("invalid_json"), "{e}");
        assert!(e.to_string().contains("trailing characters"), "{e}");
    }
}

#[test]
fn issue8_errors_in_sampling_fields_name_the_field() {
    for (field, value) in [
        ("temperature", r#""hot""#),
        ("top_p", "[]"),
        ("top_k", "9223372036854775808"),
        ("seed", r#""x""#),
        ("stop", "5"),
        ("n", r#""1""#),
        ("grammar", "1"),
    ] {
        let body = format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],"{field}":{value}}}"#
        );
        let e = parse_json::<ChatCompletionRequest>(body.as_bytes()).unwrap_err();
        assert_eq!(e.param(), Some(field), "{e}");
        assert!(e.to_string().contains(field), "{e}");
        let body = format!(r#"{{"model":"m","prompt":"p","{field}":{value}}}"#);
        let e = parse_json::<CompletionRequest>(body.as_bytes()).unwrap_err();
        assert_eq!(e.param(), Some(field), "{e}");
    }
    // A missing field still has no param.
    let e = parse_json::<ChatCompletionRequest>(br#"{"messages":[]}"#).unwrap_err();
    assert_eq!(e.param(), None);
}

/// A cheap stand-in for fuzzing: arbitrary byte soup and JSON-ish mutations never panic.
#[test]
fn parse_and_validate_never_panic() {
    let seeds: &[&[u8]] = &[
        br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5}"#,
        br#"{"model":"m","prompt":["a"],"stop":["x"],"temperature":1e309}"#,
    ];
    for seed in seeds {
        for cut in 0..seed.len() {
            for flip in [b'"', b'{', b'[', b'-', b'9', b'\xff'] {
                let mut b = seed.to_vec();
                b[cut] = flip;
                if let Ok(r) = parse_json::<ChatCompletionRequest>(&b) {
                    let _ = r.validate();
                }
                if let Ok(r) = parse_json::<CompletionRequest>(&b[..cut]) {
                    let _ = r.validate();
                }
            }
        }
    }
}

#[test]
fn logprobs_fields() {
    let mut r = ChatCompletionRequest {
        model: "m".into(),
        messages: vec![ChatMessage::new("user", "hi")],
        ..Default::default()
    };
    assert_eq!(r.validate().unwrap().request.sampling.logprobs, None);
    r.logprobs = Some(true);
    assert_eq!(r.validate().unwrap().request.sampling.logprobs, Some(0));
    r.top_logprobs = Some(5);
    assert_eq!(r.validate().unwrap().request.sampling.logprobs, Some(5));
    r.top_logprobs = Some(21);
    assert_eq!(r.validate().unwrap_err().param(), Some("top_logprobs"));
    r.logprobs = None;
    r.top_logprobs = Some(2);
    assert_eq!(r.validate().unwrap_err().param(), Some("top_logprobs"));

    let mut c = CompletionRequest {
        model: "m".into(),
        prompt: PromptInput::One("x".into()),
        logprobs: Some(3),
        ..Default::default()
    };
    assert_eq!(c.validate().unwrap().request.sampling.logprobs, Some(3));
    c.logprobs = Some(-1);
    assert_eq!(c.validate().unwrap_err().param(), Some("logprobs"));
    c.logprobs = None;
    c.echo = Some(true);
    assert_eq!(c.validate().unwrap_err().param(), Some("echo"));
}

#[test]
fn refused_fields_surface_through_parse_and_validate() {
    let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"functions":[{"name":"f","parameters":{}}]}"#;
    let e = parse_json::<ChatCompletionRequest>(body)
        .unwrap()
        .validate()
        .unwrap_err();
    assert_eq!(e.param(), Some("functions"));
    let body = br#"{"model":"m","prompt":"x","suffix":"y"}"#;
    let e = parse_json::<CompletionRequest>(body)
        .unwrap()
        .validate()
        .unwrap_err();
    assert_eq!(e.param(), Some("suffix"));
    let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"presence_penalty":0.5,"frequency_penalty":-0.5,"prediction":{"type":"content","content":"x"}}"#;
    let v = parse_json::<ChatCompletionRequest>(body)
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(v.request.sampling.presence_penalty, 0.5);
    assert_eq!(v.request.sampling.frequency_penalty, -0.5);
}

/// Issue 14: tools, tool_choice and the tool turns of a follow-up reach the engine.
#[test]
fn tools_and_tool_turns_become_a_tool_prompt() {
    let body = br#"{"model":"m","tool_choice":{"type":"function","function":{"name":"get_weather"}},"parallel_tool_calls":false,
        "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
        "messages":[{"role":"user","content":"Paris?"},
          {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
          {"role":"tool","tool_call_id":"call_1","content":"18C"}]}"#;
    let v = parse_json::<ChatCompletionRequest>(body)
        .unwrap()
        .validate()
        .unwrap();
    let Prompt::ChatWithTools(p) = v.request.prompt else {
        panic!("{:?}", v.request.prompt)
    };
    assert_eq!(p.tools.len(), 1);
    assert_eq!(
        p.choice,
        ingot_core::tools::ToolChoice::Function("get_weather".into())
    );
    assert!(!p.parallel);
    assert_eq!(p.messages[1].tool_calls[0].arguments, r#"{"city":"Paris"}"#);
    assert_eq!(p.messages[2].tool_call_id.as_deref(), Some("call_1"));

    // `none` hides the tools from the model; a plain chat stays a plain chat.
    let body = br#"{"model":"m","tool_choice":"none","tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"hi"}]}"#;
    let v = parse_json::<ChatCompletionRequest>(body)
        .unwrap()
        .validate()
        .unwrap();
    assert!(matches!(v.request.prompt, Prompt::Chat(_)));

    // A forced call and a response_format would be two grammars for one answer.
    let body = br#"{"model":"m","tool_choice":"required","response_format":{"type":"json_object"},"tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"hi"}]}"#;
    let e = parse_json::<ChatCompletionRequest>(body)
        .unwrap()
        .validate()
        .unwrap_err();
    assert_eq!(e.param(), Some("tool_choice"));

    // Only assistants carry calls.
    let body = br#"{"model":"m","messages":[{"role":"user","content":"hi","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}]}"#;
    let e = parse_json::<ChatCompletionRequest>(body)
        .unwrap()
        .validate()
        .unwrap_err();
    assert_eq!(e.param(), Some("messages[0].tool_calls"));
}
