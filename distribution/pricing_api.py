"""JSON API of distribution: pricing.

Price lists, their items (versions) and floors for staff (admins and channel managers write); resolving a price and
pricing an order for staff and for a distributor's own system (a distributor may only price for itself: any other
distributor's code is unknown to it, through the tenant scoping of app.tenancy). Business-rule refusals are 422
in the error format of app.api_base, with details per field or per order line.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask import abort
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import func, select

from app import clock
from app.api_base import Blueprint, PageArgs, PageMeta, error_response
from app.extensions import db
from app.masterdata.services import ImportFailed
from app.models import Distributor, Product
from distribution import price_excel
from distribution import price_lists as svc
from distribution.models.pricing import PriceItem, PriceListKind, QuantityUnit

blp = Blueprint("api_pricing", __name__, url_prefix="/api/v1", description="pricing")

READERS = ("admin", "channel_manager", "finance", "viewer")
WRITERS = ("admin", "channel_manager")
UNITS = [u.value for u in QuantityUnit]


def _require(*roles: str) -> None:
    if not current_user.is_authenticated:
        abort(401)
    if current_user.role not in roles:
        abort(403)


def _refused(exc: svc.PricingError):
    details = [{"field": k, "message": m} for k, msgs in exc.errors.items() for m in msgs]
    if isinstance(exc, svc.NoPrice):
        details = [{"field": f"lines.{i}", "message": exc.message} for i in exc.lines]
    return error_response(422, exc.message, details)


# -- schemas -------------------------------------------------------------------------------------------------------
class Price(fields.Field):
    """A money value: a JSON string (preferred, exact) or number in, a string with 4 decimal places out."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return Decimal(repr(value) if isinstance(value, float) else str(value).strip())
        except (InvalidOperation, ValueError):
            raise ValidationError(_("Not a valid price.")) from None


class PriceListArgs(PageArgs):
    kind = fields.String(validate=validate.OneOf([k.value for k in PriceListKind]))
    q = fields.String(metadata={"description": "search in code and name"})


class PriceListIn(Schema):
    code = fields.String(required=True, validate=validate.Length(max=32))
    name = fields.String(required=True, validate=validate.Length(max=200))
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in PriceListKind]))
    province_code = fields.String(allow_none=True, metadata={"description": "provincial_bid: the province (6 digits)"})
    distributor_code = fields.String(allow_none=True, metadata={"description": "distributor_specific: its distributor"})
    active = fields.Boolean(load_default=True)
    note = fields.String(allow_none=True)


class PriceListPatch(PriceListIn):
    code = fields.String(validate=validate.Length(max=32))
    name = fields.String(validate=validate.Length(max=200))
    kind = fields.String(validate=validate.OneOf([k.value for k in PriceListKind]))
    active = fields.Boolean()


