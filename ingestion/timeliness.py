"""上报及时率: who reported each kind of data for each month, on time or late, and who has not reported.

A distributor's report of a kind for a month is due ``due_day`` days after the month ends (its
:class:`~ingestion.models.ReportingSchedule` row, else the default row, else ``INGEST_DUE_DAY``). It is **on time**
when its first submission that loaded (the one that made it current, or an earlier version since replaced) was
received by the end of the due day (business time zone); **late** when later; **missing** when nothing loaded and
the due day has passed; **open** before that. The rate is on time ÷ reports due. Every active distributor is
expected to send the kinds of ``INGEST_EXPECTED_KINDS`` unless its schedule says it does not (``expected`` false).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import Distributor
from ingestion.models import ReportingSchedule, Submission, SubmissionStatus
from ingestion.periods import month_end


@dataclass
class Cell:
    status: str  # on_time | late | missing | open
    due: date
    submitted: date | None = None
    submission_id: int | None = None


@dataclass
class Row:
    distributor_id: int
    code: str
    name: str
    cells: dict[tuple[str, date], Cell] = field(default_factory=dict)

    @property
    def due_count(self) -> int:
        return sum(1 for c in self.cells.values() if c.status != "open")

    @property
    def on_time(self) -> int:
        return sum(1 for c in self.cells.values() if c.status == "on_time")

    @property
    def rate(self) -> float | None:
        return round(self.on_time / self.due_count, 4) if self.due_count else None


@dataclass
class Timeliness:
    months: list[date]
    kinds: list[str]
    rows: list[Row]
    today: date

    @property
    def listed(self) -> list[Row]:
        """The rows with at least one expected report (the others are only counted)."""
        return [r for r in self.rows if r.cells]

    @property
    def unlisted(self) -> int:
        """Active distributors expected to report none of the kinds."""
        return sum(1 for r in self.rows if not r.cells)

    @property
    def rate(self) -> float | None:
        due = sum(r.due_count for r in self.rows)
        return round(sum(r.on_time for r in self.rows) / due, 4) if due else None

    def missing(self) -> list[tuple[Row, str, date]]:
        return [(r, k, m) for r in self.rows for (k, m), c in sorted(r.cells.items()) if c.status == "missing"]

    def late(self) -> list[tuple[Row, str, date, Cell]]:
        return [(r, k, m, c) for r in self.rows for (k, m), c in sorted(r.cells.items()) if c.status == "late"]


def schedules() -> tuple[dict[tuple[int | None, str], ReportingSchedule], int]:
    rows = db.session.execute(select(ReportingSchedule)).scalars().all()
    return {(s.distributor_id, s.kind): s for s in rows}, int(current_app.config.get("INGEST_DUE_DAY", 5))


def recent_months(count: int = 3, today: date | None = None) -> list[date]:
    """The last ``count`` complete months before ``today``, oldest first."""
    first = (today or clock.today()).replace(day=1)
    out = []
    for _ in range(count):
        first = (first - timedelta(days=1)).replace(day=1)
        out.append(first)
    return sorted(out)


def timeliness(months: list[date], kinds: list[str] | None = None, distributor_code: str | None = None
               ) -> Timeliness:
    """The grid of (distributor × kind × month) report statuses and the rates (tenant scoping applies)."""
    today = clock.today()
    kinds = list(kinds or current_app.config.get("INGEST_EXPECTED_KINDS") or ("sell_out",))
    by_key, default_due = schedules()
    stmt = select(Distributor.id, Distributor.code, Distributor.name).where(Distributor.status == "active")
    if distributor_code:
        stmt = stmt.where(Distributor.code == distributor_code)
    dists = db.session.execute(stmt.order_by(Distributor.code)).all()
    first = {}
    if dists and months:
        loaded = (SubmissionStatus.LOADED.value, SubmissionStatus.SUPERSEDED.value)
        for d_id, kind, start, at, sub_id in db.session.execute(
                select(Submission.distributor_id, Submission.kind, Submission.period_start,
                       func.min(Submission.submitted_at), func.min(Submission.id))
                .where(Submission.status.in_(loaded), Submission.period_kind == "month",
                       Submission.period_start.in_(months), Submission.kind.in_(kinds))
                .group_by(Submission.distributor_id, Submission.kind, Submission.period_start)):
            first[d_id, kind, start] = (clock.local(at).date(), sub_id)
    rows = []
    for d_id, code, name in dists:
        row = Row(d_id, code, name)
        for kind in kinds:
            sched = by_key.get((d_id, kind)) or by_key.get((None, kind))
            if sched is not None and not sched.expected:
                continue
            due_day = sched.due_day if sched is not None else default_due
            for m in months:
                due = month_end(m) + timedelta(days=due_day)
                got = first.get((d_id, kind, m))
                if got:
                    row.cells[kind, m] = Cell("on_time" if got[0] <= due else "late", due, got[0], got[1])
                else:
                    row.cells[kind, m] = Cell("missing" if today > due else "open", due)
        rows.append(row)
    return Timeliness(months, kinds, rows, today)


def set_due_day(distributor: Distributor | None, kind: str, due_day: int, expected: bool = True
                ) -> ReportingSchedule:
    """Set (create or change, audited) when ``distributor``'s reports of ``kind`` are due; None: the default."""
    if not 0 <= due_day <= 60:
        from flask_babel import gettext as _

        raise ValueError(_("The due day must be between 0 and 60 days after the period ends."))
    d_id = distributor.id if distributor else None
    row = db.session.execute(select(ReportingSchedule).where(
        ReportingSchedule.distributor_id.is_(d_id) if d_id is None else ReportingSchedule.distributor_id == d_id,
        ReportingSchedule.kind == kind)).scalar_one_or_none()
    if row is None:
        row = ReportingSchedule(distributor_id=d_id, kind=kind, period_kind="month", due_day=due_day,
                                expected=expected)
        db.session.add(row)
    row.due_day, row.expected = due_day, expected
    db.session.flush()
    return row
