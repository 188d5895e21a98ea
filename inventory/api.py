"""JSON API of inventory under /api/v1/inventory: stock, lots, movements, allocation preview, block / release,
channel stock, near expiry, recall trace. Thin: parse (schemas), call one service, serialise. Errors in the
project's format: 400 bad input, 403 role, 404 unknown (or another tenant's), 422 business rule."""

from __future__ import annotations

from flask import abort
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app import clock
from app.api_base import Blueprint, error_response
from app.extensions import db
from app.models import Product, StockLocation
from inventory import channel, expiry, recording, services, stock, trace
from inventory import schemas as s

blp = Blueprint("api_inventory", __name__, url_prefix="/api/v1/inventory",
                description="Inventory: lots, stock, channel stock, near expiry, recall trace")

READ = ("admin", "channel_manager", "finance", "viewer", "distributor")
STAFF = ("admin", "channel_manager", "finance", "viewer")
WRITE = ("admin", "channel_manager")


def _require(roles) -> None:
    if not current_user.is_authenticated:
        abort(401)
    if current_user.role not in roles:
        abort(403)


def _rule_error(exc: services.InventoryError):
    db.session.rollback()
    details = [{"field": None if k == "_" else k, "message": m}
               for k, msgs in (getattr(exc, "errors", None) or {"_": [str(exc)]}).items() for m in msgs]
    return error_response(422, str(exc), details)


def _lot(lot_id: int):
    return stock.visible_lot(lot_id) or abort(404)


def _lot_out(lot) -> dict:
    on_hand = sum(b["quantity"] for b in stock.lot_balances(lot.id))
    return {"id": lot.id, "product_code": lot.product.code, "generic_name": lot.product.generic_name,
            "specification": lot.product.specification, "lot_no": lot.lot_no, "manufactured_on": lot.manufactured_on,
            "expires_on": lot.expires_on, "status": lot.status, "status_reason": lot.status_reason, "on_hand": on_hand}


@blp.route("/stock")
@blp.arguments(s.StockArgs, location="query")
@blp.response(200, s.StockPage)
def stock_list(args):
    """Stock above zero per location × lot, filtered; a distributor gets its own locations only."""
    _require(READ)
    filters = stock.StockFilters.parse(args)
    rows, total = stock.page(stock.stock_query(filters, args.get("sort")), args["page"], args["per_page"])
    return {"items": rows, "page": args["page"], "per_page": args["per_page"], "total": total,
            "quantity": stock.stock_total(filters)}


