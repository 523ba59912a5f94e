"""Build a small BEIR-format retrieval set from the 175 Self-Instruct seed tasks (real, Apache-2.0).

Each task's human-written answer is a corpus document (title: the task name); its instruction (with
its input, when it has one) is the query; the qrels mark that one document relevant. This is the
offline stand-in for the public BEIR sets, which cannot be downloaded here.

    python scripts/make_beir_selfinstruct.py tests/data src/datamill/data/beir_selfinstruct
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(shared: Path, out: Path) -> None:
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    corpus, queries, qrels = [], [], ["query-id\tcorpus-id\tscore"]
    for line in (
        (shared / "finetune" / "self_instruct_seed_tasks.jsonl").read_text(encoding="utf-8").splitlines()
    ):
        task = json.loads(line)
        inst = task["instances"][0]
        n = task["id"].rsplit("_", 1)[-1]
        corpus.append({"_id": f"d{n}", "title": task["name"].replace("_", " "), "text": inst["output"]})
        q = task["instruction"] + (" " + inst["input"] if inst["input"] else "")
        queries.append({"_id": f"q{n}", "text": q})
        qrels.append(f"q{n}\td{n}\t1")
    (out / "corpus.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in corpus), encoding="utf-8"
    )
    (out / "queries.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in queries), encoding="utf-8"
    )
    (out / "qrels" / "test.tsv").write_text("\n".join(qrels) + "\n", encoding="utf-8")
    print(f"{len(corpus)} documents, {len(queries)} queries -> {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
