"""The report page's building blocks: escaping, cause tags, sortable tables, SVG bar charts and the
coverage map, with the page's CSS and table-sorting script.

Every value goes through :func:`_e` (HTML-escaped, cut to a length), so data can never become markup.
"""

from __future__ import annotations

from html import escape
from typing import Any

__all__: list[str] = []

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
