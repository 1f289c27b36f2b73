//! ingot-kernels: SIMD kernels for ggml's quantized block formats, in plain Rust.
//!
//! They compute exactly what one of ggml's CPU kernels computes (same bits), faster for a
//! shape ggml's build for the platform does not cover. This crate knows nothing of
//! llama.cpp: `ingot-engine` checks each kernel against ggml's own at start-up and installs
//! it into ggml's dispatch table (see its `kernels` module).
//!
//! The crate is built optimised in test builds too (the workspace's `profile.dev`): an
//! unoptimised SIMD kernel, every intrinsic a call, would slow the real-model test suites
//! many times over.

#[cfg(target_arch = "x86_64")]
pub mod q4_1_x86;
