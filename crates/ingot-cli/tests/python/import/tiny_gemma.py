"""Configs, weights and numpy forward passes for tiny_checkpoint.py's SentencePiece
archs: mistral (llama layout: weights and forward come from tiny_checkpoint.py),
gemma, gemma2 and gemma3 (text-only Gemma3ForCausalLM). numpy only.

The gemma forward pass follows transformers 5.x modeling_gemma / modeling_gemma2 /
modeling_gemma3:
    x = embed[ids] * sqrt(hidden_size)              (Gemma*ScaledWordEmbedding)
    GemmaRMSNorm(x) = x * rsqrt(mean(x^2) + eps) * (1 + w)
    per layer (gemma):   x += attn(norm_in(x));                  x += mlp(norm_post_attn(x))
    per layer (gemma2/3): x += norm_post_attn(attn(norm_in(x)));  x += norm_post_ffw(mlp(norm_pre_ffw(x)))
    attn: q/k/v projections (head_dim from config, may differ from hidden/heads), gemma3
          only: q_norm/k_norm (GemmaRMSNorm over head_dim) BEFORE rope; rope in HF's
          rotate_half layout (theta = rope_theta, gemma3 sliding layers use
          rope_local_base_freq); scores = q.k * scaling, scaling = head_dim^-0.5 (gemma) or
          query_pre_attn_scalar^-0.5 (gemma2/3); gemma2: scores = cap*tanh(scores/cap)
          (attn_logit_softcapping) BEFORE the mask; causal mask, and on sliding layers key j
          is visible from query i only if i - j < sliding_window; softmax; GQA.
    mlp = down(gelu_tanh(gate(x)) * up(x))          (gelu_pytorch_tanh)
    logits = norm_final(x) @ embed.T (tied); gemma2 (and gemma3 if set):
          logits = cap*tanh(logits/cap) (final_logit_softcapping).
Layer types: gemma2 alternates sliding (even layers) / full; gemma3 writes explicit
`layer_types` with pattern 6 (layers 0..4 sliding, 5 full), which is what llama.cpp
assumes for gemma3 when the GGUF has no per-layer pattern.
"""

import numpy as np

# Values chosen to be what llama.cpp computes too (the Rust converter mirrors
# convert_hf_to_gguf.py, which writes none of these for gemma/gemma2):
#   * query_pre_attn_scalar == head_dim: llama.cpp scales by head_dim^-0.5 for every
#     gemma2/gemma3 size except the 27B ones (it does not read the config value);
#   * gemma/gemma2 rope_theta 10000 (llama.cpp's default: convert writes no rope base);
#   * gemma3 rope_local_base_freq 10000 (llama.cpp's fixed sliding-layer base; convert
#     writes only rope_theta as rope.freq_base, used by the global layers).


