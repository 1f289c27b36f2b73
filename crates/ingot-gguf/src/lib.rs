//! A small, bounded parser of GGUF headers.
//!
//! It reads the header, the metadata and the tensor table of a GGUF model file — never the
//! tensor data — and reports what ingot needs to know about a model before llama.cpp sees
//! it: architecture, parameter count, quantisation, context length, chat template, name.
//!
//! Nothing read from the file is trusted: every length and count is checked against the
//! bytes that remain and against [`Limits`] before anything is allocated or skipped, so a
//! corrupt or hostile file costs at most a few reads and fails with an error that says
//! where and why. There is no `unsafe` code and no panic on any input (the crate is fuzzed
//! through [`parse`]).
//!
//! ```
//! // The smallest valid file: a header with no metadata and no tensors.
//! let mut bytes = b"GGUF".to_vec();
//! bytes.extend_from_slice(&3u32.to_le_bytes());
//! bytes.extend_from_slice(&0u64.to_le_bytes()); // tensors
//! bytes.extend_from_slice(&0u64.to_le_bytes()); // metadata entries
//! let header = ingot_gguf::parse(&bytes).unwrap();
//! assert_eq!((header.version, header.tensor_count), (3, 0));
//!
//! let err = ingot_gguf::parse(b"<html>").unwrap_err();
//! assert!(err.to_string().contains("not a GGUF model file"));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod reader;
mod types;

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

pub use error::GgufError;
pub use types::{file_type_name, ggml_type, GgmlType, GGML_TYPE_COUNT};

use error::{corrupt, limit, truncated};
use reader::{is_int, Bytes, Cursor, FileBytes, SliceBytes, T_ARRAY, T_STRING, T_U32};

/// The four bytes every GGUF file starts with.
pub const MAGIC: &[u8; 4] = b"GGUF";
/// Tensor data alignment when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Most dimensions a ggml tensor has.
pub const MAX_DIMS: u32 = 4;

/// Bounds on what the parser accepts. The defaults are far above any real model and low
/// enough that a corrupt count or length fails fast instead of looping or allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most tensors.
    pub max_tensors: u64,
    /// Most metadata entries.
    pub max_kv: u64,
    /// Longest metadata key or tensor name, in bytes.
    pub max_key_len: u64,
    /// Longest string value, in bytes (chat templates are the longest real ones).
    pub max_string_len: u64,
    /// Most elements of a metadata array (token tables are the largest real ones).
    pub max_array_len: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_tensors: 1 << 20,
            max_kv: 1 << 20,
            max_key_len: 1 << 16,
            max_string_len: 16 << 20,
            max_array_len: 1 << 28,
        }
    }
}

/// What the header, metadata and tensor table say about a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufHeader {
    /// GGUF version (2 or 3).
    pub version: u32,
    /// Number of tensors.
    pub tensor_count: u64,
    /// Number of metadata entries.
    pub kv_count: u64,
    /// Tensor data alignment (`general.alignment`, default 32).
    pub alignment: u64,
    /// Size of the file (of the slice given to [`parse`]).
    pub file_size: u64,
    /// Byte offset where tensor data starts.
    pub data_offset: u64,
    /// Bytes of tensor data the tensor table describes (end of the last tensor).
    pub data_size: u64,
    /// `general.architecture` (`llama`, `gemma3`, ...).
    pub architecture: Option<String>,
    /// `general.name`.
    pub name: Option<String>,
    /// `general.license` (an SPDX identifier or a model licence name).
    pub license: Option<String>,
    /// `general.file_type`, the llama.cpp file type number (see [`file_type_name`]).
    pub file_type: Option<u32>,
    /// `{architecture}.context_length`: the context the model was trained for.
    pub context_length: Option<u64>,
    /// `tokenizer.chat_template`: the Jinja chat template, if the model embeds one.
    pub chat_template: Option<String>,
    /// Sum of the element counts of all tensors.
    pub parameter_count: u64,
    /// The ggml type holding most tensor bytes (see [`ggml_type`]).
    pub dominant_type: Option<u32>,
    /// `tokenizer.ggml.model`: the tokenizer family (`gpt2` byte-level BPE, `llama`
    /// SentencePiece, `bert`, `t5`, ...).
    pub tokenizer_model: Option<String>,
    /// Entries of `tokenizer.ggml.tokens`: the vocabulary size.
    pub vocab_size: Option<u64>,
    /// Integer hyperparameters of the architecture (`{arch}.block_count`,
    /// `{arch}.attention.head_count_kv`, ...), without the `{arch}.` prefix. Per-layer arrays
    /// (some models give `head_count_kv` per layer) keep every value; a scalar is one value.
    /// Read with [`GgufHeader::hparam`] and [`GgufHeader::hparam_per_layer`].
    pub hparams: std::collections::BTreeMap<String, Vec<u64>>,
}

