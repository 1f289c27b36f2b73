use super::*;
use crate::reader::*;

/// Builds GGUF files by hand, one metadata entry and tensor at a time.
struct Gguf {
    version: u32,
    kv: Vec<u8>,
    n_kv: u64,
    tensors: Vec<u8>,
    n_tensors: u64,
    alignment: u64,
}

fn put_str(b: &mut Vec<u8>, s: &[u8]) {
    b.extend_from_slice(&(s.len() as u64).to_le_bytes());
    b.extend_from_slice(s);
}

impl Gguf {
    fn new() -> Self {
        Gguf {
            version: 3,
            kv: Vec::new(),
            n_kv: 0,
            tensors: Vec::new(),
            n_tensors: 0,
            alignment: DEFAULT_ALIGNMENT,
        }
    }

    fn key(&mut self, key: &str, ty: u32) -> &mut Vec<u8> {
        self.n_kv += 1;
        put_str(&mut self.kv, key.as_bytes());
        self.kv.extend_from_slice(&ty.to_le_bytes());
        &mut self.kv
    }

    fn str(mut self, key: &str, value: &str) -> Self {
        put_str(self.key(key, T_STRING), value.as_bytes());
        self
    }

    fn u32(mut self, key: &str, value: u32) -> Self {
        self.key(key, T_U32).extend_from_slice(&value.to_le_bytes());
        self
    }

    fn u64(mut self, key: &str, value: u64) -> Self {
        self.key(key, T_U64).extend_from_slice(&value.to_le_bytes());
        self
    }

    fn f32(mut self, key: &str, value: f32) -> Self {
        self.key(key, T_F32).extend_from_slice(&value.to_le_bytes());
        self
    }

    fn strings(mut self, key: &str, values: &[&str]) -> Self {
        let b = self.key(key, T_ARRAY);
        b.extend_from_slice(&T_STRING.to_le_bytes());
        b.extend_from_slice(&(values.len() as u64).to_le_bytes());
        for v in values {
            put_str(b, v.as_bytes());
        }
        self
    }

    fn i32s(mut self, key: &str, values: &[i32]) -> Self {
        let b = self.key(key, T_ARRAY);
        b.extend_from_slice(&T_I32.to_le_bytes());
        b.extend_from_slice(&(values.len() as u64).to_le_bytes());
        for v in values {
            b.extend_from_slice(&v.to_le_bytes());
        }
        self
    }

    fn tensor(mut self, name: &str, dims: &[u64], ty: u32, offset: u64) -> Self {
        self.n_tensors += 1;
        put_str(&mut self.tensors, name.as_bytes());
        self.tensors
            .extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for d in dims {
            self.tensors.extend_from_slice(&d.to_le_bytes());
        }
        self.tensors.extend_from_slice(&ty.to_le_bytes());
        self.tensors.extend_from_slice(&offset.to_le_bytes());
        self
    }

    /// The file, with `data` bytes of (zero) tensor data after the aligned table.
    fn build(&self, data: usize) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&self.version.to_le_bytes());
        b.extend_from_slice(&self.n_tensors.to_le_bytes());
        b.extend_from_slice(&self.n_kv.to_le_bytes());
        b.extend_from_slice(&self.kv);
        b.extend_from_slice(&self.tensors);
        while !(b.len() as u64).is_multiple_of(self.alignment) {
            b.push(0);
        }
        b.extend(std::iter::repeat_n(0u8, data));
        b
    }
}

const TEMPLATE: &str = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}";

/// A small but complete model description: the context length comes before the
/// architecture, a token table and a float are skipped, two tensors of different types.
fn model() -> Gguf {
    Gguf::new()
        .u32("llama.context_length", 2048)
        .u32("qwen2.context_length", 99)
        .str("general.architecture", "llama")
        .str("general.name", "Tiny Test")
        .str("general.license", "apache-2.0")
        .u32("general.file_type", 15)
        .f32("llama.rope.freq_base", 10000.0)
        .strings("tokenizer.ggml.tokens", &["<s>", "</s>", "hello", ""])
        .i32s("tokenizer.ggml.token_type", &[3, 3, 1, 1])
        .str("tokenizer.chat_template", TEMPLATE)
        // F32 [8]: 32 bytes at 0; Q4_0 [32, 2]: two 18-byte blocks at 32.
        .tensor("token_embd.weight", &[8], 0, 0)
        .tensor("blk.0.attn_q.weight", &[32, 2], 2, 32)
}

