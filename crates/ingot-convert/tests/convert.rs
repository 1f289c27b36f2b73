//! End-to-end conversions of tiny hand-written checkpoints, read back with ingot-gguf and
//! with a full reader of every key and tensor.

#[path = "../src/fixtures.rs"]
mod fixtures;

use std::path::{Path, PathBuf};

use fixtures::*;
use ingot_convert::{
    convert, inspect, Capability, ConvertError, ConvertOptions, ConvertProgress, NoProgress,
    OutType, Pooling, SUPPORTED_ARCHITECTURES,
};

fn run(
    dir: &Path,
    opts: &ConvertOptions,
) -> (tempfile::TempDir, PathBuf, ingot_convert::ConvertSummary) {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("out.gguf");
    let summary = convert(dir, &out, opts, &NoProgress).unwrap();
    (out_dir, out, summary)
}

fn header(path: &Path) -> ingot_gguf::GgufHeader {
    ingot_gguf::parse(&std::fs::read(path).unwrap()).unwrap()
}

fn tokens(g: &Gguf) -> Vec<String> {
    g.kv("tokenizer.ggml.tokens")
        .arr()
        .iter()
        .map(|t| t.str().to_string())
        .collect()
}

fn ints(g: &Gguf, k: &str) -> Vec<i64> {
    g.kv(k).arr().iter().map(GV::int).collect()
}

#[test]
fn llama_checkpoint_converts_with_llama_metadata_and_tensor_names() {
    let src = tempfile::tempdir().unwrap();
    llama(src.path(), "LlamaForCausalLM");
    let (_d, out, s) = run(
        src.path(),
        &ConvertOptions {
            name: Some("tiny".into()),
            ..Default::default()
        },
    );
    assert_eq!(s.architecture, "llama");
    assert_eq!(s.capability, Capability::Chat);
    assert_eq!(s.tensor_count, 12, "inv_freq dropped, everything else kept");
    assert_eq!(
        s.out_type,
        OutType::BF16,
        "auto picks the dtype of the first 2-D tensor"
    );
    assert_eq!(s.bytes_written, std::fs::metadata(&out).unwrap().len());

    let h = header(&out);
    assert_eq!(h.architecture.as_deref(), Some("llama"));
    assert_eq!(h.name.as_deref(), Some("tiny"));
    assert_eq!(h.context_length, Some(256));
    assert_eq!(h.file_type, Some(32));
    assert_eq!(h.tokenizer_model.as_deref(), Some("gpt2"));
    assert_eq!(h.vocab_size, Some(10));
    assert_eq!(h.chat_template.as_deref(), Some(CHAT_TEMPLATE));
    assert_eq!(h.hparam("block_count"), Some(1));
    assert_eq!(h.hparam("attention.head_count_kv"), Some(1));
    assert_eq!(h.alignment, 32);

    let g = read_gguf(&out);
    assert_eq!(g.kv("general.architecture").str(), "llama");
    assert_eq!(g.kv("general.type").str(), "model");
    assert_eq!(g.kv("general.quantization_version").int(), 2);
    assert_eq!(g.kv("general.alignment").int(), 32);
    assert_eq!(g.kv("llama.embedding_length").int(), 8);
    assert_eq!(g.kv("llama.feed_forward_length").int(), 16);
    assert_eq!(g.kv("llama.attention.head_count").int(), 2);
    assert_eq!(g.kv("llama.vocab_size").int(), 10);
    assert_eq!(g.kv("llama.rope.dimension_count").int(), 4);
    assert_eq!(g.kv("llama.rope.freq_base").f32(), 10000.0);
    assert_eq!(g.kv("llama.attention.layer_norm_rms_epsilon").f32(), 1e-5);
    assert_eq!(
        g.types["llama.context_length"], 4,
        "u32 as gguf-py writes it"
    );
    assert_eq!(g.kv("tokenizer.ggml.pre").str(), "llama-bpe");
    assert_eq!(g.kv("tokenizer.ggml.bos_token_id").int(), 8);
    assert_eq!(g.kv("tokenizer.ggml.eos_token_id").int(), 9);
    assert_eq!(g.kv("tokenizer.ggml.add_bos_token"), &GV::Bool(true));
    assert_eq!(g.kv("tokenizer.ggml.add_eos_token"), &GV::Bool(false));
    assert_eq!(
        ints(&g, "tokenizer.ggml.token_type"),
        vec![1, 1, 1, 1, 1, 1, 1, 1, 3, 3]
    );
    let merges: Vec<&str> = g
        .kv("tokenizer.ggml.merges")
        .arr()
        .iter()
        .map(GV::str)
        .collect();
    assert_eq!(merges, vec!["a b", "Ġ a", "ab c", "Ġa b"]);
    assert!(!g.kv.contains_key("tokenizer.ggml.scores"));

    assert_eq!(g.t("token_embd.weight").ne, vec![8, 10]);
    assert_eq!(g.t("token_embd.weight").ty, 30);
    assert_eq!(g.t("blk.0.attn_q.weight").ne, vec![8, 8]);
    assert_eq!(g.t("blk.0.attn_k.weight").ne, vec![8, 4]);
    assert_eq!(g.t("blk.0.ffn_down.weight").ne, vec![16, 8]);
    assert_eq!(g.t("output.weight").ty, 30);
    for norm in [
        "blk.0.attn_norm.weight",
        "blk.0.ffn_norm.weight",
        "output_norm.weight",
    ] {
        assert_eq!(g.t(norm).ty, 0, "{norm} stays F32");
    }
    assert_eq!(g.f32s("output_norm.weight")[0], 0.125);
}

