"""Closing and reopening months: a closed month refuses every submission that touches it (audited)."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from app import audit
from app.extensions import db
from app.models import Distributor, User
from ingestion.models import PeriodClosing


class ClosingError(ValueError):
    pass


def close_month(month: date, distributor: Distributor | None, user: User | None, note: str | None = None
                ) -> PeriodClosing:
    """Close ``month`` (any day of it) for one distributor or, with None, for everybody. Raises ClosingError when
    it is already closed."""
    first = month.replace(day=1)
    stmt = select(PeriodClosing).where(PeriodClosing.month == first)
    stmt = stmt.where(PeriodClosing.distributor_id.is_(None) if distributor is None
                      else PeriodClosing.distributor_id == distributor.id)
    if db.session.execute(stmt).scalar_one_or_none() is not None:
        raise ClosingError(_("%(month)s is already closed.", month=first.strftime("%Y-%m")))
    closing = PeriodClosing(month=first, distributor_id=distributor.id if distributor else None,
                            closed_by_id=user.id if user else None, note=(note or "").strip() or None)
    db.session.add(closing)
    db.session.flush()
    return closing


def reopen_month(closing: PeriodClosing, user: User | None, reason: str) -> None:
    """Reopen a closed month (a reason is required; the deletion is audited with it)."""
    if not (reason or "").strip():
        raise ClosingError(_("A reason is required."))
    audit.record(db.session, "period_reopened", closing, note=reason.strip())
    db.session.delete(closing)
    db.session.flush()