const MODEL_DATA: usize = 32 + 36;

#[test]
fn parses_a_complete_file() {
    let bytes = model().build(MODEL_DATA);
    let h = parse(&bytes).unwrap();
    assert_eq!(h.version, 3);
    assert_eq!((h.tensor_count, h.kv_count), (2, 10));
    assert_eq!(h.license.as_deref(), Some("apache-2.0"));
    assert_eq!(h.architecture.as_deref(), Some("llama"));
    assert_eq!(h.name.as_deref(), Some("Tiny Test"));
    assert_eq!(h.context_length, Some(2048), "the architecture's own key");
    assert_eq!(h.chat_template.as_deref(), Some(TEMPLATE));
    assert_eq!(h.file_type, Some(15));
    assert_eq!(h.quantization(), Some("Q4_K_M"));
    assert_eq!(h.parameter_count, 8 + 64);
    assert_eq!(h.dominant_type, Some(2), "36 bytes of Q4_0 beat 32 of F32");
    assert_eq!(h.alignment, 32);
    assert_eq!(h.data_size, MODEL_DATA as u64);
    assert_eq!(h.data_offset + h.data_size, bytes.len() as u64);
    assert_eq!(h.file_size, bytes.len() as u64);
}

#[test]
fn quantization_falls_back_to_the_dominant_tensor_type() {
    let bytes = Gguf::new()
        .str("general.architecture", "llama")
        .tensor("a", &[8], 0, 0)
        .tensor("b", &[32, 2], 2, 32)
        .build(MODEL_DATA);
    let h = parse(&bytes).unwrap();
    assert_eq!(h.file_type, None);
    assert_eq!(h.quantization(), Some("Q4_0"));
    // An unknown file type also falls back.
    let bytes = Gguf::new()
        .u32("general.file_type", 4)
        .tensor("a", &[8], 1, 0)
        .build(16);
    assert_eq!(parse(&bytes).unwrap().quantization(), Some("F16"));
    // No tensors: nothing to say.
    assert_eq!(parse(&Gguf::new().build(0)).unwrap().quantization(), None);
}

#[test]
fn context_length_needs_the_architecture() {
    let bytes = Gguf::new().u64("llama.context_length", 4096).build(0);
    assert_eq!(parse(&bytes).unwrap().context_length, None);
    let bytes = Gguf::new()
        .str("general.architecture", "gemma3")
        .u64("gemma3.context_length", 32768)
        .build(0);
    assert_eq!(parse(&bytes).unwrap().context_length, Some(32768));
}

#[test]
fn truncation_at_every_offset_is_an_error_not_a_panic() {
    let full = model().build(MODEL_DATA);
    for len in 0..full.len() {
        let err = parse(&full[..len]).unwrap_err();
        if len < 4 {
            assert!(matches!(err, GgufError::NotGguf { .. }), "len {len}: {err}");
            assert!(err.to_string().contains("too small"), "{err}");
        } else {
            assert!(err.is_truncated(), "len {len}: {err:?}");
            assert!(err.to_string().contains("truncated"), "len {len}: {err}");
        }
    }
}

#[test]
fn read_header_agrees_with_parse_on_every_prefix() {
    use std::io::Write;
    let full = model().build(MODEL_DATA);
    let dir = tempfile::tempdir().unwrap();
    for len in (0..=full.len()).step_by(7).chain([full.len()]) {
        let path = dir.path().join(format!("m{len}.gguf"));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&full[..len])
            .unwrap();
        let from_file = read_header(&path, &Limits::default());
        let from_mem = parse(&full[..len]);
        match (from_file, from_mem) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "len {len}"),
            (a, b) => panic!("len {len}: file {a:?} vs memory {b:?}"),
        }
    }
}

#[test]
fn truncated_tensor_data_names_the_tensor() {
    let bytes = model().build(MODEL_DATA - 1);
    let err = parse(&bytes).unwrap_err();
    let msg = err.to_string();
    assert!(err.is_truncated(), "{msg}");
    assert!(
        msg.contains("tensor blk.0.attn_q.weight") && msg.contains(&format!("{}", bytes.len())),
        "{msg}"
    );
}

