"""The verbs of price lists: save lists, add and change items (versions), floors, resolve prices, price an order.
Excel import and export live in :mod:`distribution.price_excel`.

Services add and flush, never commit (the view / API / CLI commits). A refused change raises :class:`PricingError`
(or a subclass) whose message is in the user's language; ``errors`` maps a field to its messages when one field
is to blame. Every write takes a row lock first (``SELECT … FOR UPDATE`` on the price list and ``FOR SHARE`` on the
product for items, ``FOR UPDATE`` on the product for floors), so two concurrent saves cannot both pass a check; on
PostgreSQL exclusion constraints back the "no two items tie" and "no two floors overlap" rules as well. The rule
itself lives in the pure module :mod:`distribution.pricing`.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from sqlalchemy import (
    Date,
    Integer,
    String,
    and_,
    bindparam,
    case,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.exc import IntegrityError

from app import clock, tenancy
from app.extensions import db
from app.i18n import bound_gettext
from app.masterdata.resource import Field, normalise_cell
from app.models import Distributor, Product, Region
from app.statements import in_ids
from distribution import pricing
from distribution.models.pricing import PriceFloor, PriceItem, PriceList, PriceListKind, QuantityUnit

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
CASE_WORDS = {"件", "箱", "case", "cases", "ctn", QuantityUnit.CASE.value}
BASE_WORDS = {"base", "基本单位", QuantityUnit.BASE.value}


# -- errors --------------------------------------------------------------------------------------------------------
class PricingError(Exception):
    """A pricing rule refused the request. ``message`` is in the user's language; ``errors`` maps fields to
    messages when the problem belongs to a field (forms show them beside it, the API lists them as details)."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None, item_ids: Sequence[int] = ()):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        self.item_ids = tuple(item_ids)  # the items to blame, when there are

    @classmethod
    def on(cls, name: str, message: str, item_ids: Sequence[int] = ()) -> PricingError:
        return cls(message, {name: [message]}, item_ids)


class PriceConflict(PricingError):
    """Two items (or floors) would tie: same list, product and minimum quantity with overlapping dates."""


class BelowFloor(PricingError):
    """A price below the product's floor price, or a floor above existing prices."""


class NoPrice(PricingError):
    """An order line has no price for its distributor on the date."""

    def __init__(self, message: str, lines: list[int]):
        super().__init__(message)
        self.lines = lines


# -- labels ----------------------------------------------------------------------------------------------------------
def kind_choices() -> list[tuple[str, str]]:
    return [
        (PriceListKind.TIER1_SUPPLY.value, _("Tier-1 supply price")),
        (PriceListKind.TIER2_SUPPLY.value, _("Tier-2 supply price")),
        (PriceListKind.RETAIL_GUIDE.value, _("Retail guide price")),
        (PriceListKind.PROVINCIAL_BID.value, _("Provincial bid price")),
        (PriceListKind.DISTRIBUTOR_SPECIFIC.value, _("Distributor-specific price")),
    ]


def kind_label(kind: str) -> str:
    return dict(kind_choices()).get(kind, kind)


def rule_label(rule: pricing.Rule | str | None, _=_) -> str:
    if rule == pricing.Rule.DISTRIBUTOR_SPECIFIC:
        return _("distributor-specific price")
    if rule == pricing.Rule.PROVINCIAL_BID:
        return _("provincial bid price")
    if rule == pricing.Rule.TIER_LIST:
        return _("tier supply price list")
    return ""


def quantity_label(product: Product, quantity: int, unit: str, _=_) -> str:
    if unit == QuantityUnit.CASE.value:
        return _("%(n)d cases (= %(base)d %(unit)s)", n=quantity, base=quantity * product.pack_size,
                 unit=product.base_unit)
    return f"{quantity} {product.base_unit}"


def _window(start: date, end: date | None, _=_) -> str:
    return f"{start.isoformat()} ~ {end.isoformat() if end else _('open-ended')}"


def describe_item(item: PriceItem, row: int | None = None) -> str:
    """An item as people name it: id and version, product, break, window and price."""
    who = _("row %(row)d", row=row) if row is not None else (f"#{item.id} v{item.version}" if item.id else _("new"))
    return _("item %(who)s (%(product)s, from %(qty)s, %(window)s, %(price)s)", who=who, product=item.product.code,
             qty=quantity_label(item.product, item.entered_quantity, item.entered_unit),
             window=_window(item.effective_from, item.effective_to), price=item.unit_price)


def describe_floor(floor: PriceFloor) -> str:
    who = f"#{floor.id} v{floor.version}" if floor.id else _("new")
    return _("floor %(who)s (%(product)s, %(window)s, %(price)s)", who=who, product=floor.product.code,
             window=_window(floor.effective_from, floor.effective_to), price=floor.floor_price)