/// Rows of a [rows, cols] BF16 tensor read back as the first element of each row.
fn bf16_row_starts(t: &GT, cols: usize) -> Vec<f32> {
    t.data
        .chunks_exact(2 * cols)
        .map(|r| f32::from_bits((u16::from_le_bytes([r[0], r[1]]) as u32) << 16))
        .collect()
}

#[test]
fn llama_q_and_k_rows_are_permuted_like_convert_hf_to_gguf() {
    let src = tempfile::tempdir().unwrap();
    llama(src.path(), "LlamaForCausalLM");
    // q_proj [8, 8] with row r filled with r: 2 heads of 4 rows -> each head [0,2,1,3].
    let q: Vec<f32> = (0..64).map(|k| (k / 8) as f32).collect();
    let k: Vec<f32> = (0..32).map(|k| (k / 8) as f32 + 100.0).collect();
    let mut text = std::fs::read(src.path().join("model.safetensors")).unwrap();
    let tensors = [
        T {
            name: "model.embed_tokens.weight".into(),
            dtype: "BF16",
            shape: vec![10, 8],
            data: bf16s(&[0.0; 80]),
        },
        T {
            name: "model.layers.0.self_attn.q_proj.weight".into(),
            dtype: "BF16",
            shape: vec![8, 8],
            data: bf16s(&q),
        },
        T {
            name: "model.layers.0.self_attn.k_proj.weight".into(),
            dtype: "BF16",
            shape: vec![4, 8],
            data: bf16s(&k),
        },
    ];
    text.clear();
    // Rewrite the checkpoint with these three plus the untouched rest.
    let mut all: Vec<T> = tensors.into_iter().collect();
    let p = "model.layers.0.";
    all.push(t32(&format!("{p}self_attn.v_proj.weight"), &[4, 8], 3.0));
    all.push(t32(&format!("{p}self_attn.o_proj.weight"), &[8, 8], 4.0));
    all.push(t32(&format!("{p}mlp.gate_proj.weight"), &[16, 8], 5.0));
    all.push(t32(&format!("{p}mlp.up_proj.weight"), &[16, 8], 6.0));
    all.push(t32(&format!("{p}mlp.down_proj.weight"), &[8, 16], 7.0));
    all.push(t32(&format!("{p}input_layernorm.weight"), &[8], 0.5));
    all.push(t32(
        &format!("{p}post_attention_layernorm.weight"),
        &[8],
        0.25,
    ));
    all.push(t32("model.norm.weight", &[8], 0.125));
    write_safetensors(&src.path().join("model.safetensors"), &all);
    let (_d, out, _) = run(
        src.path(),
        &ConvertOptions {
            out_type: Some(OutType::BF16),
            ..Default::default()
        },
    );
    let g = read_gguf(&out);
    assert_eq!(
        bf16_row_starts(g.t("blk.0.attn_q.weight"), 8),
        vec![0., 2., 1., 3., 4., 6., 5., 7.]
    );
    // K has one KV head: permuted with n_head_kv = 1.
    assert_eq!(
        bf16_row_starts(g.t("blk.0.attn_k.weight"), 8),
        vec![100., 102., 101., 103.]
    );
    // V is not permuted.
    assert_eq!(g.t("blk.0.attn_v.weight").ne, vec![8, 4]);
    assert!(
        !g.tensors.contains_key("output.weight"),
        "no lm_head in this checkpoint"
    );
}

