"""The fake teacher's answers to rubric prompts (``datamill pretrain annotate``'s presets).

The score follows the document's own features, so a classifier trained on the labels has something
real to learn: FineWeb-Edu's additive points come from the length of the text and the share of its
words that are school vocabulary (versus shop, login and ad vocabulary); the toxicity score from the
number of insults, slurs, profanity and threats. The answer ends as the rubrics ask
(``Educational score: N``, ``Toxicity score: N``).
"""

from __future__ import annotations

import re

__all__ = ["rubric_answer"]

_WORD = re.compile(r"[a-z']+")
EDU_WORDS = frozenset(
    [
        "learn",
        "learning",
        "learned",
        "students",
        "student",
        "teacher",
        "teachers",
        "lesson",
        "lessons",
        "science",
        "scientific",
        "history",
        "historical",
        "theory",
        "example",
        "examples",
        "explain",
        "explains",
        "explained",
        "definition",
        "defined",
        "process",
        "because",
        "therefore",
        "research",
        "study",
        "studies",
        "chapter",
        "equation",
        "equations",
        "cell",
        "cells",
        "energy",
        "species",
        "century",
        "experiment",
        "experiments",
        "analysis",
        "understand",
        "understanding",
        "concept",
        "concepts",
        "method",
        "methods",
        "evidence",
        "language",
        "mathematics",
        "math",
        "biology",
        "chemistry",
        "physics",
        "geography",
        "government",
        "economy",
        "culture",
        "education",
        "school",
        "schools",
        "university",
        "knowledge",
        "question",
        "questions",
        "answer",
        "answers",
        "describe",
        "describes",
        "called",
        "known",
        "form",
        "forms",
        "system",
        "systems",
        "water",
        "earth",
        "body",
        "plants",
        "animals",
        "war",
        "population",
        "law",
        "rights",
        "literature",
        "climate",
        "temperature",
    ]
)
COMMERCE_WORDS = frozenset(
    [
        "buy",
        "price",
        "prices",
        "sale",
        "sales",
        "discount",
        "cart",
        "shop",
        "shopping",
        "order",
        "orders",
        "shipping",
        "login",
        "subscribe",
        "click",
        "cookie",
        "cookies",
        "casino",
        "bonus",
        "offer",
        "offers",
        "deal",
        "deals",
        "download",
        "account",
        "password",
        "privacy",
        "newsletter",
        "sponsored",
        "ad",
        "ads",
        "advertisement",
        "checkout",
        "coupon",
        "cheap",
    ]
)
TOXIC_WORDS = frozenset(
    [
        "idiot",
        "idiots",
        "stupid",
        "moron",
        "morons",
        "dumb",
        "loser",
        "losers",
        "trash",
        "pathetic",
        "ugly",
        "fuck",
        "fucking",
        "fucked",
        "shit",
        "bitch",
        "bitches",
        "ass",
        "asshole",
        "damn",
        "crap",
        "sucks",
        "disgusting",
        "scum",
        "worthless",
        "hoe",
        "hoes",
        "retard",
        "retarded",
        "fag",
        "faggot",
        "nigga",
        "nigger",
        "niggas",
        "pussy",
        "cunt",
        "whore",
        "slut",
    ]
)
THREAT_WORDS = frozenset(["kill", "die", "murder", "shoot", "hang", "burn"])


def _between(prompt: str, start: str, end: str) -> str:
    m = re.search(re.escape(start) + r"\s*(.*?)\s*" + re.escape(end), prompt, re.S)
    return m.group(1) if m else prompt


def _edu(text: str) -> str:
    words = _WORD.findall(text.lower())
    n = len(words) or 1
    edu = sum(w in EDU_WORDS for w in words) / n
    shop = sum(w in COMMERCE_WORDS for w in words) / n
    points = [
        (len(words) >= 40 and edu >= 0.005, "it gives some basic information"),
        (edu >= 0.015 and shop < 0.03, "it touches on educational topics"),
        (edu >= 0.03 and shop < 0.015 and len(words) >= 80, "it introduces concepts a school teaches"),
        (edu >= 0.045 and shop < 0.01 and len(words) >= 150, "it reads like a textbook section"),
        (edu >= 0.065 and shop == 0 and len(words) >= 250, "it is outstanding teaching material"),
    ]
    score = 0
    said = []
    for ok, why in points:  # additive: a point counts only when every point before it did
        if not ok:
            break
        score += 1
        said.append(why)
    why = "; ".join(said) if said else "it has no educational content"
    return (
        f"The extract has {len(words)} words, {edu:.1%} of them school vocabulary and {shop:.1%} shop or "
        f"login vocabulary: {why}.\n\nEducational score: {score}"
    )


def _toxicity(text: str) -> str:
    words = _WORD.findall(text.lower())
    bad = sum(w in TOXIC_WORDS for w in words)
    threat = sum(w in THREAT_WORDS for w in words)
    score = 0 if bad == 0 else 1 if bad == 1 else 2 if bad < 4 and not threat else 3
    cats = (["insult or profanity"] if bad else []) + (["threat"] if threat and bad else [])
    return (
        f"The text has {bad} insulting or profane word(s)"
        + (f" ({', '.join(cats)})" if cats else "")
        + f".\n\nToxicity score: {score}"
    )


def rubric_answer(prompt: str) -> str | None:
    """The fake teacher's answer to a rubric prompt, or None when ``prompt`` is no rubric it knows."""
    if "Educational score:" in prompt and "The extract:" in prompt:
        return _edu(_between(prompt, "The extract:", "After examining the extract"))
    if "Toxicity score:" in prompt and "The text:" in prompt:
        return _toxicity(_between(prompt, "The text:", "After examining the text"))
    return None
