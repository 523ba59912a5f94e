"""datamill.synthetic vs distilabel: the same 2,000-prompt `respond` job against the same local fake
OpenAI-compatible server (fixed 100 ms latency), with the same concurrency.

    pip install distilabel openai      # the peer tool (not a datamill dependency)
    python benchmarks/synthetic_vs_distilabel.py [--prompts 2000] [--concurrency 64] [--latency 0.1]

Prints completions/s of each tool, their ratio (target >= 2x), and the rerun time with a warm cache
(datamill: its SQLite request cache; distilabel: its pipeline cache, use_cache=True).
The fake server runs in its own process (``datamill synthetic fake-server``) so that neither client
shares a Python interpreter (and its GIL) with it; its ``/v1/_stats`` counts the requests received.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import httpx

from datamill.records import Example
from datamill.synthetic import OpenAITeacher, Respond


class ServerProcess:
    """``datamill synthetic fake-server`` in a subprocess; ``requests`` reads its counters over HTTP."""

    def __init__(self, latency: float) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from datamill.cli.main import main; main()",
                "synthetic",
                "fake-server",
                "--port",
                "0",
                "--latency",
                str(latency),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = re.search(r"(http://\S+/v1)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"fake server did not start: {line!r}")
        self.url = m.group(1)
        self._base = 0

    @property
    def requests(self) -> int:
        return httpx.get(f"{self.url}/_stats").json()["requests"] - self._base

    def reset_stats(self) -> None:
        self._base = 0
        self._base = self.requests

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def run_datamill(url: str, prompts: list[str], concurrency: int, cache: str) -> tuple[float, int]:
    teacher = OpenAITeacher(base_url=url, model="fake-teacher", max_concurrency=concurrency)
    step = Respond(teacher=teacher, cache=cache, max_tokens=64, batch_size=len(prompts))
    t0 = time.perf_counter()
    out = list(step(Example(input=p) for p in prompts))
    return time.perf_counter() - t0, len(out)


def run_distilabel(
    url: str, prompts: list[str], concurrency: int, cache_dir: str, use_cache: bool
) -> tuple[float, int]:
    from distilabel.models import OpenAILLM
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts
    from distilabel.steps.tasks import TextGeneration

    with Pipeline(name="bench-respond", cache_dir=cache_dir) as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": p} for p in prompts], batch_size=concurrency)
        gen = TextGeneration(
            llm=OpenAILLM(
                model="fake-teacher",
                base_url=url,
                api_key="not-needed",
                generation_kwargs={"max_new_tokens": 64},
            ),
            input_batch_size=concurrency,
        )
        load >> gen
    t0 = time.perf_counter()
    distiset = pipeline.run(use_cache=use_cache)
    seconds = time.perf_counter() - t0
    n = sum(len(ds) for cfg in distiset.values() for ds in cfg.values())
    return seconds, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.1)
    args = ap.parse_args()
    try:
        import distilabel  # noqa: F401
    except ImportError:
        sys.exit("the peer tool is missing: pip install distilabel openai")
    prompts = [f"Explain idea number {i} to a curious student in two sentences." for i in range(args.prompts)]
    work = tempfile.mkdtemp(prefix="dm-bench-")
    results: dict[str, float] = {}
    try:
        with ServerProcess(args.latency) as server:
            t, n = run_datamill(server.url, prompts, args.concurrency, os.path.join(work, "dm.sqlite"))
            assert n == len(prompts), n
            results["datamill_s"], results["datamill_requests"] = t, server.requests
            server.reset_stats()
            t, n = run_datamill(server.url, prompts, args.concurrency, os.path.join(work, "dm.sqlite"))
            results["datamill_warm_s"], results["datamill_warm_requests"] = t, server.requests
            server.reset_stats()
            t, n = run_distilabel(
                server.url, prompts, args.concurrency, os.path.join(work, "dl"), use_cache=False
            )
            assert n == len(prompts), n
            results["distilabel_s"], results["distilabel_requests"] = t, server.requests
            server.reset_stats()
            t, n = run_distilabel(
                server.url, prompts, args.concurrency, os.path.join(work, "dl"), use_cache=True
            )
            results["distilabel_warm_s"], results["distilabel_warm_requests"] = t, server.requests
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = len(prompts)
    dm_rate, dl_rate = n / results["datamill_s"], n / results["distilabel_s"]
    print(json.dumps({k: round(v, 3) for k, v in results.items()}, indent=2))
    print(
        f"\n{n:,} prompts, concurrency {args.concurrency}, server latency {args.latency * 1000:.0f} ms "
        f"(ideal {n / args.concurrency * args.latency:.1f} s)"
    )
    print(f"datamill   : {results['datamill_s']:7.2f} s  {dm_rate:8.1f} completions/s")
    print(f"distilabel : {results['distilabel_s']:7.2f} s  {dl_rate:8.1f} completions/s")
    print(f"ratio datamill/distilabel: {dm_rate / dl_rate:.2f}x")
    print(
        f"warm-cache rerun: datamill {results['datamill_warm_s']:.2f} s "
        f"({results['datamill_warm_requests']} requests), distilabel {results['distilabel_warm_s']:.2f} s "
        f"({results['distilabel_warm_requests']} requests)"
    )


if __name__ == "__main__":
    main()
