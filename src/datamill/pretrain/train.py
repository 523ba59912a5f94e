"""``datamill pretrain train-classifier``: learn a quality or safety classifier from labelled rows.

The rows (teacher labels from ``datamill pretrain annotate``, human labels, or a public labelled set)
are split once (``test_size``, ``seed``); the model (:class:`~datamill.pretrain.classifier.TextClassifier`)
learns the training part and is scored on the held-out part: macro F1, per-class F1 and the confusion
matrix for labels; Spearman, Pearson, MAE and F1 at ``threshold`` for scores (FineWeb-Edu's metric). A
scikit-learn bag-of-words logistic regression is trained and scored on the same split as the baseline.
The folder it writes holds the model, ``model_card.md`` with all of it, and ``lineage.jsonl``: the model
as a record whose parents are the labelled records it learned from.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from datamill.errors import ConfigError, InputError
from datamill.pretrain.classifier import FEATURES, TextClassifier
from datamill.pretrain.labelled import LabelledRow, read_labelled
from datamill.records import Document, Provenance, stable_id

__all__ = ["TrainResult", "evaluate_scores", "train_classifier"]


@dataclass
class TrainResult:
    """A trained model, where it was saved, and its held-out metrics beside the baseline's."""

    output: str
    model: TextClassifier
    metrics: dict[str, Any]
    baseline: dict[str, Any] | None
    rows: int
    train_rows: int
    test_rows: int
    labels: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def headline(self) -> str:
        """The metric the task is judged by: macro F1 for labels, Spearman for scores."""
        return "spearman" if self.model.task == "regression" else "macro_f1"

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "task": self.model.task,
            "features": self.model.features,
            "rows": self.rows,
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "labels": self.labels,
            "metrics": self.metrics,
            "baseline": self.baseline,
            "seconds": round(self.seconds, 3),
        }

    def table(self) -> Any:
        from rich.table import Table

        t = Table(title=f"Held-out metrics ({self.test_rows:,} of {self.rows:,} rows)", title_justify="left")
        t.add_column("metric")
        t.add_column("model", justify="right")
        if self.baseline is not None:
            t.add_column("bag-of-words logreg (sklearn)", justify="right")
        for key, value in self.metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                row = [key, f"{value:.4f}"]
                if self.baseline is not None:
                    b = self.baseline.get(key)
                    row.append(f"{b:.4f}" if isinstance(b, int | float) else "")
                t.add_row(*row)
        return t


def _task(labels: list[Any], task: str) -> str:
    if task != "auto":
        if task not in ("classification", "regression"):
            raise ConfigError(f"task must be auto, classification or regression, got {task!r}", params="task")
        return task
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in labels)
    return "regression" if numeric and len(set(labels)) > 2 else "classification"


