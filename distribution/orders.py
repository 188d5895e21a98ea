"""The verbs of sell-in orders (订单): place, amend, cancel, finance's decision on a held order, ship.

The journey (DESIGN.md §2): :func:`place_order` validates the lines (known products, whole positive quantities in
pack multiples, an agreement in force authorising each product, a licence that allows shipping), prices them all in
one round trip (:func:`distribution.price_lists.price_order`) and asks credit in the same transaction
(:func:`credit.services.check_and_reserve`, which locks the distributor's credit account row FOR UPDATE, so
concurrent orders of one distributor are checked one after the other and can never together pass the limit). The
order is then ``approved`` or on ``credit_hold`` with credit's reasons. Finance decides a held order
(:func:`decide_order_hold` → credit's ``decide_hold``): approved or rejected. :func:`ship_order` allocates lots FEFO
from the manufacturer's warehouse (respecting the destination tier's minimum shelf life), posts shipment movements
to the distributor's warehouse and posts the invoice of what was shipped; what could not be shipped stays on
backorder.

Quantities: people enter cases (件) or base units (盒, 支 ...). A quantity in base units must be a whole number of
cases (a multiple of the product's ``pack_size``): the warehouse ships whole cases only. Lines are stored in base
units with what was entered beside them.

State machine (the only place order statuses change)::

    approved     → amend (re-check) → approved | credit_hold;  → ship → partially_shipped | shipped;  → cancelled
    credit_hold  → amend (re-check); → finance approves → approved; → finance rejects → rejected;  → cancelled
    partially_shipped → ship → partially_shipped | shipped;  → cancelled (the backorder is dropped)

Services add and flush, never commit; they take the acting user. Errors (:class:`OrderError` and subclasses) carry
a message in the user's language and an HTTP status: 403 :class:`NotAllowed`, 409 :class:`WrongState`, 422
:class:`OrderInvalid` (``errors``: field → messages, e.g. ``lines.2.quantity``) and :class:`RuleViolation`.
Nothing is written when one is raised (validation happens before the first write; a later failure raises and the
boundary rolls back).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import gettext as _
from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm.attributes import set_committed_value

from app import audit, bulk, clock, tenancy
from app.extensions import db
from app.models import Distributor, Product, StockLocation, utcnow
from distribution import price_lists
from distribution.agreements import agreements_in_force
from distribution.models.orders import Order, OrderLine, OrderStatus, Shipment, ShipmentLine
from distribution.models.pricing import QuantityUnit

PLACER_ROLES = ("admin", "channel_manager", "distributor")
SHIPPER_ROLES = ("admin", "channel_manager")
DECIDER_ROLES = ("admin", "finance")
READER_ROLES = ("admin", "channel_manager", "finance", "viewer", "distributor")
MAX_LINES = 200
CENT = Decimal("0.01")

AMENDABLE = (OrderStatus.APPROVED.value, OrderStatus.CREDIT_HOLD.value)
CANCELLABLE = (OrderStatus.DRAFT.value, OrderStatus.APPROVED.value, OrderStatus.CREDIT_HOLD.value,
               OrderStatus.PARTIALLY_SHIPPED.value)
SHIPPABLE = (OrderStatus.APPROVED.value, OrderStatus.PARTIALLY_SHIPPED.value)


class OrderError(Exception):
    status = 422

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class OrderInvalid(OrderError):
    status = 422


class RuleViolation(OrderError):
    status = 422


class WrongState(OrderError):
    status = 409


class NotAllowed(OrderError):
    status = 403


@dataclass(frozen=True)
class LineInput:
    """One line as entered: a product code, a whole quantity and its unit (``case`` / ``base`` or what people type:
    件, 箱, the product's base unit)."""

    product_code: str
    quantity: object
    unit: str | None = None


# -- reading ------------------------------------------------------------------------------------------------------
def get_order(order_id: int) -> Order | None:
    """The order if the acting user may see it (tenant scoping applies), else None; a held order picks up a
    decision finance took on credit's side (:func:`refresh_credit_decision`)."""
    order = db.session.execute(select(Order).where(Order.id == order_id)).scalar_one_or_none()
    if order is not None:
        refresh_credit_decision(order)
    return order


def get_order_by_number(number: str) -> Order | None:
    return db.session.execute(select(Order).where(Order.number == number)).scalar_one_or_none()


def list_orders(distributor_code: str | None = None, status: str | None = None, q: str | None = None,
                date_from: date | None = None, date_to: date | None = None):
    """A SELECT of orders, newest first, filtered; tenant scoping limits a distributor user to its own."""
    stmt = select(Order).join(Distributor, Distributor.id == Order.distributor_id).order_by(Order.id.desc())
    if distributor_code:
        stmt = stmt.where(Distributor.code == distributor_code.strip())
    if status:
        stmt = stmt.where(Order.status == status)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(Order.number.ilike(like), Distributor.name.ilike(like), Distributor.code.ilike(like)))
    if date_from:
        stmt = stmt.where(Order.on_date >= date_from)
    if date_to:
        stmt = stmt.where(Order.on_date <= date_to)
    return stmt


