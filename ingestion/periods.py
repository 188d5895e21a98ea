"""Reporting periods: months, weeks and days, what a file name says, and which months are closed."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import or_, select

from app.extensions import db
from ingestion.models import PeriodClosing, PeriodKind


def month_of(day: date) -> date:
    return day.replace(day=1)


def month_end(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def months_between(start: date, end: date) -> list[date]:
    """First days of the calendar months that [start, end] touches."""
    out, m = [], month_of(start)
    while m <= end:
        out.append(m)
        m = month_end(m) + timedelta(days=1)
    return out


def period_bounds(period_kind: str, value: str) -> tuple[date, date]:
    """'2026-03' (month), '2026-W11' or a date in the week (week, Monday–Sunday), '2026-03-05' (day).
    Raises ValueError."""
    value = (value or "").strip()
    if period_kind == PeriodKind.MONTH.value:
        m = re.fullmatch(r"(\d{4})-?(\d{1,2})(?:-\d{1,2})?", value)
        if not m:
            raise ValueError(value)
        first = date(int(m.group(1)), int(m.group(2)), 1)
        return first, month_end(first)
    if period_kind == PeriodKind.WEEK.value:
        m = re.fullmatch(r"(\d{4})-?W(\d{1,2})", value, re.I)
        start = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1) if m else date.fromisoformat(value)
        start -= timedelta(days=start.weekday())
        return start, start + timedelta(days=6)
    if period_kind == PeriodKind.DAY.value:
        day = date.fromisoformat(value)
        return day, day
    raise ValueError(period_kind)


_FILENAME_MONTH = re.compile(r"(?<!\d)(20\d{2})\s*(?:[-_.年/]\s*)?(0[1-9]|1[0-2]|[1-9](?=\D|$))\s*(?:月|(?!\d))")


def month_from_filename(name: str) -> date | None:
    """The month a file name names (流向_2026-03.csv, 202603库存.xlsx, 2026年3月销售.xls), if exactly one."""
    found = {date(int(y), int(m), 1) for y, m in _FILENAME_MONTH.findall(name or "")}
    return found.pop() if len(found) == 1 else None


def closed_months(distributor_id: int, start: date, end: date) -> list[date]:
    """The closed months (for this distributor or for everybody) that [start, end] touches, earliest first."""
    months = months_between(start, end)
    return list(db.session.execute(
        select(PeriodClosing.month).where(PeriodClosing.month.in_(months),
                                          or_(PeriodClosing.distributor_id == distributor_id,
                                              PeriodClosing.distributor_id.is_(None)))
        .order_by(PeriodClosing.month).execution_options(skip_tenant_scope=True)).scalars().unique())
