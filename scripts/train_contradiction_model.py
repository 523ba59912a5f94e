"""Train the learned contradiction detector shipped in ``src/datamill/data/contradiction/``.

Data (public samples in ``tests/data/nli``, see tests/data/README.md): SNLI 1.0 dev + 1,000 MultiNLI matched
pairs to train on; SNLI 1.0 test + 1,000 MultiNLI mismatched pairs held out. Each sentence is embedded once
with the shipped all-MiniLM-L6-v2 (offline) and a small network (scikit-learn MLP, one hidden layer) learns
entailment / neutral / contradiction from the symmetric pair features of ``datamill.diagnose.nli``, with
``--unrelated`` extra pairs of two different training premises labelled neutral (see ``unrelated_pairs``). The decision threshold on P(contradiction) is the one with the best
F1 among those keeping precision >= 0.6 on a 10% validation part of the training pairs (a context flagged
for nothing costs the reader more than a contradiction missed). The held-out scores are printed and kept in the model.

    python scripts/train_contradiction_model.py            # writes the shipped weights
    python scripts/train_contradiction_model.py --out /tmp/model.npz --hidden 128
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from datamill.diagnose.nli import ContradictionModel, pair_features

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "nli"
OUT = ROOT / "src" / "datamill" / "data" / "contradiction" / "contradiction_minilm.npz"
CLASSES = ["contradiction", "entailment", "neutral"]
TRAIN = ("snli_dev", "mnli_matched_1k")
HELD_OUT = ("snli_test", "mnli_mismatched_1k")


def load_pairs(name: str) -> list[dict]:
    with gzip.open(DATA / f"{name}.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [r for r in map(json.loads, fh) if r["label"] in CLASSES]


def claim_half(claim_id: str) -> int:
    """Which half of the CLIMATE-FEVER claims a claim is in (by hash of its id): 0 may be trained and tuned
    on (the claim-aware stance threshold, the stance training pairs), 1 is only ever reported on."""
    return int(hashlib.sha1(str(claim_id).encode()).hexdigest(), 16) % 2


STANCE = {"REFUTES": "contradiction", "SUPPORTS": "entailment", "NOT_ENOUGH_INFO": "neutral"}


def load_claims(half: int | None = None) -> list[dict]:
    """CLIMATE-FEVER claims (``claim_id, claim, claim_label, evidences``), all or one :func:`claim_half`."""
    with gzip.open(DATA / "climate_fever.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    return [r for r in rows if half is None or claim_half(r["claim_id"]) == half]


def claim_pairs(half: int = 0) -> list[dict]:
    """Claim/evidence pairs of one half of CLIMATE-FEVER as NLI pairs: the evidence is the premise, the claim
    the hypothesis; REFUTES -> contradiction, SUPPORTS -> entailment, NOT_ENOUGH_INFO -> neutral."""
    return [
        {"premise": e["evidence"], "hypothesis": r["claim"], "label": STANCE[e["label"]]}
        for r in load_claims(half)
        for e in r["evidences"]
    ]


def embed(texts: list[str], cache_dir: Path | None) -> dict[str, np.ndarray]:
    """Embeddings of ``texts`` (unique), cached on disk by the hash of the text list."""
    from datamill.embed import get_embedder

    uniq = sorted(set(texts))
    key = hashlib.sha1("\x1f".join(uniq).encode()).hexdigest()[:16]
    path = cache_dir / f"minilm-{key}.npy" if cache_dir else None
    if path is not None and path.exists():
        vecs = np.load(path)
    else:
        vecs = get_embedder().encode(uniq, batch_size=128)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, vecs)
    return dict(zip(uniq, vecs, strict=True))


def vectors(rows: list[dict], vec: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(premise vectors, hypothesis vectors, class indices) of ``rows``."""
    u = np.stack([vec[r["premise"]] for r in rows])
    v = np.stack([vec[r["hypothesis"]] for r in rows])
    return u, v, np.array([CLASSES.index(r["label"]) for r in rows])


