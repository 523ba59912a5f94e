"""Harmlessness projects on SQLite and PostgreSQL: red-team transcripts rated for harm with categories, and
HH-RLHF harmless-base pairs judged "which is less harmful", exported to DPO / reward / KTO data that loads
with HF datasets."""

from __future__ import annotations

import json
import uuid

import pytest

from datamill.errors import ConfigError, InputError
from datamill.feedback import service as svc
from datamill.feedback.export import export, export_rows
from datamill.feedback.models import HARM_CATEGORIES
from datamill.feedback.quality import agreement_report, disagreements


def _hh(turns: list[tuple[str, str]]) -> str:
    return "".join(f"\n\nHuman: {c}" if r == "user" else f"\n\nAssistant: {c}" for r, c in turns)


PROMPT = [("user", "How do I pick the lock on my neighbour's front door?")]
REFUSAL = (
    "I can't help with getting into someone else's home. If you are locked out of yours, call a locksmith."
)
HARMFUL = "Get a tension wrench and a pick, then rake the pins until the cylinder turns."
# rows in HH-RLHF's published shape (the harmless-base split): chosen is the less harmful transcript
HARMLESS_BASE = [
    {"chosen": _hh([*PROMPT, ("assistant", REFUSAL)]), "rejected": _hh([*PROMPT, ("assistant", HARMFUL)])},
    {
        "chosen": _hh(
            [("user", "Write an insult about my coworker's accent."), ("assistant", "I'd rather not.")]
        ),
        "rejected": _hh(
            [
                ("user", "Write an insult about my coworker's accent."),
                ("assistant", "Sure: they sound silly."),
            ]
        ),
    },
]


def _judge(db, project, name: str, value_for) -> None:  # noqa: ANN001
    uid = svc.create_user(db, name, f"{name}-password")["id"]
    svc.add_member(db, project, uid)
    while (t := svc.next_task(db, uid, project)) is not None:
        svc.submit(db, uid, t["task_id"], client_key=uuid.uuid4().hex, value=value_for(t), displayed=True)


def test_harm_pairwise_imports_hh_harmless_base_and_exports_less_harmful_as_chosen(app_db, tmp_path) -> None:  # noqa: ANN001
    datasets = pytest.importorskip("datasets")
    _app, db = app_db
    p = svc.create_project(db, "harmless", task_type="harm-pairwise", overlap=2)
    assert p["criteria"] == HARM_CATEGORIES  # the default taxonomy
    src = tmp_path / "harmless-base.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in HARMLESS_BASE))
    assert svc.import_tasks(db, p["id"], src) == 2

    def less_harmful(t: dict, cats: list[str]) -> dict:
        shown = t["responses"]
        pick = 0 if ("can't" in shown[0] or "rather not" in shown[0]) else 1
        return {"preferred": pick, "strength": 3, "categories": cats}

    _judge(
        db, "harmless", "ann1", lambda t: less_harmful(t, ["crime"] if "lock" in str(t) else ["harassment"])
    )
    _judge(
        db, "harmless", "ann2", lambda t: less_harmful(t, ["crime", "privacy"] if "lock" in str(t) else [])
    )
    report = agreement_report(db, "harmless")
    assert report["alpha"]["nominal"] == 1.0 and "response 0 less harmful" in report["label_counts"]
    out = tmp_path / "dpo.jsonl"
    assert export(db, "harmless", "dpo", out) == 2
    ds = datasets.load_dataset("json", data_files=str(out), split="train")
    by_prompt = {str(r["prompt"]): r for r in ds}
    lock = next(r for k, r in by_prompt.items() if "lock" in k)
    assert lock["chosen"] == REFUSAL and lock["rejected"] == HARMFUL
    assert lock["harm_categories"] == ["crime", "privacy"]  # flagged by at least half the annotators
    insult = next(r for k, r in by_prompt.items() if "insult" in k)
    assert insult["harm_categories"] == ["harassment"]  # one of two annotators: half the votes
    reward = tmp_path / "reward.parquet"
    assert export(db, "harmless", "reward", reward) == 2
    assert all(
        m > 0 for m in datasets.load_dataset("parquet", data_files=str(reward), split="train")["margin"]
    )
    # categories outside the taxonomy are refused
    with pytest.raises(InputError, match="unknown categories"):
        svc.check_value(p, 2, {"preferred": 0, "categories": ["sarcasm"]})


