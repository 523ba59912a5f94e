"""Contradiction detectors side by side: the lexical rules, a bag-of-words baseline and the two models.

1. Held-out NLI pairs (SNLI 1.0 test, MultiNLI mismatched sample; never trained on): precision, recall and F1
   of "contradiction" for the rules, a scikit-learn bag-of-words logistic regression trained on the same
   pairs as the models (threshold tuned the same way), the learned detector (MiniLM pair features) and the
   cross-encoder (``--cross`` weights written by ``scripts/train_cross_encoder.py``; none ship yet).
2. Passage sets from CLIMATE-FEVER (claims with Wikipedia evidence labelled SUPPORTS / REFUTES by
   annotators): how often a set holding both a supporting and a refuting passage is flagged, against a set
   whose passages all support the claim (rates and their ratio, per detector). Two builds: the labelled
   passages only (S + R), and all five retrieved passages (NOT_ENOUGH_INFO ones too).
3. Speed: scoring a 20-passage context (60 sentences) on one thread: each model's candidate selection and
   scoring with the per-sentence encodings at hand, and the per-sentence encoding apart.

    nice -n 5 python benchmarks/diagnose_contradictions.py [--repeats 20] [--vectors CACHE.npz] [--cross M.npz]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one core, as the issue asks
    os.environ.setdefault(_var, "1")
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "nli"
sys.path.insert(0, str(ROOT / "scripts"))

from train_contradiction_model import CLASSES, HELD_OUT, TRAIN, best_threshold, load_pairs, prf  # noqa: E402

from datamill.diagnose import (  # noqa: E402
    find_contradictions,
    load_contradiction_model,
    load_cross_encoder,
    scan_contradictions,
)
from datamill.diagnose.contradictions import _statements  # noqa: E402


def _bow_baseline(train: list[dict], held: dict[str, list[dict]], seed: int) -> dict[str, dict]:
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = CountVectorizer(binary=True, ngram_range=(1, 2), min_df=2)
    vec.fit([r["premise"] for r in train] + [r["hypothesis"] for r in train])

    def x(rows: list[dict]):  # noqa: ANN202
        p, h = vec.transform([r["premise"] for r in rows]), vec.transform([r["hypothesis"] for r in rows])
        return hstack([p, h, p.multiply(h)]).tocsr()

    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(train))
    n_val = len(train) // 10
    val, fit = [train[i] for i in perm[:n_val]], [train[i] for i in perm[n_val:]]
    clf = LogisticRegression(max_iter=2000, C=0.5)
    clf.fit(x(fit), [CLASSES.index(r["label"]) for r in fit])
    yv = np.array([CLASSES.index(r["label"]) for r in val])
    cut = best_threshold(clf.predict_proba(x(val))[:, 0], yv == 0)
    out = {}
    for name, rows in held.items():
        y = np.array([CLASSES.index(r["label"]) for r in rows])
        out[name] = prf(clf.predict_proba(x(rows))[:, 0] >= cut, y == 0)
    return out


def _cross_probs(cross, name: str, rows: list[dict], cache: Path | None) -> np.ndarray:  # noqa: ANN001
    """P(contradiction) of the cross-encoder on ``rows`` (premise first), kept in ``cache`` by weights."""
    import hashlib

    key = hashlib.sha1(json.dumps([cross.info.get("held_out"), cross.threshold, name]).encode()).hexdigest()[
        :12
    ]
    path = cache / f"cross-{name}-{key}.npy" if cache else None
    if path is not None and path.exists():
        return np.load(path)
    probs = cross.score([(r["premise"], r["hypothesis"]) for r in rows])
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, probs)
    return probs


def _share(emb: _Cached, cross, texts: list[str]) -> None:  # noqa: ANN001
    """Encode ``texts`` once: the cross-encoder's per-sentence pass gives the MiniLM vectors too."""
    if cross is None:
        return
    cross.encode([t for t in dict.fromkeys(texts) if t not in emb.memo or t not in cross.memo])
    emb.memo.update({t: cross.memo[t][0] for t in texts})


