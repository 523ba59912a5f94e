"""Read what a diagnosis needs: evaluation results, the training set, feedback judgements, contexts.

Each reader takes a path (JSONL, ``.gz``/``.zst``, Parquet, folder or glob; the training set also an
HF dataset) or in-memory rows/records, and raises :class:`~datamill.errors.InputError` naming
``file:line`` and the reason for a row it cannot use.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from datamill.errors import InputError
from datamill.records import Conversation, Example, Judgement, Message, Preference, Record

__all__ = [
    "EvalItem",
    "FeedbackItem",
    "TrainItem",
    "read_contexts",
    "read_feedback",
    "read_results",
    "read_train",
]

_INPUT_KEYS = ("input", "question", "prompt", "query", "instruction", "text")
_EXPECTED_KEYS = ("expected", "label", "reference", "target", "gold", "answer")
_OUTPUT_KEYS = ("output", "prediction", "model_output", "response", "predicted", "completion")
_TRAIN_TARGET_KEYS = ("label", "output", "completion", "answer", "response", "target")
_CONTEXT_KEYS = ("contexts", "context", "passages", "documents")
#: a context row's claim (the claim-aware contradiction mode): a statement, so only a field that says it is
#: one: a question ("when did ...?") is not entailed or refuted by anything, and a RAG row's query stays pairwise
_CLAIM_KEYS = ("claim",)


@dataclass(slots=True)
class EvalItem:
    """One evaluated item: what was asked, what was expected, what the model said, and whether it was right."""

    id: str
    input: str
    expected: str | None
    output: str | None
    correct: bool
    score: float | None = None
    probs: list[float] | None = None
    contexts: list[str] = field(default_factory=list)
    where: str = ""


@dataclass(slots=True)
class TrainItem:
    """One training example reduced to its input text and its target (label, else output)."""

    id: str
    input: str
    target: str
    label: Any = None
    probs: list[float] | None = None
    where: str = ""


@dataclass(slots=True)
class FeedbackItem:
    """One judgement: ``annotator`` gave ``value`` to ``task``; ``gold`` is the known answer when it is a gold question."""

    annotator: str
    task: str
    value: Any
    gold: Any = None
    where: str = ""


def _rows(source: Any, what: str) -> Iterator[tuple[str, int | None, Any]]:
    """``(path, line, row)`` from a path/glob/folder or ``(None-path, index, row)`` from an iterable."""
    if isinstance(source, (str, os.PathLike)):
        from datamill.finetune.formats import iter_rows

        if not os.path.exists(source) and not any(c in os.fspath(source) for c in "*?["):
            raise InputError(f"{what} file not found", path=os.fspath(source))
        yield from iter_rows(source)
        return
    if isinstance(source, dict):
        raise InputError(f"{what} must be a path or an iterable of rows, got one dict")
    try:
        import datasets

        if isinstance(source, datasets.Dataset):
            source = iter(source)
    except ImportError:  # pragma: no cover - datasets is a core dependency
        pass
    for i, row in enumerate(source, 1):
        yield f"<{what}>", i, row


def _bad(path: str, line: int | None, reason: str) -> InputError:
    return InputError(reason, path=path, line=line)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # messages or content parts
        return "\n".join(_text(_part(m)) for m in value if m is not None)
    if value is None:
        return ""
    return str(value)


def _part(m: Any) -> Any:
    if isinstance(m, Message):
        return m.content
    if isinstance(m, dict):
        return m.get("content", m.get("value", m.get("text", "")))
    return m


def _first(row: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in keys:
        if key in row and row[key] is not None:
            return key, row[key]
    return None, None


def _prompt_of(messages: list[Any]) -> tuple[str, str | None]:
    """User-side text and the last assistant message of a conversation."""
    msgs = [m if isinstance(m, Message) else Message.from_dict(m) for m in messages]
    last = next((i for i in range(len(msgs) - 1, -1, -1) if msgs[i].role == "assistant"), None)
    prompt = [m for i, m in enumerate(msgs) if m.role in ("user", "system") and (last is None or i < last)]
    return _text(prompt), (_text([msgs[last]]) if last is not None else None)


def _probs(value: Any, path: str, line: int | None) -> list[float] | None:
    if value is None:
        return None
    if isinstance(value, dict):
        raise _bad(path, line, "'probs' must be a list of class probabilities in class order, got an object")
    if not isinstance(value, list) or not all(isinstance(x, (int, float)) for x in value):
        raise _bad(path, line, "'probs' must be a list of numbers")
    return [float(x) for x in value]


def read_results(source: Any, *, score_threshold: float = 0.5) -> list[EvalItem]:
    """Evaluation results: ``input`` or ``messages``, ``expected``, ``output``, ``correct`` or ``score``.

    Optional: ``id``, ``probs`` (predicted-class probabilities, class order of the training labels),
    ``contexts`` (list of passages, or one string). Without ``correct``/``score`` an item is correct
    when its output equals the expected answer (case and surrounding space ignored).
    """
    items: list[EvalItem] = []
    seen: set[str] = set()
    for path, line, row in _rows(source, "results"):
        if isinstance(row, Record):
            row = row.to_dict()
        if not isinstance(row, dict):
            raise _bad(path, line, f"a result must be a JSON object, got {type(row).__name__}")
        if isinstance(row.get("messages"), list):
            try:
                text, _ = _prompt_of(row["messages"])
            except ValueError as exc:
                raise _bad(path, line, f"bad 'messages': {exc}") from None
        else:
            key, value = _first(row, _INPUT_KEYS)
            if key is None:
                raise _bad(
                    path, line, f"a result needs 'input' or 'messages' (one of {', '.join(_INPUT_KEYS)})"
                )
            text = _text(value)
        _, expected = _first(row, _EXPECTED_KEYS)
        _, output = _first(row, _OUTPUT_KEYS)
        score = row.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            raise _bad(path, line, f"'score' must be a number, got {score!r}")
        correct = row.get("correct")
        if correct is not None and not isinstance(correct, bool):
            raise _bad(path, line, f"'correct' must be true or false, got {correct!r}")
        if correct is None:
            if score is not None:
                correct = float(score) >= score_threshold
            elif expected is not None and output is not None:
                correct = _text(expected).strip().lower() == _text(output).strip().lower()
            else:
                raise _bad(path, line, "a result needs 'correct', 'score', or both 'expected' and 'output'")
        _, ctx = _first(row, _CONTEXT_KEYS)
        contexts = (
            [ctx]
            if isinstance(ctx, str)
            else [
                _text(c) if not isinstance(c, dict) else _text(c.get("text", c.get("content", "")))
                for c in (ctx or [])
            ]
        )
        rid = str(row["id"]) if row.get("id") is not None else f"r{len(items)}"
        if rid in seen:
            raise _bad(path, line, f"duplicate result id {rid!r}")
        seen.add(rid)
        items.append(
            EvalItem(
                id=rid,
                input=text,
                expected=None if expected is None else _text(expected),
                output=None if output is None else _text(output),
                correct=correct,
                score=None if score is None else float(score),
                probs=_probs(row.get("probs", row.get("pred_probs")), path, line),
                contexts=contexts,
                where=f"{path}:{line}",
            )
        )
    if not items:
        raise InputError(
            "no evaluation results",
            path=os.fspath(source) if isinstance(source, (str, os.PathLike)) else None,
        )
    return items


def _train_from_record(rec: Record) -> tuple[str, str | None, Any]:
    if isinstance(rec, Example):
        if rec.messages is not None:
            text, answer = _prompt_of(rec.messages)
            if rec.input:
                text = rec.input + ("\n" + text if text else "")
        else:
            text, answer = rec.input or "", None
        label = rec.label
        target = str(label) if label is not None else (rec.output if rec.output is not None else answer)
        return text, target, label
    if isinstance(rec, Conversation):
        text, answer = _prompt_of(rec.messages)
        return text, answer, None
    if isinstance(rec, Preference):  # a preference set teaches its chosen answers
        prompt = (
            rec.prompt
            if isinstance(rec.prompt, str)
            else _text([m for m in rec.prompt if m.role in ("user", "system")])
        )
        return prompt, _text(rec.chosen if isinstance(rec.chosen, str) else rec.chosen[-1:]), None
    raise ValueError(
        f"a training row must be an example, conversation or preference, got a {rec.type_name} record"
    )


def _train_from_row(row: dict[str, Any]) -> tuple[str, str | None, Any, str]:
    """(input, target, label, id) of a plain or datamill/fine-tuning row; ValueError when it does not fit."""
    from datamill.finetune.formats import format_of_row, from_row

    rid = str(row["id"]) if isinstance(row.get("id"), (str, int)) else ""
    if "type" in row:
        from datamill.records import from_dict

        rec = from_dict(row)
        return (*_train_from_record(rec), rec.id)
    label = row.get("label")
    if "instruction" in row and "output" in row:  # alpaca: instruction + optional input
        inp = row.get("input") or ""
        return (
            _text(row["instruction"]) + ("\n" + _text(inp) if inp else ""),
            _text(row["output"]),
            label,
            rid,
        )
    fmt = format_of_row(row)
    if fmt is not None and fmt not in ("trl_text", "trl_prompt_completion"):
        # a fine-tuning format or a public dataset's shape (Dolly, HelpSteer2, ShareGPT, HH-RLHF, SHP …)
        rec = from_row(row, fmt)
        return (*_train_from_record(rec), rid or rec.id)
    key, value = _first(row, _INPUT_KEYS)
    tkey, target = _first(row, _TRAIN_TARGET_KEYS)
    if (
        key is not None
        and tkey is not None
        and not (key == "prompt" and tkey == "completion" and not isinstance(value, str))
    ):
        return _text(value), _text(target), label, rid
    if fmt is None:
        raise ValueError(
            f"a training row needs an input ({'/'.join(_INPUT_KEYS)}) and a target "
            f"({'/'.join(_TRAIN_TARGET_KEYS)}), or messages; got keys {sorted(row)}"
        )
    return (*_train_from_record(from_row(row, fmt)), rid)


def read_train(source: Any) -> list[TrainItem]:
    """The training set as (input, target) items.

    Accepts datamill Example/Conversation records (objects or JSONL), any fine-tuning format or public
    dataset shape that :mod:`datamill.finetune` reads (openai messages, sharegpt, alpaca, prompt/completion,
    Dolly, HelpSteer2, oasst1 trees, chat-template text; preference sets teach their chosen answers), plain
    ``{input|instruction|question|prompt|text, label|output|completion|answer}`` rows, and HF datasets.
    The target is the ``label`` when present, else the output/last assistant message. Optional
    ``probs`` (out-of-sample predicted probabilities) enable confident learning on the training set.
    """
    items: list[TrainItem] = []
    rows: Iterable[tuple[str, int | None, Any]] = _rows(source, "train")
    if isinstance(source, (str, os.PathLike)):
        from datamill.finetune.formats import format_of_row, read_examples
        from datamill.finetune.public import GROUPED

        it = iter(rows)
        first = next(it, None)
        if first is not None and format_of_row(first[2]) in GROUPED:  # rows are parts of trees (oasst1)
            rows = ((r.provenance.source or "", r.provenance.line, r) for r in read_examples(source))
        else:
            rows = itertools.chain([first] if first is not None else [], it)
    for path, line, row in rows:
        try:
            if isinstance(row, Record):
                text, target, label = _train_from_record(row)
                rid, probs = row.id, row.metadata.get("probs")
            elif isinstance(row, dict):
                text, target, label, rid = _train_from_row(row)
                probs = row.get("probs", row.get("pred_probs"))
            else:
                raise ValueError(f"a training row must be an object, got {type(row).__name__}")
        except (ValueError, KeyError, TypeError) as exc:
            raise _bad(path, line, f"bad training row: {exc}") from None
        if target is None:
            raise _bad(path, line, "training row has no target (label, output or assistant message)")
        items.append(
            TrainItem(
                id=rid or f"t{len(items)}",
                input=text,
                target=target,
                label=label,
                probs=_probs(probs, path, line),
                where=f"{path}:{line}",
            )
        )
    if not items:
        raise InputError(
            "no training examples", path=os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
        )
    return items


def read_feedback(source: Any) -> list[FeedbackItem]:
    """Judgements: datamill Judgement records, or export rows ``{annotator, task|item_id, value|label, gold?}``.

    A judgement of a gold question carries the known answer in ``gold`` (or ``metadata.gold``).
    """
    out: list[FeedbackItem] = []
    for path, line, row in _rows(source, "feedback"):
        if isinstance(row, Judgement):
            out.append(
                FeedbackItem(
                    annotator=row.annotator,
                    task=row.task,
                    value=row.value,
                    gold=row.metadata.get("gold"),
                    where=f"{path}:{line}",
                )
            )
            continue
        if not isinstance(row, dict):
            raise _bad(path, line, f"a judgement must be an object, got {type(row).__name__}")
        meta: dict[str, Any] = row["metadata"] if isinstance(row.get("metadata"), dict) else {}
        annotator = row.get("annotator", row.get("annotator_id", row.get("user")))
        task = row.get("task", row.get("item_id", row.get("task_id", row.get("example_id"))))
        value = row["value"] if "value" in row else row.get("label", row.get("answer"))
        if annotator is None or task is None or value is None:
            raise _bad(
                path, line, "a judgement needs 'annotator', 'task' (or item_id) and 'value' (or label)"
            )
        out.append(
            FeedbackItem(
                annotator=str(annotator),
                task=str(task),
                value=value,
                gold=row.get("gold", meta.get("gold")),
                where=f"{path}:{line}",
            )
        )
    return out


def read_contexts(source: Any) -> dict[str, list[str]]:
    """Context passages per result id: rows ``{id, contexts|context|passages}`` (string or list)."""
    return read_contexts_and_claims(source)[0]


def read_contexts_and_claims(source: Any) -> tuple[dict[str, list[str]], dict[str, str]]:
    """:func:`read_contexts` and the claim of each context that has one: the row's ``claim`` field (a string).
    A ``question``/``query``/``prompt`` field does not make a claim (its context is checked pairwise)."""
    out: dict[str, list[str]] = {}
    claims: dict[str, str] = {}
    for path, line, row in _rows(source, "contexts"):
        if not isinstance(row, dict) or row.get("id") is None:
            raise _bad(path, line, "a context row must be an object with 'id' and 'contexts'")
        key, ctx = _first(row, _CONTEXT_KEYS)
        if key is None:
            raise _bad(path, line, f"context row has none of {', '.join(_CONTEXT_KEYS)}")
        passages = [ctx] if isinstance(ctx, str) else ctx
        if not isinstance(passages, list):
            raise _bad(path, line, f"'{key}' must be a string or a list of strings")
        out.setdefault(str(row["id"]), []).extend(
            _text(p.get("text", p.get("content", ""))) if isinstance(p, dict) else _text(p) for p in passages
        )
        ckey, claim = _first(row, _CLAIM_KEYS)
        if ckey is not None:
            if not isinstance(claim, str):
                raise _bad(
                    path,
                    line,
                    f"'{ckey}' (the statement the context's passages are checked against) must be a string",
                )
            claims[str(row["id"])] = claim
    return out, claims


def merge_contexts(items: Iterable[EvalItem], contexts: dict[str, list[str]]) -> None:
    """Add ``contexts`` passages to the results with the same id."""
    for item in items:
        if item.id in contexts:
            item.contexts = item.contexts + contexts[item.id]
