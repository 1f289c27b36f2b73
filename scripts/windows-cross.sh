#!/usr/bin/env bash
# Issue 19: cross-builds ingot for Windows (x86_64-pc-windows-gnu) from Linux with mingw-w64,
# llama.cpp included, as one self-contained ingot.exe (libstdc++, libgcc, libgomp and
# winpthread linked statically: nothing but Windows' own DLLs is needed). Then, when wine is
# installed, runs it end to end:
#   ingot.exe --version; ingot.exe model list (the default home, %LOCALAPPDATA%\ingot);
#   ingot.exe model run smollm2-135m --prompt Hi --max-tokens 8 (the model file placed in that
#   home's cache); ingot.exe serve answering one chat request (curl from Linux);
#   ingot.exe service start / status / stop (a detached process, stopped through its
#   shutdown route); a home whose path is longer than 260 characters (model list, model run);
#   Ctrl+C in the middle of `model run`'s answer (scripts/wine/ctrl-event.c).
# The build is checked for its application manifest (long paths, UTF-8; crates/ingot-cli/
# ingot.exe.manifest) and for importing nothing but Windows' own DLLs.
#
# Usage: scripts/windows-cross.sh [--build-only] [--release]
# Needs: rustup target x86_64-pc-windows-gnu, mingw-w64 (its -posix compilers: llama.cpp
# uses std::thread), cmake, libclang; for the run: wine (apt-get install wine64), curl, and
# the SmolLM2-135M test model (INGOT_TEST_MODEL, default: ingot-testkit's copy in
# ~/.cache/ingot-test-models; a verified download otherwise).
# CARGO_TARGET_DIR is honoured (the .exe lands in $CARGO_TARGET_DIR/x86_64-pc-windows-gnu/).
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-pc-windows-gnu
build_only=0
profile=debug
cargo_profile=()
for a in "$@"; do
  case "$a" in
    --build-only) build_only=1 ;;
    --release) profile=release; cargo_profile=(--release) ;;
    *) echo "usage: $0 [--build-only] [--release]" >&2; exit 2 ;;
  esac
done

# The -posix variants: Debian's default mingw-w64 thread model (win32) has no std::thread
# or std::mutex in GCC 12, which llama.cpp needs. Distributions whose plain compiler is
# already posix (Fedora, MSYS2) have no -posix name: the plain one is used.
pick() { command -v "x86_64-w64-mingw32-$1-posix" || command -v "x86_64-w64-mingw32-$1" \
  || { echo "error: x86_64-w64-mingw32-$1 not found; apt-get install mingw-w64" >&2; exit 1; }; }
cc=$(pick gcc)
cxx=$(pick g++)
export CC_x86_64_pc_windows_gnu="$cc" CXX_x86_64_pc_windows_gnu="$cxx"
export AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER="$cc"
# mingw-w64 before 11 (Debian 12) lacks THREAD_POWER_THROTTLING_STATE, which ggml-cpu.c uses:
# a header with the missing definitions is forced into the C files when the test below fails.
if ! printf '#include <windows.h>\nTHREAD_POWER_THROTTLING_STATE t;\n' \
    | "$cc" -x c -c -o /dev/null - 2>/dev/null; then
  export CFLAGS_x86_64_pc_windows_gnu="-include $PWD/scripts/mingw-w64-compat.h"
  echo "windows-cross: old mingw-w64 headers: adding scripts/mingw-w64-compat.h"
fi
# One self-contained executable: the C++ and OpenMP runtimes, winpthread and libgcc linked
# statically (a Windows machine has none of their DLLs). `-static` alone is not enough: rustc
# asks for -lstdc++ and -lgomp (from llama-cpp-sys-2 and cc) after an explicit -Bdynamic, so
# the linker would take their import libraries. A folder searched first, where those import
# libraries' names point at the static archives, settles it.
target_dir="${CARGO_TARGET_DIR:-target}"
static_dir="$(mkdir -p "$target_dir/$target/mingw-static" && cd "$target_dir/$target/mingw-static" && pwd)"
gcc_lib=$(dirname "$("$cc" -print-libgcc-file-name)")
for l in stdc++ gomp; do ln -sf "$gcc_lib/lib$l.a" "$static_dir/lib$l.dll.a"; done
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUSTFLAGS="-C target-feature=+crt-static -L native=$static_dir -C link-arg=-static -C link-arg=-static-libgcc -C link-arg=-static-libstdc++"

