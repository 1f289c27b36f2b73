//! A 2×2 AVX2 kernel for ggml's `Q4_1 · Q8_1` dot product (two weight rows by two activation
//! columns per call), bit for bit what ggml's own one-row AVX2 kernel gives for each of the
//! four pairs.
//!
//! # Why it gives the same bits
//!
//! ggml's x86 kernel (`ggml_vec_dot_q4_1_q8_1`, `arch/x86/quants.c`, built with AVX2, FMA and
//! F16C) does per 32-element block `b`, for one weight row `x` and one column `y`:
//!
//! ```text
//! summs = fma(x[b].m, y[b].s, summs)                // GCC and clang contract `+= a * b`
//! xy    = cvt_f32(madd(1, maddubs(nibbles(x[b]), y[b].qs)))   // 8 exact integer lanes
//! acc   = fma(broadcast(x[b].d * y[b].d), xy, acc)
//! ```
//!
//! and ends with `hsum(acc) + summs`, where `hsum` adds the high and low halves, then lanes
//! 0+2 and 1+3, then those two. This kernel keeps four accumulators and four `summs` (one per
//! pair) and performs, per pair, exactly those operations in that order: the integer part is
//! exact whatever the grouping, the float operations are the same IEEE operations on the same
//! operands, and the final reduction is a transposed form of the same tree. What it saves is
//! the work a pair shares: each weight block is unpacked once for two columns, each column's
//! scales are converted once for two rows, and the four accumulator chains run side by side
//! instead of one after another.
//!
//! The engine does not trust this argument alone: `ingot_engine::kernels::install` compares
//! the kernel with ggml's on random blocks before it lets ggml call it, and keeps ggml's if
//! a single bit differs (a ggml built by a compiler that does not contract `summs`, say).

use std::arch::x86_64::*;
use std::ffi::c_void;

/// Bytes of a `block_q4_1`: `d` and `m` (f16), then 16 bytes of nibbles.
pub const Q4_1_BLOCK: usize = 20;
/// Bytes of a `block_q8_1`: `d` and `s` (f16), then 32 signed bytes.
pub const Q8_1_BLOCK: usize = 36;
/// Elements per block of both types.
pub const QK: usize = 32;

/// Computes the four dot products of weight rows `x0`, `x0 + bx` with activation columns
/// `y0`, `y0 + by`, each `n` elements long, into `s[0]` (x0·y0), `s[1]` (x1·y0), `s[bs]`
/// (x0·y1) and `s[bs + 1]` (x1·y1): the layout ggml's mul_mat expects of a two-row kernel
/// (`ggml_compute_forward_mul_mat_one_chunk`, as ggml's ARM i8mm kernel writes it).
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C; `x0 + bx` and `y0 + by` must each point at
/// `n / 32` readable blocks of their type, and `s`, `s + bs` at two writable floats each.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_2x2(
    n: usize,
    s: *mut f32,
    bs: usize,
    x0: *const u8,
    bx: usize,
    y0: *const u8,
    by: usize,
) {
    dot_2x2_body::<false>(n, s, bs, x0, bx, y0, by)
}

/// [`dot_2x2`] with AVX-512 VNNI: one `vpdpbusd` does the work of `maddubs` and `madd` (the
/// same exact integer sums, so the same bits as ggml's AVX2 kernel and as ggml's own VNNI
/// build of it), on the 256-bit registers AVX-512VL gives it.
///
/// # Safety
/// As [`dot_2x2`], and the CPU must have AVX-512 VNNI and AVX-512VL ([`supported_vnni`]).
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
pub unsafe fn dot_2x2_vnni(
    n: usize,
    s: *mut f32,
    bs: usize,
    x0: *const u8,
    bx: usize,
    y0: *const u8,
    by: usize,
) {
    dot_2x2_body::<true>(n, s, bs, x0, bx, y0, by)
}

