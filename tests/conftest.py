"""Shared fixtures: the real sample data in tests/data, tiny corpora, a Postgres URL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
# small real public samples, copied into the repo with their sources and licences (tests/data/README.md)
SHARED_DATA = REPO / "tests" / "data"
POSTGRES_URL = os.environ.get("DATAMILL_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """tests/data: small real public datasets (read-only; copy to a temp dir before writing)."""
    return SHARED_DATA


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A SQLAlchemy URL of the real PostgreSQL server; fails (not skips) when CI=true and it is down."""
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", connect_timeout=3):
            pass
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is required in CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    return POSTGRES_URL


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by playwright (no browser download). Fails in CI when missing."""
    import shutil

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required in CI (apt-get install chromium)")
        pytest.skip("chromium not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where browser screenshots and other test artefacts go (test-artifacts/, git-ignored)."""
    d = REPO / "test-artifacts"
    d.mkdir(exist_ok=True)
    return d


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray (2 CPUs) for the whole test session."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield ray
    ray.shutdown()
