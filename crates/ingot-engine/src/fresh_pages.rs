//! Large host buffers from fresh pages, so that clearing a new buffer costs nothing.
//!
//! llama.cpp zeroes every KV cache it creates (`llama_kv_cache`'s constructor clears the
//! buffer "to avoid NaNs in the padding"). ggml's CPU buffers come from `posix_memalign`, which
//! hands a buffer this large over as fresh pages from the kernel, already zero, and the
//! `memset` then touches every one of them: for SmolLM2's 90 MiB KV cache of 4,096 cells
//! ~23,000 page faults, 62 ms of a 140 ms load (PERFORMANCE.md round 5), and eight times as
//! much at `--parallel 8`. The clear of a buffer nobody has written is a no-op: this module
//! allocates large CPU buffers as fresh mappings (zero-filled by the kernel, as `calloc` relies on)
//! and skips a buffer's first clear to zero when nothing reached the buffer through ggml
//! before it. Pages then fault in as the cells fill, and an idle model's KV cache does not
//! occupy memory it never used. (Asking the kernel for all the pages at once instead,
//! `MADV_POPULATE_WRITE`, costs as much as the clear: ~65 ms for SmolLM2's 90 MiB.)
//!
//! Every later clear, and any clear to another value, does the `memset` as ggml does. In
//! llama.cpp b11434 every clear that can be a buffer's first operation directly follows the
//! buffer's allocation (the KV cache, the output buffer, control vectors), so no compute can
//! have written the buffer before it, unseen by this module.
//!
//! [`install`] swaps ggml's CPU buffer type's `alloc_buffer` for [`alloc_buffer`] when the
//! backend starts, after checking that the structures it reads are laid out as mirrored here.
//! Linux only; elsewhere ggml's allocator runs unchanged.

/// Buffers at least this large come from fresh pages: smaller ones `posix_memalign` may serve
/// from reused heap memory, and clearing them costs little anyway.
pub const MIN_BYTES: usize = 16 << 20;

/// The name of these buffers' memory: their mappings read `/memfd:ingot-ggml-buffer
/// (deleted)` in `/proc/PID/maps`. A KV cache is one: fixed in size, resident as its cells
/// fill (and counted in RSS as shared memory), so memory checks that look for leaks leave
/// such mappings out.
pub const MAPPING_NAME: &str = "ingot-ggml-buffer";

/// What [`install`] did, for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreshPagesStatus {
    Installed,
    Skipped(String),
}

/// Installs the allocator once (when the llama.cpp backend starts, before any buffer exists).
pub fn install() -> &'static FreshPagesStatus {
    static STATUS: std::sync::OnceLock<FreshPagesStatus> = std::sync::OnceLock::new();
    STATUS.get_or_init(|| {
        let status = imp::install();
        match &status {
            FreshPagesStatus::Installed => {
                tracing::debug!("large CPU buffers come from fresh pages (no clear at load)")
            }
            FreshPagesStatus::Skipped(why) => {
                tracing::debug!("large CPU buffers come from ggml's allocator: {why}")
            }
        }
        status
    })
}

/// Whether [`install`] put the allocator in place.
pub fn installed() -> bool {
    matches!(install(), FreshPagesStatus::Installed)
}

#[cfg(not(all(target_os = "linux", not(feature = "dynamic-backends"))))]
mod imp {
    pub(super) fn install() -> super::FreshPagesStatus {
        super::FreshPagesStatus::Skipped("not on this platform".into())
    }
}

#[cfg(all(target_os = "linux", not(feature = "dynamic-backends")))]
mod imp {
    use super::FreshPagesStatus;
    use llama_cpp_sys_2 as sys;
    use std::collections::HashSet;
    use std::ffi::{c_char, c_void, CStr};
    use std::sync::{Mutex, OnceLock};

    use super::MIN_BYTES;

    const MAPPING_NAME_C: &std::ffi::CStr = c"ingot-ggml-buffer";

