"""Login flood vs the feedback app: the server's RSS and an authenticated request's latency, with and without a flood.

Starts a real uvicorn server (one process, SQLite, production argon2 parameters: 64 MiB a hash), then twice
measures ``GET /api/projects`` with an API token, back to back for ``--seconds``: once quiet, once while
``--flooders`` clients (in a process of their own) post wrong passwords to ``/api/login`` as fast as they are
answered. Prints p50/p99 of the authenticated request, the server's peak RSS, and what the flood was answered
with.

    python benchmarks/feedback_login_flood.py [--flooders 48] [--seconds 10] [--no-rate-limits]

``--no-rate-limits`` switches the per-address and per-account buckets off (a flood from many addresses), so
only the bound on concurrent hashing protects the server. Run it on an older checkout (``PYTHONPATH=old/src``)
for the figures before the limits existed. Figures on a shared machine are labelled with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

from datamill.feedback import service as svc
from datamill.feedback.db import Database

SERVER = """
import sys, uvicorn
from datamill.feedback.app import create_app
kw = {}
if "--no-rate-limits" in sys.argv:
    from datamill.feedback.limits import LoginLimits
    kw["login_limits"] = LoginLimits(per_address=None, per_account=None)
uvicorn.run(create_app(sys.argv[1], **kw), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning",
            access_log=False)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(url: str, port: int, rate_limits: bool) -> subprocess.Popen:
    args = [sys.executable, "-c", SERVER, url, str(port)] + ([] if rate_limits else ["--no-rate-limits"])
    proc = subprocess.Popen(args)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start")


async def _flood(base: str, flooders: int, stop: float) -> dict[int, int]:
    """``flooders`` clients posting wrong passwords until ``stop``, ignoring Retry-After; their answers."""
    answers: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=flooders, max_keepalive_connections=flooders)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:

        async def one() -> None:
            while time.monotonic() < stop:
                r = await http.post("/api/login", json={"username": "admin", "password": "wrong-password"})
                answers[r.status_code] += 1
                if r.status_code in (429, 503):  # only breathe a little
                    await asyncio.sleep(0.01)

        await asyncio.gather(*(one() for _ in range(flooders)))
    return dict(sorted(answers.items()))


def _flood_process(base: str, flooders: int, stop_in: float, out: Any) -> None:
    out.put(asyncio.run(_flood(base, flooders, time.monotonic() + stop_in)))


async def phase(base: str, token: str, seconds: float, flooders: int, server: psutil.Process) -> dict:
    """Authenticated requests back to back for ``seconds``, with ``flooders`` login flooders alongside (in a
    process of their own, so the measuring client's event loop is not theirs)."""
    import multiprocessing as mp

    lat: list[float] = []
    peak = server.memory_info().rss
    stop = time.monotonic() + seconds
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    flood = ctx.Process(target=_flood_process, args=(base, flooders, seconds, out)) if flooders else None
    if flood is not None:
        flood.start()
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:

        async def watch() -> None:
            nonlocal peak
            while time.monotonic() < stop:
                peak = max(peak, server.memory_info().rss)
                await asyncio.sleep(0.02)

        async def measure() -> None:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                r = await http.get("/api/projects", headers={"Authorization": f"Bearer {token}"})
                r.raise_for_status()
                lat.append(time.perf_counter() - t0)

        await asyncio.gather(measure(), watch())
    answers = {}
    if flood is not None:
        answers = out.get(timeout=300)
        flood.join(60)
    ms = np.array(lat) * 1000
    return {
        "requests": len(lat),
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "rss": peak / 2**20,
        "flood": answers,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flooders", type=int, default=48)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--no-rate-limits", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'flood.db'}"
        db = Database(url)
        admin = svc.create_user(db, "admin", "admin-password", role="admin")
        token = svc.create_api_token(db, admin["id"])
        for i in range(5):
            svc.create_project(db, f"p{i}")
        db.dispose()
        port = free_port()
        proc = start(url, port, rate_limits=not args.no_rate_limits)
        try:
            server = psutil.Process(proc.pid)
            base = f"http://127.0.0.1:{port}"
            httpx.post(f"{base}/api/login", json={"username": "admin", "password": "admin-password"})
            quiet = asyncio.run(phase(base, token, args.seconds, 0, server))
            flood = asyncio.run(phase(base, token, args.seconds, args.flooders, server))
        finally:
            proc.terminate()
            proc.wait(10)
    load = os.getloadavg()[0]
    print(
        f"login flood benchmark ({args.flooders} flooders, {args.seconds:.0f} s a phase, load avg {load:.1f})"
    )
    print(
        f"{'phase':<10} {'GET /api/projects':>18} {'p50 ms':>8} {'p99 ms':>8} {'peak RSS MiB':>13}  flood answers"
    )
    for name, r in (("quiet", quiet), ("flood", flood)):
        print(
            f"{name:<10} {r['requests']:>18} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['rss']:>13.0f}  {r['flood'] or '-'}"
        )


if __name__ == "__main__":
    main()
