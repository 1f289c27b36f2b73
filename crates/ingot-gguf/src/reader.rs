//! The bounded byte reader under the parser: a forward-only byte source (a slice or a
//! buffered file) and a [`Cursor`] that checks every read and skip against the bytes that
//! remain, reads little-endian integers and strings, and skips metadata values without
//! allocating. The metadata value type numbers live here too.

use std::fs::File;
use std::io::{self, BufReader, Read};

use crate::error::{corrupt, limit, truncated, GgufError};
use crate::Limits;

// Metadata value types.
pub(crate) const T_U8: u32 = 0;
pub(crate) const T_I8: u32 = 1;
pub(crate) const T_U16: u32 = 2;
pub(crate) const T_I16: u32 = 3;
pub(crate) const T_U32: u32 = 4;
pub(crate) const T_I32: u32 = 5;
pub(crate) const T_F32: u32 = 6;
pub(crate) const T_BOOL: u32 = 7;
pub(crate) const T_STRING: u32 = 8;
pub(crate) const T_ARRAY: u32 = 9;
pub(crate) const T_U64: u32 = 10;
pub(crate) const T_I64: u32 = 11;
pub(crate) const T_F64: u32 = 12;

/// A forward-only byte source. Callers check bounds first; errors here are I/O errors (or
/// a file that shrank while being read).
pub(crate) trait Bytes {
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()>;
    fn skip(&mut self, n: u64) -> io::Result<()>;
}

pub(crate) struct SliceBytes<'a> {
    pub(crate) rest: &'a [u8],
}

impl Bytes for SliceBytes<'_> {
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let (head, tail) = self
            .rest
            .split_at_checked(buf.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(head);
        self.rest = tail;
        Ok(())
    }

    fn skip(&mut self, n: u64) -> io::Result<()> {
        let n = usize::try_from(n).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        self.rest = self.rest.get(n..).ok_or(io::ErrorKind::UnexpectedEof)?;
        Ok(())
    }
}

pub(crate) struct FileBytes {
    pub(crate) inner: BufReader<File>,
}

impl Bytes for FileBytes {
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_exact(buf)
    }

    fn skip(&mut self, n: u64) -> io::Result<()> {
        let n = i64::try_from(n).map_err(|_| io::Error::other("skip too large"))?;
        // seek_relative keeps the read buffer when the target is inside it: token tables
        // have ~10^5 short strings, and a plain seek would cost a syscall (and a refill)
        // for each.
        self.inner.seek_relative(n)
    }
}

pub(crate) struct Cursor<B> {
    pub(crate) bytes: B,
    pub(crate) pos: u64,
    pub(crate) size: u64,
}

impl<B: Bytes> Cursor<B> {
    pub(crate) fn remaining(&self) -> u64 {
        self.size.saturating_sub(self.pos)
    }