def _f1s(y: list[Any], pred: list[Any], classes: list[Any]) -> dict[str, Any]:
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(y, pred, labels=classes, zero_division=0)
    return {
        "accuracy": float(np.mean([a == b for a, b in zip(y, pred, strict=True)])),
        "macro_f1": float(f1_score(y, pred, labels=classes, average="macro", zero_division=0)),
        "per_class": {
            str(c): {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, c in enumerate(classes)
        },
        "confusion_matrix": {
            "labels": [str(c) for c in classes],
            "rows": confusion_matrix(y, pred, labels=classes).tolist(),
        },
    }


def evaluate_scores(y: list[float], pred: np.ndarray, *, threshold: float) -> dict[str, Any]:
    """Regression metrics: Spearman, Pearson, MAE, RMSE; binary F1 at ``threshold``; the confusion
    matrix of rounded predictions against the labels."""
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import f1_score, precision_score, recall_score

    yt = np.asarray(y, dtype=np.float64)
    lo, hi = int(math.floor(yt.min())), int(math.ceil(yt.max()))
    classes = list(range(lo, hi + 1))
    rounded = np.clip(np.rint(pred), lo, hi).astype(int).tolist()
    cm = _f1s([int(round(v)) for v in yt], rounded, classes)["confusion_matrix"]
    const = float(np.std(pred)) == 0 or float(np.std(yt)) == 0
    yb, pb = yt >= threshold, pred >= threshold
    return {
        "spearman": 0.0 if const else float(spearmanr(yt, pred).statistic),
        "pearson": 0.0 if const else float(pearsonr(yt, pred).statistic),
        "mae": float(np.mean(np.abs(yt - pred))),
        "rmse": float(np.sqrt(np.mean((yt - pred) ** 2))),
        "threshold": threshold,
        "f1_at_threshold": float(f1_score(yb, pb, zero_division=0)),
        "precision_at_threshold": float(precision_score(yb, pb, zero_division=0)),
        "recall_at_threshold": float(recall_score(yb, pb, zero_division=0)),
        "confusion_matrix": cm,
    }


def _evaluate(model: TextClassifier, rows: list[LabelledRow], threshold: float) -> dict[str, Any]:
    texts, y = [r.text for r in rows], [r.label for r in rows]
    if model.task == "regression":
        return evaluate_scores(y, model.scores(texts), threshold=threshold)
    out = _f1s(y, model.predict(texts), model.classes)
    if len(model.classes) == 2:
        from sklearn.metrics import roc_auc_score

        pos = model.positive if model.positive is not None else model.classes[1]
        yb = [v == pos for v in y]
        out["f1"] = out["per_class"][str(pos)]["f1"]
        out["roc_auc"] = float(roc_auc_score(yb, model.scores(texts))) if 0 < sum(yb) < len(yb) else None
    return out


def _baseline(
    train: list[LabelledRow], test: list[LabelledRow], task: str, threshold: float
) -> dict[str, Any]:
    """scikit-learn's CountVectorizer (word unigrams) + LogisticRegression, trained on the same split."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = CountVectorizer()
    x = vec.fit_transform([r.text for r in train])
    ytr = [r.label for r in train]
    clf = LogisticRegression(max_iter=2000).fit(x, [str(v) if task != "regression" else v for v in ytr])
    xt = vec.transform([r.text for r in test])
    if task == "regression":  # scores as classes; the expected value under the predicted distribution
        pred = clf.predict_proba(xt) @ np.asarray(clf.classes_, dtype=np.float64)
        return evaluate_scores([r.label for r in test], pred, threshold=threshold)
    classes = sorted({str(r.label) for r in train + test})
    yt = [str(r.label) for r in test]
    out = _f1s(yt, [str(p) for p in clf.predict(xt)], classes)
    if len(classes) == 2:
        out["f1"] = out["per_class"][classes[1]]["f1"]
    return out


def _split(
    rows: list[LabelledRow], test_size: float, seed: int
) -> tuple[list[LabelledRow], list[LabelledRow]]:
    if not 0 < test_size < 1:
        raise ConfigError(f"test_size must be between 0 and 1, got {test_size!r}", params="test_size")
    order = np.random.default_rng(seed).permutation(len(rows))
    n_test = max(1, int(round(len(rows) * test_size)))
    test = set(order[:n_test].tolist())
    return [r for i, r in enumerate(rows) if i not in test], [r for i, r in enumerate(rows) if i in test]


def _lineage_record(
    model: TextClassifier, rows: list[LabelledRow], output: str, metrics: dict[str, Any]
) -> Document:
    """The model as a record: its parents are the labelled records it learned from (rows read from plain
    files have no record id; their files are named in ``provenance.extra``)."""
    parents = sorted({r.record_id for r in rows if r.record_id is not None})
    files = sorted({r.source for r in rows})
    plain = sum(r.record_id is None for r in rows)
    headline = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    with open(os.path.join(output, "weights.npz"), "rb") as fh:
        weights_hash = stable_id(fh.read().hex())
    return Document(
        id=f"classifier-{weights_hash}",
        text=f"{model.task} model ({model.features}) trained on {len(rows):,} labelled rows",
        metadata={"model": os.path.abspath(output), "metrics": headline, "files": files, "plain_rows": plain},
        provenance=Provenance(
            source=None if parents else (files[0] if len(files) == 1 else ",".join(files)),
            step="pretrain.train_classifier",
            parents=parents,
            extra={"files": files, "rows": len(rows)},
        ),
    )


def _check_output(output: str, overwrite: bool) -> None:
    if os.path.isdir(output) and os.listdir(output):
        if not overwrite:
            raise ConfigError(
                f"{output} is not empty; use another folder or overwrite=True", params="overwrite"
            )
        shutil.rmtree(output)


def _learnable(rows: list[Any], task: str, inputs: Any) -> str:
    """The task the rows make (``_task``), once they are enough to train and test and hold two labels."""
    if len(rows) < 10:
        raise InputError(
            f"need at least 10 labelled rows to train and test, found {len(rows)}", path=str(inputs)
        )
    kind = _task([r.label for r in rows], task)
    if kind == "classification" and len({str(r.label) for r in rows}) < 2:
        raise InputError("every row has the same label: nothing to learn", path=str(inputs))
    return kind


def _threshold(rows: list[Any], kind: str, threshold: float | None) -> float:
    """``threshold``, else the middle of the rubric's (or the labels') range rounded up for a regression,
    0.5 for a classification."""
    if threshold is not None:
        return threshold
    if kind == "regression":
        ys = [float(r.label) for r in rows]
        lo, hi = rows[0].score_range or (min(ys), max(ys))  # a rubric's range, else the labels'
        return float(math.ceil((lo + hi) / 2))
    return 0.5


def train_classifier(
    inputs: str | os.PathLike[str] | list[str],
    output: str | os.PathLike[str],
    *,
    text_field: str = "text",
    label_field: str = "label",
    label_map: dict[str, Any] | None = None,
    task: str = "auto",
    features: str = "ngrams",
    n_features: int = 2**20,
    ngrams: int = 2,
    embedding_model: str = "all-MiniLM-L6-v2",
    regularization: float | None = None,
    balanced: bool = True,
    positive: Any = None,
    threshold: float | None = None,
    name: str = "classifier",
    test_size: float = 0.2,
    seed: int = 0,
    baseline: bool = True,
    overwrite: bool = False,
) -> TrainResult:
    """Train a classifier on labelled rows, score it on a held-out split, and save it with its card.

    Args:
        inputs: labelled rows: JSONL/Parquet (``example`` records from ``annotate``, documents, plain
            rows) or CSV/TSV files, folders or globs.
        output: the model folder (``model.json``, ``weights.npz``, ``model_card.md``, ``lineage.jsonl``).
        text_field, label_field: the columns of plain rows (a record's ``label``/metadata for records).
        label_map: rename labels, e.g. ``{"0": "toxic", "1": "toxic", "2": "clean"}``.
        task: ``"classification"``, ``"regression"``, or ``"auto"``: regression for more than two
            numeric labels (a 0-5 rubric score), classification otherwise.
        features: ``"ngrams"`` (hashed word n-grams, fast) or ``"embedding"`` (MiniLM sentence vectors).
        regularization: logistic regression's C (default 10) or ridge's alpha (default 1).
        balanced: weight labels by inverse frequency (logistic regression), so a rare label counts.
        positive: the label whose probability is the score (binary default: the larger label).
        threshold: the score the filter keeps above by default, and the cut for F1 of a regression
            (default: the middle of the rubric's or the labels' range rounded up, 3 on FineWeb-Edu's 0-5;
            0.5 for labels).
        name: the model's name; a filter writes its score to ``metadata[f"{name}_score"]``.
        test_size, seed: the held-out share and the seed of the split.
        baseline: also train and score scikit-learn's bag-of-words logistic regression on the split.
    """
    t0 = time.time()
    out = os.fspath(output)
    if features not in FEATURES:
        raise ConfigError(
            f"features must be one of {', '.join(FEATURES)}, got {features!r}", params="features"
        )
    _check_output(out, overwrite)
    rows = list(read_labelled(inputs, text_field=text_field, label_field=label_field, label_map=label_map))
    kind = _learnable(rows, task, inputs)
    train, test = _split(rows, test_size, seed)
    thr = _threshold(rows, kind, threshold)
    reg = regularization if regularization is not None else (1.0 if kind == "regression" else 10.0)
    model = TextClassifier.fit(
        [r.text for r in train],
        [r.label for r in train],
        task=kind,
        features=features,
        n_features=n_features,
        ngrams=ngrams,
        embedding_model=embedding_model,
        regularization=reg,
        balanced=balanced,
        positive=positive,
        seed=seed,
    )
    metrics = _evaluate(model, test, thr)
    base = _baseline(train, test, kind, thr) if baseline else None
    labels = dict(sorted(Counter(str(r.label) for r in rows).items()))
    model.info.update(
        name=name,
        score_key=f"{name}_score",
        threshold=thr,
        regularization=reg,
        trained_on={"files": sorted({r.source for r in rows}), "rows": len(rows), "labels": labels},
        split={"test_size": test_size, "seed": seed, "train_rows": len(train), "test_rows": len(test)},
        metrics=metrics,
        baseline=base,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    _save(model, rows, out, metrics)
    result = TrainResult(
        output=out,
        model=model,
        metrics=metrics,
        baseline=base,
        rows=len(rows),
        train_rows=len(train),
        test_rows=len(test),
        labels=labels,
        seconds=time.time() - t0,
    )
    from datamill.pretrain.card import write_model_card

    write_model_card(result)
    return result


def _save(model: Any, rows: list[Any], out: str, metrics: dict[str, Any]) -> None:
    """Save the model, then its lineage record, then the model again naming that record as its id."""
    from datamill.io import write_jsonl

    model.save(out)
    record = _lineage_record(model, rows, out, metrics)
    write_jsonl([record], os.path.join(out, "lineage.jsonl"))
    model.info["model_id"] = record.id  # what a filter names as the selector of each document it keeps
    model.save(out, weights=False)
