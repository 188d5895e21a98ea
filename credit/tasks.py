"""Celery tasks of `credit`: thin wrappers that open a unit of work, call a service, commit."""

from __future__ import annotations

from celery import shared_task

from app.extensions import db


@shared_task(name="credit.tasks.apply_overdue_holds")
def apply_overdue_holds() -> int:
    """Nightly: put distributors with invoices overdue past the grace days on hold and notify, once."""
    from credit import services

    try:
        held = services.apply_overdue_holds()
        db.session.commit()
        return held
    except Exception:
        db.session.rollback()
        raise
    finally:
        db.session.remove()
