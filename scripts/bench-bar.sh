#!/usr/bin/env bash
# Issue 17's bar, by hand against a built `ingot` and llama.cpp's llama-server
# (shared/peers/build-llama-peers.sh), both serving the same SmolLM2-135M Q4_1 file:
#
#   scripts/bench-bar.sh target/release/ingot path/to/llama-server [OUT_DIR]
#
# 1. `ingot bench --endpoint` at concurrency 8 with 32 requests, three runs against each
#    server (`-np 8` / `--parallel 8`, 2 threads): prints requests, failed and retried per run.
#    Before issue 17 the keep-alive race made 3-12 % of the requests against llama-server
#    fail in the report although the server never saw them.
# 2. `--endpoint ingot=… --endpoint llama=… --interleave --concurrency 8`: the ratio table with
#    bootstrap CIs and verdicts.
# 3. `--sweep 3` against `ingot serve`: synchronous, throughput, three rates; the saturation
#    point and the latency-against-throughput chart in report.html.
# Every run's folder stays under OUT_DIR (default: a new temporary folder, printed).
set -euo pipefail

INGOT=$(realpath "${1:?usage: $0 path/to/ingot path/to/llama-server [OUT_DIR]}")
LLAMA=$(realpath "${2:?usage: $0 path/to/ingot path/to/llama-server [OUT_DIR]}")
OUT=${3:-$(mktemp -d)}
mkdir -p "$OUT"
export INGOT_HOME=${INGOT_HOME:-$HOME/.cache/ingot-test-models/bench-home}
unset INGOT_API_KEY INGOT_CATALOG INGOT_TRUST_CATALOG FOUNDRY_LOCAL_ENDPOINT BENCH_MODELS BENCH_STREAM
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT

"$INGOT" model download smollm2-135m >/dev/null
GGUF=$("$INGOT" cache list --json | python3 -c 'import json,sys; print(next(m["path"] for m in json.load(sys.stdin) if m["alias"] == "smollm2-135m"))')

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 600); do curl -sf "$1/health" >/dev/null && return 0; sleep 0.1; done; echo "no server at $1" >&2; exit 1; }
IP=$(free_port); LP=$(free_port)
INGOT_URL=http://127.0.0.1:$IP; LLAMA_URL=http://127.0.0.1:$LP
"$INGOT" serve --port "$IP" --threads 2 --parallel 8 >"$OUT/ingot-serve.log" 2>&1 &
LD_LIBRARY_PATH=$(dirname "$LLAMA") "$LLAMA" -m "$GGUF" --port "$LP" -t 2 -np 8 -c 8192 >"$OUT/llama-server.log" 2>&1 &
wait_up "$INGOT_URL"; wait_up "$LLAMA_URL"
echo "ingot: $("$INGOT" --version); llama-server: $(LD_LIBRARY_PATH=$(dirname "$LLAMA") "$LLAMA" --version 2>&1 | grep -m1 version)"
echo "model file: $GGUF"

summary() {
  python3 - "$1" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1] + "/results.json"))
for m in r["models"]:
    for s in m.get("scenarios", []):
        x = s["metrics"]
        print(f'  {m.get("name") or m.get("alias")}: {s.get("name", "")} requests {x["requests"]}, '
              f'failed {x["failed"]}, retried {x.get("retried", 0)}, {x["output_tok_s"]:.1f} tok/s')
PYEOF
}

for target in "llama=$LLAMA_URL" "ingot=$INGOT_URL"; do
  name=${target%%=*}
  for run in 1 2 3; do
    dir=$OUT/c8-$name-$run
    "$INGOT" bench --endpoint "$target" --model smollm2-135m --concurrency 8 --requests 32 \
      --no-calibrate --quiet --out "$dir" >/dev/null
    echo "c=8, 32 requests, $name run $run:"
    summary "$dir"
  done
done

echo "interleaved A/B (ingot first), concurrency 8:"
"$INGOT" bench --endpoint "ingot=$INGOT_URL" --endpoint "llama=$LLAMA_URL" --model smollm2-135m \
  --interleave --rounds 4 --pause 2s --concurrency 8 --requests 16 --no-calibrate --quiet \
  --out "$OUT/ab"

echo "sweep against ingot serve:"
"$INGOT" bench --endpoint "ingot=$INGOT_URL" --model smollm2-135m --sweep 3 --concurrency 8 \
  --requests 16 --no-calibrate --quiet --out "$OUT/sweep"
ls "$OUT/sweep"
echo "runs kept in $OUT"
