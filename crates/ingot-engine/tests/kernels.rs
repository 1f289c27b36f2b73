//! ingot's CPU kernels against ggml's own (src/kernels): the same bits, kernel by kernel and
//! through a whole ggml matrix product, and installed where the CPU and ggml allow it.
#![cfg(all(target_arch = "x86_64", not(feature = "dynamic-backends")))]

use ingot_engine::kernels::{
    ggml_built_for_avx2, q4_1_x86, self_check, status, Kernel, KernelStatus,
};
use llama_cpp_sys_2 as sys;

// ggml's own one-row kernel, linked from the same static library, so that the comparison
// does not depend on whether `install` has already replaced the table entry.
extern "C" {
    fn ggml_vec_dot_q4_1_q8_1(
        n: i32,
        s: *mut f32,
        bs: usize,
        vx: *const std::ffi::c_void,
        bx: usize,
        vy: *const std::ffi::c_void,
        by: usize,
        nrc: i32,
    );
}

#[test]
fn the_two_by_two_kernel_gives_ggmls_bits_for_every_pair() {
    // ggml's kernel reads its f16 tables, which the CPU backend fills when it starts: without
    // this, run alone, ggml's side gives 0.0 and, beside the other tests, races their start.
    let _ = ingot_engine::system_info();
    if !q4_1_x86::supported() || !ggml_built_for_avx2() {
        eprintln!("skipped: this CPU or this ggml has no AVX2/FMA/F16C");
        return;
    }
    // SAFETY: the CPU has AVX2, FMA and F16C (checked above).
    unsafe { self_check(q4_1_x86::dot_2x2, ggml_vec_dot_q4_1_q8_1) }.unwrap();
}

#[test]
fn the_vnni_kernel_gives_ggmls_bits_for_every_pair() {
    let _ = ingot_engine::system_info(); // fills ggml's f16 tables, as above
    if !q4_1_x86::supported_vnni() || !ggml_built_for_avx2() {
        eprintln!("skipped: this CPU has no AVX-512 VNNI, or this ggml no AVX2/FMA/F16C");
        return;
    }
    // SAFETY: the CPU has AVX-512 VNNI and VL besides AVX2 (checked above).
    unsafe { self_check(q4_1_x86::dot_2x2_vnni, ggml_vec_dot_q4_1_q8_1) }.unwrap();
}

#[test]
fn the_kernel_is_installed_where_the_cpu_and_ggml_allow_it() {
    let _ = ingot_engine::system_info(); // starts the backend, which installs the kernels
    let status = status().expect("the backend installs the kernels when it starts");
    if q4_1_x86::supported()
        && ggml_built_for_avx2()
        && cfg!(any(target_os = "linux", target_os = "windows"))
    {
        // The fastest kernel the CPU runs (INGOT_KERNELS is the CLI's, not read here).
        let (kernel, name) = if q4_1_x86::supported_vnni() {
            (Kernel::Avx512Vnni, "AVX-512 VNNI")
        } else {
            (Kernel::Avx2, "AVX2")
        };
        assert_eq!(*status, KernelStatus::Installed(kernel));
        // `model run --verbose` and benchmark manifests say which kernel ran.
        let info = ingot_engine::system_info();
        assert!(
            info.ends_with(&format!("Q4_1 x Q8_1 kernel: ingot 2x2 {name}")),
            "{info}"
        );
        // SAFETY: a pointer into ggml's static table.
        let entry = unsafe { *sys::ggml_get_type_traits_cpu(sys::GGML_TYPE_Q4_1) };
        assert_eq!(
            entry.nrows, 2,
            "ggml must hand the kernel two rows at a time"
        );
    } else {
        assert!(matches!(status, KernelStatus::Skipped(_)), "{status:?}");
    }
}

/// A whole Q4_1 matrix product through ggml (its mul_mat splits the work into two-row calls
/// with the output layout `dot_2x2` writes): every element must equal ggml's one-row kernel
/// applied to the same quantized row and column, for even and odd batch widths.
#[test]
fn a_q4_1_matrix_product_through_ggml_matches_the_one_row_kernel_everywhere() {
    let _ = ingot_engine::system_info(); // starts the backend, which installs the kernels
    let (k, m) = (576usize, 64usize);
    let mut seed = 7u32;
    let mut rnd = move || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
    };
    let weights: Vec<f32> = (0..k * m).map(|_| rnd()).collect();
    for n in [1usize, 2, 3, 4, 8] {
        let acts: Vec<f32> = (0..k * n).map(|_| rnd() * 4.0).collect();
        // SAFETY: a private ggml context big enough for the tensors and the graph; every
        // pointer passed comes from it or from the vectors above, alive for the call.
        unsafe {
            let ctx = sys::ggml_init(sys::ggml_init_params {
                mem_size: 16 << 20,
                mem_buffer: std::ptr::null_mut(),
                no_alloc: false,
            });
            assert!(!ctx.is_null());
            let w = sys::ggml_new_tensor_2d(ctx, sys::GGML_TYPE_Q4_1, k as i64, m as i64);
            sys::ggml_quantize_chunk(
                sys::GGML_TYPE_Q4_1,
                weights.as_ptr(),
                sys::ggml_get_data(w),
                0,
                m as i64,
                k as i64,
                std::ptr::null(),
            );
            let x = sys::ggml_new_tensor_2d(ctx, sys::GGML_TYPE_F32, k as i64, n as i64);
            std::ptr::copy_nonoverlapping(acts.as_ptr(), sys::ggml_get_data_f32(x), k * n);
            let out = sys::ggml_mul_mat(ctx, w, x);
            let graph = sys::ggml_new_graph(ctx);
            sys::ggml_build_forward_expand(graph, out);
            assert_eq!(
                sys::ggml_graph_compute_with_ctx(ctx, graph, 2),
                sys::GGML_STATUS_SUCCESS
            );
            let got = std::slice::from_raw_parts(sys::ggml_get_data_f32(out), m * n);

            // The reference: each column quantized to Q8_1 as mul_mat does, then one call of
            // ggml's own kernel per element.
            let w_row = sys::ggml_row_size(sys::GGML_TYPE_Q4_1, k as i64);
            let y_row = sys::ggml_row_size(sys::GGML_TYPE_Q8_1, k as i64);
            let to_q8_1 = (*sys::ggml_get_type_traits_cpu(sys::GGML_TYPE_Q8_1))
                .from_float
                .unwrap();
            let mut y = vec![0u8; y_row * n];
            for c in 0..n {
                to_q8_1(
                    acts.as_ptr().add(c * k),
                    y.as_mut_ptr().add(c * y_row).cast(),
                    k as i64,
                );
            }
            let wdata = sys::ggml_get_data(w) as *const u8;
            for c in 0..n {
                for r in 0..m {
                    let mut want = 0f32;
                    ggml_vec_dot_q4_1_q8_1(
                        k as i32,
                        &mut want,
                        0,
                        wdata.add(r * w_row).cast(),
                        0,
                        y.as_ptr().add(c * y_row).cast(),
                        0,
                        1,
                    );
                    assert_eq!(
                        got[c * m + r].to_bits(),
                        want.to_bits(),
                        "batch {n}, row {r}, column {c}: {} against {want}",
                        got[c * m + r]
                    );
                }
            }
            sys::ggml_free(ctx);
        }
    }
}
