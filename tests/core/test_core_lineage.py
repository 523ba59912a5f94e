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
    doc = Document(text="a crawled page", metadata={"url": "https://example.org/p"},
                   provenance=Provenance(source="crawl/a.warc.gz", offset=4096))
    chunk = Document(text="a chunk", provenance=Provenance(step="incontext.chunk", parents=[doc.id]))
    gen = Example(input="q?", output="a.", provenance=Provenance(step="synthetic.qa", model="teacher-7b",
                                                                 parents=[chunk.id]))
    judge = Judgement(annotator="ann-2", task=gen.id, value="A",
                      provenance=Provenance(annotator="ann-2", parents=[gen.id]))
    pref = Preference(prompt="q?", chosen="a.", rejected="b.",
                      provenance=Provenance(step="feedback.export", parents=[judge.id, gen.id]))
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
    kinds = [n.record.type_name for n in node.walk()]
    assert kinds == ["preference", "judgement", "example", "document", "document", "example", "document",
                     "document"]
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
    proc = subprocess.run([sys.executable, "-m", "datamill.cli.main", "lineage", pref.id, "--in", str(root)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "chain complete" in proc.stdout and "crawl/a.warc.gz @ byte 4096" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "datamill.cli.main", "lineage", pref.id, "--in", str(root), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert json.loads(proc.stdout)["parents"][0]["record"]["annotator"] == "ann-2"