# ggml turns its native default off when cross-compiling, and with it every SIMD level above
# SSE2: ask for the AVX2/FMA/F16C baseline that native builds get by default (see README's
# "Building for your CPU"). llama-cpp-sys-2 forwards GGML_* variables to cmake.
export GGML_SSE42=ON GGML_AVX=ON GGML_AVX2=ON GGML_BMI2=ON GGML_FMA=ON GGML_F16C=ON
# ggml names its static libraries without the `lib` prefix on Windows (ggml.a, ggml-cpu.a,
# ggml-base.a), and llama-cpp-sys-2 (0.1.160) links what it finds as lib*.a: without this
# the link fails with undefined ggml_* symbols. The per-language prefix wins over the plain
# CMAKE_STATIC_LIBRARY_PREFIX that ggml clears (llama-cpp-sys-2 passes CMAKE_* on to cmake).
export CMAKE_STATIC_LIBRARY_PREFIX_C=lib CMAKE_STATIC_LIBRARY_PREFIX_CXX=lib

exe="$target_dir/$target/$profile/ingot.exe"

start=$(date +%s)
cargo build "${cargo_profile[@]}" --target "$target" -p ingot-cli --bin ingot
echo "windows-cross: built $exe in $(( $(date +%s) - start )) s"

# Every DLL it imports must be part of Windows.
dlls=$(x86_64-w64-mingw32-objdump -p "$exe" | awk '/DLL Name:/ {print tolower($3)}' | sort -u)
echo "windows-cross: imports: $(echo $dlls)"
for d in $dlls; do
  case "$d" in
    libstdc++*|libgcc*|libgomp*|libwinpthread*|libssp*)
      echo "error: $exe needs $d (not linked statically)" >&2; exit 1 ;;
  esac
done

# The application manifest (crates/ingot-cli/build.rs): resource type 24 (RT_MANIFEST), id 1,
# with the long-path setting in it.
x86_64-w64-mingw32-objdump -p "$exe" | grep -A2 'Entry: ID: 0x000018' | grep -q 'Entry: ID: 0x000001' \
  || { echo "error: $exe has no application manifest (RT_MANIFEST resource 1)" >&2; exit 1; }
rsrc=$(mktemp)
x86_64-w64-mingw32-objcopy -O binary --only-section=.rsrc "$exe" "$rsrc"
for setting in '<ws2:longPathAware>true</ws2:longPathAware>' '<ws3:activeCodePage>UTF-8</ws3:activeCodePage>' \
    '<supportedOS Id="{8e0f7a12-bfb3-4fe8-b9a5-48fd50a15a9a}"/>'; do
  grep -qF "$setting" "$rsrc" || { rm -f "$rsrc"; echo "error: the manifest lacks $setting" >&2; exit 1; }
done
rm -f "$rsrc"
echo "windows-cross: manifest embedded (longPathAware, activeCodePage UTF-8, Windows 10/11)"

[ "$build_only" = 1 ] && exit 0
if ! command -v wine >/dev/null 2>&1; then
  echo "windows-cross: wine is not installed (apt-get install wine64): the run is skipped"
  exit 0
fi

# A prefix of our own (not ~/.wine), created on first use.
export WINEPREFIX="${WINEPREFIX:-$HOME/.cache/ingot-wine}"
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
mkdir -p "$WINEPREFIX"
win_env() { wine cmd /c echo "%$1%" 2>/dev/null | tr -d '\r'; }
wineboot_start=$(date +%s)
wine cmd /c exit 0 >/dev/null 2>&1 || true
echo "windows-cross: wine prefix ready in $(( $(date +%s) - wineboot_start )) s ($WINEPREFIX)"
# Rust's standard library (1.78+) needs bcryptprimitives.dll (Windows 10+); wine before 9 has
# none (its prefix then lacks the file that stands for each built-in DLL). A stand-in goes
# into this prefix only (scripts/wine/bcryptprimitives.c).
sys32="$WINEPREFIX/drive_c/windows/system32"
if [ ! -e "$sys32/bcryptprimitives.dll" ]; then
  "$cc" -O2 -shared -s -Wl,--kill-at -o "$sys32/bcryptprimitives.dll" \
    scripts/wine/bcryptprimitives.c -ladvapi32
  echo "windows-cross: this wine has no bcryptprimitives.dll: installed scripts/wine/bcryptprimitives.c"