    pub(crate) fn io_err(&self, e: io::Error) -> GgufError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            // Only possible if the file shrank while we read it: bounds are checked first.
            truncated(format!(
                "truncated: unexpected end of file at byte {} of {}",
                self.pos, self.size
            ))
        } else {
            GgufError::Io {
                message: format!("read error at byte {}: {e}", self.pos),
            }
        }
    }

    pub(crate) fn read(&mut self, buf: &mut [u8]) -> Result<(), GgufError> {
        let n = buf.len() as u64;
        if n > self.remaining() {
            return Err(truncated(format!(
                "truncated: unexpected end of file at byte {} of {}",
                self.pos, self.size
            )));
        }
        self.bytes.read_exact(buf).map_err(|e| self.io_err(e))?;
        self.pos += n;
        Ok(())
    }

    pub(crate) fn skip(&mut self, n: u64) -> Result<(), GgufError> {
        if n > self.remaining() {
            return Err(truncated(format!(
                "truncated: {n} bytes at byte {} run past the end of the file ({} bytes)",
                self.pos, self.size
            )));
        }
        self.bytes.skip(n).map_err(|e| self.io_err(e))?;
        self.pos += n;
        Ok(())
    }

    pub(crate) fn u8(&mut self) -> Result<u8, GgufError> {
        let mut b = [0u8; 1];
        self.read(&mut b)?;
        Ok(b[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, GgufError> {
        let mut b = [0u8; 2];
        self.read(&mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, GgufError> {
        let mut b = [0u8; 4];
        self.read(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, GgufError> {
        let mut b = [0u8; 8];
        self.read(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads a string's length and checks it against the file and `max` before anything
    /// is allocated or skipped.
    pub(crate) fn string_len(&mut self, max: u64) -> Result<u64, GgufError> {
        let at = self.pos;
        let len = self.u64()?;
        if len > self.remaining() {
            return Err(truncated(format!(
                "truncated or corrupt: a string of {len} bytes at byte {at} does not fit in \
                 the file ({} bytes)",
                self.size
            )));
        }
        if len > max {
            return Err(limit(format!(
                "a string of {len} bytes at byte {at} is longer than the limit of {max} bytes"
            )));
        }
        Ok(len)
    }

    pub(crate) fn string(&mut self, max: u64) -> Result<String, GgufError> {
        let len = self.string_len(max)?;
        // Bounded by the remaining bytes and by `max`: the allocation is as large as data
        // that is really there, and no larger than the limit.
        let len = usize::try_from(len).map_err(|_| limit("string too long for this platform"))?;
        let mut buf = vec![0u8; len];
        self.read(&mut buf)?;
        String::from_utf8(buf).map_err(|_| corrupt("string is not valid UTF-8"))
    }

    pub(crate) fn skip_string(&mut self, max: u64) -> Result<(), GgufError> {
        let len = self.string_len(max)?;
        self.skip(len)
    }

    /// Reads an integer metadata value of type `ty` (`None` for negative values).
    pub(crate) fn int(&mut self, ty: u32) -> Result<Option<u64>, GgufError> {
        Ok(match ty {
            T_U8 => Some(u64::from(self.u8()?)),
            T_I8 => u64::try_from(self.u8()? as i8).ok(),
            T_U16 => Some(u64::from(self.u16()?)),
            T_I16 => u64::try_from(self.u16()? as i16).ok(),
            T_U32 => Some(u64::from(self.u32()?)),
            T_I32 => u64::try_from(self.u32()? as i32).ok(),
            T_U64 => Some(self.u64()?),
            T_I64 => u64::try_from(self.u64()? as i64).ok(),
            other => return Err(corrupt(format!("type {other} is not an integer type"))),
        })
    }

    pub(crate) fn skip_value(&mut self, ty: u32, limits: &Limits) -> Result<(), GgufError> {
        if let Some(w) = fixed_width(ty) {
            return self.skip(w);
        }
        match ty {
            T_STRING => self.skip_string(limits.max_string_len),
            T_ARRAY => {
                let elem = self.u32()?;
                let at = self.pos;
                let n = self.u64()?;
                self.skip_array(elem, n, at, limits)
            }
            other => Err(corrupt(format!("unknown metadata value type {other}"))),
        }
    }

    /// Skips the `n` elements of type `elem` of an array whose count was read at `at`.
    pub(crate) fn skip_array(
        &mut self,
        elem: u32,
        n: u64,
        at: u64,
        limits: &Limits,
    ) -> Result<(), GgufError> {
        if n > limits.max_array_len {
            return Err(limit(format!(
                "an array of {n} elements at byte {at} is longer than the limit of {}",
                limits.max_array_len
            )));
        }
        match (fixed_width(elem), elem) {
            (Some(w), _) => self.skip(
                n.checked_mul(w)
                    .ok_or_else(|| corrupt("array size overflows"))?,
            ),
            (None, T_STRING) => {
                // Each element takes at least its 8-byte length.
                if n > self.remaining() / 8 {
                    return Err(truncated(format!(
                        "truncated or corrupt: an array of {n} strings at byte {at} \
                         does not fit in the file ({} bytes)",
                        self.size
                    )));
                }
                for _ in 0..n {
                    self.skip_string(limits.max_string_len)?;
                }
                Ok(())
            }
            (None, T_ARRAY) => Err(corrupt("nested arrays are not supported")),
            (None, other) => Err(corrupt(format!("unknown array element type {other}"))),
        }
    }
}

pub(crate) fn fixed_width(ty: u32) -> Option<u64> {
    match ty {
        T_U8 | T_I8 | T_BOOL => Some(1),
        T_U16 | T_I16 => Some(2),
        T_U32 | T_I32 | T_F32 => Some(4),
        T_U64 | T_I64 | T_F64 => Some(8),
        _ => None,
    }
}

pub(crate) fn is_int(ty: u32) -> bool {
    matches!(
        ty,
        T_U8 | T_I8 | T_U16 | T_I16 | T_U32 | T_I32 | T_U64 | T_I64
    )
}
