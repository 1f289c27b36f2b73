//! llama.cpp's own quantizer (`llama_model_quantize`) behind [`crate::Engine::quantize`]:
//! `ingot model import --quantize Q8_0` (issue 15).
//!
//! The output is written next to its destination as `NAME.partial` and renamed only when
//! llama.cpp reports success, so a failed or interrupted quantization never leaves a file
//! that looks complete.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use ingot_core::{EngineError, QuantType};

use crate::backend;

fn c_path(p: &Path) -> Result<CString, EngineError> {
    // llama.cpp opens the file itself: long Windows paths need their \\?\ form.
    let p = &ingot_core::files::native_path(p);
    CString::new(p.to_string_lossy().as_bytes()).map_err(|_| EngineError::Load {
        path: p.to_path_buf(),
        reason: "the path holds a NUL byte".into(),
    })
}

fn partial_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    output.with_file_name(name)
}

/// Quantizes `input` to `to` into `output` with `threads` threads (all cores when `None`).
pub fn quantize(
    input: &Path,
    output: &Path,
    to: QuantType,
    threads: Option<usize>,
) -> Result<(), EngineError> {
    // A file llama.cpp would choke on gets ingot's precise reason first.
    crate::gguf::validate(input)?;
    backend::backend()?;
    let partial = partial_path(output);
    let (inp, out) = (c_path(input)?, c_path(&partial)?);
    // SAFETY: returns a plain struct of defaults.
    let mut params = unsafe { llama_cpp_sys_2::llama_model_quantize_default_params() };
    params.ftype = to.llama_ftype() as _;
    params.nthread = threads.and_then(|t| i32::try_from(t).ok()).unwrap_or(0);
    backend::clear_last_error();
    // SAFETY: both paths are valid NUL-terminated strings and `params` outlives the call;
    // llama.cpp catches its own exceptions and returns non-zero on failure.
    let rc = unsafe { llama_cpp_sys_2::llama_model_quantize(inp.as_ptr(), out.as_ptr(), &params) };
    if rc != 0 {
        let _ = std::fs::remove_file(&partial);
        let why = backend::take_last_error().unwrap_or_else(|| format!("error code {rc}"));
        return Err(EngineError::Backend(format!(
            "quantizing {} to {to} failed: {why}",
            input.display()
        )));
    }
    ingot_core::files::replace_file(&partial, output).map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        EngineError::Load {
            path: output.to_path_buf(),
            reason: format!("cannot move the quantized file into place: {e}"),
        }
    })
}
