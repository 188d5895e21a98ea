"""Celery tasks of `distribution`: thin wrappers that open a unit of work, call a service, commit.

Scheduled by the beat schedule in app.config (``agreement-expiry``, ``agreement-gaps-scan`` daily,
``coverage-rollups-rebuild`` nightly, ``monthly-channel-report`` on the first of the month, ``coverage-refresh``
every minute; the latter is also started after each commit that changed channel-data facts).
"""

from __future__ import annotations

import logging

from celery import shared_task

from app.tasks import unit_of_work
from app.tenancy import Actor, acting_as

log = logging.getLogger(__name__)


@shared_task(name="distribution.tasks.run_agreement_expiry")
def run_agreement_expiry() -> dict:
    """Expire agreements whose end date has passed, then remind of those ending within 60 / 30 / 7 days."""
    from distribution.agreement_jobs import expire_due_agreements, notify_agreement_expiry

    def job():
        return {"expired": len(expire_due_agreements()), "reminders": notify_agreement_expiry()}

    result = unit_of_work(job)
    log.info("agreement expiry: %s", result)
    return result


@shared_task(name="distribution.tasks.scan_agreement_gaps")
def scan_agreement_gaps() -> int:
    """Notify channel managers of distributors without a valid agreement or licence (when that list changes)."""
    from distribution.agreement_jobs import notify_agreement_gaps

    return unit_of_work(notify_agreement_gaps)


@shared_task(name="distribution.tasks.monthly_channel_report")
def monthly_channel_report() -> int:
    """The first of each month: the channel report (PDF) of the month before, for the channel managers."""
    from distribution.channel_reports import scheduled_report

    return unit_of_work(scheduled_report)


@shared_task(name="distribution.tasks.rebuild_coverage_rollups")
def rebuild_coverage_rollups() -> dict:
    """Nightly: recompute the coverage rollups and diversion flags from the current facts (the incremental refresh
    keeps them right between; this catches agreements and shipments that changed since the flags were raised)."""
    from distribution.rollups import rebuild_rollups

    result = unit_of_work(rebuild_rollups)
    log.info("coverage rollups rebuilt: %s", result)
    return {"presence_rows": result.presence_rows, "sales_rows": result.sales_rows, "flags": result.flags,
            "seconds": round(result.seconds, 1)}


@shared_task(name="distribution.tasks.refresh_coverage")
def refresh_coverage() -> dict:
    """Do the queued coverage refreshes, oldest first, each in its own transaction. One that fails stays queued with
    its error (the next run, at the latest the beat's a minute later, tries again); the others go on."""
    from distribution import rollups

    done = failed = 0
    with acting_as(Actor(None, "coverage")):
        for refresh_id in unit_of_work(rollups.pending_ids):
            try:
                done += bool(unit_of_work(lambda r=refresh_id: rollups.refresh_one(r)))
            except Exception as exc:  # noqa: BLE001 - kept on the row, logged, retried by the next run
                log.exception("coverage refresh %s failed", refresh_id)
                unit_of_work(lambda r=refresh_id, e=exc: rollups.note_failure(r, e))
                failed += 1
    return {"done": done, "failed": failed}


def refresh_after_commit() -> None:
    """The facts-committed listener: start the refresh task (in tests, eager: at once)."""
    refresh_coverage.delay()
