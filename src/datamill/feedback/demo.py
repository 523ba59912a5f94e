"""A demo database for a first look at the app: three small projects, two simulated annotators, no admin.

``datamill quickstart`` seeds it next to the journey's project; ``datamill feedback demo`` seeds any
database. The first visit of ``datamill feedback serve`` then asks for the admin account.
"""

from __future__ import annotations

import random
import secrets
from typing import Any

from datamill.feedback.db import Database

__all__ = ["DEMO_TASKS", "seed_demo"]

GUIDELINES = """# Demo: which answer is better?

Prefer the answer that is **correct**, then the one that is **helpful** and **concise**.

- Wrong facts or broken code lose, however polished the prose.
- Press <kbd>a</kbd> or <kbd>b</kbd> (<kbd>t</kbd> for a tie), optionally <kbd>1</kbd>-<kbd>3</kbd> for
  how much better, then <kbd>Enter</kbd>. <kbd>?</kbd> shows every shortcut.
"""

# (prompt or chat, better answer, worse answer); a few carry a gold answer (the better one).
DEMO_TASKS: list[dict[str, Any]] = [
    {
        "id": "capital-au",
        "prompt": "What is the capital of Australia?",
        "good": "Canberra. It was purpose-built as a compromise between Sydney and Melbourne.",
        "bad": "Sydney, the largest city, is the capital.",
        "gold": True,
    },
    {
        "id": "py-reverse",
        "prompt": "How do I reverse a list in Python?",
        "good": "Use slicing for a new list or `reverse()` in place:\n\n```python\nxs = [1, 2, 3]\n"
        "ys = xs[::-1]   # new list\nxs.reverse()    # in place\n```",
        "bad": "Python lists cannot be reversed; copy the items into a new list by hand.",
    },
    {
        "id": "boil-water",
        "prompt": "At what temperature does water boil at sea level?",
        "good": "100 °C (212 °F) at standard atmospheric pressure.",
        "bad": "Water boils at 90 °C at sea level; it is 100 °C only in a vacuum.",
        "gold": True,
    },
    {
        "id": "sql-count",
        "prompt": "Write SQL that counts the rows of table `orders` per `customer_id`.",
        "good": "```sql\nSELECT customer_id, COUNT(*) AS n\nFROM orders\nGROUP BY customer_id;\n```",
        "bad": "```sql\nSELECT COUNT(customer_id) FROM orders;\n```\nThis gives the count per customer.",
    },
    {
        "id": "haiku",
        "prompt": "Write a haiku about autumn.",
        "good": "Crisp leaves drift and fall\nthe maple lets its red go\nwind carries the year",
        "bad": "Autumn is a season that comes after summer and before winter in the temperate zones.",
    },
    {
        "id": "km-miles",
        "prompt": "Convert 10 km to miles.",
        "good": "10 km ≈ 6.21 miles (1 km ≈ 0.621 mi).",
        "bad": "10 km is 16.1 miles.",
    },
    {
        "id": "chat-followup",
        "messages": [
            {"role": "user", "content": "Recommend a book on statistics for beginners."},
            {
                "role": "assistant",
                "content": "*The Art of Statistics* by David Spiegelhalter is a friendly start.",
            },
            {"role": "user", "content": "Anything with exercises in Python?"},
        ],
        "good": "*Think Stats* by Allen B. Downey teaches statistics through Python exercises, and it is free online.",
        "bad": "Statistics books do not use programming languages.",
    },
    {
        "id": "regex-email",
        "prompt": "Is `^\\S+@\\S+$` a good way to validate email addresses?",
        "good": "It is a reasonable sanity check (something@something), but no regex fully validates email; "
        "send a confirmation link to be sure.",
        "bad": "Yes, it validates every valid address and rejects every invalid one.",
    },
    {
        "id": "photosynthesis",
        "prompt": "Explain photosynthesis in one sentence.",
        "good": "Plants use light energy to turn carbon dioxide and water into glucose and oxygen.",
        "bad": "Photosynthesis is how plants breathe in oxygen at night.",
    },
    {
        "id": "git-undo",
        "prompt": "How do I undo my last git commit but keep the changes?",
        "good": "`git reset --soft HEAD~1` moves the branch back one commit and keeps your changes staged.",
        "bad": "`git reset --hard HEAD~1` keeps your changes.",
    },
    {
        "id": "xss-sample",
        "prompt": "Model output is untrusted: does this page run it? <script>alert('xss')</script>",
        "good": "No: the app escapes HTML in prompts and answers, so `<script>` shows as text.",
        "bad": "<img src=x onerror=\"alert('xss')\"> [click](javascript:alert('xss'))",
    },
    {
        "id": "prime-check",
        "prompt": "Is 91 a prime number?",
        "good": "No: 91 = 7 × 13.",
        "bad": "Yes, 91 is prime because it is odd.",
    },
]