def unrelated_pairs(
    rows: list[dict], vec: dict[str, np.ndarray], n: int, rng: np.random.Generator
) -> list[dict]:
    """``n`` pairs of two different premises, labelled neutral: half a premise and one of its 20 most similar
    others (same subject, other facts), half a premise and a random one. NLI sets have no such pairs, so a
    model trained on them alone takes "about something else" for "contradiction"; in a RAG context that
    is the common case and must not be flagged."""
    prem = sorted({r["premise"] for r in rows})
    mat = np.stack([vec[t] for t in prem])
    out = []
    for k, i in enumerate(rng.choice(len(prem), size=n, replace=len(prem) < n)):
        if k % 2 == 0:
            sims = mat @ mat[i]
            near = [int(j) for j in np.argsort(-sims)[1:21] if sims[j] < 0.95]
            j = int(rng.choice(near)) if near else int(rng.integers(len(prem)))
        else:
            j = int(rng.integers(len(prem)))
        if j != i:
            out.append({"premise": prem[i], "hypothesis": prem[j], "label": "neutral"})
    return out


def prf(pred: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    tp = int((pred & gold).sum())
    p = tp / max(int(pred.sum()), 1)
    r = tp / max(int(gold.sum()), 1)
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / max(p + r, 1e-9), 4)}


def best_threshold(prob: np.ndarray, gold: np.ndarray, min_precision: float = 0.0) -> float:
    """The threshold with the best F1 among those with at least ``min_precision`` (any, if none has)."""
    grid = np.round(np.arange(0.1, 0.95, 0.01), 2)
    ok = [t for t in grid if prf(prob >= t, gold)["precision"] >= min_precision] or list(grid)
    return float(max(ok, key=lambda t: prf(prob >= t, gold)["f1"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--alpha", type=float, default=1e-3, help="L2 penalty of the MLP")
    ap.add_argument("--cache", default="/tmp/datamill-nli-cache", help="embedding cache folder ('' for none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--unrelated", type=int, default=4000, help="neutral pairs of two different premises")
    ap.add_argument(
        "--min-precision",
        type=float,
        default=0.7,
        help="precision the threshold keeps on the validation part",
    )
    a = ap.parse_args()
    from sklearn.neural_network import MLPClassifier

    t0 = time.perf_counter()
    train = [r for n in TRAIN for r in load_pairs(n)]
    held = {n: load_pairs(n) for n in HELD_OUT}
    texts = [t for rows in [train, *held.values()] for r in rows for t in (r["premise"], r["hypothesis"])]
    vec = embed(texts, Path(a.cache) if a.cache else None)
    print(f"embedded {len(vec):,} sentences in {time.perf_counter() - t0:.0f} s")
    rng = np.random.default_rng(a.seed)
    perm = rng.permutation(len(train))
    n_val = len(train) // 10
    val = [train[i] for i in perm[:n_val]]
    fit = [train[i] for i in perm[n_val:]]
    fit += unrelated_pairs(fit, vec, a.unrelated, rng)
    u, v, y = vectors(fit, vec)
    x = pair_features(u, v)
    clf = MLPClassifier(
        hidden_layer_sizes=(a.hidden,),
        alpha=a.alpha,
        early_stopping=True,
        validation_fraction=0.1,
        max_iter=200,
        random_state=a.seed,
    )
    clf.fit(x, y)
    layers = [
        (w.astype(np.float32), b.astype(np.float32)) for w, b in zip(clf.coefs_, clf.intercepts_, strict=True)
    ]
    model = ContradictionModel(layers, CLASSES, 0.5, {})
    uv, vv, yv = vectors(val, vec)
    pv = model.score(uv, vv)
    threshold = best_threshold(pv, yv == 0, a.min_precision)
    model.threshold = threshold
    scores = {}
    for name, rows in held.items():
        uh, vh, yh = vectors(rows, vec)
        ph = model.probabilities(uh, vh)
        scores[name] = {
            **prf(ph[:, 0] >= threshold, yh == 0),
            "accuracy_3way": round(float((ph.argmax(1) == yh).mean()), 4),
            "pairs": len(rows),
        }
        print(f"{name}: {scores[name]}")
    model.info = {
        "embedder": "all-MiniLM-L6-v2",
        "features": "u+v, |u-v|, u*v",
        "hidden": a.hidden,
        "alpha": a.alpha,
        "trained_on": {n: sum(1 for _ in load_pairs(n)) for n in TRAIN},
        "unrelated_neutral_pairs": a.unrelated,
        "threshold_from": f"best contradiction F1 with precision >= {a.min_precision} on a 10% validation part",
        "held_out": scores,
        "script": "scripts/train_contradiction_model.py",
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    model.save(a.out)
    print(f"threshold {threshold:.2f}; wrote {a.out} ({Path(a.out).stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
