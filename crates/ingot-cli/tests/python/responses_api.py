"""The Responses API through the official OpenAI Python SDK against a real `ingot serve`:
plain, streamed, with instructions and message items, with text.format (json_schema), and the
stateless refusals. Usage: responses_api.py BASE_URL MODEL"""
import json
import sys

import jsonschema
import openai

base, model = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=600)

# Plain: output_text, usage, status.
r = client.responses.create(model=model, input="What is the capital of France?", max_output_tokens=24, temperature=0)
assert r.object == "response" and r.id.startswith("resp_"), r
assert r.status in ("completed", "incomplete"), r
assert r.output_text.strip(), r
assert r.output[0].type == "message" and r.output[0].role == "assistant", r
assert r.usage.input_tokens > 0 and 0 < r.usage.output_tokens <= 24, r.usage
assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens, r.usage
if r.status == "incomplete":
    assert r.incomplete_details.reason == "max_output_tokens", r

# A budget too small to finish is `incomplete`, with its reason.
r = client.responses.create(model=model, input="Tell a long story about a dragon.", max_output_tokens=3)
assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens", r
assert r.usage.output_tokens == 3, r.usage

# Instructions and message items (developer, user, assistant, content parts).
r = client.responses.create(
    model=model,
    instructions="Answer in one word.",
    input=[
        {"role": "user", "content": "Name a color."},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Blue."}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Another one?"}]},
    ],
    max_output_tokens=8,
    temperature=0,
)
assert r.output_text.strip() and r.instructions == "Answer in one word.", r

# Streamed: the event sequence, deltas that add up to the final text.
events = list(client.responses.create(model=model, input="Say hello.", max_output_tokens=16, temperature=0, stream=True))
kinds = [e.type for e in events]
assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"], kinds
assert kinds[-4:-1] == ["response.output_text.done", "response.content_part.done", "response.output_item.done"], kinds
assert kinds[-1] in ("response.completed", "response.incomplete"), kinds
deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
final = events[-1].response
assert deltas and deltas == final.output_text, (deltas, final.output_text)
assert [e.sequence_number for e in events] == list(range(len(events))), kinds
assert final.usage.output_tokens > 0, final

# text.format json_schema: the answer validates against the schema when it ends on its own.
schema = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
    "required": ["city", "country"],
    "additionalProperties": False,
}
r = client.responses.create(
    model=model,
    input="Which city is the capital of France? Answer in JSON.",
    text={"format": {"type": "json_schema", "name": "capital", "schema": schema, "strict": True}},
    max_output_tokens=64,
    temperature=0,
)
assert r.text.format.type == "json_schema", r.text
if r.status == "completed":
    jsonschema.validate(json.loads(r.output_text), schema)

# Stateless: previous_response_id and store are refused, naming the field.
for kwargs, param in (({"previous_response_id": "resp_1"}, "previous_response_id"), ({"store": True}, "store")):
    try:
        client.responses.create(model=model, input="hi", **kwargs)
        raise AssertionError(f"{param} should be refused")
    except openai.BadRequestError as e:
        assert e.status_code == 400 and e.body["param"] == param, e.body

print("OK")
