"""Pack a prompt within a token budget: system, few-shot examples, retrieved passages, question.

The system prompt and the question always go in (an error says when they alone exceed the
budget). Then items are added by priority (``priority``: which kind fills first) and rank, each only
if the whole rendered prompt still fits, counted with a real tokenizer on the final text. Passages
that nearly repeat one already packed (MinHash Jaccard over word 3-grams >= ``dedup_threshold``)
are skipped. The result says what went in, what was left out and why, and the token count; with
``check_contradictions`` it also warns about packed passages that contradict each other (the detectors of
:func:`datamill.diagnose.find_contradictions`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from datamill.errors import ConfigError
from datamill.incontext.select import FewShotSelector, example_io
from datamill.records import Document, Example
from datamill.tokens import get_tokenizer

if TYPE_CHECKING:
    from datamill.incontext.index import Index

__all__ = ["PackedPrompt", "pack_prompt", "retrieve_and_pack"]


@dataclass
class PackedPrompt:
    """A packed prompt: ``text`` (plain) or ``messages`` (chat), its token count, and a report."""

    text: str
    messages: list[dict[str, str]]
    tokens: int
    budget: int
    included: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    #: packed passages that contradict each other (``check_contradictions``): ids, statements, detector, score
    contradictions: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "contradictions": self.contradictions,
            "tokens": self.tokens,
            "budget": self.budget,
            "text": self.text,
            "messages": self.messages,
            "included": self.included,
            "dropped": self.dropped,
        }


def _render(
    template: str, system: str | None, examples: list[tuple[str, str]], passages: list[str], question: str
) -> tuple[str, list[dict[str, str]]]:
    context = "\n\n".join(f"[{i + 1}] {p}" for i, p in enumerate(passages))
    if template == "chat":
        msgs: list[dict[str, str]] = []
        if system:
            msgs.append({"role": "system", "content": system})
        for q, a in examples:
            msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        user = f"Context:\n{context}\n\nQuestion: {question}" if passages else question
        msgs.append({"role": "user", "content": user})
        return "", msgs
    parts = []
    if system:
        parts.append(system)
    if examples:
        parts.append("\n\n".join(f"Input: {q}\nOutput: {a}" for q, a in examples))
    if passages:
        parts.append(f"Context:\n{context}")
    parts.append(f"Input: {question}\nOutput:" if examples else f"Question: {question}\nAnswer:")
    return "\n\n".join(parts), []


def pack_prompt(
    question: str,
    *,
    system: str | None = None,
    examples: Sequence[Example] = (),
    passages: Sequence[Document | str] = (),
    budget: int = 4096,
    tokenizer: str = "cl100k_base",
    template: Literal["plain", "chat"] = "plain",
    priority: Literal["passages", "examples"] = "passages",
    dedup_threshold: float | None = 0.8,
    check_contradictions: bool | str = False,
) -> PackedPrompt:
    """Render the best prompt that fits ``budget`` tokens (see the module doc).

    ``check_contradictions``: True (the ``combined`` detector) or a detector name of
    :func:`datamill.diagnose.find_contradictions`; the packed passages that contradict each other are listed
    in :attr:`PackedPrompt.contradictions` (pairwise: the question is not a claim a passage could support or
    refute, so it is not given as one).
    """
    if template not in ("plain", "chat"):
        raise ConfigError(f"template must be 'plain' or 'chat', got {template!r}", params="template")
    if priority not in ("passages", "examples"):
        raise ConfigError(f"priority must be 'passages' or 'examples', got {priority!r}", params="priority")
    if budget < 1:
        raise ConfigError(f"budget must be >= 1, got {budget!r}", params="budget")
    tok = get_tokenizer(tokenizer)

    def count(text: str, msgs: list[dict[str, str]]) -> int:
        if template == "chat":  # OpenAI chat accounting: 3 per message + role + content, 3 to prime
            return 3 + sum(3 + tok.count(m["role"]) + tok.count(m["content"]) for m in msgs)
        return tok.count(text)

    shots = [example_io(e) for e in examples]
    docs = [p.text if isinstance(p, Document) else p for p in passages]
    ids = [p.id if isinstance(p, Document) else f"passage-{i}" for i, p in enumerate(passages)]
    chosen_ex: list[int] = []
    chosen_p: list[int] = []
    dropped: list[dict[str, Any]] = []

    def state() -> tuple[str, list[dict[str, str]]]:
        return _render(template, system, [shots[i] for i in chosen_ex], [docs[i] for i in chosen_p], question)

    base = count(*state())
    if base > budget:
        raise ConfigError(
            f"the system prompt and question alone take {base} tokens, over the budget of {budget}"
        )
    sigs = None
    if dedup_threshold is not None and len(docs) > 1:
        from datamill.minhash import MinHasher

        sigs = MinHasher(num_perm=64, ngram=3).signatures(docs)
    order = [("passage", i) for i in range(len(docs))]
    shot_order = [("example", i) for i in range(len(shots))]
    queue = order + shot_order if priority == "passages" else shot_order + order
    for kind, i in queue:
        if kind == "passage":
            if not docs[i].strip():
                dropped.append({"kind": kind, "id": ids[i], "reason": "empty"})
                continue
            if (
                sigs is not None
                and dedup_threshold is not None
                and any(float((sigs[i] == sigs[j]).mean()) >= dedup_threshold for j in chosen_p)
            ):
                dropped.append({"kind": kind, "id": ids[i], "reason": "near-duplicate of a packed passage"})
                continue
            chosen_p.append(i)
        else:
            chosen_ex.append(i)
        if count(*state()) > budget:
            (chosen_p if kind == "passage" else chosen_ex).pop()
            dropped.append(
                {"kind": kind, "id": ids[i] if kind == "passage" else examples[i].id, "reason": "over budget"}
            )
    text, msgs = state()
    tokens = count(text, msgs)
    included = [{"kind": "passage", "id": ids[i], "rank": i + 1} for i in chosen_p] + [
        {"kind": "example", "id": examples[i].id, "rank": i + 1} for i in chosen_ex
    ]
    found = _contradictions([ids[i] for i in chosen_p], [docs[i] for i in chosen_p], check_contradictions)
    return PackedPrompt(
        text=text,
        messages=msgs,
        tokens=tokens,
        budget=budget,
        included=included,
        dropped=dropped,
        contradictions=found,
    )


def _contradictions(ids: list[str], docs: list[str], check: bool | str) -> list[dict[str, Any]]:
    """Packed passages that contradict each other, as warnings."""
    if check is False or len(docs) < 2:
        return []
    from datamill.diagnose import find_contradictions

    found = find_contradictions(docs, detector="combined" if check is True else str(check))
    return [
        {
            "passages": [ids[c.passages[0]], ids[c.passages[1]]],
            "first": c.first,
            "second": c.second,
            "detector": c.detector,
            "score": c.score,
            "detail": c.detail,
        }
        for c in found
    ]


def retrieve_and_pack(
    index: Index | str | os.PathLike[str],
    question: str,
    *,
    k: int = 5,
    filters: dict[str, Any] | None = None,
    pool: Sequence[Example] = (),
    shots: int = 0,
    strategy: str = "knn",
    system: str | None = None,
    budget: int = 2048,
    tokenizer: str = "cl100k_base",
    template: Literal["plain", "chat"] = "plain",
    priority: Literal["passages", "examples"] = "passages",
    dedup_threshold: float | None = 0.8,
    check_contradictions: bool | str = False,
) -> PackedPrompt:
    """RAG in one call: the ``k`` passages ``index`` (an :class:`Index` or its folder) finds for
        ``question`` (with ``filters`` on chunk metadata), ``shots`` few-shot examples chosen from ``pool`` by
        ``strategy`` (:class:`FewShotSelector`; the ``length`` strategy fills at most half of ``budget``,
        leaving the rest for passages), packed by :func:`pack_prompt` (which warns about passages that contradict
    each other with ``check_contradictions``)."""
    from datamill.incontext.index import load_index

    idx = load_index(index) if isinstance(index, str | os.PathLike) else index
    hits = idx.search(question, k, filters=filters)
    chosen: list[Example] = []
    if pool and shots:
        chosen = FewShotSelector(pool, tokenizer=tokenizer).select(
            question, shots, strategy=strategy, token_budget=budget // 2 if strategy == "length" else None
        )
    return pack_prompt(
        question,
        system=system,
        examples=chosen,
        passages=[h.chunk for h in hits],
        budget=budget,
        tokenizer=tokenizer,
        template=template,
        priority=priority,
        dedup_threshold=dedup_threshold,
        check_contradictions=check_contradictions,
    )
