"""The `ingestion` domain package (see ../shared/DESIGN.md §2). Filled in by later issues."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ingestion", __name__, url_prefix="/ingestion", template_folder="templates")


def init_app(app, api) -> None:
    """Register this package's pages, API and tasks with the app."""
    from ingestion import models, tasks  # noqa: F401

    app.register_blueprint(bp)
