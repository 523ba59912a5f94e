"""The English the fake teacher speaks: word lists and the rules that turn a passage's sentences into questions
(on their opening noun phrase and verb), list a passage's statements and topics, rephrase a question as another
user would, and answer one without a source. Used by :mod:`datamill.synthetic.fake_server`; the rules are
heuristics for plausible test data, not a parser.

A little past the house's ~450 lines: most of it is word tables (verbs, determiners, irregular pasts) that
the rules share, and the rules read best beside them."""

from __future__ import annotations

import re
from collections import Counter

import xxhash

__all__ = [
    "INSTRUCTION_VERBS",
    "WORD",
    "answer_text",
    "keywords",
    "passage_of",
    "read_passage",
    "rephrase",
    "word_hash",
]

WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
_STOP = frozenset(
    (
        "a an the and or of to in on for with is are was were be been by as at it its this that these "
        "those from into about your you we our their they he she his her not no can will would should "
        "could what which who how why when where does do did give write make list each one two some "
        "any more most than then there here also such only very just like using use used other"
    ).split()
)
INSTRUCTION_VERBS = (
    "Explain Describe Summarize Compare Classify Suggest Rewrite Translate Outline Evaluate Identify "
    "Recommend Estimate Propose Criticise Convert Rank Plan"
).split()
_VERB_SET = frozenset(v.lower() for v in INSTRUCTION_VERBS)


def word_hash(*parts: str) -> int:
    return xxhash.xxh64_intdigest("\x1f".join(parts).encode("utf-8", "surrogatepass"))


def keywords(text: str, n: int = 6) -> list[str]:
    seen: dict[str, None] = {}
    for w in WORD.findall(text):
        lw = w.lower()
        if lw not in _STOP and lw not in _VERB_SET and len(lw) > 2:
            seen.setdefault(lw, None)
    return list(seen)[:n]


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    return [p for p in parts if len(p.split()) >= 4]


def passage_of(text: str) -> str:
    m = re.search(r"<passage>\s*(.*?)\s*</passage>", text, re.S)
    return m.group(1) if m else text


def answer_text(prompt: str) -> str:
    question = prompt.strip().splitlines()[-1].strip() if prompt.strip() else ""
    if "?" in question or re.match(r"(I'd like to know|Tell me about) ", question):
        return _unsourced_answer(question)
    kws = keywords(prompt) or ["this"]
    h = word_hash(prompt)
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
_DET = frozenset("the a an another each every most many some all both several few".split())
_POSS = frozenset("our my their your his her".split())
_PRON = frozenset(
    (
        "i you we he she it they me us them him who which that what whom whose this these those there "
        "here one anyone someone everyone nobody something anything everything nothing thee thou"
    ).split()
)
_NOT_FIRST = _PRON | frozenset(
    (
        "if when whenever while because but and so or as although though once after before since "
        "until unless with without in on at by for from to of into then also however therefore thus "
        "maybe perhaps just still yes no not according like such whether how why where its sometimes "
        "often usually always never even only again today now recently finally first please let thank "
        "thanks example meaning answer output input question note user bot following much more other "
        "same different very every"
    ).split()
)
_IMPERATIVE = frozenset(
    (
        "write check remember invite take view bank turn make listen tell classify explain describe "
        "rewrite suggest detect given parse complete recommend use imagine learn look choose search "
        "schedule go address find generate create give list identify convert translate summarize "
        "summarise read return predict solve think come try add consider plan keep water start follow "
        "ensure avoid ask call visit get put set stay work show help contact hire compare sort play "
        "select fill extract pick provide edit design format determine calculate decide name rank "
        "rate fix improve draw book do don't be have see buy pay say ride move open close join watch"
    ).split()
)
_NOT_FIRST |= _IMPERATIVE
_BE = frozenset(["is", "are", "was", "were"])
_MODALS = frozenset("can could should must will would may might".split())
_ADVERBS = frozenset(
    (
        "now recently already also just always never often finally still first usually certainly "
        "clearly generally mostly really actually"
    ).split()
)
# third-person verbs whose object "What does X ...?" asks for, with their base form
_OBJECT_VERBS = dict(
    pair.split(":")
    for pair in (
        "carries:carry joins:join shows:show means:mean needs:need offers:offer provides:provide "
        "includes:include requires:require contains:contain causes:cause uses:use gives:give "
        "makes:make allows:allow protects:protect improves:improve creates:create supports:support "
        "produces:produce describes:describe explains:explain measures:measure stores:store "
        "holds:hold serves:serve covers:cover reduces:reduce increases:increase affects:affect "
        "prevents:prevent expects:expect recommends:recommend suggests:suggest says:say states:state "
        "claims:claim sells:sell teaches:teach builds:build wants:want receives:receive "
        "combines:combine represents:represent refers:refer depends:depend consists:consist "
        "helps:help turns:turn keeps:keep brings:bring flows:flow"
    ).split()
)
_BASE_OBJECT = frozenset(_OBJECT_VERBS.values())
_TRAILING_PREP = {"refer": "to", "depend": "on", "consist": "of", "turn": "into", "flow": "through"}
_IRREGULAR_PAST = dict(
    pair.split(":")
    for pair in (
        "said:say told:tell made:make found:find took:take gave:give became:become began:begin "
        "won:win lost:lose built:build spent:spend paid:pay sold:sell led:lead wrote:write grew:grow "
        "knew:know thought:think brought:bring held:hold kept:keep chose:choose left:leave sent:send "
        "got:get"
    ).split()
)
_PARTICIPLES = frozenset(
    (
        "spent done made seen taken given found won lost built become grown shown written brought "
        "kept held sold told paid left met begun known chosen led sent got gotten run"
    ).split()
)
_PERSON = frozenset(
    (
        "author founder president singer singer-songwriter writer actor actress player musician "
        "artist scientist speaker chairman ceo director spokesman spokeswoman leader member composer "
        "violinist teacher poet politician engineer investor owner minister mayor chef coach "
        "professor doctor"
    ).split()
)
_WHERE = frozenset(
    (
        "located printed found held based kept stored shown sold written listed displayed published "
        "placed built grown hidden buried"
    ).split()
)
_ADJ_TO = frozenset(
    (
        "equal similar close related connected linked due opposed dedicated devoted committed "
        "important useful harmful essential open available"
    ).split()
)
_NOT_ADJ = frozenset("more less very really so too much quite not still".split())
_NP_WORD = re.compile(r"[A-Za-z][\w'’\-]*|\d[\d,.]*")
_NP_END = frozenset("of in for from on at with and such as the a an".split())
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


def read_passage(passage: str, *, part: tuple[int, int] = (0, 1)) -> list[tuple[str, str]]:
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


def rephrase(question: str, k: int) -> str:
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
    topic = " ".join(words) if 0 < len(words) <= 8 else ", ".join(keywords(q, 2)) or "this"
    tmpl = _UNSOURCED[word_hash(question) % len(_UNSOURCED)]
    return tmpl.format(T=topic[:1].upper() + topic[1:], t=topic)
