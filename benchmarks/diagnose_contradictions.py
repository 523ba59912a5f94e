"""Contradiction detectors side by side: the lexical rules, a bag-of-words baseline and the two models.

1. Held-out NLI pairs (SNLI 1.0 test, MultiNLI mismatched sample; never trained on): precision, recall and F1
   of "contradiction" for the rules, a scikit-learn bag-of-words logistic regression trained on the same
   pairs as the models (threshold tuned the same way), the learned detector (MiniLM pair features) and the
   cross-encoder (``--cross`` weights written by ``scripts/train_cross_encoder.py``; none ship yet).
2. Passage sets from CLIMATE-FEVER (claims with Wikipedia evidence labelled SUPPORTS / REFUTES by
   annotators): how often a set holding both a supporting and a refuting passage is flagged, against a set
   whose passages all support the claim (rates and their ratio, per detector). Two builds: the labelled
   passages only (S + R), and all five retrieved passages (NOT_ENOUGH_INFO ones too).
   2b. The same with the claim given (claim-aware mode: one passage supports the claim, another refutes
   it): the stance thresholds are tuned on half 0 of the claims (``claim_half``, by hash of the claim id)
   and reported on half 1 only, with 95% Wilson intervals of each rate; ``--write-stance M.npz`` keeps the
   tuned thresholds in a learned model's metadata (the shipped one: src/datamill/data/contradiction/).
3. Speed: scoring a 20-passage context (60 sentences) on one thread: each model's candidate selection and
   scoring with the per-sentence encodings at hand, and the per-sentence encoding apart.

    nice -n 5 python benchmarks/diagnose_contradictions.py [--repeats 20] [--vectors CACHE.npz] [--cross M.npz]
    nice -n 5 python benchmarks/diagnose_contradictions.py --only claims      # 2b alone
"""

from __future__ import annotations

import argparse
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

from train_contradiction_model import (  # noqa: E402
    CLASSES,
    HELD_OUT,
    TRAIN,
    best_threshold,
    load_claims,
    load_pairs,
    prf,
)

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


def nli_table(seed: int, emb: _Cached, cross, cache: Path | None, pairs: int, stance=None) -> None:  # noqa: ANN001
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
    heads = ["rules", "bag-of-words", "learned (pair features)"]
    heads += ["cross-encoder"] if cross is not None else []
    heads += ["stance model"] if stance is not None else []
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
        if stance is not None:  # premise, hypothesis as in NLI (claim-aware mode: statement, claim)
            ps = stance.score([(r["premise"], r["hypothesis"]) for r in rows])
            cells.append(prf(ps >= stance.threshold, gold))
        print(
            f"{name:<20}{len(rows):>6}"
            + "".join(f"{c['precision']:.3f}/{c['recall']:.3f}/{c['f1']:.3f}".rjust(25) for c in cells)
        )


def claim_sets(*, all_five: bool, half: int | None = None, with_claim: bool = False) -> tuple[list, list]:
    """(sets with a supporting and a refuting passage, sets whose labelled passages all support); each set
    a list of passages, or ``(claim, passages)`` with ``with_claim``; ``half``: one :func:`claim_half` only."""
    mixed, support = [], []
    for c in load_claims(half):
        labels = [e["label"] for e in c["evidences"]]
        keep = [e["evidence"] for e in c["evidences"] if all_five or e["label"] != "NOT_ENOUGH_INFO"]
        item = (c["claim"], keep) if with_claim else keep
        if "SUPPORTS" in labels and "REFUTES" in labels:
            mixed.append(item)
        elif "REFUTES" not in labels and labels.count("SUPPORTS") >= 2:
            support.append(item)
    return mixed, support


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a rate k/n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / (1 + z * z / n)
    return max(0.0, mid - half), min(1.0, mid + half)


def _stance_probs(model, emb: _Cached, sets: list) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:  # noqa: ANN001
    """Per set: (P(entailment), P(contradiction)) of each statement toward the claim, and its group (the
    passage), as the claim-aware mode of scan_contradictions computes them."""
    from datamill.diagnose.nli import ContradictionModel
    from datamill.diagnose.scan import _groups

    out = []
    con, ent = model.classes.index("contradiction"), model.classes.index("entailment")
    for claim, passages in sets:
        ss = _statements(passages, 300)
        if len(ss) < 2:
            out.append((np.zeros(0), np.zeros(0), np.zeros(0)))
            continue
        if isinstance(model, ContradictionModel):
            u = emb.encode([s.text for s in ss])
            u = u / np.linalg.norm(u, axis=1, keepdims=True)
            v = emb.encode([claim]) / np.linalg.norm(emb.encode([claim]))
            p = model.probabilities(u, np.repeat(v, len(ss), axis=0))
        else:
            p = model.probabilities([(s.text, claim) for s in ss])
        out.append((p[:, ent], p[:, con], _groups(ss)))
    return out


