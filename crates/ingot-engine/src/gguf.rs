//! Structural validation of GGUF files before llama.cpp sees them.
//!
//! llama.cpp rejects most broken files by returning NULL, but only explains why in its log. We
//! walk the header, the metadata and the tensor table ourselves (cheap: no tensor data is read)
//! so the user gets a precise reason ("truncated: tensor X ends at byte N but the file has M
//! bytes"), and files that are not GGUF at all never reach the C++ parser.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::types::EngineError;

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
// Sanity bounds on counts read from the file: far above any real model, low enough that a
// corrupt count fails fast instead of looping for minutes.
const MAX_TENSORS: u64 = 1 << 20;
const MAX_KV: u64 = 1 << 20;
const MAX_DIMS: u32 = 4;

/// What the validation learnt about the file.
#[derive(Debug, Clone)]
pub struct GgufSummary {
    pub version: u32,
    pub n_tensors: u64,
    pub n_kv: u64,
    pub file_size: u64,
    pub architecture: Option<String>,
    pub chat_template: Option<String>,
}

/// Checks that `path` is a readable, structurally complete GGUF file.
///
/// Errors: [`EngineError::Load`] when the file cannot be opened or read,
/// [`EngineError::InvalidModel`] when it is not GGUF, is corrupt or is truncated.
pub fn validate(path: &Path) -> Result<GgufSummary, EngineError> {
    let invalid = |reason: String| EngineError::InvalidModel {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| EngineError::Load {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if !meta.is_file() {
        return Err(invalid("not a regular file".into()));
    }
    let file = File::open(path).map_err(|e| EngineError::Load {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let file_size = meta.len();
    let mut r = Reader {
        inner: BufReader::with_capacity(1 << 16, file),
        pos: 0,
        size: file_size,
    };

    let mut magic = [0u8; 4];
    r.read_exact(&mut magic)
        .map_err(|_| invalid(format!("file is too small ({file_size} bytes)")))?;
    if &magic != MAGIC {
        return Err(invalid(format!(
            "bad magic {:?} (expected \"GGUF\"): not a GGUF model file",
            String::from_utf8_lossy(&magic)
        )));
    }
    let version = r.u32().map_err(invalid)?;
    if !(2..=3).contains(&version) {
        return Err(invalid(format!("unsupported GGUF version {version}")));
    }
    let n_tensors = r.u64().map_err(invalid)?;
    let n_kv = r.u64().map_err(invalid)?;
    if n_tensors > MAX_TENSORS || n_kv > MAX_KV {
        return Err(invalid(format!(
            "implausible header (n_tensors {n_tensors}, n_kv {n_kv})"
        )));
    }

    let mut alignment = DEFAULT_ALIGNMENT;
    let mut architecture = None;
    let mut chat_template = None;
    for i in 0..n_kv {
        let key = r
            .string()
            .map_err(|e| invalid(format!("metadata entry {i}: {e}")))?;
        let ty = r
            .u32()
            .map_err(|e| invalid(format!("metadata {key}: {e}")))?;
        match (key.as_str(), ty) {
            ("general.alignment", 4) => {
                alignment = u64::from(r.u32().map_err(invalid)?);
                if alignment == 0 || !alignment.is_power_of_two() {
                    return Err(invalid(format!("invalid general.alignment {alignment}")));
                }
            }
            ("general.architecture", 8) => architecture = Some(r.string().map_err(invalid)?),
            ("tokenizer.chat_template", 8) => chat_template = Some(r.string().map_err(invalid)?),
            _ => r
                .skip_value(ty, 0)
                .map_err(|e| invalid(format!("metadata {key}: {e}")))?,
        }
    }

    let mut data_needed: u64 = 0;
    let mut largest: Option<(String, u64)> = None;
    for i in 0..n_tensors {
        let name = r
            .string()
            .map_err(|e| invalid(format!("tensor info {i}: {e}")))?;
        let n_dims = r.u32().map_err(invalid)?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(invalid(format!(
                "tensor {name}: invalid number of dimensions {n_dims}"
            )));
        }
        let mut ne = [1u64; 4];
        for d in ne.iter_mut().take(n_dims as usize) {
            *d = r.u64().map_err(invalid)?;
        }
        let ty = r.u32().map_err(invalid)?;
        let offset = r.u64().map_err(invalid)?;
        if offset % alignment != 0 {
            return Err(invalid(format!(
                "tensor {name}: offset {offset} is not aligned to {alignment}"
            )));
        }
        let nbytes = tensor_nbytes(ty, ne).map_err(|e| invalid(format!("tensor {name}: {e}")))?;
        let end = offset
            .checked_add(nbytes)
            .ok_or_else(|| invalid(format!("tensor {name}: size overflows")))?;
        if end > data_needed {
            data_needed = end;
            largest = Some((name, end));
        }
    }
    let data_start = r.pos.div_ceil(alignment) * alignment;
    let total = data_start
        .checked_add(data_needed)
        .ok_or_else(|| invalid("tensor data size overflows".into()))?;
    if total > file_size {
        let (name, _) = largest.unwrap_or_default();
        return Err(invalid(format!(
            "truncated: tensor data ends at byte {total} (tensor {name}) but the file has {file_size} bytes"
        )));
    }
    Ok(GgufSummary {
        version,
        n_tensors,
        n_kv,
        file_size,
        architecture,
        chat_template,
    })
}

/// Size in bytes of a tensor of ggml type `ty` and shape `ne`, without calling ggml functions
/// that assert (abort) on bad input.
fn tensor_nbytes(ty: u32, ne: [u64; 4]) -> Result<u64, String> {
    if ty >= llama_cpp_sys_2::GGML_TYPE_COUNT {
        return Err(format!("unknown ggml type {ty}"));
    }
    // SAFETY: `ty` is in range; both functions only read a static table.
    let (blck, type_size) = unsafe {
        (
            llama_cpp_sys_2::ggml_blck_size(ty),
            llama_cpp_sys_2::ggml_type_size(ty),
        )
    };
    let blck = u64::try_from(blck).unwrap_or(0);
    if blck == 0 || type_size == 0 {
        return Err(format!("unsupported (removed) ggml type {ty}"));
    }
    if !ne[0].is_multiple_of(blck) {
        return Err(format!(
            "row length {} is not a multiple of the block size {blck}",
            ne[0]
        ));
    }
    let row = (ne[0] / blck).checked_mul(type_size as u64);
    ne[1..]
        .iter()
        .try_fold(row.ok_or("size overflows")?, |acc, &d| {
            acc.checked_mul(d).ok_or("size overflows")
        })
        .map_err(str::to_string)
}

struct Reader {
    inner: BufReader<File>,
    pos: u64,
    size: u64,
}

impl Reader {
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), String> {
        self.inner.read_exact(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                format!(
                    "truncated: unexpected end of file at byte {} of {}",
                    self.pos, self.size
                )
            } else {
                format!("read error at byte {}: {e}", self.pos)
            }
        })?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn u32(&mut self) -> Result<u32, String> {
        let mut b = [0u8; 4];
        self.read_exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let mut b = [0u8; 8];
        self.read_exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.size)
            .ok_or_else(|| {
                format!(
                    "truncated: {n} bytes at byte {} run past the end of the file ({} bytes)",
                    self.pos, self.size
                )
            })?;
        // seek_relative keeps the read buffer when the target is inside it: token tables have
        // ~10^5 short strings, and a plain seek would cost a syscall (and a refill) for each.
        self.inner
            .seek_relative(n as i64)
            .map_err(|e| format!("seek error: {e}"))?;
        self.pos = end;
        Ok(())
    }

    fn string(&mut self) -> Result<String, String> {
        let len = self.u64()?;
        // Checked against the file size before allocating: a corrupt length must not OOM us.
        if len > self.size.saturating_sub(self.pos) {
            return Err(format!(
                "truncated or corrupt: a string of {len} bytes at byte {} does not fit in the \
                 file ({} bytes)",
                self.pos, self.size
            ));
        }
        let mut buf = vec![0u8; len as usize];
        self.read_exact(&mut buf)?;
        String::from_utf8(buf).map_err(|_| "string is not valid UTF-8".to_string())
    }

    fn skip_value(&mut self, ty: u32, depth: u32) -> Result<(), String> {
        match ty {
            0 | 1 | 7 => self.skip(1),
            2 | 3 => self.skip(2),
            4..=6 => self.skip(4),
            10..=12 => self.skip(8),
            8 => {
                let len = self.u64()?;
                self.skip(len)
            }
            9 => {
                if depth > 0 {
                    return Err("nested arrays are not supported".into());
                }
                let elem = self.u32()?;
                let n = self.u64()?;
                let fixed = match elem {
                    0 | 1 | 7 => Some(1),
                    2 | 3 => Some(2),
                    4..=6 => Some(4),
                    10..=12 => Some(8),
                    _ => None,
                };
                match fixed {
                    Some(w) => self.skip(n.checked_mul(w).ok_or("array size overflows")?),
                    None => {
                        // Each element takes at least one byte.
                        if n > self.size.saturating_sub(self.pos) {
                            return Err(format!(
                                "truncated or corrupt: an array of {n} elements at byte {} does \
                                 not fit in the file ({} bytes)",
                                self.pos, self.size
                            ));
                        }
                        for _ in 0..n {
                            self.skip_value(elem, depth + 1)?;
                        }
                        Ok(())
                    }
                }
            }
            other => Err(format!("unknown metadata value type {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A minimal valid GGUF: one kv, one F32 tensor of 8 elements.
    fn tiny_gguf(truncate_data: bool) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"GGUF");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes()); // tensors
        b.extend_from_slice(&1u64.to_le_bytes()); // kv
        let key = b"general.architecture";
        b.extend_from_slice(&(key.len() as u64).to_le_bytes());
        b.extend_from_slice(key);
        b.extend_from_slice(&8u32.to_le_bytes());
        b.extend_from_slice(&5u64.to_le_bytes());
        b.extend_from_slice(b"llama");
        let name = b"w";
        b.extend_from_slice(&(name.len() as u64).to_le_bytes());
        b.extend_from_slice(name);
        b.extend_from_slice(&1u32.to_le_bytes()); // n_dims
        b.extend_from_slice(&8u64.to_le_bytes()); // ne0
        b.extend_from_slice(&0u32.to_le_bytes()); // F32
        b.extend_from_slice(&0u64.to_le_bytes()); // offset
        while b.len() % 32 != 0 {
            b.push(0);
        }
        let data = if truncate_data { 16 } else { 32 };
        b.extend(std::iter::repeat_n(0u8, data));
        b
    }

    fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn accepts_a_complete_file() {
        let f = write(&tiny_gguf(false));
        let s = validate(f.path()).unwrap();
        assert_eq!(s.architecture.as_deref(), Some("llama"));
        assert_eq!(s.n_tensors, 1);
    }

    #[test]
    fn rejects_truncated_tensor_data() {
        let f = write(&tiny_gguf(true));
        let err = validate(f.path()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, EngineError::InvalidModel { .. }));
        assert!(msg.contains("truncated"), "{msg}");
        assert!(msg.contains(&f.path().display().to_string()), "{msg}");
    }

    #[test]
    fn rejects_truncation_anywhere_in_the_header() {
        let full = tiny_gguf(false);
        for len in 0..full.len() - 32 {
            let f = write(&full[..len]);
            let err = validate(f.path()).unwrap_err();
            assert!(
                matches!(err, EngineError::InvalidModel { .. }),
                "len {len}: {err}"
            );
        }
    }

    #[test]
    fn rejects_non_gguf() {
        let f = write(b"<html>not a model</html>");
        let msg = validate(f.path()).unwrap_err().to_string();
        assert!(msg.contains("bad magic"), "{msg}");
    }

    #[test]
    fn rejects_huge_lengths_without_allocating() {
        let mut b = tiny_gguf(false);
        // Key length of the first kv (offset 24) set to u64::MAX.
        b[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
        let f = write(&b);
        assert!(matches!(
            validate(f.path()),
            Err(EngineError::InvalidModel { .. })
        ));
    }

    #[test]
    fn missing_file_is_a_load_error() {
        let err = validate(Path::new("/nonexistent/model.gguf")).unwrap_err();
        assert!(matches!(err, EngineError::Load { .. }), "{err}");
    }
}
