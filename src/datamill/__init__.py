"""datamill: the data behind large language models, at every stage.

Stages: ``datamill.pretrain`` (web dumps to clean token shards), ``datamill.feedback`` (human
feedback app), ``datamill.finetune`` (curated fine-tuning sets), ``datamill.incontext`` (RAG and
few-shot), ``datamill.synthetic`` (teacher-generated data) and ``datamill.diagnose`` (why a model
got it wrong). Heavy dependencies load lazily, so ``import datamill`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Conversation": "datamill.records",
    "Document": "datamill.records",
    "Example": "datamill.records",
    "Judgement": "datamill.records",
    "Message": "datamill.records",
    "Preference": "datamill.records",
    "Provenance": "datamill.records",
    "Pipeline": "datamill.pipeline",
    "read_records": "datamill.io",
    "write_records": "datamill.io",
    "load_recipe": "datamill.recipes",
    "run_recipe": "datamill.recipes",
}
_STAGES = ("pretrain", "feedback", "finetune", "incontext", "synthetic", "diagnose")

__all__ = sorted([*_LAZY, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _STAGES:
        return importlib.import_module(f"datamill.{name}")
    raise AttributeError(f"module 'datamill' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, *_STAGES])
