"""No acknowledged judgement is lost: 50 concurrent clients, SIGKILL the server mid-way, restart, count."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
from feedback_helpers import backend_url

from datamill.feedback import service as svc

N_CLIENTS = 50
PER_CLIENT = 3


def start_server(db_url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": db_url}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "datamill.feedback.app:app_from_env",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"server died: {proc.stderr.read().decode()[-2000:]}") from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start in 60 s")


async def annotator(base: str, token: str, project: int, acked: list, stop_after: int) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    done = 0
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as http:
        while done < stop_after:
            try:
                r = await http.get(f"/api/projects/{project}/next")
                r.raise_for_status()
            except (httpx.TransportError, httpx.HTTPStatusError):
                await asyncio.sleep(0.2)
                continue
            task = r.json()["task"]
            if task is None:
                return
            key = uuid.uuid4().hex
            body = {"client_key": key, "value": {"preferred": task["order"][0], "strength": 1}}
            while True:  # a real client retries with the same key until it hears back
                try:
                    r = await http.post(f"/api/tasks/{task['task_id']}/judgements", json=body)
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
                    continue
                if r.status_code in (200, 201):
                    acked.append((token, key, r.json()["id"], task["task_id"]))
                    done += 1
                    break
                await asyncio.sleep(0.2)  # e.g. 503 while the database recovers


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def durable_url(request: pytest.FixtureRequest, tmp_path) -> Any:  # noqa: ANN001
    """SQLite and the team backend, PostgreSQL (both runs together take ~35 s)."""
    with backend_url(request, tmp_path, "durable.db") as url:
        yield url


@pytest.mark.timeout(240)
def test_sigkill_mid_run_loses_no_acknowledged_judgement(durable_url: str) -> None:
    db_url = durable_url
    from sqlalchemy import func, select

    from datamill.feedback.db import Database
    from datamill.feedback.models import Judgement

    db = Database(db_url)
    p = svc.create_project(db, "durable", overlap=2)
    svc.add_tasks(
        db,
        p["id"],
        enumerate(
            [
                {"id": f"t{i}", "prompt": f"q{i}", "responses": ["a", "b"]}
                for i in range(N_CLIENTS * PER_CLIENT)
            ],
            1,
        ),
    )
    tokens = {}
    for i in range(N_CLIENTS):
        u = svc.create_user(db, f"a{i}", "password1")
        svc.add_member(db, p["id"], u["id"])
        tokens[svc.create_api_token(db, u["id"])] = u["id"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    proc = start_server(db_url, port)
    acked: list = []
    killed_at: list[int] = []

    async def run() -> None:
        clients = [asyncio.create_task(annotator(base, t, p["id"], acked, PER_CLIENT)) for t in tokens]
        target = N_CLIENTS * PER_CLIENT // 3
        while len(acked) < target:
            await asyncio.sleep(0.01)
        proc.send_signal(signal.SIGKILL)  # no shutdown, no flush: the process just vanishes
        await asyncio.to_thread(proc.wait)
        killed_at.append(len(acked))
        await asyncio.sleep(0.3)
        restarted.append(await asyncio.to_thread(start_server, db_url, port))
        await asyncio.wait_for(asyncio.gather(*clients), timeout=150)

    restarted: list[subprocess.Popen] = []
    try:
        # own thread: playwright's sync API may already run an event loop in this one
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, run()).result()
    finally:
        for pr in [proc, *restarted]:
            if pr.poll() is None:
                pr.terminate()
                pr.wait(10)
    assert killed_at and 0 < killed_at[0] < N_CLIENTS * PER_CLIENT
    assert len(acked) == N_CLIENTS * PER_CLIENT  # every client finished its work across the restart
    with db.read() as s:
        rows = {(r.user_id, r.client_key): r for r in s.scalars(select(Judgement))}
        total = s.scalar(select(func.count(Judgement.id)))
    assert total == len(rows)
    for token, key, jid, task_id in acked:
        row = rows.get((tokens[token], key))
        assert row is not None, f"acknowledged judgement {jid} lost"
        assert row.id == jid and row.task_id == task_id
    assert total == len(acked)  # nothing stored twice, nothing stored that was not acknowledged in the end
    with db.read() as s:
        per_task = s.execute(select(Judgement.task_id, func.count()).group_by(Judgement.task_id)).all()
    assert max(n for _, n in per_task) <= 2  # overlap held across the crash
    db.dispose()
