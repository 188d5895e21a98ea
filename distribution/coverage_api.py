"""JSON API of the coverage analytics under /api/v1/coverage/… and the distributor 360° summary.

The filters are the dashboard's (codes): product, product_line, region, distributor, terminal_type, grade,
period_kind (month | quarter | ytd | rolling), period (2026-05 / 2026Q2), window. Every number comes with its
definition (Chinese and English). Bad filters are 400 with the fields named; terminal-level answers (breakdown,
terminals, diversion) are staff-only (403 for a distributor); a distributor's summary and sell-through are its own.
"""

from __future__ import annotations

from flask import abort
from flask_babel import get_locale
from flask_login import current_user
from marshmallow import Schema, fields, validate

from app.api_base import Blueprint, PageArgs, PageMeta, error_response
from app.auth.security import roles_required
from distribution import coverage, customer360, metrics
from distribution.coverage import CoverageError, Filters

blp = Blueprint("api_coverage", __name__, url_prefix="/api/v1", description="Coverage and listing analytics (铺货率)")

STAFF = ("admin", "channel_manager", "finance", "viewer")
ALL = (*STAFF, "distributor")


class FilterArgs(Schema):
    product = fields.String(load_default="")
    product_line = fields.String(load_default="")
    region = fields.String(load_default="")
    distributor = fields.String(load_default="")
    terminal_type = fields.String(load_default="")
    grade = fields.String(load_default="")
    period_kind = fields.String(load_default="month", validate=validate.OneOf([k.value for k in metrics.PeriodKind]))
    period = fields.String(load_default="")
    window = fields.Integer(load_default=metrics.DEFAULT_WINDOW)


class TerminalArgs(FilterArgs, PageArgs):
    which = fields.String(load_default="all", validate=validate.OneOf(["all", "with", "without"]))


class DiversionArgs(FilterArgs, PageArgs):
    kind = fields.String(load_default=None, allow_none=True)


class NumberSchema(Schema):
    key = fields.String()
    name = fields.String()
    value = fields.Raw(allow_none=True)
    definition = fields.Dict()


class SummarySchema(Schema):
    period = fields.String()
    months = fields.List(fields.String())
    numbers = fields.List(fields.Nested(NumberSchema))
    counts = fields.Dict()


class TrendSchema(Schema):
    items = fields.List(fields.Dict())


class RegionSchema(Schema):
    level = fields.Integer(allow_none=True)
    items = fields.List(fields.Dict())


class TerminalPageSchema(PageMeta):
    items = fields.List(fields.Dict())


class DiversionPageSchema(PageMeta):
    items = fields.List(fields.Dict())


class Distributor360Schema(Schema):
    distributor = fields.Dict()
    sections = fields.List(fields.Dict())


def _scope(args: dict):
    f = Filters(**{k: ("" if v is None else v) for k, v in args.items()
                   if k in Filters.__dataclass_fields__})
    return f.scope()


def _error(exc: CoverageError):
    details = [{"field": k, "message": m} for k, msgs in exc.errors.items() for m in msgs]
    return error_response(exc.status, exc.message, details)


def _define(key: str) -> dict:
    d = metrics.definition(key, str(get_locale() or "zh"))
    return {"zh": d["zh"], "en": d["en"]}


def _pct(value):
    return None if value is None else str(value)


@blp.route("/coverage/summary")
@roles_required(*ALL)
@blp.arguments(FilterArgs, location="query")
@blp.response(200, SummarySchema)
def summary(args):
    """Every number of a dashboard slice (a distributor user: its own), each with its definition."""
    try:
        scope = _scope(args)
        n = coverage.slice_numbers(scope)
    except CoverageError as exc:
        return _error(exc)
    values = {"listing_rate": _pct(n.listing_rate), "listing_rate_rolling": _pct(n.listing_rate_rolling),
              "weighted_distribution": _pct(n.weighted_distribution), "coverage": _pct(n.coverage),
              "city_coverage": _pct(n.city_coverage), "new_terminals": n.new_terminals,
              "lost_terminals": n.lost_terminals, "sell_through": _pct(n.sell_through)}
    return {"period": scope.period.label, "months": [f"{m:%Y-%m}" for m in scope.period.months],
            "numbers": [{"key": k, "name": metrics.DEFINITIONS[k][0], "value": v, "definition": _define(k)}
                        for k, v in values.items()],
            "counts": {k: getattr(n, k) for k in n.__dataclass_fields__}}


