"""Drives `ingot serve` with SmolLM2-135M through the official OpenAI Python SDK (issue 4):
list models, non-streaming chat, streaming chat with include_usage (the usage chunk and the
closing [DONE]), completions, and an unknown model raising NotFoundError.
Usage: openai_smollm2.py BASE_URL"""
import json
import sys
import urllib.request

import openai

base = sys.argv[1]
MODEL = "smollm2-135m"
client = openai.OpenAI(base_url=base + "/v1", api_key="not-needed-on-loopback", max_retries=0)

# List models: OpenAI's format, with ingot's extra fields kept in model_extra.
models = client.models.list().data
ids = [m.id for m in models]
assert MODEL in ids, ids
m = client.models.retrieve(MODEL)
assert m.id == MODEL and m.object == "model", m
assert m.model_extra["cached"] is True, m.model_extra

QUESTION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France?"},
]

# Non-streaming chat, greedy.
r = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=24, temperature=0)
assert r.object == "chat.completion", r
assert r.model == MODEL, r.model
answer = r.choices[0].message.content
assert r.choices[0].message.role == "assistant"
assert "Paris" in answer, answer
assert r.choices[0].finish_reason in ("stop", "length"), r.choices[0].finish_reason
assert r.usage.prompt_tokens > 10, r.usage
assert 1 <= r.usage.completion_tokens <= 24, r.usage
assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, r.usage
assert r.model_extra["timings"]["ttft_ms"] > 0, r.model_extra

# Streaming chat with include_usage: the same greedy text, then a usage-only chunk.
stream = client.chat.completions.create(
    model=MODEL,
    messages=QUESTION,
    max_tokens=24,
    temperature=0,
    stream=True,
    stream_options={"include_usage": True},
)
text, usage, finish, chunks = "", None, None, 0
for chunk in stream:
    chunks += 1
    assert chunk.object == "chat.completion.chunk", chunk
    if chunk.usage is not None:
        usage = chunk.usage
        assert chunk.choices == [], chunk
    for c in chunk.choices:
        text += c.delta.content or ""
        finish = c.finish_reason or finish
assert chunks > 3, chunks
assert text == answer, (text, answer)
assert finish == r.choices[0].finish_reason, finish
assert usage is not None, "no usage chunk"
assert usage.completion_tokens == r.usage.completion_tokens, usage
assert usage.prompt_tokens == r.usage.prompt_tokens, usage

# The SDK stops at [DONE] without saying whether it came: check the raw stream ends with it,
# right after the usage chunk.
req = urllib.request.Request(
    base + "/v1/chat/completions",
    data=json.dumps({"model": MODEL, "messages": QUESTION, "max_tokens": 8, "temperature": 0,
                     "stream": True, "stream_options": {"include_usage": True}}).encode(),
    headers={"Content-Type": "application/json"},
)
with urllib.request.urlopen(req, timeout=300) as raw:
    assert raw.status == 200, raw.status
    assert raw.headers["content-type"].startswith("text/event-stream"), dict(raw.headers)
    lines = raw.read().decode().splitlines()
data = [line[len("data: "):] for line in lines if line.startswith("data: ")]
assert data[-1] == "[DONE]", data[-3:]
last = json.loads(data[-2])
assert last["choices"] == [] and last["usage"]["completion_tokens"] >= 1, last

# Completions (raw prompt), non-streaming and streaming.
r = client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=8, temperature=0)
assert r.object == "text_completion", r
assert r.choices[0].text.strip(), r
assert 1 <= r.usage.completion_tokens <= 8, r.usage
streamed = "".join(
    c.choices[0].text
    for c in client.completions.create(
        model=MODEL, prompt="The capital of France is", max_tokens=8, temperature=0, stream=True
    )
    if c.choices
)
assert streamed == r.choices[0].text, (streamed, r.choices[0].text)

# An unknown model is a 404 the SDK raises as NotFoundError, listing what is available.
try:
    client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "x"}])
    raise SystemExit("unknown model accepted")
except openai.NotFoundError as e:
    assert e.status_code == 404
    assert e.code == "model_not_found", e.body
    assert MODEL in e.message, e.message

print("OK")
