"""What a diagnosis finds: each mistake with its causes and evidence, the likely label errors of the
training set, and the whole :class:`Diagnosis` with its suggested fixes and JSON report."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from datamill.diagnose.contradictions import Contradiction
from datamill.diagnose.coverage import Cluster
from datamill.diagnose.inconsistency import AnnotatorStats, ConflictGroup, TaskAgreement
from datamill.diagnose.inputs import EvalItem, TrainItem

__all__ = ["CAUSES", "Diagnosis", "Mistake", "NoisyTrain"]

CAUSES = ("never_seen", "noisy_label", "inconsistent_label", "contradictory_context")


_FIXES = {
    "never_seen": "Collect more training data like these inputs (and the under-covered clusters below).",
    "noisy_label": "Relabel the flagged training examples (and check the flagged expected answers of the eval set).",
    "inconsistent_label": "Reconcile the conflicting near-duplicate groups and write the rule down in the labelling "
    "guide; retrain or re-brief the annotators with low consensus.",
    "contradictory_context": "Fix retrieval for these queries: drop or date-rank the passages that contradict each "
    "other, or tell the model how to resolve conflicts.",
}


@dataclass(slots=True)
class Mistake:
    """One wrong answer, its causes and the evidence for each."""

    index: int
    id: str
    input: str
    expected: str | None
    output: str | None
    coverage: float
    cluster: int
    causes: list[str]
    neighbours: list[dict[str, Any]]
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def attribution(self) -> str:
        """The cause, ``combination`` when several apply, ``unexplained`` when none does."""
        return "combination" if len(self.causes) > 1 else (self.causes[0] if self.causes else "unexplained")


@dataclass(slots=True)
class NoisyTrain:
    """A training example whose label/output is likely wrong, with how that was found."""

    index: int
    id: str
    input: str
    target: str
    suggested: str
    score: float
    method: str  # confident_learning (given probs) | confident_learning_knn | neighbours


@dataclass(slots=True)
class Diagnosis:
    """Everything :func:`diagnose` found; ``to_dict()`` is the JSON report."""

    results: list[EvalItem]
    train: list[TrainItem]
    mistakes: list[Mistake]
    clusters: list[Cluster]
    noisy_train: list[NoisyTrain]
    eval_label_issues: list[dict[str, Any]]
    conflicts: list[ConflictGroup]
    task_agreement: list[TaskAgreement]
    annotators: list[AnnotatorStats]
    contradictions: dict[str, list[Contradiction]]
    coverage_threshold: float
    projection: dict[str, list[list[float]]]
    settings: dict[str, Any]
    timings: dict[str, float]
    agreement: dict[str, Any] = field(default_factory=dict)  # alpha over all judgements, kappa per pair

    def summary(self) -> dict[str, int]:
        """How many mistakes each cause explains (a mistake counts for each of its causes), plus
        ``combination``, ``unexplained`` and ``mistakes``."""
        out = dict.fromkeys(CAUSES, 0)
        for m in self.mistakes:
            for c in m.causes:
                out[c] += 1
        attr = Counter(m.attribution for m in self.mistakes)
        out["combination"] = attr["combination"]
        out["unexplained"] = attr["unexplained"]
        out["mistakes"] = len(self.mistakes)
        return out

    def fixes(self) -> list[dict[str, Any]]:
        """Suggested fixes per cause that explains at least one mistake, with the items to act on."""
        s = self.summary()
        out = []
        if s["never_seen"]:
            unseen = sorted((m for m in self.mistakes if "never_seen" in m.causes), key=lambda m: m.coverage)
            under = [c for c in self.clusters if c.density_ratio < 0.5][:5]
            out.append(
                {
                    "cause": "never_seen",
                    "mistakes": s["never_seen"],
                    "fix": _FIXES["never_seen"],
                    "items": [m.input[:200] for m in unseen]
                    + [self.results[c.eval_items[0]].input[:200] for c in under],
                }
            )
        if s["noisy_label"]:
            out.append(
                {
                    "cause": "noisy_label",
                    "mistakes": s["noisy_label"],
                    "fix": _FIXES["noisy_label"],
                    "items": [n.id for n in self.noisy_train] + [e["id"] for e in self.eval_label_issues],
                }
            )
        if s["inconsistent_label"]:
            ann = [
                a.annotator for a in self.annotators if a.vs_consensus is not None and a.vs_consensus < 0.6
            ]
            out.append(
                {
                    "cause": "inconsistent_label",
                    "mistakes": s["inconsistent_label"],
                    "fix": _FIXES["inconsistent_label"],
                    "items": [[self.train[i].id for i in g.members] for g in self.conflicts] + ann,
                }
            )
        if s["contradictory_context"]:
            out.append(
                {
                    "cause": "contradictory_context",
                    "mistakes": s["contradictory_context"],
                    "fix": _FIXES["contradictory_context"],
                    "items": [m.id for m in self.mistakes if "contradictory_context" in m.causes],
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able report (inputs are referenced by id; texts of mistakes and evidence included)."""
        return {
            "summary": self.summary(),
            "fixes": self.fixes(),
            "settings": self.settings,
            "timings": self.timings,
            "coverage_threshold": self.coverage_threshold,
            "counts": {
                "results": len(self.results),
                "train": len(self.train),
                "mistakes": len(self.mistakes),
            },
            "mistakes": [{**asdict(m), "attribution": m.attribution} for m in self.mistakes],
            "clusters": [
                {**asdict(c), "examples": [self.results[i].input[:200] for i in c.eval_items[:3]]}
                for c in self.clusters
            ],
            "noisy_train": [asdict(n) for n in self.noisy_train],
            "eval_label_issues": self.eval_label_issues,
            "conflicts": [
                {
                    "members": [self.train[i].id for i in g.members],
                    "targets": {t: [self.train[i].id for i in ms] for t, ms in g.targets.items()},
                    "similarity": g.similarity,
                }
                for g in self.conflicts
            ],
            "task_agreement": [asdict(t) for t in self.task_agreement],
            "annotators": [asdict(a) for a in self.annotators],
            "agreement": self.agreement,
            "contradictions": {k: [asdict(c) for c in v] for k, v in self.contradictions.items()},
        }
