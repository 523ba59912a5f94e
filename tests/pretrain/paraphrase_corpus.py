"""A corpus with planted duplicates, built from real text: the 175 Self-Instruct seed instructions and
their answers, hand-written paraphrases of 64 instructions (``tests/data/finetune/seed_task_paraphrases.jsonl``)
and near-verbatim copies of 20 answers (one word changed), for measuring MinHash and semantic dedup.

Originals come first, planted copies after (in a seeded shuffle), so each planted document's source is the
earlier one a dedup keeps.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "finetune"


def seed_tasks() -> list[dict]:
    return [json.loads(line) for line in (DATA / "self_instruct_seed_tasks.jsonl").read_text().splitlines()]


def paraphrases() -> dict[str, str]:
    rows = [json.loads(line) for line in (DATA / "seed_task_paraphrases.jsonl").read_text().splitlines()]
    return {r["id"]: r["paraphrase"] for r in rows}


def corpus(seed: int = 0) -> tuple[list[dict], dict[str, str]]:
    """Documents ``{"id", "text"}`` and the planted ones: id -> ``"paraphrase"`` or ``"near_copy"``."""
    tasks = seed_tasks()
    docs = [{"id": f"orig-{t['id']}", "text": t["instruction"]} for t in tasks]
    answers = [t for t in tasks if len(t["instances"][0]["output"].split()) >= 25]
    docs += [{"id": f"answer-{t['id']}", "text": t["instances"][0]["output"]} for t in answers]
    rng = random.Random(seed)
    planted: dict[str, str] = {}
    extra = []
    for tid, text in paraphrases().items():
        extra.append({"id": f"para-{tid}", "text": text})
        planted[f"para-{tid}"] = "paraphrase"
    for t in rng.sample(answers, 20):
        words = t["instances"][0]["output"].split(" ")
        i = rng.randrange(len(words))
        words[i] = "really" if words[i] != "really" else "truly"
        extra.append({"id": f"copy-{t['id']}", "text": " ".join(words)})
        planted[f"copy-{t['id']}"] = "near_copy"
    rng.shuffle(extra)
    return docs + extra, planted


def source_of(doc_id: str) -> str:
    """The original a planted document copies."""
    kind, _, tid = doc_id.partition("-")
    return f"orig-{tid}" if kind == "para" else f"answer-{tid}"


def scores(removed: set[str], planted: dict[str, str], kind: str | None = None) -> dict[str, float]:
    """Precision (share of removed documents that were planted) and recall (share of planted ``kind``
    documents removed)."""
    want = {d for d, k in planted.items() if kind is None or k == kind}
    hit = removed & set(planted)
    return {
        "removed": len(removed),
        "planted": len(want),
        "found": len(removed & want),
        "precision": len(hit) / len(removed) if removed else 1.0,
        "recall": len(removed & want) / len(want) if want else 1.0,
    }
