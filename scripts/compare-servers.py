#!/usr/bin/env python3
"""Side-by-side serving comparison: ingot serve vs llama.cpp's llama-server (or any
OpenAI-compatible servers), interleaved A/B/A/B on one machine.

Default (unchanged since round 1 of PERFORMANCE.md), per server and round:
  * p50 TTFT at concurrency 1 (streaming; TTFT = first non-empty content delta);
  * aggregate output tok/s at concurrency 8 (sum of usage.completion_tokens / wall window).

With --full (issue 18), per server and round:
  * TTFT p50 and p90, and aggregate output tok/s, at each of --concurrency (1,4,8,16): every
    worker sends --per-worker requests of --max-tokens tokens (the first one's TTFT counts as
    well), so TTFT is measured under the load of the other workers; a level sends at least
    --min-requests (8) in all, so c=1 sends 8, one per prompt;
  * single-stream decode tok/s on the `summarize` prompts (ingot-bench's built-in set, from
    crates/ingot-engine/tests/fixtures/summarize.json): (completion tokens - 1) / (last token
    time - first token time), summed over the set, greedy; the outputs are hashed so that
    identical greedy output across servers can be checked (`same_summaries_as_first`);
    speculative servers' acceptance (timings.draft_n / draft_n_accepted) is reported too.
Every round visits the servers in a rotated order; the JSON summary (--json FILE, and
printed) holds every round's numbers, the medians, and the first server's measures over
each other one's (`first_over`, `median_round_first_over`: ingot / llama-server).

Servers: --a NAME=URL --b NAME=URL (as before), or --server NAME=URL, repeatable. The script
can also start them itself, with the same --parallel and --threads, and stops what it started:
  * --ingot BIN: `ingot serve --speculative ngram` as `ingot` (and with --ingot-variants
    ngram,off also `ingot-off`), listed first; the model must be in its cache (INGOT_HOME);
  * --llama-server BIN --gguf FILE: llama-server with its defaults (only -np/-t/-c set) as
    `llama-server`, and with its n-gram speculative mode (--llama-spec-args) as
    `llama-server-ngram`; --llama-variants picks which.

Usage:
  compare-servers.py --a ingot=http://127.0.0.1:5273 --b llama=http://127.0.0.1:8080 --model ID
  compare-servers.py --model smollm2-135m --full --ingot target/release/ingot \\
      --ingot-variants ngram,off --llama-server ~/.cache/ingot-peers/b11434/bin/llama-server \\
      --gguf FILE.gguf --threads 2 --parallel 8 --rounds 3 --json results.json
Only the standard library is used, so it runs anywhere python3 does.
"""
import argparse, hashlib, json, os, shlex, socket, statistics, subprocess, threading, time
import urllib.request

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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUMMARIZE = os.path.join(ROOT, "crates/ingot-engine/tests/fixtures/summarize.json")
# llama-server's n-gram speculation (b11434): prompt lookup with short n-grams, as ingot's.
# Its own default n-gram size (12) rarely matches in short answers; tune with --llama-spec-args.
DEFAULT_SPEC_ARGS = ("--spec-type ngram-simple --spec-ngram-simple-size-n 3 "
                     "--spec-ngram-simple-size-m 12")


