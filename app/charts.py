"""Server-side SVG charts: no JavaScript, no CDN, nothing to download; the page carries the picture inline.

:func:`bar_chart` draws a horizontal bar chart from ``(label, value)`` pairs (or ``(label, value, href)`` for
drill-down links). The SVG is accessible: ``role="img"`` with a ``<title>`` and a ``<desc>`` listing every value,
each bar has its own ``<title>`` (a tooltip on hover), and values are printed beside the bars, so nothing depends on
colour. Every label and value is escaped. Reusable by any page (analytics, dashboards).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from decimal import Decimal

from markupsafe import Markup, escape

_ids = itertools.count(1)


def _number(value) -> float:
    if value is None:
        return 0.0
    return float(value)


def default_format(value) -> str:
    """Integers with thousands separators, decimals with two places, missing values as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, Decimal | float) and value != int(value):
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _truncate(text: str, width_units: int) -> str:
    """Cut a label to about ``width_units`` (a CJK character counts as two)."""
    out, used = [], 0
    for ch in text:
        used += 2 if ord(ch) > 0x2E80 else 1
        if used > width_units:
            return "".join(out) + "…"
        out.append(ch)
    return text


def bar_chart(items: Sequence[tuple], *, title: str, unit: str = "", width: int = 640, bar_height: int = 22,
              label_width: int = 180, colour: str = "#0d6efd", value_format: Callable | None = None,
              max_bars: int = 40) -> Markup:
    """An inline, accessible horizontal bar chart (SVG markup) of ``items``: ``(label, value)`` or
    ``(label, value, href)``; values are numbers (int, Decimal, float) or None (drawn as no bar, printed "—").
    Negative values are drawn as zero-length bars. At most ``max_bars`` bars (the first ones) are drawn."""
    fmt = value_format or default_format
    rows = [(str(it[0]), it[1], it[2] if len(it) > 2 else None) for it in list(items)[:max_bars]]
    chart_id = f"chart-{next(_ids)}"
    gap, top, value_width = 6, 4, 90
    plot = max(width - label_width - value_width, 40)
    height = top * 2 + max(len(rows), 1) * (bar_height + gap)
    biggest = max((_number(v) for _, v, _ in rows), default=0.0)
    desc = "; ".join(f"{label}: {fmt(v)}{unit}" for label, v, _ in rows) or "—"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="drp-chart" id="{chart_id}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" viewBox="0 0 {width} {height}" '
        f'width="100%" style="max-width:{width}px" preserveAspectRatio="xMinYMin meet" '
        f'font-family="sans-serif" font-size="12">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]
    if not rows:
        parts.append(f'<text x="4" y="{top + bar_height - 6}" fill="#6c757d">—</text>')
    for i, (label, value, href) in enumerate(rows):
        y = top + i * (bar_height + gap)
        length = 0.0 if biggest <= 0 else max(_number(value), 0.0) / biggest * plot
        shown = f"{fmt(value)}{unit}"
        bar = (f'<g class="bar"><title>{escape(label)}: {escape(shown)}</title>'
               f'<text x="{label_width - 6}" y="{y + bar_height - 7}" text-anchor="end" fill="#212529">'
               f'{escape(_truncate(label, label_width // 8))}</text>'
               f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" fill="{colour}" rx="2"/>'
               f'<text x="{label_width + length + 4:.1f}" y="{y + bar_height - 7}" fill="#212529">'
               f'{escape(shown)}</text></g>')
        if href:
            bar = f'<a href="{escape(href)}">{bar}</a>'
        parts.append(bar)
    parts.append("</svg>")
    return Markup("".join(parts))