def seed_demo(
    db: Database | str | None = None,
    *,
    prefix: str = "demo",
    annotators: int = 2,
    seed: int = 0,
    noise: float = 0.2,
) -> dict[str, Any]:
    """Create the demo projects (pairwise with gold tasks, rubric, rewrite) and simulated pairwise judgements.

    Idempotent: projects that already exist are left alone. Creates no admin, so the app's first visit
    offers the admin account; the simulated annotators have random passwords nobody knows.

    Args:
        db: a Database or URL (default ``$DATABASE_URL`` or the SQLite default), migrated if new.
        prefix: project names are ``{prefix}-pairwise``, ``{prefix}-rubric`` and ``{prefix}-rewrite``.
        annotators: simulated annotators judging every pairwise task (overlap leaves room for you).
        seed: makes the simulated choices reproducible.
        noise: chance that a simulated annotator prefers the worse answer.

    Returns:
        ``{"url", "projects": [names], "created": [names], "judgements": int}``.
    """
    database = db if isinstance(db, Database) else Database(db)
    try:
        from datamill.feedback import service as svc

        taken = {p["name"] for p in svc.list_projects(database)}
        created: list[str] = []
        judged = 0
        name = f"{prefix}-pairwise"
        if name not in taken:
            judged = _pairwise_project(database, prefix, annotators=annotators, seed=seed, noise=noise)
            created.append(name)
        for kind in ("rubric", "rewrite"):
            name = f"{prefix}-{kind}"
            if name not in taken:
                _single_answer_project(database, name, kind)
                created.append(name)
        return {
            "url": database.url,
            "projects": [f"{prefix}-{k}" for k in ("pairwise", "rubric", "rewrite")],
            "created": created,
            "judgements": judged,
        }
    finally:
        if not isinstance(db, Database):
            database.dispose()


def _pairwise_rows(seed: int) -> tuple[list[tuple[int, dict[str, Any]]], dict[str, int]]:
    """The demo tasks as pairwise rows (the better answer first or second at random), and the index of the
    better answer by task id."""
    rng_rows = random.Random(seed)
    pair_rows, truth = [], {}
    for n, t in enumerate(DEMO_TASKS, 1):
        flip = rng_rows.random() < 0.5  # the better answer is not always listed first
        responses = [t["bad"], t["good"]] if flip else [t["good"], t["bad"]]
        best = 1 if flip else 0
        row = {"id": t["id"], "responses": responses, "metadata": {"demo": True}}
        row["prompt" if "prompt" in t else "messages"] = t.get("prompt", t.get("messages"))
        if t.get("gold"):
            row["gold"] = {"preferred": best}
        truth[t["id"]] = best
        pair_rows.append((n, row))
    return pair_rows, truth


def _pairwise_project(db: Database, prefix: str, *, annotators: int, seed: int, noise: float) -> int:
    """``{prefix}-pairwise``, with gold tasks, judged by simulated annotators; how many judgements they made."""
    from datamill.feedback import service as svc

    pair_rows, truth = _pairwise_rows(seed)
    p = svc.create_project(
        db,
        f"{prefix}-pairwise",
        task_type="pairwise",
        guidelines=GUIDELINES,
        overlap=annotators + 1,
        gold_rate=0.2,
    )
    svc.add_tasks(db, p["id"], pair_rows, source="<demo>", what="task")
    return _simulate(db, p["id"], truth, prefix=prefix, annotators=annotators, seed=seed, noise=noise)


#: one-answer projects over the first six tasks: rate the good answer, fix the bad one
_SINGLE = {
    "rubric": (
        "good",
        "# Demo: rate each answer\n\nScore **helpfulness**, **harmlessness** and **honesty** "
        "from 1 (poor) to 5 (excellent).",
    ),
    "rewrite": (
        "bad",
        "# Demo: fix the answer\n\nEdit the answer until it is correct and helpful; your "
        "text becomes the *chosen* answer of the SFT export.",
    ),
}


def _single_answer_project(db: Database, name: str, kind: str) -> None:
    """A ``rubric`` or ``rewrite`` project over the first six demo tasks, one answer each."""
    from datamill.feedback import service as svc

    answer, guidelines = _SINGLE[kind]
    p = svc.create_project(db, name, task_type=kind, overlap=1, guidelines=guidelines)
    rows = [
        (
            n,
            {
                "id": t["id"],
                "prompt": t.get("prompt") or t["messages"][-1]["content"],
                "responses": [t[answer]],
            },
        )
        for n, t in enumerate(DEMO_TASKS[:6], 1)
    ]
    svc.add_tasks(db, p["id"], rows, source="<demo>", what="task")


def _simulate(
    db: Database,
    project_id: int,
    truth: dict[str, int],
    *,
    prefix: str,
    annotators: int,
    seed: int,
    noise: float,
) -> int:
    """Seeded annotators judge every task of the project they are offered (gold included)."""
    from datamill.feedback import service as svc

    users = []
    existing = {u["username"] for u in svc.list_users(db)}
    for i in range(annotators):
        name = f"{prefix}-annotator-{i + 1}"
        k = 2
        while name in existing:
            name, k = f"{prefix}-annotator-{i + 1}-{k}", k + 1
        users.append(svc.create_user(db, name, secrets.token_urlsafe(16))["id"])
        svc.add_member(db, project_id, users[-1])
    n = 0
    for i, u in enumerate(users):
        rng = random.Random(f"{seed}:{i}")
        while (task := svc.next_task(db, u, project_id)) is not None:
            best = truth[task["external_id"]]
            pick = best if rng.random() >= noise else 1 - best
            svc.submit(
                db,
                u,
                task["task_id"],
                client_key=f"demo-{u}-{task['task_id']}",
                value={"preferred": pick, "strength": rng.randint(1, 3), "reason": "simulated"},
            )
            n += 1
    return n
