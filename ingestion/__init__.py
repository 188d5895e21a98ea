"""The `ingestion` domain package (see ../shared/DESIGN.md §2): channel data (流向) from files to facts — raw-file
store, submissions, mapping templates, matching, the review queue, validation, bulk load, stock posting, reports,
drop-folder pick-up."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ingestion", __name__, url_prefix="/ingestion", template_folder="templates")


def init_app(app, api) -> None:
    """Register this package's pages, API, tasks, seams and demo data with the app."""
    from ingestion import api as ingestion_api
    from ingestion import demo, models, reported, tasks, views  # noqa: F401
    from inventory import channel, trace

    app.register_blueprint(bp)
    api.register_blueprint(ingestion_api.blp)
    channel.set_reported_stock_source(reported.reported_stock)
    trace.set_terminal_source(reported.reported_terminals)
    demo.register()  # the demo channel data, seeded by `flask drp seed-demo`
