"""Celery wired to the Flask app: every task runs inside an application context."""

from __future__ import annotations

from pathlib import Path

from celery import Celery, Task
from flask import Flask


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    for d in app.config.get("DIRS_TO_CREATE", []):
        Path(d).mkdir(parents=True, exist_ok=True)
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
