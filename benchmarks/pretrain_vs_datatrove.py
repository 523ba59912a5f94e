"""datamill.pretrain vs datatrove on the same data: MinHash dedup, quality filters, extraction.

    python -m venv --system-site-packages /tmp/peer-pretrain      # keep the peer out of datamill's env
    /tmp/peer-pretrain/bin/pip install datatrove spacy            # datatrove's English tokenizer needs spaCy
    /tmp/peer-pretrain/bin/python benchmarks/pretrain_vs_datatrove.py [--docs 3000] [--dup-rate 0.2] [--seeds 5]

1. MinHash: a corpus of documents composed from real paragraphs (Dolma's Common Crawl test docs,
   the Self-Instruct seed tasks, the sample crawl's pages), with planted near-duplicates at known
   rates: random word edits (5% of words), inserted lines, reordered paragraphs. Both tools use
   5-word shingles, 14 bands x 8 rows (datatrove's defaults) and run single-process. Prints docs/s,
   precision and recall of the removed documents against the planted ones (mean over seeds, with its
   standard error), how many planted pairs datamill kept although they shared a bucket (what its
   verification lost; every other miss is an LSH miss), and the recall any 14x8 LSH can reach at
   the planted pairs' exact Jaccard similarity.
2. Filters: Gopher quality, Gopher repetition, C4, FineWeb on the same documents, each on fresh
   copies: docs/s and the share of identical keep/drop decisions.
3. Extraction: resiliparse vs trafilatura on the sample crawl's HTML pages.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / "tests" / "data"


def real_paragraphs() -> tuple[list[str], list[str]]:
    """Real paragraphs, and the sample crawl's HTML pages."""
    from datamill.io.quarantine import ErrorPolicy
    from datamill.pretrain import WarcReader, sample_crawl_path

    paras: list[str] = []
    for line in gzip.decompress(
        (SHARED / "pretrain" / "dolma_cc_en_head-0174.jsonl.gz").read_bytes()
    ).splitlines():
        paras += [p.strip() for p in json.loads(line)["text"].split("\n") if len(p.split()) >= 8]
    for line in (SHARED / "finetune" / "self_instruct_seed_tasks.jsonl").read_text().splitlines():
        t = json.loads(line)
        paras += [t["instruction"]] + [i["output"] for i in t["instances"] if len(i["output"].split()) >= 8]
    html = [d.text for d in WarcReader(paths=sample_crawl_path()).read(policy=ErrorPolicy("quarantine"))]
    return sorted(set(paras)), html


def compose(paras: list[str], n: int, rng: random.Random) -> list[str]:
    return ["\n\n".join(rng.sample(paras, rng.randint(6, 14))) for _ in range(n)]


