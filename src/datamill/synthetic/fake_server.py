"""A local fake OpenAI-compatible chat server for tests, demos and the offline quickstart.

It runs in-process on ``127.0.0.1`` (a random free port) in a background thread with its own
asyncio loop, speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) for httpx, the
``openai`` SDK and distilabel, and answers ``POST /v1/chat/completions``, ``GET /v1/models`` and ``GET /v1/_stats`` (its counters).

Answers are deterministic functions of the prompt (and, for rewrites, the seed), shaped so the
synthetic tasks get plausible, parseable output a person can read:

* qa-from-docs: a question a sentence of the passage answers, turned from that sentence by rules on
  its opening noun phrase and verb ("Thunder is the sound made by lightning." → "What is thunder?"),
  and the sentence itself, quoted, as the answer;
* a question asked without a passage: a fluent, general answer that draws on no source (what a
  teacher without the document says), so a grounded answer has something to beat;
* pairwise judges: when the question carries a ``<passage>``, the answer more of whose words the
  passage contains wins (both positions give the same verdict); otherwise the more complete answer,
  ties broken by position (which swapping exposes); ``[[score]]`` ratings for rubric judges;
* a question rewritten "in other words": the same question as another user would type it;
* numbered instruction lists for self-instruct, a rewritten prompt for evol-instruct, and a short
  answer otherwise.

Faults are injected at configurable rates (seeded, so runs repeat): 429 with ``Retry-After``,
500, a malformed JSON body, non-JSON content where JSON was asked, an empty answer, a truncated
answer with ``finish_reason="length"``, slow responses. Every request is counted.

    >>> with FakeServer(latency=0.0) as server:
    ...     url = server.url          # "http://127.0.0.1:<port>/v1"
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import xxhash

__all__ = ["FakeServer", "FakeServerStats", "fake_answer"]

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "to",
        "in",
        "on",
        "for",
        "with",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "by",
        "as",
        "at",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "from",
        "into",
        "about",
        "your",
        "you",
        "we",
        "our",
        "their",
        "they",
        "he",
        "she",
        "his",
        "her",
        "not",
        "no",
        "can",
        "will",
        "would",
        "should",
        "could",
        "what",
        "which",
        "who",
        "how",
        "why",
        "when",
        "where",
        "does",
        "do",
        "did",
        "give",
        "write",
        "make",
        "list",
        "each",
        "one",
        "two",
        "some",
        "any",
        "more",
        "most",
        "than",
        "then",
        "there",
        "here",
        "also",
        "such",
        "only",
        "very",
        "just",
        "like",
        "using",
        "use",
        "used",
        "other",
    ]
)
_VERBS = [
    "Explain",
    "Describe",
    "Summarize",
    "Compare",
    "Classify",
    "Suggest",
    "Rewrite",
    "Translate",
    "Outline",
    "Evaluate",
    "Identify",
    "Recommend",
    "Estimate",
    "Propose",
    "Criticise",
    "Convert",
    "Rank",
    "Plan",
]
_VERB_SET = frozenset(v.lower() for v in _VERBS)
_OBJECTS = [
    "a weekly budget for a student",
    "the causes of inflation",
    "a polite email declining a meeting",
    "three ways to reduce stress at work",
    "the plot of a famous novel",
    "a recipe using only five items",
    "the difference between weather and climate",
    "a cover letter for a junior developer",
    "how vaccines train the immune system",
    "a short poem about autumn rain",
    "a tweet announcing a sale",
    "the pros and cons of remote work",
    "a workout plan for beginners",
    "how to brew green tea properly",
    "the rules of chess for a child",
    "a travel itinerary for two days in Rome",
    "an argument for public libraries",
    "the main idea of a news paragraph",
    "a slogan for a bakery",
    "a bug report for a crashing app",
    "the steps to change a flat tyre",
    "a toast for a wedding",
    "a lesson plan about fractions",
    "the sentiment of a product review",
    "a name for a pet turtle",
]
# Some generations break the paper's filters on purpose, so the filters have something to remove.
_BAD = [
    "Draw a picture of a cat.",
    "Plot a graph of the stock price.",
    "Write a program to sort numbers.",
    "Go to the store.",
    "List it.",
    "Summarise the attached file for me.",
    "Décrivez la tour Eiffel en détail.",
    "1. Answer this.",
    "Écrivez un court poème sur la mer.",
    "- Explain the water cycle to a ten year old.",
    "Explain " + " ".join(["why"] + ["the sky and the sea look blue on a clear summer day"] * 15) + ".",
]


def _h(*parts: str) -> int:
    return xxhash.xxh64_intdigest("\x1f".join(parts).encode("utf-8", "surrogatepass"))


def _keywords(text: str, n: int = 6) -> list[str]:
    seen: dict[str, None] = {}
    for w in _WORD.findall(text):
        lw = w.lower()
        if lw not in _STOP and lw not in _VERB_SET and len(lw) > 2:
            seen.setdefault(lw, None)
    return list(seen)[:n]


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    return [p for p in parts if len(p.split()) >= 4]


def _passage(text: str) -> str:
    m = re.search(r"<passage>\s*(.*?)\s*</passage>", text, re.S)
    return m.group(1) if m else text


def _answer_text(prompt: str) -> str:
    question = prompt.strip().splitlines()[-1].strip() if prompt.strip() else ""
    if "?" in question or re.match(r"(I'd like to know|Tell me about) ", question):
        return _unsourced_answer(question)
    kws = _keywords(prompt) or ["this"]
    h = _h(prompt)
    topic = ", ".join(kws[:3])
    lines = [
        f"Here is a clear answer about {topic}.",
        f"The key point is that {kws[0]} matters because it shapes the result.",
        f"In practice, consider {kws[-1]} first, then check the details step by step.",
        "In short, start simple, measure, and adjust.",
    ]
    return " ".join(lines[: 2 + h % 3])


# -- the offline teacher's reading of a passage --------------------------------------------------------
# Questions a reader could ask: a statement sentence of the passage ("Thunder is the sound made by
# lightning.") is turned into the question it answers ("What is thunder?") by a few rules on its opening
# noun phrase and verb, and that sentence, quoted from the passage, is the answer. Without a passage (a
# question asked alone) the teacher can only answer in general terms: fluent, plausible and unsupported,
# the answer a grounded judge should reject.
_DET = frozenset(
    ["the", "a", "an", "another", "each", "every", "most", "many", "some", "all", "both", "several", "few"]
)
_POSS = frozenset(["our", "my", "their", "your", "his", "her"])
_PRON = frozenset(
    [
        "i",
        "you",
        "we",
        "he",
        "she",
        "it",
        "they",
        "me",
        "us",
        "them",
        "him",
        "who",
        "which",
        "that",
        "what",
        "whom",
        "whose",
        "this",
        "these",
        "those",
        "there",
        "here",
        "one",
        "anyone",
        "someone",
        "everyone",
        "nobody",
        "something",
        "anything",
        "everything",
        "nothing",
        "thee",
        "thou",
    ]
)
_NOT_FIRST = _PRON | frozenset(
    [
        "if",
        "when",
        "whenever",
        "while",
        "because",
        "but",
        "and",
        "so",
        "or",
        "as",
        "although",
        "though",
        "once",
        "after",
        "before",
        "since",
        "until",
        "unless",
        "with",
        "without",
        "in",
        "on",
        "at",
        "by",
        "for",
        "from",
        "to",
        "of",
        "into",
        "then",
        "also",
        "however",
        "therefore",
        "thus",
        "maybe",
        "perhaps",
        "just",
        "still",
        "yes",
        "no",
        "not",
        "according",
        "like",
        "such",
        "whether",
        "how",
        "why",
        "where",
        "its",
        "sometimes",
        "often",
        "usually",
        "always",
        "never",
        "even",
        "only",
        "again",
        "today",
        "now",
        "recently",
        "finally",
        "first",
        "please",
        "let",
        "thank",
        "thanks",
        "example",
        "meaning",
        "answer",
        "output",
        "input",
        "question",
        "note",
        "user",
        "bot",
        "following",
        "much",
        "more",
        "other",
        "same",
        "different",
        "very",
        "every",
    ]
)
_IMPERATIVE = frozenset(
    [  # an instruction, not a statement
        "write",
        "check",
        "remember",
        "invite",
        "take",
        "view",
        "bank",
        "turn",
        "make",
        "listen",
        "tell",
        "classify",
        "explain",
        "describe",
        "rewrite",
        "suggest",
        "detect",
        "given",
        "parse",
        "complete",
        "recommend",
        "use",
        "imagine",
        "learn",
        "look",
        "choose",
        "search",
        "schedule",
        "go",
        "address",
        "find",
        "generate",
        "create",
        "give",
        "list",
        "identify",
        "convert",
        "translate",
        "summarize",
        "summarise",
        "read",
        "return",
        "predict",
        "solve",
        "think",
        "come",
        "try",
        "add",
        "consider",
        "plan",
        "keep",
        "water",
        "start",
        "follow",
        "ensure",
        "avoid",
        "ask",
        "call",
        "visit",
        "get",
        "put",
        "set",
        "stay",
        "work",
        "show",
        "help",
        "contact",
        "hire",
        "compare",
        "sort",
        "play",
        "select",
        "fill",
        "extract",
        "pick",
        "provide",
        "edit",
        "design",
        "format",
        "determine",
        "calculate",
        "decide",
        "name",
        "rank",
        "rate",
        "fix",
        "improve",
        "draw",
        "book",
        "do",
        "don't",
        "be",
        "have",
        "see",
        "buy",
        "pay",
        "say",
        "ride",
        "move",
        "open",
        "close",
        "join",
        "watch",
    ]
)
_NOT_FIRST |= _IMPERATIVE
_BE = frozenset(["is", "are", "was", "were"])
_MODALS = frozenset(["can", "could", "should", "must", "will", "would", "may", "might"])
_ADVERBS = frozenset(
    [
        "now",
        "recently",
        "already",
        "also",
        "just",
        "always",
        "never",
        "often",
        "finally",
        "still",
        "first",
        "usually",
        "certainly",
        "clearly",
        "generally",
        "mostly",
        "really",
        "actually",
    ]
)
# third-person verbs whose object "What does X ...?" asks for, with their base form
_OBJECT_VERBS = {
    "carries": "carry",
    "joins": "join",
    "shows": "show",
    "means": "mean",
    "needs": "need",
    "offers": "offer",
    "provides": "provide",
    "includes": "include",
    "requires": "require",
    "contains": "contain",
    "causes": "cause",
    "uses": "use",
    "gives": "give",
    "makes": "make",
    "allows": "allow",
    "protects": "protect",
    "improves": "improve",
    "creates": "create",
    "supports": "support",
    "produces": "produce",
    "describes": "describe",
    "explains": "explain",
    "measures": "measure",
    "stores": "store",
    "holds": "hold",
    "serves": "serve",
    "covers": "cover",
    "reduces": "reduce",
    "increases": "increase",
    "affects": "affect",
    "prevents": "prevent",
    "expects": "expect",
    "recommends": "recommend",
    "suggests": "suggest",
    "says": "say",
    "states": "state",
    "claims": "claim",
    "sells": "sell",
    "teaches": "teach",
    "builds": "build",
    "wants": "want",
    "receives": "receive",
    "combines": "combine",
    "represents": "represent",
    "refers": "refer",
    "depends": "depend",
    "consists": "consist",
    "helps": "help",
    "turns": "turn",
    "keeps": "keep",
    "brings": "bring",
    "flows": "flow",
}
_BASE_OBJECT = frozenset(_OBJECT_VERBS.values())
_TRAILING_PREP = {"refer": "to", "depend": "on", "consist": "of", "turn": "into", "flow": "through"}
_IRREGULAR_PAST = {
    "said": "say",
    "told": "tell",
    "made": "make",
    "found": "find",
    "took": "take",
    "gave": "give",
    "became": "become",
    "began": "begin",
    "won": "win",
    "lost": "lose",
    "built": "build",
    "spent": "spend",
    "paid": "pay",
    "sold": "sell",
    "led": "lead",
    "wrote": "write",
    "grew": "grow",
    "knew": "know",
    "thought": "think",
    "brought": "bring",
    "held": "hold",
    "kept": "keep",
    "chose": "choose",
    "left": "leave",
    "sent": "send",
    "got": "get",
}
_PARTICIPLES = frozenset(
    [
        "spent",
        "done",
        "made",
        "seen",
        "taken",
        "given",
        "found",
        "won",
        "lost",
        "built",
        "become",
        "grown",
        "shown",
        "written",
        "brought",
        "kept",
        "held",
        "sold",
        "told",
        "paid",
        "left",
        "met",
        "begun",
        "known",
        "chosen",
        "led",
        "sent",
        "got",
        "gotten",
        "run",
    ]
)
_PERSON = frozenset(
    [
        "author",
        "founder",
        "president",
        "singer",
        "singer-songwriter",
        "writer",
        "actor",
        "actress",
        "player",
        "musician",
        "artist",
        "scientist",
        "speaker",
        "chairman",
        "ceo",
        "director",
        "spokesman",
        "spokeswoman",
        "leader",
        "member",
        "composer",
        "violinist",
        "teacher",
        "poet",
        "politician",
        "engineer",
        "investor",
        "owner",
        "minister",
        "mayor",
        "chef",
        "coach",
        "professor",
        "doctor",
    ]
)
_WHERE = frozenset(
    [
        "located",
        "printed",
        "found",
        "held",
        "based",
        "kept",
        "stored",
        "shown",
        "sold",
        "written",
        "listed",
        "displayed",
        "published",
        "placed",
        "built",
        "grown",
        "hidden",
        "buried",
    ]
)
_ADJ_TO = frozenset(
    [
        "equal",
        "similar",
        "close",
        "related",
        "connected",
        "linked",
        "due",
        "opposed",
        "dedicated",
        "devoted",
        "committed",
        "important",
        "useful",
        "harmful",
        "essential",
        "open",
        "available",
    ]
)
_NOT_ADJ = frozenset(["more", "less", "very", "really", "so", "too", "much", "quite", "not", "still"])
_NP_WORD = re.compile(r"[A-Za-z][\w'’\-]*|\d[\d,.]*")
_NP_END = frozenset(["of", "in", "for", "from", "on", "at", "with", "and", "such", "as", "the", "a", "an"])
_TOKEN = re.compile(r"[\w'’\-]+|[^\w\s]")


def _is_verb(tok: str, i: int) -> bool:
    w = tok.lower()
    if w in _BE or w in _MODALS or w in ("has", "have", "had") or w in _OBJECT_VERBS or w in _IRREGULAR_PAST:
        return True
    return (i > 1 and w in _BASE_OBJECT) or (w.endswith("ed") and len(w) > 4 and tok.islower())


def _noun_phrase(words: list[str]) -> list[str] | None:
    """The sentence's opening words as a subject a question can reuse, or None."""
    while len(words) > 1 and (
        words[-1].lower() in _ADVERBS or words[-1].lower().endswith("ly") and words[-2].lower() not in _DET
    ):
        words = words[:-1]
    low = [w.lower() for w in words]
    if len(words) > 7 or not all(_NP_WORD.fullmatch(w) for w in words) or low[-1] in _NP_END:
        return None
    first = low[0]
    if (
        first in _NOT_FIRST
        or re.match(r"(i|you|we|he|she|it|they|that|there)['’]", first)
        or (first.endswith(("ed", "ing")) and len(first) > 4)
        or (first in _DET | _POSS and len(words) == 1)
    ):
        return None
    if any(
        w in _PRON
        or w in _MODALS
        or w in _BE
        or w in ("to", "said", "says", "not", "if", "how", "why", "when")
        for w in low[1:]
    ) or any(w[0].isdigit() for w in words[1:]):
        return None
    return words


