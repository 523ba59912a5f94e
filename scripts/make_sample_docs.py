"""Build the sample corpus shipped for `datamill quickstart` (src/datamill/data/sample_docs/).

Real text only: the 10 Common Crawl documents of Dolma's test data (split into paragraphs) and the
175 human-written Self-Instruct seed tasks (instruction + answer), both Apache-2.0 and copied from
tests/data. To show what a cleaning pipeline is for, it plants exact duplicates (re-crawled
pages, with changed case and spacing), fragments too short to be documents, and two malformed lines
that the quickstart quarantines. Deterministic: run it again and the bytes do not change.

    python scripts/make_sample_docs.py tests/data src/datamill/data/sample_docs
"""

from __future__ import annotations

import gzip
import json
import random
import sys
from pathlib import Path


def main(shared: Path, out: Path) -> None:
    rng = random.Random(13)
    docs: list[dict] = []
    with gzip.open(shared / "pretrain" / "dolma_cc_en_head-0174.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            url = row["metadata"].get("url", row["id"])
            for k, para in enumerate(p.strip() for p in row["text"].split("\n")):
                if para:
                    docs.append(
                        {"id": f"cc:{row['id']}#{k}", "text": para, "source": "common-crawl", "url": url}
                    )
    with open(shared / "finetune" / "self_instruct_seed_tasks.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            inst = row["instances"][0]
            body = (
                row["instruction"] + ("\n" + inst["input"] if inst["input"] else "") + "\n" + inst["output"]
            )
            docs.append(
                {
                    "id": f"self-instruct:{row['id']}",
                    "text": body,
                    "source": "self-instruct",
                    "url": f"https://github.com/yizhongw/self-instruct#{row['name']}",
                }
            )
    # exact duplicates after normalisation: the same text re-crawled under another URL
    for i, d in enumerate(rng.sample([d for d in docs if len(d["text"].split()) >= 8], 40)):
        text = d["text"].upper() if i % 3 == 0 else "  " + d["text"].replace(" ", "  ") + " "
        docs.append({**d, "id": f"{d['id']}:recrawl", "text": text, "url": d["url"] + "?utm_source=mirror"})
    rng.shuffle(docs)
    out.mkdir(parents=True, exist_ok=True)
    n_shards = 4
    for s in range(n_shards):
        lines = [json.dumps(d, ensure_ascii=False) for d in docs[s::n_shards]]
        if s == n_shards - 1:  # two broken records: the quickstart quarantines them, it does not drop them
            lines.insert(3, '{"id": "broken-1", "text": "an unterminated string}')
            lines.insert(7, '{"id": "broken-2", "text": ["not", "a", "string"]}')
        data = ("\n".join(lines) + "\n").encode("utf-8")
        with (
            open(out / f"part-{s}.jsonl.gz", "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        ):
            gz.write(data)
    print(f"{len(docs)} documents in {n_shards} shards under {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
