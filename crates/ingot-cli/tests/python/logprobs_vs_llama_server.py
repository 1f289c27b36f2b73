"""Compares ingot's logprobs with llama-server's `n_probs` for the same model and prompts:
the first 16 tokens of 3 prompts, greedy, top 5 alternatives.

Two llama-servers run: one with flash attention, one without. Their own values differ (up
to ~0.1 on SmolLM2-135M Q4_1), and ingot's llama.cpp is another version, so ingot is held to
the reference's own spread: its largest difference from the flash-attention server must be
no more than 1.5x the largest difference between the two servers (or 1e-3). Positions are
compared while ingot and the flash-attention server took the same greedy token (near-ties
may flip the path later), and the servers' spread while they agree with each other.
Usage: logprobs_vs_llama_server.py INGOT_BASE PEER_FA_ON PEER_FA_OFF MODEL"""
import json
import math
import sys
import urllib.request

import openai

ingot, peer_on, peer_off, model = sys.argv[1:5]
client = openai.OpenAI(base_url=ingot + "/v1", api_key="unused", max_retries=0, timeout=600)
PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time, there was"]


def peer_probs(peer, prompt):
    body = json.dumps({"prompt": prompt, "n_predict": 16, "temperature": 0, "n_probs": 5, "cache_prompt": False}).encode()
    req = urllib.request.Request(peer + "/completion", body, {"Content-Type": "application/json"})
    out = json.load(urllib.request.urlopen(req, timeout=600))
    rows = []
    for p in out["completion_probabilities"]:
        if "top_logprobs" in p:  # newer llama-server: log-probabilities
            rows.append((p["token"], p["logprob"], {t["token"]: t["logprob"] for t in p["top_logprobs"]}))
        else:  # older: probabilities
            top = {t["tok_str"]: math.log(t["prob"]) for t in p["probs"]}
            rows.append((p["content"], max(top.values()), top))
    return rows


def spread(x, y):
    """Largest |difference| of the chosen token's logprob and of shared alternatives."""
    (tok, v, top), (_, w, other) = x, y
    d = abs(v - w)
    for t, tv in top.items():
        if t in other:
            d = max(d, abs(tv - other[t]))
    return d


ours_worst, peer_worst, compared = 0.0, 0.0, 0
for prompt in PROMPTS:
    r = client.completions.create(model=model, prompt=prompt, max_tokens=16, temperature=0, logprobs=5)
    lp = r.choices[0].logprobs
    ours = list(zip(lp.tokens, lp.token_logprobs, lp.top_logprobs))
    on, off = peer_probs(peer_on, prompt), peer_probs(peer_off, prompt)
    n = 0
    while n < min(len(ours), len(on), 16) and ours[n][0] == on[n][0]:
        n += 1
    assert n >= 8, (prompt, "greedy paths part before 8 tokens", [o[0] for o in ours], [o[0] for o in on])
    m = 0
    while m < min(n, len(off)) and off[m][0] == on[m][0]:
        m += 1
    for i in range(m):
        peer_worst = max(peer_worst, spread(on[i], off[i]))
    for i in range(n):
        # The chosen token is among our alternatives, with the same value (greedy: the top).
        assert ours[i][2].get(ours[i][0]) == ours[i][1] == max(ours[i][2].values()), ours[i]
        ours_worst = max(ours_worst, spread(ours[i], on[i]))
    compared += n
bound = max(1e-3, 1.5 * peer_worst)
assert ours_worst <= bound, (ours_worst, peer_worst)
print(f"OK {compared} positions: max |ingot - llama-server| {ours_worst:.4f}; llama-server fa on vs off {peer_worst:.4f}")
