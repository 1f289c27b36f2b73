//! Structural validation of GGUF files before llama.cpp sees them.
//!
//! llama.cpp rejects most broken files by returning NULL, but only explains why in its log. We
//! walk the header, the metadata and the tensor table ourselves with [`ingot_gguf`] (cheap: no
//! tensor data is read) so the user gets a precise reason ("truncated: tensor X ends at byte N
//! but the file has M bytes"), and files that are not GGUF at all never reach the C++ parser.

use std::path::Path;

use ingot_gguf::{GgufError, GgufHeader, Limits};

use crate::types::EngineError;

/// What the validation learnt about the file.
#[derive(Debug, Clone)]
pub struct GgufSummary {
    pub version: u32,
    pub n_tensors: u64,
    pub n_kv: u64,
    pub file_size: u64,
    pub architecture: Option<String>,
    pub chat_template: Option<String>,
    /// Everything the header parser found (parameter count, quantisation, context length).
    pub header: GgufHeader,
}

/// Checks that `path` is a readable, structurally complete GGUF file.
///
/// Errors: [`EngineError::Load`] when the file cannot be opened or read,
/// [`EngineError::InvalidModel`] when it is not GGUF, is corrupt or is truncated.
pub fn validate(path: &Path) -> Result<GgufSummary, EngineError> {
    let header = ingot_gguf::read_header(path, &Limits::default()).map_err(|e| match e {
        GgufError::Open { source, .. } => EngineError::Load {
            path: path.to_path_buf(),
            reason: source.to_string(),
        },
        other => EngineError::InvalidModel {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    })?;
    Ok(GgufSummary {
        version: header.version,
        n_tensors: header.tensor_count,
        n_kv: header.kv_count,
        file_size: header.file_size,
        architecture: header.architecture.clone(),
        chat_template: header.chat_template.clone(),
        header,
    })
}

/// Model architectures (`general.architecture`) the linked llama.cpp can load, from its
/// `LLM_ARCH_NAMES` (src/llama-arch.cpp of llama-cpp-sys-2 0.1.160), less `clip`, which
/// only describes vision encoders. llama.cpp has no API to list them.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &[
    "llama",
    "llama4",
    "deci",
    "falcon",
    "grok",
    "gpt2",
    "gptj",
    "gptneox",
    "mpt",
    "baichuan",
    "starcoder",
    "refact",
    "bert",
    "modern-bert",
    "nomic-bert",
    "nomic-bert-moe",
    "neo-bert",
    "jina-bert-v2",
    "jina-bert-v3",
    "eurobert",
    "bloom",
    "stablelm",
    "qwen",
    "qwen2",
    "qwen2moe",
    "qwen2vl",
    "qwen3",
    "qwen3moe",
    "qwen3next",
    "qwen3vl",
    "qwen3vlmoe",
    "qwen35",
    "qwen35moe",
    "clef",
    "qwen4exp",
    "phi2",
    "phi3",
    "phimoe",
    "plamo",
    "plamo2",
    "plamo3",
    "codeshell",
    "orion",
    "internlm2",
    "minicpm",
    "minicpm3",
    "gemma",
    "gemma2",
    "gemma3",
    "gemma3n",
    "gemma4",
    "gemma4-assistant",
    "gemma-embedding",
    "starcoder2",
    "mamba",
    "mamba2",
    "maple",
    "jamba",
    "falcon-h1",
    "xverse",
    "command-r",
    "cohere2",
    "cohere2moe",
    "dbrx",
    "olmo",
    "olmo2",
    "olmoe",
    "muse-glimmer",
    "openelm",
    "arctic",
    "deepseek",
    "deepseek2",
    "deepseek2-ocr",
    "deepseek32",
    "deepseek4",
    "chatglm",
    "glm4",
    "glm4moe",
    "glm-dsa",
    "bitnet",
    "t5",
    "t5encoder",
    "jais",
    "jais2",
    "nemotron",
    "nemotron_h",
    "nemotron_h_moe",
    "exaone",
    "exaone4",
    "exaone-moe",
    "rwkv6",
    "rwkv6qwen2",
    "rwkv7",
    "arwkv7",
    "granite",
    "granitemoe",
    "granitehybrid",
    "graniteswitch",
    "granite_swa",
    "chameleon",
    "wavtokenizer-dec",
    "plm",
    "bailingmoe",
    "bailingmoe2",
    "bailingmoe3",
    "dots1",
    "dots3note",
    "arcee",
    "afmoe",
    "laguna",
    "ernie4_5",
    "ernie4_5-moe",
    "hunyuan-moe",
    "hunyuan-dense",
    "hunyuan_vl",
    "hy_v3",
    "hy_v4",
    "smollm3",
    "gpt-oss",
    "lfm2",
    "lfm2moe",
    "dream",
    "smallthinker",
    "llada",
    "llada-moe",
    "seed_oss",
    "grovemoe",
    "apertus",
    "minimax-01",
    "hrm_text",
    "minimax-m2",
    "minimax-m3",
    "cogvlm",
    "rnd1",
    "pangu-embedded",
    "mistral3",
    "eagle3",
    "dflash",
    "mistral4",
    "paddleocr",
    "mimo2",
    "step35",
    "spark2_5",
    "llama-embed",
    "maincoder",
    "kimi-linear",
    "kimi-k3",
    "glm5-next",
    "talkie",
    "mellum",
    "nanbeige",
    "qwen3tts",
    "pockettts",
];

/// Whether the engine can load models of architecture `arch`.
pub fn architecture_supported(arch: &str) -> bool {
    SUPPORTED_ARCHITECTURES.contains(&arch)
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

    #[test]
    fn supported_architectures() {
        for a in ["llama", "gemma3", "qwen2", "mistral3", "phi3"] {
            assert!(architecture_supported(a), "{a}");
        }
        for a in ["clip", "(unknown)", "", "Llama", "gpt-5"] {
            assert!(!architecture_supported(a), "{a}");
        }
    }
}
