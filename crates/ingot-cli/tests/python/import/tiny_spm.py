"""SentencePiece-style tokenizers for tiny_checkpoint.py (mistral, gemma, gemma2, gemma3).

Imported by path from tiny_checkpoint.py; plain Python only (no numpy needed here).

Real Mistral-7B and Gemma checkpoints ship a SentencePiece BPE model twice: as
`tokenizer.model` (a protobuf ModelProto: pieces with scores and types) and as
`tokenizer.json` (what transformers' SpmConverter / GemmaConverter make of it: a
`BPE` model with `byte_fallback: true`, the 256 `<0x00>`..`<0xFF>` byte pieces,
`▁` for spaces, merges derived from the piece scores). This module writes a tiny
vocabulary of that kind in both forms, built so that both encoders agree:

  * every merged piece has exactly ONE split into two vocabulary pieces, and its
    SentencePiece score is minus its merge rank. SentencePiece / llama.cpp's SPM
    tokenizer (merge the adjacent pair whose concatenation is the highest-scored
    piece, leftmost first) and HF's BPE (apply the lowest-ranked merge, leftmost
    first) then produce the same tokens;
  * no digit merges (real Llama/Mistral/Gemma models split digits);
  * characters outside the vocabulary (tab, é, ...) fall back to byte pieces.

Layouts (ids as in the real models where it matters):

    mistral  0 <unk>, 1 <s>, 2 </s> (Mistral-7B / Llama-2), then the byte pieces
             3..258, the merged pieces by rank, the single characters.
             Normalizer Prepend("▁") + Replace(" ", "▁"), no pre-tokenizer
             (the "legacy" Llama tokenizer.json); BOS <s> added.
    gemma    0 <pad>, 1 <eos>, 2 <bos>, 3 <unk>, 4 <mask>, 5 [@BOS@],
    gemma2   6..105 <unused0>..<unused99>, 106 <start_of_turn>, 107 <end_of_turn>
             (so convert's CodeGemma ids 67..70 and eot 107 fall on real tokens),
             then bytes, merged pieces, characters. Normalizer Replace(" ", "▁")
             only (no dummy prefix), pre-tokenizer Split(" ", MergedWithPrevious)
             as GemmaConverter writes it; BOS <bos> added.
    gemma3   as gemma but 5 [multimodal], 6..104 <unused0>..<unused98>,
             105 <start_of_turn>, 106 <end_of_turn> (Gemma 3's ids); merges stored
             as [a, b] pairs (newer tokenizers format) instead of "a b" strings.
"""

import struct

# sentencepiece ModelProto.SentencePiece.Type
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

# Single-character pieces (SentencePiece keeps them after the merged pieces).
CHARS = list("▁etaoinshrdlcumwfgypbvkjxqz") + list("AHIMTW") + list("0123456789") + list(".,!?'-:\n")

# Merges in rank order; both sides must already be pieces, and each result must have
# no other split into two pieces (checked in build_vocab).
MERGES = [
    ("▁", "t"), ("h", "e"), ("▁t", "he"), ("i", "n"), ("▁", "a"), ("e", "r"),
    ("o", "n"), ("▁", "s"), ("r", "e"), ("n", "d"), ("▁", "w"), ("a", "t"),
    ("e", "n"), ("o", "r"), ("▁", "c"), ("i", "s"), ("▁", "o"), ("▁", "b"),
    ("e", "s"), ("▁", "f"), ("i", "t"), ("▁", "m"), ("a", "n"), ("e", "d"),
    ("in", "g"), ("▁", "in"), ("l", "l"), ("▁a", "nd"), ("▁o", "f"), ("▁t", "o"),
    ("▁", "d"), ("a", "r"), ("▁", "l"), ("▁", "he"), ("▁", "g"), ("▁", "e"),
    ("l", "e"), ("o", "m"), ("▁", "▁"), ("\n", "\n"), ("▁", "I"), ("▁", "T"),
    ("▁he", "ll"), ("▁hell", "o"), ("▁w", "or"), ("▁wor", "l"), ("▁worl", "d"),
    ("H", "e"), ("He", "ll"), ("Hell", "o"), ("▁", "Hello"), ("u", "s"), ("us", "er"), ("m", "o"),
    ("mo", "d"), ("mod", "e"), ("mode", "l"), ("h", "i"), ("▁", "'"), ("'", "s"),
    ("o", "k"), ("▁", "it"), ("▁", "user"), ("▁", "hi"),
    ("!", "!"), ("▁", "!"),
]

