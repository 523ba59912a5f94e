"""Public datasets as annotation tasks: preference and SFT sets in their published shapes become task rows.

A preference source (HH-RLHF, UltraFeedback, SHP, HelpSteer2, Nectar, TRL, OpenAI DPO …, read by
:func:`datamill.finetune.read_examples`) becomes one task per pair, with the prompt as context and the
final turns as the responses: a pairwise task takes the chosen and rejected answers; a ranking (or rubric)
task takes every ranked answer when the source has more than two (UltraFeedback, Nectar), best first. The
source's own verdict is kept in the task's metadata (``source_preferred`` / ``source_scores``), never shown
to annotators (each annotator sees the answers in their own shuffled order). SFT sources give one answer per
task (rubric, rewrite, comment); for pairwise and ranking projects the answers to one prompt are grouped
(HelpSteer2 ships two per prompt).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from datamill.errors import InputError
from datamill.records import Example, Message, Preference, Record, stable_id

__all__ = ["is_native_task_row", "task_rows_from_records"]

_INTERNAL = {"format", "ranking", "row_fields", "alpaca", "conversational", "scores", "no_preference"}


def is_native_task_row(row: Any) -> bool:
    """True when a row is already an annotation task (``responses``, a prompt with chosen/rejected, or no
    fine-tuning shape at all); False for a public dataset's shape that must be converted first."""
    from datamill.finetune.formats import format_of_row

    if not isinstance(row, dict) or "responses" in row:
        return True
    fmt = format_of_row(row)
    if fmt is None:
        return True
    chosen = row.get("chosen")
    explicit = isinstance(chosen, str) or (
        isinstance(chosen, list)
        and chosen
        and isinstance(chosen[0], dict)
        and chosen[0].get("role") == "assistant"
    )
    return fmt == "trl_preference" and bool(row.get("prompt")) and bool(explicit)


def _answer(value: str | list[Message]) -> str:
    """The text of a final turn; a completion of several turns (transcripts that diverge before their last
    turn) is shown whole, each turn under its speaker, not cut to its last message."""
    if isinstance(value, str):
        return value
    if len(value) <= 1:
        return value[0].text if value else ""
    return "\n\n".join(f"{m.role}: {m.text}" for m in value)


def _context(prompt: str | list[Message]) -> dict[str, Any]:
    """The task's ``prompt`` (one user turn) or ``messages`` (a conversation), as the app shows them."""
    if isinstance(prompt, str):
        return {"prompt": prompt}
    if len(prompt) == 1 and prompt[0].role == "user" and isinstance(prompt[0].content, str):
        return {"prompt": prompt[0].content}
    return {"messages": [{"role": m.role, "content": m.text} for m in prompt]}


def _meta(rec: Record) -> dict[str, Any]:
    meta = {k: v for k, v in rec.metadata.items() if k not in _INTERNAL}  # the row's own fields included
    meta["source_format"] = rec.metadata.get("format")
    if rec.provenance.source:
        meta["source"] = f"{rec.provenance.source}:{rec.provenance.line}"
    return meta


def _preference_task(rec: Preference, task_type: str) -> dict[str, Any]:
    ranking = rec.metadata.get("ranking") or []
    meta = _meta(rec)
    if task_type != "pairwise" and len(ranking) > 2:
        responses = [r["response"] for r in ranking]
        key = "score" if "score" in ranking[0] else "rank"
        meta["source_scores" if key == "score" else "source_ranks"] = [r.get(key) for r in ranking]
    else:
        responses = [_answer(rec.chosen), _answer(rec.rejected)]
        if rec.scores:
            meta["source_scores"] = [rec.scores.get("chosen"), rec.scores.get("rejected")]
    tie = rec.metadata.get("no_preference")
    if tie:  # the source states no preference (a tie): still worth judging, with no verdict to compare to
        meta["source_tie"] = tie
    else:
        meta["source_preferred"] = (
            0  # responses are stored best first; annotators see their own shuffled order
        )
    row = {"id": rec.id, **_context(rec.prompt), "responses": responses, "metadata": meta}
    gold = (rec.metadata.get("row_fields") or {}).get("gold")
    if gold is not None:
        row["gold"] = gold
    return row


def _split(ex: Example) -> tuple[list[Message], str]:
    msgs = ex.messages or [Message(role="user", content=ex.input or "")]
    if msgs[-1].role != "assistant":
        raise InputError(
            "the conversation has no final assistant turn to judge",
            path=ex.provenance.source,
            line=ex.provenance.line,
        )
    return msgs[:-1], msgs[-1].text


def task_rows_from_records(records: Iterable[Record], task_type: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, task row)`` for :func:`datamill.feedback.service.add_tasks` from fine-tuning records."""
    grouped: dict[str, list[Example]] = {}
    for rec in records:
        line = rec.provenance.line or 0
        if isinstance(rec, Preference):
            yield line, _preference_task(rec, task_type)
        elif isinstance(rec, Example):
            if task_type in ("pairwise", "ranking"):
                prompt, _ = _split(rec)
                grouped.setdefault(stable_id([m.to_dict() for m in prompt]), []).append(rec)
                continue
            prompt, answer = _split(rec)
            meta = _meta(rec)
            if isinstance(rec.metadata.get("scores"), dict):
                meta["source_scores"] = rec.metadata["scores"]
            yield line, {"id": rec.id, **_context(prompt), "responses": [answer], "metadata": meta}
        else:
            raise InputError(f"a {rec.type_name} record is not a task", path=rec.provenance.source, line=line)
    for group in grouped.values():
        first = group[0]
        prompt, _ = _split(first)
        answers = [_split(ex)[1] for ex in group]
        meta = _meta(first)
        scores = [ex.metadata.get("scores") for ex in group]
        if all(isinstance(s, dict) for s in scores):
            meta["source_scores"] = scores
        row = {
            "id": stable_id("group", *(ex.id for ex in group)),
            **_context(prompt),
            "responses": answers,
            "metadata": meta,
        }
        yield first.provenance.line or 0, row
