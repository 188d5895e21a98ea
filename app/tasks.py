"""Scheduled jobs of the shell (see the beat schedule in app.config)."""

from __future__ import annotations

import logging

from celery import shared_task
from sqlalchemy.exc import IntegrityError

from app.extensions import db

log = logging.getLogger(__name__)


def unit_of_work(job):
    """Run ``job`` and commit; roll back on any error; always release the session. Every task is a thin wrapper
    around this. A unique-key clash with a concurrent run of the same job (notifications' dedupe_key) is retried
    once: the second pass finds the other run's rows and adds only what is still missing."""
    try:
        for attempt in (1, 2):
            try:
                result = job()
                db.session.commit()
                return result
            except IntegrityError:
                db.session.rollback()
                if attempt == 2:
                    raise
    except Exception:
        db.session.rollback()
        raise
    finally:
        db.session.remove()


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
    from app.masterdata.notify import notify_licence_expiry

    return unit_of_work(notify_licence_expiry)
