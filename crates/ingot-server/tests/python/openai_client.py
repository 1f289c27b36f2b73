"""Drives an ingot server with the official OpenAI Python SDK: if the SDK can use it, so can
the ecosystem built on it. Usage: openai_client.py BASE_URL API_KEY"""
import json
import sys

import openai

base, key = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)

ids = [m.id for m in client.models.list().data]
assert "tiny-chat" in ids, ids
assert client.models.retrieve("tiny-chat").id == "tiny-chat"

r = client.chat.completions.create(
    model="tiny-chat",
    messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "say hello"}],
    max_tokens=16,
    temperature=0,
    seed=1,
    stop=["\n"],
)
assert r.choices[0].message.role == "assistant"
assert r.choices[0].message.content == "Hello, world!", r
assert r.choices[0].finish_reason == "stop"
assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
# Extension fields survive in the SDK's model_extra.
assert r.model_extra["timings"]["ttft_ms"] > 0, r.model_extra

r = client.chat.completions.create(
    model="tiny-chat", messages=[{"role": "user", "content": "hi"}], max_completion_tokens=2
)
assert r.choices[0].finish_reason == "length"

stream = client.chat.completions.create(
    model="tiny-chat",
    messages=[{"role": "user", "content": [{"type": "text", "text": "say hello"}]}],
    stream=True,
    stream_options={"include_usage": True},
)
text, usage, finish = "", None, None
for chunk in stream:
    if chunk.usage:
        usage = chunk.usage
    for c in chunk.choices:
        text += c.delta.content or ""
        finish = c.finish_reason or finish
assert text == "Hello, world!", text
assert finish == "stop"
assert usage is not None and usage.completion_tokens == 4, usage

r = client.completions.create(model="tiny-base", prompt="Once upon", max_tokens=3)
assert r.choices[0].text == "Hello, world", r
text = "".join(c.choices[0].text for c in client.completions.create(model="tiny-base", prompt="x", stream=True) if c.choices)
assert text == "Hello, world!", text

r = client.chat.completions.create(
    model="tiny-chat", messages=[{"role": "user", "content": "json"}], response_format={"type": "json_object"}
)
assert r.choices[0].message.content is not None

try:
    client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "x"}])
    raise SystemExit("unknown model accepted")
except openai.NotFoundError as e:
    assert e.code == "model_not_found", e.body
    assert "tiny-chat" in e.message

try:
    client.chat.completions.create(model="tiny-chat", messages=[{"role": "user", "content": "x"}], n=129)
    raise SystemExit("n=129 accepted")
except openai.BadRequestError as e:
    assert e.param == "n", e.body

try:
    client.chat.completions.create(model="tiny-chat", messages=[{"role": "user", "content": "x"}], max_tokens=100000)
    raise SystemExit("huge max_tokens accepted")
except openai.BadRequestError as e:
    assert e.code == "context_length_exceeded", e.body

try:
    openai.OpenAI(base_url=base + "/v1", api_key="wrong", max_retries=0).models.list()
    raise SystemExit("wrong key accepted")
except openai.AuthenticationError as e:
    assert e.code == "invalid_api_key", e.body

# A stream the client abandons after the first chunk.
stream = client.chat.completions.create(
    model="tiny-chat", messages=[{"role": "user", "content": "x"}], stream=True
)
next(iter(stream))
stream.close()

print("OK")
