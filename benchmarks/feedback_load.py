"""Load test of the feedback app: N concurrent annotators doing next-task + submit on loopback.

Starts a real uvicorn server (one process) on SQLite (WAL) and, when reachable, on PostgreSQL
(a fresh schema), drives it with an async httpx load generator for a bounded number of
submits, and prints p50/p99 latency of each request type, submits per second, and the app server's
CPU time per next-task + submit (its own processes, not PostgreSQL's; the least load-sensitive figure).

    python benchmarks/feedback_load.py [--annotators 50] [--submits 2000] [--postgres URL] [--no-postgres]
                                       [--think-ms 0]

By default every annotator fires its next request the moment the last one returns (a closed loop at
full speed): submits/s is the server's capacity and latency is mostly queueing (50 clients /
throughput). ``--think-ms T`` adds T ms of "reading time" between one submit and the next task, as
real annotators have, so latency is measured at an offered load below capacity.

The issue's target: p99 < 50 ms and >= 300 submits/s on 2 cores. Figures on a shared machine are
labelled with the load average at the start of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from datamill.feedback import service as svc
from datamill.feedback.db import Database

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(url: str, port: int, workers: int = 1) -> subprocess.Popen:
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
            "--no-access-log",
            "--workers",
            str(workers),
        ],
        env={**os.environ, "DATABASE_URL": url},
    )
    for _ in range(600):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start")


def server_cpu(pid: int) -> float:
    """CPU seconds used so far by the server process and its worker processes (Linux /proc; 0 elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):  # the server or one of its workers
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def seed(url: str, annotators: int, tasks: int) -> tuple[int, list[str]]:
    svc.ARGON2_PARAMS.update(time_cost=1, memory_cost=1024, parallelism=1)  # seeding speed only
    db = Database(url)
    p = svc.create_project(db, f"load-{uuid.uuid4().hex[:6]}", overlap=3)
    svc.add_tasks(
        db,
        p["id"],
        enumerate(
            [
                {
                    "id": f"t{i}",
                    "prompt": f"question {i} " * 20,
                    "responses": [f"answer A {i} " * 30, f"answer B {i} " * 30],
                }
                for i in range(tasks)
            ],
            1,
        ),
    )
    tokens = []
    for i in range(annotators):
        u = svc.create_user(db, f"load-{uuid.uuid4().hex[:8]}-{i}", "password1")
        svc.add_member(db, p["id"], u["id"])
        tokens.append(svc.create_api_token(db, u["id"]))
    db.dispose()
    return p["id"], tokens


async def drive(
    base: str, project: int, tokens: list[str], total: int, think: float = 0.0
) -> dict[str, object]:
    import httpx

    lat_next: list[float] = []
    lat_submit: list[float] = []
    budget = [total]
    errors = [0]

    # clients are made before the clock starts: making one costs ~17 ms of CPU (an SSL context), which
    # used to land inside the first requests' latency of every other annotator (the whole p99 of next)
    clients = [
        httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {t}"}, timeout=30) for t in tokens
    ]

    async def one(i: int, http: httpx.AsyncClient) -> None:
        async with http:
            if think:
                await asyncio.sleep(think * i / len(tokens))  # spread the annotators over one think time
            while budget[0] > 0:
                budget[0] -= 1
                t0 = time.perf_counter()
                r = await http.get(f"/api/projects/{project}/next")
                lat_next.append(time.perf_counter() - t0)
                task = r.json().get("task") if r.status_code == 200 else None
                if task is None:
                    errors[0] += r.status_code != 200
                    return
                t0 = time.perf_counter()
                r = await http.post(
                    f"/api/tasks/{task['task_id']}/judgements",
                    json={"client_key": uuid.uuid4().hex, "value": {"preferred": 0}},
                )
                lat_submit.append(time.perf_counter() - t0)
                errors[0] += r.status_code not in (200, 201)
                if think:
                    await asyncio.sleep(think)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i, c) for i, c in enumerate(clients)))
    wall = time.perf_counter() - t0
    ms = lambda xs, q: float(np.percentile(np.array(xs) * 1000, q)) if xs else float("nan")  # noqa: E731
    both = [a + b for a, b in zip(lat_next, lat_submit, strict=False)]
    return {
        "submits": len(lat_submit),
        "errors": errors[0],
        "seconds": wall,
        "submits_per_s": len(lat_submit) / wall,
        "next_p50": ms(lat_next, 50),
        "next_p99": ms(lat_next, 99),
        "submit_p50": ms(lat_submit, 50),
        "submit_p99": ms(lat_submit, 99),
        "cycle_p50": ms(both, 50),
        "cycle_p99": ms(both, 99),
    }