fi

# No INGOT_HOME: the default home must be %LOCALAPPDATA%\ingot.
unset INGOT_HOME
local_app_data=$(win_env LOCALAPPDATA)
home_win="$local_app_data\\ingot"
home_unix=$(winepath -u "$home_win" 2>/dev/null | tr -d '\r')
echo "windows-cross: LOCALAPPDATA=$local_app_data -> $home_unix"

step() { echo; echo "== $*"; }
fail() { echo "windows-cross: FAILED: $*" >&2; exit 1; }

step "ingot.exe --version"
v=$(wine "$exe" --version | tr -d '\r') || fail "--version"
echo "$v"
grep -q '^ingot ' <<<"$v" || fail "--version"

step "ingot.exe cache dir (the Windows home)"
dir=$(wine "$exe" cache dir | tr -d '\r' | tail -1)
echo "$dir"
case "$dir" in
  "$home_win"*) ;;
  *) fail "cache dir is $dir, expected $home_win" ;;
esac

step "ingot.exe model list"
list=$(wine "$exe" model list | tr -d '\r') || fail "model list"
echo "$list"
grep -q 'smollm2-135m' <<<"$list" || fail "model list"

# The test model, placed in the Windows cache the way a download leaves it: the blob named
# by its SHA-256 and a manifest naming it.
sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
model="${INGOT_TEST_MODEL:-$HOME/.cache/ingot-test-models/SmolLM2-135M-Instruct.Q4_1.gguf}"
store="$home_unix/models-v1"
mkdir -p "$store/blobs" "$store/manifests"
if [ ! -f "$store/blobs/sha256-$sha" ]; then
  if [ -f "$model" ] && [ "$(sha256sum "$model" | cut -d' ' -f1)" = "$sha" ]; then
    cp "$model" "$store/blobs/sha256-$sha"
    now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    printf '{"alias":"smollm2-135m","sha256":"%s","size":%s,"source":"%s","downloaded_at":"%s","last_used_at":"%s"}\n' \
      "$sha" "$(stat -c %s "$model")" "windows-cross.sh: $(basename "$model")" "$now" "$now" \
      > "$store/manifests/smollm2-135m.json"
  else
    step "ingot.exe model download smollm2-135m (no local copy of the test model)"
    wine "$exe" model download smollm2-135m
  fi
fi

step "ingot.exe model run smollm2-135m --prompt Hi --max-tokens 8"
out=$(wine "$exe" model run smollm2-135m --prompt "Hi" --max-tokens 8 --seed 1 --verbose \
  2>/tmp/ingot-wine-run.err | tr -d '\r') || { tail -20 /tmp/ingot-wine-run.err; fail "model run"; }
echo "$out"
[ -n "$(echo "$out" | tr -d '[:space:]')" ] || fail "model run printed nothing"
# --verbose prints llama.cpp's system info: the SIMD level the .exe was built with.
grep -q 'AVX2 = 1' /tmp/ingot-wine-run.err \
  && echo "windows-cross: llama.cpp uses AVX2" \
  || echo "windows-cross: warning: llama.cpp was built without AVX2: $(grep -m1 -o 'CPU : .*' /tmp/ingot-wine-run.err)"
# ingot's Q4_1 kernel (README "Building for your CPU") on Windows: the AVX2 ggml built
# above, the self-check against ggml's kernel, and VirtualProtect around the table write.
if grep -q 'AVX2 = 1' /tmp/ingot-wine-run.err; then
  grep -q "Q4_1 x Q8_1 kernel: ingot 2x2 " /tmp/ingot-wine-run.err \
    && echo "windows-cross: ingot's Q4_1 kernel installed" \
    || { grep -i 'kernel' /tmp/ingot-wine-run.err; fail "ingot's Q4_1 kernel was not installed"; }
