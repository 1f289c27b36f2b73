#!/usr/bin/env python3
"""Side-by-side embedding throughput (issue 15's bar): ingot serve vs llama-server --embedding
(or any two OpenAI-compatible servers already running), interleaved A/B/A/B on one machine.

Workload: CONCURRENCY clients, each sending `POST /v1/embeddings` with BATCH inputs per request
(sentences of 8 to 60 words, cycled from a fixed set, so both servers embed the same texts),
for SECONDS per round. Per server and round: requests/s, inputs/s, input tokens/s (from
`usage.prompt_tokens`), and request latency p50/p95. The verdict is the median over rounds of
A's inputs/s divided by B's.

Both servers must also agree on the vectors: before measuring, the first batch is embedded by
each and the cosine of every pair printed (an unnormalised or differently pooled server would
not be a fair comparison).

Usage: compare-embeddings.py --a NAME=URL --b NAME=URL --model ID [--b-model ID]
         [--rounds 5] [--seconds 20] [--concurrency 4] [--batch 32]
Only the standard library is used.
"""
import argparse, json, math, statistics, threading, time, urllib.request

WORDS = ("the meeting notes say we ship the offline summary feature on friday after the "
         "privacy review and the latency budget for small models on laptops is two hundred "
         "milliseconds per request while retrieval augmented generation needs embeddings of "
         "every paragraph in the knowledge base").split()


def sentences(n):
    out = []
    for i in range(n):
        k = 8 + (i * 7) % 53
        out.append(" ".join(WORDS[(i + j) % len(WORDS)] for j in range(k)) + f" ({i})")
    return out


TEXTS = sentences(256)


def embed(url, model, inputs):
    body = json.dumps({"model": model, "input": inputs, "encoding_format": "float"}).encode()
    req = urllib.request.Request(url + "/v1/embeddings", data=body,
                                 headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=600) as r:
        v = json.loads(r.read())
    dt = time.perf_counter() - t0
    vecs = [d["embedding"] for d in sorted(v["data"], key=lambda d: d["index"])]
    return vecs, (v.get("usage") or {}).get("prompt_tokens", 0), dt


def cos(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def round_(url, model, seconds, concurrency, batch):
    stop = time.perf_counter() + seconds
    lock = threading.Lock()
    stats = {"requests": 0, "inputs": 0, "tokens": 0, "lat": []}

    def worker(w):
        i = w * batch
        while time.perf_counter() < stop:
            inputs = [TEXTS[(i + j) % len(TEXTS)] for j in range(batch)]
            i += batch * concurrency
            _, tokens, dt = embed(url, model, inputs)
            with lock:
                stats["requests"] += 1
                stats["inputs"] += batch
                stats["tokens"] += tokens
                stats["lat"].append(dt)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat = sorted(stats["lat"])
    return {
        "req_s": stats["requests"] / wall,
        "inputs_s": stats["inputs"] / wall,
        "tokens_s": stats["tokens"] / wall,
        "p50_ms": 1e3 * lat[len(lat) // 2] if lat else float("nan"),
        "p95_ms": 1e3 * lat[min(len(lat) - 1, int(len(lat) * 0.95))] if lat else float("nan"),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--b-model")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    servers = []
    for spec, model in ((args.a, args.model), (args.b, args.b_model or args.model)):
        name, url = spec.split("=", 1)
        servers.append((name, url.rstrip("/"), model))

    first = TEXTS[: args.batch]
    va, ta, _ = embed(servers[0][1], servers[0][2], first)
    vb, tb, _ = embed(servers[1][1], servers[1][2], first)
    cs = [cos(x, y) for x, y in zip(va, vb)]
    print(f"agreement on {len(cs)} inputs: min cosine {min(cs):.6f}, tokens {ta} vs {tb}")
    # Warm-up round for both (model load, allocator).
    for _, url, model in servers:
        round_(url, model, 3, args.concurrency, args.batch)

    results = {s[0]: [] for s in servers}
    for r in range(args.rounds):
        order = servers if r % 2 == 0 else servers[::-1]
        for name, url, model in order:
            m = round_(url, model, args.seconds, args.concurrency, args.batch)
            results[name].append(m)
            print(f"round {r + 1} {name:>14}: {m['req_s']:7.2f} req/s {m['inputs_s']:8.1f} inputs/s "
                  f"{m['tokens_s']:9.0f} tok/s  p50 {m['p50_ms']:7.1f} ms  p95 {m['p95_ms']:7.1f} ms")
    a, b = servers[0][0], servers[1][0]
    ratios = [x["inputs_s"] / y["inputs_s"] for x, y in zip(results[a], results[b])]
    med = lambda k, n: statistics.median(m[k] for m in results[n])
    for n in (a, b):
        print(f"median {n:>14}: {med('inputs_s', n):8.1f} inputs/s {med('tokens_s', n):9.0f} tok/s "
              f"p50 {med('p50_ms', n):7.1f} ms p95 {med('p95_ms', n):7.1f} ms")
    print(f"{a}/{b} inputs/s per round: {', '.join(f'{x:.3f}' for x in ratios)}; "
          f"median {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
