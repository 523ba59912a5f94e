"""Public formats whose records span several rows, read whole and then assembled: oasst1's message trees
(one conversation per ranked path) and answers rated one per row (HelpSteer2), paired best against worst per
prompt. The one-row shapes are in :mod:`datamill.finetune.public`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from datamill.records import Example, Message, Preference, Provenance, Record, stable_id

__all__ = ["oasst_conversations", "pair_by_prompt"]


# -- oasst1 message trees ---------------------------------------------------------------------------


def _oasst_nodes(
    rows: Iterable[tuple[str, int, dict[str, Any]]],
) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Flatten tree-export rows (nested ``replies``) into message rows; message rows pass through."""
    for path, line, row in rows:
        if isinstance(row.get("prompt"), dict):
            stack = [(row["prompt"], None)]
            while stack:
                node, parent = stack.pop()
                flat = {k: v for k, v in node.items() if k != "replies"}
                flat.setdefault("parent_id", parent)
                flat.setdefault("message_tree_id", row.get("message_tree_id"))
                yield path, line, flat
                stack.extend((r, node.get("message_id")) for r in reversed(node.get("replies") or []))
        else:
            yield path, line, row


def oasst_conversations(
    rows: Iterable[tuple[str, int, dict[str, Any]]], *, paths: str = "top", bad: Any = None
) -> Iterator[Example]:
    """Conversations of oasst1 message trees, along ranked paths.

    ``paths="top"``: one conversation per tree, taking the best-ranked reply at every turn (rank 0, then
    unranked ones in order), ending at the last assistant message (what oasst_top1 does). ``"all"``: every
    path from the root to an assistant message that has no assistant-answered follow-up (each leaf).
    Deleted messages and those reviewers rejected (``review_result`` false) are left out with their
    subtrees. ``bad(path, line, reason)`` is told about rows that do not fit.
    """
    if paths not in ("top", "all"):
        raise ValueError(f"paths must be 'top' or 'all', got {paths!r}")
    nodes: dict[str, dict[str, Any]] = {}
    where: dict[str, tuple[str, int]] = {}
    children: dict[str | None, list[str]] = {}
    order: list[str] = []
    for path, line, row in _oasst_nodes(rows):
        mid, role, text = row.get("message_id"), row.get("role"), row.get("text")
        if not isinstance(mid, str) or role not in ("prompter", "assistant") or not isinstance(text, str):
            reason = "an oasst1 message needs 'message_id', 'role' (prompter/assistant) and 'text'"
            if bad is None:
                raise ValueError(reason)
            bad(path, line, reason)
            continue
        if row.get("deleted") or row.get("review_result") is False:
            continue
        nodes[mid] = row
        where[mid] = (path, line)
        children.setdefault(row.get("parent_id"), []).append(mid)
        order.append(mid)

    def ranked(mid: str | None) -> list[str]:
        kids = [k for k in children.get(mid, []) if k in nodes]
        return sorted(kids, key=lambda k: (nodes[k].get("rank") is None, nodes[k].get("rank") or 0))

    def walk(mid: str, trail: list[str]) -> Iterator[list[str]]:
        trail = [*trail, mid]
        kids = ranked(mid)
        if paths == "top":
            kids = kids[:1]
        if not kids:
            yield trail
        for k in kids:
            yield from walk(k, trail)

    for root in order:
        node = nodes[root]
        if node.get("parent_id") is not None or node["role"] != "prompter":
            continue
        seen: set[tuple[str, ...]] = set()
        for trail in walk(root, []):
            while trail and nodes[trail[-1]]["role"] != "assistant":
                trail = trail[:-1]  # a conversation ends with an answer
            if len(trail) < 2 or tuple(trail) in seen:
                continue
            seen.add(tuple(trail))
            msgs = [
                Message(
                    role="user" if nodes[m]["role"] == "prompter" else "assistant", content=nodes[m]["text"]
                )
                for m in trail
            ]
            path, line = where[trail[-1]]
            meta = {
                "format": "oasst1",
                "message_tree_id": node.get("message_tree_id") or root,
                "lang": node.get("lang"),
                "message_ids": list(trail),
                "ranks": [nodes[m].get("rank") for m in trail],
            }
            rid = root if paths == "top" else stable_id("oasst1", *trail)
            yield Example(id=rid, messages=msgs, metadata=meta, provenance=Provenance(source=path, line=line))


# -- rated answers -> preferences -------------------------------------------------------------------


def pair_by_prompt(
    records: Iterable[Record], *, score: str = "helpfulness", bad: Any = None
) -> Iterator[Record]:
    """Preferences from answers rated one per row (HelpSteer2): the best against the worst answer to each prompt.

    Records without ``metadata["scores"]`` pass through. ``bad(rec, reason)`` is told about prompts whose
    answers tie on ``score`` or that have a single answer (no pair can be made).
    """
    groups: dict[str, list[Example]] = {}
    for rec in records:
        if not (isinstance(rec, Example) and isinstance(rec.metadata.get("scores"), dict) and rec.messages):
            yield rec
            continue
        if score not in rec.metadata["scores"]:
            raise ValueError(
                f"no {score!r} score on {rec.provenance.source}:{rec.provenance.line}; "
                f"scores there: {sorted(rec.metadata['scores'])}"
            )
        key = stable_id([m.to_dict() for m in rec.messages[:-1]])
        groups.setdefault(key, []).append(rec)
    for group in groups.values():
        ranked = sorted(group, key=lambda r: -r.metadata["scores"][score])
        best, worst = ranked[0], ranked[-1]
        hi, lo = best.metadata["scores"][score], worst.metadata["scores"][score]
        if len(group) < 2 or hi == lo:
            if bad is not None:
                bad(
                    best,
                    f"{len(group)} answer(s) to this prompt"
                    + (f", all with {score} {hi:g}" if len(group) > 1 else "")
                    + "; no preference pair",
                )
            continue
        meta = {k: v for k, v in best.metadata.items() if k != "scores"}
        meta["ranking"] = [
            {
                "response": r.messages[-1].content if r.messages else "",
                "score": r.metadata["scores"][score],
                "scores": r.metadata["scores"],
            }
            for r in ranked
        ]
        yield Preference(
            prompt=best.messages[:-1],  # type: ignore[index]
            chosen=best.messages[-1:],  # type: ignore[index]
            rejected=worst.messages[-1:],  # type: ignore[index]
            scores={"chosen": hi, "rejected": lo},
            metadata=meta,
            provenance=best.provenance.child(step="pair_by_prompt", parents=[best.id, worst.id]),
        )
