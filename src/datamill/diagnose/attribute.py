"""Attribution: which data causes explain one model mistake, each with its evidence (the neighbours it
copied, the conflicting twins, the contradicting passages), from what :mod:`datamill.diagnose.evidence` found."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from datamill.diagnose.contradictions import Contradiction
from datamill.diagnose.evidence import Inconsistency, Labels, Space, norm_text
from datamill.diagnose.inputs import EvalItem, TrainItem
from datamill.diagnose.result import Mistake

__all__ = ["attribute"]


def attribute(
    i: int,
    x: EvalItem,
    train_items: list[TrainItem],
    space: Space,
    labels: Labels,
    inc: Inconsistency,
    contra: dict[str, list[Contradiction]],
    *,
    near_sim: float,
    dup_sim: float,
    majority: float,
) -> Mistake:
    """Mistake ``i`` with each cause that explains it and the evidence for it."""
    nbs = [
        {
            "index": int(j),
            "id": train_items[j].id,
            "input": train_items[j].input[:300],
            "target": train_items[j].target,
            "similarity": round(float(s), 4),
        }
        for j, s in zip(space.ev_nb[i], space.ev_sim[i], strict=True)
        if j >= 0
    ]
    near = [n for n in nbs if n["similarity"] >= near_sim]
    c = int(space.ev_cluster[i]) if len(space.ev_cluster) else -1
    ev: dict[str, Any] = {}
    unseen = _never_seen(i, c, nbs, space, near_sim=near_sim)
    if unseen is not None:
        ev["never_seen"] = unseen
    # near neighbours split between targets without a strong majority: inconsistent labelling,
    # and no side of the split counts as the noisy one
    votes: Counter[str] = (
        Counter(norm_text(n["target"]) for n in near) if labels.classification else Counter()
    )
    mixed = near if len(votes) > 1 and votes.most_common(1)[0][1] / len(near) < majority else []
    noisy_label = _noisy_label(i, x, near, {n["index"] for n in mixed}, labels)
    if noisy_label is not None:
        ev["noisy_label"] = noisy_label
    inconsistent = _inconsistent_label(x, nbs, near, mixed, train_items, labels, inc, dup_sim=dup_sim)
    if inconsistent is not None:
        ev["inconsistent_label"] = inconsistent
    if x.id in contra:
        ev["contradictory_context"] = [asdict(cd) for cd in contra[x.id]]
    return Mistake(
        index=i,
        id=x.id,
        input=x.input,
        expected=x.expected,
        output=x.output,
        coverage=float(space.cov[i]),
        cluster=c,
        causes=list(ev),
        neighbours=nbs[:5],
        evidence=ev,
    )


def _never_seen(
    i: int, cluster: int, nbs: list[dict[str, Any]], space: Space, *, near_sim: float
) -> dict[str, Any] | None:
    """Evidence that mistake ``i``'s input is barely covered by the training set, unless a near copy was seen."""
    cov = space.cov[i]
    unseen = cov < space.coverage_threshold or (cluster in space.sparse and cov < space.sparse_cov)
    if not unseen or (nbs and nbs[0]["similarity"] >= near_sim):
        return None
    return {
        "coverage": float(cov),
        "threshold": space.coverage_threshold,
        "cluster": cluster,
        "sparse_cluster": cluster in space.sparse,
    }


def _noisy_label(
    i: int, x: EvalItem, near: list[dict[str, Any]], split_ids: set[int], labels: Labels
) -> dict[str, Any] | None:
    """Evidence that a noisy near training example taught the mistake, or that the expected label is wrong."""
    noisy, classification = labels.noisy, labels.classification
    out_norm = norm_text(x.output)
    noisy_near = [
        {**n, "suggested": noisy[n["index"]].suggested, "method": noisy[n["index"]].method}
        for n in near
        if n["index"] in noisy
        and n["index"] not in split_ids
        and (
            not out_norm
            or norm_text(n["target"]) == out_norm
            or (not classification and n["target"] != x.expected)
        )
    ]
    if not noisy_near and i not in labels.flagged_eval:
        return None
    return {
        "training_examples": noisy_near,
        "expected_label_issue": (
            {"expected": x.expected, "likely": labels.flagged_eval[i]} if i in labels.flagged_eval else None
        ),
    }


def _inconsistent_label(
    x: EvalItem,
    nbs: list[dict[str, Any]],
    near: list[dict[str, Any]],
    mixed: list[dict[str, Any]],
    train_items: list[TrainItem],
    labels: Labels,
    inc: Inconsistency,
    *,
    dup_sim: float,
) -> dict[str, Any] | None:
    """Evidence of inconsistent labelling around the mistake: conflicting duplicate groups, near copies whose
    target differs from the expected one, split neighbours, tasks the annotators disagreed on."""
    groups = {
        id(inc.in_conflict[n["index"]]): inc.in_conflict[n["index"]]
        for n in near
        if n["index"] in inc.in_conflict
    }
    out_norm = norm_text(x.output)
    cross = [
        n
        for n in nbs
        if n["similarity"] >= dup_sim
        and n["index"] not in labels.noisy
        and n["index"] not in inc.in_conflict
        and x.expected is not None
        and norm_text(n["target"]) != norm_text(x.expected)
        and (labels.classification or norm_text(n["target"]) == out_norm)
    ]
    tasks = [inc.low_tasks[tid] for tid in [x.id] + [n["id"] for n in near] if tid in inc.low_tasks]
    if not (groups or cross or mixed or tasks):
        return None
    return {
        "conflicting_groups": [
            {t_: [train_items[j].id for j in ms] for t_, ms in g.targets.items()} for g in groups.values()
        ],
        "train_vs_expected": cross,
        "conflicting_neighbours": mixed,
        "low_agreement_tasks": [asdict(ta) for ta in tasks],
    }