def _as_in_question(words: list[str], passage: str) -> str:
    """'Our bakery' -> 'the bakery', 'Thunder' -> 'thunder'; names keep their capitals (a name is several
    capitalised words, or a word the passage also capitalises mid-sentence, or an acronym)."""
    out, first = list(words), words[0]
    if first.lower() in _POSS:
        out[0] = "the"
    elif first.lower() in _DET:
        out[0] = first.lower()
    elif len(out) > 1 and out[1][:1].isupper():
        pass  # a name: Taylor Alison Swift, Mind Mapping
    elif (
        first[:1].isupper()
        and first[1:].islower()
        and not re.search(rf"[a-z,;:] {re.escape(first)}\b", passage)
    ):
        out[0] = first.lower()  # "Thunder", "Glass covering", "External rewards"
    return " ".join(out)


def _question_for(sentence: str, passage: str) -> tuple[str, int] | None:
    """The question a statement sentence answers and how natural it is (3 best), or None."""
    s = sentence.strip().lstrip("-•*– ").strip()
    n = len(s.split())
    if (
        n < 5
        or n > 40
        or not (s[:1].isupper() or s[:1].isdigit())
        or s.endswith(("?", ":"))
        or any(c in s for c in '<";“')
    ):
        return None
    toks = _TOKEN.findall(s.rstrip(".!"))
    i = next((j for j in range(1, min(len(toks), 9)) if _is_verb(toks[j], j)), None)
    words = _noun_phrase(toks[:i]) if i else None
    if i is None or words is None:
        return None
    v = toks[i].lower()
    x = toks[0] if len(words) == 1 and v in ("said", "says", "told") else _as_in_question(words, passage)
    rest = toks[i + 1 :]
    while rest and rest[0].lower() in _ADVERBS:
        rest = rest[1:]
    rl = [t.lower() for t in rest]
    if not rl:
        return None
    about = (f"What does the passage say about {x}?", 1)
    if v in _BE:
        if rl[0] in ("a", "an", "the", "one", "how", "what", "whether", "that") or rl[:2] == ["known", "as"]:
            if (
                rl[0] in ("a", "an", "the")
                and any(w in _PERSON for w in rl[1:8])
                and words[0][:1].isupper()
                and words[0].lower() not in _DET
            ):
                return f"Who {v} {x}?", 3
            return f"What {v} {x}?", 3
        if len(rl) >= 2 and rl[0] in _WHERE and rl[1] in ("in", "on", "at", "inside", "near", "under"):
            return f"Where {v} {x} {rest[0]}?", 3
        if (
            len(rl) >= 2
            and rest[0].isalpha()
            and rest[0].islower()
            and rl[0] not in _NOT_ADJ
            and (
                rl[1] in ("with", "by", "for", "from", "of", "about", "in", "on")
                or (rl[1] == "to" and rl[0] in _ADJ_TO)
            )
        ):
            return f"What {v} {x} {rest[0]} {rest[1]}?", 3
        return about
    if v in ("has", "have", "had"):
        do = {"has": "does", "have": "do", "had": "did"}[v]
        if rl[0] == "to":
            return f"What {do} {x} have to do?", 2
        if rl[0] == "been":
            if len(rl) > 1 and (rl[1].endswith("ed") or rl[1] in _PARTICIPLES):
                return f"What {v} happened to {x}?", 2
            cut = min((rl.index(w) for w in ("since", "for") if w in rl), default=0)
            return (f"How long {v} {x} been {' '.join(rest[1:cut])}?", 3) if cut > 1 else about
        if rl[0].endswith("ed") or rl[0] in _PARTICIPLES:
            return f"What {v} {x} {rest[0]}?", 2
        return f"What {do} {x} have?", 2
    if v in _MODALS:
        if rl[0] in ("be", "not", "never"):
            return about
        return (f"How {v} {x} help?", 2) if rl[0] == "help" else (f"What {v} {x} do?", 2)
    if v in _IRREGULAR_PAST:
        return f"What did {x} {_IRREGULAR_PAST[v]}?", 2
    if v in _OBJECT_VERBS or v in _BASE_OBJECT:
        base, do = _OBJECT_VERBS.get(v, v), ("does" if v in _OBJECT_VERBS else "do")
        if base == "help":
            return f"How {do} {x} help?", 2
        if base == "need" and rl[0] == "to":
            return f"What {do} {x} need to do?", 2
        return f"What {do} {x} {base}{' ' + _TRAILING_PREP[base] if base in _TRAILING_PREP else ''}?", 2
    return f"What did {x} do?", 2  # a regular past tense: "The city council voted ..."


