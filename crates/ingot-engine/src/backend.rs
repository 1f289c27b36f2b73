//! The process-wide llama.cpp backend and its log routing.
//!
//! llama.cpp's backend (ggml device registry, CPU feature detection) must be initialised once
//! per process, and its log callback is global too, so both live in a `OnceLock`.
//!
//! Logs go to `tracing` under the target `llama.cpp`: errors and warnings keep their level,
//! llama.cpp's chatty INFO output (every metadata key at load) becomes DEBUG. The last ERROR line of the current thread is also kept, so a failed model
//! load can say *why* ("unknown model architecture ...") instead of just "NULL".

use std::cell::RefCell;
use std::ffi::{c_char, c_void, CStr};
use std::path::Path;
use std::sync::OnceLock;

use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;

use crate::types::EngineError;

static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();

/// Longest log line kept, in bytes. llama.cpp logs some inputs whole (a rejected grammar,
/// a token's text); a request must not be able to write megabytes into the server's log.
const MAX_LOG_LINE: usize = 1024;

/// A log line being assembled: its text (at most [`MAX_LOG_LINE`] bytes), its level and how
/// many bytes were dropped.
struct Line {
    text: String,
    level: u32,
    dropped: usize,
}

impl Line {
    const fn new() -> Self {
        Self {
            text: String::new(),
            level: 0,
            dropped: 0,
        }
    }