#[test]
fn mistral_is_written_as_llama_and_f32_out_type_keeps_everything_f32() {
    let src = tempfile::tempdir().unwrap();
    llama(src.path(), "MistralForCausalLM");
    let (_d, out, s) = run(
        src.path(),
        &ConvertOptions {
            out_type: Some(OutType::F32),
            ..Default::default()
        },
    );
    assert_eq!(s.architecture, "llama");
    let g = read_gguf(&out);
    assert_eq!(g.kv("general.file_type").int(), 0);
    assert!(g.tensors.values().all(|t| t.ty == 0));
    // BF16 embeddings widened exactly.
    assert_eq!(g.f32s("token_embd.weight")[1], 1.0 / 64.0);
}

#[test]
fn f16_output_converts_weights_and_keeps_norms_f32() {
    let src = tempfile::tempdir().unwrap();
    llama(src.path(), "LlamaForCausalLM");
    let (_d, out, _) = run(
        src.path(),
        &ConvertOptions {
            out_type: Some(OutType::F16),
            ..Default::default()
        },
    );
    let g = read_gguf(&out);
    assert_eq!(g.kv("general.file_type").int(), 1);
    let up = g.t("blk.0.ffn_up.weight");
    assert_eq!(up.ty, 1);
    // 6 + 1/64 in f16: exponent 2 (6.0 = 1.5 * 2^2), mantissa 0x200 + 1/64/4*1024.
    let second = u16::from_le_bytes([up.data[2], up.data[3]]);
    assert_eq!(second, 0x4600 + 4);
    assert_eq!(g.t("blk.0.attn_norm.weight").ty, 0);
}

#[test]
fn llama3_rope_scaling_adds_rope_freqs_tensor() {
    let src = tempfile::tempdir().unwrap();
    llama(src.path(), "LlamaForCausalLM");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(src.path().join("config.json")).unwrap()).unwrap();
    cfg["rope_scaling"] = serde_json::json!({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192});
    write_json(&src.path().join("config.json"), &cfg);
    let (_d, out, _) = run(src.path(), &ConvertOptions::default());
    let g = read_gguf(&out);
    // dim 4: freqs 1 and 1/100 -> wavelengths 6.28 (< 2048: factor 1) and 628 (1).
    assert_eq!(g.f32s("rope_freqs.weight"), vec![1.0, 1.0]);
    assert!(
        !g.kv.contains_key("llama.rope.scaling.type"),
        "llama3 scaling is the tensor only"
    );
}

#[test]
fn qwen2_keeps_biases_in_f32_and_ties_embeddings() {
    let src = tempfile::tempdir().unwrap();
    qwen2(src.path());
    let (_d, out, s) = run(src.path(), &ConvertOptions::default());
    assert_eq!(s.architecture, "qwen2");
    assert_eq!(
        s.out_type,
        OutType::F16,
        "auto falls back to F16 for F32 checkpoints"
    );
    let g = read_gguf(&out);
    assert_eq!(g.kv("tokenizer.ggml.pre").str(), "qwen2");
    assert_eq!(g.kv("qwen2.rope.freq_base").f32(), 1_000_000.0);
    assert!(
        !g.kv.contains_key("qwen2.vocab_size"),
        "only llama writes vocab_size"
    );
    assert!(!g.tensors.contains_key("output.weight"));
    for b in [
        "blk.0.attn_q.bias",
        "blk.0.attn_k.bias",
        "blk.0.attn_v.bias",
    ] {
        assert_eq!(g.t(b).ty, 0);
    }
    assert_eq!(
        g.f32s("blk.0.attn_q.bias")[..2],
        [1.5, 1.5 + 1.0 / 64.0],
        "qwen2 is not permuted"
    );
    assert_eq!(g.t("blk.0.attn_q.weight").ty, 1);
    assert_eq!(g.kv("tokenizer.chat_template").str(), CHAT_TEMPLATE);
    assert_eq!(g.kv("tokenizer.chat_template.tool_use").str(), "T");
    assert_eq!(g.kv("tokenizer.ggml.eos_token_id").int(), 9);
    assert_eq!(g.kv("tokenizer.ggml.padding_token_id").int(), 9);
    assert_eq!(
        g.kv("tokenizer.ggml.add_bos_token"),
        &GV::Bool(true),
        "post-processor wins over tokenizer_config"
    );
}

