//! Quantization types `ingot model import --quantize` offers (issue 15), by their llama.cpp
//! names, and the engine's file-type number for each.

use std::fmt;
use std::str::FromStr;

/// A target type for [`crate::Engine::quantize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuantType {
    /// 32-bit floats: the converter's own output, no quantization.
    F32,
    /// 16-bit floats: the converter's default output.
    F16,
    /// bfloat16.
    BF16,
    /// 8-bit blocks: nearly lossless, half of F16.
    Q8_0,
    /// 6-bit k-quants.
    Q6K,
    /// 5-bit k-quants, medium.
    Q5KM,
    /// 4-bit k-quants, medium: the usual size/quality trade-off.
    Q4KM,
    /// 4-bit blocks (legacy, fast on every backend).
    Q4_0,
}

impl QuantType {
    /// Every type, in the order help texts list them.
    pub const ALL: [QuantType; 8] = [
        QuantType::F32,
        QuantType::F16,
        QuantType::BF16,
        QuantType::Q8_0,
        QuantType::Q6K,
        QuantType::Q5KM,
        QuantType::Q4KM,
        QuantType::Q4_0,
    ];

    /// llama.cpp's name (`Q4_K_M`), also the catalog's `quantization` field.
    pub fn as_str(self) -> &'static str {
        match self {
            QuantType::F32 => "F32",
            QuantType::F16 => "F16",
            QuantType::BF16 => "BF16",
            QuantType::Q8_0 => "Q8_0",
            QuantType::Q6K => "Q6_K",
            QuantType::Q5KM => "Q5_K_M",
            QuantType::Q4KM => "Q4_K_M",
            QuantType::Q4_0 => "Q4_0",
        }
    }

    /// llama.cpp's `llama_ftype` number.
    pub fn llama_ftype(self) -> u32 {
        match self {
            QuantType::F32 => 0,
            QuantType::F16 => 1,
            QuantType::Q4_0 => 2,
            QuantType::Q8_0 => 7,
            QuantType::Q4KM => 15,
            QuantType::Q5KM => 17,
            QuantType::Q6K => 18,
            QuantType::BF16 => 32,
        }
    }

    /// Whether the converter writes this type itself (no quantizer needed).
    pub fn is_float(self) -> bool {
        matches!(self, QuantType::F32 | QuantType::F16 | QuantType::BF16)
    }
}

impl fmt::Display for QuantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A quantization name outside [`QuantType::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown quantization '{value}': expected one of F32, F16, BF16, Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0")]
pub struct UnknownQuantType {
    /// The name as given.
    pub value: String,
}

impl FromStr for QuantType {
    type Err = UnknownQuantType;

    /// The llama.cpp name in any case (`q8_0`, `Q4_K_M`).
    fn from_str(s: &str) -> Result<Self, UnknownQuantType> {
        QuantType::ALL
            .into_iter()
            .find(|q| q.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownQuantType {
                value: s.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_any_case_and_round_trip() {
        for q in QuantType::ALL {
            assert_eq!(q.as_str().parse::<QuantType>(), Ok(q));
            assert_eq!(q.as_str().to_lowercase().parse::<QuantType>(), Ok(q));
        }
        let e = "Q3_K_XL".parse::<QuantType>().unwrap_err().to_string();
        assert!(e.contains("Q3_K_XL") && e.contains("Q4_K_M"), "{e}");
    }

    #[test]
    fn file_type_numbers_follow_llama_cpp() {
        assert_eq!(QuantType::Q8_0.llama_ftype(), 7);
        assert_eq!(QuantType::Q4KM.llama_ftype(), 15);
        assert_eq!(QuantType::F16.llama_ftype(), 1);
    }
}