fi

# A home deeper than Windows' 260-character MAX_PATH, given as INGOT_HOME, with the model in
# its cache. Wine does not enforce MAX_PATH (it maps paths to Unix ones, up to 4096 bytes), so
# this proves that ingot's own handling of such paths works (the store, the catalog, and the
# \\?\ form handed to llama.cpp's fopen), not that Windows lifts the limit: that is the
# manifest's longPathAware (checked above) with LongPathsEnabled set, on a real Windows.
# (winepath itself cuts paths at 260 characters: the Unix side is built alongside.)
long_win="$local_app_data\\ingot-long-path"
long_unix="$(dirname "$home_unix")/ingot-long-path"
for i in 1 2 3 4 5; do
  part="level-$i-$(printf 'x%.0s' $(seq 1 50))"
  long_win="$long_win\\$part"
  long_unix="$long_unix/$part"
done
step "a home of ${#long_win} characters (INGOT_HOME=$long_win)"
[ "${#long_win}" -gt 260 ] || fail "the long home is only ${#long_win} characters"
mkdir -p "$long_unix/models-v1/blobs" "$long_unix/models-v1/manifests"
cp "$store/blobs/sha256-$sha" "$long_unix/models-v1/blobs/"
cp "$store/manifests/smollm2-135m.json" "$long_unix/models-v1/manifests/"
dir=$(INGOT_HOME="$long_win" wine "$exe" cache dir | tr -d '\r' | tail -1)
case "$dir" in
  "$long_win"*) echo "$dir" ;;
  *) fail "cache dir is $dir, expected $long_win" ;;
esac
list=$(INGOT_HOME="$long_win" wine "$exe" model list | tr -d '\r') || fail "model list (long home)"
# The model counts as cached: ingot found and checked the copy under the long path.
grep 'smollm2-135m ' <<<"$list" | grep -q ' yes ' || { echo "$list"; fail "model list (long home) does not see the model"; }
echo "windows-cross: model list sees smollm2-135m cached in the long home"
out=$(INGOT_HOME="$long_win" wine "$exe" model run smollm2-135m --prompt "Hi" --max-tokens 8 --seed 1 \
  2>/tmp/ingot-wine-long.err | tr -d '\r') || { tail -20 /tmp/ingot-wine-long.err; fail "model run (long home)"; }
echo "$out"
[ -n "$(echo "$out" | tr -d '[:space:]')" ] || fail "model run (long home) printed nothing"
rm -rf "$(dirname "$home_unix")/ingot-long-path"

# Ctrl+C in the middle of an answer must stop the answer, not the program: scripts/wine/
# ctrl-event.c starts `model run` on a console of its own and, once 40 bytes of the answer have
# come, sends CTRL_C_EVENT with GenerateConsoleCtrlEvent (wine turns it into a call of the
# handler that the ctrlc crate installed, on a new thread, as Windows does). The program
# must say "(stopped)" and exit 0 well before the 400 tokens asked for.
step "Ctrl+C during ingot.exe model run (GenerateConsoleCtrlEvent)"
ctrl_event="$target_dir/$target/ctrl-event.exe"
"$cc" -O2 -s -o "$ctrl_event" scripts/wine/ctrl-event.c
ctrl_start=$(date +%s)
wine "$ctrl_event" c 40 "\"$(winepath -w "$exe" | tr -d '\r')\" model run smollm2-135m --prompt \"Write a very long story about a dragon and a knight.\" --max-tokens 400 --seed 1" "" "" \
  >/tmp/ingot-wine-ctrlc.out 2>/tmp/ingot-wine-ctrlc.err \
  || { cat /tmp/ingot-wine-ctrlc.err; fail "model run did not exit 0 after Ctrl+C"; }
tr -d '\r' </tmp/ingot-wine-ctrlc.out | head -c 300; echo
grep -v '^ctrl-event: started' /tmp/ingot-wine-ctrlc.err | tr -d '\r' | grep -v '^$' || true
grep -q 'sent CTRL_C_EVENT' /tmp/ingot-wine-ctrlc.err || fail "Ctrl+C was not sent"
grep -q '^(stopped)' /tmp/ingot-wine-ctrlc.err || fail "the answer was not stopped by Ctrl+C"
echo "windows-cross: Ctrl+C stopped the answer; the program exited 0 ($(( $(date +%s) - ctrl_start )) s)"