LAYOUTS = {
    "mistral": [("<unk>", UNKNOWN), ("<s>", CONTROL), ("</s>", CONTROL)],
    "gemma": (
        [("<pad>", CONTROL), ("<eos>", CONTROL), ("<bos>", CONTROL), ("<unk>", UNKNOWN),
         ("<mask>", USER_DEFINED), ("[@BOS@]", USER_DEFINED)]
        + [(f"<unused{i}>", USER_DEFINED) for i in range(100)]
        + [("<start_of_turn>", USER_DEFINED), ("<end_of_turn>", USER_DEFINED)]
    ),
    "gemma3": (
        [("<pad>", CONTROL), ("<eos>", CONTROL), ("<bos>", CONTROL), ("<unk>", UNKNOWN),
         ("<mask>", USER_DEFINED), ("[multimodal]", USER_DEFINED)]
        + [(f"<unused{i}>", USER_DEFINED) for i in range(99)]
        + [("<start_of_turn>", USER_DEFINED), ("<end_of_turn>", USER_DEFINED)]
    ),
}


def layout_of(arch):
    return {"mistral": "mistral", "gemma": "gemma", "gemma2": "gemma", "gemma3": "gemma3"}[arch]


def build_vocab(arch):
    """[(piece, score, type)] in id order, the merges in rank order, {special: id}."""
    pieces = list(LAYOUTS[layout_of(arch)])
    specials = {p: i for i, (p, _) in enumerate(pieces)}
    pieces = [(p, 0.0, t) for p, t in pieces]
    pieces += [(f"<0x{b:02X}>", 0.0, BYTE) for b in range(256)]
    known = set(CHARS)
    for rank, (a, b) in enumerate(MERGES):
        if a not in known or b not in known:
            raise SystemExit(f"bad merge {a!r} {b!r}: side not in vocab")
        if a + b in known:
            raise SystemExit(f"duplicate merge result {a + b!r}")
        known.add(a + b)
        pieces.append((a + b, -float(rank), NORMAL))
    for k, ch in enumerate(CHARS):
        pieces.append((ch, -float(len(MERGES) + k), NORMAL))
    for a, b in MERGES:
        m = a + b
        splits = [(m[:i], m[i:]) for i in range(1, len(m)) if m[:i] in known and m[i:] in known]
        if splits != [(a, b)]:
            raise SystemExit(f"{m!r} has splits {splits}: SentencePiece and HF BPE could disagree")
    assert len({p for p, _, _ in pieces}) == len(pieces)
    return pieces, list(MERGES), specials


def bos_eos(arch):
    return ("<s>", "</s>") if arch == "mistral" else ("<bos>", "<eos>")


def added_token(tid, content):
    return {
        "id": tid,
        "content": content,
        "single_word": False,
        "lstrip": False,
        "rstrip": False,
        "normalized": False,
        "special": True,
    }


def tokenizer_json(arch, pieces, merges, specials):
    bos, _ = bos_eos(arch)
    replace_space = {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}
    decoders = [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
        {"type": "ByteFallback"},
        {"type": "Fuse"},
    ]
    if arch == "mistral":
        normalizer = {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, replace_space]}
        pre = None
        decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    else:
        normalizer = replace_space
        pre = {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": False}
    if arch == "gemma3":
        merges_out = [[a, b] for a, b in merges]
    else:
        merges_out = [f"{a} {b}" for a, b in merges]
    bos_id = specials[bos]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added_token(tid, tok) for tok, tid in specials.items()],
        "normalizer": normalizer,
        "pre_tokenizer": pre,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": bos, "type_id": 1}},
                {"Sequence": {"id": "B", "type_id": 1}},
            ],
            "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}},
        },
        "decoder": {"type": "Sequence", "decoders": decoders},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": "<unk>",
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,
            "byte_fallback": True,
            "ignore_merges": False,
            "vocab": {p: i for i, (p, _, _) in enumerate(pieces)},
            "merges": merges_out,
        },
    }


# ---------------------------------------------------------------------------
# tokenizer.model: a sentencepiece ModelProto written by hand (proto2 wire format).


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _int(field, v):
    return _varint(field << 3) + _varint(v)


def _bytes(field, data):
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _str(field, s):
    return _bytes(field, s.encode("utf-8"))


def _f32(field, x):
    return _varint(field << 3 | 5) + struct.pack("<f", x)


def tokenizer_model(arch, pieces, specials):
    """ModelProto bytes: pieces (1), trainer_spec (2), normalizer_spec (3)."""
    out = bytearray()
    for piece, score, typ in pieces:
        out += _bytes(1, _str(1, piece) + _f32(2, score) + _int(3, typ))
    bos, eos = bos_eos(arch)
    trainer = (
        _int(3, 2)  # model_type: BPE
        + _int(4, len(pieces))  # vocab_size
        + _int(24, 0)  # treat_whitespace_as_suffix
        + _int(25, 1)  # split_digits
        + _int(26, 1)  # allow_whitespace_only_pieces
        + _int(35, 1)  # byte_fallback
        + _int(40, specials["<unk>"])
        + _int(41, specials[bos])
        + _int(42, specials[eos])
    )
    if "<pad>" in specials:
        trainer += _int(43, specials["<pad>"])  # pad_id (default -1: none, as Mistral)
    trainer += _str(45, "<unk>") + _str(46, bos) + _str(47, eos)
    if "<pad>" in specials:
        trainer += _str(48, "<pad>")
    normalizer = (
        _str(1, "identity")
        + _int(3, 1 if arch == "mistral" else 0)  # add_dummy_prefix
        + _int(4, 0)  # remove_extra_whitespaces
        + _int(5, 1)  # escape_whitespaces
    )
    out += _bytes(2, trainer) + _bytes(3, normalizer)
    return bytes(out)