class PriceListOut(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    province_code = fields.Function(lambda o: o.province.code if o.province else None)
    distributor_code = fields.Function(lambda o: o.distributor.code if o.distributor else None)
    active = fields.Boolean()
    note = fields.String(allow_none=True)


class PriceListPage(PageMeta):
    items = fields.List(fields.Nested(PriceListOut))


class ItemArgs(PageArgs):
    product = fields.String(metadata={"description": "product code"})
    on = fields.Date(metadata={"description": "only versions effective on this date"})


class PriceItemIn(Schema):
    product_code = fields.String(required=True)
    min_quantity = fields.Integer(required=True, validate=validate.Range(min=1, max=10_000_000))
    unit = fields.String(load_default=QuantityUnit.BASE.value, validate=validate.OneOf(UNITS),
                         metadata={"description": "base (the product's base unit) or case (pack_size base units)"})
    unit_price = Price(required=True, metadata={"type": "string", "example": "12.3400",
                                                "description": "per base unit; rounded to 4 places HALF_UP"})
    effective_from = fields.Date(required=True)
    effective_to = fields.Date(allow_none=True, metadata={"description": "inclusive; null = open-ended"})
    note = fields.String(allow_none=True, validate=validate.Length(max=200))


class PriceChangeIn(Schema):
    unit_price = Price(required=True, metadata={"type": "string", "example": "11.5000"})
    effective_from = fields.Date(required=True, metadata={"description": "the new version starts here; the "
                                                                         "current one ends the day before"})
    effective_to = fields.Date(allow_none=True, metadata={"description": "default: the current version's end"})
    note = fields.String(allow_none=True, validate=validate.Length(max=200))


class PriceItemOut(Schema):
    id = fields.Integer()
    price_list_id = fields.Integer()
    product_code = fields.Function(lambda o: o.product.code)
    min_quantity = fields.Integer(metadata={"description": "in base units"})
    entered_quantity = fields.Integer()
    entered_unit = fields.String()
    unit_price = Price()
    effective_from = fields.Date()
    effective_to = fields.Date(allow_none=True)
    version = fields.Integer()
    previous_id = fields.Integer(allow_none=True)
    note = fields.String(allow_none=True)


class PriceItemPage(PageMeta):
    items = fields.List(fields.Nested(PriceItemOut))


class FloorArgs(PageArgs):
    product = fields.String()


class FloorIn(Schema):
    product_code = fields.String(required=True)
    floor_price = Price(required=True, metadata={"type": "string", "example": "8.0000"})
    effective_from = fields.Date(required=True)
    effective_to = fields.Date(allow_none=True)
    note = fields.String(allow_none=True, validate=validate.Length(max=200))


class FloorOut(Schema):
    id = fields.Integer()
    product_code = fields.Function(lambda o: o.product.code)
    floor_price = Price()
    effective_from = fields.Date()
    effective_to = fields.Date(allow_none=True)
    version = fields.Integer()
    previous_id = fields.Integer(allow_none=True)
    note = fields.String(allow_none=True)


class FloorPage(PageMeta):
    items = fields.List(fields.Nested(FloorOut))


class ResolveArgs(Schema):
    distributor = fields.String(metadata={"description": "distributor code (a distributor user: its own, default)"})
    product = fields.String(required=True, metadata={"description": "product code"})
    quantity = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000_000))
    unit = fields.String(load_default=QuantityUnit.BASE.value, validate=validate.OneOf(UNITS))
    date = fields.Date(metadata={"description": "default: today (the business date)"})


class Explanation(Schema):
    rule = fields.String(allow_none=True, metadata={"description": "distributor_specific | provincial_bid | "
                                                                   "tier_list: the precedence rule that won"})
    price_list = fields.Dict(allow_none=True)
    item = fields.Dict(allow_none=True)
    break_ = fields.Dict(data_key="break", attribute="break", allow_none=True)
    list_price = Price(allow_none=True)
    floor_price = Price(allow_none=True)
    floor_applied = fields.Boolean()
    passed_over = fields.List(fields.Dict())
    text = fields.String(metadata={"description": "the same, in the user's language"})


class ResolutionOut(Schema):
    distributor = fields.String()
    product = fields.String()
    quantity = fields.Integer(metadata={"description": "in base units"})
    date = fields.Date()
    unit_price = Price(allow_none=True, metadata={"description": "null: no list prices it"})
    amount = Price(allow_none=True, metadata={"description": "quantity × unit price, 2 places HALF_UP"})
    explanation = fields.Nested(Explanation)


class OrderLineIn(Schema):
    product = fields.String(required=True, metadata={"description": "product code"})
    quantity = fields.Integer(required=True, validate=validate.Range(min=1, max=10_000_000))
    unit = fields.String(load_default=QuantityUnit.BASE.value, validate=validate.OneOf(UNITS))


class OrderIn(Schema):
    distributor = fields.String(metadata={"description": "distributor code (a distributor user: its own, default)"})
    date = fields.Date(metadata={"description": "default: today (the business date)"})
    lines = fields.List(fields.Nested(OrderLineIn), required=True, validate=validate.Length(min=1, max=2000))


class PricedOrderOut(Schema):
    distributor = fields.String()
    date = fields.Date()
    lines = fields.List(fields.Nested(ResolutionOut))
    total = Price(metadata={"description": "sum of the line amounts"})


class MyPriceOut(Schema):
    product = fields.String()
    from_quantity = fields.Integer(metadata={"description": "in base units"})
    unit_price = Price()
    price_list = fields.String()
    rule = fields.String()
    effective_to = fields.Date(allow_none=True)


class MyPricesOut(Schema):
    date = fields.Date()
    items = fields.List(fields.Nested(MyPriceOut))


# -- helpers -------------------------------------------------------------------------------------------------------
def _page(stmt, args):
    total = db.session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    items = db.session.execute(stmt.limit(args["per_page"]).offset((args["page"] - 1) * args["per_page"])).scalars()
    return {"items": list(items), "page": args["page"], "per_page": args["per_page"], "total": total}


def _code(model, code, name):
    obj = db.session.execute(select(model).where(model.code == code)).scalar() if code else None
    if obj is None:
        raise svc.PricingError.on(name, _("Unknown code %(code)s.", code=code) if code else _("Required."))
    return obj


