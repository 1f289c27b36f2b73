"""Tool calling through the official OpenAI Python SDK against a real `ingot serve` (issue 14):
a forced call (`tool_choice: required` and a named function) parses and its arguments validate
against the function's schema, plain and streamed; the follow-up turn with the tool's result
gets an answer; `auto` answers with either text or a valid call; the Responses API returns
`function_call` items, plain and streamed. Usage: tool_calls.py BASE_URL MODEL"""
import json
import sys

import jsonschema
import openai

base, model = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=600)

WEATHER_PARAMS = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "The city name, e.g. Paris"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city"],
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a city.",
            "parameters": WEATHER_PARAMS,
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Get the local time in a timezone.",
            "parameters": {
                "type": "object",
                "properties": {"timezone": {"type": "string"}},
                "required": ["timezone"],
            },
        },
    },
]
PARAMS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
QUESTION = [{"role": "user", "content": "What is the weather like in Paris right now?"}]


def check_call(call, expect_name=None):
    assert call.type == "function", call
    assert call.id and call.id.startswith("call_"), call
    name = call.function.name
    assert name in PARAMS, call
    if expect_name:
        assert name == expect_name, call
    args = json.loads(call.function.arguments)
    jsonschema.validate(args, PARAMS[name])
    return name, args


# 1. `required`: the answer is a call whose arguments match the schema.
r = client.chat.completions.create(
    model=model, messages=QUESTION, tools=TOOLS, tool_choice="required", temperature=0, max_tokens=128
)
c = r.choices[0]
assert c.finish_reason == "tool_calls", r
assert c.message.tool_calls, r
name, args = check_call(c.message.tool_calls[0])
print("required:", name, args)
first_call = c.message.tool_calls[0]

# 2. A named function, streamed: delta.tool_calls with index, id, name, argument fragments.
stream = client.chat.completions.create(
    model=model,
    messages=QUESTION,
    tools=TOOLS,
    tool_choice={"type": "function", "function": {"name": "get_weather"}},
    temperature=0,
    max_tokens=128,
    stream=True,
)
calls, finish = {}, None
for chunk in stream:
    if not chunk.choices:
        continue
    ch = chunk.choices[0]
    for d in ch.delta.tool_calls or []:
        entry = calls.setdefault(d.index, {"id": None, "name": None, "arguments": ""})
        if d.id:
            assert entry["id"] is None, "an id is sent once per call"
            entry["id"] = d.id
        if d.function and d.function.name:
            entry["name"] = d.function.name
        if d.function and d.function.arguments:
            entry["arguments"] += d.function.arguments
    if ch.finish_reason:
        finish = ch.finish_reason
assert finish == "tool_calls", finish
assert list(calls) == [0] or sorted(calls) == list(range(len(calls))), calls
streamed = calls[0]
assert streamed["id"].startswith("call_") and streamed["name"] == "get_weather", streamed
streamed_args = json.loads(streamed["arguments"])
jsonschema.validate(streamed_args, WEATHER_PARAMS)
print("streamed:", streamed)

# 3. The follow-up turn: the tool's result goes back and the model answers in text.
messages = QUESTION + [
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": first_call.id,
                "type": "function",
                "function": {"name": first_call.function.name, "arguments": first_call.function.arguments},
            }
        ],
    },
    {
        "role": "tool",
        "tool_call_id": first_call.id,
        "content": json.dumps({"city": "Paris", "temperature_c": 18, "sky": "sunny"}),
    },
]
r = client.chat.completions.create(model=model, messages=messages, tools=TOOLS, tool_choice="none", temperature=0, max_tokens=64)
answer = r.choices[0].message.content
assert answer and answer.strip(), r
assert not r.choices[0].message.tool_calls, r
print("follow-up:", answer.strip()[:120])

# 4. `auto`: text or a valid call, never markup in the content.
r = client.chat.completions.create(model=model, messages=QUESTION, tools=TOOLS, temperature=0, max_tokens=128)
m = r.choices[0].message
if m.tool_calls:
    assert r.choices[0].finish_reason == "tool_calls", r
    for call in m.tool_calls:
        check_call(call)
    print("auto: called", [c.function.name for c in m.tool_calls])
else:
    assert m.content and "<tool_call>" not in m.content, m
    print("auto: answered", m.content[:80])

# 5. Unknown function in tool_choice: a 400 naming the field.
try:
    client.chat.completions.create(
        model=model, messages=QUESTION, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "nope"}}
    )
    raise AssertionError("expected a 400")
except openai.BadRequestError as e:
    assert e.body["param"] == "tool_choice" and "nope" in e.body["message"], e.body

# 6. The Responses API: function tools in the flat shape, plain and streamed.
flat = [{"type": "function", "name": t["function"]["name"], "description": t["function"]["description"], "parameters": t["function"]["parameters"]} for t in TOOLS]
r = client.responses.create(model=model, input="What is the weather like in Paris?", tools=flat, tool_choice="required", temperature=0, max_output_tokens=128)
fc = [o for o in r.output if o.type == "function_call"]
assert fc, r
assert fc[0].name in PARAMS and fc[0].call_id.startswith("call_"), fc
jsonschema.validate(json.loads(fc[0].arguments), PARAMS[fc[0].name])
# The result goes back as a function_call_output item.
r2 = client.responses.create(
    model=model,
    input=[
        {"role": "user", "content": "What is the weather like in Paris?"},
        {"type": "function_call", "call_id": fc[0].call_id, "name": fc[0].name, "arguments": fc[0].arguments},
        {"type": "function_call_output", "call_id": fc[0].call_id, "output": "18 C, sunny"},
    ],
    tools=flat,
    tool_choice="none",
    temperature=0,
    max_output_tokens=64,
)
assert r2.output_text.strip(), r2
events = list(
    client.responses.create(model=model, input="Weather in Rome?", tools=flat, tool_choice="required", temperature=0, max_output_tokens=128, stream=True)
)
kinds = [e.type for e in events]
assert "response.function_call_arguments.delta" in kinds and "response.function_call_arguments.done" in kinds, kinds
args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
final = events[-1].response
fc = [o for o in final.output if o.type == "function_call"]
assert fc and fc[0].arguments == args, (fc, args)
jsonschema.validate(json.loads(args), PARAMS[fc[0].name])
assert [e.sequence_number for e in events] == list(range(len(events))), kinds
print("responses:", fc[0].name, args)
print("OK")