impl GgufHeader {
    /// The architecture's integer hyperparameter `name` (`block_count`,
    /// `attention.head_count`): the scalar, or the largest value of a per-layer array.
    pub fn hparam(&self, name: &str) -> Option<u64> {
        self.hparams.get(name).and_then(|v| v.iter().copied().max())
    }

    /// `name` for each of `n_layer` layers: a per-layer array as is, a scalar repeated.
    /// `None` when missing or when an array has another length.
    pub fn hparam_per_layer(&self, name: &str, n_layer: usize) -> Option<Vec<u64>> {
        match self.hparams.get(name)?.as_slice() {
            [one] => Some(vec![*one; n_layer]),
            many if many.len() == n_layer => Some(many.to_vec()),
            _ => None,
        }
    }

    /// The quantisation, by name: from `general.file_type` (`Q4_K_M`), else the type that
    /// holds most of the tensor data (`Q4_K`).
    pub fn quantization(&self) -> Option<&'static str> {
        self.file_type
            .and_then(file_type_name)
            .or_else(|| self.dominant_type.and_then(ggml_type).map(|t| t.name))
    }
}

/// Parses a whole GGUF file held in memory, with the default [`Limits`].
///
/// `bytes` is the whole file: the tensor data the table describes must be inside it.
pub fn parse(bytes: &[u8]) -> Result<GgufHeader, GgufError> {
    parse_with_limits(bytes, &Limits::default())
}

/// [`parse`] with explicit limits.
pub fn parse_with_limits(bytes: &[u8], limits: &Limits) -> Result<GgufHeader, GgufError> {
    let mut cursor = Cursor {
        bytes: SliceBytes { rest: bytes },
        pos: 0,
        size: bytes.len() as u64,
    };
    parse_from(&mut cursor, limits)
}

