"""JSON API of sell-in orders under /api/v1/orders: place, list, detail, amend, cancel, finance's decision, ship.

Thin handlers: parse (marshmallow, 400 on bad input), call one service, commit. A distributor user (session or
bearer token) orders for its own distributor and sees only its own orders (404 for another's); staff name the
distributor by code. Errors: 403 wrong role or another distributor, 404 not found (or not yours), 409 the step is
not allowed in the order's status, 422 a business rule refuses it (unknown product, quantity, agreement, licence,
price, stock).
"""

from __future__ import annotations

from flask import abort
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import Schema, fields, validate

from app.api_base import Blueprint, PageArgs, PageMeta, refused, requested_distributor
from app.auth.security import roles_required
from app.extensions import db
from app.masterdata.services import paginate
from distribution import orders as svc
from distribution.models.orders import OrderStatus

blp = Blueprint("api_order", __name__, url_prefix="/api/v1", description="Sell-in orders (订单)")

ERRORS = {403: "wrong role, or another distributor", 404: "not found (or another distributor's)",
          409: "not allowed in the order's current status", 422: "refused by a business rule; details name the lines"}


class SalesOrderLineInSchema(Schema):
    product_code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    quantity = fields.Integer(required=True, strict=False, metadata={"description": "whole number, > 0"})
    unit = fields.String(load_default="case", validate=validate.Length(max=16),
                         metadata={"description": "case (件) or base (the product's base unit); base-unit quantities "
                                                  "must be whole cases (multiples of pack_size)"})


class SalesOrderInSchema(Schema):
    distributor_code = fields.String(load_default=None, allow_none=True,
                                     metadata={"description": "staff only; a distributor user orders for itself"})
    on_date = fields.Date(load_default=None, allow_none=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    lines = fields.List(fields.Nested(SalesOrderLineInSchema), required=True, validate=validate.Length(min=1, max=200))


class SalesOrderAmendSchema(Schema):
    lines = fields.List(fields.Nested(SalesOrderLineInSchema), required=True, validate=validate.Length(min=1, max=200))


class SalesOrderCancelSchema(Schema):
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class SalesOrderDecisionSchema(Schema):
    approve = fields.Boolean(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class SalesOrderShipLineSchema(Schema):
    line_id = fields.Integer(required=True)
    quantity = fields.Integer(required=True, validate=validate.Range(min=0))


class SalesOrderShipSchema(Schema):
    on_date = fields.Date(load_default=None, allow_none=True)
    lines = fields.List(fields.Nested(SalesOrderShipLineSchema), load_default=None, allow_none=True,
                        metadata={"description": "base quantities per order line; default: every backorder"})


class SalesOrderListArgsSchema(PageArgs):
    distributor = fields.String(load_default=None, metadata={"description": "distributor code"})
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in OrderStatus]))
    q = fields.String(load_default=None)
    date_from = fields.Date(load_default=None)
    date_to = fields.Date(load_default=None)


class SalesOrderOutSchema(Schema):
    class Meta:
        ordered = True

    id = fields.Integer()
    number = fields.String()
    distributor = fields.Dict()
    status = fields.String()
    on_date = fields.Date()
    placed_at = fields.DateTime()
    placed_by = fields.String(allow_none=True)
    total = fields.Decimal(as_string=True)
    credit = fields.Dict()
    lines = fields.List(fields.Dict())
    shipments = fields.List(fields.Dict())


class SalesOrderSummarySchema(Schema):
    id = fields.Integer()
    number = fields.String()
    distributor = fields.Dict()
    status = fields.String()
    on_date = fields.Date()
    total = fields.Decimal(as_string=True)


class SalesOrderPageSchema(PageMeta):
    items = fields.List(fields.Nested(SalesOrderSummarySchema))


def _s(value) -> str | None:
    return None if value is None else str(value)


def serialise(o) -> dict:
    staff = not current_user.is_distributor
    return {
        "id": o.id, "number": o.number, "distributor": {"code": o.distributor.code, "name": o.distributor.name},
        "status": o.status, "on_date": o.on_date, "placed_at": o.placed_at,
        "placed_by": o.placed_by.username if staff and o.placed_by else None, "total": o.total,
        "credit": {"reasons": o.credit_reasons or [], "shortfall": _s(o.credit_shortfall),
                   "decision_reason": o.decision_reason, "decided_at": _s(o.decided_at and o.decided_at.isoformat())},
        "lines": [{"id": ln.id, "line_no": ln.line_no, "product_code": ln.product.code,
                   "product_name": ln.product.display_name, "entered_quantity": ln.entered_quantity,
                   "entered_unit": ln.entered_unit, "quantity": ln.quantity, "unit_price": str(ln.unit_price),
                   "amount": str(ln.amount), "price_rule": ln.price_rule, "price_explanation": ln.price_explanation,
                   "shipped_quantity": ln.shipped_quantity, "backorder": ln.backorder} for ln in o.lines],
        "shipments": [{"number": s.number, "on_date": s.on_date.isoformat(), "amount": str(s.amount),
                       "invoice_reference": s.invoice_reference,
                       "lots": [{"product_code": sl.order_line.product.code, "lot_no": sl.lot.lot_no,
                                 "expires_on": sl.lot.expires_on.isoformat(), "quantity": sl.quantity,
                                 "amount": str(sl.amount)} for sl in s.lines]} for s in o.shipments],
    }



