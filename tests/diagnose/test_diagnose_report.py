"""The HTML/JSON report: self-contained, escaped, opens in Chromium with its plots; the CLI around it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from datamill.cli.main import app
from datamill.diagnose import diagnose, make_planted, render_html, write_planted, write_report


@pytest.fixture(scope="module")
def small():
    fx = make_planted(n_train_per_label=30, n_correct=30, n_per_cause=5, n_combination=2, seed=5)
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    fx.results.append(
        {
            "id": "evil",
            "input": "Why is my " + evil,
            "expected": "billing",
            "output": evil,
            "correct": False,
            "contexts": [evil],
        }
    )
    return fx, diagnose(fx.results, fx.train, feedback=fx.feedback)


def test_html_is_self_contained_and_escaped(small, tmp_path):
    _, d = small
    html_path, json_path = write_report(d, tmp_path / "out" / "report.html")
    assert json_path.endswith("report.json")
    page = Path(html_path).read_text(encoding="utf-8")
    assert '<script>alert("x")</script>' not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert page.count("<script>") == 1  # only the sorting code
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    for cls in ("coverage-map", "cause-breakdown", "worst-clusters"):
        assert f'class="{cls}"' in page
    data = json.loads(Path(json_path).read_text(encoding="utf-8"))
    assert data["summary"]["mistakes"] == len(d.mistakes)
    assert {m["id"] for m in data["mistakes"]} == {m.id for m in d.mistakes}
    assert render_html(d) == page


@pytest.mark.browser
def test_report_in_chromium(small, tmp_path, browser, artifacts_dir):
    _, d = small
    html_path, _ = write_report(d, tmp_path / "report.html")
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda dlg: (errors.append("dialog: " + dlg.message), dlg.dismiss()))
    page.goto(f"file://{html_path}")
    page.wait_for_load_state("load")
    assert page.locator("svg.coverage-map circle").count() > 50
    assert page.locator("svg.cause-breakdown rect").count() == 6
    assert page.locator("svg.worst-clusters rect").count() >= 2
    box = page.locator("svg.coverage-map").bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100
    page.screenshot(path=str(artifacts_dir / "diagnose_report.png"), full_page=False)
    # sorting works: click "coverage" twice, the column ends up descending
    header = page.locator("table.mistakes th", has_text="coverage")
    header.click()
    header.click()
    values = [float(v) for v in page.locator("table.mistakes tbody tr td:nth-child(6)").all_inner_texts()]
    assert values == sorted(values, reverse=True)
    page.close()
    assert errors == []


def test_cli_report(tmp_path):
    paths = write_planted(
        tmp_path / "fx", n_train_per_label=20, n_correct=20, n_per_cause=4, n_combination=1, seed=2
    )
    out = tmp_path / "r" / "report.html"
    res = CliRunner().invoke(
        app,
        [
            "diagnose",
            "report",
            "--results",
            paths["results"],
            "--train",
            paths["train"],
            "--feedback",
            paths["feedback"],
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "never seen" in res.output and "report:" in res.output and out.exists()
    data = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    assert data["summary"]["mistakes"] == 4 * 5 + 1 and data["agreement"]["pairwise_cohen"]


def test_cli_bad_input_is_one_line(tmp_path):
    bad = tmp_path / "results.jsonl"
    bad.write_bytes(
        orjson.dumps({"input": "a", "expected": "x", "output": "y"})
        + b"\n"
        + orjson.dumps({"expected": "x", "output": "y"})
        + b"\n"
    )
    train = tmp_path / "train.jsonl"
    train.write_bytes(orjson.dumps({"input": "a", "label": "x"}) + b"\n")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "datamill.cli.main",
            "diagnose",
            "report",
            "--results",
            str(bad),
            "--train",
            str(train),
            "--out",
            str(tmp_path / "r.html"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert f"{bad}:2" in res.stderr.replace("\n", "") and "needs 'input' or 'messages'" in res.stderr


def test_cli_label_issues(sample_data):
    d = sample_data / "diagnose"
    res = CliRunner().invoke(
        app,
        [
            "diagnose",
            "label-issues",
            "--labels",
            str(d / "original_test_labels_20news_test_set_original_labels.npy"),
            "--probs",
            str(d / "cross_validated_predicted_probabilities_20news_test_set_pyx.npy"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["count"] == 95
