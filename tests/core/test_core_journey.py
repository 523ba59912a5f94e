"""The quickstart journey: crawl → pretrain → incontext → synthetic → feedback → finetune → diagnose."""

import json

import pytest
from typer.testing import CliRunner

from datamill.cli.main import app
from datamill.io import read_records
from datamill.lineage import LineageIndex


@pytest.fixture(scope="module")
def journey(tmp_path_factory):
    root = tmp_path_factory.mktemp("journey") / "qs"
    result = CliRunner().invoke(app, ["quickstart", str(root)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return root, result.output


def test_quickstart_prints_every_stage_and_where(journey):
    root, out = journey
    for stage in ("pretrain", "incontext", "synthetic", "feedback", "finetune", "diagnose"):
        assert stage in out
    assert "quickstart: done in" in out and str(root) in out


def test_every_exported_finetune_example_has_a_complete_lineage(journey):
    root, out = journey
    ids = [json.loads(line)["id"] for name in ("sft.jsonl", "dpo.jsonl")
           for line in (root / "5-finetune" / name).read_text().splitlines()]
    assert len(ids) >= 20
    index = LineageIndex(root)
    for rid in ids:
        node = index.node(rid)
        assert node.complete(), rid
        kinds = {n.record.provenance.step for n in node.walk()}
        assert {"feedback.submit", "synthetic.judge", "synthetic.qa_from_docs", "incontext.chunk"} <= kinds
        roots = [n for n in node.walk() if n.is_root]
        assert roots and all(n.record.provenance.source.endswith(".warc.gz") and n.record.provenance.offset is not None
                             for n in roots)
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
