"""Where the journey's data is checked and used: 4. annotators check the judged pairs, 5. the checked pairs
become fine-tune sets, validated, 6. a toy model's mistakes on held-out questions are diagnosed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from datamill.journey.making import Synthetic
from datamill.journey.result import PHRASINGS, JourneyResult, answer_text, f1
from datamill.records import Example, Judgement, Message, Preference, Provenance

__all__ = ["diagnose_stage", "feedback_stage", "finetune_stage"]


def feedback_stage(
    root: Path, res: JourneyResult, judged: list[Preference]
) -> tuple[list[Judgement], list[tuple[Preference, Preference]]]:
    """4. feedback: people check the judged pairs (simulated annotators, the app's real database). Returns
    the judgements and each exported (human-checked) pair beside the judged pair it came from."""
    from datamill.feedback import simulate_project
    from datamill.feedback.db import Database
    from datamill.feedback.export import export_rows
    from datamill.io import write_jsonl

    db_url = f"sqlite:///{(root / '4-feedback' / 'feedback.db').resolve()}"
    os.makedirs(root / "4-feedback", exist_ok=True)
    if os.path.exists(root / "4-feedback" / "feedback.db"):
        os.remove(root / "4-feedback" / "feedback.db")
    exported = simulate_project(db_url, judged, annotators=3, seed=0, noise=0.15, project="journey")
    db = Database(db_url)
    try:
        raw = export_rows(db, "journey", "raw")
    finally:
        db.dispose()
    judgements = [
        Judgement(
            id=f"judgement-{r['judgement_id']}",
            annotator=str(r["annotator"]),
            task=str(r["task_id"]),
            value=r["value"],
            provenance=Provenance(
                source=db_url,
                step="feedback.submit",
                annotator=str(r["annotator"]),
                parents=[str(r["task_id"])],
            ),
        )
        for r in raw
    ]
    write_jsonl(judgements, root / "4-feedback" / "judgements.jsonl")
    write_jsonl(exported, root / "4-feedback" / "dpo.jsonl")
    pair_of = {j.id: j for j in judged}
    checked = [
        (p, pair_of[p.provenance.parents[0]])
        for p in exported
        if p.provenance.parents and p.provenance.parents[0] in pair_of
    ]
    overruled = sum(answer_text(p.chosen) != j.metadata["passage_answer"] for p, j in checked)
    res.stage(
        "feedback",
        len(judged),
        len(exported),
        f"{len(judgements)} judgements by 3 annotators; {overruled} majorities chose the unsourced answer",
        str(root / "4-feedback"),
    )
    return judgements, checked


def finetune_stage(
    root: Path,
    res: JourneyResult,
    judgements: list[Judgement],
    checked: list[tuple[Preference, Preference]],
) -> list[dict[str, Any]]:
    """5. fine-tuning: preference and SFT sets from the human-checked pairs, validated. Returns the SFT set
    as the toy model's training rows (question, answer)."""
    from datamill.finetune import validate, write_examples
    from datamill.io import write_jsonl

    by_task: dict[str, list[str]] = {}
    for j in judgements:
        by_task.setdefault(j.task, []).append(j.id)
    prefs, sft, asked_in = [], [], {}
    for p, pair in checked:
        parents = by_task.get(p.provenance.parents[0], []) or [p.id]
        prompt = (
            list(pair.prompt)
            if isinstance(pair.prompt, list)
            else [Message(role="user", content=pair.prompt)]
        )
        chosen, rejected = (Message(role="assistant", content=answer_text(x)) for x in (p.chosen, p.rejected))
        prefs.append(
            Preference(
                prompt=prompt,
                chosen=[chosen],
                rejected=[rejected],
                scores=p.scores,
                provenance=Provenance(step="finetune.export", parents=parents),
            )
        )
        sft.append(
            Example(
                messages=[*prompt, chosen], provenance=Provenance(step="finetune.export", parents=parents)
            )
        )
        asked_in[sft[-1].id] = str(pair.metadata["question"])
    ft = root / "5-finetune"
    write_examples(prefs, ft / "dpo.jsonl", format="openai_dpo", keep_ids=True)
    write_examples(sft, ft / "sft.jsonl", format="openai", keep_ids=True)
    write_jsonl([*prefs, *sft], ft / "records.jsonl")
    report = validate(ft / "sft.jsonl")
    res.finetune_ids = [r.id for r in [*prefs, *sft]]
    res.stage(
        "finetune",
        len(checked),
        len(prefs) + len(sft),
        f"{len(prefs)} DPO + {len(sft)} SFT; validate: {report.errors} errors, {report.warnings} warnings"
        + (f" ({', '.join(c.name for c in report.failed())})" if report.failed() else ""),
        str(ft),
    )
    return [{"id": e.id, "input": asked_in[e.id], "output": answer_text(e.messages or [])} for e in sft]


def diagnose_stage(
    root: Path,
    res: JourneyResult,
    index: Any,
    syn: Synthetic,
    train: list[dict[str, Any]],
    held_pages: set[str],
) -> None:
    """6. diagnosis: a toy model that only memorises (it answers with the answer of the training question
    closest in meaning) on held-out questions: other phrasings of the trained ones, and the questions about
    the held-out pages."""
    from datamill.diagnose import diagnose, write_report
    from datamill.embed import get_embedder
    from datamill.io import write_jsonl

    fact = syn.fact
    held_out = [(p, fact[p.metadata["qa"]]) for ps in syn.phrasings.values() for p in ps[PHRASINGS + 1 :]]
    held_out += [(q, q) for q in syn.qa if q.metadata.get("chunk_id") in held_pages]
    texts = [ask.input or "?" for ask, _ in held_out]
    embedder = get_embedder()
    if train and texts:
        nearest = (
            (embedder.encode(texts) @ embedder.encode([t["input"] for t in train]).T).argmax(axis=1).tolist()
        )
    else:
        nearest = []
    contexts = index.search_batch(texts, k=3) if texts else []
    results = []
    for n, ((ask, q), text) in enumerate(zip(held_out, texts, strict=True)):
        answer = train[nearest[n]]["output"] if train else ""
        results.append(
            {
                "id": ask.id,
                "input": text,
                "expected": q.output,
                "output": answer,
                "correct": f1(answer, q.output or "") >= 0.5,
                "contexts": [h.chunk.text for h in contexts[n]],
            }
        )
    write_jsonl(results, root / "6-diagnose" / "results.jsonl")
    diag = diagnose(results, train, embedder=embedder)
    html, _ = write_report(diag, root / "6-diagnose" / "report.html")
    summary = diag.summary()
    res.causes = {
        c: n for c, n in summary.items() if n and c not in ("mistakes", "combination", "unexplained")
    }
    found = ", ".join(f"{c.replace('_', ' ')} {n}" for c, n in res.causes.items()) or "no cause found"
    res.stage("diagnose", len(results), summary["mistakes"], f"mistakes by cause: {found}", html)