#[test]
fn chat_template_option_overrides_tokenizer_config() {
    let src = tempfile::tempdir().unwrap();
    qwen2(src.path());
    let opts = ConvertOptions {
        chat_template: Some("X".into()),
        ..Default::default()
    };
    let (_d, out, _) = run(src.path(), &opts);
    let g = read_gguf(&out);
    assert_eq!(g.kv("tokenizer.chat_template").str(), "X");
    assert!(!g.kv.contains_key("tokenizer.chat_template.tool_use"));
}

#[test]
fn gemma_adds_one_to_norms_and_reads_sentencepiece_scores() {
    let src = tempfile::tempdir().unwrap();
    gemma(src.path(), "GemmaForCausalLM");
    let (_d, out, s) = run(src.path(), &ConvertOptions::default());
    assert_eq!(s.architecture, "gemma");
    let g = read_gguf(&out);
    assert_eq!(g.f32s("blk.0.attn_norm.weight")[0], 1.5);
    assert_eq!(
        g.f32s("blk.0.ffn_norm.weight")[0],
        1.25,
        "gemma 1: post_attention_layernorm is ffn_norm"
    );
    assert_eq!(g.f32s("output_norm.weight")[0], 1.125);
    assert!(!g.tensors.contains_key("output.weight"));
    assert_eq!(g.kv("tokenizer.ggml.model").str(), "llama");
    assert_eq!(g.kv("tokenizer.ggml.pre").str(), "default");
    assert_eq!(
        tokens(&g),
        vec!["<pad>", "<eos>", "<bos>", "<unk>", "<0x0A>", "\u{2581}a"]
    );
    assert_eq!(
        ints(&g, "tokenizer.ggml.token_type"),
        vec![3, 3, 3, 2, 6, 1]
    );
    let scores: Vec<f32> = g
        .kv("tokenizer.ggml.scores")
        .arr()
        .iter()
        .map(GV::f32)
        .collect();
    assert_eq!(scores[5], -1.5);
    assert_eq!(g.kv("tokenizer.ggml.bos_token_id").int(), 2);
    assert_eq!(g.kv("tokenizer.ggml.eos_token_id").int(), 1);
    assert_eq!(g.kv("tokenizer.ggml.unknown_token_id").int(), 3);
    assert_eq!(g.kv("tokenizer.ggml.padding_token_id").int(), 0);
    assert_eq!(
        g.kv("tokenizer.ggml.eot_token_id").int(),
        107,
        "convert's CodeGemma id, unchecked"
    );
    assert_eq!(g.kv("tokenizer.ggml.add_space_prefix"), &GV::Bool(false));
    assert_eq!(g.kv("tokenizer.ggml.add_bos_token"), &GV::Bool(true));
    assert_eq!(g.kv("gemma.attention.key_length").int(), 4);
    assert!(
        !g.kv.contains_key("gemma.rope.freq_base"),
        "GemmaModel writes no rope base"
    );
}

#[test]
fn gemma2_writes_softcapping_and_sandwich_norms() {
    let src = tempfile::tempdir().unwrap();
    gemma(src.path(), "Gemma2ForCausalLM");
    let (_d, out, _) = run(src.path(), &ConvertOptions::default());
    let g = read_gguf(&out);
    assert_eq!(g.kv("gemma2.attn_logit_softcapping").f32(), 50.0);
    assert_eq!(g.kv("gemma2.final_logit_softcapping").f32(), 30.0);
    assert_eq!(g.kv("gemma2.attention.sliding_window").int(), 4096);
    assert_eq!(g.f32s("blk.0.post_attention_norm.weight")[0], 1.25);
    assert_eq!(g.f32s("blk.0.ffn_norm.weight")[0], 1.5);
    assert_eq!(g.f32s("blk.0.post_ffw_norm.weight")[0], 1.5);
}

