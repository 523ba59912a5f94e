"""datamill's classifier vs scikit-learn on the shipped labelled tweets, and how fast the saved model filters.

    python benchmarks/pretrain_classifier.py [--docs 20000]

1. Quality of the model: ``train_classifier`` on Davidson et al.'s 5,000 shipped tweets
   (tests/data/pretrain), binary (hate or offensive vs neither) and three classes, held-out macro F1 beside
   scikit-learn's CountVectorizer + LogisticRegression trained on the same split (``TrainResult.baseline``).
2. Speed of applying it: the saved model loaded fresh and run as the ``filter.classifier`` step in this
   one process (one core) over the sample crawl's extracted pages (repeated up to ``--docs``), in documents
   per second of wall time and per CPU-second of the process (one core's worth of work), beside scikit-learn's HashingVectorizer (word 1-2-grams) + LogisticRegression.predict_proba
   on the same texts. The target is >= 2,000 documents/s per core.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from datamill.io import read_records
from datamill.pretrain import ClassifierFilter, extract_pipeline, sample_crawl_path, train_classifier
from datamill.records import Document

TWEETS = (
    Path(__file__).resolve().parents[1] / "tests" / "data" / "pretrain" / "davidson_hate_offensive_5k.csv.gz"
)
MAPS = {
    "binary (toxic vs clean)": ({"0": "toxic", "1": "toxic", "2": "clean"}, "toxic"),
    "3 classes (hate, offensive, neither)": ({"0": "hate", "1": "offensive", "2": "neither"}, "hate"),
}


def quality(tmp: str) -> str:
    print("1. held-out macro F1 (1,000 of 5,000 tweets, seed 0)")
    model_dir = ""
    for label, (mapping, positive) in MAPS.items():
        out = os.path.join(tmp, label.split()[0])
        r = train_classifier(
            TWEETS, out, text_field="tweet", label_field="class", label_map=mapping, positive=positive
        )
        assert r.baseline is not None
        m, b = r.metrics["macro_f1"], r.baseline["macro_f1"]
        print(f"   {label:38s} datamill {m:.4f}   sklearn bag-of-words logreg {b:.4f}   ratio {m / b:.3f}")
        model_dir = model_dir or out
    return model_dir


def speed(model_dir: str, n_docs: int, tmp: str) -> None:
    extract_pipeline(sample_crawl_path(), output_format="jsonl").run(os.path.join(tmp, "ext"), workers=1)
    pages = [r.text for r in read_records(sorted(Path(tmp, "ext", "data").glob("*.jsonl")))]
    texts = (pages * (n_docs // len(pages) + 1))[:n_docs]
    chars = sum(map(len, texts)) / len(texts)
    docs = [Document(text=t) for t in texts]
    step = ClassifierFilter(model=model_dir, threshold=0.5)
    t0, c0 = time.perf_counter(), time.process_time()
    n = sum(1 for _ in step(docs))
    ours, ours_cpu = len(docs) / (time.perf_counter() - t0), len(docs) / (time.process_time() - c0)

    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = HashingVectorizer(ngram_range=(1, 2), n_features=2**20, alternate_sign=False)
    rng = np.random.default_rng(0)
    clf = LogisticRegression().fit(vec.transform(pages), rng.integers(0, 2, len(pages)))
    t0, c0 = time.perf_counter(), time.process_time()
    for lo in range(0, len(texts), 512):
        clf.predict_proba(vec.transform(texts[lo : lo + 512]))
    peer, peer_cpu = len(texts) / (time.perf_counter() - t0), len(texts) / (time.process_time() - c0)
    print(
        f"2. applying the saved model, one process, {len(texts):,} pages of {chars:,.0f} characters on average"
    )
    print(
        "   (per CPU-second = per core: the process's CPU time, which other load on the machine does not inflate)"
    )
    print(
        f"   datamill filter.classifier {ours:,.0f} docs/s wall, {ours_cpu:,.0f} docs per CPU-second (kept {n:,}); "
        f"target 2,000: {ours_cpu / 2000:.2f}x"
    )
    print(
        f"   sklearn HashingVectorizer + LogisticRegression {peer:,.0f} docs/s wall, {peer_cpu:,.0f} per CPU-second; "
        f"ratio {ours_cpu / peer_cpu:.2f}x"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = quality(tmp)
        speed(model_dir, args.docs, tmp)


if __name__ == "__main__":
    main()
