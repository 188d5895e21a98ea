"""Files out of returns and recalls: the credit note (贷项通知单) of a credited return and the recall report for
the regulator, as A4 PDFs (reportlab; Chinese text in the built-in CID font STSong-Light, so no font file is
needed); tables as Excel through inventory's :func:`~inventory.reports.table_workbook`."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape

from flask_babel import gettext as _

from app import clock
from inventory.reports import table_workbook  # noqa: F401  (re-exported for the views)

FONT = "STSong-Light"


def _fields(*pairs, sep: str = " · ") -> str:
    """``label: value`` pairs on one line (labels translated by the caller, so the extractor sees them)."""
    return sep.join(f"{label}: {value}" for label, value in pairs)


def _money(v) -> str:
    return "" if v is None else f"{Decimal(v):,.2f}"


class _Doc:
    """A small builder of one A4 document: headings, paragraphs, grid tables, a footer with the page number."""

    def __init__(self, title: str, footer: str, landscape_pages: bool = False):
        from reportlab.lib.pagesizes import A4, landscape
        from reportlab.lib.styles import ParagraphStyle
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont

        if FONT not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        self.size = landscape(A4) if landscape_pages else A4
        self.title, self.footer, self.story = title, footer, []
        self.h1 = ParagraphStyle("h1", fontName=FONT, fontSize=15, leading=20, spaceAfter=4)
        self.h2 = ParagraphStyle("h2", fontName=FONT, fontSize=11, leading=15, spaceBefore=8, spaceAfter=4)
        self.body = ParagraphStyle("body", fontName=FONT, fontSize=8.5, leading=11)

    def p(self, text):
        from reportlab.platypus import Paragraph

        return Paragraph(escape("" if text is None else str(text)), self.body)

    def heading(self, text: str, level: int = 1) -> None:
        from reportlab.platypus import Paragraph

        self.story.append(Paragraph(escape(text), self.h1 if level == 1 else self.h2))

    def para(self, text: str) -> None:
        self.story.append(self.p(text))

    def space(self, mm_: float) -> None:
        from reportlab.lib.units import mm
        from reportlab.platypus import Spacer

        self.story.append(Spacer(1, mm_ * mm))

    def table(self, headers, rows, widths_mm=None) -> None:
        from reportlab.lib import colors
        from reportlab.platypus import Table, TableStyle

        data = [[self.p(h) for h in headers]]
        data += [[self.p(c) for c in r] for r in rows] or [[self.p("—")] + [""] * (len(headers) - 1)]
        from reportlab.lib.units import mm

        t = Table(data, repeatRows=1, colWidths=[w * mm for w in widths_mm] if widths_mm else None)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e9ecef")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        self.story.append(t)

    def build(self) -> bytes:
        from reportlab.lib.units import mm
        from reportlab.platypus import SimpleDocTemplate

        width = self.size[0]

        def footer(canvas, doc):
            canvas.saveState()
            canvas.setFont(FONT, 8)
            canvas.drawString(15 * mm, 8 * mm, self.footer)
            canvas.drawRightString(width - 15 * mm, 8 * mm, str(doc.page))
            canvas.restoreState()

        buf = io.BytesIO()
        SimpleDocTemplate(buf, pagesize=self.size, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=12 * mm,
                          bottomMargin=14 * mm, title=self.title, author="DRP").build(
            self.story, onFirstPage=footer, onLaterPages=footer)
        return buf.getvalue()


def credit_note_pdf(ret, printed_on: date | None = None) -> bytes:
    """The credit note of a credited return: who, which return and memo, each line with the shipment and invoice it
    was priced from at the original unit price, the restocking fee and the total credited."""
    from distribution.returns import disposition_label, reason_label

    d = ret.distributor
    printed = _("Printed %(date)s", date=(printed_on or clock.today()).isoformat())
    doc = _Doc(_("Credit note %(ref)s", ref=ret.credit_reference or ret.number), f"{ret.number} · {printed}")
    doc.heading(_("Credit note (return)"))
    doc.para(_fields((_("Credit memo"), ret.credit_reference or "—"), (_("Return"), ret.number),
                     (_("Date"), ret.credited_on)))
    doc.para(_fields((_("Distributor"), f"{d.code} {d.name}")))
    if ret.recall is not None:
        doc.para(_fields((_("Recall"), ret.recall.number)))
    doc.heading(_("Return lines"), 2)
    rows = []
    for ln in ret.lines:
        if not ln.received_quantity:
            continue
        label = f"{ln.product.code} {ln.product.display_name}"
        base = (label, ln.lot.lot_no, reason_label(ln.reason), disposition_label(ln.disposition))
        for s in ln.sources:
            rows.append((*base, s.invoice_reference or "", s.shipped_on, s.quantity, f"{s.unit_price:,.4f}",
                         _money(s.amount)))
            base = ("", "", "", "")
        unpriced = ln.received_quantity - sum(s.quantity for s in ln.sources)
        if unpriced:
            rows.append((*base, _("not invoiced by us"), "", unpriced, "0.0000", "0.00"))
        if ln.restocking_fee:
            rows.append(("", "", "", "", _("Restocking fee %(pct)s%%", pct=f"{ln.restocking_fee_pct:g}"), "", "", "",
                         f"-{_money(ln.restocking_fee)}"))
    doc.table([_("Product"), _("Lot"), _("Reason"), _("Disposition"), _("Invoice"), _("Shipped"), _("Quantity"),
               _("Original unit price"), _("Amount")], rows, widths_mm=(32, 18, 15, 17, 34, 19, 12, 16, 17))
    doc.space(4)
    doc.para(_fields((_("Original value"), _money(ret.gross_amount)), (_("Restocking fee"), _money(ret.restocking_fee)),
                     (_("Credited"), _money(ret.credit_amount))))
    doc.para(_("The credit reduces the receivable of %(name)s; it is applied to the original invoice first.",
               name=d.name))
    doc.space(10)
    doc.para(_fields((_("Issued by"), "______________________"), (_("Received by (stamp)"), "______________________"),
                     sep="    "))
    return doc.build()


def recall_report_pdf(dash, printed_on: date | None = None) -> bytes:
    """The recall report for the regulator: the recall, its lots, every holder with what it held when the recall
    was opened, what came back and what is outstanding, our own stock, and the terminals the lots reached."""
    from distribution.recalls import class_label, status_label
    from distribution.returns import status_label as return_status

    r = dash.recall
    printed = _("Printed %(date)s", date=(printed_on or clock.today()).isoformat())
    doc = _Doc(_("Recall report %(number)s", number=r.number), f"{r.number} · {printed}", landscape_pages=True)
    doc.heading(_("Recall report %(number)s", number=r.number))
    closed = clock.local(r.closed_at).date() if r.closed_at else "—"
    doc.para(_fields((_("Class"), class_label(r.recall_class)), (_("Status"), status_label(r.status)),
                     (_("Opened"), r.opened_on), (_("Closed"), closed)))
    doc.para(_fields((_("Reason"), r.reason)))
    if r.close_note:
        doc.para(_fields((_("Closing note"), r.close_note)))
    doc.para(_fields((_("Held when opened"), dash.held), (_("Recovered"), f"{dash.recovered} ({dash.recovered_pct}%)"),
                     (_("Outstanding"), dash.outstanding)))
    doc.heading(_("Lots"), 2)
    doc.table([_("Product"), _("Lot"), _("Manufactured"), _("Expires"), _("On hand in the channel")],
              [(f"{p.code} {p.generic_name} {p.specification}", lot.lot_no, lot.manufactured_on, lot.expires_on,
                on_hand) for lot, p, on_hand in dash.lots])
    doc.heading(_("Holders"), 2)
    doc.table([_("Distributor"), _("Tier"), _("Lot"), _("Held when opened"), _("Requested"), _("Recovered"),
               _("Destroyed"), _("Outstanding"), _("On hand now"), _("Returns")],
              [(f"{h.code} {h.name}", h.tier, h.lot_no, h.held, h.requested, h.recovered, h.destroyed, h.outstanding,
                h.on_hand, ", ".join(f"{n} ({return_status(s)})" for _i, n, s in h.returns)) for h in dash.holders])
    doc.heading(_("Our own stock"), 2)
    doc.table([_("Location"), _("Lot"), _("Held when opened"), _("On hand now")],
              [(f"{h.code} {h.name}", h.lot_no, h.held, h.on_hand) for h in dash.ours])
    doc.heading(_("Terminals the lots reached"), 2)
    doc.table([_("Lot"), _("Terminal"), _("Region"), _("Sold by"), _("Quantity"), _("First"), _("Last")],
              [(t["lot_no"], f"{t['code']} {t['name']}", t["region"] or "", t["distributor_code"] or "", t["quantity"],
                t["first_date"], t["last_date"]) for t in dash.terminals])
    return doc.build()
