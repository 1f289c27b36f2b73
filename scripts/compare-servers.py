#!/usr/bin/env python3
"""Side-by-side serving comparison: ingot serve vs llama.cpp's llama-server (or any two
OpenAI-compatible servers already running), interleaved A/B/A/B on one machine.

Measures, per server:
  * p50 TTFT at concurrency 1 (streaming; TTFT = first non-empty content delta);
  * aggregate output tok/s at concurrency 8 (sum of usage.completion_tokens / wall window).

Usage: compare-servers.py --a NAME=URL --b NAME=URL --model ID [--rounds 3]
Only the standard library is used, so it runs anywhere python3 does.
"""
import argparse, json, statistics, threading, time, urllib.request

PROMPTS = [
    "Explain the principle of retrieval augmented generation in 2 sentences.",
    "List 3 privacy benefits of local inference.",
    "Summarize why model size impacts latency on consumer hardware.",
    "Provide two scenarios where an SLM is preferable to an LLM.",
    "Write a haiku about the sea.",
    "What is the capital of France?",
    "Give three tips for writing clear meeting notes.",
    "Describe a cat in one paragraph.",
]


def stream(url, model, prompt, max_tokens):
    body = json.dumps({
        "model": model, "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens, "temperature": 0, "stream": True,
        "stream_options": {"include_usage": True},
    }).encode()
    req = urllib.request.Request(url + "/v1/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    ttft, usage = None, None
    with urllib.request.urlopen(req, timeout=600) as r:
        for raw in r:
            line = raw.decode().strip()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if chunk.get("usage"):
                usage = chunk["usage"]
            for c in chunk.get("choices") or []:
                if ttft is None and (c.get("delta") or {}).get("content"):
                    ttft = time.perf_counter() - t0
    return ttft, (usage or {}).get("completion_tokens", 0), time.perf_counter() - t0


def ttft_p50(url, model, n):
    vals = [stream(url, model, PROMPTS[i % len(PROMPTS)], 16)[0] for i in range(n)]
    return statistics.median(vals) * 1000


def aggregate(url, model, conc, per_worker, max_tokens):
    tokens = [0] * conc
    def worker(i):
        for k in range(per_worker):
            tokens[i] += stream(url, model, PROMPTS[(i + k) % len(PROMPTS)], max_tokens)[1]
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(conc)]
    t0 = time.perf_counter()
    for t in threads: t.start()
    for t in threads: t.join()
    return sum(tokens) / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True); ap.add_argument("--b", required=True)
    ap.add_argument("--model", required=True); ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=128)
    # A pause before each measurement: a server's idle compute threads (OpenMP spin-waits)
    # must not steal CPU from the other server's measurement that follows it.
    ap.add_argument("--gap", type=float, default=3.0)
    args = ap.parse_args()
    servers = [s.split("=", 1) for s in (args.a, args.b)]
    for name, url in servers:  # warm-up
        stream(url, args.model, PROMPTS[0], 8)
    res = {name: {"ttft": [], "tok_s": []} for name, _ in servers}
    for rnd in range(args.rounds):
        for name, url in (servers if rnd % 2 == 0 else servers[::-1]):
            time.sleep(args.gap)
            res[name]["ttft"].append(ttft_p50(url, args.model, 9))
            time.sleep(args.gap)
            res[name]["tok_s"].append(aggregate(url, args.model, 8, 2, args.max_tokens))
            print(f"round {rnd + 1} {name}: p50 TTFT c=1 {res[name]['ttft'][-1]:.1f} ms, "
                  f"aggregate c=8 {res[name]['tok_s'][-1]:.1f} tok/s", flush=True)
    (a, _), (b, _) = servers
    ma = {k: statistics.median(v) for k, v in res[a].items()}
    mb = {k: statistics.median(v) for k, v in res[b].items()}
    print(json.dumps({"a": a, "b": b, "median_a": ma, "median_b": mb,
                      "ratio_tok_s_a_over_b": ma["tok_s"] / mb["tok_s"],
                      "ratio_ttft_a_over_b": ma["ttft"] / mb["ttft"]}, indent=2))


if __name__ == "__main__":
    main()
