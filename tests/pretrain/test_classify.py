"""The model-based loop end to end, offline: the sample crawl extracted, a sample labelled by the fake
teacher with FineWeb-Edu's rubric, a classifier trained on the labels, the crawl filtered with it
(threshold and global top fraction, locally and on Ray), the report, and the lineage of a kept
document back to the teacher labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datamill.io import read_records, write_records
from datamill.lineage import trace
from datamill.pretrain import (
    ClassifierFilter,
    ClassifierTopFraction,
    classify_pipeline,
    extract_pipeline,
    sample_crawl_path,
    train_classifier,
)
from datamill.pretrain.annotate import annotate, sample_records
from datamill.synthetic import FakeServer


@pytest.fixture(scope="module")
def loop(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("loop")
    extract_pipeline(sample_crawl_path(), output_format="jsonl").run(root / "extract", workers=1)
    docs = list(read_records(sorted((root / "extract" / "data").glob("*.jsonl"))))
    (root / "docs").mkdir()
    for k in range(3):  # three shards, so the top fraction is a decision across shards
        write_records(docs[k::3], root / "docs" / f"part-{k}.jsonl")
    with FakeServer() as server:
        result = annotate(
            str(root / "docs"),
            root / "labels.jsonl",
            teacher=server.teacher(),
            sample=180,
            cache=str(root / "cache.sqlite"),
        )
    assert result.sampled == 180 and result.labelled >= 170
    train_classifier(root / "labels.jsonl", root / "model", name="edu")
    return {"root": root, "docs": root / "docs", "labels": root / "labels.jsonl", "model": root / "model"}


def test_teacher_labels_follow_the_documents_and_carry_provenance(loop):
    rows = list(read_records(loop["labels"]))
    labels = {r.label for r in rows}
    assert labels >= {0, 1, 2, 3}  # the fake teacher's scores spread over the rubric
    row = rows[0]
    assert row.provenance.step == "pretrain.annotate" and row.provenance.model == "fake-teacher"
    assert row.provenance.source.endswith("sample.warc.gz") and row.provenance.offset is not None
    assert row.metadata["rubric"] == "fineweb-edu" and "Educational score" in row.metadata["explanation"]
    docs = {d.id for d in read_records(sorted(loop["docs"].glob("*.jsonl")))}
    assert row.provenance.parents[0] in docs
    card = json.loads((loop["model"] / "model.json").read_text())
    assert card["threshold"] == 3 and card["metrics"]["spearman"] > 0.5  # it learned the teacher's rubric


def test_the_sample_does_not_depend_on_order():
    from datamill.records import Document

    docs = [Document(text=f"d{i}") for i in range(50)]
    a = {d.id for d in sample_records(docs, 10, seed=1)}
    assert a == {d.id for d in sample_records(list(reversed(docs)), 10, seed=1)}
    assert a != {d.id for d in sample_records(docs, 10, seed=2)}


def kept(out: Path) -> list[str]:
    return sorted(r.id for r in read_records(sorted((out / "data").glob("*"))))


def test_threshold_filter_keeps_scores_above_and_counts_the_rest(loop, tmp_path):
    pipe = classify_pipeline(str(loop["docs"] / "*.jsonl"), model=str(loop["model"]), threshold=2)
    result = pipe.run(tmp_path / "out", workers=1)
    st = result.steps[0]
    assert st.name == "filter.classifier" and st.seen == result.records_in > result.records_out > 0
    assert st.dropped["classifier_below_threshold"] == st.seen - st.kept
    assert all(ex["score"] < 2 for ex in st.examples["classifier_below_threshold"])
    assert sum(v for k, v in st.counters.items() if k.startswith("score>=")) == st.seen
    docs = list(read_records(sorted((tmp_path / "out" / "data").glob("*"))))
    assert all(d.metadata["edu_score"] >= 2 for d in docs)
    from datamill.pretrain import write_report

    page = Path(write_report(tmp_path / "out")).read_text()
    assert "Classifier scores: filter.classifier" in page and "score &gt;= 2" in page
    lowest = min(d.metadata["edu_score"] for d in docs)
    assert f"{lowest:.4f}" in page and "kept (nearest the cut)" in page
    assert page.count("dropped: classifier_below_threshold") == 3
    low = ClassifierFilter(model=str(loop["model"]), threshold=2, keep="low")
    everything = list(read_records(sorted(loop["docs"].glob("*.jsonl"))))
    assert len(list(low(everything))) == st.seen - st.kept
    assert low.stats.dropped["classifier_above_threshold"] == st.kept


def test_top_fraction_is_exact_across_shards_and_equals_one_stream(loop, tmp_path):
    pipe = classify_pipeline(str(loop["docs"] / "*.jsonl"), model=str(loop["model"]), top_fraction=0.25)
    result = pipe.run(tmp_path / "top", workers=2)
    n = result.records_in
    assert result.records_out == -(-n // 4)  # ceil(0.25 n), ties broken by shard and position
    g = result.manifest["global"][0]
    assert g["step"] == "filter.classifier_top" and g["kept"] == result.records_out
    assert result.steps[0].dropped["classifier_not_top_fraction"] == n - result.records_out
    docs = [r for f in sorted(loop["docs"].glob("*.jsonl")) for r in read_records(f)]
    one = ClassifierTopFraction(model=str(loop["model"]), top_fraction=0.25)
    assert sorted(r.id for r in one(docs)) == kept(tmp_path / "top")
    scores = sorted(
        d.metadata["edu_score"] for d in read_records(sorted((tmp_path / "top" / "data").glob("*")))
    )
    assert scores[0] == pytest.approx(g["score_cut"])


@pytest.mark.ray
def test_the_filter_keeps_the_same_documents_on_ray(loop, tmp_path, ray_local):
    for kw in ({"threshold": 2.0}, {"top_fraction": 0.3}):
        pipe = classify_pipeline(str(loop["docs"] / "*.jsonl"), model=str(loop["model"]), **kw)
        local = pipe.run(tmp_path / f"local-{len(kw)}-{next(iter(kw))}", workers=1)
        ray = pipe.run(tmp_path / f"ray-{next(iter(kw))}", executor="ray", workers=2)
        assert ray.manifest["executor"]["type"] == "ray"
        assert kept(Path(ray.output)) == kept(Path(local.output)) and local.records_out > 0


def test_lineage_traces_a_kept_document_to_the_teacher_labels(loop):
    out = loop["root"] / "filtered"
    classify_pipeline(str(loop["docs"] / "*.jsonl"), model=str(loop["model"]), threshold=3).run(
        out, workers=1
    )
    doc = next(iter(read_records(sorted((out / "data").glob("*")))))
    node = trace(doc.id, loop["root"])
    assert node.complete()
    model = node.parents[0]
    assert model.record.provenance.step == "pretrain.train_classifier"
    labels = [p for p in model.parents if p.record is not None]
    assert len(labels) == len(list(read_records(loop["labels"])))
    assert {p.record.provenance.step for p in labels} == {"pretrain.annotate"}
    assert {p.record.provenance.model for p in labels} == {"fake-teacher"}
    roots = [n for n in node.walk() if n.is_root and n is not node]
    assert roots and all(n.record.provenance.source.endswith("sample.warc.gz") for n in roots)


def test_the_cli_runs_the_loop_with_tables(loop, tmp_path):
    from typer.testing import CliRunner

    from datamill.cli.main import app

    runner = CliRunner()
    with FakeServer() as server:
        res = runner.invoke(
            app,
            [
                "pretrain",
                "annotate",
                "-i",
                str(loop["docs"]),
                "-o",
                str(tmp_path / "l.jsonl"),
                "-t",
                server.url,
                "-m",
                "fake-teacher",
                "--sample",
                "60",
                "--cache",
                "none",
                "--rubric",
                "fineweb-edu",
                "--no-progress",
            ],
        )
    assert res.exit_code == 0, res.output
    assert "Teacher labels" in res.output and "labelled of 60 sampled" in res.output
    res = runner.invoke(
        app,
        [
            "pretrain",
            "train-classifier",
            "-i",
            str(tmp_path / "l.jsonl"),
            "-o",
            str(tmp_path / "m"),
            "--name",
            "edu",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "Held-out metrics" in res.output and "spearman" in res.output and "bag-of-words" in res.output
    res = runner.invoke(
        app,
        [
            "pretrain",
            "classify",
            "-i",
            str(loop["docs"] / "*.jsonl"),
            "-o",
            str(tmp_path / "c"),
            "--model",
            str(tmp_path / "m"),
            "--top-fraction",
            "0.5",
            "-w",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "filter.classifier_top" in res.output and "classifier_not_top_fraction" in res.output
    res = runner.invoke(
        app,
        [
            "pretrain",
            "classify",
            "-i",
            str(loop["docs"] / "*.jsonl"),
            "-o",
            str(tmp_path / "d"),
            "--model",
            str(tmp_path / "m"),
            "--keep",
            "middle",
        ],
    )
    assert res.exit_code == 1 and "keep must be one of high, low" in str(res.exception)


def test_people_check_a_share_of_the_teacher_labels_and_agreement_is_reported(loop, tmp_path):
    from datamill.feedback.db import Database
    from datamill.feedback.service import create_user, next_task, submit
    from datamill.feedback.service.members import add_member
    from datamill.pretrain.review import send_for_review, teacher_agreement

    rows = list(read_records(loop["labels"]))
    url = f"sqlite:///{tmp_path / 'fb.db'}"
    sent = send_for_review(rows, _edu(), db=url, project="edu-check", share=0.3)
    assert 0.15 * len(rows) < sent["tasks"] < 0.45 * len(rows)
    db = Database(url)
    user = create_user(db, "ann", "secret-pass-1")
    add_member(db, "edu-check", "ann")
    by_id = {r.id: r for r in rows}
    for i in range(sent["tasks"]):
        task = next_task(db, user["id"], "edu-check")
        teacher = by_id[task["external_id"]].label
        human = teacher if i % 4 else min(5, teacher + 1)  # agrees on 3 in 4
        submit(
            db,
            user["id"],
            task["task_id"],
            client_key=f"key-{i:06d}",
            value={"scores": [{"fineweb-edu": human + 1}]},
        )
    report = teacher_agreement(loop["labels"], db=url, project="edu-check")
    assert report["judgements"] == sent["tasks"]
    assert report["exact"] == pytest.approx(1 - len(range(0, sent["tasks"], 4)) / sent["tasks"])
    assert report["within_one"] == 1.0 and report["human_mean"] > report["teacher_mean"]


def _edu():
    from datamill.pretrain.rubrics import load_rubric

    return load_rubric("fineweb-edu")
