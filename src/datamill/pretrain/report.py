"""``datamill pretrain report OUT``: one self-contained HTML page about a pre-training run."""

from __future__ import annotations

import html
import json
import os
from collections import Counter
from typing import Any

from datamill.errors import InputError
from datamill.io import storage

__all__ = ["collect_report", "write_report"]

_MAX_DOCS = 50_000
_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:.5em 0}
td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}td.n{text-align:right}
.snip{font:12px monospace;color:#555;max-width:700px;white-space:pre-wrap}.bar{fill:#4a7bd0}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em}
.card b{display:block;font-size:1.4em}"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _bars(counts: list[tuple[str, int]], *, width: int = 640, bar_h: int = 18) -> str:
    """A horizontal bar chart as inline SVG."""
    if not counts:
        return "<p>(none)</p>"
    top = max(n for _, n in counts) or 1
    h = bar_h * len(counts) + 4
    rows = []
    for i, (label, n) in enumerate(counts):
        w = max(1, int((width - 260) * n / top))
        y = i * bar_h + 2
        rows.append(
            f'<text x="0" y="{y + 13}" font-size="12">{_e(label)}</text>'
            f'<rect class="bar" x="170" y="{y}" width="{w}" height="{bar_h - 4}"/>'
            f'<text x="{175 + w}" y="{y + 13}" font-size="12">{n:,}</text>'
        )
    return f'<svg width="{width}" height="{h}" role="img">{"".join(rows)}</svg>'


def _length_buckets(lengths: list[int]) -> list[tuple[str, int]]:
    edges = [0, 100, 300, 1000, 3000, 10_000, 30_000, 100_000, 10**12]
    out = []
    for lo, hi in zip(edges, edges[1:], strict=False):
        n = sum(1 for x in lengths if lo <= x < hi)
        out.append((f"{lo:,}-{hi:,} chars" if hi < 10**12 else f">= {lo:,} chars", n))
    return out


def collect_report(output: str) -> dict[str, Any]:
    """The numbers the report shows, from ``output``'s manifest, documents, shards and dedup files."""
    path = storage.join(output, "manifest.json")
    if not storage.exists(path):
        raise InputError("no manifest.json: not a finished datamill run folder", path=output)
    manifest = storage.read_json(path)
    from datamill.io import read_records
    from datamill.pretrain.report_scores import classifier_steps, note_kept

    scored = classifier_steps(manifest)
    lengths: list[int] = []
    langs: Counter[str] = Counter()
    tokens = 0
    files = [storage.join(output, f) for f in manifest["output"]["files"]]
    for i, rec in enumerate(read_records(files)):
        if i >= _MAX_DOCS:
            break
        text = getattr(rec, "text", "") or ""
        lengths.append(len(text))
        langs[str(rec.metadata.get("language", "unknown"))] += 1
        tokens += int(rec.metadata.get("n_tokens") or 0)
        if scored:
            note_kept(scored, rec)
    shards = None
    idx = storage.join(output, "shards", "index.json")
    if storage.exists(idx):
        shards = storage.read_json(idx)
    clusters: Counter[int] = Counter()
    dup_examples: list[dict[str, Any]] = []
    dedup_dir = storage.join(output, "dedup")
    for name in storage.listdir(dedup_dir):
        if name.endswith(".jsonl"):
            with storage.open_input(storage.join(dedup_dir, name)) as fh:
                for line in fh:
                    row = json.loads(line)
                    clusters[row["cluster_size"]] += 1
                    if len(dup_examples) < 10:
                        dup_examples.append(row)
    return {
        "manifest": manifest,
        "lengths": lengths,
        "languages": langs,
        "sampled_tokens": tokens,
        "shards": shards,
        "cluster_sizes": clusters,
        "duplicate_examples": dup_examples,
        "classifiers": scored,
    }


def write_report(output: str | os.PathLike[str], path: str | None = None) -> str:
    """Write ``<output>/report.html`` (or ``path``) and return its path."""
    out = os.fspath(output)
    data = collect_report(out)
    m = data["manifest"]
    target = path or storage.join(out, "report.html")
    parts = [*_head(out, data), *_steps(m)]
    if m["quarantine"]["total"]:
        parts.append("<h2>Quarantined input</h2>" + _bars(sorted(m["quarantine"]["by_kind"].items())))
    if data["classifiers"]:
        from datamill.pretrain.report_scores import scores_section

        parts.extend(scores_section(m, data["classifiers"], _bars))
    parts.append("<h2>Document length (kept)</h2>" + _bars(_length_buckets(data["lengths"])))
    parts.append("<h2>Languages (kept)</h2>" + _bars(data["languages"].most_common(20)))
    parts.extend(_duplicates(m, data["duplicate_examples"]))
    if data["shards"]:
        parts.extend(_shards(data["shards"]))
    parts.append("</body></html>")
    storage.write_bytes(target, "\n".join(parts).encode("utf-8"))
    return target


def _head(out: str, data: dict[str, Any]) -> list[str]:
    """The page head, the run's line (where, when, executor, time) and the four headline cards."""
    m = data["manifest"]
    total_tokens = data["shards"]["tokens"] if data["shards"] else data["sampled_tokens"]
    cards = [
        ("documents in", m["records_in"]),
        ("documents out", m["output"]["records"]),
        ("quarantined", m["quarantine"]["total"]),
        ("tokens", total_tokens),
    ]
    return [
        f"<!doctype html><html><head><meta charset='utf-8'><title>datamill pretrain report</title>"
        f"<style>{_CSS}</style></head><body><h1>Pre-training run report</h1>"
        f"<p>{_e(out)} · created {_e(m.get('created'))} · executor {_e(m['executor'].get('type'))} "
        f"({_e(m['executor'].get('workers'))} workers) · {m['timings']['seconds']:.1f} s</p>",
        "<div class='cards'>"
        + "".join(f"<div class='card'><b>{v:,}</b>{_e(k)}</div>" for k, v in cards)
        + "</div>",
    ]


def _steps(m: dict[str, Any]) -> list[str]:
    """The steps table (seen, kept, dropped, time, counters) and the drop reasons with examples."""
    parts = [
        "<h2>Steps</h2><table><tr><th>step</th><th>seen</th><th>kept</th><th>dropped</th><th>s</th>"
        "<th>counters</th></tr>"
    ]
    for st in m["steps"]:
        dropped = sum(st["dropped"].values())
        counters = ", ".join(f"{_e(k)} {v:,}" for k, v in list(st.get("counters", {}).items())[:12])
        parts.append(
            f"<tr><td>{_e(st['name'])}</td><td class=n>{st['seen']:,}</td><td class=n>{st['kept']:,}</td>"
            f"<td class=n>{dropped:,}</td><td class=n>{st['seconds']:.2f}</td><td>{counters}</td></tr>"
        )
    parts.append(
        "</table><h2>Drop reasons</h2><table><tr><th>step</th><th>reason</th><th>count</th>"
        "<th>examples</th></tr>"
    )
    for st in m["steps"]:
        for reason, n in sorted(st["dropped"].items(), key=lambda kv: -kv[1]):
            ex = "".join(
                f"<div class='snip'>{_e(x['snippet'][:200])}</div>" for x in st["examples"].get(reason, [])
            )
            parts.append(
                f"<tr><td>{_e(st['name'])}</td><td>{_e(reason)}</td><td class=n>{n:,}</td><td>{ex}</td></tr>"
            )
    parts.append("</table>")
    return parts


def _duplicates(m: dict[str, Any], examples: list[dict[str, Any]]) -> list[str]:
    """Near-duplicate clusters per dedup step (with the size histogram), and example duplicates."""
    parts = ["<h2>Near-duplicate clusters</h2>"]
    for g in m.get("global", []):
        if "clusters" in g:
            parts.append(
                f"<p>{_e(g['step'])}: {g['clusters']:,} clusters, {g['duplicates']:,} duplicates removed, "
                f"{g['candidate_pairs']:,} candidate pairs, LSH {g['bands']}×{g['rows']}, "
                f"buckets by {_e(g['bucket_engine'])}.</p>"
            )
            hist = sorted(((int(k), v) for k, v in g.get("cluster_size_histogram", {}).items()))
            parts.append(_bars([(f"size {k}", v) for k, v in hist]))
    if examples:
        parts.append("<table><tr><th>cluster</th><th>representative</th><th>duplicate</th></tr>")
        for row in examples:
            parts.append(
                f"<tr><td>{row['cluster']}</td><td>{_e(row.get('representative'))}</td>"
                f"<td class='snip'>{_e(str(row.get('url') or ''))}\n{_e(row['text'][:200])}</td></tr>"
            )
        parts.append("</table>")
    return parts


def _shards(s: dict[str, Any]) -> list[str]:
    """The tokenized shards: documents and tokens per file."""
    parts = [
        f"<h2>Shards and tokens</h2><p>{s['documents']:,} documents, {s['tokens']:,} tokens "
        f"({_e(s['tokenizer'])}) in {len(s['shards'])} {_e(s['format'])} shard(s).</p><table>"
        "<tr><th>file</th><th>documents</th><th>tokens</th></tr>"
    ]
    for sh in s["shards"]:
        parts.append(
            f"<tr><td>{_e(sh['file'])}</td><td class=n>{sh['documents']:,}</td>"
            f"<td class=n>{sh['tokens']:,}</td></tr>"
        )
    parts.append("</table>")
    return parts
