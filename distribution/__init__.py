"""The `distribution` domain package (see ../shared/DESIGN.md §2): agreements, price lists, orders, returns and
recalls, and the coverage analytics (rollups, dashboard, diversion, the distributor 360° page)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("distribution", __name__, url_prefix="/distribution", template_folder="templates")


def init_app(app, api) -> None:
    """Register this package's pages, API and tasks with the app."""
    from app.cli import drp_cli
    from credit.services import on_hold_decided
    from distribution import (  # noqa: F401
        agreement_api,
        agreement_views,
        coverage_api,
        coverage_cli,
        coverage_views,
        demo,
        models,
        order_api,
        order_views,
        pricing_api,
        pricing_views,
        recall_views,
        return_360,
        return_api,
        return_views,
        tasks,
    )
    from distribution.orders import sync_credit_decision
    from distribution.price_lists import lot_supply_values
    from distribution.rollups import queue_refresh
    from ingestion.hooks import on_facts_changed, on_facts_committed
    from inventory.expiry import set_unit_value_source

    set_unit_value_source(lot_supply_values)  # near-expiry stock is valued at the tier-1 supply price
    on_facts_changed(queue_refresh)  # every sell-out load queues its coverage refresh, in the load's transaction
    on_facts_committed(tasks.refresh_after_commit)  # which is done once the load has committed
    on_hold_decided(sync_credit_decision)  # finance's decision on credit's hold queue moves the order at once
    app.register_blueprint(bp)
    api.register_blueprint(agreement_api.blp, name="api_agreement")
    api.register_blueprint(pricing_api.blp, name="api_pricing")
    api.register_blueprint(order_api.blp, name="api_order")
    api.register_blueprint(return_api.blp, name="api_return")
    api.register_blueprint(coverage_api.blp, name="api_coverage")
    for command in coverage_cli.COMMANDS:
        drp_cli.add_command(command)
    demo.register()  # the demo prices and agreements, seeded by `flask drp seed-demo`
