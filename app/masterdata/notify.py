"""Licence-expiry notifications (run daily by the scheduler)."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Distributor, Notification

THRESHOLDS = (0, 30, 60)  # expired, within 30 days, within 60 days


def notify_licence_expiry() -> int:
    """Create one notification per distributor per threshold crossed; running twice creates nothing new."""
    today = clock.today()
    existing = set(db.session.execute(select(Notification.dedupe_key).where(Notification.kind == "licence_expiry"))
                   .scalars())
    created = 0
    rows = db.session.execute(
        select(Distributor).where(Distributor.licence_expiry <= today + timedelta(days=max(THRESHOLDS)))
    ).scalars()
    with force_locale("zh"):
        for d in rows:
            days = (d.licence_expiry - today).days
            threshold = next(t for t in THRESHOLDS if days <= t) if days <= max(THRESHOLDS) else None
            if threshold is None:
                continue
            key = f"licence_expiry:{d.id}:{d.licence_expiry.isoformat()}:{threshold}"
            if f"{key}:channel_manager" in existing:
                continue
            title = (_("Drug-trading licence of %(name)s has expired", name=d.name) if days < 0 else
                     _("Drug-trading licence of %(name)s expires in %(days)d days", name=d.name, days=days))
            for role, dist in (("channel_manager", None), ("distributor", d.id)):
                db.session.add(Notification(audience_role=role, distributor_id=dist, kind="licence_expiry",
                                            dedupe_key=f"{key}:{role}", title=title,
                                            link=f"/distributors/{d.id}"))
                created += 1
    db.session.flush()
    return created