/// Reads the header, metadata and tensor table of the GGUF file at `path` (never the
/// tensor data), and checks that the file holds all the tensor data the table describes.
///
/// Errors: [`GgufError::Open`] when the file cannot be opened; the other variants when it
/// cannot be read or is not a complete, valid GGUF file.
pub fn read_header(path: impl AsRef<Path>, limits: &Limits) -> Result<GgufHeader, GgufError> {
    let path = path.as_ref();
    let open_err = |source| GgufError::Open {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(open_err)?;
    if !meta.is_file() {
        return Err(GgufError::NotGguf {
            message: "not a regular file".into(),
        });
    }
    let file = File::open(path).map_err(open_err)?;
    let mut cursor = Cursor {
        bytes: FileBytes {
            inner: BufReader::with_capacity(1 << 16, file),
        },
        pos: 0,
        size: meta.len(),
    };
    parse_from(&mut cursor, limits)
}

fn parse_from<B: Bytes>(r: &mut Cursor<B>, limits: &Limits) -> Result<GgufHeader, GgufError> {
    let file_size = r.size;
    let mut magic = [0u8; 4];
    if r.read(&mut magic).is_err() {
        return Err(GgufError::NotGguf {
            message: format!("file is too small ({file_size} bytes): not a GGUF model file"),
        });
    }
    if &magic != MAGIC {
        return Err(GgufError::NotGguf {
            message: format!(
                "bad magic {:?} (expected \"GGUF\"): not a GGUF model file",
                String::from_utf8_lossy(&magic)
            ),
        });
    }
    let version = r.u32()?;
    if !(2..=3).contains(&version) {
        let hint = if (2..=3).contains(&version.swap_bytes()) {
            " (a big-endian file: only little-endian GGUF is supported)"
        } else if version == 1 {
            " (GGUF v1 is obsolete: convert the model again)"
        } else {
            ""
        };
        return Err(GgufError::UnsupportedVersion {
            version,
            message: format!("unsupported GGUF version {version}{hint}"),
        });
    }
    let tensor_count = r.u64()?;
    let kv_count = r.u64()?;
    if tensor_count > limits.max_tensors || kv_count > limits.max_kv {
        return Err(limit(format!(
            "implausible header (n_tensors {tensor_count}, n_kv {kv_count})"
        )));
    }

    let mut alignment = DEFAULT_ALIGNMENT;
    let mut architecture = None;
    let mut name = None;
    let mut license = None;
    let mut file_type = None;
    let mut chat_template = None;
    // `{arch}.context_length` may come before `general.architecture`: keep every candidate
    // (one per key that really is in the file) and pick once the architecture is known.
    let mut context_lengths: Vec<(String, u64)> = Vec::new();
    let mut tokenizer_model = None;
    let mut vocab_size = None;
    // Integer metadata outside `general.`/`tokenizer.`, by full key; filtered by the
    // architecture's prefix once it is known (it may come later).
    let mut ints: Vec<(String, Vec<u64>)> = Vec::new();
    for i in 0..kv_count {
        let key = r
            .string(limits.max_key_len)
            .map_err(|e| e.context(format_args!("metadata entry {i}")))?;
        let mut value = |r: &mut Cursor<B>| -> Result<(), GgufError> {
            let ty = r.u32()?;
            match (key.as_str(), ty) {
                ("general.alignment", T_U32) => {
                    let a = u64::from(r.u32()?);
                    if a == 0 || !a.is_power_of_two() {
                        return Err(corrupt(format!("invalid general.alignment {a}")));
                    }
                    alignment = a;
                }
                ("general.architecture", T_STRING) => {
                    architecture = Some(r.string(limits.max_string_len)?)
                }
                ("general.name", T_STRING) => name = Some(r.string(limits.max_string_len)?),
                ("general.license", T_STRING) => license = Some(r.string(limits.max_string_len)?),
                ("tokenizer.chat_template", T_STRING) => {
                    chat_template = Some(r.string(limits.max_string_len)?)
                }
                ("general.file_type", t) if is_int(t) => {
                    file_type = r.int(t)?.and_then(|v| u32::try_from(v).ok())
                }
                (k, t) if is_int(t) && k.ends_with(".context_length") => {
                    if let Some(v) = r.int(t)? {
                        context_lengths.push((k.to_string(), v));
                    }
                }
                ("tokenizer.ggml.model", T_STRING) => {
                    tokenizer_model = Some(r.string(limits.max_string_len)?)
                }
                ("tokenizer.ggml.tokens", T_ARRAY) => {
                    let elem = r.u32()?;
                    let at = r.pos;
                    let n = r.u64()?;
                    vocab_size = Some(n);
                    r.skip_array(elem, n, at, limits)?;
                }
                (k, t)
                    if is_int(t) && !k.starts_with("general.") && !k.starts_with("tokenizer.") =>
                {
                    if let Some(v) = r.int(t)? {
                        ints.push((k.to_string(), vec![v]));
                    }
                }
                (k, T_ARRAY) if !k.starts_with("general.") && !k.starts_with("tokenizer.") => {
                    let elem = r.u32()?;
                    let at = r.pos;
                    let n = r.u64()?;
                    // Per-layer hyperparameters: a few hundred entries at most.
                    if is_int(elem) && n <= 4096 {
                        let mut values = Vec::with_capacity(n as usize);
                        for _ in 0..n {
                            values.push(r.int(elem)?.unwrap_or(0));
                        }
                        ints.push((k.to_string(), values));
                    } else {
                        r.skip_array(elem, n, at, limits)?;
                    }
                }
                (_, t) => r.skip_value(t, limits)?,
            }
            Ok(())
        };
        value(r).map_err(|e| e.context(format_args!("metadata {key}")))?;
    }
    let context_length = architecture.as_ref().and_then(|arch| {
        let want = format!("{arch}.context_length");
        context_lengths
            .iter()
            .rev()
            .find(|(k, _)| *k == want)
            .map(|(_, v)| *v)
    });

    let hparams = match &architecture {
        Some(arch) => {
            let prefix = format!("{arch}.");
            ints.into_iter()
                .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?.to_string(), v)))
                .collect()
        }
        None => Default::default(),
    };

    let mut data_needed: u64 = 0;
    let mut last_tensor = String::new();
    let mut parameter_count: u64 = 0;
    let mut bytes_by_type = [0u64; GGML_TYPE_COUNT as usize];
    for i in 0..tensor_count {
        let tname = r
            .string(limits.max_key_len)
            .map_err(|e| e.context(format_args!("tensor info {i}")))?;
        let info = |r: &mut Cursor<B>| -> Result<(GgmlType, u64, u64, u64), GgufError> {
            let n_dims = r.u32()?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(corrupt(format!("invalid number of dimensions {n_dims}")));
            }
            let mut ne = [1u64; MAX_DIMS as usize];
            for (d, slot) in ne.iter_mut().take(n_dims as usize).enumerate() {
                *slot = r.u64()?;
                // ggml stores dimensions as int64_t.
                if *slot > i64::MAX as u64 {
                    return Err(corrupt(format!("dimension {d} is {slot}")));
                }
            }
            let ty_id = r.u32()?;
            let offset = r.u64()?;
            let ty = ggml_type(ty_id).ok_or_else(|| {
                corrupt(if ty_id < GGML_TYPE_COUNT {
                    format!("unsupported (removed) ggml type {ty_id}")
                } else {
                    format!("unknown ggml type {ty_id}")
                })
            })?;
            if offset % alignment != 0 {
                return Err(corrupt(format!(
                    "offset {offset} is not aligned to {alignment}"
                )));
            }
            let elements = ne
                .iter()
                .try_fold(1u64, |acc, &d| acc.checked_mul(d))
                .filter(|&n| n <= i64::MAX as u64)
                .ok_or_else(|| corrupt("element count overflows"))?;
            if ne[0] % ty.block_size != 0 {
                return Err(corrupt(format!(
                    "row length {} is not a multiple of the block size {} of {}",
                    ne[0], ty.block_size, ty.name
                )));
            }
            let nbytes = (ne[0] / ty.block_size)
                .checked_mul(ty.type_size)
                .and_then(|row| ne[1..].iter().try_fold(row, |acc, &d| acc.checked_mul(d)))
                .ok_or_else(|| corrupt("size overflows"))?;
            let end = offset
                .checked_add(nbytes)
                .ok_or_else(|| corrupt("size overflows"))?;
            Ok((ty, elements, nbytes, end))
        };
        let (ty, elements, nbytes, end) =
            info(r).map_err(|e| e.context(format_args!("tensor {tname}")))?;
        // Saturating: a sum that overflows u64 is no real model, but it is not worth an
        // error either (each tensor's own size was checked above).
        parameter_count = parameter_count.saturating_add(elements);
        let slot = &mut bytes_by_type[ty.id as usize];
        *slot = slot.saturating_add(nbytes);
        if end > data_needed {
            data_needed = end;
            last_tensor = tname;
        }
    }
    let data_offset = r
        .pos
        .div_ceil(alignment)
        .checked_mul(alignment)
        .ok_or_else(|| corrupt("tensor data offset overflows"))?;
    let total = data_offset
        .checked_add(data_needed)
        .ok_or_else(|| corrupt("tensor data size overflows"))?;
    // Without tensor data there is nothing to pad to: a file may end right after its table.
    if data_needed > 0 && total > file_size {
        return Err(truncated(format!(
            "truncated: tensor data ends at byte {total} (tensor {last_tensor}) but the file \
             has {file_size} bytes"
        )));
    }
    let dominant_type = bytes_by_type
        .iter()
        .enumerate()
        .filter(|(_, &b)| b > 0)
        .max_by_key(|(_, &b)| b)
        .map(|(id, _)| id as u32);
    Ok(GgufHeader {
        version,
        tensor_count,
        kv_count,
        alignment,
        file_size,
        data_offset,
        data_size: data_needed,
        architecture,
        name,
        license,
        file_type,
        context_length,
        chat_template,
        parameter_count,
        dominant_type,
        tokenizer_model,
        vocab_size,
        hparams,
    })
}

#[cfg(test)]
mod tests;