    /// `len` bytes of zero pages, not yet resident: a mapping of an anonymous memory file
    /// named [`super::MAPPING_NAME`], so that `/proc/PID/smaps` tells these buffers from the
    /// rest of the heap (kernels without `memfd_create`: a plain anonymous mapping). Null
    /// when the system refuses.
    unsafe fn map_zeroed(len: usize) -> *mut c_void {
        let fd = libc::memfd_create(MAPPING_NAME_C.as_ptr(), libc::MFD_CLOEXEC);
        if fd >= 0 {
            let ptr = if libc::ftruncate(fd, len as libc::off_t) == 0 {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    fd,
                    0,
                )
            } else {
                libc::MAP_FAILED
            };
            // The mapping keeps the file alive.
            libc::close(fd);
            if ptr != libc::MAP_FAILED {
                return ptr;
            }
        }
        let ptr = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if ptr == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            ptr
        }
    }

    type Buft = *mut BufferType;
    type Buf = *mut Buffer;

    // Mirrors of ggml-backend-impl.h (GGML_BACKEND_API_VERSION 3, llama-cpp-sys-2 0.1.160),
    // which the bindings leave opaque. `install` checks what it can of the layout first.
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct BufferTypeIface {
        get_name: Option<unsafe extern "C" fn(Buft) -> *const c_char>,
        alloc_buffer: Option<unsafe extern "C" fn(Buft, usize) -> Buf>,
        alloc_buffer_n: Option<unsafe extern "C" fn(Buft, *mut *mut c_void, i32) -> Buf>,
        get_alignment: Option<unsafe extern "C" fn(Buft) -> usize>,
        get_max_size: Option<unsafe extern "C" fn(Buft) -> usize>,
        get_alloc_size: Option<unsafe extern "C" fn(Buft, *const c_void) -> usize>,
        get_alloc_size_n: Option<unsafe extern "C" fn(Buft, *mut *mut c_void, i32) -> usize>,
        is_host: Option<unsafe extern "C" fn(Buft) -> bool>,
    }

    #[repr(C)]
    struct BufferType {
        iface: BufferTypeIface,
        device: *mut c_void,
        context: *mut c_void,
    }

    #[repr(C)]
    #[derive(Clone, Copy)]
    struct BufferIface {
        free_buffer: Option<unsafe extern "C" fn(Buf)>,
        get_base: Option<unsafe extern "C" fn(Buf) -> *mut c_void>,
        init_tensor: Option<unsafe extern "C" fn(Buf, *mut c_void) -> i32>,
        memset_tensor: Option<unsafe extern "C" fn(Buf, *mut c_void, u8, usize, usize)>,
        set_tensor: Option<unsafe extern "C" fn(Buf, *mut c_void, *const c_void, usize, usize)>,
        get_tensor: Option<unsafe extern "C" fn(Buf, *const c_void, *mut c_void, usize, usize)>,
        set_tensor_2d: *const c_void,
        get_tensor_2d: *const c_void,
        cpy_tensor: Option<unsafe extern "C" fn(Buf, *const c_void, *mut c_void) -> bool>,
        clear: Option<unsafe extern "C" fn(Buf, u8)>,
        reset: Option<unsafe extern "C" fn(Buf)>,
    }

    #[repr(C)]
    struct Buffer {
        iface: BufferIface,
        buft: Buft,
        context: *mut c_void,
        size: usize,
        usage: i32,
    }

    extern "C" {
        fn ggml_backend_buffer_init(
            buft: Buft,
            iface: BufferIface,
            context: *mut c_void,
            size: usize,
        ) -> Buf;
    }

    /// ggml's own: the CPU buffer type's allocator and its buffers' operations.
    struct Ggml {
        alloc: unsafe extern "C" fn(Buft, usize) -> Buf,
        iface: BufferIface,
    }
    // SAFETY: plain function pointers into ggml, valid for the whole process.
    unsafe impl Send for Ggml {}
    unsafe impl Sync for Ggml {}

    static GGML: OnceLock<Ggml> = OnceLock::new();
    /// Base addresses of buffers from fresh pages that nothing has reached through ggml yet.
    static FRESH: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

    fn fresh() -> std::sync::MutexGuard<'static, Option<HashSet<usize>>> {
        FRESH.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets that `buf` is fresh; says whether it was.
    fn touch(buf: Buf) -> bool {
        // SAFETY: ggml passes a live buffer of this module's making.
        let base = unsafe { (*buf).context } as usize;
        fresh().as_mut().is_some_and(|set| set.remove(&base))
    }

    fn page_len(size: usize) -> usize {
        // SAFETY: a plain query.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        size.div_ceil(page) * page
    }

    pub(super) fn install() -> FreshPagesStatus {
        // SAFETY: returns ggml's static CPU buffer type, valid for the whole process.
        let buft = unsafe { sys::ggml_backend_cpu_buffer_type() } as Buft;
        if buft.is_null() {
            return FreshPagesStatus::Skipped("ggml has no CPU buffer type".into());
        }
        // SAFETY: the layout is checked field by field against what ggml reports before
        // anything is written; reads of a static, initialised struct.
        unsafe {
            let iface = (*buft).iface;
            let (Some(get_name), Some(alloc), Some(is_host)) =
                (iface.get_name, iface.alloc_buffer, iface.is_host)
            else {
                return FreshPagesStatus::Skipped(
                    "ggml's CPU buffer type is not as expected".into(),
                );
            };
            let name = CStr::from_ptr(get_name(buft)).to_string_lossy();
            if name != "CPU" || !is_host(buft) || iface.alloc_buffer_n.is_some() {
                return FreshPagesStatus::Skipped(format!(
                    "ggml's CPU buffer type is not as expected (name {name:?})"
                ));
            }
            // One small buffer of ggml's own gives its buffers' operations, and shows that
            // the buffer layout matches: its type, size and base are where they should be.
            let probe = alloc(buft, 256);
            if probe.is_null() {
                return FreshPagesStatus::Skipped("ggml cannot allocate a CPU buffer".into());
            }
            let ok = (*probe).buft == buft
                && (*probe).size == 256
                && (*probe)
                    .iface
                    .get_base
                    .is_some_and(|f| f(probe) == (*probe).context)
                && (*probe).iface.clear.is_some()
                && (*probe).iface.free_buffer.is_some();
            let ggml_iface = (*probe).iface;
            sys::ggml_backend_buffer_free(probe as sys::ggml_backend_buffer_t);
            if !ok {
                return FreshPagesStatus::Skipped("ggml's CPU buffers are not as expected".into());
            }
            let _ = GGML.set(Ggml {
                alloc,
                iface: ggml_iface,
            });
            // A plain static struct in ggml's data (writable), read by ggml only when it
            // allocates; nothing allocates while the backend starts.
            (*buft).iface.alloc_buffer = Some(alloc_buffer);
        }
        FreshPagesStatus::Installed
    }

    /// The CPU buffer type's allocator: fresh pages for large buffers, ggml's for the rest.
    unsafe extern "C" fn alloc_buffer(buft: Buft, size: usize) -> Buf {
        let Some(ggml) = GGML.get() else {
            return std::ptr::null_mut();
        };
        if size < MIN_BYTES {
            return (ggml.alloc)(buft, size);
        }
        let len = page_len(size);
        let ptr = map_zeroed(len);
        if ptr.is_null() {
            // ggml's allocator reports its own failure the way callers expect.
            return (ggml.alloc)(buft, size);
        }
        let iface = BufferIface {
            free_buffer: Some(free_buffer),
            memset_tensor: Some(memset_tensor),
            set_tensor: Some(set_tensor),
            cpy_tensor: Some(cpy_tensor),
            clear: Some(clear),
            ..ggml.iface
        };
        fresh()
            .get_or_insert_with(HashSet::new)
            .insert(ptr as usize);
        let buf = ggml_backend_buffer_init(buft, iface, ptr, size);
        if buf.is_null() {
            fresh().as_mut().map(|s| s.remove(&(ptr as usize)));
            libc::munmap(ptr, len);
        }
        buf
    }

    unsafe extern "C" fn free_buffer(buf: Buf) {
        touch(buf);
        libc::munmap((*buf).context, page_len((*buf).size));
    }

    unsafe extern "C" fn clear(buf: Buf, value: u8) {
        if touch(buf) && value == 0 {
            return; // fresh pages read as zero
        }
        std::ptr::write_bytes((*buf).context as *mut u8, value, (*buf).size);
    }

    unsafe extern "C" fn memset_tensor(
        buf: Buf,
        tensor: *mut c_void,
        value: u8,
        offset: usize,
        size: usize,
    ) {
        touch(buf);
        let f = GGML.get().and_then(|g| g.iface.memset_tensor);
        if let Some(f) = f {
            f(buf, tensor, value, offset, size);
        }
    }

    unsafe extern "C" fn set_tensor(
        buf: Buf,
        tensor: *mut c_void,
        data: *const c_void,
        offset: usize,
        size: usize,
    ) {
        touch(buf);
        let f = GGML.get().and_then(|g| g.iface.set_tensor);
        if let Some(f) = f {
            f(buf, tensor, data, offset, size);
        }
    }

    unsafe extern "C" fn cpy_tensor(buf: Buf, src: *const c_void, dst: *mut c_void) -> bool {
        touch(buf);
        let f = GGML.get().and_then(|g| g.iface.cpy_tensor);
        f.is_some_and(|f| f(buf, src, dst))
    }
}
