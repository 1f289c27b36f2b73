//! Forced calls: the prefix the prompt ends with and the schema the answer must match.

use ingot_core::check_json_schema;
use ingot_core::tools::{
    forced_call_schema, forced_call_schema_text, forced_prefix, ToolChoice, ToolError, ToolFormat,
    ToolSpec,
};
use serde_json::json;

const FORMATS: [ToolFormat; 4] = [
    ToolFormat::Hermes,
    ToolFormat::Generic,
    ToolFormat::Llama3,
    ToolFormat::Mistral,
];

fn weather() -> ToolSpec {
    ToolSpec {
        name: "get_weather".into(),
        description: Some("Current weather".into()),
        parameters: Some(json!({
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"]
        })),
    }
}

fn time() -> ToolSpec {
    ToolSpec {
        name: "get_time".into(),
        description: None,
        parameters: None,
    }
}

#[test]
fn prefixes() {
    assert_eq!(forced_prefix(ToolFormat::Hermes), "<tool_call>\n");
    assert_eq!(forced_prefix(ToolFormat::Generic), "<tool_call>\n");
    assert_eq!(forced_prefix(ToolFormat::Mistral), "[TOOL_CALLS]");
    assert_eq!(forced_prefix(ToolFormat::Llama3), "");
}

#[test]
fn no_schema_unless_forced() {
    for choice in [ToolChoice::Auto, ToolChoice::None] {
        assert_eq!(
            forced_call_schema(ToolFormat::Hermes, &[weather()], &choice, true),
            Ok(None)
        );
        // Not forced: no tools is no error.
        assert_eq!(
            forced_call_schema(ToolFormat::Hermes, &[], &choice, true),
            Ok(None)
        );
    }
}

#[test]
fn errors_name_the_problem() {
    assert_eq!(
        forced_call_schema(ToolFormat::Hermes, &[], &ToolChoice::Required, true),
        Err(ToolError::NoTools)
    );
    let err = forced_call_schema(
        ToolFormat::Hermes,
        &[weather(), time()],
        &ToolChoice::Function("launch".into()),
        true,
    )
    .unwrap_err();
    assert_eq!(
        err,
        ToolError::UnknownFunction {
            name: "launch".into(),
            available: "get_weather, get_time".into()
        }
    );
    assert!(err.to_string().contains("get_weather, get_time"));
}

#[test]
fn one_function_schema() {
    let schema = forced_call_schema(
        ToolFormat::Hermes,
        &[weather(), time()],
        &ToolChoice::Function("get_weather".into()),
        true,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        schema,
        json!({
            "type": "object",
            "properties": {
                "name": {"const": "get_weather"},
                "arguments": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"]
                }
            },
            "required": ["name", "arguments"],
            "additionalProperties": false
        })
    );
    // The text form keeps the order the model writes: name, then arguments.
    let text = forced_call_schema_text(
        ToolFormat::Hermes,
        &[weather()],
        &ToolChoice::Required,
        true,
    )
    .unwrap()
    .unwrap();
    assert!(
        text.starts_with(
            r#"{"type":"object","properties":{"name":{"const":"get_weather"},"arguments":{"#
        ),
        "{text}"
    );
    let llama = forced_call_schema(ToolFormat::Llama3, &[time()], &ToolChoice::Required, true)
        .unwrap()
        .unwrap();
    assert_eq!(llama["properties"]["parameters"], json!({"type": "object"}));
    assert_eq!(llama["required"], json!(["name", "parameters"]));
}

#[test]
fn required_over_two_tools_and_mistral_arrays() {
    let tools = [weather(), time()];
    let schema = forced_call_schema(ToolFormat::Generic, &tools, &ToolChoice::Required, true)
        .unwrap()
        .unwrap();
    let any = schema["anyOf"].as_array().unwrap();
    assert_eq!(any.len(), 2);
    assert_eq!(any[1]["properties"]["name"]["const"], "get_time");
    assert_eq!(any[1]["properties"]["arguments"], json!({"type": "object"}));

    let parallel = forced_call_schema(ToolFormat::Mistral, &tools, &ToolChoice::Required, true)
        .unwrap()
        .unwrap();
    assert_eq!(parallel["type"], "array");
    assert_eq!(parallel["minItems"], 1);
    assert!(parallel.get("maxItems").is_none());
    assert_eq!(parallel["items"], schema);
    let single = forced_call_schema(ToolFormat::Mistral, &tools, &ToolChoice::Required, false)
        .unwrap()
        .unwrap();
    assert_eq!(single["maxItems"], 1);
}

/// The schemas use only keywords llama.cpp's converter implements.
#[test]
fn schemas_pass_the_json_schema_check() {
    for format in FORMATS {
        for (tools, choice) in [
            (vec![weather()], ToolChoice::Required),
            (vec![weather(), time()], ToolChoice::Required),
            (
                vec![weather(), time()],
                ToolChoice::Function("get_time".into()),
            ),
        ] {
            for parallel in [true, false] {
                let text = forced_call_schema_text(format, &tools, &choice, parallel)
                    .unwrap()
                    .unwrap();
                check_json_schema(&text).unwrap_or_else(|e| panic!("{format:?}: {e:?}: {text}"));
                let value = forced_call_schema(format, &tools, &choice, parallel)
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    value,
                    serde_json::from_str::<serde_json::Value>(&text).unwrap()
                );
                check_json_schema(&value.to_string()).unwrap();
            }
        }
    }
}
