"""Scheduled jobs of the shell (see the beat schedule in app.config)."""

from __future__ import annotations

import logging

from celery import shared_task

from app.extensions import db

log = logging.getLogger(__name__)


@shared_task(name="app.tasks.heartbeat")
def heartbeat() -> str:
    """Proves the worker and the scheduler are alive and can reach the database."""
    from sqlalchemy import text

    db.session.execute(text("select 1"))
    db.session.remove()
    log.info("heartbeat")
    return "ok"


@shared_task(name="app.tasks.scan_licence_expiry")
def scan_licence_expiry() -> int:
    """Notify channel managers of licences that expired or expire within 30 / 60 days (once per threshold)."""
    from sqlalchemy.exc import IntegrityError

    from app.masterdata.notify import notify_licence_expiry

    try:
        for attempt in (1, 2):
            try:
                created = notify_licence_expiry()
                db.session.commit()
                return created
            except IntegrityError:
                # Another run committed the same notifications first (unique dedupe_key): run again, which now
                # finds them and creates only what is still missing.
                db.session.rollback()
                if attempt == 2:
                    raise
    except Exception:
        db.session.rollback()
        raise
    finally:
        db.session.remove()