#[test]
fn gemma3_text_writes_swa_rope_base_and_qk_norms() {
    let src = tempfile::tempdir().unwrap();
    gemma(src.path(), "Gemma3ForCausalLM");
    let (_d, out, s) = run(src.path(), &ConvertOptions::default());
    assert_eq!(s.architecture, "gemma3");
    let g = read_gguf(&out);
    assert_eq!(g.kv("gemma3.rope.freq_base").f32(), 1_000_000.0);
    assert_eq!(g.kv("gemma3.rope.freq_base_swa").f32(), 10000.0);
    assert_eq!(g.kv("gemma3.attention.sliding_window").int(), 512);
    assert_eq!(g.kv("gemma3.context_length").int(), 8192);
    assert_eq!(g.kv("gemma3.attention.head_count_kv").int(), 1);
    assert_eq!(g.f32s("blk.0.attn_q_norm.weight")[0], 1.5);
    assert_eq!(g.t("blk.0.attn_k_norm.weight").ne, vec![4]);
    assert_eq!(g.t("token_embd.weight").ne, vec![8, 6]);
}

#[test]
fn bert_encoder_gets_phantom_space_vocab_pooling_and_no_pooler() {
    let src = tempfile::tempdir().unwrap();
    bert(src.path(), "BertModel");
    let ck = inspect(src.path()).unwrap();
    assert!(ck.is_encoder);
    assert_eq!(ck.architecture, "bert");
    assert_eq!(ck.pooling, Some(Pooling::Mean));
    assert_eq!(ck.license.as_deref(), Some("apache-2.0"));
    assert_eq!(ck.context_length, Some(32));
    assert!(ck.has_tokenizer);

    let (_d, out, s) = run(src.path(), &ConvertOptions::default());
    assert_eq!(s.capability, Capability::Embedding);
    assert_eq!(s.pooling, Some(Pooling::Mean));
    assert_eq!(s.license.as_deref(), Some("apache-2.0"));
    let g = read_gguf(&out);
    assert_eq!(g.kv("general.license").str(), "apache-2.0");
    assert_eq!(g.kv("bert.pooling_type").int(), 1);
    assert_eq!(g.kv("bert.attention.causal"), &GV::Bool(false));
    assert_eq!(g.kv("bert.attention.layer_norm_epsilon").f32(), 1e-12);
    assert_eq!(g.kv("tokenizer.ggml.model").str(), "bert");
    assert_eq!(g.kv("tokenizer.ggml.token_type_count").int(), 2);
    assert_eq!(
        tokens(&g),
        vec![
            "[PAD]",
            "[UNK]",
            "[CLS]",
            "[SEP]",
            "[MASK]",
            "\u{2581}hello",
            "s",
            "\u{2581}[unused0]",
            "\u{2581}world"
        ]
    );
    assert_eq!(
        g.kv("tokenizer.ggml.bos_token_id").int(),
        2,
        "cls stands in for bos"
    );
    assert_eq!(g.kv("tokenizer.ggml.eos_token_id").int(), 3);
    assert_eq!(g.kv("tokenizer.ggml.seperator_token_id").int(), 3);
    assert_eq!(g.kv("tokenizer.ggml.unknown_token_id").int(), 1);
    assert_eq!(g.kv("tokenizer.ggml.padding_token_id").int(), 0);
    assert_eq!(g.kv("tokenizer.ggml.mask_token_id").int(), 4);
    assert_eq!(g.kv("tokenizer.ggml.add_bos_token"), &GV::Bool(true));
    assert_eq!(g.kv("tokenizer.ggml.add_eos_token"), &GV::Bool(true));
    assert_eq!(g.kv("tokenizer.ggml.normalizer.lowercase"), &GV::Bool(true));
    assert!(!g.tensors.keys().any(|n| n.contains("pooler")));
    assert_eq!(
        g.t("position_embd.weight").ty,
        0,
        "position embeddings stay F32"
    );
    assert_eq!(g.t("token_types.weight").ty, 0);
    assert_eq!(g.t("token_embd.weight").ty, 1);
    assert_eq!(g.t("blk.0.ffn_up.weight").ne, vec![8, 16]);
    assert_eq!(g.t("blk.0.layer_output_norm.weight").ty, 0);
    assert_eq!(g.t("blk.0.attn_output_norm.bias").ty, 0);
    assert_eq!(g.tensors.len(), 5 + 16);
}

