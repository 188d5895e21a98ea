"""Read side of ingestion for pages and API: submission lists and details, rejected rows, the review queue.
Tenant scoping applies to every query (a distributor sees its own submissions only; the review queue is ours)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from app.extensions import db
from app.models import Distributor
from ingestion import progress
from ingestion.models import (
    DataKind,
    MappingTemplate,
    PendingRow,
    RejectedRow,
    ReviewItem,
    StockShortfall,
    Submission,
    SubmissionStatus,
)
from ingestion.periods import period_bounds

ACTIVE = (SubmissionStatus.RECEIVED.value, SubmissionStatus.PROCESSING.value)


@dataclass
class SubmissionFilters:
    distributor: str | None = None
    kind: str | None = None
    status: str | None = None
    month: str | None = None
    current: bool = False

    @classmethod
    def parse(cls, args) -> SubmissionFilters:
        kind = (args.get("kind") or "").strip()
        status = (args.get("status") or "").strip()
        return cls(distributor=(args.get("distributor") or "").strip() or None,
                   kind=kind if kind in {k.value for k in DataKind} else None,
                   status=status if status in {s.value for s in SubmissionStatus} else None,
                   month=(args.get("month") or "").strip() or None,
                   current=str(args.get("current") or "") in ("1", "true", "on"))


def submissions_query(f: SubmissionFilters):
    stmt = select(Submission).join(Distributor, Distributor.id == Submission.distributor_id)
    if f.distributor:
        stmt = stmt.where(Distributor.code == f.distributor)
    if f.kind:
        stmt = stmt.where(Submission.kind == f.kind)
    if f.status:
        stmt = stmt.where(Submission.status == f.status)
    if f.current:
        stmt = stmt.where(Submission.is_current)
    if f.month:
        try:
            start, end = period_bounds("month", f.month)
            stmt = stmt.where(Submission.period_start <= end, Submission.period_end >= start)
        except ValueError:
            pass
    return stmt.order_by(Submission.submitted_at.desc(), Submission.id.desc())


def page(stmt, page_no: int, per_page: int):
    total = db.session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    items = db.session.execute(stmt.limit(per_page).offset((page_no - 1) * per_page)).scalars().all()
    return items, total


def visible_submission(submission_id: int) -> Submission | None:
    """The submission if the acting user may see it (tenant scoping), else None."""
    return db.session.execute(select(Submission).where(Submission.id == submission_id)).scalar_one_or_none()


def versions(sub: Submission) -> list[Submission]:
    return list(db.session.execute(select(Submission).where(
        Submission.distributor_id == sub.distributor_id, Submission.kind == sub.kind,
        Submission.period_start == sub.period_start, Submission.period_end == sub.period_end)
        .order_by(Submission.id)).scalars())


def rejected_rows(submission_id: int, limit: int | None = None, offset: int = 0):
    stmt = (select(RejectedRow).where(RejectedRow.submission_id == submission_id)
            .order_by(RejectedRow.source_row, RejectedRow.id))
    if limit:
        stmt = stmt.limit(limit).offset(offset)
    return db.session.execute(stmt).scalars()


def waiting_rows(submission_id: int, limit: int = 100) -> list[PendingRow]:
    return list(db.session.execute(select(PendingRow).where(
        PendingRow.submission_id == submission_id, PendingRow.status == "waiting")
        .order_by(PendingRow.source_row).limit(limit)).scalars())


def shortfalls(submission_id: int) -> list[StockShortfall]:
    return list(db.session.execute(select(StockShortfall).where(StockShortfall.submission_id == submission_id)
                                   .order_by(StockShortfall.id)).scalars())


def status_of(sub: Submission) -> dict:
    """What the status poll returns: the status, the counts and, while it runs, the live progress."""
    live = progress.read(sub.id) if sub.status in ACTIVE else None
    return {"id": sub.id, "status": sub.status, "is_current": sub.is_current, "version": sub.version,
            "rows_read": sub.rows_read, "rows_accepted": sub.rows_accepted, "rows_rejected": sub.rows_rejected,
            "rows_review": sub.rows_review, "error_code": sub.error_code, "error_message": sub.error_message,
            "progress": live, "percent": progress.percent(live), "done": sub.status not in ACTIVE}


def review_items(subject: str | None = None, distributor: str | None = None, limit: int = 200):
    stmt = (select(ReviewItem).join(Distributor, Distributor.id == ReviewItem.distributor_id)
            .where(ReviewItem.status == "open"))
    if subject in ("customer", "product"):
        stmt = stmt.where(ReviewItem.subject == subject)
    if distributor:
        stmt = stmt.where(Distributor.code == distributor)
    return list(db.session.execute(stmt.order_by(ReviewItem.rows_waiting.desc(), ReviewItem.id).limit(limit))
                .scalars())


def review_count() -> int:
    return db.session.execute(select(func.count(ReviewItem.id)).where(ReviewItem.status == "open")).scalar_one()


def templates(distributor: str | None = None):
    stmt = select(MappingTemplate).join(Distributor, Distributor.id == MappingTemplate.distributor_id)
    if distributor:
        stmt = stmt.where(Distributor.code == distributor)
    return list(db.session.execute(stmt.order_by(MappingTemplate.confirmed_at.is_not(None),
                                                 MappingTemplate.created_at.desc())).scalars())


def template_usage(template_id: int) -> int:
    return db.session.execute(select(func.count(Submission.id)).where(Submission.template_id == template_id)
                              ).scalar_one()


def children_of(distributor_ids: set[int]) -> dict[int, list]:
    """The tier-2 distributors below each distributor (what a customer of a tier-1 may be instead of a terminal)."""
    out: dict[int, list] = {d: [] for d in distributor_ids}
    if distributor_ids:
        for d_id, code, name, parent in db.session.execute(
                select(Distributor.id, Distributor.code, Distributor.name, Distributor.parent_id)
                .where(Distributor.parent_id.in_(distributor_ids)).order_by(Distributor.code)):
            out[parent].append((d_id, code, name))
    return out
