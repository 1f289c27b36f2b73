//! Large CPU buffers from fresh pages (src/fresh_pages.rs, issue 18: a warm load under 50
//! ms): what llama.cpp relies on when it clears a buffer still holds.
#![cfg(all(target_os = "linux", not(feature = "dynamic-backends")))]
use ingot_engine::fresh_pages::{install, installed, MAPPING_NAME, MIN_BYTES};
use llama_cpp_sys_2 as sys;

/// Through ggml's own calls, as llama.cpp makes them: a new large buffer reads as zero
/// after its first clear (skipped), and every later clear writes, to zero or to another
/// value. A small buffer stays ggml's.
#[test]
fn a_large_buffer_reads_zero_and_later_clears_still_write() {
    let _ = ingot_engine::system_info(); // starts the backend, which installs the allocator
    assert!(installed(), "{:?}", install());
    // SAFETY: ggml's public buffer API on buffers made and freed here.
    unsafe {
        let buft = sys::ggml_backend_cpu_buffer_type();
        let size = MIN_BYTES + 12_345;
        let buf = sys::ggml_backend_buft_alloc_buffer(buft, size);
        assert!(!buf.is_null());
        assert_eq!(sys::ggml_backend_buffer_get_size(buf), size);
        let base = sys::ggml_backend_buffer_get_base(buf) as *mut u8;
        // Named in /proc/self/maps, so that leak checks can leave it out (the e2e suites'
        // RSS): the mapping that holds `base` carries the name.
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let line = maps
            .lines()
            .find(|l| {
                let range = l.split_whitespace().next().unwrap_or("");
                let (lo, hi) = range.split_once('-').unwrap_or(("0", "0"));
                let (lo, hi) = (
                    usize::from_str_radix(lo, 16).unwrap_or(0),
                    usize::from_str_radix(hi, 16).unwrap_or(0),
                );
                (lo..hi).contains(&(base as usize))
            })
            .expect("a mapping holds the buffer");
        assert!(line.contains(&format!("/memfd:{MAPPING_NAME}")), "{line}");
        let bytes = std::slice::from_raw_parts_mut(base, size);
        sys::ggml_backend_buffer_clear(buf, 0);
        assert!(
            bytes.iter().all(|&b| b == 0),
            "a fresh buffer reads as zero"
        );
        // What a decode does: writes straight into the memory, unseen by the buffer.
        bytes.iter_mut().step_by(4093).for_each(|b| *b = 0xAB);
        bytes[size - 1] = 0xCD;
        sys::ggml_backend_buffer_clear(buf, 0);
        assert!(bytes.iter().all(|&b| b == 0), "the second clear zeroes");
        sys::ggml_backend_buffer_clear(buf, 7);
        assert!(bytes.iter().all(|&b| b == 7));
        sys::ggml_backend_buffer_free(buf);

        // A first clear to another value writes too.
        let buf = sys::ggml_backend_buft_alloc_buffer(buft, size);
        sys::ggml_backend_buffer_clear(buf, 0xFF);
        let bytes =
            std::slice::from_raw_parts(sys::ggml_backend_buffer_get_base(buf) as *const u8, size);
        assert!(bytes.iter().all(|&b| b == 0xFF));
        sys::ggml_backend_buffer_free(buf);

        // Small buffers: ggml's heap allocation, cleared by ggml's memset.
        let small = sys::ggml_backend_buft_alloc_buffer(buft, 1 << 16);
        let p = sys::ggml_backend_buffer_get_base(small) as *mut u8;
        std::ptr::write_bytes(p, 0x5A, 1 << 16);
        sys::ggml_backend_buffer_clear(small, 0);
        assert!(std::slice::from_raw_parts(p, 1 << 16)
            .iter()
            .all(|&b| b == 0));
        sys::ggml_backend_buffer_free(small);
    }
}