#[test]
fn sharded_checkpoint_is_read_through_its_index() {
    let src = tempfile::tempdir().unwrap();
    bert(src.path(), "BertForMaskedLM");
    // Split the single file in two shards with an index.
    let whole = src.path().join("model.safetensors");
    let bytes = std::fs::read(&whole).unwrap();
    std::fs::remove_file(&whole).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let hdr: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let mut shards: [Vec<T>; 2] = [Vec::new(), Vec::new()];
    let mut map = serde_json::Map::new();
    for (i, (name, info)) in hdr.iter().filter(|(k, _)| *k != "__metadata__").enumerate() {
        let off: Vec<usize> = info["data_offsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let shape = info["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let dtype = if info["dtype"] == "F32" { "F32" } else { "I64" };
        let file = format!("model-0000{}-of-00002.safetensors", i % 2 + 1);
        map.insert(name.clone(), serde_json::Value::String(file));
        shards[i % 2].push(T {
            name: name.clone(),
            dtype,
            shape,
            data: bytes[8 + n + off[0]..8 + n + off[1]].to_vec(),
        });
    }
    write_safetensors(
        &src.path().join("model-00001-of-00002.safetensors"),
        &shards[0],
    );
    write_safetensors(
        &src.path().join("model-00002-of-00002.safetensors"),
        &shards[1],
    );
    write_json(
        &src.path().join("model.safetensors.index.json"),
        &serde_json::json!({"metadata": {}, "weight_map": map}),
    );
    let (_d, out, s) = run(src.path(), &ConvertOptions::default());
    assert_eq!(s.tensor_count, 21);
    assert_eq!(read_gguf(&out).t("blk.0.attn_q.weight").ne, vec![8, 8]);
}

struct Count(std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU64);
impl ConvertProgress for Count {
    fn tensors(&self, done: u64, total: u64) {
        self.0.store(done, std::sync::atomic::Ordering::SeqCst);
        self.1.store(total, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn progress_reports_all_tensor_bytes() {
    let src = tempfile::tempdir().unwrap();
    qwen2(src.path());
    let out_dir = tempfile::tempdir().unwrap();
    let p = Count(0.into(), 0.into());
    convert(
        src.path(),
        &out_dir.path().join("m.gguf"),
        &ConvertOptions::default(),
        &p,
    )
    .unwrap();
    let (done, total) = (p.0.into_inner(), p.1.into_inner());
    assert!(total > 0);
    assert_eq!(done, total);
}

// ---- bad input ----

fn convert_err(src: &Path) -> (ConvertError, tempfile::TempDir) {
    let out_dir = tempfile::tempdir().unwrap();
    let err = convert(
        src,
        &out_dir.path().join("m.gguf"),
        &ConvertOptions::default(),
        &NoProgress,
    )
    .unwrap_err();
    (err, out_dir)
}

fn assert_empty(dir: &tempfile::TempDir) {
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn unsupported_architecture_is_named_with_the_supported_list() {
    let src = tempfile::tempdir().unwrap();
    llama(src.path(), "PhiForCausalLM");
    let (err, out) = convert_err(src.path());
    assert!(matches!(err, ConvertError::UnsupportedArchitecture { .. }));
    let msg = err.to_string();
    assert!(msg.contains("PhiForCausalLM"), "{msg}");
    for a in SUPPORTED_ARCHITECTURES {
        assert!(msg.contains(a), "{msg} lacks {a}");
    }
    assert_empty(&out);
    assert!(inspect(src.path()).is_err());
}

#[test]
fn truncated_safetensors_names_file_and_tensor_and_writes_nothing() {
    let src = tempfile::tempdir().unwrap();
    llama(src.path(), "LlamaForCausalLM");
    let path = src.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
    let (err, out) = convert_err(src.path());
    let msg = err.to_string();
    assert!(matches!(err, ConvertError::Safetensors { .. }), "{err:?}");
    assert!(
        msg.contains("model.safetensors") && msg.contains("truncated"),
        "{msg}"
    );
    assert!(
        msg.contains("self_attn.rotary_emb.inv_freq"),
        "names the last tensor: {msg}"
    );
    assert_empty(&out);
}

#[test]
fn oversized_safetensors_header_is_refused_before_allocating() {
    let src = tempfile::tempdir().unwrap();
    llama(src.path(), "LlamaForCausalLM");
    let mut bytes = u64::MAX.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    std::fs::write(src.path().join("model.safetensors"), bytes).unwrap();
    let (err, _out) = convert_err(src.path());
    assert!(err.to_string().contains("header size"), "{err}");
}

#[test]
fn unsupported_dtype_names_tensor_and_dtype() {
    let src = tempfile::tempdir().unwrap();
    qwen2(src.path());
    write_safetensors(
        &src.path().join("model.safetensors"),
        &[T {
            name: "model.embed_tokens.weight".into(),
            dtype: "I32",
            shape: vec![10, 8],
            data: vec![0; 320],
        }],
    );
    let (err, _out) = convert_err(src.path());
    let msg = err.to_string();
    assert!(
        msg.contains("model.embed_tokens.weight") && msg.contains("I32"),
        "{msg}"
    );
}

#[test]
fn missing_tokenizer_json_is_a_clear_error() {
    let src = tempfile::tempdir().unwrap();
    llama(src.path(), "LlamaForCausalLM");
    std::fs::remove_file(src.path().join("tokenizer.json")).unwrap();
    let (err, out) = convert_err(src.path());
    assert!(matches!(err, ConvertError::MissingFile { .. }));
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
    assert_empty(&out);
    assert!(!inspect(src.path()).unwrap().has_tokenizer);
}

#[test]
fn shape_mismatch_names_tensor_expected_and_found() {
    let src = tempfile::tempdir().unwrap();
    llama(src.path(), "LlamaForCausalLM");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(src.path().join("config.json")).unwrap()).unwrap();
    cfg["num_attention_heads"] = serde_json::json!(4); // head_dim 2: q rows 8 still, k rows 2
    write_json(&src.path().join("config.json"), &cfg);
    let (err, out) = convert_err(src.path());
    match &err {
        ConvertError::ShapeMismatch {
            tensor,
            expected,
            found,
        } => {
            assert_eq!(tensor, "model.layers.0.self_attn.k_proj.weight");
            assert_eq!(expected, &vec![2, 8]);
            assert_eq!(found, &vec![4, 8]);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("[2, 8]"));
    assert_empty(&out);
}

#[test]
fn unknown_tensor_is_refused_like_convert() {
    let src = tempfile::tempdir().unwrap();
    qwen2(src.path());
    let mut t = vec![t32("model.layers.0.mlp.extra.weight", &[2], 0.0)];
    t.push(t32("model.embed_tokens.weight", &[10, 8], 0.0));
    write_safetensors(&src.path().join("model.safetensors"), &t);
    let (err, _) = convert_err(src.path());
    assert!(
        err.to_string().contains("model.layers.0.mlp.extra.weight"),
        "{err}"
    );
}

#[test]
fn output_into_missing_or_read_only_directory_fails_naming_the_output() {
    let src = tempfile::tempdir().unwrap();
    qwen2(src.path());
    let out_dir = tempfile::tempdir().unwrap();
    let missing = out_dir.path().join("no/such/dir/m.gguf");
    let err = convert(
        src.path(),
        &missing,
        &ConvertOptions::default(),
        &NoProgress,
    )
    .unwrap_err();
    assert!(matches!(err, ConvertError::Write { .. }));
    assert!(err.to_string().contains("no/such/dir/m.gguf"), "{err}");

    let ro = out_dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let mut perm = std::fs::metadata(&ro).unwrap().permissions();
    perm.set_readonly(true);
    std::fs::set_permissions(&ro, perm.clone()).unwrap();
    let target = ro.join("m.gguf");
    let result = convert(src.path(), &target, &ConvertOptions::default(), &NoProgress);
    // root ignores directory permissions: then the conversion simply succeeds.
    if let Err(err) = result {
        assert!(matches!(err, ConvertError::Write { .. }));
        assert!(err.to_string().contains("ro/m.gguf"), "{err}");
        assert!(std::fs::read_dir(&ro).unwrap().next().is_none());
    }
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&ro, perm).unwrap();
}

#[test]
fn smollm_pre_tokenizer_and_vocab_49152_quirk() {
    let src = tempfile::tempdir().unwrap();
    llama(src.path(), "LlamaForCausalLM");
    let mut tok = bpe_tokenizer(LLAMA3_REGEX);
    tok["pre_tokenizer"] = serde_json::json!({"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": true},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
    ]});
    write_json(&src.path().join("tokenizer.json"), &tok);
    let (_d, out, _) = run(src.path(), &ConvertOptions::default());
    assert_eq!(read_gguf(&out).kv("tokenizer.ggml.pre").str(), "smollm");
}
