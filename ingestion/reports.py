"""The rejected-rows Excel of a submission: one line per rejected row (its line in the file, the reasons in the
reader's language, then the row's own cells as sent), streamed (write-only workbook) so a large report stays small
in memory. Every cell that would start a formula is neutralised (app.masterdata.services.neutralise)."""

from __future__ import annotations

import io

from flask_babel import gettext as _

from app.masterdata.services import neutralise
from ingestion import cleaning, queries
from ingestion.models import Submission


def reason_text(codes: str) -> str:
    return "；".join(str(cleaning.REASONS.get(c, c)) for c in codes.split(",") if c)


def rejected_workbook(sub: Submission) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_("Rejected rows")[:31])
    headers = list((sub.template.headers if sub.template_id and sub.template else None) or [])
    rows = iter(queries.rejected_rows(sub.id))
    first = next(rows, None)
    if not headers and first is not None:
        headers = list(first.raw)
    bold = Font(bold=True)
    title = []
    for text in (_("Line in file"), _("Reasons"), *headers):
        cell = WriteOnlyCell(ws, value=neutralise(text))
        cell.font = bold
        title.append(cell)
    ws.append(title)

    def line(r):
        return [r.source_row, neutralise(reason_text(r.reasons)), *(_text(neutralise(r.raw.get(h))) for h in headers)]

    if first is not None:
        ws.append(line(first))
        for r in rows:
            ws.append(line(r))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _text(value):
    return "" if value is None else str(value)
