"""Embedding speed and quality: datamill.embed (ONNX fp32, ONNX int8, static tier) vs sentence-transformers.

    python benchmarks/embed_speed.py [BEIR_DIR ...] [--texts 1000] [--rounds 2]

The same model (the shipped all-MiniLM-L6-v2) encodes the same texts in each engine, one after the
other within each round (the machine is shared: ratios are taken side by side, per round, and the
median ratio is printed). Speed: documents/s over the BEIR corpora's texts (repeated with a suffix up
to --texts distinct texts, no vector cache). Quality: nDCG@10 of exact dense search on each BEIR set
(default: the shipped beir_selfinstruct) with each engine's vectors, and its ratio to
sentence-transformers'.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from importlib import resources

import numpy as np


def engines():  # noqa: ANN201
    from sentence_transformers import SentenceTransformer

    from datamill.embed import Embedder, default_model_path

    st = SentenceTransformer(default_model_path(), device="cpu", local_files_only=True)
    out = {
        "sentence-transformers": lambda texts: st.encode(
            texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True
        ),
    }
    for name, kw in (("datamill onnx fp32", {}), ("datamill onnx int8", {"quantize": True})):
        emb = Embedder(backend="onnx", **kw)
        out[name] = lambda texts, emb=emb: emb.encode(texts, cache=False)
    static = Embedder(backend="static")
    out["datamill static (256d)"] = lambda texts: static.encode(texts, cache=False)
    return out


def ndcg(encode, data) -> float:  # noqa: ANN001
    from datamill.incontext import score_run
    from datamill.incontext._base import _search_text
    from datamill.incontext.dense import _exact_top

    qids = [q for q in data.qrels if q in data.queries]
    docs = encode([_search_text(c) for c in data.corpus])
    qv = encode([data.queries[q] for q in qids])
    top = _exact_top(np.asarray(docs, dtype=np.float32), np.asarray(qv, dtype=np.float32), 100)
    run = {q: [data.corpus[i].id for i, _ in row] for q, row in zip(qids, top, strict=True)}
    return score_run(run, data.qrels)[0]["ndcg@10"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "beir", nargs="*", default=[str(resources.files("datamill") / "data" / "beir_selfinstruct")]
    )
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    from datamill.embed._onnx import default_threads
    from datamill.incontext import load_beir

    sets = {os.path.basename(os.path.normpath(b)): load_beir(b) for b in args.beir}
    base = [c.text for d in sets.values() for c in d.corpus]
    texts = [
        f"{t} ({i // len(base)})" if i >= len(base) else t
        for i, t in enumerate(base * (1 + args.texts // len(base)))
    ]
    texts = texts[: args.texts]
    eng = engines()
    for enc in eng.values():  # warm up: export, quantise, distill, load
        enc(texts[:16])
    print(
        f"{len(texts):,} texts, {np.mean([len(t.split()) for t in texts]):.0f} words on average; "
        f"{default_threads()} threads; load {os.getloadavg()[0]:.1f}"
    )
    speed: dict[str, list[float]] = {name: [] for name in eng}
    for _ in range(args.rounds):
        for name, enc in eng.items():
            t0 = time.perf_counter()
            enc(texts)
            speed[name].append(len(texts) / (time.perf_counter() - t0))
    ref = "sentence-transformers"
    quality = {name: {s: ndcg(enc, d) for s, d in sets.items()} for name, enc in eng.items()}
    print(
        f"{'engine':24s} {'docs/s (per round)':>22s} {'x ST':>6s}  "
        + "  ".join(f"nDCG@10 {s} (x ST)" for s in sets)
    )
    for name in eng:
        ratio = statistics.median(a / b for a, b in zip(speed[name], speed[ref], strict=True))
        per = " ".join(f"{v:,.1f}" for v in speed[name])
        nd = "  ".join(f"{quality[name][s]:.4f} ({quality[name][s] / quality[ref][s]:.3f})" for s in sets)
        print(f"{name:24s} {per:>22s} {ratio:6.2f}  {nd}")
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
