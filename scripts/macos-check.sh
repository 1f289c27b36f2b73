#!/usr/bin/env bash
# Issue 19: `cargo check --workspace --all-targets --target aarch64-apple-darwin` from Linux:
# every crate and its tests, ingot-engine and ingot-cli included, whose llama-cpp-sys-2 build
# script generates llama.cpp's bindings (bindgen) and builds llama.cpp (cmake) even under
# `cargo check`. Both need a C/C++ compiler and the headers of macOS, which Apple ships only
# with its SDK. Zig (from pip: the `ziglang` package) carries macOS's libc headers and LLVM's
# libc++, and compiles for macOS: it is the C and C++ compiler here.
#
# What this compiles for macOS: all the Rust code of the workspace, tests included (rustc's
# full check, the `cfg(target_os = "macos")` paths too), llama.cpp's bindings, and llama.cpp's
# C/C++ with its CPU backend (ggml-cpu's ARM NEON kernels, llama, common). What it does not:
# the Metal backend (Objective-C against Foundation and Metal, which need the SDK's
# frameworks: built with GGML_METAL=OFF), Accelerate (GGML_ACCELERATE=OFF), linking (no Apple
# linker nor SDK libraries: `cargo check` does not link) and, of course, running.
#
# Usage: scripts/macos-check.sh [--target aarch64-apple-darwin|x86_64-apple-darwin]
# Needs: rustup target aarch64-apple-darwin (x86_64-apple-darwin for that one), cmake,
# libclang (bindgen), python3 with pip (it installs `ziglang` when missing).
# CARGO_TARGET_DIR is honoured.
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-apple-darwin
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target="${2:?}"; shift 2 ;;
    *) echo "usage: $0 [--target aarch64-apple-darwin|x86_64-apple-darwin]" >&2; exit 2 ;;
  esac
done
case "$target" in
  aarch64-apple-darwin) zig_target=aarch64-macos min_version=11.0 ;;
  x86_64-apple-darwin) zig_target=x86_64-macos min_version=10.12 ;;
  *) echo "error: unsupported target $target" >&2; exit 2 ;;
esac

# Zig, pinned: its macOS headers' layout (lib/libc/include/any-darwin-any) changes between
# releases.
zig_version=0.17.1
zig_dir() { python3 -c 'import os, ziglang; print(os.path.dirname(ziglang.__file__))' 2>/dev/null; }
if ! zdir=$(zig_dir) || [ "$("$zdir/zig" version 2>/dev/null)" != "$zig_version" ]; then
  echo "macos-check: installing ziglang $zig_version (pip)"
  python3 -m pip install -q --disable-pip-version-check "ziglang==$zig_version" >/dev/null 2>&1 \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages "ziglang==$zig_version"
  zdir=$(zig_dir)
fi
zig="$zdir/zig"
darwin_include="$zdir/lib/libc/include/any-darwin-any"
[ -f "$darwin_include/TargetConditionals.h" ] \
  || { echo "error: no macOS headers in $darwin_include (zig $("$zig" version))" >&2; exit 1; }

target_dir="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target_dir/$target/zig-wrappers"
wrappers="$(cd "$target_dir/$target/zig-wrappers" && pwd)"

# Compiler wrappers for cc (the `common` wrapper of llama-cpp-sys-2, and cc's compiler probe
# that cmake-rs runs) and cmake. `zig cc` takes the target as `-target aarch64-macos` and reads
# `--target=arm64-apple-macosx` (which cc passes, as to clang) as a Zig target it rejects: the
# triple is dropped. `-isysroot` and `-arch` (CMake's Darwin platform adds them) are dropped
# too: there is no SDK, zig's own headers stand for it. Everything else passes through. The
# deployment target goes into zig's target (zig's default is its newest macOS).
for lang in cc c++; do
  cat > "$wrappers/zig-$lang" <<EOF
#!/usr/bin/env bash
args=()
skip=0
for a in "\$@"; do
  if [ \$skip = 1 ]; then skip=0; continue; fi
  case "\$a" in
    --target=*|-target=*) ;;
    -target|-isysroot|-arch) skip=1 ;;
    *) args+=("\$a") ;;
  esac
done
exec "$zig" $lang -target $zig_target.$min_version "\${args[@]}"
EOF
done
# The archiver and ranlib: zig's (llvm-ar). CMake's Darwin rules call ranlib with Apple's
# `-no_warning_for_no_symbols -c`, which llvm-ranlib does not know: options are dropped.
printf '#!/bin/sh\nexec "%s" ar "$@"\n' "$zig" > "$wrappers/zig-ar"
printf '#!/bin/sh\nfor a; do case "$a" in -*) ;; *) set -- "$@" "$a" ;; esac; shift; done\nexec "%s" ranlib "$@"\n' \
  "$zig" > "$wrappers/zig-ranlib"
chmod +x "$wrappers"/zig-*

t=${target//-/_}
export "CC_$t=$wrappers/zig-cc" "CXX_$t=$wrappers/zig-c++" "AR_$t=$wrappers/zig-ar"
# The deployment target rustc uses for this target (cc passes it as -mmacosx-version-min).
export MACOSX_DEPLOYMENT_TARGET="$min_version"
# cmake: the wrappers as compilers and tools. cmake-rs sets CMAKE_SYSTEM_NAME=Darwin when
# cross-compiling; llama-cpp-sys-2 passes every CMAKE_* variable on to cmake.
export CMAKE_AR="$wrappers/zig-ar" CMAKE_RANLIB="$wrappers/zig-ranlib"
# CMake's Darwin platform insists on finding install_name_tool (it rewrites the install names
# of shared libraries; only static ones are built here): a stand-in that does nothing.
export CMAKE_INSTALL_NAME_TOOL=/bin/true
# ggml's Apple defaults that need the SDK's frameworks: Metal (Objective-C, Foundation and
# Metal headers) and Accelerate (BLAS and vDSP). llama-cpp-sys-2 passes GGML_* on to cmake.
# OpenMP stays as the crate sets it (ON with the `openmp` feature): ggml finds no OpenMP for
# Apple, warns and uses its own thread pool, as with Apple's clang on a Mac (which has no
# OpenMP unless Homebrew's libomp is installed).
export GGML_METAL=OFF GGML_ACCELERATE=OFF GGML_BLAS=OFF
# bindgen (the host's libclang) parses llama.h for the target: the macOS libc headers come
# from zig, and -nostdlibinc keeps the host's /usr/include (glibc) out.
export "BINDGEN_EXTRA_CLANG_ARGS_$t=-nostdlibinc -isystem $darwin_include"

# llama-cpp-sys-2 configures cmake only once (a CMakeCache.txt is taken as done): a configure
# that failed on an earlier run would make every later build fail with no Makefile. Such a
# half-configured build folder is removed.
for b in "$target_dir/$target"/*/build/llama-cpp-sys-2-*/out/build; do
  if [ -f "$b/CMakeCache.txt" ] && [ ! -f "$b/Makefile" ]; then rm -rf "$b"; fi
done

start=$(date +%s)
# --all-targets: the tests' macOS paths too (their dev-dependencies build for macOS as well).
cargo check --workspace --all-targets --target "$target"
echo "macos-check: cargo check --workspace --all-targets --target $target: ok in $(( $(date +%s) - start )) s (zig $("$zig" version); Metal and Accelerate not compiled; nothing linked)"
