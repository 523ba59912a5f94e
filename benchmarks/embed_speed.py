"""Embedding speed and quality: datamill.embed (ONNX Runtime fp32 and int8, OpenVINO in its precision
for this CPU and int8, each at 256 and 128 tokens; static tier) vs sentence-transformers, with the same
model (the shipped all-MiniLM-L6-v2) on the same texts.

    python benchmarks/embed_speed.py [BEIR_DIR ...] [--texts 2000] [--slice 250] [--no-speed]
        [--engines openvino,int8] [--no-openvino]

sentence-transformers runs with its defaults (batch 32, truncation at 256 tokens) on as many torch
threads as datamill gives ONNX Runtime and OpenVINO (both printed). Warm-up (export, quantisation, distillation,
first calls) is excluded. Speed: documents/s over the BEIR corpora's texts (repeated with a suffix up
to --texts distinct texts, no vector cache). The machine is shared, so the texts are cut into slices
of --slice and every engine encodes each slice in turn (the order rotating): a change of load hits all
engines alike; the ratio printed is total time against total time, with the range of the per-slice
ratios beside it. Quality: nDCG@10 of exact dense search with each engine's vectors on each BEIR set
(default: the shipped beir_selfinstruct and any set under benchmarks/data/beir), and its ratio to
sentence-transformers'.
"""

from __future__ import annotations

import argparse
import glob
import os
import time
from collections.abc import Callable
from importlib import resources

import numpy as np

Encode = Callable[[list[str]], np.ndarray]
REF = "sentence-transformers"


def engines(threads: int, *, openvino: bool = True) -> dict[str, Encode]:
    import torch
    from sentence_transformers import SentenceTransformer

    from datamill.embed import Embedder, default_model_path

    torch.set_num_threads(threads)
    st = SentenceTransformer(default_model_path(), device="cpu", local_files_only=True)
    out: dict[str, Encode] = {
        REF: lambda texts: st.encode(texts, normalize_embeddings=True, convert_to_numpy=True),
    }
    rows: list[tuple[str, dict]] = [
        ("onnx fp32", {}),
        ("onnx int8", {"quantize": True}),
        ("onnx fp32 128 tok", {"max_seq_length": 128}),
        ("onnx int8 128 tok", {"quantize": True, "max_seq_length": 128}),
    ]
    if openvino:
        rows += [
            ("openvino", {"backend": "openvino"}),
            ("openvino int8", {"backend": "openvino", "quantize": True}),
            ("openvino 128 tok", {"backend": "openvino", "max_seq_length": 128}),
            ("openvino int8 128 tok", {"backend": "openvino", "quantize": True, "max_seq_length": 128}),
        ]
    rows.append(("static (256d)", {"backend": "static"}))
    for name, kw in rows:
        emb = Embedder(**{"backend": "onnx", "threads": threads, **kw})
        if emb.backend == "openvino":  # OpenVINO's precision for this CPU: bf16, f32, int8+bf16, ...
            name = name.replace(
                "openvino int8" if emb.quantize else "openvino", f"openvino {emb.precision}", 1
            )
        out[f"datamill {name}"] = lambda texts, emb=emb: emb.encode(texts, cache=False)
    return out


def ndcg(encode: Encode, data) -> float:  # noqa: ANN001
    from datamill.incontext import score_run
    from datamill.incontext._base import _search_text
    from datamill.incontext.dense import _exact_top

    qids = [q for q in data.qrels if q in data.queries]
    docs = encode([_search_text(c) for c in data.corpus])
    qv = encode([data.queries[q] for q in qids])
    top = _exact_top(np.asarray(docs, dtype=np.float32), np.asarray(qv, dtype=np.float32), 100)
    run = {q: [data.corpus[i].id for i, _ in row] for q, row in zip(qids, top, strict=True)}
    return score_run(run, data.qrels)[0]["ndcg@10"]


def timed(
    eng: dict[str, Encode], texts: list[str], size: int
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Seconds per engine over all slices, and per slice."""
    names = list(eng)
    total = dict.fromkeys(names, 0.0)
    per: list[dict[str, float]] = []
    for k, start in enumerate(range(0, len(texts), size)):
        part, row = texts[start : start + size], {}
        for name in names[k % len(names) :] + names[: k % len(names)]:
            t0 = time.perf_counter()
            eng[name](part)
            row[name] = time.perf_counter() - t0
            total[name] += row[name]
        per.append(row)
    return total, per


def default_sets() -> list[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    extra = sorted(glob.glob(os.path.join(here, "data", "beir", "*", "corpus.jsonl")))
    return [str(resources.files("datamill") / "data" / "beir_selfinstruct"), *map(os.path.dirname, extra)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("beir", nargs="*")
    ap.add_argument("--texts", type=int, default=2000)
    ap.add_argument("--slice", type=int, default=250)
    ap.add_argument("--no-speed", action="store_true", help="nDCG@10 only")
    ap.add_argument(
        "--engines", default="", help="only engines whose names contain one of these comma-separated parts"
    )
    ap.add_argument("--no-openvino", action="store_true", help="without the OpenVINO rows")
    args = ap.parse_args()
    import torch

    from datamill.embed._onnx import default_threads
    from datamill.incontext import load_beir

    sets = {os.path.basename(os.path.normpath(b)): load_beir(b) for b in args.beir or default_sets()}
    base = [c.text for d in sets.values() for c in d.corpus]
    texts = [f"{base[i % len(base)]} ({i // len(base)})" for i in range(args.texts)]
    threads = default_threads()
    eng = engines(threads, openvino=not args.no_openvino)
    if args.engines:
        parts = [p for p in args.engines.split(",") if p]
        eng = {k: v for k, v in eng.items() if k == REF or any(p in k for p in parts)}
    for enc in eng.values():  # warm up: export, quantise, distill, load, first calls
        enc(texts[:64])
    print(
        f"{len(texts):,} texts ({', '.join(sets)}), {np.mean([len(t.split()) for t in texts]):.0f} words on "
        f"average; threads: torch {torch.get_num_threads()}, onnxruntime and openvino {threads}; "
        f"load {os.getloadavg()[0]:.1f}"
    )
    total, per = (
        timed(eng, texts, args.slice) if not args.no_speed else (dict.fromkeys(eng, float("nan")), [])
    )
    quality = {name: {s: ndcg(enc, d) for s, d in sets.items()} for name, enc in eng.items()}
    print(
        f"{'engine':34s} {'docs/s':>8s} {'x ST':>6s} {'per slice':>12s}  "
        + "  ".join(f"nDCG@10 {s} (x ST)" for s in sets)
    )
    for name in eng:
        ratios = [row[REF] / row[name] for row in per] or [float("nan")]
        nd = "  ".join(
            f"{quality[name][s]:.4f} ({quality[name][s] / quality[REF][s] if REF in quality else float('nan'):.3f})"
            for s in sets
        )
        print(
            f"{name:34s} {len(texts) / total[name]:8,.1f} {total.get(REF, float('nan')) / total[name]:6.2f} "
            f"{min(ratios):5.2f}-{max(ratios):<6.2f}  {nd}"
        )
    print(
        f"load after: {os.getloadavg()[0]:.1f}. sentence-transformers truncates at 256 tokens; "
        "'128 tok' truncates at the 128 word pieces MiniLM was trained on"
    )


if __name__ == "__main__":
    main()