def _distributor(code):
    if not code and current_user.is_distributor:
        return current_user.distributor
    return _code(Distributor, code, "distributor")


def _resolution(distributor, product, resolution) -> dict:
    data = svc.explanation_data(resolution)
    data["text"] = svc.explain(resolution, product)
    return {"distributor": distributor.code, "product": product.code, "quantity": resolution.quantity,
            "date": resolution.on_date, "unit_price": resolution.unit_price, "amount": resolution.amount,
            "explanation": data}


# -- price lists ---------------------------------------------------------------------------------------------------
@blp.route("/price-lists")
class PriceLists(MethodView):
    @blp.arguments(PriceListArgs, location="query")
    @blp.response(200, PriceListPage)
    def get(self, args):
        """Price lists, filtered by kind or a search string, paginated."""
        _require(*READERS)
        return _page(svc.list_price_lists(args.get("kind"), args.get("q")), args)

    @blp.arguments(PriceListIn)
    @blp.response(201, PriceListOut)
    def post(self, data):
        """Create a price list (one active list per tier kind, per province's bid, per distributor)."""
        _require(*WRITERS)
        try:
            pl = svc.save_price_list(data)
        except svc.PricingError as exc:
            db.session.rollback()
            return _refused(exc)
        db.session.commit()
        return pl


@blp.route("/price-lists/<int:price_list_id>")
class PriceListItem(MethodView):
    @blp.response(200, PriceListOut)
    def get(self, price_list_id):
        """One price list."""
        _require(*READERS)
        return svc.get_price_list(price_list_id) or abort(404)

    @blp.arguments(PriceListPatch)
    @blp.response(200, PriceListOut)
    def patch(self, data, price_list_id):
        """Change name, note, active (kind, province and distributor only while the list has no items)."""
        _require(*WRITERS)
        pl = svc.get_price_list(price_list_id) or abort(404)
        try:
            svc.save_price_list(data, pl)
        except svc.PricingError as exc:
            db.session.rollback()
            return _refused(exc)
        db.session.commit()
        return pl


@blp.route("/price-lists/<int:price_list_id>/items")
class PriceListItems(MethodView):
    @blp.arguments(ItemArgs, location="query")
    @blp.response(200, PriceItemPage)
    def get(self, args, price_list_id):
        """The list's item versions (history included unless ``on`` is given), by product and break."""
        _require(*READERS)
        pl = svc.get_price_list(price_list_id) or abort(404)
        stmt = (select(PriceItem).join(PriceItem.product).where(PriceItem.price_list_id == pl.id)
                .order_by(Product.code, PriceItem.min_quantity, PriceItem.effective_from))
        if args.get("product"):
            stmt = stmt.where(Product.code == args["product"])
        if args.get("on"):
            day = args["on"]
            stmt = stmt.where(PriceItem.effective_from <= day,
                              (PriceItem.effective_to.is_(None)) | (PriceItem.effective_to >= day))
        return _page(stmt, args)

    @blp.arguments(PriceItemIn)
    @blp.response(201, PriceItemOut)
    def post(self, data, price_list_id):
        """Add an item (a quantity break of a product). 422 if it would tie with another item (both named), is
        below the floor, or a larger break would cost more than a smaller one."""
        _require(*WRITERS)
        pl = svc.get_price_list(price_list_id) or abort(404)
        try:
            product = _code(Product, data["product_code"], "product_code")
            item = svc.add_item(pl, product, data["min_quantity"], data["unit"], svc.parse_price(data["unit_price"]),
                                data["effective_from"], data.get("effective_to"), data.get("note"))
        except svc.PricingError as exc:
            db.session.rollback()
            return _refused(exc)
        db.session.commit()
        return item


@blp.route("/price-items/<int:item_id>/versions", methods=["POST"])
@blp.arguments(PriceChangeIn)
@blp.response(201, PriceItemOut)
def change_price_item(data, item_id):
    """Change a price: a new version from ``effective_from`` (today or later); the current one ends the day before."""
    _require(*WRITERS)
    item = svc.get_item(item_id) or abort(404)
    try:
        new = svc.change_item(item, svc.parse_price(data["unit_price"]), data["effective_from"],
                              data["effective_to"] if "effective_to" in data else ..., data.get("note"))
    except svc.PricingError as exc:
        db.session.rollback()
        return _refused(exc)
    db.session.commit()
    return new


