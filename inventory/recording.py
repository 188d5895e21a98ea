"""Manual stock movements by manufacturer staff (form and API): receipts from production, stock-count adjustments,
write-offs. Codes in, one lot registration (receipts of a new lot) and one movement out, or an error naming the
field; nothing is written on any error. Shipments, transfers, sell-outs and returns come from orders, channel data
and returns (later issues), not from here.
"""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from app.extensions import db
from app.models import Product, StockLocation
from inventory import services
from inventory.models import Lot, MovementKind, StockMovement

MANUAL_KINDS = (MovementKind.RECEIPT.value, MovementKind.ADJUSTMENT.value, MovementKind.WRITE_OFF.value)


class MovementInputError(services.InventoryError):
    """Bad input for a manual movement; ``errors`` maps field → messages. Nothing was written."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(m for msgs in errors.values() for m in msgs))
        self.errors = errors


def _date(value, name: str, errors: dict) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        errors.setdefault(name, []).append(_("Not a valid date (use YYYY-MM-DD)."))
        return None


def _quantity(value, errors: dict) -> int | None:
    if isinstance(value, str):
        value = value.strip()
        if value.lstrip("-").isdigit():
            value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        errors.setdefault("quantity", []).append(_("The quantity must be a positive whole number of base units."))
        return None
    return value


def _location(code, name: str, errors: dict) -> StockLocation | None:
    code = (code or "").strip() if isinstance(code, str) else code
    if not code:
        return None
    loc = db.session.execute(select(StockLocation).where(StockLocation.code == code)).scalar_one_or_none()
    if loc is None:
        errors.setdefault(name, []).append(_("Unknown code %(code)s.", code=code))
    return loc


def record_movement(data: dict) -> StockMovement:
    """Post one manual movement from plain values: kind (receipt | adjustment | write_off), product_code, lot_no,
    manufactured_on and expires_on (a receipt of a new lot), from_location / to_location codes, quantity,
    business_date, reference, note. Raises MovementInputError (per field) or InventoryError, writing nothing."""
    errors: dict[str, list[str]] = {}
    kind = (data.get("kind") or "").strip()
    if kind not in MANUAL_KINDS:
        errors.setdefault("kind", []).append(_("Must be one of: %(choices)s.", choices=", ".join(MANUAL_KINDS)))
    quantity = _quantity(data.get("quantity"), errors)
    manufactured_on = _date(data.get("manufactured_on"), "manufactured_on", errors)
    expires_on = _date(data.get("expires_on"), "expires_on", errors)
    on_date = _date(data.get("business_date"), "business_date", errors)
    src = _location(data.get("from_location"), "from_location", errors)
    dst = _location(data.get("to_location"), "to_location", errors)
    product_code = (data.get("product_code") or "").strip()
    lot_no = (data.get("lot_no") or "").strip()
    product = None
    if not product_code:
        errors.setdefault("product_code", []).append(_("Required."))
    else:
        product = db.session.execute(select(Product).where(Product.code == product_code)).scalar_one_or_none()
        if product is None:
            errors.setdefault("product_code", []).append(_("Unknown code %(code)s.", code=product_code))
    if not lot_no:
        errors.setdefault("lot_no", []).append(_("Required."))
    if errors:
        raise MovementInputError(errors)
    savepoint = db.session.begin_nested()
    try:
        lot = db.session.execute(select(Lot).where(Lot.product_id == product.id, Lot.lot_no == lot_no)
                                 ).scalar_one_or_none()
        if manufactured_on or expires_on or lot is None:
            if not (manufactured_on and expires_on):
                raise MovementInputError({"expires_on": [_(
                    "Lot %(lot)s is new: give its manufacture and expiry dates.", lot=lot_no)]})
            lot = services.register_lot(product, lot_no, manufactured_on, expires_on)
        movement = services.post_movement(kind, lot, quantity, from_location=src, to_location=dst, on_date=on_date,
                                          reference=(data.get("reference") or "").strip() or None,
                                          note=(data.get("note") or "").strip() or None)
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    return movement
