"""Structured outputs through the official OpenAI Python SDK against a real `ingot serve`:
every schema below is sent as `response_format: json_schema` and every output must validate
with `jsonschema`. Usage: structured_outputs.py BASE_URL MODEL [--meeting-only]"""
import concurrent.futures
import json
import sys

import jsonschema
import openai

base, model = sys.argv[1], sys.argv[2]
meeting_only = "--meeting-only" in sys.argv
client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=600)

MEETING = {
    "type": "object",
    "properties": {
        "summary": {"type": "string", "maxLength": 120},
        "action_items": {
            "type": "array",
            "minItems": 1,
            "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {
                    "owner": {"type": "string", "maxLength": 40},
                    "task": {"type": "string", "maxLength": 80},
                    "due": {"type": "string", "format": "date"},
                },
                "required": ["owner", "task", "due"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["summary", "action_items"],
    "additionalProperties": False,
}

NOTES = (
    "Meeting notes: Alice will send the budget by 2025-03-01. Bob fixes the login bug "
    "before 2025-02-20. We agreed to ship version 2 in March."
)

# (name, schema, prompt): together they cover nested objects, arrays with minItems/maxItems,
# enum, const, required vs optional, integer and number bounds, $ref/$defs, anyOf, type
# lists with null, string lengths, patterns and formats, tuples and allOf.
SCHEMAS = [
    ("meeting_notes", MEETING, "Summarize as JSON with action items. " + NOTES),
    ("flat", {"type": "object", "properties": {"name": {"type": "string", "maxLength": 30}, "age": {"type": "integer", "minimum": 0, "maximum": 120}}, "required": ["name", "age"], "additionalProperties": False}, "Describe a person as JSON."),
    ("enum", {"type": "object", "properties": {"sentiment": {"enum": ["positive", "neutral", "negative"]}}, "required": ["sentiment"], "additionalProperties": False}, "Sentiment of: I love it."),
    ("const", {"type": "object", "properties": {"version": {"const": 2}, "ok": {"type": "boolean"}}, "required": ["version", "ok"], "additionalProperties": False}, "Status as JSON."),
    ("optional", {"type": "object", "properties": {"title": {"type": "string", "maxLength": 40}, "subtitle": {"type": "string", "maxLength": 40}}, "required": ["title"], "additionalProperties": False}, "A book title as JSON."),
    ("array_bounds", {"type": "array", "items": {"type": "string", "maxLength": 20}, "minItems": 2, "maxItems": 3}, "List some fruits as a JSON array."),
    ("int_bounds", {"type": "object", "properties": {"n": {"type": "integer", "minimum": 10, "maximum": 99}}, "required": ["n"], "additionalProperties": False}, "Pick a number."),
    ("int_exclusive", {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 5}, "A small number."),
    ("number_bounds", {"type": "object", "properties": {"score": {"type": "number", "minimum": 0, "maximum": 1}}, "required": ["score"], "additionalProperties": False}, "Rate this answer from 0 to 1."),
    ("number_negative", {"type": "number", "minimum": -10.5, "maximum": -2}, "A negative temperature."),
    ("refs", {"$defs": {"address": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 30}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}}, "required": ["city", "zip"], "additionalProperties": False}}, "type": "object", "properties": {"home": {"$ref": "#/$defs/address"}, "work": {"$ref": "#/$defs/address"}}, "required": ["home", "work"], "additionalProperties": False}, "Two addresses as JSON."),
    ("defs_items", {"$defs": {"tag": {"type": "object", "properties": {"key": {"type": "string", "maxLength": 10}, "weight": {"type": "integer", "minimum": 1, "maximum": 3}}, "required": ["key", "weight"], "additionalProperties": False}}, "type": "array", "minItems": 1, "maxItems": 3, "items": {"$ref": "#/$defs/tag"}}, "Some weighted tags as JSON."),
    ("anyof", {"type": "object", "properties": {"value": {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 10}]}}, "required": ["value"], "additionalProperties": False}, "Any value."),
    ("nullable", {"type": "object", "properties": {"middle_name": {"type": ["string", "null"], "maxLength": 20}}, "required": ["middle_name"], "additionalProperties": False}, "A person's middle name, or null."),
    ("string_len", {"type": "object", "properties": {"code": {"type": "string", "minLength": 3, "maxLength": 5}}, "required": ["code"], "additionalProperties": False}, "A short code."),
    ("pattern", {"type": "object", "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{3}$"}}, "required": ["sku"], "additionalProperties": False}, "A product SKU."),
    ("formats", {"type": "object", "properties": {"when": {"type": "string", "format": "date-time"}, "id": {"type": "string", "format": "uuid"}}, "required": ["when", "id"], "additionalProperties": False}, "An event with a timestamp and id."),
    ("tuple", {"type": "array", "prefixItems": [{"type": "string", "maxLength": 10}, {"type": "integer", "minimum": 0, "maximum": 9}]}, "A name and a digit."),
    ("nested", {"type": "object", "properties": {"order": {"type": "object", "properties": {"id": {"type": "integer", "minimum": 1}, "lines": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"type": "object", "properties": {"sku": {"type": "string", "maxLength": 10}, "qty": {"type": "integer", "minimum": 1, "maximum": 9}}, "required": ["sku", "qty"], "additionalProperties": False}}}, "required": ["id", "lines"], "additionalProperties": False}}, "required": ["order"], "additionalProperties": False}, "An order as JSON."),
    ("allof", {"allOf": [{"type": "object", "properties": {"a": {"type": "string", "maxLength": 10}}, "required": ["a"]}, {"type": "object", "properties": {"b": {"type": "boolean"}}, "required": ["b"]}]}, "Fill in a and b."),
    ("bool_null", {"type": "object", "properties": {"flag": {"type": "boolean"}, "nothing": {"type": "null"}}, "required": ["flag", "nothing"], "additionalProperties": False}, "Flags."),
    ("enum_ints", {"type": "object", "properties": {"stars": {"enum": [1, 2, 3, 4, 5]}, "tags": {"type": "array", "maxItems": 3, "items": {"enum": ["a", "b", "c"]}}}, "required": ["stars", "tags"], "additionalProperties": False}, "Rate it."),
]