def nli_table(seed: int, emb: _Cached, cross, cache: Path | None, pairs: int) -> None:  # noqa: ANN001
    train = [r for n in TRAIN for r in load_pairs(n)]
    held = {n: load_pairs(n)[: pairs or None] for n in HELD_OUT}
    model = load_contradiction_model()
    texts = list(
        dict.fromkeys(t for rows in held.values() for r in rows for t in (r["premise"], r["hypothesis"]))
    )
    _share(emb, cross, texts)
    vec = dict(zip(texts, emb.encode(texts), strict=True))
    bow = _bow_baseline(train, held, seed)
    print("\n1. contradiction on held-out NLI pairs (precision / recall / F1)")
    heads = ("rules", "bag-of-words", "learned (pair features)", "cross-encoder")[: 3 + (cross is not None)]
    print(f"{'set':<20}{'pairs':>6}" + "".join(f"{h:>25}" for h in heads))
    for name, rows in held.items():
        gold = np.array([r["label"] == "contradiction" for r in rows])
        rules = np.array([bool(find_contradictions([r["premise"], r["hypothesis"]])) for r in rows])
        u = np.stack([vec[r["premise"]] for r in rows])
        v = np.stack([vec[r["hypothesis"]] for r in rows])
        learned = model.score(u, v) >= model.threshold
        cells = [prf(rules, gold), bow[name], prf(learned, gold)]
        if cross is not None:
            cells.append(prf(_cross_probs(cross, name, rows, cache) >= cross.threshold, gold))
        print(
            f"{name:<20}{len(rows):>6}"
            + "".join(f"{c['precision']:.3f}/{c['recall']:.3f}/{c['f1']:.3f}".rjust(25) for c in cells)
        )


def claim_sets(*, all_five: bool) -> tuple[list[list[str]], list[list[str]]]:
    """(sets with a supporting and a refuting passage, sets whose labelled passages all support)."""
    with gzip.open(DATA / "climate_fever.jsonl.gz", "rt", encoding="utf-8") as fh:
        claims = [json.loads(line) for line in fh]
    mixed, support = [], []
    for c in claims:
        labels = [e["label"] for e in c["evidences"]]
        keep = [e["evidence"] for e in c["evidences"] if all_five or e["label"] != "NOT_ENOUGH_INFO"]
        if "SUPPORTS" in labels and "REFUTES" in labels:
            mixed.append(keep)
        elif "REFUTES" not in labels and labels.count("SUPPORTS") >= 2:
            support.append(keep)
    return mixed, support


def factcheck_table(emb: _Cached, cross, builds: list[bool]) -> None:  # noqa: ANN001
    print("\n2. CLIMATE-FEVER passage sets flagged as contradictory")
    print(f"{'build':<14}{'detector':<13}{'mixed S+R':>18}{'all support':>18}{'ratio':>8}")
    for all_five in builds:
        mixed, support = claim_sets(all_five=all_five)
        _share(emb, cross, [st.text for ctx in mixed + support for st in _statements(ctx, 300)])
        for det in ("rules", "learned", "combined", *(("cross", "rules+cross") if cross else ())):
            rates = []
            for sets in (mixed, support):
                found = scan_contradictions(
                    {str(i): s for i, s in enumerate(sets)},
                    detector=det,
                    embedder=emb,
                    weights=cross if "cross" in det else None,
                ).found
                rates.append((len(found) / len(sets), len(found), len(sets)))
            ratio = rates[0][0] / rates[1][0] if rates[1][0] else float("inf")
            print(
                f"{'all five' if all_five else 'S + R only':<14}{det:<13}"
                + "".join(f"{r:>8.1%} ({k:>3}/{n:>3})" for r, k, n in rates)
                + f"{ratio:>7.1f}x"
            )


class _Cached:
    """The shipped MiniLM remembering its vectors (kept in ``path`` between runs), so every detector run
    embeds a sentence once and scoring can be timed apart from embedding."""

    def __init__(self, path: Path | None) -> None:
        self.memo: dict[str, np.ndarray] = {}
        self.path, self.name, self._inner = path, "cached-minilm", None
        if path is not None and path.exists():
            with np.load(path) as z:
                self.memo = dict(zip(json.loads(z["texts"].tobytes().decode()), z["vecs"], strict=True))

    def encode(self, texts, batch_size=64):  # noqa: ANN001, ANN201
        new = list(dict.fromkeys(t for t in texts if t not in self.memo))
        if new:
            if self._inner is None:
                from datamill.embed import get_embedder

                self._inner = get_embedder()
            for t, v in zip(new, self._inner.encode(new, batch_size=batch_size), strict=True):
                self.memo[t] = v
        return np.stack([self.memo[t] for t in texts]) if texts else np.zeros((0, 384), dtype=np.float32)

    def save(self) -> None:
        if self.path is not None and self.memo:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            texts = list(self.memo)
            np.savez(
                self.path,
                texts=np.frombuffer(json.dumps(texts).encode(), dtype=np.uint8),
                vecs=np.stack([self.memo[t] for t in texts]),
            )


