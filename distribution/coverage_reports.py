"""Tables and files of the coverage analytics: every table's headers and cells (one definition shared by the page,
the Excel export and the PDF), the Excel workbooks, and the monthly channel report (月度渠道报告) as a PDF (reportlab,
Chinese text in the built-in CID font STSong-Light, charts drawn with reportlab's own graphics)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape

from flask_babel import gettext as _

from distribution import coverage, metrics
from distribution.metrics import Period

_FONT = "STSong-Light"


def pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{value}%"


def rate_text(value: Decimal | None) -> str:
    """A rate for a chart label (the chart adds the unit)."""
    return "—" if value is None else str(value)


# -- the tables ---------------------------------------------------------------------------------------------------
def kpis(n: metrics.SliceNumbers, window: int) -> list[tuple[str, str, str, str]]:
    """(definition key, label, value, detail) of the dashboard's cards."""
    return [
        ("listing_rate", _("Listing rate"), pct(n.listing_rate),
         _("%(a)d of %(b)d target terminals", a=n.bought, b=n.targets)),
        ("listing_rate_rolling", _("Rolling listing rate (%(n)d months)", n=window), pct(n.listing_rate_rolling),
         _("%(a)d of %(b)d target terminals", a=n.bought_rolling, b=n.targets)),
        ("weighted_distribution", _("Weighted distribution"), pct(n.weighted_distribution),
         _("weight %(a)d of %(b)d", a=n.bought_weight, b=n.target_weight)),
        ("coverage", _("Coverage"), pct(n.coverage),
         _("%(a)d of %(b)d target terminals", a=n.covered, b=n.coverage_targets)),
        ("city_coverage", _("City coverage"), pct(n.city_coverage),
         _("%(a)d of %(b)d target cities", a=n.cities_with_sales, b=n.target_cities)),
        ("new_terminals", _("New terminals"), str(n.new_terminals), _("month over month")),
        ("lost_terminals", _("Lost terminals"), str(n.lost_terminals), _("month over month")),
        ("sell_through", _("Sell-through (动销率)"), pct(n.sell_through),
         _("%(a)d of %(b)d listed products", a=n.products_sold, b=n.listed_products)),
    ]


def trend_headers() -> list[str]:
    return [_("Month"), _("Target terminals"), _("Bought"), _("Listing rate"), _("Weighted distribution"),
            _("Coverage"), _("New terminals"), _("Lost terminals")]


def trend_cells(points) -> list[list]:
    return [[f"{p.month:%Y-%m}", p.targets, p.bought, pct(p.listing_rate), pct(p.weighted_distribution),
             pct(p.coverage), p.new_terminals, p.lost_terminals] for p in points]


def breakdown_headers() -> list[str]:
    return [_("Region code"), _("Region"), _("Target terminals"), _("Bought"), _("Not bought"), _("Listing rate"),
            _("Weighted distribution")]


def breakdown_cells(rows) -> list[list]:
    return [[r.code, r.name, r.targets, r.bought, r.not_bought, pct(r.listing_rate), pct(r.weighted_distribution)]
            for r in rows]


def terminal_headers() -> list[str]:
    return [_("Terminal code"), _("Terminal"), _("Type"), _("Hospital grade"), _("Province"), _("City"),
            _("Region"), _("Potential weight"), _("Bought"), _("Months bought"), _("Distributors")]


def terminal_cells(rows) -> list[list]:
    return [[r.code, r.name, coverage.type_label(r.type), r.grade or r.pharmacy_size or "", r.province_name or "",
             r.city_name or "", f"{r.region_code} {r.region_name}", r.weight, _("yes") if r.bought else _("no"),
             "、".join(f"{m:%Y-%m}" for m in r.months_bought), "、".join(r.distributors)] for r in rows]


def sell_through_headers() -> list[str]:
    return [_("Distributor code"), _("Distributor"), _("Tier"), _("Sell-in quantity"), _("Sell-in amount"),
            _("Sell-out quantity"), _("Sell-out amount"), _("Transfer quantity"), _("Transfer amount"),
            _("Out ÷ in")]


def sell_through_cells(rows) -> list[list]:
    return [[r.code, r.name, r.tier, r.sell_in_quantity, r.sell_in_amount, r.sell_out_quantity, r.sell_out_amount,
             r.transfer_quantity, r.transfer_amount, pct(r.out_in_ratio)] for r in rows]


def achievement_headers() -> list[str]:
    return [_("Agreement"), _("Distributor code"), _("Distributor"), _("Quarter"), _("Target amount"),
            _("Sell-in amount"), _("Amount achieved"), _("Target quantity"), _("Sell-in quantity"),
            _("Quantity achieved"), _("Rebate")]