#[test]
fn bad_magic_and_versions() {
    let msg = parse(b"<html>not a model</html>").unwrap_err().to_string();
    assert!(
        msg.contains("bad magic") && msg.contains("not a GGUF"),
        "{msg}"
    );

    for (version, hint) in [
        (1u32, "obsolete"),
        (4, "unsupported GGUF version 4"),
        (3u32.swap_bytes(), "big-endian"),
        (u32::MAX, "unsupported"),
    ] {
        let mut g = model();
        g.version = version;
        let err = parse(&g.build(MODEL_DATA)).unwrap_err();
        assert!(
            matches!(err, GgufError::UnsupportedVersion { version: v, .. } if v == version),
            "{err:?}"
        );
        assert!(err.to_string().contains(hint), "{err}");
    }
    let mut g = model();
    g.version = 2;
    assert!(
        parse(&g.build(MODEL_DATA)).is_ok(),
        "v2 has the same layout"
    );
}

/// Offset of the first metadata key's length.
const FIRST_KEY: usize = 24;

#[test]
fn huge_lengths_fail_fast_without_allocating() {
    // Key length u64::MAX.
    let mut b = model().build(MODEL_DATA);
    b[FIRST_KEY..FIRST_KEY + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    let err = parse(&b).unwrap_err();
    assert!(err.is_truncated(), "{err}");
    assert!(err.to_string().contains("metadata entry 0"), "{err}");

    // Counts beyond the limits.
    let mut b = model().build(MODEL_DATA);
    b[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    let err = parse(&b).unwrap_err();
    assert!(matches!(err, GgufError::LimitExceeded { .. }), "{err}");
    assert!(err.to_string().contains("implausible header"), "{err}");
    let mut b = model().build(MODEL_DATA);
    b[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(matches!(parse(&b), Err(GgufError::LimitExceeded { .. })));

    // An array of 2^62 strings, of 2^61 u32s, and one longer than the limit.
    let mut g = Gguf::new();
    let a = g.key("tokenizer.ggml.tokens", T_ARRAY);
    a.extend_from_slice(&T_STRING.to_le_bytes());
    a.extend_from_slice(&(1u64 << 62).to_le_bytes());
    let err = parse(&g.build(0)).unwrap_err();
    assert!(matches!(err, GgufError::LimitExceeded { .. }), "{err}");
    let limits = Limits {
        max_array_len: u64::MAX,
        ..Limits::default()
    };
    let err = parse_with_limits(&g.build(0), &limits).unwrap_err();
    assert!(err.is_truncated(), "{err}");
    assert!(
        err.to_string().contains("metadata tokenizer.ggml.tokens"),
        "{err}"
    );
    let mut g = Gguf::new();
    let a = g.key("x", T_ARRAY);
    a.extend_from_slice(&T_U32.to_le_bytes());
    a.extend_from_slice(&(1u64 << 61).to_le_bytes());
    let err = parse_with_limits(&g.build(0), &limits).unwrap_err();
    assert!(err.is_truncated(), "{err}");
    let mut g = Gguf::new();
    let a = g.key("x", T_ARRAY);
    a.extend_from_slice(&T_U64.to_le_bytes());
    a.extend_from_slice(&(1u64 << 62).to_le_bytes());
    let err = parse_with_limits(&g.build(0), &limits).unwrap_err();
    assert!(matches!(err, GgufError::Corrupt { .. }), "overflow: {err}");

    // A string longer than the limit, though present in the file.
    let long = "x".repeat(100);
    let bytes = Gguf::new().str("general.name", &long).build(0);
    let small = Limits {
        max_string_len: 99,
        ..Limits::default()
    };
    let err = parse_with_limits(&bytes, &small).unwrap_err();
    assert!(matches!(err, GgufError::LimitExceeded { .. }), "{err}");
    assert!(parse_with_limits(
        &bytes,
        &Limits {
            max_string_len: 100,
            ..small
        }
    )
    .is_ok());
}

#[test]
fn impossible_values_are_corrupt() {
    let cases: Vec<(Gguf, usize, &str)> = vec![
        (
            Gguf::new().tensor("t", &[1, 1, 1, 1, 1], 0, 0),
            32,
            "invalid number of dimensions 5",
        ),
        (Gguf::new().tensor("t", &[], 0, 0), 32, "dimensions 0"),
        (Gguf::new().tensor("t", &[8], 4, 0), 32, "removed"),
        (
            Gguf::new().tensor("t", &[8], 1000, 0),
            32,
            "unknown ggml type 1000",
        ),
        (Gguf::new().tensor("t", &[8], 0, 4), 64, "not aligned"),
        (Gguf::new().tensor("t", &[31], 2, 0), 64, "block size"),
        (
            Gguf::new().tensor("t", &[1 << 32, 1 << 32], 0, 0),
            64,
            "overflows",
        ),
        (
            Gguf::new().tensor("t", &[u64::MAX], 0, 0),
            64,
            "dimension 0",
        ),
        (
            Gguf::new().tensor("t", &[8], 0, u64::MAX - 31),
            64,
            "overflows",
        ),
        (Gguf::new().u32("general.alignment", 3), 0, "alignment 3"),
        (Gguf::new().u32("general.alignment", 0), 0, "alignment 0"),
    ];
    for (g, data, want) in cases {
        let err = parse(&g.build(data)).unwrap_err();
        assert!(matches!(err, GgufError::Corrupt { .. }), "{want}: {err:?}");
        assert!(err.to_string().contains(want), "{want}: {err}");
    }

    let mut g = Gguf::new();
    g.key("x", 13).extend_from_slice(&[0; 8]);
    let err = parse(&g.build(0)).unwrap_err().to_string();
    assert!(
        err.contains("metadata x: unknown metadata value type 13"),
        "{err}"
    );

    let mut g = Gguf::new();
    let a = g.key("x", T_ARRAY);
    a.extend_from_slice(&T_ARRAY.to_le_bytes());
    a.extend_from_slice(&1u64.to_le_bytes());
    assert!(parse(&g.build(0))
        .unwrap_err()
        .to_string()
        .contains("nested arrays"));

    let mut g = Gguf::new();
    put_str(g.key("general.architecture", T_STRING), &[0xff, 0xfe]);
    assert!(parse(&g.build(0))
        .unwrap_err()
        .to_string()
        .contains("UTF-8"));
}

#[test]
fn custom_alignment_is_honoured() {
    let mut g = Gguf::new()
        .u32("general.alignment", 64)
        .tensor("a", &[8], 0, 0)
        .tensor("b", &[8], 0, 64);
    g.alignment = 64;
    let h = parse(&g.build(96)).unwrap();
    assert_eq!((h.alignment, h.data_offset % 64, h.data_size), (64, 0, 96));
    assert!(parse(&g.build(95)).unwrap_err().is_truncated());
}

#[test]
fn negative_and_odd_integer_types() {
    let mut g = Gguf::new().str("general.architecture", "llama");
    g.key("llama.context_length", T_I32)
        .extend_from_slice(&(-1i32).to_le_bytes());
    g.key("general.file_type", T_U16)
        .extend_from_slice(&3u16.to_le_bytes());
    let h = parse(&g.build(0)).unwrap();
    assert_eq!(h.context_length, None, "a negative length is no length");
    assert_eq!(h.quantization(), Some("Q4_1"));
    // A string where an integer is expected is skipped like any other value.
    let h = parse(&Gguf::new().str("general.file_type", "Q4").build(0)).unwrap();
    assert_eq!(h.file_type, None);
}

#[test]
fn missing_and_odd_paths() {
    let err = read_header("/nonexistent/model.gguf", &Limits::default()).unwrap_err();
    assert!(matches!(err, GgufError::Open { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/model.gguf"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let err = read_header(dir.path(), &Limits::default()).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

/// A small deterministic mutation fuzzer: flipped bytes, overwritten lengths and cut
/// files never panic, and every accepted file describes data that is in it.
#[test]
fn mutations_never_panic() {
    let base = model().build(MODEL_DATA);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let interesting = [
        0u64,
        1,
        7,
        8,
        255,
        1 << 31,
        u32::MAX as u64,
        1 << 62,
        u64::MAX,
    ];
    for _ in 0..20_000 {
        let mut b = base.clone();
        for _ in 0..(next() % 4 + 1) {
            let at = (next() as usize) % b.len();
            match next() % 3 {
                0 => b[at] = next() as u8,
                1 => {
                    let v = interesting[(next() as usize) % interesting.len()].to_le_bytes();
                    let end = (at + 8).min(b.len());
                    b[at..end].copy_from_slice(&v[..end - at]);
                }
                _ => b.truncate(at),
            }
            if b.is_empty() {
                break;
            }
        }
        if let Ok(h) = parse(&b) {
            assert!(h.data_offset + h.data_size <= b.len() as u64);
        }
    }
}
