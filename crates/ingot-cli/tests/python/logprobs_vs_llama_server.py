"""Compares ingot's logprobs with llama-server's `n_probs` for the same model and prompts:
the first 16 tokens of 3 prompts, greedy, top 5 alternatives, within 1e-3.
Usage: logprobs_vs_llama_server.py INGOT_BASE LLAMA_SERVER_BASE MODEL"""
import json
import math
import sys
import urllib.request

import openai

ingot, peer, model = sys.argv[1], sys.argv[2], sys.argv[3]
client = openai.OpenAI(base_url=ingot + "/v1", api_key="unused", max_retries=0, timeout=600)
PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time, there was"]


def peer_probs(prompt):
    body = json.dumps({"prompt": prompt, "n_predict": 16, "temperature": 0, "n_probs": 5, "cache_prompt": False}).encode()
    req = urllib.request.Request(peer + "/completion", body, {"Content-Type": "application/json"})
    out = json.load(urllib.request.urlopen(req, timeout=600))
    rows = []
    for p in out["completion_probabilities"]:
        if "top_logprobs" in p:  # newer llama-server: log-probabilities
            rows.append((p["token"], p["logprob"], [(t["token"], t["logprob"]) for t in p["top_logprobs"]]))
        else:  # older: probabilities
            top = [(t["tok_str"], math.log(t["prob"])) for t in p["probs"]]
            rows.append((p["content"], top[0][1], top))
    return rows


worst = 0.0
for prompt in PROMPTS:
    r = client.completions.create(model=model, prompt=prompt, max_tokens=16, temperature=0, logprobs=5)
    lp = r.choices[0].logprobs
    ours = list(zip(lp.tokens, lp.token_logprobs, lp.top_logprobs))
    theirs = peer_probs(prompt)
    n = min(len(ours), len(theirs), 16)
    assert n >= 8, (prompt, len(ours), len(theirs))
    for i in range(n):
        (tok, v, top), (ptok, pv, ptop) = ours[i], theirs[i]
        assert tok == ptok, (prompt, i, tok, ptok)
        worst = max(worst, abs(v - pv))
        for t, tv in ptop:
            if t in top:
                worst = max(worst, abs(top[t] - tv))
assert worst < 1e-3, worst
print(f"OK max |difference| {worst:.2e}")
