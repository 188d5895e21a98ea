"""The `credit` domain package (see ../shared/DESIGN.md §2). Filled in by later issues."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("credit", __name__, url_prefix="/credit", template_folder="templates")


def init_app(app, api) -> None:
    """Register this package's pages, API and tasks with the app."""
    from credit import models, tasks  # noqa: F401

    app.register_blueprint(bp)