@blp.route("/lots")
@blp.arguments(s.LotArgs, location="query")
@blp.response(200, s.LotPage)
def lot_list(args):
    """Lots (a distributor: the lots its own movements name), earliest expiry first."""
    _require(READ)
    stmt = stock.lots_query(args.get("product"), args.get("status"), args.get("expires_before"), args.get("lot"))
    rows, total = stock.page(stmt, args["page"], args["per_page"])
    return {"items": rows, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("/lots", methods=["POST"])
@blp.arguments(s.LotIn)
@blp.response(201, s.LotOut)
def lot_create(data):
    """Register a lot (the same number with the same dates returns the existing lot; other dates: 422)."""
    _require(WRITE)
    product = db.session.execute(select(Product).where(Product.code == data["product_code"])).scalar_one_or_none()
    if product is None:
        return error_response(422, _("Unknown code %(code)s.", code=data["product_code"]),
                              [{"field": "product_code", "message": _("Unknown code %(code)s.",
                                                                      code=data["product_code"])}])
    try:
        lot = services.register_lot(product, data["lot_no"], data["manufactured_on"], data["expires_on"])
    except services.InventoryError as exc:
        return _rule_error(exc)
    db.session.commit()
    return _lot_out(lot)


@blp.route("/lots/<int:lot_id>")
@blp.response(200, s.LotDetail)
def lot_get(lot_id):
    """One lot with where it is now (the locations the caller may see)."""
    _require(READ)
    lot = _lot(lot_id)
    return {**_lot_out(lot), "balances": stock.lot_balances(lot.id)}


@blp.route("/lots/<int:lot_id>/movements")
@blp.arguments(s.PageArgs, location="query")
@blp.response(200, s.MovementPage)
def lot_movements(args, lot_id):
    """The lot's movements, oldest first (a distributor: those touching its own locations)."""
    _require(READ)
    lot = _lot(lot_id)
    rows, total = stock.page(stock.movements_query(lot.id), args["page"], args["per_page"])
    return {"items": rows, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("/lots/<int:lot_id>/status", methods=["POST"])
@blp.arguments(s.StatusIn)
@blp.response(200, s.LotOut)
def lot_status(data, lot_id):
    """Quarantine, recall or release a lot, with a reason (audited). A blocked lot leaves every allocation."""
    _require(WRITE)
    lot = _lot(lot_id)
    try:
        services.set_lot_status(lot, data["status"], data["reason"])
    except services.InventoryError as exc:
        return _rule_error(exc)
    db.session.commit()
    return _lot_out(lot)


@blp.route("/lots/<int:lot_id>/trace")
@blp.response(200, s.TraceOut)
def lot_trace(lot_id):
    """Recall trace: holders now, distributors and terminals reached, movements (manufacturer staff only)."""
    _require(STAFF)
    t = trace.recall_trace(_lot(lot_id))
    return {"lot": _lot_out(t.lot), "as_of": t.as_of, "on_hand": t.on_hand, "holdings": t.holdings,
            "distributors": t.distributors, "terminals": t.terminals, "movements": t.movements}


@blp.route("/movements", methods=["POST"])
@blp.arguments(s.MovementIn)
@blp.response(201, s.MovementOut)
def movement_create(data):
    """Record a receipt from production, a stock-count adjustment or a write-off (stock never below zero)."""
    _require(WRITE)
    try:
        movement = recording.record_movement(data)
    except services.InventoryError as exc:
        return _rule_error(exc)
    db.session.commit()
    return next(m for m in stock.lot_movements(movement.lot_id) if m["id"] == movement.id)


@blp.route("/allocate-preview", methods=["POST"])
@blp.arguments(s.AllocateIn)
@blp.response(200, s.AllocationOut)
def allocate_preview(data):
    """What FEFO would pick (and skip, with reasons) for a shipment; nothing is reserved or written."""
    _require(WRITE)
    product = db.session.execute(select(Product).where(Product.code == data["product_code"])).scalar_one_or_none()
    location = db.session.execute(select(StockLocation).where(StockLocation.code == data["location_code"])
                                  ).scalar_one_or_none()
    if product is None or location is None:
        missing = "product_code" if product is None else "location_code"
        message = _("Unknown code %(code)s.", code=data[missing])
        return error_response(422, message, [{"field": missing, "message": message}])
    try:
        result = services.allocate(product, data["quantity"], location, data["destination_tier"], data.get("on_date"))
    except services.InventoryError as exc:
        return _rule_error(exc)
    db.session.rollback()  # a preview: release the row locks at once
    return {"requested": result.requested, "allocated": result.allocated, "short": result.short,
            "min_remaining_days": product.min_shelf_days_for_tier(data["destination_tier"]),
            "picks": result.picks, "skipped": result.skipped}


@blp.route("/channel-stock")
@blp.arguments(s.ChannelArgs, location="query")
@blp.response(200, s.ChannelOut)
def channel_stock(args):
    """Per distributor × product (or × lot): computed, reported, difference, outflow, days of inventory, flag."""
    _require(READ)
    filters = channel.ChannelFilters.parse(args)
    if args["level"] == "lot":
        items = [{"distributor_code": ln.distributor_code, "distributor_name": ln.distributor_name,
                  "product_code": ln.product_code, "product_name": ln.product_name, "lot_no": ln.lot_no,
                  "expires_on": ln.expires_on, "computed": ln.computed, "reported": ln.reported,
                  "difference": ln.difference} for ln in channel.channel_lots(filters)]
    else:
        items = channel.channel_matrix(filters).rows()
    return {"as_of": clock.today(), "window_days": channel.window_days(), "level": args["level"],
            "items": items}


@blp.route("/near-expiry")
@blp.arguments(s.NearExpiryArgs, location="query")
@blp.response(200, s.NearExpiryOut)
def near_expiry(args):
    """Stock expiring within the window (or expired): totals and groups by tier, province and distributor, and
    the lot lines. Values are null until a price or cost source exists."""
    _require(READ)
    data = expiry.near_expiry(expiry.NearExpiryFilters.parse(args))
    return {"as_of": data.as_of, "window": data.window, "total_quantity": data.total_quantity,
            "total_value": data.total_value, "by_tier": data.by_tier, "by_province": data.by_province,
            "by_distributor": data.by_distributor, "lines": data.lines}
