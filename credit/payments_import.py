"""Payments imported from the bank / ERP export (.xlsx, columns 经销商编码, 付款日期, 金额, 流水号): all or nothing,
every row problem listed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from sqlalchemy import select

from app.extensions import db
from app.masterdata.services import RowError, all_or_nothing
from app.models import Distributor
from credit import services

COLUMNS = ("经销商编码", "付款日期", "金额", "流水号")


@dataclass
class PaymentImportResult:
    rows: int
    total: Decimal


def _date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip().replace("/", "-"))


def _rows(stream) -> tuple[list[tuple[int, dict]], list[RowError]]:
    from zipfile import BadZipFile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(stream, read_only=True, data_only=True)
    except (BadZipFile, InvalidFileException, KeyError, OSError, ValueError):
        return [], [RowError(None, None, None, _("This is not a readable Excel (.xlsx) file."))]
    rows = wb.worksheets[0].iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        return [], [RowError(1, c, None, _("The column is missing.")) for c in missing]
    out = []
    for n, row in enumerate(rows, start=2):
        if not any(v not in (None, "") for v in row):
            continue
        out.append((n, {c: row[header.index(c)] if header.index(c) < len(row) else None for c in COLUMNS}))
    return out, []


def import_payments(stream, user) -> PaymentImportResult:
    """Record every payment in the file (each applied FIFO), or none: raises ImportFailed with every row error."""
    rows, errors = _rows(stream)
    if not rows and not errors:
        errors.append(RowError(None, None, None, _("The file has no rows.")))
    codes = {str(r["经销商编码"]).strip() for _n, r in rows if r["经销商编码"] is not None}
    dists = {d.code: d for d in db.session.execute(select(Distributor).where(Distributor.code.in_(codes))).scalars()}
    seen, total = set(), Decimal("0.00")
    with all_or_nothing(errors, len(rows)):  # a failure leaves nothing, whatever the caller does next
        for n, r in rows:
            code, ref = str(r["经销商编码"] or "").strip(), str(r["流水号"] or "").strip()
            row_errors = []
            if code not in dists:
                row_errors.append(RowError(n, "经销商编码", code, _("Unknown distributor.")))
            try:
                paid_on = _date(r["付款日期"])
            except (TypeError, ValueError):
                row_errors.append(RowError(n, "付款日期", str(r["付款日期"] or ""), _("Not a date (YYYY-MM-DD).")))
            try:
                amount = Decimal(str(r["金额"]).replace(",", "").strip())
                if not amount.is_finite() or amount <= 0:
                    raise InvalidOperation
            except (InvalidOperation, ValueError):
                row_errors.append(RowError(n, "金额", str(r["金额"] or ""), _("The amount must be greater than zero.")))
            if not ref:
                row_errors.append(RowError(n, "流水号", "", _("A reference is required.")))
            elif ref in seen:
                row_errors.append(RowError(n, "流水号", ref, _("The same reference appears twice in the file.")))
            seen.add(ref)
            if row_errors:
                errors.extend(row_errors)
                continue
            try:
                services.record_payment(dists[code], amount, paid_on, ref, user=user)
                total += services.rules.money(amount)
            except services.CreditError as exc:
                errors.append(RowError(n, None, ref, str(exc)))
    return PaymentImportResult(len(rows), total)
