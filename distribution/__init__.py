"""The `distribution` domain package (see ../shared/DESIGN.md §2). Filled in by later issues."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("distribution", __name__, url_prefix="/distribution", template_folder="templates")


def init_app(app, api) -> None:
    """Register this package's pages, API and tasks with the app."""
    from distribution import models, tasks  # noqa: F401

    app.register_blueprint(bp)
