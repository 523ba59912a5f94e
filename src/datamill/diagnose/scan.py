"""Contradictions in many contexts at once: rules, the learned detector and a judge in one pass.

The statements of every context are embedded in one batch (each distinct sentence once), candidate pairs
about the same subject are picked per context, all candidates are scored by the learned model in one
matrix product, and the pairs left for the judge go to it in one batch (a
:class:`~datamill.diagnose.TeacherJudge` answers them concurrently, through its cache).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from datamill.diagnose.contradictions import (
    COMBINED,
    DETECTORS,
    Contradiction,
    _rule_pairs,
    _Statement,
    _statements,
)
from datamill.errors import ConfigError

__all__ = ["ContradictionScan", "scan_contradictions"]

_SINGLE = ("rules", "learned", "cross", "judge")


@dataclass
class ContradictionScan:
    """What a scan found: ``found[id]`` lists each context's contradictions (contexts with none left out)."""

    found: dict[str, list[Contradiction]]
    contexts: int
    statements: int
    detectors: list[str]
    pairs_scored: int = 0  # candidate pairs the learned model scored
    pairs_judged: int = 0  # pairs sent to the judge
    threshold: float | None = None
    claims: int = 0  # contexts scored against their claim (claim-aware mode)
    stance_thresholds: dict[str, float] | None = None  # claim-aware mode: support / refute
    seconds: dict[str, float] = field(default_factory=dict)
    judge_usage: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        """Counts: contexts scanned and flagged, contradictions by detector, timings."""
        by: dict[str, int] = {}
        for cs in self.found.values():
            for c in cs:
                by[c.detector] = by.get(c.detector, 0) + 1
        return {
            "contexts": self.contexts,
            "flagged": len(self.found),
            "contradictions": sum(len(v) for v in self.found.values()),
            "by_detector": dict(sorted(by.items())),
            "statements": self.statements,
            "pairs_scored": self.pairs_scored,
            "pairs_judged": self.pairs_judged,
            "detectors": self.detectors,
            "threshold": self.threshold,
            "claims": self.claims,
            "stance_thresholds": self.stance_thresholds,
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
            "judge_usage": self.judge_usage,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "found": {k: [asdict(c) for c in v] for k, v in self.found.items()},
        }


def _detectors(detector: str, judge: Any) -> list[str]:
    if not isinstance(detector, str) or not detector:
        raise ConfigError(
            f"detector must be one of {', '.join(DETECTORS)}, got {detector!r}", params="detector"
        )
    names = set(COMBINED) if detector == "combined" else set(detector.split("+"))
    bad = names - set(_SINGLE)
    if bad:
        raise ConfigError(
            f"unknown detector {detector!r}; allowed: {', '.join(DETECTORS)} or a sum such as rules+judge",
            params="detector",
        )
    if judge is not None:
        names.add("judge")  # a judge given is never silently unused
    elif "judge" in names:
        raise ConfigError(f"detector {detector!r} needs a judge (judge=)", params=("detector", "judge"))
    return [n for n in _SINGLE if n in names]


@contextmanager
def _timed(seconds: dict[str, float], phase: str) -> Iterator[None]:
    t = time.perf_counter()
    yield
    seconds[phase] = seconds.get(phase, 0.0) + time.perf_counter() - t


