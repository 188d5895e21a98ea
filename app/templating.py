"""Template globals: navigation by role, formatting."""

from __future__ import annotations

from flask import Flask, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from jinja2 import pass_context

# (endpoint, kwargs, label, roles); the one place navigation is defined
NAV = [
    ("core.home", {}, _l("Home"), ("admin", "channel_manager", "finance", "viewer", "distributor")),
    ("masterdata.list_records", {"name": "products"}, _l("Products"),
     ("admin", "channel_manager", "finance", "viewer", "distributor")),
    ("masterdata.list_records", {"name": "distributors"}, _l("Distributors"),
     ("admin", "channel_manager", "finance", "viewer")),
    ("masterdata.list_records", {"name": "distributors"}, _l("My company"), ("distributor",)),
    ("masterdata.list_records", {"name": "terminals"}, _l("Terminals"),
     ("admin", "channel_manager", "finance", "viewer")),
    ("masterdata.list_records", {"name": "target_lists"}, _l("Target terminals"),
     ("admin", "channel_manager", "viewer")),
    ("distribution.agreements", {}, _l("Agreements"), ("admin", "channel_manager", "finance", "viewer", "distributor")),
    ("distribution.orders", {}, _l("Orders"), ("admin", "channel_manager", "finance", "viewer", "distributor")),
    ("masterdata.list_records", {"name": "locations"}, _l("Stock locations"),
     ("admin", "channel_manager", "finance", "viewer", "distributor")),
    ("inventory.stock_list", {}, _l("Stock"), ("admin", "channel_manager", "finance", "viewer", "distributor")),
    ("inventory.channel_matrix", {}, _l("Channel stock"),
     ("admin", "channel_manager", "finance", "viewer", "distributor")),
    ("inventory.near_expiry", {}, _l("Near expiry"), ("admin", "channel_manager", "finance", "viewer", "distributor")),
    ("inventory.trace_search", {}, _l("Recall trace"), ("admin", "channel_manager", "finance", "viewer")),
    ("masterdata.list_records", {"name": "regions"}, _l("Regions"), ("admin", "channel_manager", "viewer")),
    ("masterdata.list_records", {"name": "product_lines"}, _l("Product lines"), ("admin", "channel_manager")),
    ("distribution.prices_home", {}, _l("Prices"), ("admin", "channel_manager", "finance", "viewer", "distributor")),
    ("distribution.coverage_dashboard", {}, _l("Coverage"), ("admin", "channel_manager", "finance", "viewer")),
    ("distribution.my_360", {}, _l("My 360° view"), ("distributor",)),
    ("credit.dashboard", {}, _l("Credit"), ("admin", "channel_manager", "finance", "viewer")),
    ("credit.dashboard", {}, _l("My credit"), ("distributor",)),
    ("auth.users", {}, _l("Users"), ("admin",)),
]


def nav_items():
    if not current_user.is_authenticated:
        return []
    return [(ep, kw, label) for ep, kw, label, roles in NAV if current_user.role in roles]


def register(app: Flask) -> None:
    @app.context_processor
    def _globals():
        return {"nav_items": nav_items, "current_locale": str(get_locale() or "zh"),
                "languages": app.config["LANGUAGES"]}

    @app.template_filter("qs")
    @pass_context  # depends on the request: keeps Jinja from folding `{'page': None}|qs` into a constant
    def _query_with(_ctx, value: dict):
        """The current query string with some keys replaced (for sort and page links)."""
        args = request.args.to_dict()
        args.update({k: v for k, v in value.items() if v is not None})
        for k, v in value.items():
            if v is None:
                args.pop(k, None)
        from urllib.parse import urlencode

        return "?" + urlencode(args)
