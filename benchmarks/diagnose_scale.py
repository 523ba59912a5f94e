"""Diagnosis at scale: ~10k training examples and ~1k mistakes, end to end (read, embed, neighbours, label
noise, inconsistency, contradictions, attribution, HTML+JSON report). Target: under 2 minutes on 2 cores.

Also prints the label-noise detector on the real 20news set (82 MTurk-verified errors) next to cleanlab.

    python benchmarks/diagnose_scale.py [--train-per-label 1800] [--per-cause 200]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from datamill.diagnose import CAUSES, diagnose, find_label_issues, write_planted, write_report

SHARED = Path(__file__).resolve().parents[1] / "tests" / "data" / "diagnose"


def label_noise_vs_cleanlab() -> None:
    if not SHARED.is_dir():
        print(f"(skipping 20news: {SHARED} missing)")
        return
    labels = np.load(SHARED / "original_test_labels_20news_test_set_original_labels.npy").astype(np.int64)
    probs = np.load(SHARED / "cross_validated_predicted_probabilities_20news_test_set_pyx.npy")
    mturk = json.loads((SHARED / "mturk_20news_mturk.json").read_text())
    candidates = {m["id"] for m in mturk}
    verified = {m["id"] for m in mturk if m["mturk"]["given"] < 3}
    runs = [("datamill", lambda: find_label_issues(labels, probs))]
    try:
        from cleanlab.filter import find_label_issues as cl

        runs.append(("cleanlab", lambda: cl(labels, probs, n_jobs=1)))
    except ImportError:
        print("cleanlab not installed: pip install cleanlab")
    print(
        f"20news test set: {len(labels):,} rows, {len(candidates)} candidates shown to humans, "
        f"{len(verified)} verified errors"
    )
    for name, run in runs:
        t = time.perf_counter()
        mask = run()
        dt = time.perf_counter() - t
        flagged = set(np.flatnonzero(mask).tolist())
        tp = len(flagged & verified)
        print(
            f"  {name:9s} flagged {len(flagged):3d}  precision(among checked) {tp / max(len(flagged & candidates), 1):.3f}"
            f"  recall(among candidates) {tp / len(verified):.3f}  {dt * 1000:.0f} ms"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-per-label", type=int, default=1800)
    ap.add_argument("--per-cause", type=int, default=200)
    args = ap.parse_args()
    label_noise_vs_cleanlab()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_planted(
            tmp,
            n_train_per_label=args.train_per_label,
            n_correct=1000,
            n_per_cause=args.per_cause,
            n_combination=args.per_cause // 10,
            seed=0,
        )
        n_train = len(Path(paths["train"]).read_bytes().splitlines())
        planted = json.loads(Path(paths["planted"]).read_text())
        load0 = os.getloadavg()[0]
        t, cpu = time.perf_counter(), time.process_time()
        d = diagnose(paths["results"], paths["train"], feedback=paths["feedback"])
        html, _ = write_report(d, os.path.join(tmp, "report.html"))
        total, cpu = time.perf_counter() - t, time.process_time() - cpu
        print(
            f"\n{n_train:,} training examples, {len(d.results):,} results, {len(d.mistakes):,} mistakes "
            f"on {os.cpu_count()} cores: {total:.1f} s end to end (report {os.path.getsize(html) / 1e6:.1f} MB)"
        )
        print(
            f"  process CPU {cpu:.1f} s; load average {load0:.1f} before, {os.getloadavg()[0]:.1f} after "
            "(other processes on the 2 cores slow the wall time)"
        )
        print("  phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in d.timings.items()))
        for cause in CAUSES:
            found = {m.id for m in d.mistakes if cause in m.causes}
            gold = set(planted[cause])
            tp = len(found & gold)
            print(
                f"  {cause:22s} precision {tp / max(len(found), 1):.3f} recall {tp / max(len(gold), 1):.3f}"
            )
        print(f"  {'under 2 minutes' if total < 120 else 'OVER 2 minutes'}")


if __name__ == "__main__":
    main()
