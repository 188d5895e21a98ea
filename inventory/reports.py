"""Files out of inventory: Excel tables (every page's table) and the recall-trace PDF (reportlab, Chinese text in
the built-in CID font STSong-Light, so no font file is needed)."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

from flask_babel import gettext as _

from app import clock
from app.masterdata.services import neutralise


def table_workbook(title: str, headers: list[str], rows) -> bytes:
    """An .xlsx with one sheet: bold headers, then ``rows`` (sequences of values). Strings that would start a
    formula are neutralised and every string is stored as text; numbers stay numbers, dates stay dates."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "".join(ch for ch in title if ch not in "[]:*?/\\")[:31] or "sheet"
    ws.append([neutralise(h) for h in headers])
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


def _cell(value):
    if isinstance(value, Decimal | int | float | date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return clock.local(value).replace(tzinfo=None)  # Excel has no time zones: the business time
    if value is None:
        return None
    return neutralise(value)


_FONT = "STSong-Light"


def _register_font() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(_FONT))


def trace_pdf(trace) -> bytes:
    """The recall trace of one lot as an A4 PDF: the lot, holders now, distributors reached, terminals supplied,
    and the movement history, with the print date and page numbers."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    from inventory.expiry import tier_label
    from inventory.labels import kind_label, location_kind_label, status_label

    _register_font()
    h1 = ParagraphStyle("h1", fontName=_FONT, fontSize=15, leading=20, spaceAfter=4)
    h2 = ParagraphStyle("h2", fontName=_FONT, fontSize=11, leading=15, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("body", fontName=_FONT, fontSize=8.5, leading=11)
    lot, product = trace.lot, trace.product

    def p(text) -> Paragraph:
        from xml.sax.saxutils import escape

        return Paragraph(escape("" if text is None else str(text)), body)

    def table(headers, rows, widths=None):
        data = [[p(h) for h in headers]]
        data += [[p(c) for c in r] for r in rows] or [[p("—")] + [""] * (len(headers) - 1)]
        t = Table(data, colWidths=widths, repeatRows=1)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e9ecef")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        return t

    story = [
        Paragraph(escape_text(_("Recall trace of lot %(lot)s", lot=lot.lot_no)), h1),
        p(" · ".join((f"{_('Product')}: {product.code} {product.generic_name} {product.specification}",
                       f"{_('Lot')}: {lot.lot_no}", f"{_('Manufactured')}: {lot.manufactured_on}",
                       f"{_('Expires')}: {lot.expires_on}",
                       f"{_('Status')}: {status_label(lot.status)}"
                       + (f" ({lot.status_reason})" if lot.status_reason else "")))),
        p(" · ".join((f"{_('As of')}: {trace.as_of}",
                       f"{_('On hand in the channel')}: {trace.on_hand} {product.base_unit}"))),
        Paragraph(escape_text(_("Where it is now")), h2),
        table([_("Location"), _("Kind"), _("Distributor"), _("Tier"), _("Province"), _("Quantity")],
              [(f"{h['location_code']} {h['location_name']}", location_kind_label(h["location_kind"]),
                f"{h['distributor_code'] or ''} {h['distributor_name'] or ''}",
                tier_label(h["tier"] if h["distributor_code"] else 0), h["province"] or "", h["quantity"])
               for h in trace.holdings]),
        Paragraph(escape_text(_("Distributors it went to")), h2),
        table([_("Distributor"), _("Tier"), _("Province"), _("Received"), _("Transferred out"), _("Sold out"),
               _("Returned"), _("Written off"), _("On hand"), _("First"), _("Last")],
              [(f"{d.code} {d.name}", tier_label(d.tier), d.province or "",
                d.parts["shipped_in"] + d.parts["transferred_in"] + d.parts["opening"], d.parts["transferred_out"],
                d.parts["sold"], d.parts["returned"], d.parts["written_off"], d.on_hand, d.first_date, d.last_date)
               for d in trace.distributors]),
        Paragraph(escape_text(_("Terminals it went to")), h2),
        table([_("Terminal"), _("Region"), _("Sold by"), _("Quantity"), _("First"), _("Last")],
              [(f"{t['code']} {t['name']}", t["region"] or "", f"{t['distributor_code'] or ''}", t["quantity"],
                t["first_date"], t["last_date"]) for t in trace.terminals]),
        Spacer(1, 4 * mm),
        Paragraph(escape_text(_("Movements")), h2),
        table([_("Date"), _("Kind"), _("Quantity"), _("From"), _("To"), _("Terminal"), _("Reference")],
              [(m["business_date"], kind_label(m["kind"]), m["quantity"],
                " ".join(filter(None, (m["from_code"], m["from_distributor_name"]))),
                " ".join(filter(None, (m["to_code"], m["to_distributor_name"]))),
                m["terminal_name"] or "", m["reference"] or "") for m in trace.movements]),
    ]
    printed = _("Printed %(date)s", date=clock.today().isoformat())

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont(_FONT, 8)
        canvas.drawString(15 * mm, 8 * mm, f"{lot.lot_no} · {printed}")
        canvas.drawRightString(landscape(A4)[0] - 15 * mm, 8 * mm, str(doc.page))
        canvas.restoreState()

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=15 * mm, rightMargin=15 * mm, topMargin=12 * mm,
                            bottomMargin=14 * mm, title=_("Recall trace of lot %(lot)s", lot=lot.lot_no),
                            author="DRP")
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()


def escape_text(text: str) -> str:
    from xml.sax.saxutils import escape

    return escape(text)
