"""Tiny inline-SVG charts for the stats page (no JavaScript, no CDN)."""

from __future__ import annotations

from html import escape

__all__ = ["svg_bars", "svg_histogram"]


def svg_bars(
    items: list[tuple[str, float]],
    *,
    title: str,
    vmax: float | None = None,
    fmt: str = "{:g}",
    width: int = 520,
) -> str:
    """A horizontal bar chart of ``(label, value)`` pairs as an ``<svg>`` string.

    The label column is as wide as the longest label (cut to 32 characters with an ellipsis) at a generous
    7.5 px per character of the 12 px font, and the chart widens with it, so no label is clipped."""
    shown_labels = [_cut(str(label), 32) for label, _ in items]
    row, pad = 22, 6
    label_w = max(60, min(int(7.5 * max((len(x) for x in shown_labels), default=0)) + 2 * pad, 260))
    width = max(width, label_w + 300)
    height = 28 + row * max(len(items), 1)
    top = max([v for _, v in items] + [vmax or 0, 1e-9])
    bar_w = width - label_w - 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}" class="chart">',
        f'<text x="4" y="16" font-weight="bold" font-size="13">{escape(title)}</text>',
    ]
    if not items:
        parts.append('<text x="4" y="40" font-size="12" fill="#666">no data yet</text>')
    for i, (_label, value) in enumerate(items):
        y = 28 + i * row
        w = 0 if value is None else max(bar_w * float(value) / top, 1)
        parts.append(
            f'<text x="{label_w - pad}" y="{y + 14}" font-size="12" text-anchor="end">'
            f"{escape(shown_labels[i])}</text>"
        )
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="#3b6ea8"/>')
        shown = "n/a" if value is None else fmt.format(value)
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 14}" font-size="12">{escape(shown)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def svg_histogram(values: list[float], *, title: str, bins: int = 12, unit: str = "s") -> str:
    """A histogram of ``values`` as a bar chart of bin ranges."""
    if not values:
        return svg_bars([], title=title)
    lo, hi = min(values), max(values)
    bins = max(1, min(bins, int(len(values) ** 0.5) + 1))  # a few values: a few bins, not empty rows
    step = (hi - lo) / bins or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(int((v - lo) / step), bins - 1)] += 1
    digits = 0 if step >= 10 else 1 if step >= 1 else 2
    items = [
        (f"{lo + i * step:.{digits}f}-{lo + (i + 1) * step:.{digits}f}{unit}", float(c))
        for i, c in enumerate(counts)
    ]
    return svg_bars(items, title=title, fmt="{:.0f}")
