"""Brute force and login floods: 429 with Retry-After per address and per account, and a bounded server RSS.

The RSS test runs a real uvicorn process with production argon2 parameters (64 MiB a hash): 48 concurrent
logins used to push it from ~110 MB to 2.3 GB; now at most one hash per core runs at once.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from feedback_helpers import CSRF_RE, LiveServer

from datamill.feedback import service as svc

SERVER = """
import sys, uvicorn
from datamill.feedback.app import create_app
kw = {}
if "--no-rate-limits" in sys.argv:
    from datamill.feedback.limits import LoginLimits
    kw["login_limits"] = LoginLimits(per_address=None, per_account=None)
uvicorn.run(create_app(sys.argv[1], **kw), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def _run(coro):  # noqa: ANN001, ANN202
    """``asyncio.run`` in a thread of its own (playwright's sync API may hold this thread's event loop)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _flood(url: str, n: int, body: dict) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        return await asyncio.gather(*(http.post("/api/login", json=body) for _ in range(n)))


def test_parallel_wrong_passwords_get_429_with_retry_after(db_url) -> None:  # noqa: ANN001
    from datamill.feedback.app import create_app
    from datamill.feedback.db import Database

    db = Database(db_url)
    svc.create_user(db, "admin", "admin-password", role="admin")
    server = LiveServer(create_app(db))
    try:
        got = _run(_flood(server.url, 200, {"username": "admin", "password": "wrong-password"}))
        codes = [r.status_code for r in got]
        assert set(codes) <= {401, 429, 503}, sorted(set(codes))
        assert codes.count(429) >= 150 and codes.count(401) <= 20, {c: codes.count(c) for c in set(codes)}
        retry = [int(r.headers["retry-after"]) for r in got if r.status_code == 429]
        assert min(retry) >= 1 and all(r.json()["status"] == 429 for r in got if r.status_code == 429)
        # the login page form is throttled too (same address), with the header
        c = httpx.Client(base_url=server.url)
        tok = CSRF_RE.search(c.get("/login").text).group(1)
        page = c.post("/login", data={"username": "admin", "password": "x", "csrf_token": tok})
        assert page.status_code == 429 and int(page.headers["retry-after"]) >= 1
    finally:
        server.stop()
        db.dispose()


def test_per_account_limit_spans_addresses_and_treats_unknown_users_alike(app_db) -> None:  # noqa: ANN001
    from fastapi.testclient import TestClient

    app, db = app_db
    svc.create_user(db, "admin", "admin-password", role="admin")

    def attempt(addr: int, username: str, password: str = "wrong-password") -> int:
        c = TestClient(app, client=(f"10.0.0.{addr}", 1234))
        return c.post("/api/login", json={"username": username, "password": password}).status_code

    for who in ("admin", "nobody"):  # a known and an unknown account answer the same way
        codes = [attempt(i, who) for i in range(12)]
        assert codes == [401] * 10 + [429] * 2, (who, codes)
    # a success does not count against the account or the address
    assert [attempt(100, "ADMIN-other") for _ in range(3)] == [401] * 3
    svc.create_user(db, "bob", "bob-password")
    assert all(attempt(200, "bob", "bob-password") == 200 for _ in range(25))
    # an address guessing API tokens is stopped too (a tighter bucket than the default 100 a minute)
    from datamill.feedback.limits import LoginLimits

    app.state.limits = LoginLimits(bad_tokens=(5, 5 / 3600))
    c = TestClient(app, client=("10.9.9.9", 1))
    codes = [
        c.get("/api/me", headers={"Authorization": f"Bearer dmf_guess{i}"}).status_code for i in range(7)
    ]
    assert codes == [401] * 5 + [429] * 2
    assert TestClient(app, client=("10.9.9.8", 1)).get("/api/me").status_code == 401  # another address


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("rate_limits", [True, False], ids=["defaults", "hash-bound-only"])
def test_login_flood_keeps_server_rss_bounded(tmp_path, rate_limits: bool) -> None:  # noqa: ANN001
    psutil = pytest.importorskip("psutil")
    from datamill.feedback.db import Database

    url = f"sqlite:///{tmp_path / 'flood.db'}"
    db = Database(url)
    svc.create_user(db, "admin", "admin-password", role="admin")  # the test's cheap argon2: fine to verify
    db.dispose()
    port = _free_port()
    args = [sys.executable, "-c", SERVER, url, str(port)] + ([] if rate_limits else ["--no-rate-limits"])
    proc = subprocess.Popen(args, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        server = psutil.Process(proc.pid)
        # one real login first: the hasher (and its 64 MiB) is warm in the baseline
        _run(_flood(base, 1, {"username": "nobody", "password": "x" * 12}))
        baseline = server.memory_info().rss
        peak = [baseline]

        async def flood_and_watch() -> list[httpx.Response]:
            async def watch() -> None:
                while True:
                    peak.append(server.memory_info().rss)
                    await asyncio.sleep(0.02)

            watcher = asyncio.create_task(watch())
            try:
                return await _flood(base, 48, {"username": "nobody", "password": "wrong-password"})
            finally:
                watcher.cancel()

        got = _run(flood_and_watch())
        codes = [r.status_code for r in got]
        assert set(codes) <= {401, 429, 503}, sorted(set(codes))
        grew = (max(peak) - baseline) / 2**20
        bound = (
            len(os.sched_getaffinity(0)) * 64 + 96
        )  # one 64 MiB hash per slot, plus room for requests and allocator
        print(f"login flood: baseline {baseline / 2**20:.0f} MiB, peak +{grew:.0f} MiB (bound {bound})")
        assert grew < bound, (grew, bound, {c: codes.count(c) for c in set(codes)})
    finally:
        proc.terminate()
        proc.wait(10)
