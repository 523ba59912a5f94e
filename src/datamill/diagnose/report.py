"""The diagnosis as one self-contained HTML page (inline SVG plots, sortable tables) plus a JSON twin.

Every text that comes from data (inputs, model outputs, labels, passages) is HTML-escaped; the page
loads nothing from outside.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from datamill.diagnose._html import _COLOURS, _CSS, _JS, _bars, _e, _scatter, _table, _tag
from datamill.diagnose.result import CAUSES, Diagnosis
from datamill.io._files import atomic_path

__all__ = ["render_html", "write_report"]


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
