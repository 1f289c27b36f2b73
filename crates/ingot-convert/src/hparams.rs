//! `config.json`, read the way convert_hf_to_gguf.py reads `self.hparams`: the first of
//! several candidate keys wins (`find_hparam`), integers are written as u32, floats as f32.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::ConvertError;

/// The hyperparameters of a checkpoint.
#[derive(Debug, Clone)]
pub(crate) struct HParams {
    pub map: Map<String, Value>,
}

pub(crate) fn read_json(path: &Path) -> Result<Value, ConvertError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConvertError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| ConvertError::Json {
        path: path.to_path_buf(),
        message: format!("invalid JSON: {e}"),
    })
}

/// Reads `path` if it exists.
pub(crate) fn read_json_opt(path: &Path) -> Result<Option<Value>, ConvertError> {
    if path.is_file() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

impl HParams {
    pub(crate) fn load(dir: &Path) -> Result<(Self, PathBuf), ConvertError> {
        let path = dir.join("config.json");
        if !path.is_file() {
            return Err(ConvertError::MissingFile {
                path,
                what: "the model's config.json (architecture and hyperparameters)".into(),
            });
        }
        let mut map = match read_json(&path)? {
            Value::Object(m) => m,
            _ => {
                return Err(ConvertError::Json {
                    path,
                    message: "not a JSON object".into(),
                })
            }
        };
        // convert_hf_to_gguf.py moves `text_config` to the root level.
        if let Some(Value::Object(text)) = map.get("text_config").cloned() {
            for (k, v) in text {
                map.insert(k, v);
            }
        }
        Ok((HParams { map }, path))
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// The first of `keys` present (and not null).
    pub(crate) fn find<'k>(&self, keys: &[&'k str]) -> Option<(&'k str, &Value)> {
        keys.iter()
            .find_map(|k| self.map.get(*k).map(|v| (*k, v)))
            .filter(|(_, v)| !v.is_null())
    }

    pub(crate) fn find_u64(&self, keys: &[&str]) -> Result<Option<u64>, ConvertError> {
        match self.find(keys) {
            None => Ok(None),
            Some((k, v)) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| ConvertError::config(k, format!("expected an integer, found {v}"))),
        }
    }

    pub(crate) fn find_f64(&self, keys: &[&str]) -> Result<Option<f64>, ConvertError> {
        match self.find(keys) {
            None => Ok(None),
            Some((k, v)) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| ConvertError::config(k, format!("expected a number, found {v}"))),
        }
    }

    pub(crate) fn u64(&self, key: &str) -> Result<Option<u64>, ConvertError> {
        self.find_u64(&[key])
    }

    pub(crate) fn f64(&self, key: &str) -> Result<Option<f64>, ConvertError> {
        self.find_f64(&[key])
    }

    pub(crate) fn require_u64(&self, key: &str) -> Result<u64, ConvertError> {
        self.u64(key)?
            .ok_or_else(|| ConvertError::config(key, "missing"))
    }

    pub(crate) fn require_f64(&self, key: &str) -> Result<f64, ConvertError> {
        self.f64(key)?
            .ok_or_else(|| ConvertError::config(key, "missing"))
    }

    pub(crate) fn block_count(&self) -> Result<u64, ConvertError> {
        self.find_u64(&["n_layers", "num_hidden_layers", "n_layer", "num_layers"])?
            .ok_or_else(|| ConvertError::config("num_hidden_layers", "missing"))
    }

    pub(crate) fn bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(Value::as_bool)
    }

    pub(crate) fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
}

/// A u64 hyperparameter as the u32 GGUF stores, or a config error naming it.
pub(crate) fn to_u32(key: &str, v: u64) -> Result<u32, ConvertError> {
    u32::try_from(v).map_err(|_| ConvertError::config(key, format!("{v} does not fit in 32 bits")))
}
