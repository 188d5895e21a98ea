"""marshmallow schemas of the inventory API (they are the OpenAPI document too)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.api_base import PageArgs, PageMeta

STATUSES = ("released", "quarantined", "recalled")


class StockArgs(PageArgs):
    location = fields.String(metadata={"description": "location code"})
    distributor = fields.String(metadata={"description": "distributor code"})
    product = fields.String(metadata={"description": "product code"})
    product_line = fields.String(metadata={"description": "product line code"})
    lot = fields.String(metadata={"description": "lot number"})
    expires_before = fields.Date(metadata={"description": "lots expiring before this day"})
    status = fields.String(validate=validate.OneOf(STATUSES))
    sort = fields.String(validate=validate.OneOf(("product", "expiry", "location", "quantity")))


class StockRow(Schema):
    location_code = fields.String()
    location_name = fields.String()
    location_kind = fields.String()
    distributor_code = fields.String(allow_none=True)
    distributor_name = fields.String(allow_none=True)
    tier = fields.Integer(allow_none=True)
    product_code = fields.String()
    generic_name = fields.String()
    specification = fields.String()
    base_unit = fields.String()
    lot_id = fields.Integer()
    lot_no = fields.String()
    manufactured_on = fields.Date()
    expires_on = fields.Date()
    status = fields.String()
    quantity = fields.Integer()


class StockPage(PageMeta):
    items = fields.List(fields.Nested(StockRow))
    quantity = fields.Integer(metadata={"description": "total quantity of all matching rows"})


class LotArgs(PageArgs):
    product = fields.String(metadata={"description": "product code"})
    lot = fields.String(metadata={"description": "lot number (part of it)"})
    status = fields.String(validate=validate.OneOf(STATUSES))
    expires_before = fields.Date()


class LotOut(Schema):
    id = fields.Integer()
    product_code = fields.String()
    generic_name = fields.String()
    specification = fields.String()
    lot_no = fields.String()
    manufactured_on = fields.Date()
    expires_on = fields.Date()
    status = fields.String()
    status_reason = fields.String(allow_none=True)
    on_hand = fields.Integer(metadata={"description": "at the locations the caller may see"})


class LotPage(PageMeta):
    items = fields.List(fields.Nested(LotOut))


class LotIn(Schema):
    product_code = fields.String(required=True)
    lot_no = fields.String(required=True, validate=validate.Length(min=1, max=40))
    manufactured_on = fields.Date(required=True)
    expires_on = fields.Date(required=True)


class BalanceOut(Schema):
    location_code = fields.String()
    location_name = fields.String()
    location_kind = fields.String()
    distributor_code = fields.String(allow_none=True)
    distributor_name = fields.String(allow_none=True)
    tier = fields.Integer(allow_none=True)
    province = fields.String(allow_none=True)
    quantity = fields.Integer()


class LotDetail(LotOut):
    balances = fields.List(fields.Nested(BalanceOut))


class MovementOut(Schema):
    id = fields.Integer()
    business_date = fields.Date()
    kind = fields.String()
    quantity = fields.Integer()
    from_code = fields.String(allow_none=True, metadata={"description": "from location code"})
    from_distributor_code = fields.String(allow_none=True)
    to_code = fields.String(allow_none=True, metadata={"description": "to location code"})
    to_distributor_code = fields.String(allow_none=True)
    terminal_code = fields.String(allow_none=True)
    terminal_name = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    actor = fields.String()


class MovementPage(PageMeta):
    items = fields.List(fields.Nested(MovementOut))


class MovementIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(("receipt", "adjustment", "write_off")))
    product_code = fields.String(required=True)
    lot_no = fields.String(required=True)
    manufactured_on = fields.Date(metadata={"description": "a receipt of a new lot"})
    expires_on = fields.Date(metadata={"description": "a receipt of a new lot"})
    quantity = fields.Integer(required=True, strict=True)
    from_location = fields.String(metadata={"description": "location code"})
    to_location = fields.String(metadata={"description": "location code"})
    business_date = fields.Date()
    reference = fields.String(validate=validate.Length(max=80))
    note = fields.String()


class StatusIn(Schema):
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class AllocateIn(Schema):
    product_code = fields.String(required=True)
    quantity = fields.Integer(required=True, strict=True)
    location_code = fields.String(required=True, metadata={"description": "the location shipped from"})
    destination_tier = fields.Integer(required=True, validate=validate.OneOf((1, 2)))
    on_date = fields.Date(metadata={"description": "ship date (default: today)"})


class PickOut(Schema):
    lot_id = fields.Integer()
    lot_no = fields.String()
    expires_on = fields.Date()
    quantity = fields.Integer()


class SkipOut(Schema):
    lot_id = fields.Integer()
    lot_no = fields.String()
    reason = fields.String(metadata={"description": "recalled | quarantined | expired | short_shelf_life | no_stock"})
    remaining_days = fields.Integer()


class AllocationOut(Schema):
    requested = fields.Integer()
    allocated = fields.Integer()
    short = fields.Integer()
    min_remaining_days = fields.Integer()
    picks = fields.List(fields.Nested(PickOut))
    skipped = fields.List(fields.Nested(SkipOut))


class ChannelArgs(Schema):
    level = fields.String(load_default="product", validate=validate.OneOf(("product", "lot")))
    distributor = fields.String()
    tier = fields.Integer(validate=validate.OneOf((1, 2)))
    province = fields.String(metadata={"description": "6-digit province code"})
    product = fields.String()
    product_line = fields.String()


class ChannelRow(Schema):
    distributor_code = fields.String()
    distributor_name = fields.String()
    tier = fields.Integer(allow_none=True)
    province = fields.String(allow_none=True)
    product_code = fields.String()
    product_name = fields.String()
    lot_no = fields.String(metadata={"description": "level=lot only"})
    expires_on = fields.Date(metadata={"description": "level=lot only"})
    computed = fields.Integer(metadata={"description": "stock computed from the ledger"})
    reported = fields.Integer(allow_none=True, metadata={"description": "stock the distributor reported (null: none)"})
    difference = fields.Integer(allow_none=True, metadata={"description": "computed − reported"})
    sold_in_window = fields.Integer(metadata={"description": "level=product: outflow in the window"})
    days_of_inventory = fields.Decimal(as_string=True, allow_none=True,
                                       metadata={"description": "null: no outflow in the window"})
    flag = fields.String(allow_none=True, metadata={"description": "under | ok | over"})


class ChannelOut(Schema):
    as_of = fields.Date()
    window_days = fields.Integer()
    level = fields.String()
    items = fields.List(fields.Nested(ChannelRow))


class NearExpiryArgs(Schema):
    window = fields.Integer(validate=validate.Range(min=1, max=3650))
    tier = fields.Integer(validate=validate.OneOf((0, 1, 2)), metadata={"description": "0 = manufacturer"})
    province = fields.String()
    distributor = fields.String()
    product = fields.String()


class GroupOut(Schema):
    key = fields.Raw(allow_none=True)
    label = fields.String()
    quantity = fields.Integer()
    value = fields.Decimal(as_string=True, allow_none=True, metadata={"description": "null: no price source yet"})
    lots = fields.Integer()


class NearExpiryLine(Schema):
    lot_id = fields.Integer()
    lot_no = fields.String()
    product_code = fields.String()
    expires_on = fields.Date()
    days_left = fields.Integer()
    status = fields.String()
    tier = fields.Integer()
    province_code = fields.String(allow_none=True)
    distributor_code = fields.String(allow_none=True)
    location_code = fields.String()
    quantity = fields.Integer()
    value = fields.Decimal(as_string=True, allow_none=True)


class NearExpiryOut(Schema):
    as_of = fields.Date()
    window = fields.Integer()
    total_quantity = fields.Integer()
    total_value = fields.Decimal(as_string=True, allow_none=True)
    by_tier = fields.List(fields.Nested(GroupOut))
    by_province = fields.List(fields.Nested(GroupOut))
    by_distributor = fields.List(fields.Nested(GroupOut))
    lines = fields.List(fields.Nested(NearExpiryLine))


class ReachOut(Schema):
    code = fields.String()
    name = fields.String()
    tier = fields.Integer()
    province = fields.String(allow_none=True)
    parts = fields.Dict(keys=fields.String(), values=fields.Integer())
    on_hand = fields.Integer()
    first_date = fields.Date(allow_none=True)
    last_date = fields.Date(allow_none=True)


class TerminalReach(Schema):
    code = fields.String()
    name = fields.String()
    region = fields.String(allow_none=True)
    distributor_code = fields.String(allow_none=True)
    quantity = fields.Integer()
    first_date = fields.Date()
    last_date = fields.Date()


class TraceOut(Schema):
    lot = fields.Nested(LotOut)
    as_of = fields.Date()
    on_hand = fields.Integer()
    holdings = fields.List(fields.Nested(BalanceOut))
    distributors = fields.List(fields.Nested(ReachOut))
    terminals = fields.List(fields.Nested(TerminalReach))
    movements = fields.List(fields.Nested(MovementOut))