/// The kernel, inlined into each entry point so that it is compiled with that entry's CPU
/// features; `VNNI` picks how byte pairs are multiplied and summed.
#[inline(always)]
unsafe fn dot_2x2_body<const VNNI: bool>(
    n: usize,
    s: *mut f32,
    bs: usize,
    x0: *const u8,
    bx: usize,
    y0: *const u8,
    by: usize,
) {
    let nb = n / QK;
    let x1 = x0.add(bx);
    let y1 = y0.add(by);
    let low_mask = _mm256_set1_epi8(0x0F);
    let ones = _mm256_set1_epi16(1);

    // Lane p of the 4-wide vectors, and accumulator p, is pair p = column * 2 + row:
    // x0·y0, x1·y0, x0·y1, x1·y1, the order of the output.
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut acc2 = _mm256_setzero_ps();
    let mut acc3 = _mm256_setzero_ps();
    let mut summs = _mm_setzero_ps();

    for b in 0..nb {
        let bx0 = x0.add(b * Q4_1_BLOCK);
        let bx1 = x1.add(b * Q4_1_BLOCK);
        let by0 = y0.add(b * Q8_1_BLOCK);
        let by1 = y1.add(b * Q8_1_BLOCK);

        // The scales, converted exactly: [d0, m0, d1, m1] and [dy0, s0, dy1, s1].
        let xh = _mm_set_epi32(0, 0, read_u32(bx1) as i32, read_u32(bx0) as i32);
        let yh = _mm_set_epi32(0, 0, read_u32(by1) as i32, read_u32(by0) as i32);
        let xf = _mm_cvtph_ps(xh);
        let yf = _mm_cvtph_ps(yh);
        let dx = _mm_shuffle_ps::<0b10_00_10_00>(xf, xf); // d0 d1 d0 d1
        let mx = _mm_shuffle_ps::<0b11_01_11_01>(xf, xf); // m0 m1 m0 m1
        let dy = _mm_shuffle_ps::<0b10_10_00_00>(yf, yf); // dy0 dy0 dy1 dy1
        let sy = _mm_shuffle_ps::<0b11_11_01_01>(yf, yf); // s0 s0 s1 s1
        summs = _mm_fmadd_ps(mx, sy, summs);
        let d = _mm_mul_ps(dx, dy);

        // Nibbles to bytes as ggml's `bytes_from_nibbles_32` lays them out: the low nibbles
        // are elements 0-15, the high ones 16-31.
        let qx0 = nibbles(bx0.add(4), low_mask);
        let qx1 = nibbles(bx1.add(4), low_mask);
        let qy0 = _mm256_loadu_si256(by0.add(4) as *const __m256i);
        let qy1 = _mm256_loadu_si256(by1.add(4) as *const __m256i);

        acc0 = _mm256_fmadd_ps(_mm256_broadcastss_ps(d), dot::<VNNI>(qx0, qy0, ones), acc0);
        acc1 = _mm256_fmadd_ps(
            _mm256_broadcastss_ps(_mm_shuffle_ps::<0b01_01_01_01>(d, d)),
            dot::<VNNI>(qx1, qy0, ones),
            acc1,
        );
        acc2 = _mm256_fmadd_ps(
            _mm256_broadcastss_ps(_mm_shuffle_ps::<0b10_10_10_10>(d, d)),
            dot::<VNNI>(qx0, qy1, ones),
            acc2,
        );
        acc3 = _mm256_fmadd_ps(
            _mm256_broadcastss_ps(_mm_shuffle_ps::<0b11_11_11_11>(d, d)),
            dot::<VNNI>(qx1, qy1, ones),
            acc3,
        );
    }

    // ggml's hsum_float_8 per accumulator: t = high + low; (t0 + t2) + (t1 + t3). Transposed,
    // all four at once: a = lanes 0, b = lanes 1, c = lanes 2, e = lanes 3 of each t.
    let t0 = half_sum(acc0);
    let t1 = half_sum(acc1);
    let t2 = half_sum(acc2);
    let t3 = half_sum(acc3);
    let lo01 = _mm_unpacklo_ps(t0, t1); // t0[0] t1[0] t0[1] t1[1]
    let lo23 = _mm_unpacklo_ps(t2, t3);
    let hi01 = _mm_unpackhi_ps(t0, t1); // t0[2] t1[2] t0[3] t1[3]
    let hi23 = _mm_unpackhi_ps(t2, t3);
    let a = _mm_movelh_ps(lo01, lo23);
    let b = _mm_movehl_ps(lo23, lo01);
    let c = _mm_movelh_ps(hi01, hi23);
    let e = _mm_movehl_ps(hi23, hi01);
    let r = _mm_add_ps(_mm_add_ps(_mm_add_ps(a, c), _mm_add_ps(b, e)), summs);

    let mut out = [0f32; 4];
    _mm_storeu_ps(out.as_mut_ptr(), r);
    *s = out[0];
    *s.add(1) = out[1];
    *s.add(bs) = out[2];
    *s.add(bs + 1) = out[3];
}

#[inline(always)]
unsafe fn read_u32(p: *const u8) -> u32 {
    (p as *const u32).read_unaligned()
}

#[inline(always)]
unsafe fn nibbles(qs: *const u8, low_mask: __m256i) -> __m256i {
    let tmp = _mm_loadu_si128(qs as *const __m128i);
    let bytes = _mm256_set_m128i(_mm_srli_epi16::<4>(tmp), tmp);
    _mm256_and_si256(low_mask, bytes)
}

/// ggml's `mul_sum_us8_pairs_float` without VNNI: unsigned × signed bytes, pairs summed to
/// 16 bits, then to 32, as floats.
#[inline(always)]
unsafe fn pairs(qx: __m256i, qy: __m256i, ones: __m256i) -> __m256 {
    let dot = _mm256_maddubs_epi16(qx, qy);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(ones, dot))
}

/// ggml's `mul_sum_us8_pairs_float` with VNNI: groups of four byte products summed straight
/// into 32 bits. The products of 4-bit by 8-bit values never saturate `maddubs`' 16 bits, so
/// both forms give the same integers.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
unsafe fn pairs_vnni(qx: __m256i, qy: __m256i) -> __m256 {
    _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), qx, qy))
}

#[inline(always)]
unsafe fn dot<const VNNI: bool>(qx: __m256i, qy: __m256i, ones: __m256i) -> __m256 {
    if VNNI {
        pairs_vnni(qx, qy)
    } else {
        pairs(qx, qy, ones)
    }
}

#[inline(always)]
unsafe fn half_sum(v: __m256) -> __m128 {
    _mm_add_ps(_mm256_extractf128_ps::<1>(v), _mm256_castps256_ps128(v))
}

/// Whether this CPU can run [`dot_2x2`].
pub fn supported() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

/// Whether this CPU can run [`dot_2x2_vnni`].
pub fn supported_vnni() -> bool {
    supported()
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni")
}

/// The kernel behind ggml's `ggml_vec_dot_t` signature, for the dispatch table.
pub type VecDot = unsafe extern "C" fn(
    n: i32,
    s: *mut f32,
    bs: usize,
    vx: *const c_void,
    bx: usize,
    vy: *const c_void,
    by: usize,
    nrc: i32,
);
