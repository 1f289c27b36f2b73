#!/usr/bin/env python3
"""Cross-check tiny_checkpoint.py folders with transformers, tokenizers and
sentencepiece (NOT run by CI).

Usage:
    python3 validate_tiny_tokenizers.py DIR [DIR ...]

For each DIR written by tiny_checkpoint.py (any arch): runs
validate_tiny_with_transformers.check (logits vs transformers, float32 eager,
max |diff| < 1e-4 required), then checks that every reference.json
`tokenization` case is what both the `tokenizers` package
(`Tokenizer.from_file(tokenizer.json).encode(text).ids`) and AutoTokenizer give,
and, where DIR has a tokenizer.model and the `sentencepiece` package is
installed, that sentencepiece's BPE encoder (the algorithm llama.cpp's SPM
tokenizer reimplements) agrees on the cases without special tokens in the text
(sentencepiece does not parse control tokens). Exits 1 on any failure.

Last run (torch 2.15.0 CPU, transformers 5.25.0, tokenizers 0.23.3,
sentencepiece 0.2.3): max |transformers f32 - numpy| over all positions
2.9e-06 (mistral), 1.9e-06 (gemma), 2.0e-06 (gemma2), 3.2e-06 (gemma3),
3.5e-06 (llama), 2.1e-06 (qwen2); tokenization 5/5 cases for every arch,
sentencepiece 4/4 for the four SentencePiece archs.
"""

import importlib.util
import json
import os
import sys

sys.dont_write_bytecode = True

from tokenizers import Tokenizer  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

try:
    import sentencepiece
except ImportError:
    sentencepiece = None


def load_sibling(name):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".py")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def check_tokenization(path):
    ref = json.load(open(f"{path}/reference.json"))
    raw = Tokenizer.from_file(f"{path}/tokenizer.json")
    tok = AutoTokenizer.from_pretrained(path)
    sp = None
    if sentencepiece is not None and os.path.exists(f"{path}/tokenizer.model"):
        sp = sentencepiece.SentencePieceProcessor(model_file=f"{path}/tokenizer.model")
        assert sp.get_piece_size() == len(tok), (sp.get_piece_size(), len(tok))
    special = [t.content for t in raw.get_added_tokens_decoder().values()]
    n_sp = 0
    for case in ref["tokenization"]:
        text, want = case["text"], case["ids"]
        got = raw.encode(text).ids
        assert got == want, f"{path}: tokenizers {text!r}: {got} != {want}"
        got = tok(text)["input_ids"]
        assert got == want, f"{path}: AutoTokenizer {text!r}: {got} != {want}"
        if sp is not None and not any(s in text for s in special):
            got = sp.encode(text)
            # reference ids start with the BOS the post-processor adds
            assert got == want[1:], f"{path}: sentencepiece {text!r}: {got} != {want[1:]}"
            n_sp += 1
    print(f"{path}: tokenization {len(ref['tokenization'])} cases ok, sentencepiece {n_sp} ok")


def main():
    logits = load_sibling("validate_tiny_with_transformers")
    worst = 0.0
    for path in sys.argv[1:]:
        worst = max(worst, logits.check(path))
        check_tokenization(path)
    sys.exit(0 if worst < 1e-4 else 1)


if __name__ == "__main__":
    main()
