#!/usr/bin/env python3
"""all-MiniLM-L6-v2 through `ingot serve` with the official openai client (issue 15).

Usage: embeddings.py BASE_URL MODEL REFERENCE_JSON

Checks, against sentence-transformers' vectors of the same checkpoint (the reference file,
see import/minilm_reference.py):
- `client.embeddings.create` with a batch of 20 sentences (float): cosine >= 0.999 each;
- the same batch as base64: the same vectors;
- one string, and token-array input;
- retrieval: 5 queries x 20 passages ranked by cosine give exactly the reference's ranking.
Prints OK on success; any failure raises.
"""

import base64
import json
import math
import struct
import sys

from openai import OpenAI


def cos(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb)


def main():
    base, model, ref_path = sys.argv[1], sys.argv[2], sys.argv[3]
    ref = json.load(open(ref_path))
    client = OpenAI(base_url=base.rstrip("/") + "/v1", api_key="unused")

    # A batch of 20 sentences, float vectors (JSON numbers).
    r = client.embeddings.create(model=model, input=ref["sentences"], encoding_format="float")
    assert len(r.data) == 20, len(r.data)
    assert [d.index for d in r.data] == list(range(20))
    worst = 1.0
    for i, (d, want) in enumerate(zip(r.data, ref["sentence_embeddings"])):
        assert len(d.embedding) == 384, len(d.embedding)
        c = cos(d.embedding, want)
        worst = min(worst, c)
        assert c >= 0.999, f"sentence {i}: cosine {c:.6f} < 0.999: {ref['sentences'][i]!r}"
        norm = math.sqrt(sum(x * x for x in d.embedding))
        assert abs(norm - 1.0) < 1e-3, f"sentence {i}: norm {norm}"
    # The same WordPiece tokens as the Hugging Face tokenizer ([CLS] ... [SEP] each).
    want_tokens = sum(ref["token_counts"]["sentences"])
    assert r.usage.prompt_tokens == want_tokens, (r.usage, want_tokens)
    assert r.usage.total_tokens == r.usage.prompt_tokens, r.usage
    print(f"20 sentences: worst cosine vs sentence-transformers {worst:.6f}")

    # base64 asked for explicitly: the client hands back the string (little-endian f32).
    b = client.embeddings.create(model=model, input=ref["sentences"], encoding_format="base64")
    for d, f in zip(b.data, r.data):
        raw = base64.b64decode(d.embedding)
        vec = struct.unpack(f"<{len(raw) // 4}f", raw)
        assert len(vec) == 384
        assert max(abs(x - y) for x, y in zip(vec, f.embedding)) < 1e-6
    # The client's default: it asks for base64 and decodes it itself. (Another batch: its
    # matrix shapes differ, so the last bits may too.)
    dflt = client.embeddings.create(model=model, input=ref["sentences"][:3])
    for d, f in zip(dflt.data, r.data):
        assert cos(d.embedding, f.embedding) > 0.99999

    # One string: the same vector as inside the batch (batching does not change results).
    one = client.embeddings.create(model=model, input=ref["sentences"][0], encoding_format="float")
    assert len(one.data) == 1
    assert cos(one.data[0].embedding, r.data[0].embedding) > 0.99999

    # Retrieval: rank the passages for each query.
    q = client.embeddings.create(model=model, input=ref["queries"]).data
    p = client.embeddings.create(model=model, input=ref["passages"]).data
    for qi, qd in enumerate(q):
        sims = [cos(qd.embedding, pd.embedding) for pd in p]
        ranking = sorted(range(len(sims)), key=lambda j: -sims[j])
        want = ref["ranking"][qi]
        assert ranking[0] == ref["expected_best"][qi] == want[0], (qi, ranking, want)
        assert ranking == want, f"query {qi}: ranking {ranking} vs reference {want}"
        print(f"query {qi}: best passage {ranking[0]}, full ranking identical to the reference")
    print("OK")


if __name__ == "__main__":
    main()