def model_config(arch, vocab_size, specials):
    common = {
        "attention_dropout": 0.0,
        "hidden_size": 64,
        "initializer_range": 0.02,
        "max_position_embeddings": 256,
        "num_attention_heads": 4,
        "torch_dtype": "float32",
        "transformers_version": "4.55.0",
        "use_cache": True,
        "vocab_size": vocab_size,
    }
    if arch == "mistral":
        # Mistral-7B-v0.1 keys; head_dim 32 != 64/4 as in Mistral-Nemo; a sliding window
        # far beyond the prompts (HF applies it, llama.cpp's llama arch does not).
        common.update({
            "architectures": ["MistralForCausalLM"],
            "bos_token_id": specials["<s>"],
            "eos_token_id": specials["</s>"],
            "head_dim": 32,
            "hidden_act": "silu",
            "intermediate_size": 160,
            "model_type": "mistral",
            "num_hidden_layers": 2,
            "num_key_value_heads": 1,
            "rms_norm_eps": 1e-05,
            "rope_theta": 1000000.0,
            "sliding_window": 4096,
            "tie_word_embeddings": False,
        })
        return dict(sorted(common.items()))
    common.update({
        "attention_bias": False,
        "bos_token_id": specials["<bos>"],
        "eos_token_id": specials["<eos>"],
        "head_dim": 32,
        "hidden_activation": "gelu_pytorch_tanh",
        "pad_token_id": specials["<pad>"],
        "rms_norm_eps": 1e-06,
        "tie_word_embeddings": True,
    })
    if arch == "gemma":
        # gemma-2b: multi-query attention, legacy "hidden_act": "gelu" next to
        # hidden_activation (transformers maps both to the tanh approximation).
        common.update({
            "architectures": ["GemmaForCausalLM"],
            "hidden_act": "gelu",
            "intermediate_size": 128,
            "model_type": "gemma",
            "num_hidden_layers": 2,
            "num_key_value_heads": 1,
            "rope_scaling": None,
            "rope_theta": 10000.0,
        })
    elif arch == "gemma2":
        common.update({
            "architectures": ["Gemma2ForCausalLM"],
            "attn_logit_softcapping": 4.0,
            "cache_implementation": "hybrid",
            "final_logit_softcapping": 5.0,
            "hidden_act": "gelu_pytorch_tanh",
            "intermediate_size": 128,
            "model_type": "gemma2",
            "num_hidden_layers": 2,
            "num_key_value_heads": 2,
            "query_pre_attn_scalar": 32,
            "rope_theta": 10000.0,
            "sliding_window": 5,
        })
    else:
        # gemma-3-270m's config.json keys (Gemma3ForCausalLM, model_type gemma3_text).
        n_layer = 6
        common.update({
            "_sliding_window_pattern": 6,
            "architectures": ["Gemma3ForCausalLM"],
            "attn_logit_softcapping": None,
            "final_logit_softcapping": None,
            "intermediate_size": 128,
            "layer_types": [
                "full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(n_layer)
            ],
            "model_type": "gemma3_text",
            "num_hidden_layers": n_layer,
            "num_key_value_heads": 1,
            "query_pre_attn_scalar": 32,
            "rope_local_base_freq": 10000.0,
            "rope_scaling": None,
            "rope_theta": 1000000.0,
            "sliding_window": 4,
            "use_bidirectional_attention": False,
        })
    return dict(sorted(common.items()))


def layer_types(cfg):
    n = cfg["num_hidden_layers"]
    if cfg["model_type"] == "gemma2":
        return ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(n)]
    if cfg["model_type"] == "gemma3_text":
        return cfg["layer_types"]
    return ["full_attention"] * n


