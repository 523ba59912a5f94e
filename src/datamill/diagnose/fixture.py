"""A deterministic evaluation set with planted causes of mistakes, to check that diagnosis recovers them.

A support-ticket intent task (billing, shipping, account, technical, returns). The training set is
templated tickets; the evaluation results hold correct answers plus mistakes of five planted kinds:

    never_seen             questions on topics the training set never covers (cooking, astronomy ...)
    noisy_label            a near copy in training carries a wrong label among correctly labelled copies
    inconsistent_label     ambiguous tickets labelled both ways in training, or judged differently by annotators
    contradictory_context  the retrieved passages state different numbers, dates or a negation flip
    unexplained            well-covered, consistently labelled tickets the model still got wrong

Some mistakes get two planted causes (noisy label and contradictory context): a "combination".
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["PlantedFixture", "make_planted", "write_planted"]

LABELS = ("billing", "shipping", "account", "technical", "returns")
_PRODUCTS = (
    "laptop",
    "phone",
    "headphones",
    "camera",
    "tablet",
    "smartwatch",
    "printer",
    "router",
    "monitor",
    "keyboard",
    "speaker",
    "coffee machine",
    "vacuum cleaner",
    "e-reader",
    "drone",
    "gaming console",
)
_TEMPLATES = {
    "billing": (
        "I was charged twice for my {p} purchase",
        "Why does my invoice for the {p} show an extra fee",
        "The payment for my {p} failed but money left my account",
        "Can I get a receipt for the {p} I bought",
        "My card was billed {n} dollars more than the {p} price",
        "Please explain the tax on my {p} invoice",
        "I need to update the credit card used for my {p} subscription",
        "The discount code was not applied to my {p} payment",
    ),
    "shipping": (
        "Where is my {p}, the tracking has not moved in {n} days",
        "My {p} delivery is late",
        "Can you ship the {p} to a different address",
        "The courier left my {p} at the wrong door",
        "How long does express delivery of a {p} take",
        "Tracking says the {p} was delivered but it is not here",
        "Do you ship the {p} internationally",
        "The {p} package is stuck at customs for {n} days",
    ),
    "account": (
        "I cannot log in to my account after ordering the {p}",
        "How do I reset my password",
        "Please change the email address on my profile",
        "I want to delete my account and my {p} order history",
        "My account was locked after {n} login attempts",
        "How do I enable two-factor authentication",
        "Someone else is using my account to buy a {p}",
        "I want to merge my two customer accounts",
    ),
    "technical": (
        "My {p} will not turn on",
        "The {p} keeps disconnecting from wifi",
        "The firmware update bricked my {p}",
        "My {p} overheats after {n} minutes",
        "The screen of my {p} flickers",
        "How do I pair the {p} with bluetooth",
        "The {p} battery drains in {n} hours",
        "The {p} app crashes when I open settings",
    ),
    "returns": (
        "I want to return the {p} I bought",
        "How do I get a refund for my {p}",
        "The {p} arrived damaged and I want a replacement",
        "What is the return window for a {p}",
        "Can I exchange my {p} for a different colour",
        "I sent the {p} back {n} days ago and have no refund",
        "Do I pay the postage to return a {p}",
        "Please send me a return label for the {p}",
    ),
}
_OPENERS = ("", "Hi, ", "Hello, ", "Good morning. ", "Hey support, ")
_CLOSERS = ("", " Thanks.", " Please help.", " Thank you in advance.", " Regards.")
_UNSEEN = (
    "How long should I knead bread dough before the first rise",
    "What temperature do I roast a whole chicken at",
    "Which planets can be seen with the naked eye tonight",
    "How far away is the Andromeda galaxy",
    "When should I prune my apple trees",
    "What is the best soil for growing tomatoes",
    "How does castling work in chess",
    "Who wrote the novel War and Peace",
    "What is the capital city of Australia",
    "How many bones are in the human body",
    "How do I tune a guitar to drop D",
    "What causes the northern lights",
    "How do I remove red wine stains from a carpet",
    "What is the offside rule in football",
    "How do volcanoes form",
    "Which vitamins are found in spinach",
)
# tickets a reasonable person could file either way: the training set holds both labels
_AMBIGUOUS = (
    ("I was billed for a replacement {p} that arrived broken", "billing", "returns"),
    (
        "My {p} return was delivered to the warehouse but the courier lost the refund label",
        "shipping",
        "returns",
    ),
    ("I cannot log in to the {p} companion app after the update", "account", "technical"),
    ("The refund for the {p} went to my old card which I closed", "billing", "returns"),
    ("My {p} shipment needs a signature but my account address is wrong", "shipping", "account"),
    ("The {p} setup wizard asks me to pay again for my subscription", "technical", "billing"),
    ("I returned the {p} but my account still shows it as an active rental", "account", "returns"),
    ("The {p} stopped working so I sent it back, who pays the shipping", "technical", "shipping"),
    ("My payment for the {p} was declined and my account got suspended", "billing", "account"),
    ("The courier damaged my {p} and now it does not start", "shipping", "technical"),
    ("I was charged a restocking fee when I returned my {p}", "billing", "returns"),
    ("My {p} was delivered to my old address saved in my profile", "shipping", "account"),
)
_FACTS = (  # (statement with {v}, true value, contradicting value)
    ("The {p} warranty lasts {v} months.", "12", "24"),
    ("Returns of a {p} are accepted within {v} days of delivery.", "30", "14"),
    ("Standard shipping of a {p} takes {v} business days.", "5", "9"),
    ("The {p} battery is rated for {v} charge cycles.", "500", "800"),
    ("The {p} was released in {v}.", "2019", "2022"),
    ("Support for the {p} firmware ends in {v}.", "2027", "2025"),
    ("The {p} supports up to {v} paired devices.", "4", "8"),
    ("A replacement {p} costs {v} dollars.", "149", "99"),
)
_NEGATION = (
    (
        "The {p} is covered by the accidental damage plan.",
        "The {p} is not covered by the accidental damage plan.",
    ),
    ("Express delivery is available for the {p}.", "Express delivery is not available for the {p}."),
    ("The {p} can be returned after opening.", "The {p} cannot be returned after opening."),
)
_NEUTRAL = (
    "Our support team answers tickets on weekdays.",
    "Orders are packed in recyclable boxes.",
    "Customers can chat with an agent from the help page.",
    "Gift cards never expire.",
)


@dataclass(slots=True)
class PlantedFixture:
    """Rows for :func:`~datamill.diagnose.diagnose` and the planted cause(s) of each mistake id."""

    results: list[dict[str, Any]]
    train: list[dict[str, Any]]
    feedback: list[dict[str, Any]]
    planted: dict[str, set[str]] = field(default_factory=dict)  # cause -> mistake ids
    mislabelled: set[str] = field(default_factory=set)  # training ids given a wrong label on purpose


def _ticket(rng: random.Random, label: str, product: str | None = None) -> str:
    t = rng.choice(_TEMPLATES[label])
    return (
        rng.choice(_OPENERS)
        + t.format(p=product or rng.choice(_PRODUCTS), n=rng.randint(2, 20))
        + rng.choice(_CLOSERS)
    )


def _variants(rng: random.Random, base: str, n: int) -> list[str]:
    pairs = [(o, c) for o in _OPENERS for c in _CLOSERS]
    rng.shuffle(pairs)
    return [o + base + c for o, c in pairs[:n]]


def _context(rng: random.Random, product: str, *, contradict: bool) -> list[str]:
    """Three passages about ``product``; with ``contradict`` two of them disagree on one fact."""
    facts = rng.sample(_FACTS, 3)
    passages = [
        " ".join([f[0].format(p=product, v=f[1]) for f in facts[:2]] + [rng.choice(_NEUTRAL)]),
        " ".join([facts[2][0].format(p=product, v=facts[2][1]), rng.choice(_NEUTRAL)]),
    ]
    if not contradict:
        passages.append(rng.choice(_NEUTRAL) + " " + facts[0][0].format(p=product, v=facts[0][1]))
    elif rng.random() < 0.7:
        f = facts[0]
        passages.append(rng.choice(_NEUTRAL) + " " + f[0].format(p=product, v=f[2]))
    else:
        pos, neg = rng.choice(_NEGATION)
        passages[0] += " " + pos.format(p=product)
        passages.append(neg.format(p=product))
    return passages


def make_planted(
    *,
    n_train_per_label: int = 80,
    n_correct: int = 120,
    n_per_cause: int = 12,
    n_combination: int = 4,
    flip_rate: float = 0.0,
    seed: int = 0,
) -> PlantedFixture:
    """Build the planted-cause fixture (same arguments -> same rows).

    ``flip_rate`` also gives that share of the ordinary templated training tickets a random wrong
    label (single flips, no near copy to compare with), recorded in ``mislabelled``.
    """
    if not 0 <= flip_rate < 1:
        raise ValueError(f"flip_rate must be in [0, 1), got {flip_rate!r}")
    rng = random.Random(seed)
    rows = _Planter(rng)
    rows.ordinary(n_train_per_label, n_correct)
    rows.never_seen(n_per_cause)
    products = list(_PRODUCTS)
    rng.shuffle(products)
    rows.noisy_labels(n_per_cause, n_combination, products)
    rows.inconsistent_labels(n_per_cause, products)
    rows.contradictions(n_per_cause)
    rows.unexplained(n_per_cause)
    rows.agreement()
    # a separate stream: flip_rate=0 leaves the rows above unchanged
    rows.flip(random.Random(seed + 10_007), flip_rate, len(LABELS) * n_train_per_label)
    return PlantedFixture(
        results=rows.results,
        train=rows.train,
        feedback=rows.feedback,
        planted=rows.planted,
        mislabelled=rows.mislabelled,
    )


class _Planter:
    """The fixture's rows as they are built, one method per kind of row; called in a fixed order
    on one seeded RNG, so the same arguments give the same rows."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.train: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []
        self.feedback: list[dict[str, Any]] = []
        self.mislabelled: set[str] = set()
        self.planted: dict[str, set[str]] = {
            c: set()
            for c in (
                "never_seen",
                "noisy_label",
                "inconsistent_label",
                "contradictory_context",
                "unexplained",
            )
        }

    def add_train(self, text: str, label: str) -> str:
        tid = f"t{len(self.train):05d}"
        self.train.append({"id": tid, "input": text, "label": label})
        return tid

    def add_result(
        self,
        text: str,
        expected: str,
        output: str,
        ctx: list[str] | None = None,
        causes: tuple[str, ...] = (),
    ) -> None:
        rid = f"r{len(self.results):05d}"
        row: dict[str, Any] = {
            "id": rid,
            "input": text,
            "expected": expected,
            "output": output,
            "correct": expected == output,
        }
        if ctx is not None:
            row["contexts"] = ctx
        self.results.append(row)
        for c in causes:
            self.planted[c].add(rid)

    def wrong(self, label: str) -> str:
        return self.rng.choice([x for x in LABELS if x != label])

    def ordinary(self, n_train_per_label: int, n_correct: int) -> None:
        """Templated training tickets per label, and correctly answered results (half with a context)."""
        rng = self.rng
        for label in LABELS:
            for _ in range(n_train_per_label):
                self.add_train(_ticket(rng, label), label)
        for _ in range(n_correct):
            label = rng.choice(LABELS)
            product = rng.choice(_PRODUCTS)
            self.add_result(
                _ticket(rng, label, product),
                label,
                label,
                _context(rng, product, contradict=False) if rng.random() < 0.5 else None,
            )

    def never_seen(self, n: int) -> None:
        """Questions on topics no training ticket covers."""
        for k in range(n):  # past the list, the same questions worded a little differently
            text = _UNSEEN[k % len(_UNSEEN)] + "?"
            if k >= len(_UNSEEN):
                text = _OPENERS[1 + k % 4] + text + _CLOSERS[1 + (k // 4) % 4]
            self.add_result(text, "other", self.rng.choice(LABELS), causes=("never_seen",))

    def noisy_labels(self, n: int, n_combination: int, products: list[str]) -> None:
        """A mislabelled near copy among correct copies; the last ``n_combination`` also get contradictory
        passages."""
        rng = self.rng
        for k in range(n + n_combination):
            label = LABELS[k % len(LABELS)]
            template = rng.choice([t for t in _TEMPLATES[label] if "{p}" in t])
            base = template.format(p=products[k % len(products)], n=100 + k) + f" (order {5000 + k})"
            copies = _variants(rng, base, 6)
            for text in copies[:4]:
                self.add_train(text, label)
            bad = self.wrong(label)
            self.mislabelled.add(self.add_train(copies[4], bad))
            ctx = None
            causes: tuple[str, ...] = ("noisy_label",)
            if k >= n:
                ctx = _context(rng, products[k % len(products)], contradict=True)
                causes = ("noisy_label", "contradictory_context")
            self.add_result(copies[5], label, bad, ctx, causes)

    def inconsistent_labels(self, n: int, products: list[str]) -> None:
        """Ambiguous tickets labelled both ways in training, or (every third) judged differently."""
        rng = self.rng
        for k in range(n):
            template, a, b = _AMBIGUOUS[k % len(_AMBIGUOUS)]
            base = template.format(p=products[(k + 3) % len(products)])
            copies = _variants(rng, base, 3)
            if k % 3 == 2:  # one training copy, but annotators split on it
                tid = self.add_train(copies[0], a)
                values = (a, b, rng.choice([x for x in LABELS if x not in (a, b)]))
                for ann, value in zip(("ann1", "ann2", "ann3"), values, strict=True):
                    self.feedback.append({"annotator": ann, "task": tid, "value": value})
            else:
                self.add_train(copies[0], a)
                self.add_train(copies[1], b)
            self.add_result(copies[2], a, b, causes=("inconsistent_label",))

    def contradictions(self, n: int) -> None:
        """Ordinary tickets answered wrong, with passages that contradict each other."""
        rng = self.rng
        for _ in range(n):
            label = rng.choice(LABELS)
            product = rng.choice(_PRODUCTS)
            self.add_result(
                _ticket(rng, label, product),
                label,
                self.wrong(label),
                _context(rng, product, contradict=True),
                ("contradictory_context",),
            )

    def unexplained(self, n: int) -> None:
        """Plain mistakes with nothing wrong in the data."""
        rng = self.rng
        for _ in range(n):
            label = rng.choice(LABELS)
            product = rng.choice(_PRODUCTS)
            self.add_result(
                _ticket(rng, label, product),
                label,
                self.wrong(label),
                _context(rng, product, contradict=False) if rng.random() < 0.5 else None,
                ("unexplained",),
            )

    def agreement(self) -> None:
        """Three annotators agreeing on a few ordinary items, so annotator statistics mean something."""
        for row in self.train:
            if self.rng.random() < 0.05:
                for ann in ("ann1", "ann2", "ann3"):
                    self.feedback.append({"annotator": ann, "task": row["id"], "value": row["label"]})

    def flip(self, flip: random.Random, flip_rate: float, n_ordinary: int) -> None:
        """Give ``flip_rate`` of the first ``n_ordinary`` training tickets a random wrong label."""
        for row in self.train[:n_ordinary]:
            if flip_rate and flip.random() < flip_rate:
                row["label"] = flip.choice([x for x in LABELS if x != row["label"]])
                self.mislabelled.add(row["id"])


def write_planted(folder: str | os.PathLike[str], **kw: Any) -> dict[str, str]:
    """Write results.jsonl, train.jsonl, feedback.jsonl and planted.json into ``folder``; returns the paths."""
    fx = make_planted(**kw)
    os.makedirs(folder, exist_ok=True)
    paths = {name: os.path.join(folder, f"{name}.jsonl") for name in ("results", "train", "feedback")}
    for name, rows in (("results", fx.results), ("train", fx.train), ("feedback", fx.feedback)):
        with open(paths[name], "wb") as fh:
            fh.writelines(orjson.dumps(r) + b"\n" for r in rows)
    paths["planted"] = os.path.join(folder, "planted.json")
    with open(paths["planted"], "wb") as fh:
        fh.write(orjson.dumps({k: sorted(v) for k, v in fx.planted.items()}, option=orjson.OPT_INDENT_2))
    return paths
