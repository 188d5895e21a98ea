"""Celery tasks of `inventory`: thin wrappers that open a unit of work, call a service, commit."""

from __future__ import annotations

from celery import shared_task

from app.extensions import db


@shared_task(name="inventory.tasks.scan_near_expiry")
def scan_near_expiry() -> int:
    """Daily: one alert per lot per near-expiry window (see inventory.expiry); returns how many were created."""
    from sqlalchemy.exc import IntegrityError

    from inventory.expiry import scan_near_expiry as scan

    try:
        for attempt in (1, 2):
            try:
                created = scan()
                db.session.commit()
                return created
            except IntegrityError:
                # a concurrent run committed some of the same alerts first (unique dedupe_key): run again, which
                # now finds them and creates only what is still missing
                db.session.rollback()
                if attempt == 2:
                    raise
    except Exception:
        db.session.rollback()
        raise
    finally:
        db.session.remove()
