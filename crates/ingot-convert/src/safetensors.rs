//! A lazy safetensors reader: headers are parsed up front (bounded), tensor data is read
//! from disk one tensor at a time, so converting never holds the checkpoint in memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::dtype::DType;
use crate::error::ConvertError;

/// Largest header accepted: real headers are a few MB even for 1000-tensor checkpoints.
pub(crate) const MAX_HEADER_BYTES: u64 = 100 << 20;

/// One tensor of a checkpoint: where its bytes are and what they are.
#[derive(Debug, Clone)]
pub(crate) struct TensorRef {
    pub name: String,
    pub path: PathBuf,
    /// The safetensors dtype string (`F32`, `BF16`, `I64`, ...).
    pub dtype_name: String,
    /// Row-major shape, as in PyTorch.
    pub shape: Vec<u64>,
    /// Absolute byte offset of the data in the file.
    pub offset: u64,
    pub nbytes: u64,
}

impl TensorRef {
    pub(crate) fn dtype(&self) -> Result<DType, ConvertError> {
        match self.dtype_name.as_str() {
            "F32" => Ok(DType::F32),
            "F16" => Ok(DType::F16),
            "BF16" => Ok(DType::BF16),
            other => Err(ConvertError::UnsupportedDtype {
                path: self.path.clone(),
                tensor: self.name.clone(),
                dtype: other.to_string(),
            }),
        }
    }

    pub(crate) fn elements(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Reads this tensor's raw little-endian bytes.
    pub(crate) fn read(&self) -> Result<Vec<u8>, ConvertError> {
        let mut file = File::open(&self.path).map_err(|e| ConvertError::io(&self.path, e))?;
        file.seek(SeekFrom::Start(self.offset))
            .map_err(|e| ConvertError::io(&self.path, e))?;
        let mut buf = vec![0u8; self.nbytes as usize];
        file.read_exact(&mut buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                self.err("file is truncated: tensor data ends past the end of the file")
            } else {
                ConvertError::io(&self.path, e)
            }
        })?;
        Ok(buf)
    }

    fn err(&self, message: impl Into<String>) -> ConvertError {
        ConvertError::Safetensors {
            path: self.path.clone(),
            tensor: self.name.clone(),
            message: message.into(),
        }
    }
}

fn dtype_size(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "F64" | "I64" | "U64" => 8,
        "F32" | "I32" | "U32" => 4,
        "F16" | "BF16" | "I16" | "U16" => 2,
        "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" | "F8_E8M0" => 1,
        _ => return None,
    })
}

