"""The `inventory` domain package (see ../shared/DESIGN.md §2): lots, the stock ledger, FEFO allocation, channel
stock, near expiry and recall trace."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("inventory", __name__, url_prefix="/inventory", template_folder="templates")


def init_app(app, api) -> None:
    """Register this package's pages, API, tasks and CLI commands with the app."""
    from app.cli import drp_cli
    from inventory import api as inventory_api
    from inventory import cli, demo, models, tasks, views  # noqa: F401

    app.register_blueprint(bp)
    api.register_blueprint(inventory_api.blp)
    for command in cli.COMMANDS:
        drp_cli.add_command(command)
    demo.register()  # the demo stock, seeded by `flask drp seed-demo`