def _flagged(probs: list, support: float, refute: float) -> int:
    """Sets with a statement refuting the claim and one of another passage supporting it."""
    n = 0
    for pe, pc, g in probs:
        ref = pc >= refute
        sup = pe >= support
        if ref.any() and sup.any() and any((g[sup] != x).any() for x in g[ref]):
            n += 1
    return n


def tune_stance(model, emb: _Cached, min_flagged: float = 0.2) -> tuple[float, float, dict]:  # noqa: ANN001
    """Support / refute thresholds from half 0 of the claims only (S + R build): the pair with the highest
    ratio of flag rates (mixed over all-support, one set added to the all-support count so a lucky zero does
    not win) among those flagging at least ``min_flagged`` of the mixed sets."""
    mixed, support = claim_sets(all_five=False, half=0, with_claim=True)
    pm, ps = _stance_probs(model, emb, mixed), _stance_probs(model, emb, support)
    grid = np.round(np.arange(0.05, 1.0, 0.05), 2)
    best = None
    for ts in grid:
        for tr in grid:
            km, ks = _flagged(pm, ts, tr), _flagged(ps, ts, tr)
            if km < min_flagged * len(mixed):
                continue
            ratio = (km / len(mixed)) / ((ks + 1) / len(support))
            if best is None or ratio > best[0]:
                best = (
                    ratio,
                    float(ts),
                    float(tr),
                    {"mixed": [km, len(mixed)], "support": [ks, len(support)]},
                )
    if best is None:
        raise SystemExit("no stance thresholds flag enough mixed sets on the tuning half")
    return best[1], best[2], best[3]


def _prefill(model, states: str | None) -> None:  # noqa: ANN001
    """Fill a stance model's memo from a token state cache (scripts/train_stance_model.py --states)."""
    if not states or not Path(states).exists():
        return
    import torch

    from datamill.diagnose import stance

    cache = torch.load(states)
    stance.MEMO_TEXTS = max(stance.MEMO_TEXTS, len(cache) + 1000)  # keep them all while this run lasts
    for t, h in cache.items():
        h = h.float().numpy()
        v = h.mean(0)
        model.memo[t] = (v / np.linalg.norm(v), model.project(h))


def claims_table(emb: _Cached, stance_path: str | None, states: str | None, write: str | None) -> None:
    """2b: the claim-aware mode on the reported half of CLIMATE-FEVER, thresholds from the tuning half, for
    the pair-feature model and the stance model (shipped, or ``stance_path``)."""
    from datamill.diagnose import StanceModel

    claims = load_claims()
    texts = [t for c in claims for t in [c["claim"], *(e["evidence"] for e in c["evidences"])]]
    emb.encode([st.text for st in _statements(texts, 10**6)] + [c["claim"] for c in claims])
    models: list[tuple[str, object]] = [("pair features", load_contradiction_model())]
    stance = _stance_for(stance_path, states)
    if stance is not None:
        models.append(("stance model", stance))
    print(
        "\n2b. claim-aware mode (the claim given): thresholds tuned on half 0 of the claims, reported on "
        "half 1 (95% Wilson intervals)"
    )
    tuned_for = {}
    for label, model in models:
        ts, tr, tuned = tune_stance(model, emb)
        tuned_for[label] = (ts, tr, tuned)
        print(
            f"   {label}: support P(entailment) >= {ts:.2f}, refute P(contradiction) >= {tr:.2f} "
            f"(half 0, S + R: mixed {tuned['mixed'][0]}/{tuned['mixed'][1]}, all support "
            f"{tuned['support'][0]}/{tuned['support'][1]})"
        )
    for label, model in models[1:]:
        d = model.info.get("stance_thresholds", {})
        print(
            f"   {label}, defaults: support >= {d.get('support')}, refute >= {d.get('refute')} ({d.get('from')})"
        )
    print(f"{'build':<12}{'detector':<36}{'mixed S+R':>30}{'all support':>30}{'ratio':>8}")
    for all_five in (False, True):
        mixed, support = claim_sets(all_five=all_five, half=1, with_claim=True)
        runs = [("rules", "rules", None)] + [
            (f"{det} ({label})", det, (label, model))
            for label, model in models
            for det in ("learned", "combined")
        ]
        runs += [  # the thresholds the models carry (the stance model's: from its NLI validation part)
            (f"combined ({label}, defaults)", "combined", (None, model)) for label, model in models[1:]
        ]
        for name, det, which in runs:
            counts = []
            for sets in (mixed, support):
                extra = {}
                if which is not None and which[0] is None:
                    extra = {"weights": which[1]}
                elif which is not None:
                    ts, tr, _ = tuned_for[which[0]]
                    extra = {"weights": which[1], "support_threshold": ts, "refute_threshold": tr}
                found = scan_contradictions(
                    {str(i): p for i, (_, p) in enumerate(sets)},
                    claim={str(i): c for i, (c, _) in enumerate(sets)},
                    detector=det,
                    embedder=emb,
                    **extra,
                ).found
                counts.append((len(found), len(sets)))
            cells = []
            for k, n in counts:
                lo, hi = wilson(k, n)
                cells.append(f"{k / n:6.1%} ({k:>3}/{n:>3}) [{lo:4.0%},{hi:4.0%}]")
            rm, rs = counts[0][0] / counts[0][1], counts[1][0] / counts[1][1]
            ratio = f"{rm / rs:7.1f}x" if rs else ("    inf" if rm else "      -")
            print(
                f"{'all five' if all_five else 'S + R only':<12}{name:<36}"
                + "".join(f"{c:>30}" for c in cells)
                + ratio
            )
    if write:
        ts, tr, tuned = tuned_for["stance model"]
        target = StanceModel.load(write)
        target.info["stance_thresholds"] = {
            "support": ts,
            "refute": tr,
            "from": "benchmarks/diagnose_contradictions.py tune_stance: CLIMATE-FEVER claim_half 0, S + R sets",
            "tuning_half": tuned,
        }
        target.save(write)
        print(f"   wrote the stance thresholds into {write}")


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


