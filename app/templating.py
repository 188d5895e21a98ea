"""Template globals: navigation by role, formatting."""

from __future__ import annotations

from flask import Flask, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from jinja2 import pass_context

from app import clock

ALL = ("admin", "channel_manager", "finance", "viewer", "distributor")
STAFF = ("admin", "channel_manager", "finance", "viewer")

# The menu groups, in order; an item names its group (None: a top-level link).
GROUPS = {
    "channel": _l("Channel"),
    "stock": _l("Stock"),
    "analytics": _l("Analytics"),
    "finance": _l("Finance"),
    "master": _l("Master data"),
    "admin": _l("Administration"),
}

# (group, endpoint, kwargs, label, roles); the one place navigation is defined
NAV = [
    (None, "core.home", {}, _l("Home"), ALL),
    ("channel", "distribution.agreements", {}, _l("Agreements"), ALL),
    ("channel", "distribution.prices_home", {}, _l("Prices"), ALL),
    ("channel", "distribution.orders", {}, _l("Orders"), ALL),
    ("channel", "distribution.returns", {}, _l("Returns"), ALL),
    ("channel", "ingestion.submissions", {}, _l("Channel data"), ALL),
    ("stock", "distribution.recalls", {}, _l("Recalls"), STAFF),
    ("stock", "inventory.stock_list", {}, _l("Stock"), ALL),
    ("stock", "inventory.channel_matrix", {}, _l("Channel stock"), ALL),
    ("stock", "inventory.near_expiry", {}, _l("Near expiry"), ALL),
    ("stock", "inventory.trace_search", {}, _l("Recall trace"), STAFF),
    ("stock", "masterdata.list_records", {"name": "locations"}, _l("Stock locations"), ALL),
    ("analytics", "distribution.coverage_dashboard", {}, _l("Coverage"), STAFF),
    ("analytics", "distribution.my_360", {}, _l("My 360° view"), ("distributor",)),
    ("finance", "credit.dashboard", {}, _l("Credit"), STAFF),
    ("finance", "credit.dashboard", {}, _l("My credit"), ("distributor",)),
    ("master", "masterdata.list_records", {"name": "products"}, _l("Products"), ALL),
    ("master", "masterdata.list_records", {"name": "distributors"}, _l("Distributors"), STAFF),
    ("master", "masterdata.list_records", {"name": "distributors"}, _l("My company"), ("distributor",)),
    ("master", "masterdata.list_records", {"name": "terminals"}, _l("Terminals"), STAFF),
    ("master", "masterdata.list_records", {"name": "target_lists"}, _l("Target terminals"),
     ("admin", "channel_manager", "viewer")),
    ("master", "masterdata.list_records", {"name": "regions"}, _l("Regions"), ("admin", "channel_manager", "viewer")),
    ("master", "masterdata.list_records", {"name": "product_lines"}, _l("Product lines"), ("admin", "channel_manager")),
    ("admin", "auth.users", {}, _l("Users"), ("admin",)),
]


def nav_items():
    """The current user's menu: [(group label or None, [(endpoint, kwargs, label), ...])], in NAV's group order.
    A group with a single entry for this role is shown as a plain link."""
    if not current_user.is_authenticated:
        return []
    menu: dict[str | None, list] = {}
    for group, ep, kw, label, roles in NAV:
        if current_user.role in roles:
            menu.setdefault(group, []).append((ep, kw, label))
    order = [None, *GROUPS]
    return [(GROUPS[g] if g and len(menu[g]) > 1 else None, menu[g]) for g in order if g in menu]


def register(app: Flask) -> None:
    @app.context_processor
    def _globals():
        return {"nav_items": nav_items, "current_locale": str(get_locale() or "zh"),
                "languages": app.config["LANGUAGES"]}

    app.add_template_filter(clock.when, "when")  # {{ sub.submitted_at|when }}, {{ x.created_at|when('%Y-%m-%d') }}

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
