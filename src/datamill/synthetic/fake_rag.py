"""The offline fake teacher as a RAG and contradiction judge: deterministic word-level readings of the prompts
:mod:`datamill.incontext.judge` and :class:`~datamill.diagnose.TeacherJudge` send.

* statements of an answer: its sentences;
* a statement is supported by the context when most of its content words occur there and every number it
  states does too (an answer that changes a figure or adds facts is not);
* questions an answer answers: its opening words turned into a question; "I don't know" answers are
  noncommittal;
* a context passage was useful when it shares a good part of the reference's (or answer's) content words;
* a sentence of the reference is attributable when the context supports it as above;
* two statements contradict when the contradiction rules of :mod:`datamill.diagnose` say so.
"""

from __future__ import annotations

import json
import re

__all__ = ["rag_answer"]

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+|\d+(?:[.,]\d+)*")
_NUM = re.compile(r"\d+(?:[.,]\d+)*")
_STOP_WORDS = (
    "a an the and or of to in on for with is are was were be been by as at it its this that these those from "
    "into about can will would should could does do did has have had not no which who what when where how why "
    "there their they them he she his her you your we our i my me also than then so such very"
)
_STOP = frozenset(_STOP_WORDS.split())
_NONCOMMITTAL = re.compile(
    r"\b(i don't know|i do not know|not sure|cannot answer|can't answer|no idea)\b", re.I
)


def _content(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text) if w.lower() not in _STOP and len(w) > 1]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text.strip()) if len(s.strip()) > 3]


def _between(text: str, tag: str) -> str:
    m = re.search(rf"<{tag}>\s*(.*?)\s*</{tag}>", text, re.S)
    return m.group(1) if m else ""


def _supported(statement: str, context: str) -> bool:
    words = _content(statement)
    if not words:
        return True
    src = set(_content(context))
    share = sum(w in src for w in words) / len(words)
    numbers_ok = all(n in context for n in _NUM.findall(statement))
    return share >= 0.7 and numbers_ok


def _numbered(block: str) -> list[str]:
    return [re.sub(r"^\d+[.)]\s*", "", line).strip() for line in block.splitlines() if line.strip()]


def _question(answer: str, k: int) -> str:
    words = _content(answer)[: 4 + k]
    return f"What about {' '.join(words) or 'this'}?"


def _contradict(prompt: str) -> str:
    from datamill.diagnose.contradictions import _rule_pairs, _statements

    a = re.search(r"Statement A:\s*(.*?)\s*\nStatement B:", prompt, re.S)
    b = re.search(r"Statement B:\s*(.*)\s*$", prompt, re.S)
    stmts = _statements([a.group(1) if a else "", b.group(1) if b else ""], 10)
    found, _ = _rule_pairs(stmts, numeric_overlap=0.5, negation_overlap=0.6, judge_overlap=None)
    return "Yes." if found else "No."


def rag_answer(prompt: str) -> str | None:
    """The fake judge's answer to a RAG-judging or contradiction prompt; None for any other prompt."""
    if prompt.startswith("Do these two statements contradict each other"):
        return _contradict(prompt)
    if "[RAG-JUDGE:statements]" in prompt:
        return json.dumps({"statements": _sentences(_between(prompt, "answer"))})
    if "[RAG-JUDGE:faithfulness]" in prompt:
        context = _between(prompt, "context")
        verdicts = [
            {"statement": s, "verdict": int(_supported(s, context)), "reason": "word support"}
            for s in _numbered(_between(prompt, "statements"))
        ]
        return json.dumps({"verdicts": verdicts})
    if "[RAG-JUDGE:questions]" in prompt:
        answer = _between(prompt, "answer")
        n = int(m.group(1)) if (m := re.search(r"Write (\d+) question", prompt)) else 3
        return json.dumps(
            {
                "questions": [_question(answer, k) for k in range(n)],
                "noncommittal": int(bool(_NONCOMMITTAL.search(answer))),
            }
        )
    if "[RAG-JUDGE:context_precision]" in prompt:
        ref = set(_content(_between(prompt, "reference")))
        ctx = set(_content(_between(prompt, "context")))
        useful = bool(ref) and len(ref & ctx) / len(ref) >= 0.3
        return json.dumps({"verdict": int(useful), "reason": "shared content words"})
    if "[RAG-JUDGE:context_recall]" in prompt:
        context = _between(prompt, "context")
        rows = [
            {"statement": s, "attributed": int(_supported(s, context))}
            for s in _sentences(_between(prompt, "reference"))
        ]
        return json.dumps({"classifications": rows})
    return None
