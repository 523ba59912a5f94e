"""Per-stage throughput of the default pre-training recipe on this machine (local and Ray executors).

    python benchmarks/pretrain_scaling.py [--files 4] [--pages 500] [--workers 2] [--no-ray] [--langid lingua]

Builds ``files`` WARC.gz files of ``pages`` HTML pages each (real paragraphs from Dolma's Common Crawl
test docs and the Self-Instruct seed tasks, composed into articles, half wrapped in boilerplate, 10%
planted near-duplicates), runs ``run_pretrain`` with each executor and prints, per step, documents per
CPU-second (the step's own time), and end to end documents/s and tokens/s (wall clock). These are the
figures docs/scaling.md uses. The global stages alone, at 1M-10M documents on a simulated multi-node
Ray cluster: benchmarks/pretrain_distributed.py.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pretrain_vs_datatrove import compose, plant, real_paragraphs  # noqa: E402

from datamill.pretrain.readers import warc_record  # noqa: E402

NAV = "<nav><a href='/'>Home</a> | <a href='/news'>News</a> | <a href='/about'>About</a></nav>"
FOOT = "<footer>Copyright 2024. <a href='/privacy'>Privacy policy</a> | <a href='/terms'>Terms of use</a></footer>"


def warc(path: Path, docs: list[str], prefix: str, rng: random.Random) -> None:
    out = bytearray()
    for i, doc in enumerate(docs):
        body = "".join(f"<p>{p}</p>" for p in doc.split("\n\n"))
        if rng.random() < 0.5:
            body = f"{NAV}<main><article>{body}</article></main>{FOOT}"
        page = (
            f"<!doctype html><html lang='en'><head><title>Page {i}</title></head><body>{body}</body></html>"
        )
        out += warc_record(f"https://{prefix}.example.com/{i}", page.encode(), record_id=f"{prefix}-{i}")
    path.write_bytes(bytes(out))


def run(crawl: Path, out: Path, executor: str, workers: int, langid: str) -> None:
    from datamill.pretrain import run_pretrain

    t0 = time.perf_counter()
    r = run_pretrain(str(crawl / "*.warc.gz"), out, executor=executor, workers=workers, langid=langid)
    wall = time.perf_counter() - t0
    tokens = r.manifest["shards"]["tokens"]
    print(
        f"\n{executor} executor, {workers} workers, langid {langid}: {r.records_in} pages -> {r.records_out} documents, "
        f"{tokens:,} tokens in {wall:.1f} s wall"
    )
    print(f"  end to end: {r.records_in / wall:.1f} input pages/s, {tokens / wall:,.0f} output tokens/s")
    print(f"  {'step':28s} {'seen':>6s} {'kept':>6s} {'cpu s':>7s} {'docs/cpu-s':>11s}")
    for st in r.steps:
        rate = st.seen / st.seconds if st.seconds else float("inf")
        print(f"  {st.name:28s} {st.seen:6d} {st.kept:6d} {st.seconds:7.2f} {rate:11.0f}")
    for g in r.manifest["global"]:
        print(f"  reduce {g['step']:21s} {g['seconds']:.2f} s wall ({g.get('bucket_engine', 'numpy')})")
        if "signature_seconds" in g:
            sig = g["signature_seconds"]
            print(
                f"  {'minhash signatures':28s} {g['records']:6d} {'':6s} {sig:7.2f} {g['records'] / max(sig, 1e-9):11.0f}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--pages", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--langid", default="fasttext", choices=["fasttext", "lingua"])
    args = ap.parse_args()
    print(f"command: python {' '.join(sys.argv)}")
    rng = random.Random(1)
    paras, _ = real_paragraphs()
    print(f"machine: {os.cpu_count()} CPUs, shared with other jobs (indicative figures)")
    with tempfile.TemporaryDirectory() as tmp:
        crawl = Path(tmp) / "crawl"
        crawl.mkdir()
        for k in range(args.files):
            docs = compose(paras, args.pages, rng)
            docs += [
                plant(d, rng.choice(["edit", "insert", "shuffle"]), rng) for d in docs[: args.pages // 10]
            ]
            warc(crawl / f"part-{k}.warc.gz", docs, f"site{k}", rng)
        run(crawl, Path(tmp) / "local", "local", args.workers, args.langid)
        if not args.no_ray:
            run(crawl, Path(tmp) / "ray", "ray", args.workers, args.langid)


if __name__ == "__main__":
    main()
