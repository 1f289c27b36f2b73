#!/usr/bin/env bash
# Issue 12's bar, by hand against a built `ingot` (release for the recorded figures):
#
#   scripts/hardening-bar.sh target/release/ingot [TRIES]
#
# Starts `ingot serve` with smollm2-135m (downloaded into a scratch INGOT_HOME unless
# INGOT_HOME is set), then sends each hostile request TRIES times (default 3), timing the
# answer and a `/health` right after, and compares the server's RSS before and after. Then:
# `Host: evil.example` on the keyless server, `--max-memory 50MB`, and a catalog served from a
# URL that names an `api_key_env`. Prints a Markdown table for RELIABILITY.md; exits non-zero
# if any answer is not the expected one.
set -euo pipefail

INGOT=$(realpath "${1:?usage: $0 path/to/ingot [tries]}")
TRIES=${2:-3}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
export INGOT_HOME=${INGOT_HOME:-$WORK/home}
unset INGOT_API_KEY INGOT_CATALOG INGOT_TRUST_CATALOG

"$INGOT" model download smollm2-135m >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
"$INGOT" serve --port "$PORT" >"$WORK/serve.log" 2>&1 &
SERVE=$!
for _ in $(seq 600); do curl -sf "$BASE/health" >/dev/null && break; sleep 0.1; done
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$SERVE/status"; }

fail=0
# A normal chat loads the model and warms a slot; RSS is read after it.
curl -sf "$BASE/v1/chat/completions" -H 'content-type: application/json' \
  -d '{"model":"smollm2-135m","max_tokens":8,"messages":[{"role":"user","content":"Hi"}]}' >/dev/null
RSS_BEFORE=$(rss_mib)

python3 - "$WORK" <<'EOF'
import json, sys
w = sys.argv[1]
chat = lambda **kw: dict(model="smollm2-135m", max_tokens=8, messages=[{"role": "user", "content": "Hi"}], **kw)
bodies = {
    "grammar of 100,000 nested groups": chat(grammar="root ::= " + "(" * 100000 + '"a"' + ")" * 100000),
    "repeat_penalty 1.1, repeat_last_n 2147483647": chat(repeat_penalty=1.1, repeat_last_n=2147483647),
    "2 MB prompt": {"model": "smollm2-135m", "max_tokens": 8, "prompt": "word " * 400000},
    '"x"x1000 repeated {100000}': chat(grammar='root ::= "' + "x" * 1000 + '"{100000}'),
}
for i, (name, body) in enumerate(bodies.items()):
    route = "completions" if "prompt" in body else "chat/completions"
    open(f"{w}/case{i}.json", "w").write(json.dumps(body))
    open(f"{w}/case{i}.txt", "w").write(f"{name}\n{route}\n")
EOF

echo "| request | status | answer (ms) | /health after (ms) | error |"
echo "| --- | --- | --- | --- | --- |"
for i in 0 1 2 3; do
  name=$(sed -n 1p "$WORK/case$i.txt"); route=$(sed -n 2p "$WORK/case$i.txt")
  times=(); health=(); status=""
  for _ in $(seq "$TRIES"); do
    out=$(curl -s -o "$WORK/resp.json" -w '%{http_code} %{time_total}' "$BASE/v1/$route" \
      -H 'content-type: application/json' --data-binary "@$WORK/case$i.json")
    status=${out% *}; times+=("$(awk -v t="${out#* }" 'BEGIN{printf "%.0f", t*1000}')")
    h=$(curl -s -o /dev/null -w '%{time_total}' "$BASE/health")
    health+=("$(awk -v t="$h" 'BEGIN{printf "%.0f", t*1000}')")
    [ "$status" = 400 ] || fail=1
    slow=$(awk -v t="${out#* }" 'BEGIN{print (t >= 1.0)}'); [ "$slow" = 0 ] || fail=1
  done
  msg=$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; print("`%s`: %s" % (e.get("param"), e["message"][:90]))' "$WORK/resp.json")
  echo "| $name | $status | $(IFS=,; echo "${times[*]}") | $(IFS=,; echo "${health[*]}") | $msg |"
done
RSS_AFTER=$(rss_mib)
echo
echo "RSS: $RSS_BEFORE MiB before, $RSS_AFTER MiB after"
awk -v a="$RSS_BEFORE" -v b="$RSS_AFTER" 'BEGIN{exit !(b <= a*1.2)}' || { echo "RSS grew more than 20 %"; fail=1; }

code=$(curl -s -o "$WORK/host.json" -w '%{http_code}' -H 'Host: evil.example' "$BASE/v1/models")
echo "Host: evil.example -> $code $(cat "$WORK/host.json")"
[ "$code" = 403 ] || fail=1
kill -TERM "$SERVE"; wait "$SERVE" || true

# --max-memory: `serve` refuses the load (its error names both numbers), as `model run` does.
PORT=$(free_port)
"$INGOT" serve --port "$PORT" --max-memory 50MB >"$WORK/mem.log" 2>&1 &
SERVE=$!
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
code=$(curl -s -o "$WORK/mem.json" -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/v1/models/smollm2-135m/load")
echo "serve --max-memory 50MB, load smollm2-135m -> $code $(cat "$WORK/mem.json")"
grep -q 'MiB' "$WORK/mem.json" && [ "$code" != 200 ] || fail=1
kill -TERM "$SERVE"; wait "$SERVE" || true

# A catalog served from a URL that would send $INGOT_BAR_SECRET to an endpoint it picks.
mkdir -p "$WORK/www"
cat >"$WORK/www/catalog.json" <<'EOF'
{"models": [{"alias": "exfil", "name": "Exfil", "family": "x", "architecture": "llama",
  "quantization": "F16", "license": "MIT", "context_length": 512, "capabilities": ["chat"],
  "chat_template": true,
  "remote": {"endpoint": "http://127.0.0.1:1/v1", "model": "m", "api_key_env": "INGOT_BAR_SECRET"}}]}
EOF
CPORT=$(free_port)
(cd "$WORK/www" && python3 -m http.server "$CPORT" --bind 127.0.0.1 >/dev/null 2>&1) &
sleep 1
if INGOT_BAR_SECRET=s3cret "$INGOT" --catalog "http://127.0.0.1:$CPORT/catalog.json" model info exfil >"$WORK/cat.log" 2>&1; then
  echo "URL catalog with api_key_env: accepted (expected a refusal)"; fail=1
else
  echo "URL catalog with api_key_env: refused: $(grep -i 'api_key_env' "$WORK/cat.log" | head -1)"
fi
exit $fail
