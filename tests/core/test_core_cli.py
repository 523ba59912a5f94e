import json
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from datamill.cli.main import app

runner = CliRunner()


def _commands(group: typer.Typer, prefix: tuple[str, ...] = ()):
    for cmd in group.registered_commands:
        yield (*prefix, cmd.name or cmd.callback.__name__.replace("_", "-"))
    for sub in group.registered_groups:
        yield (*prefix, sub.name)
        yield from _commands(sub.typer_instance, (*prefix, sub.name))


@pytest.mark.parametrize("path", list(_commands(app)), ids=lambda p: " ".join(p))
def test_every_command_has_help(path):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_every_command_has_a_docstring():
    missing = []

    def walk(group: typer.Typer, prefix: str) -> None:
        for cmd in group.registered_commands:
            if not (cmd.help or (cmd.callback and cmd.callback.__doc__)):
                missing.append(f"{prefix} {cmd.name or cmd.callback.__name__}")
        for sub in group.registered_groups:
            if not (sub.typer_instance.info.help or sub.help):
                missing.append(f"{prefix} {sub.name}")
            walk(sub.typer_instance, f"{prefix} {sub.name}")

    walk(app, "datamill")
    assert not missing


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "datamill.cli.main", *args], capture_output=True, text=True, timeout=120
    )


def test_bad_input_is_one_red_line_and_exit_1(tmp_path):
    (tmp_path / "r.yaml").write_text("reader: {type: read.jsonl, paths: nowhere/*.jsonl}\noutput: o\n")
    proc = _run("run", str(tmp_path / "r.yaml"))
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error:") and "no file matches this pattern" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1
    debug = _run("--debug", "run", str(tmp_path / "r.yaml"))
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_run_and_print_recipe(tmp_path):
    recipe = tmp_path / "r.yaml"
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps({"text": f"hello there number {i % 5}"}) for i in range(20)) + "\n")
    recipe.write_text(
        f"reader: {{type: read.jsonl, paths: '{src}'}}\nsteps:\n  - {{type: dedup.exact}}\n"
        f"output: {tmp_path / 'out'}\n"
    )
    printed = _run("run", str(recipe), "--print-recipe")
    assert printed.returncode == 0 and "dedup.exact" in printed.stdout and "read.jsonl" in printed.stdout
    proc = _run("run", str(recipe), "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    assert "records out" in proc.stdout and "manifest" in proc.stdout
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["output"]["records"] == 5


def test_import_is_light():
    code = "import sys, datamill; heavy = [m for m in ('pyarrow', 'torch', 'ray', 'datasets', 'typer') if m in sys.modules]; print(heavy)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    ).stdout.strip()
    assert out == "[]"


def test_every_module_has_a_sorted_complete_all():
    import importlib
    import pkgutil

    import datamill

    for info in pkgutil.walk_packages(datamill.__path__, "datamill."):
        if ".cli" in info.name or ".migrations" in info.name or info.name.endswith("__main__"):
            continue  # command modules and Alembic scripts are not API
        mod = importlib.import_module(info.name)
        assert hasattr(mod, "__all__"), f"{info.name} has no __all__"
        assert list(mod.__all__) == sorted(mod.__all__), f"{info.name}.__all__ is not sorted"
        for name in mod.__all__:
            assert hasattr(mod, name), f"{info.name}.{name}"


def test_python_dash_m_datamill_is_the_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "datamill", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "pretrain" in proc.stdout and "finetune" in proc.stdout