# -- validation ---------------------------------------------------------------------------------------------------
def _as_input(line) -> LineInput:
    if isinstance(line, LineInput):
        return line
    if isinstance(line, Mapping):
        return LineInput(str(line.get("product_code") or "").strip(), line.get("quantity"), line.get("unit"))
    raise TypeError("order lines are LineInput or mappings")


def _whole(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _require_placer(distributor: Distributor, user) -> None:
    if user is None or not user.has_role(*PLACER_ROLES):
        raise NotAllowed(_("Your role may not place orders."))
    if user.is_distributor and user.distributor_id != distributor.id:
        raise NotAllowed(_("You may place orders only for your own distributor."))


def _validate(distributor: Distributor, lines: Sequence, on_date: date) -> list[price_lists.OrderLine]:
    """The lines as pricing's OrderLine (quantity and unit as entered), or OrderInvalid / RuleViolation naming every
    problem at once. Reads only."""
    inputs = [_as_input(ln) for ln in lines]
    if not inputs:
        raise OrderInvalid(_("An order needs at least one line."), {"lines": [_("An order needs at least one line.")]})
    if len(inputs) > MAX_LINES:
        raise OrderInvalid(_("An order has at most %(n)d lines.", n=MAX_LINES))
    codes = {i.product_code for i in inputs if i.product_code}
    products = {p.code: p for p in db.session.execute(_products_statement(), {"codes": list(codes)}).scalars()}
    in_force = agreements_in_force(distributor, products.values(), on_date)  # one statement for every line
    errors: dict[str, list[str]] = {}
    out: list[price_lists.OrderLine] = []
    seen: set[int] = set()
    for n, item in enumerate(inputs):
        key = f"lines.{n}"
        product = products.get(item.product_code)
        if not item.product_code:
            errors.setdefault(f"{key}.product_code", []).append(_("Required."))
            continue
        if product is None or not getattr(product, "active", True):
            errors.setdefault(f"{key}.product_code", []).append(
                _("Unknown product %(code)s.", code=item.product_code))
            continue
        if product.id in seen:
            errors.setdefault(f"{key}.product_code", []).append(
                _("%(code)s is on the order twice; put it on one line.", code=product.code))
            continue
        seen.add(product.id)
        try:
            unit = price_lists.parse_unit(item.unit, product)
        except price_lists.PricingError as exc:
            errors.setdefault(f"{key}.unit", []).append(exc.message)
            continue
        quantity = _whole(item.quantity)
        if quantity is None:
            errors.setdefault(f"{key}.quantity", []).append(_("Not a whole number."))
            continue
        if quantity <= 0:
            errors.setdefault(f"{key}.quantity", []).append(
                _("The quantity of %(code)s must be greater than 0.", code=product.code))
            continue
        if quantity > 10_000_000:
            errors.setdefault(f"{key}.quantity", []).append(_("The quantity is too large."))
            continue
        if unit == QuantityUnit.BASE.value and quantity % product.pack_size:
            errors.setdefault(f"{key}.quantity", []).append(_(
                "%(code)s ships in whole cases of %(pack)d %(unit)s: %(qty)d is not a multiple; order %(lo)d or "
                "%(hi)d, or enter cases (件).", code=product.code, pack=product.pack_size, unit=product.base_unit,
                qty=quantity, lo=quantity // product.pack_size * product.pack_size,
                hi=(quantity // product.pack_size + 1) * product.pack_size))
            continue
        if product.id not in in_force:
            errors.setdefault(f"{key}.product_code", []).append(_(
                "%(code)s is not authorised for %(name)s on %(day)s: no agreement in force covers it.",
                code=product.code, name=distributor.name, day=on_date.isoformat()))
            continue
        out.append(price_lists.OrderLine(product, quantity, unit))
    if errors:
        first = next(iter(errors.values()))[0]
        raise OrderInvalid(first if len(errors) == 1 else _("%(n)d problems in the order lines; nothing was saved.",
                                                            n=len(errors)), errors)
    problems = _shipping_problems(distributor, on_date)
    if problems:
        raise RuleViolation(problems[0], {"_": problems})
    return out


@functools.cache
def _products_statement():
    return tenancy.reusable(select(Product).where(Product.code.in_(bindparam("codes", expanding=True))))


def _shipping_problems(d: Distributor, on_date: date) -> list[str]:
    day = max(on_date, clock.today())
    problems = []
    if d.status != "active":
        problems.append(_("Distributor %(code)s is not active; it cannot order.", code=d.code))
    if d.licence_expired(day):
        problems.append(_("The drug-trading licence of %(name)s expired on %(date)s; it cannot be shipped to until it "
                          "is renewed.", name=d.name, date=d.licence_expiry.isoformat()))
    if d.gsp_expired(day):
        problems.append(_("The GSP certificate of %(name)s expired on %(date)s; it cannot be shipped to until it is "
                          "renewed.", name=d.name, date=d.gsp_expiry.isoformat()))
    return problems


def _price(distributor: Distributor, lines: list[price_lists.OrderLine], on_date: date):
    try:
        return price_lists.price_order(distributor, lines, on_date)
    except price_lists.NoPrice as exc:
        raise RuleViolation(exc.message, {f"lines.{i}.product_code": [exc.message] for i in exc.lines}) from exc
    except price_lists.PricingError as exc:
        raise OrderInvalid(exc.message, exc.errors) from exc


def _line_values(order_id: int | None, distributor_id: int, priced) -> list[dict]:
    """The column values of the order's lines (numbered from 1) from the priced lines."""
    return [{"order_id": order_id, "distributor_id": distributor_id, "line_no": n, "product_id": pl.line.product.id,
             "entered_quantity": pl.line.quantity, "entered_unit": pl.line.unit, "quantity": pl.resolution.quantity,
             "unit_price": pl.resolution.unit_price, "amount": pl.resolution.amount,
             "price_rule": pl.resolution.rule.value if pl.resolution.rule else None,
             "price_explanation": price_lists.explain(pl.resolution, pl.line.product), "shipped_quantity": 0}
            for n, pl in enumerate(priced.lines, start=1)]


def _replace_lines(order: Order, priced) -> None:
    order.lines.clear()
    db.session.flush()
    order.lines.extend(OrderLine(**values) for values in _line_values(order.id, order.distributor_id, priced))
    order.total = priced.total


def _credit():
    from credit import services as credit

    return credit


def orderable_products() -> list:
    """The active products an order form offers: (code, generic name, specification, pack size, base unit)."""
    return db.session.execute(select(Product.code, Product.generic_name, Product.specification, Product.pack_size,
                                     Product.base_unit).where(Product.active).order_by(Product.code)).all()


def credit_position(distributor: Distributor):
    """The distributor's credit exposure as the credit check will see it (for the order form)."""
    return _credit().exposure(distributor)


def _decision_values(decision) -> dict:
    """The order's status and credit columns from credit's decision."""
    shortfall = getattr(decision, "shortfall", None)
    exposure = getattr(decision, "exposure", None)
    exposure = getattr(exposure, "total", exposure)  # credit's Exposure (before this order) or a plain amount
    return {"status": OrderStatus.APPROVED.value if decision.approved else OrderStatus.CREDIT_HOLD.value,
            "credit_reasons": [str(r) for r in (decision.reasons or [])],
            "credit_shortfall": None if shortfall is None else Decimal(shortfall).quantize(CENT, ROUND_HALF_UP),
            "credit_exposure": None if exposure is None else Decimal(exposure).quantize(CENT, ROUND_HALF_UP)}


def _apply_decision(order: Order, decision) -> None:
    for key, value in _decision_values(decision).items():
        setattr(order, key, value)


def _reserve_credit(distributor: Distributor, number: str, total: Decimal, on_date: date, *,
                    defer_audit: bool = False):
    """Credit's check and reservation of the order (the distributor's credit account locked until commit)."""
    credit = _credit()
    try:
        return credit.check_and_reserve(distributor, number, total, on_date=on_date, defer_audit=defer_audit)
    except credit.CreditError as exc:
        raise RuleViolation(getattr(exc, "message", None) or str(exc)) from exc


def _check_credit(order: Order, on_date: date) -> None:
    _apply_decision(order, _reserve_credit(order.distributor, order.number, order.total, on_date))


def _new_number(on_date: date) -> str:
    return f"SO{on_date:%Y%m%d}-{uuid.uuid4().hex[:10].upper()}"


# -- verbs --------------------------------------------------------------------------------------------------------
def place_order(distributor: Distributor, lines: Sequence, user, on_date: date | None = None,
                note: str | None = None) -> Order:
    """Place an order of ``distributor`` for ``lines`` (:class:`LineInput` or mappings with product_code, quantity,
    unit) on ``on_date`` (default today): validate, price in one round trip, credit-check and reserve in the same
    transaction. Returns the order, ``approved`` or on ``credit_hold`` with credit's reasons. Raises NotAllowed
    (role; a distributor user ordering for another distributor), OrderInvalid (unknown product, quantity not a
    positive whole number or not a whole number of cases, product not covered by an agreement in force),
    RuleViolation (licence / GSP expired, distributor inactive, no price, credit refused). Flushes."""
    _require_placer(distributor, user)
    on_date = on_date or clock.today()
    validated = _validate(distributor, lines, on_date)
    priced = _price(distributor, validated, on_date)
    number = _new_number(on_date)
    # The credit check locks the distributor's credit account (until commit) and inserts the reservation; then the
    # order and its lines are inserted (one INSERT each, no unit of work) and every audit entry by one more INSERT.
    decision = _reserve_credit(distributor, number, priced.total, on_date, defer_audit=True)
    (order,) = bulk.insert_rows(db.session, Order, [{
        "number": number, "distributor_id": distributor.id, "on_date": on_date, "total": priced.total,
        "placed_by_id": user.id, "placed_at": utcnow(), "note": (note or "").strip() or None,
        **_decision_values(decision)}], defer_audit=True)
    order_lines = bulk.insert_rows(db.session, OrderLine, _line_values(order.id, distributor.id, priced),
                                   defer_audit=True)
    for line, pl in zip(order_lines, priced.lines, strict=True):
        set_committed_value(line, "product", pl.line.product)
    set_committed_value(order, "lines", order_lines)
    set_committed_value(order, "shipments", [])
    audit.record(db.session, "order_placed", order, note=f"{order.status} {order.total}", defer=True)
    audit.write_pending(db.session)
    return order


def _locked(order: Order) -> Order:
    """Re-read the order under a row lock: two people acting on one order at once act one after the other."""
    db.session.execute(select(Order.id).where(Order.id == order.id).with_for_update())
    db.session.refresh(order)
    return order


def _require_own(order: Order, user) -> None:
    if user is None or not user.has_role(*PLACER_ROLES):
        raise NotAllowed(_("Your role may not change orders."))
    if user.is_distributor and user.distributor_id != order.distributor_id:
        raise NotAllowed(_("You may change only your own distributor's orders."))


def amend_order(order: Order, lines: Sequence, user, on_date: date | None = None) -> Order:
    """Replace the lines of an approved or held order that has shipped nothing; re-price and re-run the credit
    check (the reservation is replaced). Raises WrongState (other statuses, or something shipped), the errors of
    :func:`place_order`. Flushes."""
    _require_own(order, user)
    order = _locked(order)
    if order.status not in AMENDABLE or order.shipments:
        raise WrongState(_("Order %(number)s is %(status)s; only an approved or held order that has shipped nothing "
                           "can be amended.", number=order.number, status=status_label(order.status)))
    on_date = on_date or clock.today()
    validated = _validate(order.distributor, lines, on_date)
    priced = _price(order.distributor, validated, on_date)
    before = {"status": order.status, "total": str(order.total)}
    _replace_lines(order, priced)
    order.on_date, order.amended_at = on_date, utcnow()
    order.decided_by_id = order.decided_at = order.decision_reason = None
    db.session.flush()
    _check_credit(order, on_date)
    db.session.flush()
    audit.record(db.session, "order_amended", order, before=before,
                 after={"status": order.status, "total": str(order.total)})
    return order


def cancel_order(order: Order, user, reason: str | None = None) -> Order:
    """Cancel an order not fully shipped (its backorder, when part has shipped) and release all its remaining credit
    reservation. Raises WrongState for a shipped, rejected or already cancelled order. Flushes."""
    _require_own(order, user)
    order = _locked(order)
    if order.status not in CANCELLABLE:
        raise WrongState(_("Order %(number)s is %(status)s and cannot be cancelled.", number=order.number,
                           status=status_label(order.status)))
    before = order.status
    _credit().release_reservation(order.number)
    order.status = OrderStatus.CANCELLED.value
    order.cancelled_by_id, order.cancelled_at = user.id, utcnow()
    order.cancel_reason = (reason or "").strip() or None
    db.session.flush()
    audit.record(db.session, "order_cancelled", order, note=order.cancel_reason, before={"status": before},
                 after={"status": order.status})
    return order


def decide_order_hold(order: Order, approve: bool, user, reason: str) -> Order:
    """Finance's decision on a held order: credit records it (audited, mandatory reason, via ``decide_hold``) and the
    order becomes approved or rejected. Raises NotAllowed (role), WrongState (the order is not held), OrderInvalid
    (no reason). Flushes."""
    if user is None or not user.has_role(*DECIDER_ROLES):
        raise NotAllowed(_("Only finance decides held orders."))
    order = _locked(order)
    if order.status != OrderStatus.CREDIT_HOLD.value:
        raise WrongState(_("Order %(number)s is %(status)s, not on credit hold; there is nothing to decide.",
                           number=order.number, status=status_label(order.status)))
    reason = (reason or "").strip()
    if not reason:
        raise OrderInvalid(_("A reason is required."), {"reason": [_("A reason is required.")]})
    credit = _credit()
    try:
        credit.decide_hold(order.number, approve, user, reason)
    except credit.CreditError as exc:
        raise RuleViolation(getattr(exc, "message", None) or str(exc)) from exc
    apply_credit_decision(order, approve, user, reason)
    return order


def apply_credit_decision(order: Order, approved: bool, user=None, reason: str | None = None) -> Order:
    """Move a held order to approved / rejected after finance's decision was recorded by credit (finance's pages
    call credit's ``decide_hold`` and then this, or :func:`decide_order_hold` does both). A no-op for an order not
    on hold. Flushes."""
    if order.status != OrderStatus.CREDIT_HOLD.value:
        return order
    before = order.status
    order.status = OrderStatus.APPROVED.value if approved else OrderStatus.REJECTED.value
    order.decided_by_id = getattr(user, "id", None)
    order.decided_at, order.decision_reason = utcnow(), reason
    db.session.flush()
    audit.record(db.session, "order_credit_approved" if approved else "order_credit_rejected", order, note=reason,
                 before={"status": before}, after={"status": order.status})
    return order


def refresh_credit_decision(order: Order) -> Order:
    """A held order whose reservation finance already decided on credit's side follows that decision: active →
    approved, rejected → rejected. Decisions reach the order at once through credit's ``on_hold_decided`` seam
    (:func:`sync_credit_decision`, registered in ``distribution.init_app``); this re-check, when a held order is
    looked at or shipped, covers a decision taken where that seam was not plugged in. Flushes when it changes
    something."""
    if order.status != OrderStatus.CREDIT_HOLD.value:
        return order
    state = _credit().reservation_status(order.number)
    if state is None or state.status not in ("active", "closed", "rejected"):
        return order
    from app.models import User

    user = db.session.get(User, state.decided_by_id) if state.decided_by_id else None
    return apply_credit_decision(order, state.status != "rejected", user, state.decision_reason)


def sync_credit_decision(order_ref: str, approved: bool, user=None, reason: str | None = None) -> Order | None:
    """:func:`apply_credit_decision` by order number (for callers that know only the reference)."""
    order = get_order_by_number(order_ref)
    return None if order is None else apply_credit_decision(order, approved, user, reason)


# -- shipping -----------------------------------------------------------------------------------------------------
def manufacturer_warehouse() -> StockLocation | None:
    """Where sell-in ships from: the active manufacturer location (the first by id when there are several)."""
    return db.session.execute(select(StockLocation).where(StockLocation.kind == "manufacturer", StockLocation.active)
                              .order_by(StockLocation.id).limit(1)).scalar_one_or_none()


def distributor_warehouse(distributor: Distributor) -> StockLocation | None:
    return db.session.execute(select(StockLocation).where(StockLocation.distributor_id == distributor.id,
                                                          StockLocation.kind == "distributor", StockLocation.active)
                              .order_by(StockLocation.id).limit(1)).scalar_one_or_none()


def line_amount(unit_price: Decimal, quantity: int) -> Decimal:
    return (Decimal(unit_price) * quantity).quantize(CENT, rounding=ROUND_HALF_UP)


def _wanted(order: Order, lines: Mapping[int, int] | None) -> list[tuple[OrderLine, int]]:
    """(order line, base quantity to ship) pairs: the whole backorder by default, or the given quantities by order
    line id (each ≤ its backorder)."""
    by_id = {ln.id: ln for ln in order.lines}
    if lines is None:
        return [(ln, ln.backorder) for ln in order.lines if ln.backorder > 0]
    out, errors = [], {}
    for line_id, qty in lines.items():
        ln = by_id.get(int(line_id))
        q = _whole(qty)
        if ln is None:
            errors[f"lines.{line_id}"] = [_("Line %(id)s is not on this order.", id=line_id)]
        elif q is None or q < 0:
            errors[f"lines.{line_id}"] = [_("Not a whole number.")]
        elif q > ln.backorder:
            errors[f"lines.{line_id}"] = [_("Only %(n)d of %(code)s are still to ship.", n=ln.backorder,
                                            code=ln.product.code)]
        elif q:
            out.append((ln, q))
    if errors:
        raise OrderInvalid(next(iter(errors.values()))[0], errors)
    return out


def ship_order(order: Order, user, lines: Mapping[int, int] | None = None, on_date: date | None = None,
               from_location: StockLocation | None = None) -> Shipment:
    """Ship an approved (or partially shipped) order: allocate FEFO from the manufacturer's warehouse (respecting the
    destination tier's minimum remaining shelf life; blocked and expired lots never), post shipment movements to the
    distributor's warehouse and the invoice of the shipped amount (order unit prices, ROUND_HALF_UP), due per the
    payment terms. ``lines`` maps order line ids to base quantities (default: every backorder). What cannot be
    allocated stays on backorder. All in the caller's transaction. Raises NotAllowed (role), WrongState (held,
    rejected, cancelled, shipped), RuleViolation (licence expired, no stock at all, no warehouse). Flushes."""
    from inventory import services as inventory

    if user is None or not user.has_role(*SHIPPER_ROLES):
        raise NotAllowed(_("Only a channel manager or an admin ships orders."))
    order = refresh_credit_decision(_locked(order))
    if order.status not in SHIPPABLE:
        raise WrongState(_("Order %(number)s is %(status)s; only an approved order ships.", number=order.number,
                           status=status_label(order.status)))
    on_date = on_date or clock.today()
    problems = _shipping_problems(order.distributor, on_date)
    if problems:
        raise RuleViolation(problems[0], {"_": problems})
    source = from_location or manufacturer_warehouse()
    target = distributor_warehouse(order.distributor)
    if source is None or target is None:
        raise RuleViolation(_("No manufacturer warehouse or no warehouse of %(name)s to ship to.",
                              name=order.distributor.name))
    wanted = _wanted(order, lines)
    if not wanted:
        raise OrderInvalid(_("Nothing to ship."))
    allocations = inventory.allocate_lines([(ln.product, q) for ln, q in wanted], source, order.distributor.tier,
                                           on_date)
    if not any(a.picks for a in allocations):
        raise RuleViolation(_("No stock of order %(number)s can be shipped from %(loc)s on %(day)s (none on hand, or "
                              "only lots that are blocked, expired or too close to expiry for tier %(tier)d).",
                              number=order.number, loc=source.code, day=on_date.isoformat(),
                              tier=order.distributor.tier))
    number = f"SH-{order.number}-{len(order.shipments) + 1}"
    lots = _lots({p.lot_id for a in allocations for p in a.picks})
    posted = []  # the stock moves first (each locks its balances); the shipment's rows are then written at once
    for (ln, _qty), allocation in zip(wanted, allocations, strict=True):
        for pick in allocation.picks:
            try:
                movement = inventory.post_movement("shipment", lots[pick.lot_id], pick.quantity, from_location=source,
                                                   to_location=target, on_date=on_date, reference=number)
            except inventory.InventoryError as exc:
                raise RuleViolation(str(exc)) from exc
            posted.append((ln, pick, movement))
    shipment = Shipment(number=number, order=order, distributor_id=order.distributor_id, on_date=on_date,
                        shipped_by_id=user.id, from_location_id=source.id, to_location_id=target.id,
                        amount=Decimal("0.00"), invoice_reference=f"INV-{number}")
    total = Decimal("0.00")
    for ln, pick, movement in posted:
        amount = line_amount(ln.unit_price, pick.quantity)
        shipment.lines.append(ShipmentLine(distributor_id=order.distributor_id, order_line=ln, lot_id=pick.lot_id,
                                           quantity=pick.quantity, unit_price=ln.unit_price, amount=amount,
                                           movement_id=movement.id))
        ln.shipped_quantity += pick.quantity
        total += amount
    shipment.amount = total
    before = order.status
    order.status = (OrderStatus.SHIPPED.value if all(ln.backorder == 0 for ln in order.lines)
                    else OrderStatus.PARTIALLY_SHIPPED.value)
    db.session.add(shipment)
    audit.record(db.session, "order_shipped", order, note=f"{shipment.number} {total}", before={"status": before},
                 after={"status": order.status}, defer=True)
    db.session.flush()
    credit = _credit()
    try:
        credit.post_invoice(order.distributor, order.number, total, on_date, reference=shipment.invoice_reference,
                            user=user)
    except credit.CreditError as exc:
        raise RuleViolation(getattr(exc, "message", None) or str(exc)) from exc
    return shipment


def _lots(ids: set[int]) -> dict:
    from inventory.models import Lot

    if not ids:
        return {}
    return {lot.id: lot for lot in db.session.execute(select(Lot).where(Lot.id.in_(ids))).scalars()}


# -- sell-in (for agreements' achievement) ------------------------------------------------------------------------
def _shipped(*cols, start: date, end: date):
    """A SELECT of ``cols`` over the shipped order lines dated within [start, end] (at the invoiced order price)."""
    return (select(*cols, func.sum(ShipmentLine.amount), func.sum(ShipmentLine.quantity))
            .join(ShipmentLine, ShipmentLine.shipment_id == Shipment.id)
            .join(OrderLine, OrderLine.id == ShipmentLine.order_line_id)
            .join(Product, Product.id == OrderLine.product_id)
            .where(Shipment.on_date >= start, Shipment.on_date <= end))


def shipped_lines(distributor_id: int, start: date, end: date):
    """(shipment date, product id, product line id, amount, base quantity) of every shipped line of the distributor
    dated within [start, end] (one row per shipment line, at the invoiced order price)."""
    return db.session.execute(
        _shipped(Shipment.on_date, Product.id, Product.product_line_id, start=start, end=end)
        .where(Shipment.distributor_id == distributor_id)
        .group_by(Shipment.on_date, Product.id, Product.product_line_id, OrderLine.id)
    ).all()


def shipped_totals(start: date, end: date):
    """(distributor id, product id, product line id, amount, base quantity) shipped within [start, end], summed per
    distributor and product: the sell-in of every distributor at once (coverage analytics)."""
    return db.session.execute(
        _shipped(Shipment.distributor_id, Product.id, Product.product_line_id, start=start, end=end)
        .group_by(Shipment.distributor_id, Product.id, Product.product_line_id)
    ).all()


# -- labels -------------------------------------------------------------------------------------------------------
def status_label(status: str) -> str:
    return {
        "draft": _("draft"), "approved": _("approved"), "credit_hold": _("credit hold"), "rejected": _("rejected"),
        "partially_shipped": _("partially shipped"), "shipped": _("shipped"), "cancelled": _("cancelled"),
    }.get(status, status)


def status_choices() -> list[tuple[str, str]]:
    return [(s.value, status_label(s.value)) for s in OrderStatus]


def unit_label(product: Product, unit: str) -> str:
    return _("case") if unit == QuantityUnit.CASE.value else product.base_unit
