"""Files out of credit: the statement of account (对账单) as PDF (reportlab, Chinese text in the built-in CID font
STSong-Light, no font file needed) and as Excel."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape

from flask_babel import gettext as _
from flask_babel import pgettext

from app.masterdata.services import neutralise

_FONT = "STSong-Light"


def kind_label(kind: str) -> str:
    return {"invoice": _("Invoice"), "payment": _("Payment"), "credit_memo": _("Credit memo"),
            "adjustment": pgettext("ledger", "Adjustment")}.get(kind, kind)


def _headers() -> list[str]:
    return [_("Date"), _("Kind"), _("Reference"), _("Order"), _("Due date"), _("Debit"), pgettext("ledger", "Credit"),
            _("Balance"), _("Note")]


def _rows(st):
    for ln in st.lines:
        yield (ln.entry_date, kind_label(ln.kind), ln.reference, ln.order_ref or "", ln.due_date or "",
               ln.debit or None, ln.credit or None, ln.balance, ln.note or "")


def _title(st) -> str:
    return _("Statement of account %(code)s %(name)s", code=st.distributor.code, name=st.distributor.name)


def statement_workbook(st) -> bytes:
    """The statement as .xlsx: a heading, opening balance, the entries, totals and closing balance."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "statement"
    ws.append([neutralise(_title(st))])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append([pgettext("statement", "Period"), st.date_from, st.date_to])
    ws.append([pgettext("ledger", "Opening balance"), st.opening])
    ws.append([])
    ws.append(_headers())
    for cell in ws[5]:
        cell.font = Font(bold=True)
    for row in _rows(st):
        ws.append([neutralise(v) if isinstance(v, str) else v for v in row])
    ws.append([])
    ws.append([_("Total"), None, None, None, None, st.total_debit, st.total_credit])
    ws.append([_("Closing balance"), st.closing])
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, date):
                cell.number_format = "yyyy-mm-dd"
            elif isinstance(cell.value, Decimal):
                cell.number_format = "#,##0.00"
            elif isinstance(cell.value, str):
                cell.data_type = "s"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _register_font() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(_FONT))


def _money(v) -> str:
    return "" if v is None or v == 0 else f"{v:,.2f}"


def statement_pdf(st, printed_on: date) -> bytes:
    """The statement as an A4 PDF for the distributor to check and sign: entries with a running balance, open items
    with their due dates and days overdue, and a confirmation block."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    _register_font()
    h1 = ParagraphStyle("h1", fontName=_FONT, fontSize=15, leading=20, spaceAfter=4)
    h2 = ParagraphStyle("h2", fontName=_FONT, fontSize=11, leading=15, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("body", fontName=_FONT, fontSize=8.5, leading=11)

    def p(text) -> Paragraph:
        return Paragraph(escape("" if text is None else str(text)), body)

    def table(headers, rows):
        data = [[p(h) for h in headers]] + ([[p(c) for c in r] for r in rows] or [[p("—")] + [""] * (len(headers) - 1)])
        t = Table(data, repeatRows=1)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e9ecef")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        return t

    d = st.distributor
    story = [
        Paragraph(escape(_("Statement of account")), h1),
        p(" · ".join((f"{_('Distributor')}: {d.code} {d.name}",
                           f"{pgettext('statement', 'Period')}: {st.date_from} – {st.date_to}"))),
        p(" · ".join((f"{pgettext('ledger', 'Opening balance')}: {st.opening:,.2f}",
                           f"{_('Closing balance')}: {st.closing:,.2f}"))),
        Paragraph(escape(_("Entries")), h2),
        table(_headers()[:-1], [(r[0], r[1], r[2], r[3], r[4], _money(r[5]), _money(r[6]), _money(r[7]) or "0.00")
                                for r in _rows(st)]
              + [(_("Total"), "", "", "", "", _money(st.total_debit), _money(st.total_credit), "")]),
        Paragraph(escape(_("Open items at %(date)s", date=st.date_to.isoformat())), h2),
        table([_("Reference"), _("Kind"), _("Date"), _("Due date"), _("Amount"), _("Open"), _("Days overdue")],
              [(i.reference, kind_label(i.kind), i.entry_date, i.due_date, _money(i.amount), _money(i.open_amount),
                i.days_overdue) for i in st.open_items]),
        Spacer(1, 10 * mm),
        p(_("Please check this statement and confirm the closing balance, or tell us of any difference.")),
        Spacer(1, 8 * mm),
        p(f"{_('Confirmed by (stamp)')}: ______________________    {_('Date')}: ____________"),
    ]
    printed = _("Printed %(date)s", date=printed_on.isoformat())

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont(_FONT, 8)
        canvas.drawString(15 * mm, 8 * mm, f"{d.code} · {printed}")
        canvas.drawRightString(A4[0] - 15 * mm, 8 * mm, str(doc.page))
        canvas.restoreState()

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=12 * mm,
                            bottomMargin=14 * mm, title=_title(st), author="DRP")
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()