def _read(contexts: Any) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The passages of each context and the claims that came with them (rows' claim/question fields)."""
    if isinstance(contexts, dict):
        return {str(k): [v] if isinstance(v, str) else list(v) for k, v in contexts.items()}, {}
    from datamill.diagnose.inputs import read_contexts_and_claims

    return read_contexts_and_claims(contexts)


def _claims(claim: Any, ids: list[str], given: dict[str, str]) -> dict[str, str]:
    """Each context's claim: ``claim`` (one string for all, or ``{id: claim}``) over the rows' own."""
    if claim is None:
        out = dict(given)
    elif isinstance(claim, str):
        out = dict.fromkeys(ids, claim)
    elif isinstance(claim, Mapping):
        unknown = [str(k) for k in claim if str(k) not in set(ids)]
        if unknown:
            raise ConfigError(
                f"claim= names {len(unknown)} context id(s) not among the contexts, e.g. {unknown[0]!r}",
                params="claim",
            )
        out = {**given, **{str(k): v for k, v in claim.items()}}
    else:
        raise ConfigError(
            f"claim must be a string or a {{context id: claim}} mapping, got {type(claim).__name__}",
            params="claim",
        )
    bad = [k for k, v in out.items() if not isinstance(v, str)]
    if bad:
        raise ConfigError(f"the claim of context {bad[0]!r} is not a string", params="claim")
    return {k: v.strip() for k, v in out.items() if v.strip()}


def _bar(enabled: bool) -> Any:
    """A Rich progress bar over the contexts (drawn only when ``enabled``)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=True,
    )


def scan_contradictions(
    contexts: Any,
    *,
    claim: str | Mapping[str, str] | None = None,
    detector: str = "combined",
    judge: Callable[[str, str], bool] | None = None,
    embedder: Any = "all-MiniLM-L6-v2",
    weights: Any = None,
    threshold: float | None = None,
    support_threshold: float | None = None,
    refute_threshold: float | None = None,
    min_similarity: float = 0.5,
    max_neighbours: int = 5,
    cross_pairs: int = 4,
    numeric_overlap: float = 0.6,
    negation_overlap: float = 0.75,
    judge_overlap: float = 0.3,
    max_statements: int = 300,
    batch_size: int = 64,
    progress: bool = False,
    output: str | os.PathLike[str] | None = None,
) -> ContradictionScan:
    """Contradictions in each context of ``contexts`` (``{id: [passages]}``, rows or a JSONL path of
    ``{id, contexts}``); see :func:`~datamill.diagnose.find_contradictions` for the detector options.

    ``claim``: the claim or question of every context (one string) or of some (``{id: claim}``); rows
    read from a file or list bring their own in a ``claim``, ``question``, ``query`` or ``prompt`` field
    (``claim=`` wins). Contexts with a claim are checked in claim-aware mode (a passage supporting the
    claim and another refuting it); the others pairwise.

    ``output`` writes one JSONL row ``{id, contradictions}`` per flagged context; ``progress`` shows a bar.
    """
    names = _detectors(detector, judge)
    if not 0 <= min_similarity <= 1:
        raise ConfigError(
            f"min_similarity must be within [0, 1], got {min_similarity!r}", params="min_similarity"
        )
    if {"learned", "cross"} <= set(names) and isinstance(weights, str | os.PathLike):
        raise ConfigError(
            "weights= as a path names one model; with both learned and cross give a model object",
            params=("weights", "detector"),
        )
    if max_neighbours < 1:
        raise ConfigError(f"max_neighbours must be >= 1, got {max_neighbours!r}", params="max_neighbours")
    if cross_pairs < 1:
        raise ConfigError(f"cross_pairs must be >= 1, got {cross_pairs!r}", params="cross_pairs")
    for pname, value in (("support_threshold", support_threshold), ("refute_threshold", refute_threshold)):
        if value is not None and not 0 <= value <= 1:
            raise ConfigError(f"{pname} must be within [0, 1], got {value!r}", params=pname)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    ctx, given = _read(contexts)
    ids = list(ctx)
    claims = _claims(claim, ids, given)
    models = [n for n in ("learned", "cross") if n in names]
    if claims and not models and (support_threshold is not None or refute_threshold is not None):
        raise ConfigError(
            "support_threshold/refute_threshold apply to the model detectors (learned, cross) in "
            f"claim-aware mode; detector {detector!r} runs none",
            params=("support_threshold", "refute_threshold", "detector"),
        )
    if not claims and (support_threshold is not None or refute_threshold is not None):
        raise ConfigError(
            "support_threshold/refute_threshold apply only with a claim (claim= or a claim/question field)",
            params=("support_threshold", "refute_threshold", "claim"),
        )
    stmts = {k: _statements(ctx[k], max_statements) for k in ids}
    found: dict[str, dict[tuple[int, int], Contradiction]] = {k: {} for k in ids}
    undecided: dict[str, list[tuple[int, int]]] = {k: [] for k in ids}
    with _bar(progress) as bar:
        task = bar.add_task("rules", total=len(ids))
        with _timed(seconds, "rules"):
            for k in ids:
                rules, related = _rule_pairs(
                    stmts[k],
                    numeric_overlap=numeric_overlap,
                    negation_overlap=negation_overlap,
                    judge_overlap=judge_overlap if "judge" in names and (not models or k in claims) else None,
                )
                if "rules" in names:
                    found[k].update(rules)
                else:  # without the rules, what they would find is for the other detectors to decide
                    related = sorted([*related, *rules])
                undecided[k] = [p for p in related if p not in found[k]]
                bar.advance(task)
        scored, cut, stance = 0, None, None
        for model in models:
            bar.update(task, description=model, completed=0)
            n_scored, cut, stance = _learned(
                model,
                ids,
                stmts,
                claims,
                found,
                undecided,
                names,
                (bar, task),
                embedder=embedder,
                weights=weights,
                threshold=threshold,
                support_threshold=support_threshold,
                refute_threshold=refute_threshold,
                min_similarity=min_similarity,
                max_neighbours=max_neighbours,
                cross_pairs=cross_pairs,
                batch_size=batch_size,
                seconds=seconds,
            )
            scored += n_scored
    judged, usage = 0, None
    if "judge" in names and judge is not None:
        with _timed(seconds, "judge"):
            judged, usage = _judge(ids, stmts, found, undecided, judge)
    seconds["total"] = time.perf_counter() - t0
    out = {k: [found[k][p] for p in sorted(found[k])] for k in ids if found[k]}
    scan = ContradictionScan(
        found=out,
        contexts=len(ids),
        statements=sum(len(v) for v in stmts.values()),
        detectors=names,
        pairs_scored=scored,
        pairs_judged=judged,
        threshold=cut,
        claims=len(claims),
        stance_thresholds=stance,
        seconds=seconds,
        judge_usage=usage,
    )
    if output is not None:
        _write(scan, output)
    return scan


def _load_model(name: str, weights: Any) -> Any:
    """The learned (bi-encoder features) or cross-encoder model: ``weights`` given as a model object of
    that kind or a path saved by its training script, else the shipped one."""
    from datamill.diagnose.cross import CrossEncoder, load_cross_encoder
    from datamill.diagnose.nli import ContradictionModel, load_contradiction_model
    from datamill.diagnose.stance import StanceModel

    kind, load = (
        (CrossEncoder, load_cross_encoder)
        if name == "cross"
        else (ContradictionModel, load_contradiction_model)
    )
    if isinstance(weights, kind):
        return weights
    if isinstance(weights, CrossEncoder | ContradictionModel | StanceModel):  # another kind: the shipped
        return load(None)
    if name == "learned" and weights is not None and _is_stance_file(weights):
        return load(None)
    return load(None if weights is None else os.fspath(weights))


def _is_stance_file(path: Any) -> bool:
    """A weights file written by scripts/train_stance_model.py (not a pair-feature model)."""
    try:
        with np.load(os.fspath(path)) as z:
            return "proj_w" in z.files
    except (OSError, ValueError):
        return False


def _stance_model(name: str, clf: Any, weights: Any) -> Any:
    """The model that scores statements against a claim: the cross-encoder itself; for ``learned``, the
    stance model (``weights`` given as one or a path to one, else the shipped one), or the pair-feature
    model when ``weights`` names one."""
    from datamill.diagnose.nli import ContradictionModel
    from datamill.diagnose.stance import StanceModel, load_stance_model

    if name == "cross":
        return clf
    if isinstance(weights, StanceModel):
        return weights
    if isinstance(weights, ContradictionModel):
        return weights
    if weights is not None and not hasattr(weights, "encode"):
        return load_stance_model(os.fspath(weights)) if _is_stance_file(weights) else clf
    return load_stance_model()


#: claim-aware mode, a model without stance thresholds of its own: (P(entailment), P(contradiction))
STANCE_DEFAULT = (0.5, 0.5)


def stance_thresholds(clf: Any) -> tuple[float, float]:
    """The model's (support, refute) thresholds of claim-aware mode: those kept in its metadata (tuned on the
    CLIMATE-FEVER tuning half by ``benchmarks/diagnose_contradictions.py --write-stance``), else the defaults."""
    got = (getattr(clf, "info", None) or {}).get("stance_thresholds") or {}
    return float(got.get("support", STANCE_DEFAULT[0])), float(got.get("refute", STANCE_DEFAULT[1]))


def _learned(
    name: str,
    ids: list[str],
    stmts: dict[str, list[_Statement]],
    claims: dict[str, str],
    found: dict[str, dict[tuple[int, int], Contradiction]],
    undecided: dict[str, list[tuple[int, int]]],
    names: list[str],
    bar: tuple[Any, Any],
    *,
    embedder: Any,
    weights: Any,
    threshold: float | None,
    support_threshold: float | None,
    refute_threshold: float | None,
    min_similarity: float,
    max_neighbours: int,
    cross_pairs: int,
    batch_size: int,
    seconds: dict[str, float],
) -> tuple[int, float, dict[str, float] | None]:
    """Score the candidate pairs of every context with model ``name`` (``learned`` or ``cross``; the
    cross-encoder reads only each context's ``cross_pairs`` candidates the learned model finds most
    suspicious); the unflagged candidates are left for the judge. Contexts with a claim get their statements
    scored against it instead (:func:`_stance`). Returns (pairs scored, the threshold, the stance
    thresholds when some context had a claim)."""
    from datamill.diagnose.nli import ContradictionModel, candidate_pairs, load_contradiction_model

    clf = _load_model(name, weights)
    cut = clf.threshold if threshold is None else float(threshold)
    judge_of = _stance_model(name, clf, weights) if claims else None
    # stance from sentence vectors (or the cross-encoder's cascade by similarity): embed the claims too
    by_vectors = isinstance(judge_of, ContradictionModel) or name == "cross"
    texts = {s.text: 0 for k in ids if k not in claims or by_vectors for s in stmts[k]}
    texts.update({claims[k]: 0 for k in ids if k in claims and by_vectors})
    with _timed(seconds, "embed"):  # the cross-encoder's own pass gives the same MiniLM vectors
        vecs = (
            clf.encode(list(texts), batch_size)
            if name == "cross"
            else _embed(embedder, list(texts), batch_size)
        )
    if name == "learned":
        need = clf.layers[0][0].shape[0] // 3
        if len(vecs) and vecs.shape[1] != need:
            raise ConfigError(
                f"the learned contradiction detector takes {need}-dimensional "
                f"{clf.info.get('embedder', 'MiniLM')} vectors; embedder "
                f"{getattr(embedder, 'name', embedder)!r} gives {vecs.shape[1]}",
                params="embedder",
            )
    row = {t: i for i, t in enumerate(texts)}
    stance = None
    with _timed(seconds, "score"):
        owners: list[tuple[str, int, int, float]] = []
        left, right = [], []
        for k in ids:
            ss = stmts[k]
            if len(ss) >= 2 and k not in claims:
                idx = np.array([row[s.text] for s in ss])
                ii, jj, sim = candidate_pairs(
                    vecs[idx], _groups(ss), min_similarity=min_similarity, max_neighbours=max_neighbours
                )
                owners += [(k, int(i), int(j), float(s)) for i, j, s in zip(ii, jj, sim, strict=True)]
                left.append(idx[ii])
                right.append(idx[jj])
            bar[0].advance(bar[1])
        if owners and name == "cross":  # a cascade: the cheap model picks what the cross-encoder reads
            pre = load_contradiction_model().score(vecs[np.concatenate(left)], vecs[np.concatenate(right)])
            rank: dict[str, int] = {}
            keep = []
            for n in np.argsort(-pre, kind="stable"):
                k = owners[n][0]
                rank[k] = rank.get(k, 0) + 1
                if rank[k] <= cross_pairs:
                    keep.append(int(n))
            owners = [owners[n] for n in sorted(keep)]
        if not owners:
            probs: list[float] = []
        elif name == "cross":  # the longer statement reads as the premise, as in NLI data
            pairs = [(stmts[k][i].text, stmts[k][j].text) for k, i, j, _ in owners]
            probs = clf.score([(a, b) if len(a) >= len(b) else (b, a) for a, b in pairs]).tolist()
        else:
            probs = clf.score(vecs[np.concatenate(left)], vecs[np.concatenate(right)]).tolist()
        _record(name, owners, probs, cut, stmts, found, undecided, judge="judge" in names)
        n_stance = 0
        if claims:
            ts, tr = stance_thresholds(judge_of)
            ts = ts if support_threshold is None else float(support_threshold)
            tr = tr if refute_threshold is None else float(refute_threshold)
            stance = {"support": ts, "refute": tr}
            n_stance = _stance(name, judge_of, ids, stmts, claims, vecs, row, ts, tr, found, cross_pairs)
    return len(owners) + n_stance, cut, stance


def _groups(ss: list[_Statement]) -> np.ndarray:
    """What counts as one source: the passage, or each statement when all come from one passage."""
    if len({s.passage for s in ss}) > 1:
        return np.array([s.passage for s in ss])
    return np.arange(len(ss))


def _stance(
    name: str,
    clf: Any,
    ids: list[str],
    stmts: dict[str, list[_Statement]],
    claims: dict[str, str],
    vecs: np.ndarray,
    row: dict[str, int],
    support: float,
    refute: float,
    found: dict[str, dict[tuple[int, int], Contradiction]],
    cross_pairs: int,
) -> int:
    """Claim-aware mode: every statement of a context with a claim scored against the claim (statement as
    premise, claim as hypothesis); a statement refuting the claim (P(contradiction) >= ``refute``) is
    reported with the statement of another passage that supports it most (P(entailment) >= ``support``).
    The cross-encoder reads, per context, the ``2 * cross_pairs`` statements most similar to the claim.
    Returns the (statement, claim) pairs scored."""
    from datamill.diagnose.nli import ContradictionModel

    todo = [k for k in ids if k in claims and len(stmts[k]) >= 2]
    if not todo:
        return 0
    con, ent = clf.classes.index("contradiction"), clf.classes.index("entailment")
    owners = [(k, i) for k in todo for i in range(len(stmts[k]))]
    if isinstance(clf, ContradictionModel):  # two sentence vectors
        u = vecs[[row[stmts[k][i].text] for k, i in owners]]
        v = vecs[[row[claims[k]] for k, _ in owners]]
        probs = clf.probabilities(u, v)
    else:  # a model that reads both texts (stance model, cross-encoder)
        if name == "cross":
            keep: list[tuple[str, int]] = []
            for k in todo:
                sim = vecs[[row[s.text] for s in stmts[k]]] @ vecs[row[claims[k]]]
                keep += [(k, int(i)) for i in sorted(np.argsort(-sim, kind="stable")[: 2 * cross_pairs])]
            owners = keep
        probs = clf.probabilities([(stmts[k][i].text, claims[k]) for k, i in owners])
    by: dict[str, list[tuple[int, float, float]]] = {}
    for (k, i), p in zip(owners, probs, strict=True):
        by.setdefault(k, []).append((i, float(p[ent]), float(p[con])))
    for k, scored in by.items():
        ss = stmts[k]
        groups = _groups(ss)
        backers = sorted((x for x in scored if x[1] >= support), key=lambda x: -x[1])
        for j, _pe, pc in scored:
            if pc < refute:
                continue
            best = next(((i, pe) for i, pe, _ in backers if groups[i] != groups[j]), None)
            if best is None:
                continue
            i, pe = best
            key = (min(i, j), max(i, j))
            prior = found[k].get(key)
            if prior is not None:
                if name not in prior.detector.split("+"):
                    prior.detector = f"{prior.detector}+{name}"
                continue
            a, b = ss[i], ss[j]
            found[k][key] = Contradiction(
                "stance",
                a.text,
                b.text,
                (a.passage, b.passage),
                f"toward the claim: the first supports it, P(entailment) {pe:.2f} (threshold {support:.2f}); "
                f"the second refutes it, P(contradiction) {pc:.2f} (threshold {refute:.2f})",
                detector=name,
                score=round(min(pe, pc), 4),
                claim=claims[k],
                stances=(round(pe, 4), round(pc, 4)),
            )
    return len(owners)


def _record(
    name: str,
    owners: list[tuple[str, int, int, float]],
    probs: list[float],
    cut: float,
    stmts: dict[str, list[_Statement]],
    found: dict[str, dict[tuple[int, int], Contradiction]],
    undecided: dict[str, list[tuple[int, int]]],
    *,
    judge: bool,
) -> None:
    """Add the scored pairs at or above ``cut`` to ``found`` (naming ``name`` beside an earlier detector)."""
    for (k, i, j, cos), p in zip(owners, probs, strict=True):
        if judge:
            undecided[k].append((i, j))
        if p < cut:
            continue
        prior = found[k].get((i, j))
        if prior is not None:
            if name not in prior.detector.split("+"):
                prior.detector = f"{prior.detector}+{name}"
            prior.score = round(max(float(p), prior.score if prior.kind in ("learned", "cross") else 0.0), 4)
            continue
        a, b = stmts[k][i], stmts[k][j]
        found[k][i, j] = Contradiction(
            name,
            a.text,
            b.text,
            (a.passage, b.passage),
            f"P(contradiction) {p:.2f} (threshold {cut:.2f}), similarity {cos:.2f}",
            detector=name,
            score=round(float(p), 4),
        )


def _embed(embedder: Any, texts: list[str], batch_size: int) -> np.ndarray:
    if isinstance(embedder, str):
        from datamill.embed import get_embedder

        embedder = get_embedder(embedder)
    if not texts:
        return np.zeros((0, 1), dtype=np.float32)
    vecs = np.asarray(embedder.encode(texts, batch_size=batch_size), dtype=np.float32)
    vecs /= np.clip(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12, None)
    return vecs


def _judge(
    ids: list[str],
    stmts: dict[str, list[_Statement]],
    found: dict[str, dict[tuple[int, int], Contradiction]],
    undecided: dict[str, list[tuple[int, int]]],
    judge: Any,
) -> tuple[int, dict[str, Any] | None]:
    """Ask the judge about every undecided pair (in one batch when it has ``many``)."""
    todo = [(k, i, j) for k in ids for (i, j) in dict.fromkeys(undecided[k]) if (i, j) not in found[k]]
    pairs = [(stmts[k][i].text, stmts[k][j].text) for k, i, j in todo]
    many = getattr(judge, "many", None)
    verdicts = many(pairs) if callable(many) else [judge(a, b) for a, b in pairs]
    for (k, i, j), yes in zip(todo, verdicts, strict=True):
        if yes:
            a, b = stmts[k][i], stmts[k][j]
            found[k][i, j] = Contradiction(
                "judge", a.text, b.text, (a.passage, b.passage), "judged contradictory", detector="judge"
            )
    usage: Any = getattr(judge, "usage", None)
    return len(todo), (usage.to_dict() if usage is not None and hasattr(usage, "to_dict") else None)


def _write(scan: ContradictionScan, path: str | os.PathLike[str]) -> None:
    import orjson

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as fh:
        for k, cs in scan.found.items():
            fh.write(orjson.dumps({"id": k, "contradictions": [asdict(c) for c in cs]}) + b"\n")