def stream(url, model, messages, max_tokens):
    """One streamed chat request: (ttft s, completion tokens, total s, decode s, text, timings)."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    body = json.dumps({
        "model": model, "messages": messages,
        "max_tokens": max_tokens, "temperature": 0, "stream": True,
        "stream_options": {"include_usage": True},
    }).encode()
    req = urllib.request.Request(url + "/v1/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    ttft, last, usage, timings, text = None, None, None, None, []
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
            if chunk.get("timings"):
                timings = chunk["timings"]
            for c in chunk.get("choices") or []:
                piece = (c.get("delta") or {}).get("content")
                if piece:
                    now = time.perf_counter()
                    if ttft is None:
                        ttft = now - t0
                    last = now
                    text.append(piece)
    total = time.perf_counter() - t0
    decode = (last - t0 - ttft) if ttft is not None and last is not None else 0.0
    return (ttft, (usage or {}).get("completion_tokens", 0), total, decode, "".join(text),
            timings or {})


def ttft_p50(url, model, n):
    vals = [stream(url, model, PROMPTS[i % len(PROMPTS)], 16)[0] for i in range(n)]
    return statistics.median(vals) * 1000


# --unique-prompts: a tag ends every load request's prompt, so that no server answers it from
# its prompt cache (the chat template's prefix can still be reused, as for a real new message).
UNIQUE = {"on": False, "n": 0}


def prompt_for(i):
    p = PROMPTS[i % len(PROMPTS)]
    if UNIQUE["on"]:
        UNIQUE["n"] += 1
        p += f" (ref {os.getpid() % 1000}-{UNIQUE['n']})"
    return p


def load_run(url, model, conc, per_worker, max_tokens):
    """conc workers, per_worker requests each: (aggregate tok/s, [TTFT ms of every request])."""
    tokens, ttfts, errors = [0] * conc, [], []
    lock = threading.Lock()

    def worker(i):
        try:
            for k in range(per_worker):
                with lock:
                    prompt = prompt_for(i + k)
                r = stream(url, model, prompt, max_tokens)
                tokens[i] += r[1]
                if r[0] is not None:
                    with lock:
                        ttfts.append(r[0] * 1000)
        except Exception as e:  # reported, not hidden: a failed request spoils the round
            errors.append(repr(e))
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(conc)]
    t0 = time.perf_counter()
    for t in threads: t.start()
    for t in threads: t.join()
    if errors:
        raise RuntimeError(f"{url} c={conc}: {errors[0]}")
    return sum(tokens) / (time.perf_counter() - t0), ttfts


def aggregate(url, model, conc, per_worker, max_tokens):
    return load_run(url, model, conc, per_worker, max_tokens)[0]


def percentile(vals, q):
    vals = sorted(vals)
    if not vals:
        return float("nan")
    k = (len(vals) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(vals) - 1)
    return vals[lo] + (vals[hi] - vals[lo]) * (k - lo)


def summarize_cases(path):
    with open(path) as f:
        v = json.load(f)
    return [(c["id"], [{"role": "system", "content": v["system"]},
                       {"role": "user", "content": c["user"]}]) for c in v["cases"]]


def summarize_decode(url, model, cases, max_tokens):
    """Single-stream greedy decode over the set: tok/s, output hashes, draft counts."""
    toks, secs, hashes, drafted, accepted = 0, 0.0, [], 0, 0
    for _, messages in cases:
        ttft, n, _, decode, text, timings = stream(url, model, messages, max_tokens)
        if n >= 2 and decode > 0:
            toks += n - 1
            secs += decode
        hashes.append(hashlib.sha1(text.encode()).hexdigest()[:12])
        drafted += int(timings.get("draft_n") or 0)
        accepted += int(timings.get("draft_n_accepted") or 0)
    return {"tok_s": toks / secs if secs else 0.0, "hashes": hashes,
            "draft_n": drafted, "draft_n_accepted": accepted}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url, proc, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server at {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server at {url} did not become healthy")


def launch(name, cmd, port, args, env=None):
    log = open(os.path.join(args.log_dir, f"{name}.log"), "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    print(f"started {name}: {' '.join(shlex.quote(c) for c in cmd)} (pid {proc.pid})",
          flush=True)
    try:
        wait_healthy(url, proc)
    except Exception:
        proc.kill()
        raise
    return url, proc


def launch_llama(args, spec):
    port = free_port()
    cmd = [args.llama_server, "-m", args.gguf, "--host", "127.0.0.1", "--port", str(port),
           "-np", str(args.parallel), "-t", str(args.threads), "-c", str(args.ctx_size)]
    if spec:
        cmd += shlex.split(args.llama_spec_args)
    env = dict(os.environ)
    libdir = os.path.dirname(os.path.abspath(args.llama_server))
    env["LD_LIBRARY_PATH"] = libdir + ":" + env.get("LD_LIBRARY_PATH", "")
    name = "llama-server" + ("-ngram" if spec else "")
    return (name,) + launch(name, cmd, port, args, env)


def launch_ingot(args, speculative):
    port = free_port()
    cmd = [args.ingot, "serve", "--host", "127.0.0.1", "--port", str(port),
           "--parallel", str(args.parallel), "--threads", str(args.threads),
           # --ttl 0: a model unloaded while the other servers are measured would be
           # loaded again inside a measurement.
           "--ttl", "0", "--speculative", speculative] + shlex.split(args.ingot_args)
    name = "ingot" if speculative == "ngram" else f"ingot-{speculative}"
    return (name,) + launch(name, cmd, port, args)


def measure_default(url, model, args):
    t = ttft_p50(url, model, 9)
    time.sleep(args.gap)
    tok_s = aggregate(url, model, 8, 2, args.max_tokens)
    return {"ttft": t, "tok_s": tok_s}


def measure_full(url, model, args, cases):
    out = {}
    for c in args.concurrency:
        # Every level sends at least --min-requests, so that the p50/p90 at c=1 rest on more
        # than two requests (round 7 of PERFORMANCE.md: with two they swung 15-47 ms).
        per_worker = max(args.per_worker, -(-args.min_requests // c))
        tok_s, ttfts = load_run(url, model, c, per_worker, args.max_tokens)
        out[f"c{c}"] = {"tok_s": tok_s, "ttft_p50_ms": percentile(ttfts, 0.5),
                        "ttft_p90_ms": percentile(ttfts, 0.9), "requests": len(ttfts)}
        time.sleep(args.gap)
    out["summarize"] = summarize_decode(url, model, cases, args.summary_tokens)
    return out


def flat(m):
    """The scalar measures of one round, as name -> value."""
    if "ttft" in m:
        return dict(m)
    f = {}
    for k, v in m.items():
        if k == "summarize":
            f["summarize_decode_tok_s"] = v["tok_s"]
        else:
            for kk in ("tok_s", "ttft_p50_ms", "ttft_p90_ms"):
                f[f"{k}_{kk}"] = v[kk]
    return f


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a"); ap.add_argument("--b")
    ap.add_argument("--server", action="append", default=[], help="NAME=URL, repeatable")
    ap.add_argument("--model", required=True); ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=128)
    # A pause before each measurement: a server's idle compute threads (OpenMP spin-waits)
    # must not steal CPU from the other server's measurement that follows it.
    ap.add_argument("--gap", type=float, default=3.0)
    ap.add_argument("--full", action="store_true", help="the issue-18 comparison (see above)")
    ap.add_argument("--concurrency", default="1,4,8,16",
                    type=lambda s: [int(x) for x in s.split(",") if x])
    ap.add_argument("--unique-prompts", action="store_true",
                    help="--full: end every load request's prompt with a unique tag (no "
                         "prompt-cache hits: TTFT includes the new message's prompt)")
    ap.add_argument("--per-worker", type=int, default=2)
    ap.add_argument("--min-requests", type=int, default=8,
                    help="--full: at least this many requests per concurrency level")
    ap.add_argument("--summary-tokens", type=int, default=128)
    ap.add_argument("--summarize-prompts", default=SUMMARIZE)
    ap.add_argument("--json", help="write the summary here too")
    ap.add_argument("--llama-server", help="llama-server binary to start (needs --gguf)")
    ap.add_argument("--gguf"); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--ctx-size", type=int, default=0,
                    help="llama-server -c [default: 4096 per slot, as ingot serve]")
    ap.add_argument("--llama-variants", default="default,ngram",
                    help="llama-server variants to start, comma-separated: default, ngram")
    ap.add_argument("--llama-spec-args", default=DEFAULT_SPEC_ARGS)
    ap.add_argument("--ingot", help="ingot binary to start as `ingot serve` (the model must "
                    "be in its cache: INGOT_HOME); listed before any other server")
    ap.add_argument("--ingot-variants", default="ngram",
                    help="--speculative values to start ingot with, comma-separated: ngram, off")
    ap.add_argument("--ingot-args", default="", help="more `ingot serve` flags")
    ap.add_argument("--log-dir", default=".")
    args = ap.parse_args()
    UNIQUE["on"] = args.unique_prompts
    if not args.ctx_size:
        args.ctx_size = 4096 * args.parallel

    servers = [s.split("=", 1) for s in ([args.a] if args.a else []) +
               ([args.b] if args.b else []) + args.server]
    started = []
    try:
        if args.ingot:
            for v in args.ingot_variants.split(","):
                started.append(launch_ingot(args, v.strip()))
        servers = [[n, u] for n, u, _ in started] + servers
        if args.llama_server:
            if not args.gguf:
                ap.error("--llama-server needs --gguf")
            for v in args.llama_variants.split(","):
                started.append(launch_llama(args, spec=(v.strip() == "ngram")))
                servers.append(list(started[-1][:2]))
        if len(servers) < 2:
            ap.error("need two servers or more (--a/--b, --server, --llama-server)")
        run(args, servers)
    finally:
        for _, _, p in started:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def run(args, servers):
    cases = summarize_cases(args.summarize_prompts) if args.full else []
    for name, url in servers:  # warm-up
        stream(url, args.model, PROMPTS[0], 8)
    rounds = {name: [] for name, _ in servers}
    hashes = {}
    for rnd in range(args.rounds):
        k = rnd % len(servers)
        for name, url in servers[k:] + servers[:k]:
            time.sleep(args.gap)
            m = (measure_full(url, args.model, args, cases) if args.full
                 else measure_default(url, args.model, args))
            if args.full:
                hashes.setdefault(name, m["summarize"]["hashes"])
            rounds[name].append(m)
            f = flat(m)
            if args.full:
                print(f"round {rnd + 1} {name}: "
                      + ", ".join(f"{k} {v:.1f}" for k, v in f.items()), flush=True)
            else:
                print(f"round {rnd + 1} {name}: p50 TTFT c=1 {f['ttft']:.1f} ms, "
                      f"aggregate c=8 {f['tok_s']:.1f} tok/s", flush=True)
    first = servers[0][0]
    medians = {n: {k: statistics.median(flat(m)[k] for m in rs) for k in flat(rs[0])}
               for n, rs in rounds.items()}
    summary = {"model": args.model, "rounds": args.rounds, "full": args.full,
               "unique_prompts": args.unique_prompts,
               "servers": {n: u for n, u in servers}, "per_round": rounds, "median": medians,
               # The first server over each other one (ingot / llama-server when ingot is
               # first): as a ratio of medians, and as the median of the per-round ratios
               # (PERFORMANCE.md reports the latter). TTFT: below 1 is better for the first.
               "first_over": {}, "median_round_first_over": {}}
    for n in rounds:
        if n == first:
            continue
        summary["first_over"][n] = {k: medians[first][k] / medians[n][k]
                                    for k in medians[n] if medians[n][k]}
        summary["median_round_first_over"][n] = {
            k: statistics.median([flat(a)[k] / flat(b)[k]
                                  for a, b in zip(rounds[first], rounds[n]) if flat(b)[k]]
                                 or [float("nan")])
            for k in medians[n]}
    if args.full:
        summary["same_summaries_as_first"] = {n: h == hashes[first] for n, h in hashes.items()}
        summary["draft_acceptance"] = {
            n: {"draft_n": sum(m["summarize"]["draft_n"] for m in rs),
                "draft_n_accepted": sum(m["summarize"]["draft_n_accepted"] for m in rs)}
            for n, rs in rounds.items()}
    elif len(servers) == 2:
        # The round-1 summary's keys, as before.
        (a, _), (b, _) = servers
        summary.update({"a": a, "b": b, "median_a": medians[a], "median_b": medians[b],
                        "ratio_tok_s_a_over_b": medians[a]["tok_s"] / medians[b]["tok_s"],
                        "ratio_ttft_a_over_b": medians[a]["ttft"] / medians[b]["ttft"]})
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