def _order(order_id: int):
    return svc.get_order(order_id) or abort(404)


def _distributor(code: str | None):
    """The distributor the order is for: a distributor user's own (a different code is 403); staff name it."""
    not_own = svc.NotAllowed(_("You may place orders only for your own distributor."))
    return requested_distributor(code, not_own=not_own, unknown=svc.OrderInvalid)


@blp.route("/orders")
class Orders(MethodView):
    @roles_required(*svc.READER_ROLES)
    @blp.arguments(SalesOrderListArgsSchema, location="query")
    @blp.response(200, SalesOrderPageSchema)
    def get(self, args):
        """List orders, newest first (a distributor sees its own), filtered by distributor, status, text, dates."""
        stmt = svc.list_orders(args["distributor"], args["status"], args["q"], args["date_from"], args["date_to"])
        items, total = paginate(stmt, args["page"], args["per_page"])
        return {"items": [{"id": o.id, "number": o.number, "status": o.status, "on_date": o.on_date,
                           "total": o.total, "distributor": {"code": o.distributor.code, "name": o.distributor.name}}
                          for o in items], "page": args["page"], "per_page": args["per_page"], "total": total}

    @roles_required(*svc.PLACER_ROLES)
    @blp.arguments(SalesOrderInSchema)
    @blp.response(201, SalesOrderOutSchema)
    @blp.doc(responses={k: {"description": v} for k, v in ERRORS.items() if k != 409})
    def post(self, data):
        """Place an order: validated, priced, credit-checked; the answer is approved or credit_hold with reasons."""
        try:
            order = svc.place_order(_distributor(data["distributor_code"]), data["lines"], current_user,
                                    data["on_date"], data["note"])
        except svc.OrderError as exc:
            return refused(exc)
        body = serialise(order)  # before the commit, which would expire what is loaded and read it all again
        db.session.commit()
        return body


@blp.route("/orders/<int:order_id>")
@roles_required(*svc.READER_ROLES)
@blp.response(200, SalesOrderOutSchema)
@blp.doc(responses={404: {"description": ERRORS[404]}})
def detail(order_id):
    """One order: lines with prices and why, the credit decision and its reasons, shipments and their lots."""
    order = _order(order_id)
    db.session.commit()  # a decision finance took on credit's side may have been picked up
    return serialise(order)


def _step(order_id: int, do):
    try:
        order = do(_order(order_id))
    except svc.OrderError as exc:
        return refused(exc)
    db.session.commit()
    return serialise(order)


@blp.route("/orders/<int:order_id>/amend", methods=["POST"])
@roles_required(*svc.PLACER_ROLES)
@blp.arguments(SalesOrderAmendSchema)
@blp.response(200, SalesOrderOutSchema)
@blp.doc(responses={k: {"description": v} for k, v in ERRORS.items()})
def amend(data, order_id):
    """Replace the lines of an approved or held order that has shipped nothing; re-priced and re-checked."""
    return _step(order_id, lambda o: svc.amend_order(o, data["lines"], current_user))


@blp.route("/orders/<int:order_id>/cancel", methods=["POST"])
@roles_required(*svc.PLACER_ROLES)
@blp.arguments(SalesOrderCancelSchema)
@blp.response(200, SalesOrderOutSchema)
@blp.doc(responses={k: {"description": v} for k, v in ERRORS.items()})
def cancel(data, order_id):
    """Cancel the order (its backorder when part has shipped); its credit reservation is released."""
    return _step(order_id, lambda o: svc.cancel_order(o, current_user, data["reason"]))


@blp.route("/orders/<int:order_id>/decision", methods=["POST"])
@roles_required(*svc.DECIDER_ROLES)
@blp.arguments(SalesOrderDecisionSchema)
@blp.response(200, SalesOrderOutSchema)
@blp.doc(responses={k: {"description": v} for k, v in ERRORS.items()})
def decide(data, order_id):
    """Finance approves or rejects a held order, with a mandatory reason (audited)."""
    return _step(order_id, lambda o: svc.decide_order_hold(o, data["approve"], current_user, data["reason"]))


@blp.route("/orders/<int:order_id>/ship", methods=["POST"])
@roles_required(*svc.SHIPPER_ROLES)
@blp.arguments(SalesOrderShipSchema)
@blp.response(200, SalesOrderOutSchema)
@blp.doc(responses={k: {"description": v} for k, v in ERRORS.items()})
def ship(data, order_id):
    """Ship an approved order FEFO from the manufacturer's warehouse; invoice what shipped; the rest is backorder."""
    lines = None if data["lines"] is None else {x["line_id"]: x["quantity"] for x in data["lines"]}
    return _step(order_id, lambda o: svc.ship_order(o, current_user, lines, data["on_date"]) and o)
