"""The static checks CI and a newcomer's `pytest` share: ruff's lint rules, ruff's formatter and mypy on src/
(pyproject.toml configures all three). Run in the suite so that the README's test command is the whole gate."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(args: list[str], timeout: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)


def test_ruff_check_is_clean():
    ruff = shutil.which("ruff") or "ruff"
    proc = _run([ruff, "check", "src", "tests", "benchmarks", "scripts"], timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format_is_clean():
    ruff = shutil.which("ruff") or "ruff"
    proc = _run([ruff, "format", "--check", "src", "tests", "benchmarks", "scripts"], timeout=120)
    assert proc.returncode == 0, "run `ruff format .` to fix:\n" + proc.stdout + proc.stderr


def test_mypy_src_is_clean():
    proc = _run([sys.executable, "-m", "mypy", "src"], timeout=600)  # cache in .mypy_cache (git-ignored)
    assert proc.returncode == 0, proc.stdout + proc.stderr
