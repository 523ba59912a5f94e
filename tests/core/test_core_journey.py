"""The quickstart journey: crawl → pretrain → incontext → synthetic → feedback → finetune → diagnose.

One run of `datamill quickstart` (module fixture) is checked the way a newcomer would read it: the
questions read as questions about their page, the judge prefers the answer its passage supports,
the diagnosis finds several causes that are true of the data, and the README shows what it printed.
"""

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datamill.cli.main import app
from datamill.diagnose import CAUSES
from datamill.io import read_records
from datamill.lineage import LineageIndex

README = Path(__file__).resolve().parents[2] / "README.md"
_WORD = re.compile(r"[a-z][a-z'’-]+")
# the words that frame a question rather than say what it is about
_FRAME = {
    "what",
    "who",
    "where",
    "when",
    "which",
    "does",
    "have",
    "been",
    "happened",
    "will",
    "would",
    "should",
    "could",
    "might",
    "must",
    "passage",
    "about",
    "else",
    "long",
    "help",
    "need",
}


@pytest.fixture(scope="module")
def journey(tmp_path_factory):
    root = tmp_path_factory.mktemp("journey") / "qs"
    result = CliRunner().invoke(app, ["quickstart", str(root)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return root, result.output


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _support(answer: str, passage: str) -> float:
    words, page = _WORD.findall(answer.lower()), set(_WORD.findall(passage.lower()))
    return sum(w in page for w in words) / max(1, len(words))


def _passage(prompt: list[dict]) -> str:
    m = re.search(r"<passage>\s*(.*?)\s*</passage>", "\n".join(m["content"] for m in prompt), re.S)
    assert m, prompt
    return m.group(1)


def test_quickstart_prints_every_stage_and_where(journey):
    root, out = journey
    for stage in ("pretrain", "incontext", "synthetic", "feedback", "finetune", "diagnose"):
        assert stage in out
    assert "quickstart: done in" in out and str(root) in out


def test_every_exported_finetune_example_has_a_complete_lineage(journey):
    root, out = journey
    ids = [
        json.loads(line)["id"]
        for name in ("sft.jsonl", "dpo.jsonl")
        for line in (root / "5-finetune" / name).read_text().splitlines()
    ]
    assert len(ids) >= 20
    index = LineageIndex(root)
    for rid in ids:
        node = index.node(rid)
        assert node.complete(), rid
        kinds = {n.record.provenance.step for n in node.walk()}
        assert {"feedback.submit", "synthetic.judge", "synthetic.qa_from_docs", "incontext.chunk"} <= kinds
        roots = [n for n in node.walk() if n.is_root]
        assert roots and all(
            n.record.provenance.source.endswith(".warc.gz") and n.record.provenance.offset is not None
            for n in roots
        )
    n = len(ids)
    assert f"lineage: {n}/{n} fine-tune examples trace back to a crawled page" in out


def test_each_stage_wrote_its_outputs(journey):
    root, _ = journey
    assert json.loads((root / "1-pretrain" / "manifest.json").read_text())["output"]["records"] > 0
    assert (root / "2-incontext" / "index" / "index.json").exists()
    assert (root / "4-feedback" / "feedback.db").exists()
    assert "<svg" in (root / "6-diagnose" / "report.html").read_text()
    sft = list(read_records(root / "5-finetune" / "records.jsonl"))
    assert sft and all(r.provenance.parents for r in sft)


def test_questions_read_as_questions_about_their_page(journey):
    """Not 'According to the passage, what is said about see and whole?': a question a reader would ask,
    in words its page uses, answered by a sentence quoted from that page."""
    root, _ = journey
    qa = _rows(root / "3-synthetic" / "qa.jsonl")
    assert len(qa) >= 30
    for ex in qa:
        q, answer, page = ex["input"], ex["output"], ex["metadata"]["context"]
        assert re.fullmatch(r"(What|Who|Where|How|When|Which) [^?]+\?", q), q
        assert answer in page, q
        words = _WORD.findall(q.lower())
        about = [w for w in words if len(w) > 3 and w not in _FRAME]
        # a short question ("What can a dog do?") is about its three-letter nouns
        about = about or [
            w for w in words if len(w) == 3 and w not in {"can", "the", "how", "are", "was", "did"}
        ]
        assert about and all(w in page.lower() for w in about), q
    phrasings = _rows(root / "3-synthetic" / "questions.jsonl")
    assert len(phrasings) > len(qa) and all(p["input"].strip() for p in phrasings)


def test_the_judge_prefers_the_answer_its_passage_supports(journey):
    """The judge is shown the passage: the answer quoted from it wins over the fluent unsourced one,
    whichever position it was shown in and although it is usually the shorter one."""
    root, _ = journey
    pairs, judged = _rows(root / "3-synthetic" / "pairs.jsonl"), _rows(root / "3-synthetic" / "judged.jsonl")
    assert len(judged) >= 0.9 * len(pairs) >= 27  # verdicts survive the position swap
    wins = [
        _support(j["chosen"], _passage(j["prompt"])) > _support(j["rejected"], _passage(j["prompt"]))
        for j in judged
    ]
    assert sum(wins) >= 0.9 * len(judged)
    shown_first = [
        _support(p["chosen"], _passage(p["prompt"])) > _support(p["rejected"], _passage(p["prompt"]))
        for p in pairs
    ]
    assert 0.2 < sum(shown_first) / len(pairs) < 0.8  # position cannot explain the verdicts
    assert sum(len(j["chosen"]) < len(j["rejected"]) for j in judged) >= 0.5 * len(judged)  # nor length


def test_the_diagnosis_finds_several_causes_that_the_data_really_has(journey):
    root, _ = journey
    report = json.loads((root / "6-diagnose" / "report.json").read_text())
    summary, mistakes = report["summary"], report["mistakes"]
    found = [c for c in CAUSES if summary[c]]
    assert len(found) >= 3 and {"never_seen", "contradictory_context"} <= set(found), summary
    assert summary["noisy_label"] + summary["inconsistent_label"] > 0, summary
    # never seen: questions about the pages held out of training (phrasings of trained questions end in -qN)
    unseen = [m for m in mistakes if "never_seen" in m["causes"]]
    assert unseen and all(not re.search(r"-q\d+$", m["id"]) for m in unseen)
    taught = [r["messages"][1]["content"] for r in _rows(root / "5-finetune" / "sft.jsonl")]
    assert all(not any(t.endswith("\n\n" + m["input"]) for t in taught) for m in unseen)
    # contradictory context: the page and its planted out-of-date copy, both retrieved
    [planted] = [
        c for c in read_records(root / "2-incontext" / "chunks.jsonl.zst") if c.metadata.get("planted")
    ]
    contra = [
        c
        for m in mistakes
        if "contradictory_context" in m["causes"]
        for c in m["evidence"]["contradictory_context"]
    ]
    assert any(
        c["kind"] == "numeric" and (c["first"] in planted.text) != (c["second"] in planted.text)
        for c in contra
    )
    # noisy labels: what diagnose flags as mislabelled is an unsourced answer the annotators' majority chose
    unsourced = {a["output"] for a in _rows(root / "3-synthetic" / "alternatives.jsonl")}
    assert report["noisy_train"] and all(n["target"] in unsourced for n in report["noisy_train"])


def test_the_readme_shows_the_table_the_quickstart_printed(journey):
    """The README's quickstart table is DIR/summary.txt of this run, and its counts are the printed ones."""
    root, out = journey
    summary = (root / "summary.txt").read_text()
    text = README.read_text()
    at = text.index("`datamill quickstart` follows LLM data")
    block = re.search(r"```\n(.*?)```", text[at:], re.S)
    assert block and block.group(1) == summary
    printed = re.findall(r"│ (\w+)\s+│\s+([\d,]+) │\s+([\d,]+) │", out)
    table = [tuple(line.split()[:3]) for line in summary.splitlines()[1:-1]]
    assert printed and printed == table
    assert summary.splitlines()[-1] in out
