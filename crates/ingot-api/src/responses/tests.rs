use super::*;

fn req(v: Value) -> Result<ValidatedResponses, ApiError> {
    serde_json::from_value::<ResponsesRequest>(v)
        .unwrap()
        .validate()
}

#[test]
fn input_strings_and_items_become_chat_messages() {
    let v = req(
        json!({"model": "m", "input": "hi", "instructions": "Be terse.", "max_output_tokens": 9}),
    )
    .unwrap();
    assert_eq!(v.chat.request.sampling.max_tokens, Some(9));
    assert!(!v.stream);
    let v = req(json!({"model": "m", "input": [
        {"role": "developer", "content": "Be terse."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "c"}]},
        {"role": "user", "content": "d"}
    ], "stream": true}))
    .unwrap();
    assert!(v.stream);
    match &v.chat.request.prompt {
        ingot_core::Prompt::Chat(m) => {
            let roles: Vec<&str> = m.iter().map(|m| m.role.as_str()).collect();
            assert_eq!(roles, ["system", "user", "assistant", "user"]);
            assert_eq!(m[1].content, "ab");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn state_tools_and_unknown_items_are_refused_naming_the_field() {
    for (body, param) in [
        (
            json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}),
            "previous_response_id",
        ),
        (json!({"model": "m", "input": "x", "store": true}), "store"),
        (
            json!({"model": "m", "input": "x", "background": true}),
            "background",
        ),
        (
            json!({"model": "m", "input": "x", "conversation": "c"}),
            "conversation",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "function"}]}),
            "tools[0].name",
        ),
        (
            json!({"model": "m", "input": "x", "tool_choice": "required"}),
            "tool_choice",
        ),
        (
            json!({"model": "m", "input": [{"type": "function_call_output", "call_id": "c"}]}),
            "input[0].output",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]}),
            "input[0].content[0]",
        ),
        (
            json!({"model": "m", "input": [{"role": "tool", "content": "x"}]}),
            "input[0].role",
        ),
        (json!({"model": "m"}), "input"),
        (
            json!({"model": "m", "input": "x", "max_output_tokens": 0}),
            "max_output_tokens",
        ),
        (
            json!({"model": "m", "input": "x", "text": {"format": {"type": "yaml"}}}),
            "text.format.type",
        ),
    ] {
        let e = req(body.clone()).unwrap_err();
        assert_eq!(e.param(), Some(param), "{body}: {e}");
        assert_eq!(e.status(), http::StatusCode::BAD_REQUEST, "{body}");
    }
    // Harmless fields and `store: false` pass.
    req(json!({"model": "m", "input": "x", "store": false, "metadata": {"k": "v"}, "user": "u", "tool_choice": "auto", "tools": []})).unwrap();
}

#[test]
fn function_tools_and_call_items_become_the_chat_request_s() {
    let v = req(json!({"model": "m", "tool_choice": "required", "tools": [
        {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
    ], "input": [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
        {"type": "function_call", "call_id": "c2", "name": "get_weather", "arguments": "{\"city\":\"Rome\"}"},
        {"type": "function_call_output", "call_id": "c1", "output": "18C"},
        {"type": "function_call_output", "call_id": "c2", "output": "21C"}
    ]}))
    .unwrap();
    let ingot_core::Prompt::ChatWithTools(p) = &v.chat.request.prompt else {
        panic!("{:?}", v.chat.request.prompt)
    };
    assert_eq!(p.tools[0].name, "get_weather");
    assert_eq!(p.choice, ingot_core::tools::ToolChoice::Required);
    let roles: Vec<&str> = p.messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "tool"]);
    let ids: Vec<&str> = p.messages[1]
        .tool_calls
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(ids, ["c1", "c2"]);
    assert_eq!(p.messages[3].tool_call_id.as_deref(), Some("c2"));
    assert_eq!(v.echo.tools[0]["name"], "get_weather");
    assert_eq!(v.echo.tool_choice, "required");
}

#[test]
fn text_format_json_schema_becomes_a_constraint() {
    let v = req(json!({"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "city", "strict": true,
        "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}))
    .unwrap();
    let js = v.chat.request.sampling.json_schema.unwrap();
    assert!(js.schema.contains("city"), "{js:?}");
    assert_eq!(js.param, "text.format.json_schema.schema");
    assert_eq!(v.echo.text["format"]["name"], "city");
    let e = req(json!({"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "x", "schema": {"not": {}}}}})).unwrap_err();
    assert!(
        e.param().is_some_and(|p| p.starts_with("text.format")),
        "{e}"
    );
}