if meeting_only:
    SCHEMAS = SCHEMAS[:1]

def check(case):
    name, schema, prompt = case
    r = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        response_format={"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}},
        temperature=0.7,
        seed=7,
        max_tokens=300,
    )
    choice = r.choices[0]
    text = choice.message.content
    assert choice.finish_reason == "stop", (name, choice.finish_reason, text)
    try:
        value = json.loads(text)
        jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())
    except Exception as e:
        raise SystemExit(f"{name}: output does not validate: {e}\n{text}")
    if name == "meeting_notes":
        # Properties come out in the schema's order.
        assert text.index('"summary"') < text.index('"action_items"'), text
        print("meeting notes:", text)
    return name


# Concurrent requests: the server batches them (--parallel), which keeps the run short.
with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
    checked = len(list(pool.map(check, SCHEMAS)))

# Streamed: the concatenated deltas validate too. Seeded like the non-streamed check above (an
# unseeded sample could ramble past max_tokens, and a cut-off answer cannot validate).
schema = SCHEMAS[0][1]
text = ""
finish = None
for chunk in client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": SCHEMAS[0][2]}],
    response_format={"type": "json_schema", "json_schema": {"name": SCHEMAS[0][0], "schema": schema, "strict": True}},
    temperature=0.7,
    seed=7,
    max_tokens=300,
    stream=True,
):
    for c in chunk.choices:
        text += c.delta.content or ""
        finish = c.finish_reason or finish
assert finish == "stop", (finish, text)
jsonschema.validate(json.loads(text), schema)

if not meeting_only:
    # What the converter cannot express is a 400 naming the keyword.
    for bad, keyword in [
        ({"type": "integer", "multipleOf": 3}, "multipleOf"),
        ({"type": "array", "items": {"type": "string"}, "uniqueItems": True}, "uniqueItems"),
        ({"type": "string", "format": "email"}, "format"),
        ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]}, "required"),
    ]:
        try:
            client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": "x"}],
                response_format={"type": "json_schema", "json_schema": {"name": "bad", "schema": bad}},
            )
            raise SystemExit(f"schema with {keyword} accepted")
        except openai.BadRequestError as e:
            assert e.code == "invalid_json_schema", e.body
            assert f"`{keyword}`" in e.message, e.message

print(f"OK {checked} schemas")
