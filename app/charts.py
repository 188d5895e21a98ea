"""Server-side SVG charts: no JavaScript, no CDN, nothing to download; the page carries the picture inline.

:func:`bar_chart` draws a horizontal bar chart from ``(label, value)`` pairs (or ``(label, value, href)`` for
drill-down links). The SVG is accessible: ``role="img"`` with a ``<title>`` and a ``<desc>`` listing every value,
each bar has its own ``<title>`` (a tooltip on hover), and values are printed beside the bars, so nothing depends on
colour. Every label and value is escaped. :func:`line_chart` draws trends (one line per series, a tooltip per point,
a legend). Reusable by any page (analytics, dashboards) and, rendered by a browser or embedded, by reports.
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


PALETTE = ("#0d6efd", "#198754", "#fd7e14", "#6f42c1", "#dc3545", "#20c997")


def line_chart(labels: Sequence[str], series: Sequence[tuple[str, Sequence]], *, title: str, unit: str = "",
               width: int = 640, height: int = 220, value_format: Callable | None = None,
               max_value: float | None = None) -> Markup:
    """An inline, accessible line chart (SVG markup): one x position per label, one line per ``(name, values)``
    series (a value of None leaves a gap). Each point has a ``<title>`` tooltip; the ``<desc>`` lists every value;
    a legend names the series, so nothing depends on colour alone. ``max_value`` fixes the top of the y axis (e.g.
    100 for percentages); otherwise the largest value."""
    fmt = value_format or default_format
    chart_id = f"chart-{next(_ids)}"
    left, right, top, bottom = 44, 12, 10, 40
    plot_w, plot_h = max(width - left - right, 40), max(height - top - bottom, 40)
    values = [_number(v) for _, vs in series for v in vs if v is not None]
    top_value = max_value if max_value is not None else max(values, default=0.0)
    top_value = top_value or 1.0
    n = max(len(labels), 1)

    def x(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n)

    def y(v) -> float:
        return top + plot_h - max(min(_number(v), top_value), 0.0) / top_value * plot_h

    desc = "; ".join(f"{name}: " + ", ".join(f"{lab} {fmt(v)}{unit}" for lab, v in zip(labels, vs, strict=False))
                     for name, vs in series) or "—"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="drp-chart drp-line-chart" id="{chart_id}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" viewBox="0 0 {width} {height}" width="100%" '
        f'style="max-width:{width}px" preserveAspectRatio="xMinYMin meet" font-family="sans-serif" font-size="11">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]
    for frac in (0, 0.5, 1):
        gy = top + plot_h - frac * plot_h
        parts.append(f'<line x1="{left}" y1="{gy:.1f}" x2="{left + plot_w}" y2="{gy:.1f}" stroke="#dee2e6"/>'
                     f'<text x="{left - 4}" y="{gy + 4:.1f}" text-anchor="end" fill="#6c757d">'
                     f'{escape(fmt(top_value * frac))}{escape(unit)}</text>')
    step = max(1, (n + 11) // 12)
    for i, lab in enumerate(labels):
        if i % step == 0:
            parts.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 14}" text-anchor="middle" fill="#212529">'
                         f'{escape(str(lab))}</text>')
    for k, (name, vs) in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        runs, run = [], []
        for i, v in enumerate(vs):
            if v is None:
                if run:
                    runs.append(run)
                run = []
            else:
                run.append((x(i), y(v)))
        if run:
            runs.append(run)
        for r in runs:
            points = " ".join(f"{px:.1f},{py:.1f}" for px, py in r)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        for i, v in enumerate(vs):
            if v is not None:
                parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"><title>'
                             f'{escape(name)} {escape(str(labels[i]))}: {escape(fmt(v))}{escape(unit)}</title>'
                             f'</circle>')
        lx = left + k * 150
        parts.append(f'<rect x="{lx}" y="{height - 14}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{lx + 14}" y="{height - 5}" fill="#212529">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
