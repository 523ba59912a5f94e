"""The model card written beside a trained classifier (``model_card.md``)."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["write_model_card"]

_SKIP = {"per_class", "confusion_matrix", "threshold"}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return "" if v is None else str(v)


def _confusion(cm: dict[str, Any]) -> list[str]:
    labels = cm["labels"]
    lines = ["| label \\ predicted | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for lab, row in zip(labels, cm["rows"], strict=True):
        lines.append(f"| **{lab}** | " + " | ".join(str(n) for n in row) + " |")
    return lines


def write_model_card(result: Any) -> str:
    """Write ``<model folder>/model_card.md`` for a :class:`~datamill.pretrain.train.TrainResult`."""
    model, info = result.model, result.model.info
    name = info.get("name", "classifier")
    feats = (
        f"hashed word 1..{model.config().get('ngrams')}-grams in {model.config().get('n_features'):,} buckets"
        if model.features == "ngrams"
        else f"sentence embeddings ({model.embedding_model})"
    )
    head = "logistic regression" if model.task == "classification" else "ridge regression"
    lines = [
        f"# Model card: {name}",
        "",
        f"A {model.task} model made by `datamill pretrain train-classifier`: {feats} -> {head} "
        f"(regularization {info.get('regularization')}). Score written by `filter.classifier` to "
        f'`metadata["{info.get("score_key")}"]`; suggested threshold {info.get("threshold")}.',
        "",
        "## Training data",
        "",
        f"- {result.rows:,} labelled rows from: " + ", ".join(f"`{f}`" for f in info["trained_on"]["files"]),
        "- labels: " + ", ".join(f"{k}: {v:,}" for k, v in result.labels.items()),
        f"- split: {result.train_rows:,} train / {result.test_rows:,} held out "
        f"(test_size {info['split']['test_size']}, seed {info['split']['seed']})",
        "- lineage: `lineage.jsonl` holds this model as a record whose parents are the labelled records "
        "it learned from (`datamill lineage <id> --in <folder>`).",
        "",
        "## Held-out metrics (baseline: scikit-learn bag-of-words logistic regression, same split)",
        "",
        "| metric | model | baseline |",
        "|---|---|---|",
    ]
    base = result.baseline or {}
    for key, value in result.metrics.items():
        if key in _SKIP or isinstance(value, dict):
            continue
        lines.append(f"| {key} | {_fmt(value)} | {_fmt(base.get(key))} |")
    if model.task == "regression":
        lines += [
            "",
            f"F1 and precision/recall binarise labels and predictions at score >= {result.metrics['threshold']}.",
        ]
    if "per_class" in result.metrics:
        lines += [
            "",
            "### Per class",
            "",
            "| label | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
        ]
        for lab, m in result.metrics["per_class"].items():
            lines.append(
                f"| {lab} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} | {m['support']:,} |"
            )
    lines += [
        "",
        "### Confusion matrix (held out"
        + (", rounded predictions" if model.task == "regression" else "")
        + ")",
        "",
    ]
    lines += _confusion(result.metrics["confusion_matrix"])
    lines += [
        "",
        "## Use and limits",
        "",
        "- It learns what its labels say: a teacher's rubric scores carry the teacher's and the rubric's biases; "
        "check a share against human judgements (`annotate --feedback-share`) before filtering at scale.",
        "- Word n-grams see vocabulary, not meaning: paraphrases and other languages than the training data's "
        "are scored unreliably.",
        "",
    ]
    path = os.path.join(result.output, "model_card.md")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    return path
