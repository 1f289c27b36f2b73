"""`n` > 1 through the official OpenAI Python SDK against a real `ingot serve` (4 slots):
three choices with their own seeds, usage counting the prompt once, the streamed form with
indices, completions too, and a 400 naming `n` above the slot count.
Usage: n_choices.py BASE_URL MODEL"""
import sys

import openai

base, model = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=600)
msgs = [{"role": "user", "content": "Write a short sentence about the sea."}]

one = client.chat.completions.create(model=model, messages=msgs, max_tokens=16, temperature=0.8, seed=42)
r = client.chat.completions.create(model=model, messages=msgs, max_tokens=16, temperature=0.8, seed=42, n=3)
assert [c.index for c in r.choices] == [0, 1, 2], r
texts = [c.message.content for c in r.choices]
assert all(t.strip() for t in texts), texts
# Seeds 42, 43, 44: choice 0 is the n=1 answer with seed 42, and the choices differ.
assert texts[0] == one.choices[0].message.content, (texts, one.choices[0].message.content)
assert len(set(texts)) > 1, texts
assert r.usage.prompt_tokens == one.usage.prompt_tokens, (r.usage, one.usage)
per_choice = [client.chat.completions.create(model=model, messages=msgs, max_tokens=16, temperature=0.8, seed=42 + i)
              for i in range(3)]
assert [p.choices[0].message.content for p in per_choice] == texts, (per_choice, texts)
assert r.usage.completion_tokens == sum(p.usage.completion_tokens for p in per_choice), r.usage
assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, r.usage

# Streamed: every chunk names its choice; each choice gets its role, text and one finish.
chunks = list(client.chat.completions.create(model=model, messages=msgs, max_tokens=16, temperature=0.8, seed=42,
                                             n=3, stream=True, stream_options={"include_usage": True}))
streamed = {0: "", 1: "", 2: ""}
finishes = {0: 0, 1: 0, 2: 0}
roles = set()
for ch in chunks:
    for c in ch.choices:
        if c.delta.role:
            roles.add(c.index)
        streamed[c.index] += c.delta.content or ""
        if c.finish_reason:
            finishes[c.index] += 1
assert roles == {0, 1, 2} and finishes == {0: 1, 1: 1, 2: 1}, (roles, finishes)
assert [streamed[i] for i in range(3)] == texts, (streamed, texts)
assert chunks[-1].usage.completion_tokens == r.usage.completion_tokens, chunks[-1].usage

# Completions.
c = client.completions.create(model=model, prompt="The sea is", max_tokens=8, temperature=0.9, seed=7, n=2)
assert [x.index for x in c.choices] == [0, 1] and all(x.text for x in c.choices), c

# More choices than slots: a 400 naming n and the cap.
try:
    client.chat.completions.create(model=model, messages=msgs, max_tokens=4, n=5)
    raise AssertionError("n=5 on 4 slots should be refused")
except openai.BadRequestError as e:
    assert e.body["param"] == "n" and "at most 4" in e.body["message"], e.body

print("OK")
