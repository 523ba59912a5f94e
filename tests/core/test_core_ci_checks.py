"""In CI a test that would skip for want of a comparison library fails (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _pytest(tmp_path: Path, ci: bool) -> str:
    (tmp_path / "test_module_level.py").write_text(
        "import sys\nimport pytest\nsys.modules['cleanlab'] = None\ncleanlab = pytest.importorskip('cleanlab')\n"
        "def test_never_runs():\n    pass\n"
    )
    (tmp_path / "test_in_test.py").write_text(
        "import sys\nimport pytest\n"
        "def test_reference(monkeypatch):\n    monkeypatch.setitem(sys.modules, 'krippendorff', None)\n"
        "    pytest.importorskip('krippendorff')\n"
        "def test_other_library():\n    pytest.importorskip('surely_not_a_module_datamill_needs')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # only tests/conftest.py: a quick start
    if ci:
        env["CI"] = "true"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "conftest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rA",
            "--continue-on-collection-errors",
            "-c",
            os.devnull,
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    return proc.stdout


def test_missing_comparison_library_fails_in_ci(tmp_path):
    out = _pytest(tmp_path, ci=True)
    assert "1 failed, 1 skipped, 1 error" in out, out
    assert "krippendorff is required in CI" in out and "cleanlab is required in CI" in out


def test_missing_library_skips_outside_ci(tmp_path):
    out = _pytest(tmp_path, ci=False)
    assert "3 skipped" in out and "failed" not in out and "error" not in out, out
