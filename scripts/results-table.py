#!/usr/bin/env python3
"""Markdown tables for PERFORMANCE.md from a `compare-servers.py --full --json` summary.

Prints two tables: every measure of every server, round by round with its median, and the
per-round ratios of one server over another (by default the first ingot over llama-server
with its defaults) beside issue 18's bar. Medians are recomputed from the rounds, so the
table and the JSON cannot disagree.

Usage: results-table.py SUMMARY.json [--over llama-server] [--of ingot]
"""
import argparse
import importlib.util
import json
import os
import statistics

ROWS = [  # (key, label, lower is better)
    ("c1_ttft_p50_ms", "TTFT p50, c=1 (ms)", True),
    ("c1_ttft_p90_ms", "TTFT p90, c=1 (ms)", True),
    ("c4_tok_s", "tok/s, c=4", False),
    ("c4_ttft_p90_ms", "TTFT p90, c=4 (ms)", True),
    ("c8_tok_s", "tok/s, c=8", False),
    ("c8_ttft_p50_ms", "TTFT p50, c=8 (ms)", True),
    ("c8_ttft_p90_ms", "TTFT p90, c=8 (ms)", True),
    ("c16_tok_s", "tok/s, c=16", False),
    ("c16_ttft_p90_ms", "TTFT p90, c=16 (ms)", True),
    ("summarize_decode_tok_s", "summarize decode tok/s, c=1", False),
]
BAR = {"c8_tok_s": "≥ 1.15", "c8_ttft_p90_ms": "≤ 0.7", "c1_ttft_p50_ms": "≤ 0.8",
       "summarize_decode_tok_s": "≥ 1.3"}


def _compare_servers():
    """compare-servers.py, which owns how a round's measures flatten into named values."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compare-servers.py")
    spec = importlib.util.spec_from_file_location("compare_servers", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


flat = _compare_servers().flat


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("summary")
    ap.add_argument("--of", default="ingot")
    ap.add_argument("--over", action="append",
                    help="denominator server(s); default llama-server (and -ngram on summarize)")
    args = ap.parse_args()
    d = json.load(open(args.summary))
    rounds = {s: [flat(m) for m in ms] for s, ms in d["per_round"].items()}
    n = d["rounds"]
    hdr = " | ".join(str(i + 1) for i in range(n))
    print(f"| measure | server | round {hdr} | median |")
    print("| --- | --- |" + " ---: |" * (n + 1))
    for key, label, _ in ROWS:
        for s, rs in rounds.items():
            if key not in rs[0]:
                continue
            vals = [r[key] for r in rs]
            cells = " | ".join(f"{v:.1f}" for v in vals)
            print(f"| {label} | {s} | {cells} | **{statistics.median(vals):.1f}** |")
    print()
    overs = args.over or ["llama-server"]
    print(f"| {args.of} / other, per round | over | {hdr} | median | bar |")
    print("| --- | --- |" + " ---: |" * (n + 1) + " --- |")
    pairs = [(k, o) for k, _, _ in ROWS for o in overs]
    if not args.over and "llama-server-ngram" in rounds:
        pairs.append(("summarize_decode_tok_s", "llama-server-ngram"))
    for key, o in pairs:
        if o not in rounds or key not in rounds[o][0]:
            continue
        rat = [a[key] / b[key] for a, b in zip(rounds[args.of], rounds[o])]
        label = next(lb for k, lb, _ in ROWS if k == key)
        bar = BAR.get(key, "") if o == "llama-server" else (
            "≥ 1.0" if key == "summarize_decode_tok_s" and o == "llama-server-ngram" else "")
        cells = " | ".join(f"{r:.2f}" for r in rat)
        print(f"| {label} | {o} | {cells} | **{statistics.median(rat):.2f}** | {bar} |")
    same = d.get("same_summaries_as_first", {})
    acc = d.get("draft_acceptance", {})
    print()
    print("Same greedy summaries as the first server: "
          + ", ".join(f"{s} {'yes' if v else 'no'}" for s, v in same.items()))
    print("Draft acceptance: " + ", ".join(
        f"{s} {a['draft_n_accepted']}/{a['draft_n']}" for s, a in acc.items() if a["draft_n"]))


if __name__ == "__main__":
    main()
