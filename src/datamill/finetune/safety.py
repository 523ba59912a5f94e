"""The safety classifier clean() asks before removing a refusal (see :func:`datamill.finetune.clean`).

A refusal of a harmful request is what a model should learn, so with ``safety_model`` (a folder from
``datamill pretrain train-classifier`` scoring how harmful a prompt is) a refusal whose prompt scores at
least the threshold is kept and reported, and only the other refusals are removed.
"""

from __future__ import annotations

from typing import Any

from datamill.errors import ConfigError

__all__ = ["load_safety"]


def load_safety(model: str | None, threshold: float | None) -> tuple[Any, float] | None:
    """The safety classifier and the harm score from which a refusal is kept."""
    if model is None:
        if threshold is not None:
            raise ConfigError("harmful_threshold needs safety_model", params="harmful_threshold")
        return None
    from datamill.pretrain.classifier import TextClassifier

    clf = TextClassifier.load(model)
    thr = threshold if threshold is not None else clf.info.get("threshold", 0.5)
    return clf, float(thr)