def make_weights(cfg, seed):
    rng = np.random.default_rng(seed)
    h = cfg["hidden_size"]
    inter = cfg["intermediate_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg["num_key_value_heads"]
    hd = cfg["head_dim"]
    mt = cfg["model_type"]

    def normal(shape, scale):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def norm_w(n):
        # Gemma norms store w and scale by (1 + w).
        return normal((n,), 0.1)

    t = {"model.embed_tokens.weight": normal((cfg["vocab_size"], h), 0.12)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = norm_w(h)
        t[p + "self_attn.q_proj.weight"] = normal((nh * hd, h), 0.12)
        t[p + "self_attn.k_proj.weight"] = normal((nkv * hd, h), 0.12)
        t[p + "self_attn.v_proj.weight"] = normal((nkv * hd, h), 0.1)
        t[p + "self_attn.o_proj.weight"] = normal((h, nh * hd), 0.1)
        if mt == "gemma3_text":
            t[p + "self_attn.q_norm.weight"] = norm_w(hd)
            t[p + "self_attn.k_norm.weight"] = norm_w(hd)
        t[p + "post_attention_layernorm.weight"] = norm_w(h)
        if mt != "gemma":
            t[p + "pre_feedforward_layernorm.weight"] = norm_w(h)
            t[p + "post_feedforward_layernorm.weight"] = norm_w(h)
        t[p + "mlp.gate_proj.weight"] = normal((inter, h), 0.15)
        t[p + "mlp.up_proj.weight"] = normal((inter, h), 0.1)
        t[p + "mlp.down_proj.weight"] = normal((h, inter), 0.1)
    t["model.norm.weight"] = norm_w(h)
    return dict(sorted(t.items()))


def gemma_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * (1.0 + w)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def rope_cos_sin(theta, hd, n):
    inv_freq = 1.0 / (theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    freqs = np.outer(np.arange(n, dtype=np.float64), inv_freq)
    emb = np.concatenate([freqs, freqs], axis=-1)
    return np.cos(emb)[None], np.sin(emb)[None]  # [1, n, hd]


def forward(cfg, weights, ids):
    """HF-semantics gemma/gemma2/gemma3 forward in float64; logits [len(ids), vocab]."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    h = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg["num_key_value_heads"]
    hd = cfg["head_dim"]
    eps = cfg["rms_norm_eps"]
    mt = cfg["model_type"]
    n = len(ids)
    scaling = (hd if mt == "gemma" else cfg["query_pre_attn_scalar"]) ** -0.5
    attn_cap = cfg.get("attn_logit_softcapping") if mt == "gemma2" else None
    final_cap = cfg.get("final_logit_softcapping")

    i_pos = np.arange(n)[:, None]
    j_pos = np.arange(n)[None, :]
    causal = np.where(j_pos <= i_pos, 0.0, -np.inf)
    window = cfg.get("sliding_window") or n + 1
    sliding = np.where((j_pos <= i_pos) & (i_pos - j_pos < window), 0.0, -np.inf)
    global_theta = cfg["rope_theta"]
    local_theta = cfg.get("rope_local_base_freq", global_theta)
    rope = {
        "full_attention": rope_cos_sin(global_theta, hd, n),
        "sliding_attention": rope_cos_sin(local_theta if mt == "gemma3_text" else global_theta, hd, n),
    }

    x = w["model.embed_tokens.weight"][np.asarray(ids)] * np.sqrt(h)
    for i, kind in enumerate(layer_types(cfg)):
        p = f"model.layers.{i}."
        a = gemma_norm(x, w[p + "input_layernorm.weight"], eps)
        q = (a @ w[p + "self_attn.q_proj.weight"].T).reshape(n, nh, hd).transpose(1, 0, 2)
        k = (a @ w[p + "self_attn.k_proj.weight"].T).reshape(n, nkv, hd).transpose(1, 0, 2)
        v = (a @ w[p + "self_attn.v_proj.weight"].T).reshape(n, nkv, hd).transpose(1, 0, 2)
        if mt == "gemma3_text":
            q = gemma_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = gemma_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        cos, sin = rope[kind]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = nh // nkv
        k = np.repeat(k, rep, axis=0)
        v = np.repeat(v, rep, axis=0)
        s = q @ k.transpose(0, 2, 1) * scaling
        if attn_cap:
            s = np.tanh(s / attn_cap) * attn_cap
        s = s + (sliding if kind == "sliding_attention" else causal)
        s = s - s.max(axis=-1, keepdims=True)
        pr = np.exp(s)
        pr /= pr.sum(axis=-1, keepdims=True)
        o = (pr @ v).transpose(1, 0, 2).reshape(n, nh * hd) @ w[p + "self_attn.o_proj.weight"].T
        if mt == "gemma":
            x = x + o
            m = gemma_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        else:
            x = x + gemma_norm(o, w[p + "post_attention_layernorm.weight"], eps)
            m = gemma_norm(x, w[p + "pre_feedforward_layernorm.weight"], eps)
        g = m @ w[p + "mlp.gate_proj.weight"].T
        u = m @ w[p + "mlp.up_proj.weight"].T
        f = (gelu_tanh(g) * u) @ w[p + "mlp.down_proj.weight"].T
        if mt != "gemma":
            f = gemma_norm(f, w[p + "post_feedforward_layernorm.weight"], eps)
        x = x + f

    x = gemma_norm(x, w["model.norm.weight"], eps)
    logits = x @ w["model.embed_tokens.weight"].T
    if final_cap:
        logits = np.tanh(logits / final_cap) * final_cap
    return logits
