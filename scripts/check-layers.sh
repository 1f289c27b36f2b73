#!/usr/bin/env bash
# Architecture checks anyone can run (issue 13), and CI runs:
# 1. llama.cpp stays where inference runs: the crates that serve, benchmark, validate requests
#    or define the engine API have no llama-cpp-sys-2 anywhere in their dependency trees
#    (dev-dependencies included); the SDK only with its `llama` feature, which the binary
#    enables.
# 2. No import cycle between the modules of any crate (scripts/module-cycles.py; for
#    ingot-bench also its layer order: spec -> measure -> score -> analyze -> report).
# 3. Every crate that does not build llama.cpp checks for Windows (x86_64-pc-windows-gnu;
#    ring's C part needs mingw-w64) and macOS (aarch64-apple-darwin; TLS is the platform's,
#    so no Apple SDK is needed). The SDK is checked without its default `llama` feature.
#    This covers the platform code of issue 19 (the Windows and macOS readings of ingot-bench,
#    the service's process handling in the SDK, ingot-core's file helpers). The crates that
#    build llama.cpp (ingot-engine, ingot-cli) are built for Windows by
#    scripts/windows-cross.sh and checked for macOS by scripts/macos-check.sh (each a full
#    llama.cpp build, too slow for this check; CI runs both).
set -euo pipefail
cd "$(dirname "$0")/.."

pure=(ingot-core ingot-gguf ingot-kernels ingot-convert ingot-catalog ingot-cache ingot-fetch ingot-api ingot-server ingot-bench ingot-testkit)

for c in ingot-core ingot-api ingot-server ingot-bench ingot; do
  if cargo tree -p "$c" --target all 2>/dev/null | grep -q 'llama-cpp-sys-2'; then
    echo "error: $c depends on llama-cpp-sys-2:" >&2
    cargo tree -p "$c" --target all -i llama-cpp-sys-2 >&2 || true
    exit 1
  fi
done
echo "layers: no llama-cpp-sys-2 under ingot-core, ingot-api, ingot-server, ingot-bench, ingot (the SDK without its llama feature)"

for src in crates/*/src; do
  python3 scripts/module-cycles.py "$src" >/dev/null || { python3 scripts/module-cycles.py "$src" >&2; exit 1; }
done
echo "modules: no import cycle in any crate"

args=()
for c in "${pure[@]}"; do args+=(-p "$c"); done
for target in x86_64-pc-windows-gnu aarch64-apple-darwin; do
  cargo check --quiet --target "$target" "${args[@]}"
  cargo check --quiet --target "$target" -p ingot --no-default-features
  echo "cargo check --target $target: ok (${pure[*]} and ingot without llama)"
done