@blp.route("/coverage/trend")
@roles_required(*STAFF)
@blp.arguments(FilterArgs, location="query")
@blp.response(200, TrendSchema)
def trend(args):
    """Month by month (12 months up to the period's end): listing rate, weighted, coverage, new and lost."""
    try:
        points = coverage.trend(_scope(args))
    except CoverageError as exc:
        return _error(exc)
    return {"items": [{"month": f"{p.month:%Y-%m}", "targets": p.targets, "bought": p.bought,
                       "listing_rate": _pct(p.listing_rate), "weighted_distribution": _pct(p.weighted_distribution),
                       "coverage": _pct(p.coverage), "new_terminals": p.new_terminals,
                       "lost_terminals": p.lost_terminals} for p in points]}


@blp.route("/coverage/regions")
@roles_required(*STAFF)
@blp.arguments(FilterArgs, location="query")
@blp.response(200, RegionSchema)
def regions(args):
    """The listing rate of each child region of the slice's region (provinces, cities, counties)."""
    try:
        scope = _scope(args)
        rows = coverage.breakdown(scope)
    except CoverageError as exc:
        return _error(exc)
    return {"level": coverage.child_level(scope), "items": [
        {"code": r.code, "name": r.name, "targets": r.targets, "bought": r.bought,
         "listing_rate": _pct(r.listing_rate), "weighted_distribution": _pct(r.weighted_distribution)}
        for r in rows]}


@blp.route("/coverage/terminals")
@roles_required(*STAFF)
@blp.arguments(TerminalArgs, location="query")
@blp.response(200, TerminalPageSchema)
def terminals(args):
    """The target terminals of the slice with / without the product, paged."""
    try:
        rows, total = coverage.terminals(_scope(args), args["which"], args["page"], args["per_page"])
    except CoverageError as exc:
        return _error(exc)
    return {"page": args["page"], "per_page": args["per_page"], "total": total, "items": [
        {"code": r.code, "name": r.name, "type": r.type, "grade": r.grade, "region_code": r.region_code,
         "weight": r.weight, "bought": r.bought, "months_bought": [f"{m:%Y-%m}" for m in r.months_bought],
         "distributors": r.distributors} for r in rows]}


@blp.route("/coverage/sell-through")
@roles_required(*ALL)
@blp.arguments(FilterArgs, location="query")
@blp.response(200, TrendSchema)
def sell_through(args):
    """Sell-in (shipped orders) vs reported sell-out and transfers per distributor."""
    try:
        rows = coverage.sell_in_vs_sell_out(_scope(args))
    except CoverageError as exc:
        return _error(exc)
    return {"items": [{"distributor": r.code, "tier": r.tier, "sell_in_quantity": r.sell_in_quantity,
                       "sell_in_amount": str(r.sell_in_amount), "sell_out_quantity": r.sell_out_quantity,
                       "sell_out_amount": str(r.sell_out_amount), "transfer_quantity": r.transfer_quantity,
                       "out_in_ratio": _pct(r.out_in_ratio)} for r in rows]}


@blp.route("/coverage/diversion")
@roles_required(*STAFF)
@blp.arguments(DiversionArgs, location="query")
@blp.response(200, DiversionPageSchema)
def diversion(args):
    """Diversion flags of the period with their evidence (submission, file, source row), paged."""
    try:
        rows, total = coverage.diversion_flags(_scope(args), args.get("kind"), args["page"], args["per_page"])
    except CoverageError as exc:
        return _error(exc)
    return {"page": args["page"], "per_page": args["per_page"], "total": total, "items": [
        {"kind": r.kind, "distributor": r.distributor_code, "date": r.business_date.isoformat(),
         "product": r.product_code, "terminal": r.terminal_code, "region": r.region, "lot_no": r.lot_no,
         "quantity": r.quantity, "submission_id": r.submission_id, "filename": r.filename,
         "source_row": r.source_row, "lot_shipped_to": r.shipped_to} for r in rows]}


@blp.route("/distributors/<int:distributor_id>/360")
@roles_required(*ALL)
@blp.response(200, Distributor360Schema)
def distributor_360(distributor_id):
    """The distributor 360° page as tables, one per section (a distributor user: its own only)."""
    d = customer360.get_distributor(distributor_id) or abort(404)
    sections = customer360.sections_for(customer360.context(d, current_user.role))
    out = []
    for r in sections:
        headers, rows = r.section.sheet(r.data) if r.section.sheet else ([], [])
        out.append({"key": r.section.key, "title": str(r.section.title), "headers": headers,
                    "rows": [[v if isinstance(v, int | str) or v is None else str(v) for v in row] for row in rows]})
    return {"distributor": {"id": d.id, "code": d.code, "name": d.name, "tier": d.tier}, "sections": out}