def speed_table(repeats: int, emb: _Cached, cross) -> None:  # noqa: ANN001
    import torch

    torch.set_num_threads(1)
    mixed, support = claim_sets(all_five=True)
    rng = random.Random(0)
    pool = mixed + support
    contexts = []
    for _ in range(repeats):
        # 20 passages of three evidence sentences each: the five retrieved for each of 12 claims
        sents = [s.rstrip(".") + "." for group in rng.sample(pool, 12) for s in group][:60]
        contexts.append([" ".join(sents[3 * i : 3 * i + 3]) for i in range(20)])
    t: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        t.setdefault(key, []).append(value)

    for ctx in contexts:
        sentences = list({st.text: 0 for st in _statements(ctx, 300)})
        fresh = _Cached(None)  # first sight: every sentence embedded (one thread)
        t0 = time.perf_counter()
        fresh.encode(sentences)
        add("embed", time.perf_counter() - t0)
        emb.memo.update(fresh.memo)
        if cross is not None:
            for s in sentences:
                cross.memo.pop(s, None)
            t0 = time.perf_counter()
            cross.encode(sentences)
            add("cross_encode", time.perf_counter() - t0)
        for det, w in (("rules+learned", None), *((("rules+cross", cross),) if cross else ())):
            c0 = time.process_time()
            scan = scan_contradictions({"c": ctx}, detector=det, embedder=emb, weights=w)  # encodings at hand
            add(f"{det} cpu", time.process_time() - c0)
            add(f"{det} wall", scan.seconds["total"])
            add(f"{det} pairs", scan.pairs_scored)
        add("rules", scan.seconds["rules"])
    med = {k: statistics.median(v) for k, v in t.items()}
    load = os.getloadavg()[0]
    print(
        f"\n3. one 20-passage context (60 sentences), one thread, median of {repeats} (load average {load:.1f})"
    )
    for det in ("rules+learned", *(("rules+cross",) if cross else ())):
        print(
            f"   {det:<14} encodings at hand: {med[det + ' wall'] * 1e3:7.1f} ms wall, "
            f"{med[det + ' cpu'] * 1e3:7.1f} ms CPU ({med[det + ' pairs']:.0f} candidate pairs)"
        )
    print(f"     of which the rules:                      {med['rules'] * 1e3:7.1f} ms")
    print(f"   first sight, MiniLM sentence vectors:       {med['embed'] * 1e3:7.1f} ms")
    print(
        f"   first sight, cross-encoder per-sentence pass: {med['cross_encode'] * 1e3:7.1f} ms (gives the vectors too)"
    )


def planted_table(emb: _Cached, cross) -> None:  # noqa: ANN001
    """Contexts of the planted-cause fixture flagged by each detector: planted contradictions found, and
    contexts flagged that were planted without one (false contradictions a detector adds)."""
    from datamill.diagnose import make_planted

    fx = make_planted(seed=0)
    ctx = {r["id"]: r["contexts"] for r in fx.results if r.get("contexts")}
    gold = fx.planted["contradictory_context"] & set(ctx)
    print(f"\n4. planted-cause fixture (seed 0): {len(ctx)} contexts, {len(gold)} planted contradictory")
    for det in ("rules", "rules+learned", *(("rules+cross",) if cross else ())):
        found = set(
            scan_contradictions(
                ctx, detector=det, embedder=emb, weights=cross if "cross" in det else None
            ).found
        )
        print(
            f"   {det:<14} planted found {len(found & gold):>3}/{len(gold)}, false contexts flagged {len(found - gold)}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--only", choices=["nli", "factcheck", "speed", "planted"], help="run one part")
    ap.add_argument(
        "--vectors", default="/tmp/datamill-nli-cache/bench-vectors.npz", help="sentence vector cache"
    )
    ap.add_argument("--cross", default=None, help="cross-encoder weights (scripts/train_cross_encoder.py)")
    ap.add_argument("--nli-pairs", type=int, default=0, help="first N pairs of each held-out split (0: all)")
    ap.add_argument("--labelled-only", action="store_true", help="CLIMATE-FEVER: the S + R build only")
    a = ap.parse_args()
    emb = _Cached(Path(a.vectors) if a.vectors else None)
    cross = load_cross_encoder(a.cross) if a.cross else None
    cache = Path(a.vectors).parent if a.vectors else None
    try:
        if a.only in (None, "nli"):
            nli_table(a.seed, emb, cross, cache, a.nli_pairs)
        if a.only in (None, "factcheck"):
            factcheck_table(emb, cross, [False] if a.labelled_only else [False, True])
        if a.only in (None, "planted"):
            planted_table(emb, cross)
    finally:
        emb.save()
    if a.only in (None, "speed"):
        speed_table(a.repeats, emb, cross)


if __name__ == "__main__":
    main()