/// Reads the header of one safetensors file and checks every tensor against the file size.
pub(crate) fn read_header(path: &Path) -> Result<Vec<TensorRef>, ConvertError> {
    let header_err = |message: String| ConvertError::Safetensors {
        path: path.to_path_buf(),
        tensor: "(header)".into(),
        message,
    };
    let mut file = File::open(path).map_err(|e| ConvertError::io(path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| ConvertError::io(path, e))?
        .len();
    let mut len_bytes = [0u8; 8];
    file.read_exact(&mut len_bytes).map_err(|_| {
        header_err(format!(
            "file is truncated ({file_len} bytes): no safetensors header"
        ))
    })?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > MAX_HEADER_BYTES {
        return Err(header_err(format!(
            "header size {header_len} exceeds the {MAX_HEADER_BYTES}-byte limit"
        )));
    }
    if 8 + header_len > file_len {
        return Err(header_err(format!(
            "file is truncated: header of {header_len} bytes but the file has {file_len} bytes"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)
        .map_err(|e| ConvertError::io(path, e))?;
    let json: BTreeMap<String, Value> = serde_json::from_slice(&header)
        .map_err(|e| header_err(format!("invalid header JSON: {e}")))?;
    let data_start = 8 + header_len;
    let data_len = file_len - data_start;
    let mut tensors = Vec::new();
    for (name, info) in json {
        if name == "__metadata__" {
            continue;
        }
        let terr = |message: String| ConvertError::Safetensors {
            path: path.to_path_buf(),
            tensor: name.clone(),
            message,
        };
        let dtype = info
            .get("dtype")
            .and_then(Value::as_str)
            .ok_or_else(|| terr("no dtype".into()))?
            .to_string();
        let shape: Vec<u64> = info
            .get("shape")
            .and_then(Value::as_array)
            .ok_or_else(|| terr("no shape".into()))?
            .iter()
            .map(|d| {
                d.as_u64()
                    .ok_or_else(|| terr(format!("invalid dimension {d}")))
            })
            .collect::<Result<_, _>>()?;
        let offsets: Vec<u64> = info
            .get("data_offsets")
            .and_then(Value::as_array)
            .filter(|a| a.len() == 2)
            .ok_or_else(|| terr("no data_offsets".into()))?
            .iter()
            .map(|d| {
                d.as_u64()
                    .ok_or_else(|| terr(format!("invalid offset {d}")))
            })
            .collect::<Result<_, _>>()?;
        let (begin, end) = (offsets[0], offsets[1]);
        if end < begin {
            return Err(terr(format!("data_offsets [{begin}, {end}] are reversed")));
        }
        if end > data_len {
            return Err(terr(format!(
                "file is truncated: tensor data ends at byte {} but the file has {file_len} bytes",
                data_start + end
            )));
        }
        let elements = shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .ok_or_else(|| terr("element count overflows".into()))?;
        if let Some(size) = dtype_size(&dtype) {
            if elements.checked_mul(size) != Some(end - begin) {
                return Err(terr(format!(
                    "data_offsets [{begin}, {end}] hold {} bytes but shape {shape:?} of {dtype} needs {}",
                    end - begin,
                    elements.saturating_mul(size)
                )));
            }
        }
        tensors.push(TensorRef {
            name: name.clone(),
            path: path.to_path_buf(),
            dtype_name: dtype,
            shape,
            offset: data_start + begin,
            nbytes: end - begin,
        });
    }
    // Checkpoint order: by position in the file, as safetensors writers lay them out.
    tensors.sort_by_key(|t| t.offset);
    Ok(tensors)
}

/// The safetensors files of a checkpoint folder, as convert_hf_to_gguf.py finds them: the
/// shards named by `model.safetensors.index.json`, else every `model*.safetensors`.
pub(crate) fn part_files(dir: &Path) -> Result<(Vec<PathBuf>, Option<Vec<String>>), ConvertError> {
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|e| ConvertError::io(&index, e))?;
        let json: Value = serde_json::from_str(&text).map_err(|e| ConvertError::Json {
            path: index.clone(),
            message: format!("invalid JSON: {e}"),
        })?;
        let map = json
            .get("weight_map")
            .and_then(Value::as_object)
            .ok_or_else(|| ConvertError::Json {
                path: index.clone(),
                message: "no weight_map object".into(),
            })?;
        let mut parts: Vec<String> = Vec::new();
        for (tensor, file) in map {
            let file = file.as_str().ok_or_else(|| ConvertError::Json {
                path: index.clone(),
                message: format!("weight_map[{tensor}] is not a file name"),
            })?;
            // Shards live next to the index: no path components.
            if file.contains('/') || file.contains('\\') || file == ".." {
                return Err(ConvertError::Json {
                    path: index.clone(),
                    message: format!("weight_map[{tensor}] = {file:?} is not a plain file name"),
                });
            }
            if !parts.iter().any(|p| p == file) {
                parts.push(file.to_string());
            }
        }
        parts.sort();
        let names = map.keys().cloned().collect();
        return Ok((
            parts.into_iter().map(|p| dir.join(p)).collect(),
            Some(names),
        ));
    }
    let mut parts = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| ConvertError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| ConvertError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("model") && name.ends_with(".safetensors") {
            parts.push(entry.path());
        }
    }
    parts.sort();
    Ok((parts, None))
}

/// Every tensor of the checkpoint in `dir`, in file order.
pub(crate) fn load_checkpoint(dir: &Path) -> Result<Vec<TensorRef>, ConvertError> {
    let (parts, index_names) = part_files(dir)?;
    if parts.is_empty() {
        return Err(ConvertError::MissingFile {
            path: dir.join("model.safetensors"),
            what: "no *.safetensors weights in the checkpoint folder".into(),
        });
    }
    let mut tensors = Vec::new();
    for part in &parts {
        if !part.is_file() {
            return Err(ConvertError::MissingFile {
                path: part.clone(),
                what: "shard listed in model.safetensors.index.json".into(),
            });
        }
        tensors.extend(read_header(part)?);
    }
    if let Some(names) = index_names {
        for name in names {
            if !tensors.iter().any(|t| t.name == name) {
                return Err(ConvertError::MissingTensor { tensor: name });
            }
        }
    }
    Ok(tensors)
}
