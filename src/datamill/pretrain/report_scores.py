"""The report's classifier section: the score distribution of every document a classifier filter saw,
its cut, and examples either side of it (the highest-scored dropped, the lowest-scored kept)."""

from __future__ import annotations

import heapq
import html
import json
import os
from typing import Any

__all__ = ["classifier_steps", "scores_section"]

_STEPS = ("filter.classifier", "filter.classifier_top")


def classifier_steps(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The classifier filters of a run: step name, score key, keep direction and cut."""
    out = []
    glob = {g["step"]: g for g in manifest.get("global", [])}
    for cfg in manifest.get("pipeline", {}).get("steps", []):
        if cfg.get("type") not in _STEPS:
            continue
        info: dict[str, Any] = {}
        path = os.path.join(str(cfg.get("model", "")), "model.json")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                info = json.load(fh)
        cut = cfg.get("threshold", info.get("threshold"))
        if cfg["type"] == "filter.classifier_top":
            cut = glob.get(cfg["type"], {}).get("score_cut")
        out.append(
            {
                "step": cfg["type"],
                "score_key": cfg.get("score_key") or info.get("score_key") or "classifier_score",
                "keep": cfg.get("keep", "high"),
                "cut": cut,
                "top_fraction": cfg.get("top_fraction"),
                "kept_edge": [],  # (score, id, snippet) of the kept documents nearest the cut
            }
        )
    return out


def note_kept(steps: list[dict[str, Any]], rec: Any) -> None:
    """Remember ``rec`` if it is among the three kept documents nearest each step's cut."""
    for st in steps:
        score = rec.metadata.get(st["score_key"])
        if not isinstance(score, int | float):
            continue
        key = -score if st["keep"] == "high" else score  # nearest the cut: lowest kept (high) / highest (low)
        item = (key, rec.id, (getattr(rec, "text", "") or "")[:200], score)
        heap = st["kept_edge"]
        if len(heap) < 3:
            heapq.heappush(heap, item)
        elif key > heap[0][0]:
            heapq.heapreplace(heap, item)


def _e(x: Any) -> str:
    return html.escape(str(x))


def scores_section(manifest: dict[str, Any], steps: list[dict[str, Any]], bars: Any) -> list[str]:
    """HTML parts: per classifier step, the score histogram, the cut, and examples either side of it."""
    parts: list[str] = []
    stats = {s["name"]: s for s in manifest.get("steps", [])}
    for st in steps:
        s = stats.get(st["step"])
        if s is None:
            continue
        hist = sorted(
            (
                (float(k.split(">=", 1)[1]), v)
                for k, v in s.get("counters", {}).items()
                if k.startswith("score>=")
            ),
        )
        cut = st["cut"]
        how = f"top {st['top_fraction']:.0%} of all documents" if st["top_fraction"] else "threshold"
        side = ">=" if st["keep"] == "high" else "<"
        parts.append(
            f"<h2>Classifier scores: {_e(st['step'])}</h2><p>metadata key <code>{_e(st['score_key'])}</code>; "
            f"kept: score {side} {_e(cut)} ({how}); {s['kept']:,} of {s['seen']:,} documents kept.</p>"
        )
        parts.append(bars([(f"score >= {edge:.3g}", n) for edge, n in hist]))
        parts.append("<table><tr><th>side</th><th>score</th><th>document</th></tr>")
        kept = sorted(st["kept_edge"], reverse=True)
        for _, rid, snip, score in kept:
            parts.append(
                f"<tr><td>kept (nearest the cut)</td><td class=n>{score:.4f}</td>"
                f"<td class='snip'>{_e(rid)}\n{_e(snip)}</td></tr>"
            )
        for reason, examples in s.get("examples", {}).items():
            for ex in sorted(
                examples, key=lambda x: -x.get("score", 0) if st["keep"] == "high" else x.get("score", 0)
            ):
                parts.append(
                    f"<tr><td>dropped: {_e(reason)}</td><td class=n>{ex.get('score', float('nan')):.4f}</td>"
                    f"<td class='snip'>{_e(ex['id'])}\n{_e(ex['snippet'])}</td></tr>"
                )
        parts.append("</table>")
    return parts
