use serde_json::json;

use ingot_engine::{json_schema_grammar, json_schema_grammar_str};

fn keyword_of(schema: serde_json::Value) -> Option<String> {
    json_schema_grammar(&schema)
        .expect_err(&format!("{schema} should be refused"))
        .keyword
}

#[test]
fn meeting_notes_schema_converts_in_schema_order() {
    let g = json_schema_grammar_str(
        r#"{"type":"object","properties":{"summary":{"type":"string"},"action_items":{"type":"array","minItems":1,"maxItems":5,"items":{"type":"object","properties":{"owner":{"type":"string"},"task":{"type":"string"},"due":{"type":"string","format":"date"}},"required":["owner","task","due"],"additionalProperties":false}}},"required":["summary","action_items"],"additionalProperties":false}"#,
    )
    .unwrap();
    let root = g.lines().find(|l| l.starts_with("root ::=")).unwrap();
    let (s, a) = (root.find("summary").unwrap(), root.find("action").unwrap());
    assert!(s < a, "{root}");
}

#[test]
fn bounded_numbers_get_their_own_rule() {
    let g = json_schema_grammar(&json!({
        "type": "object",
        "properties": {"score": {"type": "number", "minimum": 0, "maximum": 1}},
        "required": ["score"]
    }))
    .unwrap();
    assert!(!g.contains("ingot-bounded-number"), "{g}");
    let rule = g
        .lines()
        .find(|l| l.starts_with("ingot-number-0 ::="))
        .unwrap();
    assert!(
        rule.contains("ingot-number-0-int") && rule.contains("ingot-number-0-pos"),
        "{g}"
    );
    // No negative decimals fit in [0, 1].
    assert!(!rule.contains("-neg"), "{g}");
    let g = json_schema_grammar(&json!({"type": "number", "exclusiveMinimum": -2.5, "maximum": 3}))
        .unwrap();
    assert!(g.contains("ingot-number-0-neg ::="), "{g}");
}

#[test]
fn keywords_the_converter_ignores_are_named() {
    for (schema, kw) in [
        (json!({"type": "integer", "multipleOf": 3}), "multipleOf"),
        (
            json!({"type": "array", "items": {"type": "string"}, "uniqueItems": true}),
            "uniqueItems",
        ),
        (json!({"not": {"type": "string"}}), "not"),
        (
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "patternProperties": {"^x": {}}}),
            "patternProperties",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string", "format": "email"}}}),
            "format",
        ),
        (json!({"type": "string", "pattern": "abc"}), "pattern"),
        (
            json!({"type": "object", "properties": {"a": {}}, "required": ["b"]}),
            "required",
        ),
        (json!({"$ref": "#/$defs/x", "$defs": {}}), "$ref"),
        (json!({"$ref": "https://example.com/s.json"}), "$ref"),
        (
            json!({"anyOf": [{"type": "string"}], "minLength": 3}),
            "minLength",
        ),
        (json!({"type": "string", "nullable": true}), "nullable"),
        (json!({"type": "array", "maxItems": 1_000_000}), "maxItems"),
        (
            json!({"type": "object", "minProperties": 1}),
            "minProperties",
        ),
        (
            json!({"type": "number", "minimum": 5, "maximum": 1}),
            "minimum",
        ),
        (json!({"minimum": 1}), "minimum"),
        (json!({"type": "widget"}), "type"),
    ] {
        assert_eq!(keyword_of(schema.clone()).as_deref(), Some(kw), "{schema}");
    }
}

#[test]
fn supported_keywords_convert() {
    for schema in [
        json!({"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}, "$defs": {"A": {"type": "string", "enum": ["x", "y"]}}}),
        json!({"type": ["string", "null"], "maxLength": 4}),
        json!({"anyOf": [{"type": "integer", "minimum": 1, "exclusiveMaximum": 10}, {"const": "none"}]}),
        json!({"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"}),
        json!({"type": "array", "prefixItems": [{"type": "string"}, {"type": "boolean"}]}),
        json!({"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}}, {"type": "object", "properties": {"b": {"type": "integer"}}}]}),
        json!({"type": "string", "format": "date-time"}),
        json!({"type": "integer", "minimum": 0, "exclusiveMinimum": true}),
        json!(true),
    ] {
        if let Err(e) = json_schema_grammar(&schema) {
            panic!("{schema}: {e}");
        }
    }
}