def achievement_cells(lines) -> list[list]:
    out = []
    for line in lines:
        a = line.agreement
        for r in [*line.rows, line.total]:
            out.append([a.number, a.distributor.code, a.distributor.name, str(r.quarter) if r.quarter else _("Total"),
                        r.target_amount, r.sell_in_amount, pct(r.amount_pct), r.target_quantity,
                        r.sell_in_quantity, pct(r.quantity_pct), r.rebate_amount])
    return out


def diversion_headers() -> list[str]:
    return [_("Kind"), _("Distributor code"), _("Distributor"), _("Date"), _("Product code"), _("Product"),
            _("Terminal code"), _("Terminal"), _("Terminal region"), _("Lot"), _("Quantity"), _("Submission"),
            _("File"), _("Source row"), _("Lot shipped to")]


def diversion_cells(rows) -> list[list]:
    return [[coverage.kind_label(r.kind), r.distributor_code, r.distributor_name, r.business_date, r.product_code,
             r.product_name, r.terminal_code, r.terminal_name, r.region, r.lot_no or "", r.quantity, r.submission_id,
             r.filename, r.source_row, "、".join(r.shipped_to)] for r in rows]


# -- Excel --------------------------------------------------------------------------------------------------------
def workbook(sheets: list[tuple[str, list[str], list[list]]]) -> bytes:
    """An .xlsx with one sheet per (title, headers, rows); text neutralised (never a formula), numbers stay
    numbers, dates dates."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from inventory.reports import _cell

    wb = Workbook()
    wb.remove(wb.active)
    for title, headers, rows in sheets:
        ws = wb.create_sheet("".join(ch for ch in title if ch not in "[]:*?/\\")[:31] or "sheet")
        ws.append([_cell(h) for h in headers])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append([_cell(v) for v in row])
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
                elif isinstance(cell.value, date):
                    cell.number_format = "yyyy-mm-dd"
        ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def definitions_sheet(keys, locale: str) -> tuple[str, list[str], list[list]]:
    rows = []
    for key in keys:
        d = metrics.definition(key, locale)
        rows.append([d["name"], d["text"], d["other_name"], d["other_text"]])
    return (_("Definitions"), [_("Number"), _("Definition"), _("Number"), _("Definition")], rows)


# -- the monthly channel report (PDF) -----------------------------------------------------------------------------
@dataclass
class ReportData:
    month: date
    numbers: metrics.SliceNumbers
    trend: list
    provinces: list
    sell_through: list
    flags: list
    flag_total: int
    lines: list  # (line code, name, SliceNumbers)


def report_data(month: date) -> ReportData:
    """Everything the monthly channel report shows, for the calendar month starting ``month`` (staff only)."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import ProductLine

    scope = coverage.Scope(Period("month", month))
    lines = []
    for line in db.session.execute(select(ProductLine).order_by(ProductLine.code)).scalars():
        lines.append((line.code, line.name, coverage.slice_numbers(
            coverage.Scope(Period("month", month), product_line_id=line.id))))
    flags, total = coverage.diversion_flags(scope, per_page=30)
    return ReportData(month, coverage.slice_numbers(scope), coverage.trend(scope), coverage.breakdown(scope),
                      coverage.sell_in_vs_sell_out(scope), flags, total, lines)


def _register_font() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(_FONT))


def _trend_drawing(points, width: float, height: float):
    from reportlab.graphics.charts.legends import Legend
    from reportlab.graphics.charts.linecharts import HorizontalLineChart
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib import colors

    d = Drawing(width, height)
    chart = HorizontalLineChart()
    chart.x, chart.y, chart.width, chart.height = 36, 30, width - 50, height - 50
    chart.data = [[float(p.listing_rate or 0) for p in points], [float(p.coverage or 0) for p in points]]
    chart.categoryAxis.categoryNames = [f"{p.month:%y-%m}" for p in points]
    chart.categoryAxis.labels.fontName = _FONT
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.valueMin, chart.valueAxis.valueMax = 0, 100
    chart.valueAxis.labels.fontSize = 7
    chart.lines[0].strokeColor, chart.lines[1].strokeColor = colors.HexColor("#0d6efd"), colors.HexColor("#198754")
    chart.lines[0].strokeWidth = chart.lines[1].strokeWidth = 1.5
    d.add(chart)
    legend = Legend()
    legend.x, legend.y = 40, 12
    legend.fontName, legend.fontSize = _FONT, 7
    legend.alignment, legend.columnMaximum = "right", 1
    legend.colorNamePairs = [(colors.HexColor("#0d6efd"), _("Listing rate") + " %"),
                             (colors.HexColor("#198754"), _("Coverage") + " %")]
    d.add(legend)
    return d