    fn push(&mut self, s: &str) {
        let room = MAX_LOG_LINE.saturating_sub(self.text.len());
        if s.len() <= room {
            self.text.push_str(s);
            return;
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.text.push_str(&s[..cut]);
        // Keep the newline that ends the line, so it is still emitted.
        let nl = s.ends_with('\n');
        self.dropped += s.len() - cut - usize::from(nl);
        if nl {
            self.text.push('\n');
        }
    }

    /// The finished line (trimmed, with a note of what was cut) and a reset buffer.
    fn take(&mut self) -> String {
        let mut msg = std::mem::take(&mut self.text).trim_end().to_string();
        if self.dropped > 0 {
            msg.push_str(&format!(" [... {} more bytes]", self.dropped));
            self.dropped = 0;
        }
        msg
    }
}

thread_local! {
    /// Partial log line (llama.cpp emits some lines in several calls).
    static LINE: RefCell<Line> = const { RefCell::new(Line::new()) };
    /// The last error logged on this thread.
    static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The process-wide backend, initialised on first use.
pub fn backend() -> Result<&'static LlamaBackend, EngineError> {
    BACKEND
        .get_or_init(|| {
            // SAFETY: the callback is a plain function that does not use `user_data`.
            unsafe { llama_cpp_sys_2::llama_log_set(Some(log_callback), std::ptr::null_mut()) };
            #[cfg(feature = "dynamic-backends")]
            {
                // Backends are shared libraries next to the binary / in GGML_BACKEND_PATH and in
                // the build's backend directory; they must be registered before init.
                unsafe { llama_cpp_sys_2::ggml_backend_load_all() };
                llama_cpp_2::llama_backend::load_backends();
            }
            let backend =
                LlamaBackend::init().map_err(|e| format!("cannot initialise llama.cpp: {e}"))?;
            // Before any model exists, so that no thread reads ggml's kernel table meanwhile.
            crate::kernels::install();
            crate::fresh_pages::install();
            Ok(backend)
        })
        .as_ref()
        .map_err(|e| EngineError::Backend(e.clone()))
}

/// llama.cpp's system info line (SIMD features the CPU backend was built with and uses), for
/// benchmark manifests and `--verbose` output.
pub fn system_info() -> String {
    // Built once: llama.cpp rebuilds the line in one static std::string on every call, so two
    // threads calling it at once (two models loading) corrupt the heap; and it cannot change
    // once the backend has started.
    static INFO: OnceLock<String> = OnceLock::new();
    INFO.get_or_init(|| {
        // Registering backends first makes the line list every device (dynamic backends),
        // and installs the kernels that the line names.
        let _ = backend();
        // SAFETY: returns a pointer to a static, NUL-terminated buffer; only this closure
        // calls it, once.
        let ptr = unsafe { llama_cpp_sys_2::llama_print_system_info() };
        if ptr.is_null() {
            return String::new();
        }
        let llama = unsafe { CStr::from_ptr(ptr) }.to_string_lossy();
        format!("{} {}", llama.trim(), crate::kernels::describe())
    })
    .clone()
}

/// The llama.cpp build ingot runs on, for benchmark manifests: the ggml version and commit
/// (the vendored sources carry no llama.cpp build number) and the bindings' version.
pub fn llama_cpp_version() -> String {
    // SAFETY: both return pointers to static, NUL-terminated strings (or NULL).
    let text = |p: *const std::os::raw::c_char| {
        if p.is_null() {
            "unknown".to_string()
        } else {
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    let version = text(unsafe { llama_cpp_sys_2::ggml_version() });
    let commit = text(unsafe { llama_cpp_sys_2::ggml_commit() });
    // Keep in step with the exact pin in the workspace Cargo.toml.
    format!("ggml {version} (commit {commit}), llama-cpp-sys-2 {BINDINGS_VERSION}")
}

/// The pinned llama-cpp-2 / llama-cpp-sys-2 version (workspace Cargo.toml).
const BINDINGS_VERSION: &str = "0.1.160";

/// Clears this thread's last logged error (call before an operation whose failure you want to
/// explain with [`take_last_error`]).
pub(crate) fn clear_last_error() {
    LAST_ERROR.with(|e| e.borrow_mut().take());
}

/// The last error llama.cpp logged on this thread since [`clear_last_error`] (at most
/// [`MAX_LOG_LINE`] bytes). An error line still waiting for its newline counts too: some
/// llama.cpp errors end without one.
pub(crate) fn take_last_error() -> Option<String> {
    let _ = std::panic::catch_unwind(|| {
        LINE.with(|line| {
            let mut line = line.borrow_mut();
            if line.level == llama_cpp_sys_2::GGML_LOG_LEVEL_ERROR && !line.text.is_empty() {
                let msg = line.take();
                emit(llama_cpp_sys_2::GGML_LOG_LEVEL_ERROR, &msg);
            }
        })
    });
    LAST_ERROR.with(|e| e.borrow_mut().take())
}

const GGML_LOG_LEVEL_CONT: u32 = 5;

extern "C" fn log_callback(level: u32, text: *const c_char, _user: *mut c_void) {
    if text.is_null() {
        return;
    }
    // SAFETY: llama.cpp passes a NUL-terminated string valid for the call.
    let text = unsafe { CStr::from_ptr(text) }.to_string_lossy();
    // Never let a panic unwind into C.
    let _ = std::panic::catch_unwind(|| {
        LINE.with(|line| {
            let mut line = line.borrow_mut();
            if level != GGML_LOG_LEVEL_CONT && line.text.is_empty() {
                line.level = level;
            }
            line.push(&text);
            if line.text.ends_with('\n') {
                let msg = line.take();
                emit(line.level, &msg);
            }
        });
    });
}

fn emit(level: u32, msg: &str) {
    if msg.is_empty() {
        return;
    }
    match level {
        llama_cpp_sys_2::GGML_LOG_LEVEL_ERROR => {
            tracing::error!(target: "llama.cpp", "{msg}");
            LAST_ERROR.with(|e| *e.borrow_mut() = Some(msg.to_string()));
        }
        llama_cpp_sys_2::GGML_LOG_LEVEL_WARN => tracing::warn!(target: "llama.cpp", "{msg}"),
        // llama.cpp's INFO is developer detail (every metadata key, every buffer size), so it
        // is demoted to DEBUG to keep `RUST_LOG=info` readable.
        _ => tracing::debug!(target: "llama.cpp", "{msg}"),
    }
}

/// Releases the calling thread's OpenMP worker pool.
///
/// ggml's CPU backend runs each graph in an OpenMP parallel region whose workers belong to the
/// calling thread and spin between regions, which is what makes token-by-token generation
/// fast. But libgomp throttles that spinning (workers sleep right away and every token pays a
/// wake-up, ~4x slower generation on a small model) as soon as the process has more OpenMP
/// threads than CPUs, e.g. when a second model's scheduler thread, or a benchmark on another
/// thread, has ever run a graph. So a thread that stops computing gives its pool back; the next
/// decode re-creates it (a few thread spawns, negligible next to a request).
///
/// Only where llama.cpp's OpenMP runtime is libgomp (Linux, and Windows built
/// with mingw-w64). Apple's toolchain has no OpenMP (ggml then runs its own thread pool), and
/// MSVC's OpenMP 2.0 runtime has no `omp_pause_resource_all`: there is nothing to release.
pub(crate) fn release_thread_pool() {
    #[cfg(all(
        feature = "openmp",
        not(any(target_vendor = "apple", target_env = "msvc"))
    ))]
    // SAFETY: OpenMP 5.0 API; called outside any parallel region. 1 = omp_pause_soft.
    unsafe {
        omp_pause_resource_all(1);
    }
}