@blp.route("/price-lists/<int:price_list_id>/import", methods=["POST"])
@blp.doc(requestBody={"content": {"multipart/form-data": {"schema": {
    "type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}}}})
def import_price_list(price_list_id):
    """Apply an .xlsx of items (the export's columns), all or nothing; 422 lists every row error."""
    from flask import request

    _require(*WRITERS)
    pl = svc.get_price_list(price_list_id) or abort(404)
    upload = request.files.get("file")
    if upload is None:
        return error_response(400, _("Send the Excel file in the multipart field “file”."))
    try:
        result = price_excel.import_items(pl, upload.stream)
    except ImportFailed as exc:
        db.session.rollback()
        details = [{"row": e.row, "column": e.column, "value": e.value, "message": e.message} for e in exc.errors]
        return error_response(422, _("Nothing was imported: %(n)d problems found.", n=len(details)), details)
    db.session.commit()
    return {"rows": result.rows, "added": result.added, "changed": result.changed, "ended": result.ended,
            "unchanged": result.unchanged}


# -- floors --------------------------------------------------------------------------------------------------------
@blp.route("/price-floors")
class PriceFloors(MethodView):
    @blp.arguments(FloorArgs, location="query")
    @blp.response(200, FloorPage)
    def get(self, args):
        """Floor price versions, by product."""
        _require(*READERS)
        return _page(svc.list_floors(args.get("product")), args)

    @blp.arguments(FloorIn)
    @blp.response(201, FloorOut)
    def post(self, data):
        """Set a product's floor from a date (a new version when one is in force then). 422 if any price item
        would be below it (named)."""
        _require(*WRITERS)
        try:
            product = _code(Product, data["product_code"], "product_code")
            floor = svc.set_floor(product, svc.parse_price(data["floor_price"], "floor_price"),
                                  data["effective_from"], data.get("effective_to"), data.get("note"))
        except svc.PricingError as exc:
            db.session.rollback()
            return _refused(exc)
        db.session.commit()
        return floor


# -- resolution ----------------------------------------------------------------------------------------------------
@blp.route("/prices/resolve")
@blp.arguments(ResolveArgs, location="query")
@blp.response(200, ResolutionOut)
def resolve(args):
    """The unit price of a product for a distributor, quantity and date, with why: the rule that won, the list,
    the item and version, the break (``unit_price`` null when no list prices it)."""
    _require(*READERS, "distributor")
    try:
        distributor = _distributor(args.get("distributor"))
        product = _code(Product, args["product"], "product")
        resolution = svc.resolve_price(distributor, product, args["quantity"], args.get("date") or clock.today(),
                                       args["unit"])
    except svc.PricingError as exc:
        return _refused(exc)
    return _resolution(distributor, product, resolution)


@blp.route("/prices/order", methods=["POST"])
@blp.arguments(OrderIn)
@blp.response(200, PricedOrderOut)
def price_order(data):
    """Price every line of an order in one database round trip; 422 naming the lines without a price."""
    _require(*READERS, "distributor")
    try:
        distributor = _distributor(data.get("distributor"))
        codes = {ln["product"] for ln in data["lines"]}
        products = {p.code: p for p in db.session.execute(select(Product).where(Product.code.in_(codes))).scalars()}
        missing = [i for i, ln in enumerate(data["lines"]) if ln["product"] not in products]
        if missing:
            message = _("Unknown code %(code)s.", code=data["lines"][missing[0]]["product"])
            raise svc.PricingError(message, {f"lines.{i}.product": [message] for i in missing})
        lines = [svc.OrderLine(products[ln["product"]], ln["quantity"], ln["unit"]) for ln in data["lines"]]
        priced = svc.price_order(distributor, lines, data.get("date") or clock.today())
    except svc.PricingError as exc:
        return _refused(exc)
    return {"distributor": distributor.code, "date": priced.on_date, "total": priced.total,
            "lines": [_resolution(distributor, pl.line.product, pl.resolution) for pl in priced.lines]}


@blp.route("/prices/mine")
@blp.response(200, MyPricesOut)
def my_prices():
    """A distributor's own prices today: per product, the resolved price at 1 base unit and at each break."""
    _require("distributor")
    today = clock.today()
    rows = svc.my_prices(current_user.distributor, today)
    return {"date": today, "items": [
        {"product": row.product.code, "from_quantity": q, "unit_price": r.unit_price, "price_list": r.item.list_name,
         "rule": r.rule.value, "effective_to": r.item.effective_to} for row in rows for q, r in row.breaks]}