chat='{"model":"smollm2-135m","messages":[{"role":"user","content":"Say hi"}],"max_tokens":8}'
wait_health() {
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

step "ingot.exe serve (one chat request from Linux)"
port=52731
wine "$exe" serve --port "$port" > /tmp/ingot-wine-serve.log 2>&1 &
serve_pid=$!
wait_health "$port" || { cat /tmp/ingot-wine-serve.log; fail "serve did not answer /health"; }
answer=$(curl -sf --max-time 300 --json "$chat" "http://127.0.0.1:$port/v1/chat/completions") \
  || { cat /tmp/ingot-wine-serve.log; fail "chat request"; }
echo "$answer"
python3 -c 'import json,sys; r=json.load(sys.stdin); c=r["choices"][0]["message"]["content"]; assert c.strip(), r; print("content:", repr(c))' \
  <<<"$answer" || fail "chat answer"

# The machine facts a benchmark records on Windows (ingot-bench's measure/resources/
# windows.rs), from a two-request bench against this server: the CPU's name (registry), the
# OS and its version (RtlGetVersion; wine's prefix may claim an old Windows), and no load
# average (Windows keeps none: "-" in reports, never 0).
step "ingot.exe bench (the machine facts in its manifest)"
rm -rf "$WINEPREFIX/drive_c/ingot-wine-bench"
wine "$exe" bench --endpoint "http://127.0.0.1:$port" --model smollm2-135m --requests 2 \
  --concurrency 1 --max-tokens 8 --warmup 0 --no-calibrate --json --out 'C:\ingot-wine-bench' \
  >/tmp/ingot-wine-bench.json 2>/tmp/ingot-wine-bench.err \
  || { tail -20 /tmp/ingot-wine-bench.err; fail "bench"; }
python3 -c '
import json, re, sys
m = json.load(sys.stdin)["manifest"]["machine"]
print(json.dumps(m))
assert m["cpu_model"], "no CPU model"
assert m["os"].startswith("Windows"), m["os"]
assert re.fullmatch(r"\d+\.\d+\.\d+(\.\d+)?", m["kernel"] or ""), m["kernel"]
assert m["load_avg_1m"] is None, m["load_avg_1m"]
' </tmp/ingot-wine-bench.json || fail "the bench manifest's machine facts"
rm -rf "$WINEPREFIX/drive_c/ingot-wine-bench"
kill "$serve_pid" 2>/dev/null || true
wait "$serve_pid" 2>/dev/null || true
# The console server has no token; let wine end what is left of it.
wineserver -k 2>/dev/null || true

step "ingot.exe service start / status / stop (detached; stopped through its shutdown route)"
sport=52732
wine "$exe" service start --port "$sport" | tr -d '\r' || fail "service start"
wait_health "$sport" || fail "the service does not answer /health"
curl -sf --max-time 300 --json "$chat" "http://127.0.0.1:$sport/v1/chat/completions" >/dev/null \
  || fail "chat request to the service"
st=$(wine "$exe" service status | tr -d '\r') || fail "service status"
echo "$st"
grep -q 'running at' <<<"$st" || fail "service status"
stop_start=$(date +%s)
stop_out=$(wine "$exe" service stop 2>&1 | tr -d '\r')
echo "$stop_out"
grep -q 'stopped' <<<"$stop_out" || fail "service stop"
if grep -q 'was killed' <<<"$stop_out"; then fail "the service had to be killed (no graceful stop)"; fi
if curl -sf "http://127.0.0.1:$sport/health" >/dev/null 2>&1; then fail "the service still answers"; fi
grep -q 'shutting down (`ingot service stop`)' "$home_unix/service/ingot.log" \
  || { tail "$home_unix/service/ingot.log"; fail "the service log shows no graceful shutdown"; }
echo "windows-cross: service stopped gracefully in $(( $(date +%s) - stop_start )) s"
wineserver -k 2>/dev/null || true

echo
echo "windows-cross: all Windows checks passed under $(command wine --version)"
