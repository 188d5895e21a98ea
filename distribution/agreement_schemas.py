"""marshmallow schemas of agreements: the input of a draft (API body and parsed form alike) and the API output."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.api_base import PageArgs, PageMeta
from distribution.models.agreements import AgreementStatus, RebateBasis

STATUSES = [s.value for s in AgreementStatus]


def _two_places(value: Decimal) -> None:
    if value.as_tuple().exponent < -2:
        raise ValidationError(_("At most 2 decimal places."))


def _money(**kw) -> fields.Decimal:
    return fields.Decimal(as_string=True, validate=[validate.Range(min=0, max=Decimal("999999999999.99")), _two_places],
                          **kw)


class TargetInSchema(Schema):
    quarter = fields.String(required=True, validate=validate.Regexp(r"^\s*\d{4}\s*[-_ /]?\s*[Qq]\s*[1-4]\s*$",
                                                                     error=_l("Use the form 2026Q1.")),
                            metadata={"example": "2026Q1"})
    product_code = fields.String(load_default=None, allow_none=True)
    product_line_code = fields.String(load_default=None, allow_none=True)
    amount = _money(required=True, metadata={"description": "purchase target, in yuan"})
    quantity = fields.Integer(required=True, validate=validate.Range(min=0, max=2_000_000_000),
                              metadata={"description": "purchase target in the product's base unit"})

    @validates_schema
    def _one_of(self, data, **kwargs):
        if bool(data.get("product_code")) == bool(data.get("product_line_code")):
            raise ValidationError(_("Give either a product code or a product line code."), "product_code")


class RebateTierInSchema(Schema):
    threshold_pct = fields.Decimal(as_string=True, required=True,
                                   validate=[validate.Range(min=0, min_inclusive=False, max=1000), _two_places],
                                   metadata={"description": "achievement (%) where the tier starts", "example": "90"})
    rate_pct = fields.Decimal(as_string=True, required=True, validate=validate.Range(min=0, max=100),
                              metadata={"description": "rebate (%) of the sell-in amount", "example": "1.5"})


class AgreementInSchema(Schema):
    """A draft agreement. Products, product lines, regions and terminals are given by their codes."""

    distributor_code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True)
    payment_terms_days = fields.Integer(required=True, validate=validate.Range(min=0, max=3650))
    proposed_credit_limit = _money(required=True)
    deposit = _money(load_default=Decimal("0.00"))
    rebate_basis = fields.String(load_default=RebateBasis.AMOUNT.value,
                                 validate=validate.OneOf([b.value for b in RebateBasis]))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    product_codes = fields.List(fields.String(validate=validate.Length(min=1, max=32)), load_default=list)
    product_line_codes = fields.List(fields.String(validate=validate.Length(min=1, max=32)), load_default=list)
    region_codes = fields.List(fields.String(validate=validate.Length(min=1, max=6)), load_default=list)
    terminal_codes = fields.List(fields.String(validate=validate.Length(min=1, max=32)), load_default=list)
    targets = fields.List(fields.Nested(TargetInSchema), load_default=list)
    rebate_tiers = fields.List(fields.Nested(RebateTierInSchema), load_default=list)


class ReasonSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class NoteSchema(Schema):
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class AgreementListArgsSchema(PageArgs):
    distributor = fields.String(metadata={"description": "distributor code"})
    status = fields.String(validate=validate.OneOf(STATUSES))
    year = fields.Integer(validate=validate.Range(min=2000, max=2100),
                          metadata={"description": "agreements whose period touches this calendar year"})


# -- output -------------------------------------------------------------------------------------------------------
class CodeNameSchema(Schema):
    code = fields.String()
    name = fields.String()


class TargetOutSchema(Schema):
    quarter = fields.String()
    product_code = fields.String(allow_none=True)
    product_line_code = fields.String(allow_none=True)
    amount = fields.Decimal(as_string=True)
    quantity = fields.Integer()


class RebateTierOutSchema(Schema):
    threshold_pct = fields.Decimal(as_string=True)
    rate_pct = fields.Decimal(as_string=True)


class EventOutSchema(Schema):
    at = fields.DateTime()
    actor = fields.String(allow_none=True)
    action = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    note = fields.String(allow_none=True)


class AgreementOutSchema(Schema):
    id = fields.Integer()
    number = fields.String()
    distributor = fields.Nested(CodeNameSchema)
    start_date = fields.Date()
    end_date = fields.Date()
    status = fields.String()
    payment_terms_days = fields.Integer()
    proposed_credit_limit = fields.Decimal(as_string=True)
    deposit = fields.Decimal(as_string=True)
    rebate_basis = fields.String()
    note = fields.String(allow_none=True)
    products = fields.List(fields.Nested(CodeNameSchema))
    product_lines = fields.List(fields.Nested(CodeNameSchema))
    regions = fields.List(fields.Nested(CodeNameSchema))
    terminals = fields.List(fields.Nested(CodeNameSchema))
    targets = fields.List(fields.Nested(TargetOutSchema))
    rebate_tiers = fields.List(fields.Nested(RebateTierOutSchema))
    created_at = fields.DateTime()
    submitted_by = fields.String(allow_none=True)
    submitted_at = fields.DateTime(allow_none=True)
    approved_by = fields.String(allow_none=True)
    approved_at = fields.DateTime(allow_none=True)
    terminated_by = fields.String(allow_none=True)
    terminated_at = fields.DateTime(allow_none=True)
    terminated_on = fields.Date(allow_none=True)
    termination_reason = fields.String(allow_none=True)
    expired_at = fields.DateTime(allow_none=True)
    events = fields.List(fields.Nested(EventOutSchema))


class AgreementSummarySchema(Schema):
    id = fields.Integer()
    number = fields.String()
    distributor = fields.Nested(CodeNameSchema)
    start_date = fields.Date()
    end_date = fields.Date()
    status = fields.String()


class AgreementPageSchema(PageMeta):
    items = fields.List(fields.Nested(AgreementSummarySchema))


class AchievementRowSchema(Schema):
    quarter = fields.String(allow_none=True, metadata={"description": "null on the total row"})
    target_amount = fields.Decimal(as_string=True)
    target_quantity = fields.Integer()
    sell_in_amount = fields.Decimal(as_string=True)
    sell_in_quantity = fields.Integer()
    amount_pct = fields.Decimal(as_string=True, allow_none=True)
    quantity_pct = fields.Decimal(as_string=True, allow_none=True)
    rebate_pct = fields.Decimal(as_string=True, allow_none=True)
    rebate_amount = fields.Decimal(as_string=True)


class AchievementSchema(Schema):
    agreement_id = fields.Integer()
    number = fields.String()
    basis = fields.String()
    sell_in_source = fields.String(metadata={"description": "where sell-in comes from; 'orders': shipped order lines"})
    rows = fields.List(fields.Nested(AchievementRowSchema))
    total = fields.Nested(AchievementRowSchema)
