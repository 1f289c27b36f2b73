//! A streaming GGUF v3 writer: the header, metadata and tensor table are computed up front
//! (tensor sizes are known before any data is read), then tensor data is streamed one tensor
//! at a time, each padded to the alignment like gguf-py's `GGUFWriter`.

use std::io::{self, Write};

use crate::dtype::DType;

/// Tensor data alignment, written as `general.alignment`.
pub(crate) const ALIGNMENT: u64 = 32;

/// A metadata value, typed as gguf-py types it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(String),
    StrArray(Vec<String>),
    I32Array(Vec<i32>),
    F32Array(Vec<f32>),
}

/// Metadata in insertion order. Setting a key twice overwrites it in place, as
/// `GGUFWriter.add_key_value` does (convert sets some keys twice, e.g. gemma3).
#[derive(Debug, Default, Clone)]
pub(crate) struct Metadata {
    pub entries: Vec<(String, Value)>,
}

impl Metadata {
    pub(crate) fn set(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    pub(crate) fn remove(&mut self, key: &str) {
        self.entries.retain(|(k, _)| k != key);
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub(crate) fn u32(&mut self, key: impl Into<String>, v: u32) {
        self.set(key, Value::U32(v));
    }
    pub(crate) fn f32(&mut self, key: impl Into<String>, v: f32) {
        self.set(key, Value::F32(v));
    }
    pub(crate) fn bool(&mut self, key: impl Into<String>, v: bool) {
        self.set(key, Value::Bool(v));
    }
    pub(crate) fn str(&mut self, key: impl Into<String>, v: impl Into<String>) {
        self.set(key, Value::Str(v.into()));
    }
}

/// One entry of the tensor table.
#[derive(Debug, Clone)]
pub(crate) struct TensorInfo {
    pub name: String,
    /// ggml order: the PyTorch shape reversed.
    pub ne: Vec<u64>,
    pub dtype: DType,
}

impl TensorInfo {
    pub(crate) fn nbytes(&self) -> u64 {
        self.ne.iter().product::<u64>() * self.dtype.size()
    }
}

fn pad(n: u64) -> u64 {
    n.div_ceil(ALIGNMENT) * ALIGNMENT - n
}

/// Counts what goes through, so padding can be computed while streaming.
pub(crate) struct Counting<W> {
    pub inner: W,
    pub written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn put_str(w: &mut impl Write, s: &str) -> io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

fn put_value(w: &mut impl Write, v: &Value) -> io::Result<()> {
    const U32: u32 = 4;
    const I32: u32 = 5;
    const F32: u32 = 6;
    const BOOL: u32 = 7;
    const STRING: u32 = 8;
    const ARRAY: u32 = 9;
    let arr_head = |w: &mut dyn Write, t: u32, n: usize| -> io::Result<()> {
        w.write_all(&ARRAY.to_le_bytes())?;
        w.write_all(&t.to_le_bytes())?;
        w.write_all(&(n as u64).to_le_bytes())
    };
    match v {
        Value::U32(x) => {
            w.write_all(&U32.to_le_bytes())?;
            w.write_all(&x.to_le_bytes())
        }
        Value::I32(x) => {
            w.write_all(&I32.to_le_bytes())?;
            w.write_all(&x.to_le_bytes())
        }
        Value::F32(x) => {
            w.write_all(&F32.to_le_bytes())?;
            w.write_all(&x.to_le_bytes())
        }
        Value::Bool(x) => {
            w.write_all(&BOOL.to_le_bytes())?;
            w.write_all(&[u8::from(*x)])
        }
        Value::Str(s) => {
            w.write_all(&STRING.to_le_bytes())?;
            put_str(w, s)
        }
        Value::StrArray(a) => {
            arr_head(w, STRING, a.len())?;
            a.iter().try_for_each(|s| put_str(w, s))
        }
        Value::I32Array(a) => {
            arr_head(w, I32, a.len())?;
            a.iter().try_for_each(|x| w.write_all(&x.to_le_bytes()))
        }
        Value::F32Array(a) => {
            arr_head(w, F32, a.len())?;
            a.iter().try_for_each(|x| w.write_all(&x.to_le_bytes()))
        }
    }
}

/// Writes the header, metadata and tensor table, padded so tensor data starts aligned.
pub(crate) fn write_header<W: Write>(
    w: &mut Counting<W>,
    meta: &Metadata,
    tensors: &[TensorInfo],
) -> io::Result<()> {
    w.write_all(b"GGUF")?;
    w.write_all(&3u32.to_le_bytes())?;
    w.write_all(&(tensors.len() as u64).to_le_bytes())?;
    w.write_all(&(meta.entries.len() as u64).to_le_bytes())?;
    for (k, v) in &meta.entries {
        put_str(w, k)?;
        put_value(w, v)?;
    }
    let mut offset = 0u64;
    for t in tensors {
        put_str(w, &t.name)?;
        w.write_all(&(t.ne.len() as u32).to_le_bytes())?;
        for d in &t.ne {
            w.write_all(&d.to_le_bytes())?;
        }
        w.write_all(&t.dtype.ggml_type().to_le_bytes())?;
        w.write_all(&offset.to_le_bytes())?;
        offset += t.nbytes() + pad(t.nbytes());
    }
    write_padding(w)
}

/// Pads what has been written so far to the alignment.
pub(crate) fn write_padding<W: Write>(w: &mut Counting<W>) -> io::Result<()> {
    let n = pad(w.written) as usize;
    w.write_all(&[0u8; ALIGNMENT as usize][..n])
}

/// Total bytes of tensor data the table describes, padding included.
pub(crate) fn data_size(tensors: &[TensorInfo]) -> u64 {
    tensors.iter().map(|t| t.nbytes() + pad(t.nbytes())).sum()
}
