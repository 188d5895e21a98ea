"""The scheduled side of agreements (run daily by Celery beat, see distribution.tasks): expire agreements whose period
has ended, remind people of agreements about to expire, and find distributors without a valid agreement or licence.

Each job adds and flushes; the task commits. Each is idempotent: notifications carry a ``dedupe_key`` (unique in the
database), so a second run on the same day creates nothing new.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import Distributor, Notification
from distribution.agreements import expire_agreement
from distribution.models.agreements import Agreement, AgreementStatus

REMINDER_DAYS = (7, 30, 60)  # ascending: an agreement 5 days from its end gets the 7-day reminder only
ACTIVE = AgreementStatus.ACTIVE.value


def expire_due_agreements() -> list[int]:
    """Move every active agreement whose end date has passed to expired (audited, with a notification for the
    channel managers and the distributor). Returns the ids expired."""
    today = clock.today()
    due = db.session.execute(select(Agreement).where(Agreement.status == ACTIVE, Agreement.end_date < today)
                             .order_by(Agreement.id)).scalars().all()
    existing = _existing_keys("agreement_expired")
    with force_locale("zh"):
        for agreement in due:
            expire_agreement(agreement)
            title = _("Agreement %(number)s of %(name)s has expired", number=agreement.number,
                      name=agreement.distributor.name)
            _notify(agreement, "agreement_expired", f"agreement_expired:{agreement.id}", title, existing)
    db.session.flush()
    return [a.id for a in due]


def notify_agreement_expiry() -> int:
    """Remind channel managers and the distributor of active agreements ending within 60 / 30 / 7 days: once per
    agreement per threshold. Returns the number of notifications created."""
    today = clock.today()
    existing = _existing_keys("agreement_expiry")
    created = 0
    rows = db.session.execute(
        select(Agreement).where(Agreement.status == ACTIVE, Agreement.end_date >= today,
                                Agreement.end_date <= today + timedelta(days=max(REMINDER_DAYS)))
        .order_by(Agreement.end_date, Agreement.id)).scalars()
    with force_locale("zh"):
        for agreement in rows:
            days = (agreement.end_date - today).days
            threshold = next(t for t in REMINDER_DAYS if days <= t)
            title = _("Agreement %(number)s of %(name)s ends in %(days)d days (%(end)s)", number=agreement.number,
                      name=agreement.distributor.name, days=days, end=agreement.end_date.isoformat())
            key = f"agreement_expiry:{agreement.id}:{agreement.end_date.isoformat()}:{threshold}"
            created += _notify(agreement, "agreement_expiry", key, title, existing)
    db.session.flush()
    return created


def _existing_keys(kind: str) -> set[str]:
    return set(db.session.execute(select(Notification.dedupe_key).where(Notification.kind == kind)).scalars())


def _notify(agreement: Agreement, kind: str, key: str, title: str, existing: set[str]) -> int:
    created = 0
    for role, distributor_id in (("channel_manager", None), ("distributor", agreement.distributor_id)):
        if f"{key}:{role}" in existing:
            continue
        db.session.add(Notification(audience_role=role, distributor_id=distributor_id, kind=kind,
                                    dedupe_key=f"{key}:{role}", title=title,
                                    link=f"/distribution/agreements/{agreement.id}"))
        existing.add(f"{key}:{role}")
        created += 1
    return created


# -- distributors without a valid agreement or licence ------------------------------------------------------------
@dataclass
class AgreementGap:
    distributor: Distributor
    reasons: list[str] = field(default_factory=list)  # no_agreement, licence_expired, gsp_expired
    last_end: date | None = None  # end of its latest agreement that was ever in force
    next_start: date | None = None  # start of an activated agreement that has not begun yet


def agreement_gaps(on: date | None = None) -> list[AgreementGap]:
    """Active distributors that on ``on`` (default today) have no active agreement covering the day, or whose
    drug-trading licence or GSP certificate has expired; ordered by distributor code."""
    on = on or clock.today()
    covered = set(db.session.execute(
        select(Agreement.distributor_id).where(Agreement.status == ACTIVE, Agreement.start_date <= on,
                                               Agreement.end_date >= on)).scalars())
    last_end = dict(db.session.execute(
        select(Agreement.distributor_id, func.max(Agreement.end_date))
        .where(Agreement.approved_at.is_not(None), Agreement.start_date <= on)
        .group_by(Agreement.distributor_id)).all())
    next_start = dict(db.session.execute(
        select(Agreement.distributor_id, func.min(Agreement.start_date))
        .where(Agreement.status == ACTIVE, Agreement.start_date > on).group_by(Agreement.distributor_id)).all())
    gaps = []
    for d in db.session.execute(select(Distributor).where(Distributor.status == "active")
                                .order_by(Distributor.code)).scalars():
        reasons = [] if d.id in covered else ["no_agreement"]
        if d.licence_expired(on):
            reasons.append("licence_expired")
        if d.gsp_expired(on):
            reasons.append("gsp_expired")
        if reasons:
            gaps.append(AgreementGap(d, reasons, last_end.get(d.id), next_start.get(d.id)))
    return gaps


def gap_reason_label(reason: str, d: Distributor) -> str:
    return {
        "no_agreement": _("No agreement in force"),
        "licence_expired": _("Licence expired on %(date)s", date=d.licence_expiry),
        "gsp_expired": _("GSP certificate expired on %(date)s", date=d.gsp_expiry),
    }[reason]


def notify_agreement_gaps() -> int:
    """One notification for channel managers listing the distributors without a valid agreement or licence, created
    only when that list differs from every earlier one (its dedupe key is a digest of the list). Returns 0 or 1."""
    gaps = agreement_gaps()
    if not gaps:
        return 0
    state = ";".join(f"{g.distributor.id}:{','.join(g.reasons)}" for g in gaps)
    key = "agreement_gaps:" + hashlib.sha256(state.encode()).hexdigest()
    exists = db.session.execute(select(Notification.id).where(Notification.dedupe_key == key)).first()
    if exists:
        return 0
    with force_locale("zh"):
        title = _("%(n)d distributors have no valid agreement or licence", n=len(gaps))
        body = "\n".join(f"{g.distributor.code} {g.distributor.name}: "
                         + "；".join(gap_reason_label(r, g.distributor) for r in g.reasons) for g in gaps[:100])
    db.session.add(Notification(audience_role="channel_manager", kind="agreement_gaps", dedupe_key=key, title=title,
                                body=body, link="/distribution/agreement-gaps"))
    db.session.flush()
    return 1