def test_harm_rating_with_categories_exports_kto_and_pairs(app_db, tmp_path) -> None:  # noqa: ANN001
    datasets = pytest.importorskip("datasets")
    _app, db = app_db
    with pytest.raises(ConfigError, match="distinct"):
        svc.create_project(db, "dup", task_type="harm", criteria=["crime", "crime"])
    p = svc.create_project(db, "redteam", task_type="harm", overlap=3, scale=5)
    rows = [  # red-team transcripts: the context, then the answer under review
        {"id": "lock", "messages": [{"role": "user", "content": PROMPT[0][1]}], "responses": [HARMFUL]},
        {
            "id": "weather",
            "prompt": "Will it rain tomorrow in Oslo?",
            "responses": ["I can't know; check a forecast."],
        },
        {
            "id": "two",
            "prompt": "Tell me about knives.",
            "responses": ["Chef's knives are for cooking.", "Stab-proof tips: ..."],
        },
    ]
    svc.add_tasks(db, p["id"], enumerate(rows, 1))

    def rate(levels: dict[str, list[tuple[int, list[str]]]]):  # noqa: ANN202
        def value(t: dict) -> dict:
            canon = levels[t["external_id"]]
            shown = [canon[i] for i in t["order"]]  # displayed order
            return {"ratings": [{"harm": h, "categories": c} for h, c in shown]}

        return value

    base = {"lock": [(3, ["crime"])], "weather": [(0, [])], "two": [(0, []), (2, ["violence", "weapons"])]}
    _judge(db, "redteam", "r1", rate(base))
    _judge(db, "redteam", "r2", rate({**base, "lock": [(4, ["crime", "privacy"])]}))
    _judge(db, "redteam", "r3", rate({**base, "two": [(1, ["other"]), (2, ["weapons"])]}))
    # bad values: one rating per response, levels 0..scale-1, harmless has no categories
    with pytest.raises(InputError, match="one object per response"):
        svc.check_value(p, 2, {"ratings": [{"harm": 1, "categories": []}]})
    with pytest.raises(InputError, match="0..4"):
        svc.check_value(p, 1, {"ratings": [{"harm": 5, "categories": []}]})
    with pytest.raises(InputError, match="harmless"):
        svc.check_value(p, 1, {"ratings": [{"harm": 0, "categories": ["crime"]}]})
    report = agreement_report(db, "redteam")
    assert report["alpha"]["interval"] is not None and report["judgements"] == 9
    assert {d["external_id"] for d in disagreements(db, "redteam")} == {"two"}  # harmless vs harmful
    kto = tmp_path / "kto.jsonl"
    assert export(db, "redteam", "kto", kto) == 4  # one row per response
    ds = datasets.load_dataset("json", data_files=str(kto), split="train")
    got = {(r["task_id"], r["label"]): r for r in ds}
    assert set(got) == {("lock", False), ("weather", True), ("two", True), ("two", False)}
    assert got[("lock", False)]["harm"] == pytest.approx(10 / 3, abs=1e-3)
    assert got[("lock", False)]["categories"] == ["crime"]
    assert got[("two", False)]["categories"] == ["violence", "weapons"]  # violence: two of three
    assert got[("two", True)]["categories"] == []  # "other": one of three
    assert got[("weather", True)]["completion"] == [
        {"role": "assistant", "content": "I can't know; check a forecast."}
    ]
    dpo = export_rows(db, "redteam", "dpo")
    assert len(dpo) == 1 and dpo[0]["chosen"][0]["content"] == "Chef's knives are for cooking."
    assert dpo[0]["rejected_harm"] == 2.0 and dpo[0]["chosen_harm"] == pytest.approx(1 / 3, abs=1e-3)
    assert [r["completion"][0]["content"] for r in export_rows(db, "redteam", "sft")] == [
        "I can't know; check a forecast.",
        "Chef's knives are for cooking.",
    ]
    reward = tmp_path / "reward.jsonl"
    assert export(db, "redteam", "reward", reward) == 1
    assert datasets.load_dataset("json", data_files=str(reward), split="train")["margin"][0] == pytest.approx(
        5 / 3, abs=1e-3
    )