def speed_table(repeats: int, emb: _Cached, cross, stance) -> None:  # noqa: ANN001
    import torch

    torch.set_num_threads(1)
    mixed, support = claim_sets(all_five=True, with_claim=True)
    rng = random.Random(0)
    pool = mixed + support
    contexts, claims = [], []
    for _ in range(repeats):
        # 20 passages of three evidence sentences each: the five retrieved for each of 12 claims
        groups = rng.sample(pool, 12)
        sents = [s.rstrip(".") + "." for _, group in groups for s in group][:60]
        contexts.append([" ".join(sents[3 * i : 3 * i + 3]) for i in range(20)])
        claims.append(groups[0][0])
    t: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        t.setdefault(key, []).append(value)

    for ctx, claim in zip(contexts, claims, strict=True):
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
        if stance is not None:  # claim-aware mode: the stance model's own MiniLM pass, then the scoring
            for x in [*sentences, claim]:
                stance.memo.pop(x, None)
            t0 = time.perf_counter()
            stance.encode([*sentences, claim])
            add("stance_encode", time.perf_counter() - t0)
            c0 = time.process_time()
            scan = scan_contradictions({"c": ctx}, claim=claim, detector="rules+learned", weights=stance)
            add("claim cpu", time.process_time() - c0)
            add("claim wall", scan.seconds["total"])
            add("claim pairs", scan.pairs_scored)
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
    if stance is not None:
        print(
            f"   rules+learned, claim given (stance model), encodings at hand: {med['claim wall'] * 1e3:7.1f} ms "
            f"wall, {med['claim cpu'] * 1e3:7.1f} ms CPU ({med['claim pairs']:.0f} statement-claim pairs)"
        )
    print(f"     of which the rules:                      {med['rules'] * 1e3:7.1f} ms")
    print(f"   first sight, MiniLM sentence vectors:       {med['embed'] * 1e3:7.1f} ms")
    if stance is not None:
        print(f"   first sight, stance model token pass:       {med['stance_encode'] * 1e3:7.1f} ms")
    if cross is not None:
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


def _stance_for(path: str | None, states: str | None):  # noqa: ANN202
    """The stance model measured (``path``, else the shipped one), its memo filled from ``states``."""
    from datamill.diagnose import StanceModel

    try:
        model = StanceModel.load(path) if path else StanceModel.load(_shipped_stance())
    except (OSError, ValueError) as exc:
        print(f"   (no stance model: {exc})")
        return None
    _prefill(model, states)
    return model


def _shipped_stance() -> Path:
    return ROOT / "src" / "datamill" / "data" / "contradiction" / "stance_minilm.npz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--only", choices=["nli", "factcheck", "claims", "speed", "planted"], help="run one part")
    ap.add_argument(
        "--stance", default=None, help="a stance model (scripts/train_stance_model.py) to measure"
    )
    ap.add_argument(
        "--states",
        default="/tmp/datamill-nli-cache/stance-states.pt",
        help="token state cache of the stance model (as scripts/train_stance_model.py keeps it)",
    )
    ap.add_argument(
        "--write-stance",
        default=None,
        metavar="M.npz",
        help="keep the stance model's claim-aware thresholds tuned on half 0 in this file's metadata",
    )
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
            nli_table(a.seed, emb, cross, cache, a.nli_pairs, _stance_for(a.stance, a.states))
        if a.only in (None, "factcheck"):
            factcheck_table(emb, cross, [False] if a.labelled_only else [False, True])
        if a.only in (None, "claims"):
            claims_table(emb, a.stance, a.states, a.write_stance)
        if a.only in (None, "planted"):
            planted_table(emb, cross)
    finally:
        emb.save()
    if a.only in (None, "speed"):
        speed_table(a.repeats, emb, cross, _stance_for(a.stance, None))


if __name__ == "__main__":
    main()
