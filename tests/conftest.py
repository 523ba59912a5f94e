"""Shared fixtures: the real sample data in tests/data, tiny corpora, a Postgres URL."""

from __future__ import annotations

import os
import re
from pathlib import Path

import hypothesis
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
# small real public samples, copied into the repo with their sources and licences (tests/data/README.md)
SAMPLE_DATA = REPO / "tests" / "data"

# Property tests check what is generated, not how fast: on a loaded 2-core CI machine Hypothesis's
# deadline and "generation is slow" health checks fail runs whose properties all hold.
hypothesis.settings.register_profile(
    "datamill", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("datamill")
POSTGRES_URL = os.environ.get("DATAMILL_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """tests/data: small real public datasets (read-only; copy to a temp dir before writing)."""
    return SAMPLE_DATA


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


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


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
        # address="local": a Ray of its own, never a cluster another process started on this machine
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            ignore_reinit_error=True,
        )
    yield ray
    ray.shutdown()


# Libraries the tests compare datamill against (reference implementations) or drive it with; the dev
# extra installs them, so in CI (CI=true) a test that would skip for want of one fails instead.
CI_REQUIRED = frozenset(
    {
        "cleanlab",
        "datasketch",
        "hypothesis",
        "krippendorff",
        "moto",
        "rank_bm25",
        "rouge_score",
        "s3fs",
        "schemathesis",
        "sklearn",
        "statsmodels",
        "tiktoken",
    }
)
_NOT_IMPORTED = re.compile(r"could not import '([\w.]+)'")


def ci_required_missing(reason: str) -> str | None:
    """The CI-required library a skip ``reason`` (from ``pytest.importorskip``) says is missing, if any."""
    m = _NOT_IMPORTED.search(reason)
    return m.group(1) if m and m.group(1).split(".")[0] in CI_REQUIRED else None


def _fail_required_skip(report: pytest.CollectReport | pytest.TestReport) -> None:
    if not (report.skipped and os.environ.get("CI") == "true" and isinstance(report.longrepr, tuple)):
        return
    missing = ci_required_missing(str(report.longrepr[2]))
    if missing is not None:
        report.outcome = "failed"
        report.longrepr = f"{missing} is required in CI (pip install -e '.[dev]'): {report.longrepr[2]}"


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):  # noqa: ANN201
    report = yield
    _fail_required_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # noqa: ANN201
    report = yield
    _fail_required_skip(report)
    return report


@pytest.fixture(scope="session")
def s3_server():
    """An S3-compatible server (moto) on 127.0.0.1 for the session, its endpoint and test credentials
    in the environment (where s3fs, forked workers and Ray tasks find them); yields the endpoint URL."""
    import logging

    moto_server = pytest.importorskip("moto.server")
    s3fs = pytest.importorskip("s3fs")
    from datamill.io import storage

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    s3fs.S3FileSystem.clear_instance_cache()
    storage._filesystem_in.cache_clear()
    s3fs.S3FileSystem().mkdir("datamill-tests")
    yield env["AWS_ENDPOINT_URL"]
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    s3fs.S3FileSystem.clear_instance_cache()
    storage._filesystem_in.cache_clear()
    server.stop()


@pytest.fixture
def s3_bucket(s3_server, request):
    """A fresh folder (prefix) of the test S3 server's bucket: ``s3://datamill-tests/<test>-<random>``."""
    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:60].strip("-")
    return f"s3://datamill-tests/{name}-{os.urandom(3).hex()}"