# -- parsing plain input ---------------------------------------------------------------------------------------------
def parse_price(value, name: str = "unit_price") -> Decimal:
    """A unit price from a form, JSON or an Excel cell: Decimal, > 0, rounded to 4 places ROUND_HALF_UP."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise PricingError.on(name, _("Required."))
    try:
        if isinstance(value, float):
            value = repr(value)  # an Excel number: its shortest exact decimal text, never binary noise
        number = Decimal(str(value).strip().replace(",", "").lstrip("¥￥"))
    except (InvalidOperation, ValueError):
        raise PricingError.on(name, _("Not a valid price.")) from None
    if not number.is_finite() or number <= 0:
        raise PricingError.on(name, _("The price must be greater than 0."))
    if number >= Decimal("1e10"):
        raise PricingError.on(name, _("The price is too large."))
    return pricing.quantize_price(number)


def parse_quantity(value, name: str = "min_quantity") -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise PricingError.on(name, _("Required."))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise PricingError.on(name, _("Not a whole number."))
    if value < 1 or value > 10_000_000:
        raise PricingError.on(name, _("Must be between %(a)s and %(b)s.", a=1, b=10_000_000))
    return value


def parse_date(value, name: str, required: bool = True) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = normalise_cell(Field(name, name, (name,), kind="date"), value)
    if text is None:
        if required:
            raise PricingError.on(name, _("Required."))
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PricingError.on(name, _("Not a valid date (use YYYY-MM-DD).")) from None


def parse_unit(value, product: Product, name: str = "unit") -> str:
    """``base`` or ``case`` from what people type: the product's base unit (盒, 支 ...), 件 / 箱 / case, or blank
    (base)."""
    text = "" if value is None else str(value).strip()
    if text == "" or text == product.base_unit or text.lower() in BASE_WORDS:
        return QuantityUnit.BASE.value
    if text.lower() in CASE_WORDS:
        return QuantityUnit.CASE.value
    raise PricingError.on(name, _("Unknown unit “%(unit)s”: use %(base)s or 件 (case).", unit=text,
                                  base=product.base_unit))


# -- price lists -----------------------------------------------------------------------------------------------------
def get_price_list(price_list_id: int) -> PriceList | None:
    """The list if the acting user may see it (tenant scoping applies), else None."""
    return db.session.execute(select(PriceList).where(PriceList.id == price_list_id)).scalar_one_or_none()


def list_price_lists(kind: str | None = None, q: str | None = None, include_inactive: bool = True):
    stmt = select(PriceList).order_by(PriceList.kind, PriceList.code)
    if kind:
        stmt = stmt.where(PriceList.kind == kind)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(PriceList.code.ilike(like), PriceList.name.ilike(like)))
    if not include_inactive:
        stmt = stmt.where(PriceList.active)
    return stmt


def save_price_list(data: dict, price_list: PriceList | None = None) -> PriceList:
    """Create or update a price list from plain values (code, name, kind, province_code, distributor_code, active,
    note). Kind, province and distributor are fixed once the list has items. Flushes; raises PricingError with
    field errors (including "another active list already holds this slot", naming it)."""
    import re

    errors: dict[str, list[str]] = {}
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in data.items()}
    creating = price_list is None
    merged = {
        "code": values.get("code", None if creating else price_list.code),
        "name": values.get("name", None if creating else price_list.name),
        "kind": values.get("kind", None if creating else price_list.kind),
        "active": values.get("active", True if creating else price_list.active),
        "note": values.get("note", None if creating else price_list.note),
    }
    code, name, kind = merged["code"], merged["name"], merged["kind"]
    if not code:
        errors["code"] = [_("Required.")]
    elif len(code) > 32 or not re.fullmatch(CODE_PATTERN, code):
        errors["code"] = [_("Letters, digits, '-', '_' or '.', starting with a letter or digit.")]
    if not name:
        errors["name"] = [_("Required.")]
    elif len(name) > 200:
        errors["name"] = [_("Longer than %(n)s characters.", n=200)]
    if kind not in {k.value for k in PriceListKind}:
        errors["kind"] = [_("Must be one of: %(choices)s.", choices=", ".join(k.value for k in PriceListKind))]
    province = distributor = None
    if "province_code" in values or creating:
        province_code = values.get("province_code") or None
    else:
        province_code = price_list.province.code if price_list.province else None
    if "distributor_code" in values or creating:
        distributor_code = values.get("distributor_code") or None
    else:
        distributor_code = price_list.distributor.code if price_list.distributor else None
    if kind == PriceListKind.PROVINCIAL_BID.value:
        if not province_code:
            errors["province_code"] = [_("A provincial bid list needs its province.")]
        else:
            province = db.session.execute(select(Region).where(Region.code == str(province_code))).scalar()
            if province is None or province.level != 1:
                errors["province_code"] = [_("%(code)s is not a province code.", code=province_code)]
    elif province_code:
        errors["province_code"] = [_("Only a provincial bid list has a province.")]
    if kind == PriceListKind.DISTRIBUTOR_SPECIFIC.value:
        if not distributor_code:
            errors["distributor_code"] = [_("A distributor-specific list needs its distributor.")]
        else:
            distributor = db.session.execute(
                select(Distributor).where(Distributor.code == str(distributor_code))).scalar()
            if distributor is None:
                errors["distributor_code"] = [_("Unknown code %(code)s.", code=distributor_code)]
    elif distributor_code:
        errors["distributor_code"] = [_("Only a distributor-specific list has a distributor.")]
    if code and "code" not in errors:
        other = db.session.execute(select(PriceList.id).where(PriceList.code == code)).scalar()
        if other is not None and (creating or other != price_list.id):
            errors["code"] = [_("%(value)s is already used.", value=code)]
    if not creating and _has_items(price_list) and (
            kind != price_list.kind or (province.id if province else None) != price_list.province_id
            or (distributor.id if distributor else None) != price_list.distributor_id):
        errors.setdefault("kind", []).append(
            _("The kind, province and distributor of a list with items cannot change; create a new list."))
    if not errors and merged["active"]:
        clash = _active_slot_holder(kind, province, distributor, None if creating else price_list.id)
        if clash is not None:
            errors["active"] = [_("Another active list already applies here: %(code)s %(name)s. Deactivate it first.",
                                  code=clash.code, name=clash.name)]
    if errors:
        raise PricingError(_("The price list was not saved: %(n)d problems.", n=sum(map(len, errors.values()))),
                           errors)
    if creating:
        price_list = PriceList()
        db.session.add(price_list)
    price_list.code, price_list.name, price_list.kind = code, name, kind
    price_list.province, price_list.distributor = province, distributor
    price_list.active, price_list.note = bool(merged["active"]), merged["note"] or None
    try:
        db.session.flush()
    except IntegrityError as exc:  # a concurrent save took the slot or the code first
        raise PricingError(_("The price list conflicts with another one saved at the same time; try again.")) from exc
    return price_list


def _has_items(price_list: PriceList) -> bool:
    return db.session.execute(select(PriceItem.id).where(PriceItem.price_list_id == price_list.id).limit(1)
                              ).first() is not None


def _active_slot_holder(kind, province, distributor, exclude_id) -> PriceList | None:
    stmt = select(PriceList).where(PriceList.active, PriceList.kind == kind)
    if kind == PriceListKind.PROVINCIAL_BID.value:
        stmt = stmt.where(PriceList.province_id == province.id)
    elif kind == PriceListKind.DISTRIBUTOR_SPECIFIC.value:
        stmt = stmt.where(PriceList.distributor_id == distributor.id)
    if exclude_id is not None:
        stmt = stmt.where(PriceList.id != exclude_id)
    return db.session.execute(stmt.limit(1)).scalar()


# -- items: add, change (a new version), end -------------------------------------------------------------------------
def _lock_list(price_list: PriceList) -> None:
    db.session.execute(select(PriceList.id).where(PriceList.id == price_list.id).with_for_update())


def _lock_product(product: Product, exclusive: bool = False) -> None:
    db.session.execute(select(Product.id).where(Product.id == product.id).with_for_update(read=not exclusive))


def _not_before_today(day: date, name: str) -> None:
    if day < clock.today():
        raise PricingError.on(name, _("A change cannot take effect before today (%(today)s): the past is not "
                                      "rewritten.", today=clock.today().isoformat()))


def add_item(price_list: PriceList, product: Product, min_quantity: int, unit: str, unit_price: Decimal,
             effective_from: date, effective_to: date | None = None, note: str | None = None,
             labels: dict[int, int] | None = None, check: bool = True) -> PriceItem:
    """Add a quantity break of ``product`` to ``price_list`` (``min_quantity`` in ``unit``: base or case, stored in
    base units). Raises PriceConflict when an item of the same list, product and minimum quantity overlaps its
    dates (naming both), BelowFloor under the floor price, PricingError for bad values or a break that would cost
    more than a smaller one. Nothing is written when it raises. Flushes."""
    _lock_list(price_list)
    _lock_product(product)
    _check_window(effective_from, effective_to)
    item = PriceItem(price_list=price_list, product=product, entered_quantity=min_quantity, entered_unit=unit,
                     unit_price=unit_price, effective_from=effective_from, effective_to=effective_to,
                     note=note or None, min_quantity=_base_min(product, min_quantity, unit))
    with db.session.no_autoflush:
        siblings = item_versions(price_list, product)
        _check_ties(item, siblings, labels)
        if check:
            check_item_rules(product, [*siblings, item], [item], labels)
        item.version = 1 + max((s.version for s in siblings if s.min_quantity == item.min_quantity), default=0)
    db.session.add(item)
    _flush_item(item)
    return item


def change_item(item: PriceItem, unit_price: Decimal, effective_from: date, effective_to: date | None = ...,
                note: str | None = None, labels: dict[int, int] | None = None, check: bool = True) -> PriceItem:
    """Change a price: a NEW version of ``item`` effective from ``effective_from`` (today or later, after the
    version's own start, inside its window); ``item`` is closed the day before. The new version keeps the old end
    unless ``effective_to`` is given. Returns the new version. Raises PricingError / PriceConflict / BelowFloor;
    nothing is written when it raises."""
    price_list, product = item.price_list, item.product
    _lock_list(price_list)
    _lock_product(product)
    db.session.refresh(item)
    old_to = item.effective_to
    new_to = old_to if effective_to is ... else effective_to
    if effective_from <= item.effective_from:
        raise PricingError.on("effective_from", _(
            "A new version must start after the current one (%(day)s); to replace the item before it starts, end "
            "it and add a new one.", day=item.effective_from.isoformat()))
    if old_to is not None and effective_from > old_to:
        raise PricingError.on("effective_from", _(
            "This version ended on %(day)s; add a new item for dates after it.", day=old_to.isoformat()))
    _not_before_today(effective_from, "effective_from")
    _check_window(effective_from, new_to)
    if unit_price == item.unit_price and new_to == old_to:
        raise PricingError.on("unit_price", _("The new version has the same price and dates as the current one."))
    new = PriceItem(price_list=price_list, product=product, min_quantity=item.min_quantity,
                    entered_quantity=item.entered_quantity, entered_unit=item.entered_unit, unit_price=unit_price,
                    effective_from=effective_from, effective_to=new_to, previous=item, note=note or None)
    with db.session.no_autoflush:
        siblings = item_versions(price_list, product)
        item.effective_to = effective_from - timedelta(days=1)  # in memory only, until every check has passed
        try:
            _check_ties(new, siblings, labels)
            if check:
                check_item_rules(product, [*siblings, new], [new], labels)
        except PricingError:
            item.effective_to = old_to
            raise
        new.version = 1 + max((s.version for s in siblings if s.min_quantity == item.min_quantity), default=0)
    _flush_item(item)  # close the current version first: the database never sees the two overlap
    db.session.add(new)
    _flush_item(new)
    return new


def end_item(item: PriceItem, last_day: date | None, labels: dict[int, int] | None = None,
             check: bool = True) -> PriceItem:
    """Set the last day a version applies (None: open-ended again). Only days from today on may change.
    Raises PricingError / PriceConflict (reopening into a later version); nothing is written when it raises."""
    _lock_list(item.price_list)
    _lock_product(item.product)
    db.session.refresh(item)
    old = item.effective_to
    if last_day == old:
        return item
    if last_day is not None and last_day < item.effective_from:
        raise PricingError.on("effective_to", _("The end date cannot be before the start date."))
    earliest = min(d for d in (old, last_day) if d is not None) + timedelta(days=1)
    _not_before_today(earliest, "effective_to")
    with db.session.no_autoflush:
        siblings = item_versions(item.price_list, item.product)
        item.effective_to = last_day
        try:
            _check_ties(item, siblings, labels)
            if check:
                check_item_rules(item.product, siblings, [item], labels)
        except PricingError:
            item.effective_to = old
            raise
    _flush_item(item)
    return item


def _base_min(product: Product, quantity: int, unit: str) -> int:
    if unit not in (QuantityUnit.BASE.value, QuantityUnit.CASE.value):
        raise PricingError.on("unit", _("Unknown unit “%(unit)s”: use %(base)s or 件 (case).", unit=unit,
                                        base=product.base_unit))
    return pricing.to_base_units(quantity, unit, product.pack_size)


def _check_window(start: date, end: date | None) -> None:
    if end is not None and end < start:
        raise PricingError.on("effective_to", _("The end date cannot be before the start date."))


def item_versions(price_list: PriceList, product: Product) -> list[PriceItem]:
    """Every version of every break of ``product`` in ``price_list``."""
    return list(db.session.execute(
        select(PriceItem).where(PriceItem.price_list_id == price_list.id, PriceItem.product_id == product.id)
    ).scalars())


def _windows(items: Sequence[PriceItem]) -> list[pricing.Window]:
    """Items as plain windows; the id is the position in ``items`` (new items have no database id yet)."""
    return [pricing.Window(i, it.min_quantity, it.unit_price, it.effective_from, it.effective_to)
            for i, it in enumerate(items)]


def _check_ties(item: PriceItem, siblings: Sequence[PriceItem], labels: dict[int, int] | None) -> None:
    others = [s for s in siblings if s is not item]
    everything = [item, *others]
    windows = _windows(everything)
    clash = pricing.ties(windows[0], windows[1:])
    if clash:
        other = everything[clash[0].id]
        labels = labels or {}
        raise PriceConflict(_(
            "Two items would tie: %(a)s and %(b)s have the same list, product and minimum quantity with "
            "overlapping dates. Change one of them (a price change is a new version from a later date).",
            a=describe_item(item, labels.get(item.id)), b=describe_item(other, labels.get(other.id))),
            item_ids=[i for i in (item.id, other.id) if i])


def _flush_item(item: PriceItem) -> None:
    try:
        db.session.flush()
    except IntegrityError as exc:  # the database's own rules: exclusion / unique constraints
        raise PriceConflict(_("Two items would tie: %(a)s overlaps another item of the same list, product and "
                              "minimum quantity.", a=describe_item(item))) from exc


def check_item_rules(product: Product, items: Sequence[PriceItem], changed: Sequence[PriceItem],
                     labels: dict[int, int] | None = None) -> None:
    """``items`` are all versions of one list and product as they would be (in memory); of those, ``changed`` may
    not be below a floor of the product on any day of their window, nor a larger break cost more than a smaller
    one on a shared day. Raises BelowFloor / PricingError naming the items."""
    labels = labels or {}
    items = list(dict.fromkeys(items))
    windows = _windows(items)
    changed_pos = {i for i, it in enumerate(items) if any(it is c for c in changed)}
    floors = _floors_of(product)
    for window, floor in pricing.below_floor([windows[i] for i in sorted(changed_pos)],
                                             [_floor_value(f) for f in floors]):
        item = items[window.id]
        row_floor = next(f for f in floors if f.id == floor.floor_id)
        raise BelowFloor.on("unit_price", _(
            "The price of %(item)s is below the floor price: %(floor)s.",
            item=describe_item(item, labels.get(item.id)), floor=describe_floor(row_floor)), [item.id])
    for low, high in pricing.break_order_violations(windows):
        if low.id in changed_pos or high.id in changed_pos:
            a, b = items[low.id], items[high.id]
            raise PricingError.on("unit_price", _(
                "A larger quantity may not cost more: %(high)s is priced above %(low)s on shared dates.",
                high=describe_item(b, labels.get(b.id)), low=describe_item(a, labels.get(a.id))),
                [it.id for it in (b, a) if it.id and any(it is c for c in changed)])


# -- floors ----------------------------------------------------------------------------------------------------------
def _floors_of(product: Product) -> list[PriceFloor]:
    return list(db.session.execute(select(PriceFloor).where(PriceFloor.product_id == product.id)
                                   .order_by(PriceFloor.effective_from)).scalars())


def _floor_value(f: PriceFloor) -> pricing.Floor:
    return pricing.Floor(f.id, f.version, f.product_id, f.floor_price, f.effective_from, f.effective_to)


def list_floors(product_code: str | None = None):
    stmt = select(PriceFloor).join(PriceFloor.product).order_by(Product.code, PriceFloor.effective_from.desc())
    if product_code:
        stmt = stmt.where(Product.code == product_code)
    return stmt


def set_floor(product: Product, floor_price: Decimal, effective_from: date, effective_to: date | None = None,
              note: str | None = None) -> PriceFloor:
    """Set the floor price of ``product`` from ``effective_from``. If a floor version covers that day it is closed
    the day before and a new version starts (a change may not take effect before today). Refused (BelowFloor) if
    any price item of any list would then be below the floor, naming them; PriceConflict if it overlaps a later
    floor version. Flushes."""
    _lock_product(product, exclusive=True)
    floors = _floors_of(product)
    _check_window(effective_from, effective_to)
    current = next((f for f in floors if f.effective_on(effective_from)), None)
    if current is not None and current.effective_from == effective_from:
        raise PricingError.on("effective_from", _(
            "A floor version already starts on %(day)s (%(floor)s); a change starts on a later date.",
            day=effective_from.isoformat(), floor=describe_floor(current)))
    new_to = current.effective_to if current is not None and effective_to is None else effective_to
    if current is not None:
        _not_before_today(effective_from, "effective_from")
    floor = PriceFloor(product=product, floor_price=floor_price, effective_from=effective_from, effective_to=new_to,
                       note=note or None, previous=current, version=1 + max((f.version for f in floors), default=0))
    clash = [f for f in floors if f is not current and pricing.windows_overlap(
        f.effective_from, f.effective_to, floor.effective_from, floor.effective_to)]
    if clash:
        raise PriceConflict.on("effective_from", _("Two floors would overlap: %(a)s and %(b)s.",
                                                   a=describe_floor(floor), b=describe_floor(clash[0])))
    with db.session.no_autoflush:
        items = list(db.session.execute(
            select(PriceItem).where(PriceItem.product_id == product.id, PriceItem.unit_price < floor.floor_price)
        ).scalars())
    below = [i for i in items if pricing.windows_overlap(i.effective_from, i.effective_to, floor.effective_from,
                                                          floor.effective_to)]
    if below:
        names = "; ".join(f"{i.price_list.code} {describe_item(i)}" for i in below[:5])
        raise BelowFloor.on("floor_price", _(
            "%(n)d price items would be below this floor: %(items)s. Change them first.", n=len(below), items=names))
    if current is not None:
        current.effective_to = effective_from - timedelta(days=1)
        db.session.flush()  # close the current version first: the database never sees the two overlap
    db.session.add(floor)
    try:
        db.session.flush()
    except IntegrityError as exc:
        raise PriceConflict(_("Two floors would overlap: %(a)s overlaps another floor of the product.",
                              a=describe_floor(floor))) from exc
    return floor


# -- reading a list's items ------------------------------------------------------------------------------------------
@dataclass
class BreakHistory:
    min_quantity: int
    versions: list[PriceItem]  # newest start first

    def current(self, day: date) -> PriceItem | None:
        return next((v for v in self.versions if v.effective_on(day)), None)


@dataclass
class ProductItems:
    product: Product
    breaks: list[BreakHistory] = field(default_factory=list)
    floor: PriceFloor | None = None


def items_by_product(price_list: PriceList, day: date, product_code: str | None = None) -> list[ProductItems]:
    """Every version of every item of the list grouped by product, then by break (lowest first), newest first."""
    stmt = (select(PriceItem).join(PriceItem.product).where(PriceItem.price_list_id == price_list.id)
            .order_by(Product.code, PriceItem.min_quantity, PriceItem.effective_from.desc()))
    if product_code:
        stmt = stmt.where(Product.code == product_code)
    groups: dict[int, ProductItems] = {}
    for item in db.session.execute(stmt).scalars():
        group = groups.setdefault(item.product_id, ProductItems(item.product))
        if not group.breaks or group.breaks[-1].min_quantity != item.min_quantity:
            group.breaks.append(BreakHistory(item.min_quantity, []))
        group.breaks[-1].versions.append(item)
    if groups:
        for f in db.session.execute(select(PriceFloor).where(PriceFloor.product_id.in_(list(groups)),
                                                             PriceFloor.effective_from <= day,
                                                             or_(PriceFloor.effective_to.is_(None),
                                                                 PriceFloor.effective_to >= day))).scalars():
            groups[f.product_id].floor = f
    return list(groups.values())


def version_status(item: PriceItem, day: date) -> str:
    if item.effective_on(day):
        return "current"
    return "future" if item.effective_from > day else "past"


def get_item(item_id: int) -> PriceItem | None:
    return db.session.execute(select(PriceItem).where(PriceItem.id == item_id)).scalar_one_or_none()


# -- resolution ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OrderLine:
    product: Product
    quantity: int
    unit: str = QuantityUnit.BASE.value


@dataclass
class PricedLine:
    line: OrderLine
    resolution: pricing.Resolution

    @property
    def amount(self) -> Decimal:
        return self.resolution.amount


@dataclass
class PricedOrder:
    distributor: Distributor
    on_date: date
    lines: list[PricedLine]

    @property
    def total(self) -> Decimal:
        return sum((pl.amount for pl in self.lines), Decimal("0.00"))


_FLOOR_ROW, _CUSTOMER_ROW = "floor", "customer"


@functools.cache
def _candidates_statement(dialect: str):
    """ONE SELECT (a UNION ALL): every item of the given products that may apply to the distributor on the day
    (its own list, its province's bid list, its tier's list; active lists; effective that day) as rows shaped like a
    :class:`distribution.pricing.Candidate`; then the products' floors on that day (``kind`` = 'floor') and the
    distributor's province (``kind`` = 'customer') in rows of the same shape. Separate floor rows instead of a join
    keep every item row narrow (that is most of the cost).

    Built once per dialect; the values are bound parameters (``product_ids``, ``distributor_id``, ``region_id``,
    ``tier_kind``, ``on_date``: see :func:`fetch_candidates`), so an order does not pay for building it."""
    on_date = bindparam("on_date", type_=Date)
    distributor_id = bindparam("distributor_id", type_=Integer)
    region_id = bindparam("region_id", type_=Integer)
    tier_kind = bindparam("tier_kind", type_=String)
    in_products = in_ids(dialect, "product_ids")
    province = select(Region.province_id).where(Region.id == region_id).scalar_subquery()
    # The precedence rank of each row (0 own list, 1 bid, 2 tier) and, per product, the strongest rank that has a
    # break from 1 unit: that list wins whatever the quantity, so rows of weaker lists can never matter (not to the
    # price, nor to the explanation, which names only stronger rules passed over) and are not sent at all.
    rank = case((PriceList.kind == PriceListKind.DISTRIBUTOR_SPECIFIC.value, 0),
                (PriceList.kind == PriceListKind.PROVINCIAL_BID.value, 1), else_=2)
    sure = func.min(case((PriceItem.min_quantity == 1, rank))).over(partition_by=PriceItem.product_id)
    applicable = (
        select(PriceItem.id, PriceItem.version, PriceItem.price_list_id, PriceList.code, PriceList.name,
               PriceList.kind, PriceItem.product_id, PriceItem.min_quantity, PriceItem.unit_price,
               PriceItem.effective_from, PriceItem.effective_to, PriceList.province_id, PriceList.distributor_id,
               PriceItem.entered_quantity, PriceItem.entered_unit, rank.label("rank"), sure.label("sure"))
        .join(PriceList, PriceList.id == PriceItem.price_list_id)
        .where(in_products(PriceItem.product_id), PriceList.active, PriceItem.effective_from <= on_date,
               or_(PriceItem.effective_to.is_(None), PriceItem.effective_to >= on_date),
               or_(and_(PriceList.kind == PriceListKind.DISTRIBUTOR_SPECIFIC.value,
                        PriceList.distributor_id == distributor_id),
                   and_(PriceList.kind == PriceListKind.PROVINCIAL_BID.value, PriceList.province_id == province),
                   PriceList.kind == tier_kind))
        .subquery()
    )
    items = select(*list(applicable.c)[:15]).where(or_(applicable.c.sure.is_(None),
                                                       applicable.c.rank <= applicable.c.sure))
    floors = (
        select(PriceFloor.id, PriceFloor.version, null(), null(), null(), literal(_FLOOR_ROW), PriceFloor.product_id,
               null(), PriceFloor.floor_price, PriceFloor.effective_from, PriceFloor.effective_to, null(), null(),
               null(), null())
        .where(in_products(PriceFloor.product_id), PriceFloor.effective_from <= on_date,
               or_(PriceFloor.effective_to.is_(None), PriceFloor.effective_to >= on_date))
    )
    customer = select(Region.province_id, null(), null(), null(), null(), literal(_CUSTOMER_ROW), *[null()] * 9
                      ).where(Region.id == region_id)
    return tenancy.reusable(union_all(items, floors, customer))


def fetch_candidates(distributor: Distributor, product_ids: Sequence[int], on_date: date):
    """(customer, candidates, floors) for the pure rule, in one round trip."""
    candidates, floors = [], []
    province_id = None
    if product_ids:
        Candidate, Floor = pricing.Candidate, pricing.Floor  # noqa: N806 (local names, a hot loop)
        stmt = _candidates_statement(db.session.get_bind().dialect.name)
        params = {"product_ids": list(product_ids), "distributor_id": distributor.id,
                  "region_id": distributor.region_id, "tier_kind": pricing.TIER_KINDS.get(distributor.tier, "-"),
                  "on_date": on_date}
        for r in db.session.execute(stmt, params).all():  # one fetch
            kind = r[5]
            if kind == _FLOOR_ROW:
                floors.append(Floor(r[0], r[1], r[6], r[8], r[9], r[10]))
            elif kind == _CUSTOMER_ROW:
                province_id = r[0]
            else:
                candidates.append(Candidate._make(r))
    customer = pricing.Customer(distributor.id, distributor.tier, province_id)
    return customer, candidates, floors


def _ambiguous(exc: pricing.AmbiguousPrice) -> PricingError:
    return PricingError(_("The price setup is ambiguous and was not resolved (ids %(ids)s); fix the price lists.",
                          ids=", ".join(map(str, exc.ids))))


def resolve_price(distributor: Distributor, product: Product, quantity: int, on_date: date,
                  unit: str = QuantityUnit.BASE.value) -> pricing.Resolution:
    """The unit price of ``quantity`` (in ``unit``: base or case) of ``product`` for ``distributor`` on
    ``on_date``, with why (see :mod:`distribution.pricing`). ``unit_price`` is None when no list prices it.
    Raises PricingError for a bad quantity / unit or an ambiguous setup."""
    base = _base_quantity(product, quantity, unit)
    customer, candidates, floors = fetch_candidates(distributor, [product.id], on_date)
    try:
        return pricing.resolve(customer, product.id, base, on_date, candidates, floors)
    except pricing.AmbiguousPrice as exc:
        raise _ambiguous(exc) from exc


def _base_quantity(product: Product, quantity, unit: str, name: str = "quantity") -> int:
    quantity = parse_quantity(quantity, name)
    if unit not in (QuantityUnit.BASE.value, QuantityUnit.CASE.value):
        raise PricingError.on("unit", _("Unknown unit “%(unit)s”: use %(base)s or 件 (case).", unit=unit,
                                        base=product.base_unit))
    return pricing.to_base_units(quantity, unit, product.pack_size)


def price_order(distributor: Distributor, lines: Sequence[OrderLine], on_date: date) -> PricedOrder:
    """Price every line of an order in ONE database round trip (one SELECT of all candidate items and floors, then
    the pure rule per line). Raises NoPrice naming the lines without a price (an order is priced whole or not at
    all), PricingError for a bad line or an ambiguous setup."""
    bases = [_base_quantity(ln.product, ln.quantity, ln.unit, f"lines.{i}.quantity") for i, ln in enumerate(lines)]
    customer, candidates, floors = fetch_candidates(distributor, list({ln.product.id for ln in lines}), on_date)
    try:
        resolutions = pricing.resolve_lines(customer, [(ln.product.id, b) for ln, b in zip(lines, bases, strict=True)],
                                            on_date, candidates, floors)
    except pricing.AmbiguousPrice as exc:
        raise _ambiguous(exc) from exc
    missing = [i for i, r in enumerate(resolutions) if not r.found]
    if missing:
        codes = ", ".join(dict.fromkeys(lines[i].product.code for i in missing))
        raise NoPrice(_("No price for %(codes)s for %(distributor)s on %(day)s.", codes=codes,
                        distributor=distributor.code, day=on_date.isoformat()), missing)
    return PricedOrder(distributor, on_date, [PricedLine(ln, r) for ln, r in zip(lines, resolutions, strict=True)])


def explain(resolution: pricing.Resolution, product: Product | None = None) -> str:
    """Why this price, in the user's language: the rule that won, the list, the item and version, the break."""
    _ = bound_gettext()  # an order explains every line: look the catalog up once
    if not resolution.found:
        passed = "; ".join(_passed_text(rule, why, _) for rule, why in resolution.passed_over)
        return _("No price: %(reasons)s.", reasons=passed)
    item = resolution.item
    qty = (quantity_label(product, item.entered_quantity or item.min_quantity, item.entered_unit, _)
           if product is not None else str(item.min_quantity))
    text = _("Rule: %(rule)s wins (precedence: distributor-specific, then provincial bid, then tier list). "
             "List %(code)s “%(name)s”, item #%(item)d version %(version)d, break from %(qty)s (the highest break "
             "not above %(quantity)d), effective %(window)s.", rule=rule_label(resolution.rule, _),
             code=item.list_code, name=item.list_name, item=item.item_id, version=item.version, qty=qty,
             quantity=resolution.quantity, window=_window(item.effective_from, item.effective_to, _))
    if resolution.passed_over:
        text += " " + _("Passed over: %(reasons)s.", reasons="; ".join(
            _passed_text(rule, why, _) for rule, why in resolution.passed_over))
    if resolution.floor_applied:
        text += " " + _("The list price %(price)s is below the floor; the floor %(floor)s applies.",
                        price=resolution.list_price, floor=resolution.floor.price)
    return text


def _passed_text(rule, why, _=_) -> str:
    if why == pricing.PassedOver.BELOW_LOWEST_BREAK:
        return _("%(rule)s: the quantity is below its lowest break", rule=rule_label(rule, _))
    return _("%(rule)s: no item effective on the date", rule=rule_label(rule, _))


def explanation_data(resolution: pricing.Resolution) -> dict:
    """The explanation as plain values (API)."""
    item = resolution.item
    return {
        "rule": resolution.rule.value if resolution.rule else None,
        "price_list": None if item is None else {"id": item.list_id, "code": item.list_code, "name": item.list_name,
                                                 "kind": item.kind},
        "item": None if item is None else {"id": item.item_id, "version": item.version,
                                           "effective_from": item.effective_from, "effective_to": item.effective_to},
        "break": None if item is None else {"min_quantity": item.min_quantity,
                                            "entered_quantity": item.entered_quantity,
                                            "entered_unit": item.entered_unit},
        "list_price": resolution.list_price,
        "floor_price": resolution.floor.price if resolution.floor else None,
        "floor_applied": resolution.floor_applied,
        "passed_over": [{"rule": r.value, "reason": w.value} for r, w in resolution.passed_over],
    }


@dataclass
class MyPrice:
    product: Product
    breaks: list[tuple[int, pricing.Resolution]]  # (from base quantity, resolution), lowest first


def my_prices(distributor: Distributor, on_date: date) -> list[MyPrice]:
    """The prices that apply to ``distributor`` on ``on_date``: for each product some list prices for it, the
    resolved price (through the rule) at 1 base unit and at each break of the applicable lists."""
    product_ids = db.session.execute(
        select(PriceItem.product_id).join(PriceList, PriceList.id == PriceItem.price_list_id)
        .where(PriceList.active, PriceList.kind != PriceListKind.RETAIL_GUIDE.value).distinct()).scalars().all()
    if not product_ids:
        return []
    customer, candidates, floors = fetch_candidates(distributor, product_ids, on_date)
    products = {p.id: p for p in db.session.execute(
        select(Product).where(Product.id.in_({c.product_id for c in candidates})).order_by(Product.code)).scalars()}
    by_product: dict[int, list[pricing.Candidate]] = defaultdict(list)
    for c in candidates:
        by_product[c.product_id].append(c)
    out = []
    for pid, product in products.items():
        quantities = sorted({1, *(c.min_quantity for c in by_product[pid])})
        rows, last = [], None
        for q in quantities:
            try:
                r = pricing.resolve(customer, pid, q, on_date, by_product[pid], floors)
            except pricing.AmbiguousPrice:
                continue
            if r.found and (last is None or (r.unit_price, r.item.item_id) != last):
                rows.append((q, r))
                last = (r.unit_price, r.item.item_id)
        if rows:
            out.append(MyPrice(product, rows))
    return out


def lot_supply_values(lot_ids: list[int]) -> dict[int, Decimal]:
    """Unit value of stock by lot for the near-expiry dashboard: the tier-1 supply price in force today at its
    lowest break, for each lot's product (lots whose product has no such price are left out: value unknown).
    Plugged into :func:`inventory.expiry.set_unit_value_source` by ``distribution.init_app``."""
    from sqlalchemy import or_

    from inventory.models import Lot

    today = clock.today()
    rows = db.session.execute(
        select(Lot.id, PriceItem.unit_price)
        .join(PriceItem, PriceItem.product_id == Lot.product_id)
        .join(PriceList, PriceList.id == PriceItem.price_list_id)
        .where(Lot.id.in_(lot_ids), PriceList.kind == PriceListKind.TIER1_SUPPLY.value, PriceList.active,
               PriceItem.effective_from <= today,
               or_(PriceItem.effective_to.is_(None), PriceItem.effective_to >= today))
        .order_by(Lot.id, PriceItem.min_quantity)
    ).all()
    values: dict[int, Decimal] = {}
    for lot_id, price in rows:
        values.setdefault(lot_id, price)
    return values
