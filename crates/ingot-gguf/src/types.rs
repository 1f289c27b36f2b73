//! ggml tensor types and llama.cpp file types, as numbered in the GGUF format.
//!
//! The table is ours (no llama.cpp call), so the parser can size tensors of files from
//! anywhere; ingot-engine's tests check it against ggml's own table of the linked build.

/// A ggml tensor type: how many elements a block holds and how many bytes it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GgmlType {
    /// The type's number in GGUF tensor infos.
    pub id: u32,
    /// Its name (`F16`, `Q4_K`, ...).
    pub name: &'static str,
    /// Elements per block.
    pub block_size: u64,
    /// Bytes per block.
    pub type_size: u64,
}

/// One past the highest ggml type number known to this parser.
pub const GGML_TYPE_COUNT: u32 = 43;

// (id, name, block size, bytes per block). Numbers missing here were removed from ggml
// (Q4_2, Q4_3, the Q4_0_x_y and IQ4_NL_x_y repacked layouts): GGUF files may not use them.
const TYPES: &[(u32, &str, u64, u64)] = &[
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 36),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
    (40, "NVFP4", 64, 36),
    (41, "Q1_0", 128, 18),
    (42, "Q2_0", 64, 18),
];

/// The ggml type numbered `id`, or `None` for unknown and removed types.
pub fn ggml_type(id: u32) -> Option<GgmlType> {
    TYPES
        .iter()
        .find(|t| t.0 == id)
        .map(|&(id, name, block_size, type_size)| GgmlType {
            id,
            name,
            block_size,
            type_size,
        })
}

/// The quantisation name of a llama.cpp file type (`general.file_type`), e.g. 15 ->
/// `Q4_K_M`; `None` for unknown or removed file types.
pub fn file_type_name(file_type: u32) -> Option<&'static str> {
    Some(match file_type {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4_MOE",
        39 => "NVFP4",
        40 => "Q1_0",
        41 => "Q2_0",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_in_range() {
        for w in TYPES.windows(2) {
            assert!(w[0].0 < w[1].0, "{w:?}");
        }
        assert!(TYPES.iter().all(|t| t.0 < GGML_TYPE_COUNT));
        assert!(TYPES.iter().all(|t| t.2 > 0 && t.3 > 0));
        assert_eq!(ggml_type(12).unwrap().name, "Q4_K");
        assert_eq!(ggml_type(4), None, "Q4_2 was removed");
        assert_eq!(ggml_type(GGML_TYPE_COUNT), None);
        assert_eq!(file_type_name(15), Some("Q4_K_M"));
        assert_eq!(file_type_name(4), None);
    }
}
