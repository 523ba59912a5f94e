"""Copy the public NLI and fact-checking samples the contradiction detector is trained and checked on.

Reads local git snapshots (no network) and writes gzipped JSONL under ``tests/data/nli/``:

* SNLI 1.0 dev and test (as published in OanaMariaCamburu/e-SNLI ``dataset/eSNLI/{s1,s2,labels}.{dev,test}``,
  tokenised text lightly detokenised): ``snli_dev.jsonl.gz``, ``snli_test.jsonl.gz``;
* MultiNLI samples of 1,000 matched and 1,000 mismatched pairs (jind11/TextFooler ``data/mnli_matched``,
  ``data/mnli_mismatched``): ``mnli_matched_1k.jsonl.gz``, ``mnli_mismatched_1k.jsonl.gz``;
* CLIMATE-FEVER (tdiggelm/climate-fever-dataset ``dataset/climate-fever.jsonl``): 1,535 claims, each with five
  Wikipedia evidence sentences labelled SUPPORTS / REFUTES / NOT_ENOUGH_INFO: ``climate_fever.jsonl.gz``.

    python scripts/make_nli_samples.py --esnli SNAPSHOT --textfooler SNAPSHOT --climate-fever SNAPSHOT
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import subprocess
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "nli"


def _show(repo: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", repo, "show", f"HEAD:{path}"], check=True, capture_output=True, text=True
    ).stdout


def _detok(text: str) -> str:
    text = " ".join(text.split())
    text = re.sub(r" ([.,;:!?%)])", r"\1", text)
    text = re.sub(r"([($]) ", r"\1", text)
    text = re.sub(r" (n't|'s|'re|'ve|'ll|'d|'m)\b", r"\1", text)
    return text.replace("`` ", '"').replace(" ''", '"').replace(" -- ", " - ")


def _write(name: str, rows: list[dict]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with gzip.open(OUT / name, "wt", encoding="utf-8", compresslevel=9) as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{name}: {len(rows)} rows")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--esnli", required=True)
    ap.add_argument("--textfooler", required=True)
    ap.add_argument("--climate-fever", required=True)
    a = ap.parse_args()
    for split in ("dev", "test"):
        s1, s2, lab = (
            _show(a.esnli, f"dataset/eSNLI/{f}.{split}").splitlines() for f in ("s1", "s2", "labels")
        )
        rows = [
            {"premise": _detok(p), "hypothesis": _detok(h), "label": y.strip()}
            for p, h, y in zip(s1, s2, lab, strict=True)
        ]
        _write(f"snli_{split}.jsonl.gz", rows)
    for part in ("matched", "mismatched"):
        rows = []
        for line in _show(a.textfooler, f"data/mnli_{part}").splitlines():
            y, p, h = line.split("\t")
            rows.append({"premise": _detok(p), "hypothesis": _detok(h), "label": y})
        _write(f"mnli_{part}_1k.jsonl.gz", rows)
    claims = []
    for line in _show(a.climate_fever, "dataset/climate-fever.jsonl").splitlines():
        r = json.loads(line)
        claims.append(
            {
                "claim_id": r["claim_id"],
                "claim": r["claim"],
                "claim_label": r["claim_label"],
                "evidences": [
                    {"label": e["evidence_label"], "article": e["article"], "evidence": e["evidence"]}
                    for e in r["evidences"]
                ],
            }
        )
    _write("climate_fever.jsonl.gz", claims)


if __name__ == "__main__":
    main()
