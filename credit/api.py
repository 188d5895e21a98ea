"""JSON API of credit under /api/v1/credit: exposure, the hold queue and finance's decisions, payments, statements.
Thin: parse (schemas), call one service, serialise. Errors in the project's format: 400 bad input, 403 role,
404 unknown (or another tenant's), 409 a decision on an order no longer held, 422 business rule."""

from __future__ import annotations

from flask import abort
from flask_login import current_user
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from app.api_base import Blueprint, error_response
from app.extensions import db
from app.models import Distributor
from credit import services
from credit.services import CreditError

blp = Blueprint("api_credit", __name__, url_prefix="/api/v1/credit",
                description="Credit: exposure, holds and decisions, payments, statements of account")

READ = ("admin", "channel_manager", "finance", "viewer", "distributor")
STAFF = ("admin", "channel_manager", "finance", "viewer")
DECIDE = ("admin", "finance")
Money = fields.Decimal(as_string=True, places=2)


def _require(roles) -> None:
    if not current_user.is_authenticated:
        abort(401)
    if current_user.role not in roles:
        abort(403)


def _distributor(distributor_id: int) -> Distributor:
    return db.session.get(Distributor, distributor_id) or abort(404)


def _rule_error(exc: CreditError, status: int = 422):
    db.session.rollback()
    return error_response(status, str(exc), [{"field": None, "message": str(exc)}])


class OverdueOut(Schema):
    reference = fields.String()
    due_date = fields.Date()
    open_amount = fields.Decimal(as_string=True, places=2)
    days_overdue = fields.Integer()
    past_grace = fields.Boolean()


class ExposureOut(Schema):
    distributor_code = fields.String()
    limit = fields.Decimal(as_string=True, places=2)
    temporary = fields.Decimal(as_string=True, places=2)
    open_receivables = fields.Decimal(as_string=True, places=2)
    reserved = fields.Decimal(as_string=True, places=2)
    available = fields.Decimal(as_string=True, places=2)
    overdue_amount = fields.Decimal(as_string=True, places=2)
    overdue_invoices = fields.List(fields.Nested(OverdueOut))
    manual_hold = fields.Boolean()
    aging = fields.Dict(keys=fields.String(), values=fields.Decimal(as_string=True, places=2))


class HoldOut(Schema):
    order_ref = fields.String()
    distributor_code = fields.Function(lambda r: r.distributor.code)
    requested = fields.Decimal(as_string=True, places=2)
    shortfall = fields.Decimal(as_string=True, places=2)
    status = fields.String()
    reasons = fields.List(fields.String())
    decided_at = fields.DateTime(allow_none=True)
    decision_reason = fields.String(allow_none=True)


class HoldList(Schema):
    items = fields.List(fields.Nested(HoldOut))


class DecisionIn(Schema):
    approve = fields.Boolean(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class PaymentIn(Schema):
    distributor_code = fields.String(required=True)
    amount = fields.Decimal(required=True, places=2)
    paid_on = fields.Date(required=True)
    reference = fields.String(required=True, validate=validate.Length(min=1, max=60))


class PaymentOut(Schema):
    id = fields.Integer()
    reference = fields.String()
    amount = fields.Function(lambda e: str(-e.amount))
    entry_date = fields.Date()
    balance = fields.Function(lambda e: str(services.balance(e.distributor_id)))


class StatementArgs(Schema):
    date_from = fields.Date(required=True)
    date_to = fields.Date(required=True)


class LineOut(Schema):
    entry_date = fields.Date()
    kind = fields.String()
    reference = fields.String()
    order_ref = fields.String(allow_none=True)
    due_date = fields.Date(allow_none=True)
    debit = fields.Decimal(as_string=True, places=2)
    credit = fields.Decimal(as_string=True, places=2)
    balance = fields.Decimal(as_string=True, places=2)


class StatementOut(Schema):
    distributor_code = fields.Function(lambda s: s.distributor.code)
    date_from = fields.Date()
    date_to = fields.Date()
    opening = fields.Decimal(as_string=True, places=2)
    lines = fields.List(fields.Nested(LineOut))
    total_debit = fields.Decimal(as_string=True, places=2)
    total_credit = fields.Decimal(as_string=True, places=2)
    closing = fields.Decimal(as_string=True, places=2)


@blp.route("/exposure/<int:distributor_id>")
@blp.response(200, ExposureOut)
def exposure(distributor_id):
    """A distributor's limit, exposure, available credit, overdue invoices and aging (a distributor: its own)."""
    _require(READ)
    d = _distributor(distributor_id)
    exp = services.exposure(d)
    return {**exp.__dict__, "distributor_code": d.code, "aging": services.aging(d)}


@blp.route("/holds")
@blp.response(200, HoldList)
def holds():
    """The hold queue: orders held by the credit check, oldest first."""
    _require(STAFF)
    return {"items": services.held_reservations()}


@blp.route("/holds/<order_ref>/decision", methods=["POST"])
@blp.arguments(DecisionIn)
@blp.response(200, HoldOut)
def decide(data, order_ref):
    """Finance approves (the audited override) or rejects a held order; 409 when it is not held any more."""
    _require(DECIDE)
    try:
        res = services.decide_hold(order_ref, data["approve"], current_user, data["reason"])
    except CreditError as exc:
        return _rule_error(exc, 409)
    db.session.commit()
    return res


@blp.route("/payments", methods=["POST"])
@blp.arguments(PaymentIn)
@blp.response(201, PaymentOut)
def payment_create(data):
    """Record a payment, applied to the oldest open invoices; 422 when larger than what is open."""
    _require(DECIDE)
    d = db.session.execute(select(Distributor).where(Distributor.code == data["distributor_code"])
                           ).scalar_one_or_none() or abort(404)
    try:
        entry = services.record_payment(d, data["amount"], data["paid_on"], data["reference"], user=current_user)
    except CreditError as exc:
        return _rule_error(exc)
    db.session.commit()
    return entry


@blp.route("/statement/<int:distributor_id>")
@blp.arguments(StatementArgs, location="query")
@blp.response(200, StatementOut)
def statement(args, distributor_id):
    """Statement of account for a period: opening balance, entries with running balance, closing balance."""
    _require(READ)
    d = _distributor(distributor_id)
    try:
        return services.statement(d, args["date_from"], args["date_to"])
    except CreditError as exc:
        return _rule_error(exc, 400)
