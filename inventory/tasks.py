"""Celery tasks of `inventory`: thin wrappers that open a unit of work, call a service, commit."""

from __future__ import annotations

from celery import shared_task

from app.tasks import unit_of_work


@shared_task(name="inventory.tasks.scan_near_expiry")
def scan_near_expiry() -> int:
    """Daily: one alert per lot per near-expiry window (see inventory.expiry); returns how many were created."""
    from inventory.expiry import scan_near_expiry as scan

    return unit_of_work(scan)
