"""The `distribution` domain package (see ../shared/DESIGN.md §2): agreements, price lists, orders, returns and
recalls."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("distribution", __name__, url_prefix="/distribution", template_folder="templates")


def init_app(app, api) -> None:
    """Register this package's pages, API and tasks with the app."""
    from distribution import (  # noqa: F401
        agreement_api,
        agreement_views,
        demo,
        models,
        order_api,
        order_views,
        pricing_api,
        pricing_views,
        recall_views,
        return_api,
        return_views,
        tasks,
    )
    from distribution.price_lists import lot_supply_values
    from inventory.expiry import set_unit_value_source

    set_unit_value_source(lot_supply_values)  # near-expiry stock is valued at the tier-1 supply price
    app.register_blueprint(bp)
    api.register_blueprint(agreement_api.blp, name="api_agreement")
    api.register_blueprint(pricing_api.blp, name="api_pricing")
    api.register_blueprint(order_api.blp, name="api_order")
    api.register_blueprint(return_api.blp, name="api_return")
    demo.register()  # the demo prices and agreements, seeded by `flask drp seed-demo`
