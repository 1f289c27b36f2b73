"""Logprobs through the official OpenAI Python SDK against a real `ingot serve`.
Usage: logprobs.py BASE_URL MODEL"""
import math
import sys

import openai

base, model = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=600)
msgs = [{"role": "user", "content": "Name three colors."}]


def check_entry(e, k, greedy):
    assert e.logprob <= 0.0, e
    assert len(e.top_logprobs) == k, e
    values = [t.logprob for t in e.top_logprobs]
    assert values == sorted(values, reverse=True), values
    assert all(v <= 0.0 for v in values), values
    assert sum(math.exp(v) for v in values) <= 1.0 + 1e-4, values
    # The chosen token is among the alternatives with the same value, or less likely than
    # all of them; greedy decoding picks the most likely one.
    same = [t for t in e.top_logprobs if t.token == e.token]
    if same:
        assert abs(same[0].logprob - e.logprob) < 1e-6, (same, e)
    else:
        assert e.logprob <= values[-1] + 1e-6, e
    if greedy:
        assert abs(e.logprob - values[0]) < 1e-6, e
    assert bytes(e.bytes).decode("utf-8", "replace") == e.token or "\ufffd" in e.token, e


r = client.chat.completions.create(model=model, messages=msgs, max_tokens=16, temperature=0, logprobs=True, top_logprobs=5)
content = r.choices[0].logprobs.content
assert len(content) == r.usage.completion_tokens, (len(content), r.usage)
for e in content:
    check_entry(e, 5, greedy=True)
assert "".join(e.token for e in content) == r.choices[0].message.content

# Streamed: the same values per chunk.
streamed = []
for chunk in client.chat.completions.create(model=model, messages=msgs, max_tokens=16, temperature=0, logprobs=True, top_logprobs=5, stream=True):
    for c in chunk.choices:
        if c.logprobs and c.logprobs.content:
            streamed.extend(c.logprobs.content)
assert [e.token for e in streamed] == [e.token for e in content]
assert all(abs(a.logprob - b.logprob) < 1e-5 for a, b in zip(streamed, content))

# Sampling (temperature 0.8, top-k, top-p) does not change the values: they are the model's
# distribution before the sampler's filters.
r = client.chat.completions.create(model=model, messages=msgs, max_tokens=16, temperature=0.8, seed=3, logprobs=True, top_logprobs=3)
for e in r.choices[0].logprobs.content:
    check_entry(e, 3, greedy=False)

# logprobs without alternatives, and no logprobs when not asked.
r = client.chat.completions.create(model=model, messages=msgs, max_tokens=4, logprobs=True)
assert all(len(e.top_logprobs) == 0 for e in r.choices[0].logprobs.content)
r = client.chat.completions.create(model=model, messages=msgs, max_tokens=4)
assert r.choices[0].logprobs is None

# Legacy completions: logprobs=k.
r = client.completions.create(model=model, prompt="The capital of France is", max_tokens=8, temperature=0, logprobs=3)
lp = r.choices[0].logprobs
assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == r.usage.completion_tokens
assert "".join(lp.tokens) == r.choices[0].text
assert all(v <= 0 for v in lp.token_logprobs)
assert lp.text_offset == sorted(lp.text_offset)
for tok, v, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
    assert abs(max(top.values()) - v) < 1e-6, (tok, v, top)

for bad in [dict(top_logprobs=21, logprobs=True), dict(top_logprobs=2)]:
    try:
        client.chat.completions.create(model=model, messages=msgs, max_tokens=2, **bad)
        raise SystemExit(f"{bad} accepted")
    except openai.BadRequestError as e:
        assert e.param == "top_logprobs", e.body

print("OK logprobs")