def plant(doc: str, kind: str, rng: random.Random) -> str:
    ps = doc.split("\n\n")
    if kind == "edit":  # replace 5% of the words
        words = doc.split(" ")
        for i in rng.sample(range(len(words)), max(1, len(words) // 20)):
            words[i] = rng.choice(["lorem", "quite", "really", "however", "indeed"])
        return " ".join(words)
    if kind == "insert":  # one or two inserted lines
        for _ in range(rng.randint(1, 2)):
            ps.insert(
                rng.randrange(len(ps) + 1), "Updated on 3 May: a reader pointed out a mistake in this text."
            )
        return "\n\n".join(ps)
    rng.shuffle(ps)  # reordered paragraphs
    return "\n\n".join(ps)


def corpus(n: int, dup_rate: float, seed: int = 0) -> tuple[list[str], dict[int, tuple[int, str]]]:
    """``n`` composed documents plus planted near-duplicates: {planted index: (original index, kind)}."""
    rng = random.Random(seed)
    paras, _ = real_paragraphs()
    base = compose(paras, n, rng)
    docs, planted = list(base), {}
    for i in rng.sample(range(n), int(n * dup_rate)):
        kind = rng.choice(["edit", "insert", "shuffle"])
        planted[len(docs)] = (i, kind)
        docs.append(plant(base[i], kind, rng))
    return docs, planted


def recall_ceiling(
    docs: list[str], planted: dict[int, tuple[int, str]], *, bands: int = 14, rows: int = 8
) -> dict[str, tuple[int, float, float]]:
    """Per planting kind: (count, mean exact 5-gram Jaccard, expected LSH recall 1 - (1 - J^r)^b).

    Any MinHash-LSH with these bands x rows finds a pair with that probability, whatever its hash
    functions: the bound both tools are measured against.
    """
    from datamill.minhash import shingle_hashes

    out: dict[str, list[tuple[float, float]]] = {}
    for j, (i, kind) in planted.items():
        a, b = set(shingle_hashes(docs[i]).tolist()), set(shingle_hashes(docs[j]).tolist())
        jac = len(a & b) / len(a | b)
        out.setdefault(kind, []).append((jac, 1 - (1 - jac**rows) ** bands))
    return {
        k: (len(v), sum(x for x, _ in v) / len(v), sum(y for _, y in v) / len(v))
        for k, v in sorted(out.items())
    }


def missed_in_a_bucket(
    docs: list[str], planted: dict[int, tuple[int, str]], removed: set[int], seed: int
) -> int:
    """Planted copies datamill kept although they share a 14x8 bucket with their original: the pairs
    its verification (or its pairing within buckets) lost. The other misses are LSH misses."""
    from datamill.pretrain.minhash import band_hashes, minhash_signatures

    sig = minhash_signatures(docs, num_perm=112, ngram=5, seed=seed)
    bands = band_hashes(sig, bands=14, rows=8)
    return sum(1 for j, (i, _) in planted.items() if j not in removed and (bands[i] == bands[j]).any())


def score(removed: set[int], planted: set[int]) -> tuple[float, float]:
    tp = len(removed & planted)
    return tp / max(1, len(removed)), tp / max(1, len(planted))


def datamill_minhash(docs: list[str], *, verify: bool, seed: int = 1) -> tuple[float, set[int]]:
    from datamill.pretrain import MinhashDedup
    from datamill.records import Document

    recs = [Document(id=str(i), text=t) for i, t in enumerate(docs)]
    step = MinhashDedup(
        num_perm=112,
        bands=14,
        rows=8,
        ngram=5,
        threshold=0.5,
        verify=verify,
        seed=seed,
        duplicates_file=False,
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = os.path.join(tmp, ".datamill", "work", "g0")
        os.makedirs(work)
        t0 = time.perf_counter()
        for _ in step.collect(recs, shard=0, workdir=work):
            pass
        step.reduce(workdir=work, num_shards=1)
        kept = {int(r.id) for r in step.apply(recs, shard=0, workdir=work)}
        dt = time.perf_counter() - t0
    return dt, set(range(len(docs))) - kept


def datatrove_minhash(docs: list[str], *, seed: int = 1) -> tuple[float, set[int]]:
    import datatrove.utils.hashes.xxhash as dt_xxhash
    import xxhash
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from loguru import logger

    # datatrove 0.10 passes str to xxhash, which xxhash >= 3.6 refuses; encode first (same hash, same speed)
    logger.remove()  # datatrove logs every bucket at INFO
    dt_xxhash.xxhash64 = lambda data: xxhash.xxh64_intdigest(data.encode() if isinstance(data, str) else data)
    cfg = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        mk = lambda: (Document(text=t, id=str(i)) for i, t in enumerate(docs))  # noqa: E731
        MinhashDedupSignature(output_folder=f"{tmp}/sigs", config=cfg).run(mk(), rank=0, world_size=1)
        for b in range(cfg.num_buckets):
            MinhashDedupBuckets(input_folder=f"{tmp}/sigs", output_folder=f"{tmp}/buckets", config=cfg).run(
                rank=b, world_size=cfg.num_buckets
            )
        MinhashDedupCluster(input_folder=f"{tmp}/buckets", output_folder=f"{tmp}/remove", config=cfg).run()
        kept = {
            int(d.id)
            for d in MinhashDedupFilter(input_folder=f"{tmp}/remove").run(mk(), rank=0, world_size=1)
        }
        dt = time.perf_counter() - t0
    return dt, set(range(len(docs))) - kept


def filters(texts: list[str]) -> None:
    from datatrove.data import Document as DTDoc
    from datatrove.pipeline import filters as dtf

    from datamill.pretrain import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datamill.records import Document

    pairs = [
        ("Gopher quality", GopherQualityFilter(), dtf.GopherQualityFilter()),
        ("Gopher repetition", GopherRepetitionFilter(), dtf.GopherRepetitionFilter()),
        ("C4", C4QualityFilter(), dtf.C4QualityFilter()),
        ("FineWeb", FineWebQualityFilter(), dtf.FineWebQualityFilter()),
    ]
    tot_dm = tot_dt = 0.0
    all_same = [True] * len(texts)
    for label, mine, theirs in pairs:
        ours = [Document(id=str(i), text=t) for i, t in enumerate(texts)]
        peer = [DTDoc(text=t, id=str(i)) for i, t in enumerate(texts)]
        t0 = time.perf_counter()
        a = [mine.keep(d) is True for d in ours]
        t1 = time.perf_counter()
        b = [(lambda v: v is True or (isinstance(v, tuple) and v[0]))(theirs.filter(d)) for d in peer]
        t2 = time.perf_counter()
        tot_dm += t1 - t0
        tot_dt += t2 - t1
        same = [x == y for x, y in zip(a, b, strict=True)]
        all_same = [p and q for p, q in zip(all_same, same, strict=True)]
        print(
            f"  {label:18s} datamill {len(texts) / (t1 - t0):9.0f} docs/s  datatrove {len(texts) / (t2 - t1):8.0f} "
            f"docs/s  ratio {(t2 - t1) / (t1 - t0):5.2f}x  identical decisions {sum(same) / len(same):.2%} "
            f"(kept {sum(a)} vs {sum(b)})"
        )
    print(
        f"  {'all four':18s} datamill {len(texts) / tot_dm:9.0f} docs/s  datatrove {len(texts) / tot_dt:8.0f} "
        f"docs/s  ratio {tot_dt / tot_dm:5.2f}x  identical on every filter {sum(all_same) / len(all_same):.2%}"
    )


def extraction(pages: list[str], repeat: int = 3) -> None:
    from datamill.pretrain import extract_text

    times = {}
    for engine in ("resiliparse", "trafilatura"):
        t0 = time.perf_counter()
        for _ in range(repeat):
            for p in pages:
                extract_text(p, engine=engine)  # type: ignore[arg-type]
        times[engine] = time.perf_counter() - t0
        print(f"  {engine:12s} {repeat * len(pages) / times[engine]:8.0f} pages/s")
    print(f"  resiliparse / trafilatura speed ratio {times['trafilatura'] / times['resiliparse']:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=3000, help="base documents (planted copies come on top)")
    ap.add_argument(
        "--dup-rate", type=float, default=0.2, help="share of base documents given a near-duplicate"
    )
    ap.add_argument("--seeds", type=int, default=5, help="MinHash runs with different permutation seeds")
    ap.add_argument("--skip", nargs="*", default=[], choices=["minhash", "filters", "extract"])
    args = ap.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")  # datatrove's progress bars (read when tqdm is imported)
    try:
        import datatrove  # noqa: F401
    except ImportError:
        sys.exit("the peer is missing: pip install datatrove spacy")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {os.cpu_count()} CPUs (shared with other jobs: figures are indicative)")
    docs, planted = corpus(args.docs, args.dup_rate)
    if "minhash" not in args.skip:
        print(f"MinHash dedup, {len(docs)} docs ({len(planted)} planted near-duplicates), 5-grams, 14x8 LSH")
        runs = {
            "datamill (verified pairs, est. J >= 0.5)": lambda k: datamill_minhash(docs, verify=True, seed=k),
            "datamill (no verification, as datatrove)": lambda k: datamill_minhash(
                docs, verify=False, seed=k
            ),
            "datatrove": lambda k: datatrove_minhash(docs, seed=k),
        }
        secs = {}
        for name, fn in runs.items():
            res = [fn(k) for k in range(1, args.seeds + 1)]
            secs[name] = sum(t for t, _ in res) / len(res)
            scores = [score(r, set(planted)) for _, r in res]
            p = sum(x for x, _ in scores) / len(scores)
            rc = sum(y for _, y in scores) / len(scores)
            sd = statistics.stdev(y for _, y in scores) / len(scores) ** 0.5 if len(scores) > 1 else 0.0
            lost = ""
            if name.startswith("datamill"):
                n = sum(missed_in_a_bucket(docs, planted, r, k) for k, (_, r) in enumerate(res, 1))
                lost = f"  planted pairs in a shared bucket but kept: {n} over {args.seeds} seeds"
            print(
                f"  {name:42s} {len(docs) / secs[name]:8.0f} docs/s  removed {len(res[0][1]):5d}  "
                f"precision {p:.3f}  recall {rc:.3f} (standard error {sd:.3f}, {args.seeds} seeds){lost}"
            )
        t_dm, t_dt = secs["datamill (verified pairs, est. J >= 0.5)"], secs["datatrove"]
        print(f"  MinHash speed ratio datamill / datatrove: {t_dt / t_dm:.2f}x")
        ceiling = recall_ceiling(docs, planted)
        expected = sum(n * r for n, _, r in ceiling.values()) / len(planted)
        print(
            f"  recall ceiling of 14x8 LSH at the planted pairs' exact Jaccard: {expected:.3f} ("
            + ", ".join(f"{k} {n}: J {j:.2f}, {r:.2f}" for k, (n, j, r) in ceiling.items())
            + ")"
        )
    if "filters" not in args.skip:
        _, pages = real_paragraphs()
        from datamill.pretrain import extract_text

        web = [extract_text(p)[0] for p in pages]
        texts = docs[: args.docs] + [t for t in web if t]
        print(
            f"Quality filters on {len(texts)} docs (composed real paragraphs + extracted sample-crawl pages)"
        )
        filters(texts)
    if "extract" not in args.skip:
        _, pages = real_paragraphs()
        print(f"Extraction, {len(pages)} sample-crawl pages x 3")
        extraction(pages)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
