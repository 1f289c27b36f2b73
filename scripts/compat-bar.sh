#!/usr/bin/env bash
# Issue 16's bar, by hand against a built `ingot` (release for the record):
#
#   scripts/compat-bar.sh target/release/ingot
#
# Each flow starts from a fresh, empty INGOT_HOME, so the model is downloaded by the client's
# own call (the catalog's pip source; pip's cache makes later runs quicker):
#   1. Foundry Local: `ingot setup foundry-alias` makes a `foundry` command, which goes first
#      on PATH; foundry-local-sdk 0.5.1 (`tests/python/foundry_sdk.py`) then starts the
#      service through it, downloads with progress, loads, lists, unloads and chats.
#   2. Ollama: `ingot serve`; the official Python client pulls smollm2-135m (streamed) and
#      qwen2.5-coder-0.5b, then
#      `tests/python/ollama_client.py` runs list, show, pull, chat (streamed and not, with
#      tools), generate, embed, ps and the bad-name errors; the JavaScript client runs too when
#      node finds the `ollama` package (NODE_PATH).
# Prints one line per flow with its wall time; exits non-zero at the first failure.
# Needs python3 with `foundry_local` (foundry-local-sdk==0.5.1), `openai` and `ollama`.
set -euo pipefail

INGOT=$(realpath "${1:?usage: $0 path/to/ingot}")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=$ROOT/crates/ingot-cli/tests/python
WORK=$(mktemp -d)
cleanup() {
  [ -x "$WORK/bin/foundry" ] && INGOT_HOME=$WORK/foundry-home "$WORK/bin/foundry" service stop >/dev/null 2>&1 || true
  kill $(jobs -p) 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
unset INGOT_API_KEY INGOT_CATALOG INGOT_TRUST_CATALOG INGOT_HOST OPENAI_API_KEY OLLAMA_API_KEY

flow() {
  local name=$1 start=$SECONDS
  shift
  if "$@" >"$WORK/out.txt" 2>&1 && grep -q OK "$WORK/out.txt"; then
    echo "ok    $((SECONDS - start)) s  $name"
    grep -E "^tools:" "$WORK/out.txt" | sed 's/^/        /' || true
  else
    echo "FAIL  $((SECONDS - start)) s  $name"
    cat "$WORK/out.txt"
    exit 1
  fi
}

echo "ingot: $("$INGOT" --version)"

# 1. Foundry Local's SDK, unchanged, with `foundry` being ingot.
mkdir -p "$WORK/bin" "$WORK/foundry-home"
INGOT_HOME=$WORK/foundry-home "$INGOT" setup foundry-alias "$WORK/bin" >/dev/null
flow "foundry-local-sdk 0.5.1 (fresh home: start, download, load, chat)" \
  env PATH="$WORK/bin:$PATH" INGOT_HOME="$WORK/foundry-home" INGOT_PORT=0 python3 "$PY/foundry_sdk.py"
INGOT_HOME=$WORK/foundry-home "$WORK/bin/foundry" service stop >/dev/null

# 2. Ollama's clients against `ingot serve` on a second fresh home.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
mkdir -p "$WORK/ollama-home"
INGOT_HOME=$WORK/ollama-home "$INGOT" serve --port "$PORT" --threads 2 --parallel 2 >"$WORK/serve.log" 2>&1 &
for _ in $(seq 600); do curl -sf "$BASE/health" >/dev/null && break; sleep 0.1; done
pull() {
  python3 - "$BASE" <<'PYEOF'
import sys, ollama
c = ollama.Client(host=sys.argv[1])
assert not c.list().models, "the home starts empty"
steps = [p.status for p in c.pull("smollm2-135m", stream=True)]
assert steps[-1] == "success" and any("pulling" in s for s in steps), steps
assert [m.model for m in c.list().models] == ["smollm2-135m:latest"]
# The tools part of ollama_client.py asks qwen2.5-coder, which calls tools when asked.
assert c.pull("qwen2.5-coder-0.5b").status == "success"
print("OK", len(steps), "progress lines")
PYEOF
}
flow "ollama (Python): pull into an empty home (smollm2-135m, qwen2.5-coder-0.5b)" pull
flow "ollama (Python): list, show, pull, chat, tools, generate, embed, ps, errors" \
  python3 "$PY/ollama_client.py" "$BASE" qwen2.5-coder-0.5b
if node -e "require('ollama')" 2>/dev/null; then
  flow "ollama (JavaScript): list, streamed chat, embed" node "$ROOT/crates/ingot-cli/tests/js/ollama_client.cjs" "$BASE"
else
  echo "skip  ollama (JavaScript): node cannot find the ollama package (set NODE_PATH)"
fi