# ---------------------------------------------------------------------------
# tokenizer_config.json / special_tokens_map.json

MISTRAL_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}"
    "{% endfor %}"
)

GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
)


def tokenizer_config(arch, specials):
    bos, eos = bos_eos(arch)
    decoder = {str(tid): {k: v for k, v in added_token(tid, tok).items() if k != "id"} for tok, tid in specials.items()}
    cfg = {
        "add_bos_token": True,
        "add_eos_token": False,
        "added_tokens_decoder": decoder,
        "bos_token": bos,
        "clean_up_tokenization_spaces": False,
        "eos_token": eos,
        "model_max_length": 256,
        "sp_model_kwargs": {},
        "spaces_between_special_tokens": False,
        "unk_token": "<unk>",
        "use_default_system_prompt": False,
    }
    if arch == "mistral":
        cfg.update({
            "chat_template": MISTRAL_CHAT_TEMPLATE,
            "legacy": True,
            "pad_token": None,
            "tokenizer_class": "LlamaTokenizer",
        })
    else:
        cfg.update({
            "additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"],
            "chat_template": GEMMA_CHAT_TEMPLATE,
            "pad_token": "<pad>",
            "tokenizer_class": "GemmaTokenizer",
        })
    return dict(sorted(cfg.items()))


def special_tokens_map(arch):
    bos, eos = bos_eos(arch)
    stm = {"bos_token": bos, "eos_token": eos, "unk_token": "<unk>"}
    if arch != "mistral":
        stm.update({"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"], "pad_token": "<pad>"})
    return dict(sorted(stm.items()))


# ---------------------------------------------------------------------------
# Expected token ids, recorded with the HF `tokenizers` package (0.23.3,
# `Tokenizer.from_file(tokenizer.json).encode(text).ids`, BOS added by the
# TemplateProcessing post-processor) and cross-checked with transformers'
# AutoTokenizer and, for texts without special tokens, with the `sentencepiece`
# package on tokenizer.model. Covers the dummy prefix (mistral "▁Hello", gemma
# "Hello"), a leading space ("▁▁" piece), digits one by one, byte fallback (é, tab),
# newlines ("\n\n" piece) and special tokens in text (mistral: a space prefix after
# </s> as llama.cpp and the legacy HF normalizer both add; gemma: none).

TOKENIZE_CASES = {
    "mistral": [
        "Hello world",
        "in the  end",
        "I'm here and it's 12345 ok!",
        "caf\u00e9\n\n  tab\tend",
        "hi</s>user",
    ],
    "gemma": [
        "Hello world",
        " in the end",
        "I'm here and it's 12345 ok!",
        "caf\u00e9\n\n  tab\tend",
        "<start_of_turn>user\nhi<end_of_turn>\n",
    ],
}

TOKENIZE_IDS = {
    "mistral": [
        [1, 309, 305],
        [1, 284, 261, 325, 294, 268],
        [1, 299, 372, 339, 292, 267, 286, 320, 318, 325, 359, 360, 361, 362, 363, 275, 347, 370],
        [1, 273, 328, 341, 198, 172, 298, 325, 259, 328, 345, 12, 326, 268],
        [1, 322, 2, 321],
    ],
    "gemma": [
        [2, 413, 410],
        [2, 389, 366, 399, 373],
        [2, 459, 477, 444, 397, 372, 391, 425, 423, 430, 464, 465, 466, 467, 468, 380, 452, 475],
        [2, 442, 433, 446, 303, 277, 403, 430, 364, 433, 450, 117, 431, 373],
        [2, 106, 416, 480, 421, 107, 480],
    ],
    "gemma3": [
        [2, 412, 409],
        [2, 388, 365, 398, 372],
        [2, 458, 476, 443, 396, 371, 390, 424, 422, 429, 463, 464, 465, 466, 467, 379, 451, 474],
        [2, 441, 432, 445, 302, 276, 402, 429, 363, 432, 449, 116, 430, 372],
        [2, 105, 415, 479, 420, 106, 479],
    ],
}


def tokenize_cases(arch):
    texts = TOKENIZE_CASES["mistral" if arch == "mistral" else "gemma"]
    return [{"text": t, "ids": ids} for t, ids in zip(texts, TOKENIZE_IDS[layout_of(arch)])]
