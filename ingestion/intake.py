"""How a file becomes a submission: kept in the raw-file store, recognised when it is the same file again, checked
that it is a readable table, then handed to the pipeline (the caller commits and enqueues
``ingestion.tasks.process_submission``).

Uploads (page and API, by the distributor or a channel manager on its behalf) and drop-folder pick-ups all come
through :func:`receive_file`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from typing import BinaryIO

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Distributor, User
from app.tenancy import Actor, acting_as, current_actor
from ingestion import reading, store
from ingestion.models import DataKind, PeriodKind, RawFile, Submission, SubmissionStatus
from ingestion.periods import period_bounds

S = SubmissionStatus
IN_FLIGHT = (S.RECEIVED.value, S.PROCESSING.value, S.NEEDS_MAPPING.value)


class IntakeError(ValueError):
    """Bad input for a submission (``errors``: field → messages); nothing was kept."""

    def __init__(self, errors: dict[str, list[str]], status: int = 400):
        super().__init__("; ".join(m for msgs in errors.values() for m in msgs))
        self.errors, self.status = errors, status


@dataclass(frozen=True)
class Period:
    kind: str
    start: date
    end: date


def parse_period(period_kind: str | None, value: str | None) -> Period:
    """A period from a form or API: kind day | week | month and its value ('2026-03', '2026-W11', '2026-03-05')."""
    kind = (period_kind or PeriodKind.MONTH.value).strip()
    if kind not in {k.value for k in PeriodKind}:
        raise IntakeError({"period_kind": [_("Must be one of: %(choices)s.", choices="day, week, month")]})
    try:
        start, end = period_bounds(kind, value or "")
    except (ValueError, TypeError, AttributeError):
        raise IntakeError({"period": [_("Not a valid period (a month is written 2026-03, a week 2026-W11, a day "
                                        "2026-03-05).")]}) from None
    return Period(kind, start, end)


def parse_kind(kind: str | None) -> str:
    kind = (kind or "").strip()
    if kind not in {k.value for k in DataKind}:
        raise IntakeError({"kind": [_("Must be one of: %(choices)s.", choices="sell_out, purchase, inventory")]})
    return kind


def receive_file(stream: BinaryIO, filename: str, distributor: Distributor, kind: str | None, period: Period, *,
                 source: str, submitted_by: User | None, period_source: str = "given") -> Submission:
    """Keep the file and create its submission: ``received`` (to be processed), ``duplicate`` (the same file is
    already the current version or in flight for this distributor, kind and period: nothing to do) or ``failed``
    (not a readable table: the reason says why). ``kind`` None: told from the headers. Raises IntakeError (413)
    past the size limit, keeping nothing."""
    filename = (filename or "").strip()[:255] or "upload"
    try:
        stored = store.put(stream)
    except store.TooLarge as exc:
        raise IntakeError({"file": [str(exc)]}, status=413) from exc
    raw = _raw_file(stored)
    problem = None
    if kind is None:
        kind, problem = _detect_kind(stored, filename)
    sub = Submission(distributor_id=distributor.id, kind=kind, period_kind=period.kind, period_start=period.start,
                     period_end=period.end, raw_file_id=raw.id, filename=filename, source=source,
                     submitted_by_id=submitted_by.id if submitted_by else None, period_source=period_source,
                     status=S.RECEIVED.value)
    duplicate = _same_file(raw, distributor.id, kind, period)
    if problem is not None:
        sub.status, sub.error_code, sub.error_message = S.FAILED.value, *problem
    elif duplicate is not None:
        sub.status, sub.error_code = S.DUPLICATE.value, "duplicate"
        sub.error_message = _("The same file was already received as submission %(id)d (%(status)s): nothing to do.",
                              id=duplicate.id, status=duplicate.status)
    else:
        try:
            info = reading.inspect_file(store.path_of(stored.storage_path), filename, max_bytes=store.max_bytes())
        except reading.FileRejected as exc:
            sub.status, sub.error_code, sub.error_message = S.FAILED.value, exc.code, exc.message
        else:  # the bytes never change (content-addressed): the pipeline reads with what was found here
            sub.notes = {"file": dataclasses.asdict(info)}
    db.session.add(sub)
    db.session.flush()
    if sub.status == S.FAILED.value:
        from ingestion.pipeline import notify_submitter

        notify_submitter(sub)
    return sub


def _detect_kind(stored: store.Stored, filename: str) -> tuple[str, tuple[str, str] | None]:
    """The kind of a file its headers tell (drop folders that do not say), or a problem (code, message)."""
    from ingestion import mapping

    try:
        path = store.path_of(stored.storage_path)
        info = reading.inspect_file(path, filename, max_bytes=store.max_bytes())
        table = reading.read_table(path, info, chunk_rows=10)
    except reading.FileRejected as exc:
        return DataKind.SELL_OUT.value, (exc.code, exc.message)
    kind = mapping.detect_kind(table.headers, table.title_lines)
    if kind is None:
        return DataKind.SELL_OUT.value, ("kind_unknown", _(
            "The kind of data (sell-out, purchase or inventory) cannot be told from the headers; set it on the "
            "drop source or upload the file with its kind."))
    return kind, None


def _raw_file(stored: store.Stored) -> RawFile:
    stmt = select(RawFile).where(RawFile.sha256 == stored.sha256)
    raw = db.session.execute(stmt).scalar_one_or_none()
    if raw is not None:
        return raw
    actor = current_actor()
    try:  # a raw file is content, shared by whoever sends the same bytes: no tenant owns the row
        with acting_as(Actor(actor.user_id, actor.label)), db.session.begin_nested():
            raw = RawFile(sha256=stored.sha256, size=stored.size, storage_path=stored.storage_path)
            db.session.add(raw)
    except IntegrityError:  # the same bytes received at the same moment elsewhere
        raw = db.session.execute(stmt).scalar_one()
    return raw


def _same_file(raw: RawFile, distributor_id: int, kind: str, period: Period) -> Submission | None:
    """The same bytes for the same distributor, kind and period that are current or still in flight (a file that
    was superseded may be sent again on purpose: it then becomes the current version again)."""
    return db.session.execute(
        select(Submission).where(Submission.raw_file_id == raw.id, Submission.distributor_id == distributor_id,
                                 Submission.kind == kind, Submission.period_start == period.start,
                                 Submission.period_end == period.end,
                                 Submission.is_current | Submission.status.in_(IN_FLIGHT))
        .order_by(Submission.id).limit(1)).scalar_one_or_none()