def run(
    name: str, url: str, annotators: int, submits: int, workers: int = 1, think: float = 0.0
) -> dict[str, object]:
    warmup = min(200, submits)
    # every task takes min(overlap 3, annotators) judgements: enough tasks for the warm-up and the run
    project, tokens = seed(url, annotators, tasks=(submits + warmup) // min(3, annotators) + annotators * 2)
    port = free_port()
    proc = serve(url, port, workers)
    try:
        asyncio.run(drive(f"http://127.0.0.1:{port}", project, tokens, warmup))
        cpu0 = server_cpu(proc.pid)
        res = asyncio.run(drive(f"http://127.0.0.1:{port}", project, tokens, submits, think))
        # server CPU per next+submit: what the app costs, much less sensitive to other load than latency
        res["cpu_ms"] = 1000 * (server_cpu(proc.pid) - cpu0) / max(int(res["submits"]), 1)  # type: ignore[call-overload]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    res["backend"] = name
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--annotators", type=int, default=50)
    ap.add_argument("--submits", type=int, default=2000, help="submits in the measured run (bounded)")
    ap.add_argument("--postgres", default=os.environ.get("DATAMILL_TEST_POSTGRES", PG_DEFAULT))
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="pause of each annotator between a submit and the next task (0: full speed)",
    )
    args = ap.parse_args()
    think = args.think_ms / 1000
    load = os.getloadavg()
    print(
        f"# feedback load test: {args.annotators} concurrent annotators, {args.submits} submits, "
        f"{os.cpu_count()} cores, think {args.think_ms:g} ms, load average at start {load[0]:.1f} (shared machine)"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(
            run(
                "sqlite (WAL)",
                f"sqlite:///{Path(tmp) / 'load.db'}",
                args.annotators,
                args.submits,
                think=think,
            )
        )
    if not args.no_postgres:
        try:
            import psycopg

            schema = f"load_{uuid.uuid4().hex[:8]}"
            with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as c:
                c.execute(f"CREATE SCHEMA {schema}")
            try:
                pg = f"{args.postgres}?options=-csearch_path%3D{schema}"
                rows.append(run("postgresql", pg, args.annotators, args.submits, think=think))
                rows.append(run("postgres x2 wk", pg, args.annotators, args.submits, workers=2, think=think))
            finally:
                with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as c:
                    c.execute(f"DROP SCHEMA {schema} CASCADE")
        except Exception as exc:  # noqa: BLE001 - report and go on
            print(f"# postgresql skipped: {exc}")
    print(
        f"{'backend':<14}{'submits':>8}{'errors':>7}{'submits/s':>11}{'next p50':>10}{'next p99':>10}"
        f"{'submit p50':>12}{'submit p99':>12}{'server CPU/cycle':>18}"
    )
    for r in rows:
        print(
            f"{r['backend']:<14}{r['submits']:>8}{r['errors']:>7}{r['submits_per_s']:>11.1f}"
            f"{r['next_p50']:>9.1f}ms{r['next_p99']:>8.1f}ms{r['submit_p50']:>10.1f}ms{r['submit_p99']:>10.1f}ms"
            f"{r['cpu_ms']:>16.2f}ms"
        )
    print("# target (issue): p99 < 50 ms, >= 300 submits/s on 2 cores")


if __name__ == "__main__":
    main()
