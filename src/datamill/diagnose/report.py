"""The diagnosis as one self-contained HTML page (inline SVG plots, sortable tables) plus a JSON twin.

Every text that comes from data (inputs, model outputs, labels, passages) is HTML-escaped; the page
loads nothing from outside.
"""

from __future__ import annotations

import os
from html import escape
from typing import Any

import orjson

from datamill.diagnose.result import CAUSES, Diagnosis
from datamill.io._files import atomic_path

__all__ = ["render_html", "write_report"]

_COLOURS = {
    "never_seen": "#d95f02",
    "noisy_label": "#7570b3",
    "inconsistent_label": "#e7298a",
    "contradictory_context": "#1b9e77",
    "combination": "#66a61e",
    "unexplained": "#999999",
}
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{margin-bottom:4px}h2{margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px}
.card b{display:block;font-size:22px}table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0}
th,td{border:1px solid #e3e3e3;padding:4px 6px;vertical-align:top;text-align:left}
th{background:#f5f5f5;cursor:pointer;user-select:none}th.asc:after{content:" \\25B2"}th.desc:after{content:" \\25BC"}
td.n{text-align:right;font-variant-numeric:tabular-nums}.tag{display:inline-block;border-radius:3px;padding:0 5px;
color:#fff;font-size:12px;margin:1px}details summary{cursor:pointer;color:#555}.muted{color:#777}
pre{white-space:pre-wrap;margin:2px 0;font-size:12px}.plots{display:flex;gap:24px;flex-wrap:wrap}
"""
_JS = """
document.querySelectorAll('table.sortable').forEach(function(table){
  table.querySelectorAll('th').forEach(function(th, col){
    th.addEventListener('click', function(){
      var body = table.tBodies[0]; var rows = Array.prototype.slice.call(body.rows);
      var asc = !th.classList.contains('asc');
      table.querySelectorAll('th').forEach(function(h){h.classList.remove('asc','desc');});
      th.classList.add(asc ? 'asc' : 'desc');
      rows.sort(function(a, b){
        var x = a.cells[col].getAttribute('data-v') || a.cells[col].textContent;
        var y = b.cells[col].getAttribute('data-v') || b.cells[col].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return asc ? c : -c;
      });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
});
"""


def _e(value: Any, limit: int = 400) -> str:
    text = "" if value is None else str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return escape(text, quote=True)


def _tag(cause: str) -> str:
    return f'<span class="tag" style="background:{_COLOURS.get(cause, "#555")}">{_e(cause)}</span>'


def _table(cls: str, headers: list[str], rows: list[list[tuple[str, Any]]], *, empty: str) -> str:
    """A sortable table; each cell is (html, sort value or None)."""
    if not rows:
        return f'<p class="muted">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for html, sort in row:
            if sort is None:
                cells.append(f"<td>{html}</td>")
            else:
                cells.append(f'<td class="n" data-v="{_e(sort)}">{html}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="sortable {cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def _bars(
    items: list[tuple[str, float, str]],
    *,
    title: str,
    width: int = 460,
    fmt: str = "{:.0f}",
    cls: str = "bars",
) -> str:
    """A horizontal bar chart: (label, value, colour)."""
    if not items:
        return ""
    row_h, left = 22, 170
    height = row_h * len(items) + 30
    top = max((v for _, v, _ in items), default=1) or 1
    parts = [
        f'<svg class="{cls}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(title)}"><text x="0" y="14" font-size="13" font-weight="bold">'
        f"{_e(title)}</text>"
    ]
    for i, (label, value, colour) in enumerate(items):
        y = 24 + i * row_h
        w = (width - left - 60) * (value / top)
        parts.append(
            f'<text x="{left - 6}" y="{y + 14}" font-size="12" text-anchor="end">{_e(label, 28)}</text>'
            f'<rect x="{left}" y="{y + 2}" width="{max(w, 0.5):.1f}" height="{row_h - 6}" fill="{colour}">'
            f"<title>{_e(label)}: {_e(fmt.format(value))}</title></rect>"
            f'<text x="{left + w + 4:.1f}" y="{y + 14}" font-size="12">{_e(fmt.format(value))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _scatter(proj: dict[str, list[list[float]]], *, size: int = 460) -> str:
    """The coverage map: training inputs (grey), correct answers (blue), mistakes (red) in one 2-D projection."""
    pts = [p for key in ("train", "correct", "mistakes") for p in proj.get(key, [])]
    if not pts:
        return ""
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    sx = (size - 20) / ((x1 - x0) or 1)
    sy = (size - 40) / ((y1 - y0) or 1)
    parts = [
        f'<svg class="coverage-map" xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'role="img" aria-label="coverage map"><text x="0" y="14" font-size="13" font-weight="bold">'
        f"Coverage map (PCA of input embeddings)</text>"
    ]
    for key, colour, r, op in (
        ("train", "#bbbbbb", 1.6, 0.6),
        ("correct", "#377eb8", 2.2, 0.8),
        ("mistakes", "#e41a1c", 3.0, 0.9),
    ):
        dots = "".join(
            f'<circle cx="{10 + (p[0] - x0) * sx:.1f}" cy="{30 + (y1 - p[1]) * sy:.1f}" r="{r}"/>'
            for p in proj.get(key, [])
        )
        parts.append(f'<g class="pts-{key}" fill="{colour}" fill-opacity="{op}">{dots}</g>')
    parts.append(
        f'<g font-size="11"><circle cx="{size - 150}" cy="20" r="3" fill="#bbbbbb"/><text x="{size - 144}" '
        f'y="24">train</text><circle cx="{size - 105}" cy="20" r="3" fill="#377eb8"/><text x="{size - 99}" '
        f'y="24">correct</text><circle cx="{size - 50}" cy="20" r="3" fill="#e41a1c"/><text '
        f'x="{size - 44}" y="24">mistake</text></g></svg>'
    )
    return "".join(parts)


def _evidence(m: dict[str, Any]) -> str:
    out = []
    ev = m["evidence"]
    if "never_seen" in ev:
        e = ev["never_seen"]
        out.append(
            f"<div><b>never seen</b>: coverage {e['coverage']:.3f} &lt; {e['threshold']:.3f}"
            f"{' (sparse cluster ' + str(e['cluster']) + ')' if e['sparse_cluster'] else ''}</div>"
        )
    if "noisy_label" in ev:
        e = ev["noisy_label"]
        for t in e["training_examples"]:
            out.append(
                f"<div><b>noisy training label</b> {_e(t['id'])} (sim {t['similarity']:.2f}, "
                f"{_e(t['method'])}): <pre>{_e(t['input'], 300)}</pre> labelled <code>{_e(t['target'], 80)}"
                f"</code>, likely <code>{_e(t['suggested'], 80)}</code></div>"
            )
        if e["expected_label_issue"]:
            x = e["expected_label_issue"]
            out.append(
                f"<div><b>expected label likely wrong</b>: <code>{_e(x['expected'], 80)}</code> "
                f"vs likely <code>{_e(x['likely'], 80)}</code></div>"
            )
    if "inconsistent_label" in ev:
        e = ev["inconsistent_label"]
        for g in e["conflicting_groups"]:
            out.append(
                "<div><b>conflicting near-duplicates</b>: "
                + "; ".join(f"<code>{_e(t, 80)}</code>: {_e(', '.join(ids[:8]))}" for t, ids in g.items())
                + "</div>"
            )
        for n in e["train_vs_expected"] + e["conflicting_neighbours"]:
            out.append(
                f"<div><b>near copy labelled differently</b> {_e(n['id'])} (sim {n['similarity']:.2f}): "
                f"<code>{_e(n['target'], 80)}</code></div>"
            )
        for t in e["low_agreement_tasks"]:
            out.append(
                f"<div><b>annotators disagreed</b> on {_e(t['task'])} (agreement {t['agreement']:.2f}): "
                f"{_e(t['votes'])}</div>"
            )
    for c in ev.get("contradictory_context", []):
        out.append(
            f"<div><b>contradiction ({_e(c['kind'])}, found by {_e(c.get('detector', 'rules'))}, "
            f"score {float(c.get('score', 1.0)):.2f})</b>: <pre>{_e(c['first'], 300)}</pre> vs "
            f"<pre>{_e(c['second'], 300)}</pre></div>"
        )
    nbs = "".join(
        f"<li>{n['similarity']:.2f} <code>{_e(n['target'], 60)}</code> {_e(n['input'], 160)}</li>"
        for n in m["neighbours"]
    )
    out.append(f"<div class='muted'>nearest training inputs:<ul>{nbs}</ul></div>")
    return f"<details><summary>evidence</summary>{''.join(out)}</details>"


def render_html(diagnosis: Diagnosis, *, title: str = "Why the model got it wrong") -> str:
    """The report page as a string."""
    data = diagnosis.to_dict()
    s = data["summary"]
    cards, breakdown, clusters_svg, fixes = _overview(data)
    mistakes = _mistakes_table(data)
    clusters = _clusters_table(data)
    noisy, eval_issues, conflicts = _label_tables(data)
    contra = _contradictions_table(data)
    alpha, annotators, pairs, tasks = _annotator_tables(data)
    settings = _e(orjson.dumps(data["settings"], default=str).decode(), 2000)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}</style></head><body>
<h1>{_e(title)}</h1><p class="muted">datamill diagnose: coverage, label noise, inconsistent labelling and
contradictory context behind each mistake. Click a column header to sort.</p>
<div class="cards">{cards}</div>
<h2>Overview</h2><div class="plots">{breakdown}{_scatter(diagnosis.projection)}{clusters_svg}</div>
<h2>Suggested fixes</h2><ul>{fixes or '<li class="muted">Nothing to fix: no mistake has a data cause.</li>'}</ul>
<h2>Mistakes ({s["mistakes"]:,})</h2>{mistakes}
<h2>Clusters of the evaluation set, least covered first</h2>{clusters}
<h2>Likely label errors in the training set ({len(data["noisy_train"]):,})</h2>{noisy}
<h2>Likely errors in the expected answers ({len(data["eval_label_issues"]):,})</h2>{eval_issues}
<h2>Conflicting near-duplicates in training ({len(data["conflicts"]):,})</h2>{conflicts}
<h2>Contradictions in the context</h2>{contra}
<h2>Annotators</h2>{alpha}{annotators}{pairs}<h3>Items annotators disagreed on</h3>{tasks}
<h2>Settings</h2><pre class="muted">{settings}</pre>
<script>{_JS}</script></body></html>
"""


def _overview(data: dict[str, Any]) -> tuple[str, str, str, str]:
    """The count cards, the cause breakdown and least covered clusters as bar charts, the suggested fixes."""
    s = data["summary"]
    n_res = data["counts"]["results"]
    cards = "".join(
        f'<div class="card"><span>{_e(k.replace("_", " "))}</span><b>{v:,}</b></div>'
        for k, v in (
            ("results", n_res),
            ("training examples", data["counts"]["train"]),
            ("mistakes", s["mistakes"]),
            *((c, s[c]) for c in CAUSES),
            ("combination", s["combination"]),
            ("unexplained", s["unexplained"]),
        )
    )
    breakdown = _bars(
        [(c.replace("_", " "), s[c], _COLOURS[c]) for c in (*CAUSES, "combination", "unexplained")],
        title="Mistakes explained by each cause",
        cls="cause-breakdown",
    )
    worst = data["clusters"][:10]
    clusters_svg = _bars(
        [
            (
                f"#{c['id']}: {c['mistakes']}/{len(c['eval_items'])} wrong",
                c["density_ratio"],
                "#d95f02" if c["density_ratio"] < 0.5 else "#7fa7c9",
            )
            for c in worst
        ],
        title="Least covered clusters (train share / eval share)",
        fmt="{:.2f}",
        cls="worst-clusters",
    )
    fixes = "".join(
        f"<li>{_tag(f['cause'])} <b>{f['mistakes']}</b> mistakes: {_e(f['fix'])}"
        f"<div class='muted'>{_e(', '.join(' ↔ '.join(i) if isinstance(i, list) else str(i) for i in f['items'][:12]), 600)}"
        f"{' …' if len(f['items']) > 12 else ''}</div></li>"
        for f in data["fixes"]
    )
    return cards, breakdown, clusters_svg, fixes


def _mistakes_table(data: dict[str, Any]) -> str:
    mistakes = _table(
        "mistakes",
        ["id", "input", "expected", "output", "causes", "coverage", "nearest sim", "evidence"],
        [
            [
                (_e(m["id"]), None),
                (f"<pre>{_e(m['input'])}</pre>", None),
                (_e(m["expected"], 120), None),
                (_e(m["output"], 120), None),
                ("".join(_tag(c) for c in m["causes"]) or _tag("unexplained"), None),
                (f"{m['coverage']:.3f}", m["coverage"]),
                (
                    f"{m['neighbours'][0]['similarity']:.3f}" if m["neighbours"] else "",
                    m["neighbours"][0]["similarity"] if m["neighbours"] else 0,
                ),
                (_evidence(m), None),
            ]
            for m in data["mistakes"]
        ],
        empty="No mistakes.",
    )
    return mistakes


def _clusters_table(data: dict[str, Any]) -> str:
    clusters = _table(
        "clusters",
        [
            "cluster",
            "eval items",
            "train items",
            "density ratio",
            "mistakes",
            "mistake rate",
            "mean coverage",
            "examples",
        ],
        [
            [
                (str(c["id"]), c["id"]),
                (str(len(c["eval_items"])), len(c["eval_items"])),
                (str(c["train_count"]), c["train_count"]),
                (f"{c['density_ratio']:.2f}", c["density_ratio"]),
                (str(c["mistakes"]), c["mistakes"]),
                (f"{c['mistake_rate']:.2f}", c["mistake_rate"]),
                (f"{c['mean_coverage']:.3f}", c["mean_coverage"]),
                ("".join(f"<pre>{_e(x, 160)}</pre>" for x in c["examples"]), None),
            ]
            for c in data["clusters"]
        ],
        empty="Too few results to cluster.",
    )
    return clusters


def _label_tables(data: dict[str, Any]) -> tuple[str, str, str]:
    """Likely label errors in training and in the expected answers, conflicting near-duplicates."""
    noisy = _table(
        "noisy",
        ["train id", "input", "label", "likely", "score", "method"],
        [
            [
                (_e(n["id"]), None),
                (f"<pre>{_e(n['input'], 300)}</pre>", None),
                (_e(n["target"], 120), None),
                (_e(n["suggested"], 120), None),
                (f"{n['score']:.3f}", n["score"]),
                (_e(n["method"]), None),
            ]
            for n in data["noisy_train"][:500]
        ],
        empty="No likely label errors in the training set.",
    )
    eval_issues = _table(
        "eval-issues",
        ["id", "input", "expected", "likely", "score"],
        [
            [
                (_e(x["id"]), None),
                (f"<pre>{_e(x['input'], 300)}</pre>", None),
                (_e(x["expected"], 120), None),
                (_e(x["likely"], 120), None),
                (f"{x['score']:.3f}", x["score"]),
            ]
            for x in data["eval_label_issues"]
        ],
        empty="No predicted probabilities in the results, or no likely errors in the expected answers.",
    )
    conflicts = _table(
        "conflicts",
        ["size", "min similarity", "targets"],
        [
            [
                (str(len(g["members"])), len(g["members"])),
                (f"{g['similarity']:.3f}", g["similarity"]),
                (
                    "; ".join(
                        f"<code>{_e(t, 80)}</code>: {_e(', '.join(ids[:10]))}"
                        for t, ids in g["targets"].items()
                    ),
                    None,
                ),
            ]
            for g in data["conflicts"][:300]
        ],
        empty="No near-duplicate training inputs with conflicting targets.",
    )
    return noisy, eval_issues, conflicts


def _contradictions_table(data: dict[str, Any]) -> str:
    contra = _table(
        "contradictions",
        ["result id", "detector", "score", "kind", "statement", "conflicts with", "detail"],
        [
            [
                (_e(rid), None),
                (_e(c.get("detector", "rules")), None),
                (f"{float(c.get('score', 1.0)):.2f}", float(c.get("score", 1.0))),
                (_e(c["kind"]), None),
                (_e(c["first"], 300), None),
                (_e(c["second"], 300), None),
                (_e(c["detail"]), None),
            ]
            for rid, cs in data["contradictions"].items()
            for c in cs
        ][:500],
        empty="No contradictions found in the contexts (or no contexts given).",
    )
    return contra


def _annotator_tables(data: dict[str, Any]) -> tuple[str, str, str, str]:
    """Krippendorff's alpha, the annotators, their pairwise kappa and the items they disagreed on."""
    annotators = _table(
        "annotators",
        ["annotator", "judged", "agreement with consensus", "gold seen", "gold failed"],
        [
            [
                (_e(a["annotator"]), None),
                (str(a["judged"]), a["judged"]),
                (
                    "" if a["vs_consensus"] is None else f"{a['vs_consensus']:.2f}",
                    -1 if a["vs_consensus"] is None else a["vs_consensus"],
                ),
                (str(a["gold_seen"]), a["gold_seen"]),
                (str(a["gold_failed"]), a["gold_failed"]),
            ]
            for a in data["annotators"]
        ],
        empty="No feedback judgements given.",
    )
    tasks = _table(
        "tasks",
        ["task", "agreement", "majority", "votes"],
        [
            [
                (_e(t["task"]), None),
                (f"{t['agreement']:.2f}", t["agreement"]),
                (_e(t["majority"], 80), None),
                (_e(t["votes"], 300), None),
            ]
            for t in data["task_agreement"]
            if t["agreement"] < 1
        ][:300],
        empty="No items with disagreeing judgements.",
    )
    agr = data["agreement"]
    alpha = (
        ""
        if not agr
        else (
            f"<p>Krippendorff's alpha (nominal) over all judged items: <b>{agr['krippendorff_alpha']:.3f}</b></p>"
            if agr.get("krippendorff_alpha") is not None
            else ""
        )
    )
    pairs = (
        _table(
            "pairs",
            ["annotator", "annotator", "shared items", "Cohen's kappa", "agreement"],
            [
                [
                    (_e(p["a"]), None),
                    (_e(p["b"]), None),
                    (str(p["shared"]), p["shared"]),
                    (f"{p['kappa']:.3f}", p["kappa"]),
                    (f"{p['agreement']:.2f}", p["agreement"]),
                ]
                for p in agr.get("pairwise_cohen", [])
            ],
            empty="No annotator pairs with shared items.",
        )
        if agr
        else ""
    )
    return alpha, annotators, pairs, tasks


def write_report(
    diagnosis: Diagnosis,
    out_html: str | os.PathLike[str],
    *,
    json_path: str | os.PathLike[str] | None = None,
    title: str = "Why the model got it wrong",
) -> tuple[str, str]:
    """Write the HTML report and its JSON twin (default: ``report.json`` beside the HTML); returns both paths."""
    out_html = os.fspath(out_html)
    json_out = (
        os.fspath(json_path)
        if json_path is not None
        else os.path.join(
            os.path.dirname(out_html) or ".", os.path.splitext(os.path.basename(out_html))[0] + ".json"
        )
    )
    os.makedirs(os.path.dirname(out_html) or ".", exist_ok=True)
    with atomic_path(out_html) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(render_html(diagnosis, title=title))
    with atomic_path(json_out) as tmp, open(tmp, "wb") as fh:
        fh.write(
            orjson.dumps(
                diagnosis.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY, default=str
            )
        )
    return out_html, json_out
