#!/usr/bin/env bash
# Issue 14's bar, by hand against a built `ingot` (release for the record):
#
#   scripts/openai-bar.sh target/release/ingot
#
# Starts `ingot serve --parallel 4` over a home holding smollm2-135m and qwen2.5-coder-0.5b
# (downloaded into INGOT_HOME, default ~/.cache/ingot-test-models/ingot-home, on first use),
# then runs the official-client scripts of crates/ingot-cli/tests/python against it: tool
# calls (qwen2.5-coder, and smollm2 through the generic prompt), structured outputs (22
# schemas on smollm2, the meeting-notes schema on qwen), logprobs, n > 1 and the Responses
# API. With a llama-server peer build (shared/peers/build-llama-peers.sh) it also compares
# logprobs with llama-server's. Prints one line per script with its wall time; exits non-zero
# at the first failure. Needs python3 with `openai` and `jsonschema`.
set -euo pipefail

INGOT=$(realpath "${1:?usage: $0 path/to/ingot}")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=$ROOT/crates/ingot-cli/tests/python
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
export INGOT_HOME=${INGOT_HOME:-$HOME/.cache/ingot-test-models/ingot-home}
unset INGOT_API_KEY INGOT_CATALOG INGOT_TRUST_CATALOG

"$INGOT" model download smollm2-135m >/dev/null
"$INGOT" model download qwen2.5-coder-0.5b >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
"$INGOT" serve --port "$PORT" --threads 2 --parallel 4 --ctx-size 8192 >"$WORK/serve.log" 2>&1 &
for _ in $(seq 600); do curl -sf "$BASE/health" >/dev/null && break; sleep 0.1; done

run() {
  local start=$SECONDS
  if python3 "$PY/$1" "$BASE" "${@:2}" >"$WORK/out.txt" 2>&1 && grep -q OK "$WORK/out.txt"; then
    echo "ok    $((SECONDS - start)) s  $*"
  else
    echo "FAIL  $((SECONDS - start)) s  $*"
    cat "$WORK/out.txt"
    exit 1
  fi
}

echo "ingot: $("$INGOT" --version)"
run tool_calls.py qwen2.5-coder-0.5b
run tool_calls.py smollm2-135m
run structured_outputs.py smollm2-135m
run structured_outputs.py qwen2.5-coder-0.5b --meeting-only
run logprobs.py smollm2-135m
run n_choices.py smollm2-135m
run responses_api.py smollm2-135m

PEER=$(ls -d "$HOME"/.cache/ingot-peers/*/bin/llama-server 2>/dev/null | head -1 || true)
if [ -n "$PEER" ]; then
  BLOB=$INGOT_HOME/models-v1/blobs/sha256-$("$INGOT" model info smollm2-135m --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["sha256"])')
  # Two references: llama-server with and without flash attention; ingot is held to their
  # spread (see the script's docstring).
  PON=$(free_port); POFF=$(free_port)
  "$PEER" -m "$BLOB" --port "$PON" --host 127.0.0.1 -c 2048 -t 2 --no-webui -fa on >"$WORK/peer-on.log" 2>&1 &
  "$PEER" -m "$BLOB" --port "$POFF" --host 127.0.0.1 -c 2048 -t 2 --no-webui -fa off >"$WORK/peer-off.log" 2>&1 &
  for p in "$PON" "$POFF"; do
    for _ in $(seq 600); do curl -sf "http://127.0.0.1:$p/health" >/dev/null && break; sleep 0.1; done
  done
  start=$SECONDS
  python3 "$PY/logprobs_vs_llama_server.py" "$BASE" "http://127.0.0.1:$PON" "http://127.0.0.1:$POFF" smollm2-135m >"$WORK/out.txt" 2>&1 \
    && grep -q OK "$WORK/out.txt" && echo "ok    $((SECONDS - start)) s  logprobs_vs_llama_server.py smollm2-135m: $(grep OK "$WORK/out.txt")" \
    || { echo "FAIL logprobs_vs_llama_server.py"; cat "$WORK/out.txt"; exit 1; }
else
  echo "skip  logprobs_vs_llama_server.py (no peer build in ~/.cache/ingot-peers)"
fi
