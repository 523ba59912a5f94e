"""kill -9 in the middle of a 1,000-request job, rerun: every item exactly once, and the requests sent in
total are at most 1,000 plus those in flight at the kill (the CLI runs as a subprocess; the fake server
runs in this process and counts what it receives)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from datamill.synthetic import RequestCache

CONCURRENCY = 8
N = 1000


def _cmd(url, src, out, cache):
    return [
        sys.executable,
        "-c",
        "from datamill.cli.main import main; main()",
        "synthetic",
        "respond",
        "--teacher",
        url,
        "--model",
        "fake-teacher",
        "-i",
        str(src),
        "-o",
        str(out),
        "--cache",
        str(cache),
        "--concurrency",
        str(CONCURRENCY),
        "--no-progress",
        "--max-tokens",
        "64",
    ]


def test_sigkill_then_resume(tmp_path, fake_server):
    fake_server.latency = 0.03
    src = tmp_path / "prompts.jsonl"
    src.write_text(
        "".join(
            json.dumps({"id": f"p{i}", "prompt": f"Explain item number {i} briefly."}) + "\n"
            for i in range(N)
        )
    )
    out, cache = tmp_path / "out.jsonl", tmp_path / "cache.sqlite"
    proc = subprocess.Popen(
        _cmd(fake_server.url, src, out, cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while fake_server.stats.by_status[200] < 300:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    answered_at_kill = fake_server.stats.by_status[200]
    assert answered_at_kill < N and not out.exists()  # the output appears whole or not at all
    assert list(tmp_path.glob("out.jsonl.tmp-*"))  # what the killed writer left
    cached = RequestCache(cache).counts().get("ok", 0)
    time.sleep(0.2)  # let the server finish answers to the dead client
    in_flight = fake_server.stats.by_status[200] - cached
    assert 0 <= in_flight <= CONCURRENCY

    done = subprocess.run(_cmd(fake_server.url, src, out, cache), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    inputs = [r["input"] for r in rows]
    assert len(rows) == N and sorted(inputs) == sorted(f"Explain item number {i} briefly." for i in range(N))
    assert sorted(r["provenance"]["parents"][0] for r in rows) == sorted(f"p{i}" for i in range(N))
    total = fake_server.stats.by_status[200]
    print(
        f"answered before kill {answered_at_kill}, cached {cached}, in flight {in_flight}, total answered {total}"
    )
    assert total <= N + in_flight, (total, in_flight)
    assert sorted(p.name for p in tmp_path.glob("out.jsonl*")) == [
        "out.jsonl"
    ]  # the killed run's temp file is gone
    assert RequestCache(cache).counts() == {"ok": N}
