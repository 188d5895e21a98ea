"""Celery wired to the Flask app: every task runs inside an application context."""

from __future__ import annotations

import logging
from pathlib import Path

from celery import Celery, Task, signals
from celery import current_app as current_celery
from celery.utils.log import get_multiprocessing_logger
from flask import Flask, has_app_context
from flask import current_app as current_flask_app


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            # In a worker there is no app context and the task runs in this app's. Called eagerly from inside an
            # app (tests, a task calling a task), it gets a fresh context of THAT app: its own session, same database.
            flask_app = current_flask_app._get_current_object() if has_app_context() else app
            with flask_app.app_context():
                return self.run(*args, **kwargs)

    for d in app.config.get("DIRS_TO_CREATE", []):
        Path(d).mkdir(parents=True, exist_ok=True)
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    celery_app.flask_app = app
    app.extensions["celery"] = celery_app

    from app import tasks  # noqa: F401  (the shell's tasks; domain packages import theirs in their init_app)

    return celery_app


@signals.worker_process_init.connect
def _fresh_db_pool(**kwargs):
    """A forked pool process must not reuse database connections it inherited from the parent."""
    from app.extensions import db

    flask_app = getattr(current_celery, "flask_app", None)
    if flask_app is not None:
        with flask_app.app_context():
            for engine in db.engines.values():
                engine.dispose(close=False)


@signals.setup_logging.connect
def _keep_app_logging(loglevel=None, **kwargs):
    """The app already logs JSON to stderr (app.logging_setup); keep Celery from adding its plain-text handlers."""
    if loglevel:
        logging.getLogger().setLevel(loglevel)
    mp_logger = get_multiprocessing_logger()  # billiard's pool logger does not propagate by default
    if mp_logger is not None:
        mp_logger.setLevel(logging.ERROR)
        mp_logger.propagate = True
