#!/usr/bin/env python3
"""Cross-check tiny_checkpoint.py against Hugging Face transformers (NOT run by CI).

Usage:
    python3 validate_tiny_with_transformers.py DIR [DIR ...]

Each DIR is a folder written by tiny_checkpoint.py. Loads it with
transformers AutoModelForCausalLM (float32, CPU, eager attention) and
AutoTokenizer, recomputes the logits of every prompt in DIR/reference.json and
prints the max |transformers - numpy| over all positions; exits 1 if any exceeds
1e-4. Also checks that the tokenizer loads, that its vocab size matches
config.json and that the ChatML chat template renders.

Needs torch + transformers (+ numpy, safetensors). Last run with torch 2.15.0
(CPU), transformers 5.25.0, tokenizers 0.23.3: max |logits diff| over all
positions 3.5e-06 (llama) and 2.1e-06 (qwen2) for the float32 model, 9.5e-07
(one float32 ulp) for the same model run in float64.
"""

import json
import sys

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer


def check(path):
    ref = json.load(open(f"{path}/reference.json"))
    cfg = json.load(open(f"{path}/config.json"))
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    model64 = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager").double()
    model64.eval()
    tok = AutoTokenizer.from_pretrained(path)
    assert len(tok) == cfg["vocab_size"], (len(tok), cfg["vocab_size"])
    chat = tok.apply_chat_template([{"role": "user", "content": "hello world"}], tokenize=False, add_generation_prompt=True)
    worst = worst64 = 0.0
    with torch.no_grad():
        for ids, want in zip(ref["prompts"], ref["all_logits"]):
            want = np.array(want)
            got = model(torch.tensor([ids])).logits[0].double().numpy()
            worst = max(worst, float(np.abs(got - want).max()))
            got64 = model64(torch.tensor([ids])).logits[0].numpy()
            worst64 = max(worst64, float(np.abs(got64.astype(np.float32) - want).max()))
    sd = set(model.state_dict().keys())
    print(
        f"{path}: {type(model).__name__} tied={cfg['tie_word_embeddings']} "
        f"params={sum(p.numel() for p in model.parameters())} max|hf_f32-numpy|={worst:.3g} max|f32(hf_f64)-numpy|={worst64:.3g} "
        f"tokenizer={type(tok).__name__} len={len(tok)} chat={chat!r} "
        f"encode('Hello world')={tok('Hello world')['input_ids']}"
    )
    assert "lm_head.weight" in sd
    return worst


def main():
    print(f"torch {torch.__version__} transformers {transformers.__version__}")
    worst = max(check(p) for p in sys.argv[1:])
    sys.exit(0 if worst < 1e-4 else 1)


if __name__ == "__main__":
    main()
