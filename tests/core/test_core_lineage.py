import json
import os
import subprocess
import sys

import pytest

from datamill.errors import InputError
from datamill.io import write_jsonl, write_parquet
from datamill.lineage import trace
from datamill.records import Document, Example, Judgement, Preference, Provenance


@pytest.fixture()
def chain(tmp_path):
    doc = Document(
        text="a crawled page",
        metadata={"url": "https://example.org/p"},
        provenance=Provenance(source="crawl/a.warc.gz", offset=4096),
    )
    chunk = Document(text="a chunk", provenance=Provenance(step="incontext.chunk", parents=[doc.id]))
    gen = Example(
        input="q?",
        output="a.",
        provenance=Provenance(step="synthetic.qa", model="teacher-7b", parents=[chunk.id]),
    )
    judge = Judgement(
        annotator="ann-2", task=gen.id, value="A", provenance=Provenance(annotator="ann-2", parents=[gen.id])
    )
    pref = Preference(
        prompt="q?",
        chosen="a.",
        rejected="b.",
        provenance=Provenance(step="feedback.export", parents=[judge.id, gen.id]),
    )
    write_parquet([doc], tmp_path / "pretrain" / "data" / "part-00000.parquet")
    write_jsonl([chunk], tmp_path / "index" / "chunks.jsonl.zst")
    write_jsonl([gen], tmp_path / "synthetic.jsonl")
    write_jsonl([judge], tmp_path / "feedback" / "judgements.jsonl.gz")
    write_jsonl([pref], tmp_path / "finetune" / "dpo.jsonl")
    (tmp_path / "finetune" / "notes.jsonl").write_text('{"not": "a record"}\n')
    return tmp_path, pref


def test_trace_walks_every_parent_to_the_source(chain):
    root, pref = chain
    node = trace(pref.id, root)
    # the teacher generation feeds both the judgement and the pair: one node, walked once
    kinds = [n.record.type_name for n in node.walk()]
    assert kinds == ["preference", "judgement", "example", "document", "document"]
    assert node.complete()
    leaf = [n for n in node.walk() if n.is_root][0]
    assert leaf.record.provenance.offset == 4096 and leaf.file.endswith("part-00000.parquet")


def test_a_missing_link_makes_the_chain_incomplete(chain):
    root, pref = chain
    (root / "index" / "chunks.jsonl.zst").unlink()
    node = trace(pref.id, root)
    assert not node.complete()
    assert any(n.missing for n in node.walk())
    with pytest.raises(InputError, match="no record with id 'nope'"):
        trace("nope", root)


def test_lineage_cli(chain):
    root, pref = chain
    env = {**os.environ, "COLUMNS": "250"}
    proc = subprocess.run(
        [sys.executable, "-m", "datamill.cli.main", "lineage", pref.id, "--in", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "chain complete" in proc.stdout and "crawl/a.warc.gz @ byte 4096" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "datamill.cli.main", "lineage", pref.id, "--in", str(root), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    data = json.loads(proc.stdout)
    assert data["parents"][0]["record"]["annotator"] == "ann-2"
    # the generation is given in full under the judgement, then referred to
    assert data["parents"][0]["parents"][0]["record"]["type"] == "example"
    assert data["parents"][1] == {"id": data["parents"][0]["parents"][0]["id"], "see_above": True}


def test_a_shared_ancestor_is_printed_once(tmp_path):
    """Three annotators judge one pair made from one chunk of one page: the page is printed once, not three
    times (nor once per path), and every later mention says "(see above)"."""
    page = Document(text="a page", provenance=Provenance(source="crawl/a.warc.gz", offset=0))
    chunk = Document(text="a chunk", provenance=Provenance(step="incontext.chunk", parents=[page.id]))
    qa = Example(input="q?", output="a.", provenance=Provenance(step="synthetic.qa", parents=[chunk.id]))
    alt = Example(input="q?", output="b.", provenance=Provenance(step="synthetic.respond", parents=[qa.id]))
    pair = Preference(prompt="q?", chosen="a.", rejected="b.", provenance=Provenance(parents=[qa.id, alt.id]))
    votes = [
        Judgement(annotator=f"ann-{i}", task=pair.id, value=0, provenance=Provenance(parents=[pair.id]))
        for i in range(3)
    ]
    final = Example(
        input="q?",
        output="a. (checked)",
        provenance=Provenance(step="finetune.export", parents=[v.id for v in votes]),
    )
    write_jsonl([page, chunk, qa, alt, pair, *votes, final], tmp_path / "all.jsonl")
    node = trace(final.id, tmp_path)
    assert [n.id for n in node.walk()].count(page.id) == 1 and node.complete()
    proc = subprocess.run(
        [sys.executable, "-m", "datamill.cli.main", "lineage", final.id, "--in", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "250"},
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for rec in (final, page, chunk, alt, *votes):
        assert out.count(rec.id) == 1, rec
    # the pair is shown under the first judgement and referred to under the other two; the Q&A is shown
    # under the pair and referred to under the second answer made from it
    assert out.count(pair.id) == 3 and out.count(f"{pair.id}  (see above)") == 2
    assert out.count(qa.id) == 2 and out.count(f"{qa.id}  (see above)") == 1
    assert out.count("crawl/a.warc.gz") == 1 and "chain complete" in out


def test_a_provenance_cycle_ends(tmp_path):
    a = Example(id="a", input="x", provenance=Provenance(parents=["b"]))
    b = Example(id="b", input="y", provenance=Provenance(parents=["a"]))
    write_jsonl([a, b], tmp_path / "loop.jsonl")
    node = trace("a", tmp_path)
    assert [n.id for n in node.walk()] == ["a", "b"] and not node.complete()
    assert node.to_dict()["parents"][0]["parents"] == [{"id": "a", "see_above": True}]
