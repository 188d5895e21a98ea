"""Celery tasks of `ingestion`: thin wrappers that open units of work, call the pipeline, commit.

``process_submission`` is acknowledged late and rejected back to the queue when its worker dies, so a killed
worker's submission is processed again by the next one; the load itself is one transaction (nothing half loaded)
and the claim is idempotent (a loaded submission is never loaded twice).
"""

from __future__ import annotations

import logging

from celery import shared_task
from sqlalchemy.exc import InterfaceError, OperationalError

from app.extensions import db
from app.tasks import unit_of_work
from app.tenancy import Actor, acting_as
from ingestion import hooks

log = logging.getLogger(__name__)


@shared_task(name="ingestion.tasks.process_submission", bind=True, acks_late=True, reject_on_worker_lost=True,
             max_retries=5, default_retry_delay=10)
def process_submission(self, submission_id: int) -> str:
    """Claim, load (one transaction) and report one submission; returns its status. Once a load has committed,
    the work queued for after it starts (:func:`ingestion.hooks.facts_committed`)."""
    from ingestion import pipeline
    from ingestion.models import SubmissionStatus

    with acting_as(Actor(None, "ingestion")):
        if not unit_of_work(lambda: pipeline.claim_submission(submission_id)):
            return _status(submission_id)
        try:
            status = unit_of_work(lambda: pipeline.load_submission(submission_id))
        except pipeline.SubmissionRejected as exc:
            unit_of_work(lambda e=exc: pipeline.fail_submission(submission_id, e.code, e.message))
            return "failed"
        except (OperationalError, InterfaceError) as exc:  # the database went away: try again later
            log.warning("submission %s: database unavailable, retrying: %s", submission_id, exc)
            raise self.retry(exc=exc) from exc
        except Exception:
            log.exception("submission %s: unexpected error", submission_id)
            unit_of_work(lambda: pipeline.fail_submission(submission_id, "internal_error", _internal()))
            raise
    if status == SubmissionStatus.LOADED.value:
        hooks.facts_committed()  # the work queued for after the commit (the coverage rollups)
    return status


def _internal() -> str:
    from flask_babel import gettext as _

    return _("Something went wrong on our side while loading the file; nothing was loaded. The error has been "
             "logged; send the file again later or ask the channel manager.")


def _status(submission_id: int) -> str:
    from ingestion.models import Submission

    try:
        sub = db.session.get(Submission, submission_id)
        return sub.status if sub else "missing"
    finally:
        db.session.remove()


@shared_task(name="ingestion.tasks.scan_drop_folders")
def scan_drop_folders() -> int:
    """Beat: pick up new, stable files from every active drop source; returns how many submissions were made."""
    from ingestion import sources

    with acting_as(Actor(None, "drop-folder")):
        return sources.scan_all()