#[cfg(all(
    feature = "openmp",
    not(any(target_vendor = "apple", target_env = "msvc"))
))]
extern "C" {
    fn omp_pause_resource_all(kind: std::ffi::c_int) -> std::ffi::c_int;
}

/// Loads a (validated) GGUF file into llama.cpp. A failure quotes llama.cpp's own logged
/// reason: "llama.cpp cannot load WHAT: ...".
pub(crate) fn load_model(
    path: &Path,
    params: &LlamaModelParams,
    what: &str,
) -> Result<LlamaModel, EngineError> {
    let backend = backend()?;
    clear_last_error();
    // llama.cpp opens the file itself: long Windows paths need their \\?\ form.
    let native = ingot_core::files::native_path(path);
    LlamaModel::load_from_file(backend, &native, params).map_err(|e| EngineError::InvalidModel {
        path: path.to_path_buf(),
        reason: match take_last_error() {
            Some(msg) => format!("llama.cpp cannot load {what}: {msg}"),
            None => format!("llama.cpp cannot load {what} ({e})"),
        },
    })
}

#[cfg(test)]
mod log_tests {
    use super::*;

    #[test]
    fn long_log_lines_are_cut_and_unterminated_errors_are_kept() {
        // A rejected 64 KiB grammar must not land in the log (or an error message) whole.
        let mut line = Line::new();
        line.push(&"g".repeat(10_000));
        line.push("tail\n");
        assert!(line.text.ends_with('\n'));
        let msg = line.take();
        assert!(msg.len() < MAX_LOG_LINE + 40, "{}", msg.len());
        assert!(msg.ends_with("[... 8980 more bytes]"), "{msg}");
        assert!(line.text.is_empty() && line.dropped == 0);

        // An error without a newline (llama.cpp's left-recursion message) is still reported.
        clear_last_error();
        let text = std::ffi::CString::new("left recursion detected").unwrap();
        log_callback(
            llama_cpp_sys_2::GGML_LOG_LEVEL_ERROR,
            text.as_ptr(),
            std::ptr::null_mut(),
        );
        assert_eq!(
            take_last_error().as_deref(),
            Some("left recursion detected")
        );
        assert_eq!(take_last_error(), None);
    }
}

#[cfg(test)]
mod version_tests {
    #[test]
    fn llama_cpp_version_names_ggml_and_the_bindings() {
        let v = super::llama_cpp_version();
        assert!(v.starts_with("ggml 0."), "{v}");
        assert!(!v.starts_with("ggml unknown"), "{v}");
        assert!(v.ends_with(super::BINDINGS_VERSION), "{v}");
    }
}