def _statements(passage: str) -> list[str]:
    """The passage's sentences as written (so an answer quoting one is a substring of the passage)."""
    out = []
    for line in passage.splitlines():
        out += [p.strip() for p in re.split(r"(?<=[.!?])\s+", line) if len(p.split()) >= 4]
    return out


def _read_passage(passage: str, *, part: tuple[int, int] = (0, 1)) -> list[tuple[str, str]]:
    """(question, answer) pairs a reader would write about ``passage``, most natural first; the answer is
    the sentence of the passage that answers the question. ``part=(k, n)`` asks about the k-th of n
    parts of the passage (0-based): its sentences come first."""
    sents = _statements(passage)
    k, n = part
    lo = len(sents) * k // n
    hi = max(len(sents) * (k + 1) // n, lo + 1)
    lo, hi = min(lo, max(len(sents) - 1, 0)), min(hi, len(sents))
    found: list[tuple[bool, int, int, str, str]] = []
    seen: set[str] = set()
    for i, sent in enumerate(sents):
        got = _question_for(sent, passage)
        if got and got[0] not in seen:
            seen.add(got[0])
            found.append((not lo <= i < hi, -got[1], i, got[0], sent))
    found.sort()
    if found and not found[0][0]:
        return [(q, a) for *_, q, a in found]
    # nothing in this part reads as a plain statement: ask what it says about the passage's topic
    for strict in (True, False):
        for topic in _topics(passage):
            for i in [*range(lo, hi), *range(len(sents))]:
                sent = sents[i]
                in_part = lo > 0 and lo <= i < hi
                if (
                    (topic.lower() in sent.lower() or in_part)
                    and 6 <= len(sent.split()) <= 60
                    and not sent.endswith("?")
                    and "<" not in sent
                    and (not strict or sent[:1].isupper() and sent.split()[0].lower() not in _IMPERATIVE)
                ):
                    return [(f"What {'else ' if in_part else ''}does the passage say about {topic}?", sent)]
    return [(q, a) for *_, q, a in found]


def _topics(passage: str) -> list[str]:
    """What the passage is about, most likely first: names it repeats (Santa Fe, First Financial) and
    repeated pairs of content words (mold inspection), then the ones it mentions once."""
    counts: Counter[str] = Counter()
    order: dict[str, int] = {}
    for m in re.finditer(r"[A-Z][a-z]+(?: [A-Z][a-z]+)+", passage):
        words = m.group(0).split()
        while words and (
            words[0].lower() in _NOT_FIRST or words[0].lower() in _STOP or words[0].lower() in _DET
        ):
            words = words[1:]
        if len(words) >= 2:
            name = " ".join(words)
            counts[name] += 2
            order.setdefault(name, m.start())
    tokens = [(w.group(0), w.start()) for w in re.finditer(r"[A-Za-z][a-z]+", passage)]
    for (a, pos), (b, _) in zip(tokens, tokens[1:], strict=False):
        la, lb = a.lower(), b.lower()
        if (
            a.islower()
            and b.islower()
            and min(len(la), len(lb)) > 3
            and not ({la, lb} & (_STOP | _NOT_FIRST))
            and not la.endswith(("ly", "ed"))
            and passage[pos + len(a) : pos + len(a) + 1] == " "
        ):
            counts[f"{la} {lb}"] += 1
            order.setdefault(f"{la} {lb}", pos)
    return sorted(counts, key=lambda t: (-counts[t], order[t]))


_REPHRASE = [
    "According to the text, {q}",
    "Based on the passage, {q}",
    "Quick question: {q}",
    "{Q} Please answer briefly.",
    "Can you help me with this one? {Q}",
    "Here is my question: {Q}",
    "I'd like to know: {q}",
    "{Q} Answer from the text.",
]
_REPHRASE_ABOUT = [
    "What does the text say about {x}?",
    "What do we learn about {x} here?",
    "Quick question: what does the passage say about {x}?",
    "{Q} Please answer briefly.",
    "Can you help me with this one? {Q}",
    "Here is my question: {Q}",
    "I'd like to know what the passage says about {x}.",
    "Tell me about {x}, going by the passage.",
]
_ABOUT = re.compile(r"What does the passage say about (.+)\?$")


def _rephrase(question: str, k: int) -> str:
    """The same question as another user would type it (k picks the phrasing)."""
    q = question.strip()
    if m := _ABOUT.match(q):
        return _REPHRASE_ABOUT[k % len(_REPHRASE_ABOUT)].format(x=m.group(1), Q=q)
    low = q[:1].lower() + q[1:] if not re.match(r"[A-Z]{2}|I\b", q) else q
    return _REPHRASE[k % len(_REPHRASE)].format(q=low, Q=q)


_UNSOURCED = [
    "{T} can mean different things depending on the context. In general, it is best to look at the specific "
    "situation and check a reliable source for the details.",
    "That depends on the situation. Broadly speaking, it varies from case to case when it comes to {t}, so it is "
    "worth checking the details before relying on any single claim.",
    "Generally, there are several ways to look at {t}. Without more information I can only give a general "
    "answer: look at the context and compare a few sources.",
    "There is no single answer about {t}. It usually comes down to the circumstances, and the details are worth "
    "confirming with an expert.",
]
_QUESTION = re.compile(
    r"(?:what|who|where|how long|how)\s+(is|are|was|were|does|do|did|has|have|had|can|could|"
    r"should|must|will|would|may|might)\s+(.+?)\??$",
    re.I,
)


def _unsourced_answer(question: str) -> str:
    """A fluent, general answer that does not rely on any passage (what a teacher says without one)."""
    q = re.sub(
        r"^(According to the text|Based on the passage|Quick question|Here is my question|I'd like to know|"
        r"Can you help me with this one\?)[,:]?\s*",
        "",
        question.strip(),
    )
    q = re.sub(r"\s*(Please answer briefly|Answer from the text)\.$", "", q)
    about = re.match(
        r"(?:what does the (?:passage|text) say about|what do we learn about|tell me about|"
        r"what the passage says about)\s+(.+?)(?:,? (?:here|going by the passage))?[?.]$",
        q,
        re.I,
    )
    if about:
        q = f"What does the passage say about {about.group(1)}?"
    m = _QUESTION.match(q)
    words = m.group(2).split() if m else []
    if words[:4] == ["the", "passage", "say", "about"]:
        words = words[4:]
    elif words[:1] == ["happened"] and words[1:2] == ["to"]:
        words = words[2:]
    elif m and "been" in words:
        words = words[: words.index("been")]
    elif m and words[-3:] in (["have", "to", "do"], ["need", "to", "do"]):
        words = words[:-3]
    elif m and len(words) > 1:
        prep = words[-1].lower() in (
            "to",
            "with",
            "by",
            "for",
            "from",
            "of",
            "about",
            "in",
            "on",
            "into",
            "through",
        )
        if prep:
            words = words[:-1]
        if len(words) > 1 and (
            prep or m.group(1).lower() not in _BE or words[-1].endswith("ed") or words[-1] in _WHERE
        ):
            words = words[:-1]  # the verb, participle or adjective the question asks about
    topic = " ".join(words) if 0 < len(words) <= 8 else ", ".join(_keywords(q, 2)) or "this"
    tmpl = _UNSOURCED[_h(question) % len(_UNSOURCED)]
    return tmpl.format(T=topic[:1].upper() + topic[1:], t=topic)


def _support(answer: str, passage: str) -> float:
    """Share of the answer's words that occur in the passage."""
    words = [w.lower() for w in _WORD.findall(answer)]
    if not words:
        return 0.0
    src = {w.lower() for w in _WORD.findall(passage)}
    return sum(w in src for w in words) / len(words)


def _rewrite(prompt: str, seed: int) -> str | None:
    """A rewritten question (asked again in other words); None for other rewrites."""
    text = re.search(r"<text>\s*(.*?)\s*</text>", prompt, re.S)
    if not text or not text.group(1).rstrip().endswith("?") or "\n" in text.group(1).strip():
        return None
    return _rephrase(text.group(1), _h(text.group(1)) + seed)


def _self_instruct(prompt: str) -> str:
    m = re.search(r"(\d+)\s+new tasks", prompt)
    n = int(m.group(1)) if m else 8
    h = _h(prompt)
    out = []
    for i in range(n):
        k = (h >> (i % 16)) + i * 7919
        if k % 9 == 0:
            text = _BAD[(k // 9) % len(_BAD)]
        else:
            text = f"{_VERBS[k % len(_VERBS)]} {_OBJECTS[(k // 7) % len(_OBJECTS)]}"
            text += "." if k % 4 else f" in about {50 + k % 200} words."
        out.append(f"{i + 1}. {text}")
    return "\n".join(out)


def _qa(prompt: str) -> str:
    m = re.search(r"(\d+)\s+question", prompt)
    n = int(m.group(1)) if m else 1
    passage = _passage(prompt)
    part = re.search(r"pair (\d+) of (\d+) for this passage", prompt)
    k, of = (int(part.group(1)) - 1, max(1, int(part.group(2)))) if part else (0, 1)
    found = _read_passage(passage, part=(k, of)) or [
        ("What is the passage about?", passage.strip() or "The passage is empty.")
    ]
    pairs = [{"question": q, "answer": a} for q, a in found[:n]]
    for i in range(n - len(pairs)):  # a short passage: the same question again, in other words
        q, a = found[i % len(found)]
        pairs.append({"question": _rephrase(q, i), "answer": a})
    return json.dumps({"pairs": pairs})


def _pairwise(prompt: str) -> str:
    q = re.search(r"\[User Question\]\s*(.*?)\s*\[The Start of Assistant A's Answer\]", prompt, re.S)
    a = re.search(
        r"\[The Start of Assistant A's Answer\]\s*(.*?)\s*\[The End of Assistant A's Answer\]", prompt, re.S
    )
    b = re.search(
        r"\[The Start of Assistant B's Answer\]\s*(.*?)\s*\[The End of Assistant B's Answer\]", prompt, re.S
    )
    ta, tb = a.group(1) if a else "", b.group(1) if b else ""
    question = q.group(1) if q else ""
    src = re.search(r"<passage>\s*(.*?)\s*</passage>", question, re.S)
    if src:  # a grounded question: the answer the passage supports wins (share of its words found there)
        ga, gb = _support(ta, src.group(1)), _support(tb, src.group(1))
        if abs(ga - gb) >= 0.15:
            verdict = "A" if ga > gb else "B"
            return (
                f"Assistant A's answer is {'' if ga >= 0.6 else 'not '}supported by the passage ({ga:.0%} of its "
                f"words occur there); Assistant B's is {'' if gb >= 0.6 else 'not '}({gb:.0%}). [[{verdict}]]"
            )
    # no passage (or both equally supported): the more complete answer wins, ties broken by position (which
    # swapping exposes)
    verdict = "A" if len(ta) > len(tb) else "B" if len(tb) > len(ta) else "A"
    return f"Assistant {verdict} gives the more complete and helpful answer. [[{verdict}]]"


def _rubric(prompt: str) -> str:
    m = re.search(r"\[The Start of Answer\]\s*(.*?)\s*\[The End of Answer\]", prompt, re.S)
    ans = m.group(1) if m else ""
    score = max(1, min(10, 1 + len(ans.split()) // 6))
    return f"The answer is {'detailed' if score > 5 else 'brief'}. Rating: [[{score}]]"


def _evol(prompt: str) -> str:
    m = re.search(r"#The Given Prompt#:\s*(.*?)\s*#(?:Rewritten|Created) Prompt#:", prompt, re.S)
    given = (m.group(1) if m else prompt).strip()
    h = _h(prompt)
    if h % 11 == 0:
        return given  # unchanged: an evolution the elimination rules must catch
    adds = [
        "Answer in no more than five sentences.",
        "Include one concrete example.",
        "Explain your reasoning step by step.",
        "Consider the case of a beginner and of an expert.",
        "Use a table to compare the options.",
    ]
    if "#Created Prompt#" in prompt:
        kws = _keywords(given, 2) or ["topic"]
        return f"{_VERBS[h % len(_VERBS)]} how {kws[0]} relates to {_OBJECTS[h % len(_OBJECTS)]}."
    return f"{given.rstrip('.')}. {adds[h % len(adds)]}"


def fake_answer(messages: list[dict[str, Any]], *, json_mode: bool = False, seed: int | None = None) -> str:
    """The deterministic answer the fake server gives to ``messages`` (``seed`` varies rewrites, as a sampled
    teacher would)."""
    prompt = "\n".join(str(m.get("content") or "") for m in messages if m.get("role") in ("system", "user"))
    users = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
    last = users[-1] if users else prompt
    if last.startswith("Your previous answer could not be used") and len(users) > 1:
        last = users[-2]  # a re-ask: answer the task again
    if last.startswith("Rewrite the following text") and (rewritten := _rewrite(last, seed or 0)) is not None:
        return rewritten
    if "new tasks" in last and "Come up with" in last:
        return _self_instruct(last)
    if "question-answer pair" in last:
        return _qa(last)
    if "[The Start of Assistant A's Answer]" in last:
        return _pairwise(last)
    if "[The Start of Answer]" in last:
        return _rubric(last)
    if "#Rewritten Prompt#" in last or "#Created Prompt#" in last:
        return _evol(last)
    if "Critique" in last and "<response>" in last:
        return json.dumps({"critique": "The response is relevant but could be more specific.", "score": 6})
    if json_mode:
        return json.dumps({"answer": _answer_text(prompt)})
    return _answer_text(prompt)


@dataclass
class FakeServerStats:
    """What the server saw: requests by path and status, and completions by prompt hash."""

    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    completed: Counter[str] = field(default_factory=Counter)  # prompt-hash -> successful (billed) answers
    prompt_tokens: int = 0
    completion_tokens: int = 0


class FakeServer:
    """An OpenAI-compatible fake chat server; use as a context manager or ``start()``/``stop()``.

    Args:
        latency: seconds each answer takes (the event loop is not blocked, so concurrency is real).
        rate_limit_rate, error_rate, malformed_rate, bad_json_rate, empty_rate, truncate_rate, slow_rate:
            fractions of requests answered with 429 (``Retry-After: retry_after``), 500, a broken JSON body,
            non-JSON content in JSON mode, empty content, a truncated answer (``finish_reason="length"``),
            or ``slow_seconds`` delay.
        seed: seeds the fault injection so runs repeat.
        model: the model name reported by ``/v1/models``.
        port: 0 picks a free port.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        rate_limit_rate: float = 0.0,
        retry_after: float = 0.05,
        error_rate: float = 0.0,
        malformed_rate: float = 0.0,
        bad_json_rate: float = 0.0,
        empty_rate: float = 0.0,
        truncate_rate: float = 0.0,
        slow_rate: float = 0.0,
        slow_seconds: float = 2.0,
        seed: int = 0,
        model: str = "fake-teacher",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        rates = dict(
            rate_limit_rate=rate_limit_rate,
            error_rate=error_rate,
            malformed_rate=malformed_rate,
            bad_json_rate=bad_json_rate,
            empty_rate=empty_rate,
            truncate_rate=truncate_rate,
            slow_rate=slow_rate,
        )
        for k, v in rates.items():
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{k} must be within [0, 1], got {v!r}")
        if latency < 0:
            raise ValueError(f"latency must be >= 0, got {latency!r}")
        self.latency, self.retry_after, self.slow_seconds = latency, retry_after, slow_seconds
        self.rates = rates
        self.model, self.host, self.port = model, host, port
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.stats = FakeServerStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The OpenAI-style base URL, ending in ``/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def requests(self) -> int:
        return self.stats.requests

    def start(self) -> FakeServer:
        if self._thread is not None:
            return self
        ready = threading.Event()
        error: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._handle, self.host, self.port, backlog=1024)
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                error.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            self._server.close()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=run, name="datamill-fake-server", daemon=True)
        self._thread.start()
        ready.wait()
        if error:
            self._thread = None
            raise error[0]
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._thread = None

    def serve_forever(self) -> None:
        """Start and block until interrupted (for ``datamill synthetic fake-server``)."""
        self.start()
        try:
            while True:
                time.sleep(3600)
        finally:
            self.stop()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def teacher(self, **kw: Any) -> Any:
        """An :class:`~datamill.synthetic.OpenAITeacher` pointed at this server (keyword options passed on)."""
        from datamill.synthetic.teachers import OpenAITeacher

        return OpenAITeacher(base_url=self.url, model=kw.pop("model", self.model), **kw)

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = FakeServerStats()

    # -- HTTP ----------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    method, path, _ = line.decode("latin-1").split(" ", 2)
                except ValueError:
                    break
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                try:
                    status, extra, payload = await self._respond(method, path.split("?")[0], body)
                except Exception as exc:  # noqa: BLE001 - a bug here must surface as a 500, not a hang
                    status, extra, payload = self._count(500, {}, {"error": {"message": repr(exc)}})
                head = [
                    f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}",
                    "Content-Type: application/json",
                    f"Content-Length: {len(payload)}",
                    "Connection: keep-alive",
                ]
                head += [f"{k}: {v}" for k, v in extra.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(RuntimeError):  # loop already closing
                writer.close()

    def _draw(self) -> str | None:
        with self._lock:
            r = self._rng.random()
        acc = 0.0
        for fault in (
            "rate_limit_rate",
            "error_rate",
            "malformed_rate",
            "bad_json_rate",
            "empty_rate",
            "truncate_rate",
            "slow_rate",
        ):
            acc += self.rates.get(fault, 0.0)
            if r < acc:
                return fault
        return None

    async def _respond(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        path = path.rstrip("/")
        if method == "GET" and path in (
            "/v1/_stats",
            "/_stats",
        ):  # counters for a server in another process (not counted)
            st = self.stats
            return (
                200,
                {},
                json.dumps(
                    {
                        "requests": st.requests,
                        "by_status": {str(k): v for k, v in st.by_status.items()},
                        "completed": sum(st.completed.values()),
                        "prompt_tokens": st.prompt_tokens,
                        "completion_tokens": st.completion_tokens,
                    }
                ).encode(),
            )
        with self._lock:
            self.stats.requests += 1
        if method == "GET" and path in ("/v1/models", "/models"):
            return self._count(200, {}, {"object": "list", "data": [{"id": self.model, "object": "model"}]})
        if method != "POST" or path not in ("/v1/chat/completions", "/chat/completions"):
            return self._count(404, {}, {"error": {"message": f"no route {method} {path}"}})
        try:
            req = json.loads(body)
            messages = req["messages"]
        except (ValueError, KeyError, TypeError):
            return self._count(400, {}, {"error": {"message": "body must be JSON with 'messages'"}})
        fault = self._draw()
        if fault == "rate_limit_rate":
            return self._count(
                429, {"Retry-After": f"{self.retry_after:g}"}, {"error": {"message": "rate limited"}}
            )
        if fault == "error_rate":
            return self._count(500, {}, {"error": {"message": "internal error"}})
        delay = self.latency + (self.slow_seconds if fault == "slow_rate" else 0.0)
        if delay:
            await asyncio.sleep(delay)
        json_mode = (req.get("response_format") or {}).get("type") in ("json_object", "json_schema")
        text = fake_answer(messages, json_mode=json_mode, seed=req.get("seed"))
        finish = "stop"
        if fault == "bad_json_rate" and json_mode:
            text = "Sure! Here is the JSON you asked for: {"
        if fault == "empty_rate":
            text = ""
        if fault == "truncate_rate":
            text, finish = text[: max(1, len(text) // 3)], "length"
        n = max(1, int(req.get("n") or 1))
        ptoks = sum(len(str(m.get("content") or "").split()) + 4 for m in messages)
        ctoks = len(text.split()) * n
        key = xxhash.xxh64_hexdigest(body)
        with self._lock:
            self.stats.completed[key] += 1
            self.stats.prompt_tokens += ptoks
            self.stats.completion_tokens += ctoks
        out = {
            "id": f"chatcmpl-{key}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.get("model", self.model),
            "choices": [
                {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
                for i in range(n)
            ],
            "usage": {"prompt_tokens": ptoks, "completion_tokens": ctoks, "total_tokens": ptoks + ctoks},
        }
        if fault == "malformed_rate":
            return self._count(200, {}, None, raw=json.dumps(out)[:-7].encode())
        return self._count(200, {}, out)

    def _count(
        self,
        status: int,
        extra: dict[str, str],
        data: Any,
        raw: bytes | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.stats.by_status[status] += 1
        return status, extra, raw if raw is not None else json.dumps(data).encode()


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
}