def _bars_drawing(rows, width: float):
    from reportlab.graphics.charts.barcharts import HorizontalBarChart
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib import colors

    rows = rows[:15]
    height = 24 + 14 * max(len(rows), 1)
    d = Drawing(width, height)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 90, 10, width - 130, height - 20
    chart.data = [[float(r.listing_rate or 0) for r in reversed(rows)] or [0]]
    chart.categoryAxis.categoryNames = [r.name for r in reversed(rows)] or ["—"]
    chart.categoryAxis.labels.fontName = _FONT
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.valueMin, chart.valueAxis.valueMax = 0, 100
    chart.valueAxis.labels.fontSize = 7
    chart.bars[0].fillColor = colors.HexColor("#0d6efd")
    chart.barLabelFormat = "%.1f%%"
    chart.barLabels.fontSize = 6
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 3
    d.add(chart)
    return d


def channel_report_pdf(data: ReportData, locale: str = "zh") -> bytes:
    """The monthly channel report: headline numbers with their definitions, the 12-month trend, the provinces
    ranked by listing rate, each product line, sell-in vs sell-out per distributor and the diversion flags."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    _register_font()
    h1 = ParagraphStyle("h1", fontName=_FONT, fontSize=16, leading=22, spaceAfter=4)
    h2 = ParagraphStyle("h2", fontName=_FONT, fontSize=11.5, leading=16, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("body", fontName=_FONT, fontSize=8.5, leading=11.5)
    small = ParagraphStyle("small", fontName=_FONT, fontSize=7, leading=9, textColor=colors.HexColor("#495057"))

    def p(text, style=body) -> Paragraph:
        return Paragraph(escape("" if text is None else str(text)), style)

    def table(headers, rows, widths=None):
        data = [[p(h) for h in headers]] + ([[p(c) for c in r] for r in rows] or [[p("—")] + [""] * (len(headers) - 1)])
        t = Table(data, repeatRows=1, colWidths=widths)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e9ecef")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        return t

    width = A4[0] - 30 * mm
    n = data.numbers
    story = [p(_("Monthly channel report %(month)s", month=f"{data.month:%Y-%m}"), h1),
             p(_("Listing rates, coverage and channel flows of the month, from the distributors' reported sell-out "
                 "(current versions of their files).")),
             Paragraph(escape(_("Headline numbers")), h2),
             table([_("Number"), _("Value"), _("Detail")], [(label, value, detail)
                                                          for _key, label, value, detail in kpis(n, 3)],
                   [50 * mm, 25 * mm, width - 75 * mm]),
             Paragraph(escape(_("Trend (12 months)")), h2), _trend_drawing(data.trend, width, 150 * 1.0),
             Paragraph(escape(_("Provinces by listing rate")), h2), _bars_drawing(data.provinces, width),
             table(breakdown_headers(), breakdown_cells(data.provinces)),
             Paragraph(escape(_("Product lines")), h2),
             table([_("Product line"), _("Listing rate"), _("Weighted distribution"), _("Target terminals"),
                    _("Sell-through (动销率)")],
                   [(f"{code} {name}", pct(s.listing_rate), pct(s.weighted_distribution), s.targets,
                     pct(s.sell_through)) for code, name, s in data.lines]),
             Paragraph(escape(_("Sell-in vs sell-out")), h2),
             table(sell_through_headers()[1:], [r[1:] for r in sell_through_cells(data.sell_through)]),
             Paragraph(escape(_("Diversion flags (%(n)d)", n=data.flag_total)), h2),
             table([_("Kind"), _("Distributor"), _("Date"), _("Product"), _("Terminal"), _("Quantity"), _("File"),
                    _("Source row")],
                   [(coverage.kind_label(f.kind), f.distributor_code, f.business_date, f.product_code,
                     f"{f.terminal_code} {f.terminal_name}", f.quantity, f.filename, f.source_row)
                    for f in data.flags]),
             Spacer(1, 6), Paragraph(escape(_("Definitions")), h2)]
    for key in ("listing_rate", "listing_rate_rolling", "weighted_distribution", "coverage", "city_coverage",
                "new_terminals", "lost_terminals", "sell_through", "sell_in", "sell_out", "outside_territory",
                "unauthorised_product", "lot_region"):
        d = metrics.definition(key, locale)
        story.append(p(f"{d['name']}：{d['text']}", small))
        story.append(p(f"{d['other_name']}: {d['other_text']}", small))
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                      bottomMargin=15 * mm, title=f"channel report {data.month:%Y-%m}").build(story)
    return buf.getvalue()
