"""The `credit` domain package (see ../shared/DESIGN.md §2): credit accounts, exposure and the order credit check,
finance's hold decisions, the receivables ledger, aging and statements of account."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("credit", __name__, url_prefix="/credit", template_folder="templates")


def init_app(app, api) -> None:
    """Register this package's pages, API and tasks with the app."""
    from credit import api as credit_api
    from credit import models, tasks, views  # noqa: F401

    app.register_blueprint(bp)
    api.register_blueprint(credit_api.blp)
