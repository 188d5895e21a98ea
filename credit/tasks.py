"""Celery tasks of `credit`: thin wrappers that open a unit of work, call a service, commit."""

from __future__ import annotations

from celery import shared_task

from app.tasks import unit_of_work


@shared_task(name="credit.tasks.apply_overdue_holds")
def apply_overdue_holds() -> int:
    """Nightly: put distributors with invoices overdue past the grace days on hold and notify, once."""
    from credit import services

    return unit_of_work(services.apply_overdue_holds)
