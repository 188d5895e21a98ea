"""The verbs of inventory: lots, movements (the ledger), blocking, FEFO allocation, opening balances.

Every movement updates the balances it touches in the same transaction, under row locks taken in a fixed order
(location, lot), so balances always equal the sum of movements and never go below zero, even with concurrent
writers. Services add and flush; the caller commits. Errors are :class:`InventoryError` with a message in the
user's language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from app import audit, clock
from app.extensions import db
from app.masterdata.resources import can_ship_to
from app.models import Product, StockLocation, Terminal
from app.models.base import utcnow
from app.tenancy import current_actor
from inventory.allocation import Allocation, LotStock, fefo
from inventory.models import Lot, LotStatus, MovementKind, StockBalance, StockMovement


class InventoryError(ValueError):
    """A movement, lot or allocation broke a rule; nothing was written."""


# which sides each kind of movement has: (from kinds allowed, to kinds allowed); None = that side must be empty
_MAN, _DIST, _QUAR = "manufacturer", "distributor", "quarantine"
SIDES: dict[str, tuple[tuple[str, ...] | None, tuple[str, ...] | None]] = {
    MovementKind.OPENING: (None, (_MAN, _DIST, _QUAR)),
    MovementKind.RECEIPT: (None, (_MAN, _QUAR)),
    MovementKind.SHIPMENT: ((_MAN,), (_DIST,)),
    MovementKind.TRANSFER: ((_DIST,), (_DIST,)),
    MovementKind.SELL_OUT: ((_DIST,), None),
    # a return comes back from a distributor into quarantine (or straight to the warehouse); from quarantine it goes
    # back to the warehouse once QA releases it as saleable
    MovementKind.RETURN: ((_DIST, _QUAR), (_MAN, _QUAR)),
    MovementKind.WRITE_OFF: ((_MAN, _DIST, _QUAR), None),
}


# -- lots ---------------------------------------------------------------------------------------------------------
def register_lot(product: Product, lot_no: str, manufactured_on: date, expires_on: date) -> Lot:
    """The lot ``lot_no`` of ``product``, created if new. The same number with other dates is refused."""
    lot_no = (lot_no or "").strip()
    if not lot_no or len(lot_no) > 40:
        raise InventoryError(_("A lot number of 1 to 40 characters is required."))
    if expires_on <= manufactured_on:
        raise InventoryError(_("The expiry date %(e)s must be after the manufacture date %(m)s.",
                               e=expires_on.isoformat(), m=manufactured_on.isoformat()))
    lot = db.session.execute(
        select(Lot).where(Lot.product_id == product.id, Lot.lot_no == lot_no)
    ).scalar_one_or_none()
    if lot is not None:
        if (lot.manufactured_on, lot.expires_on) != (manufactured_on, expires_on):
            raise InventoryError(_(
                "Lot %(lot)s of %(product)s already exists with manufacture date %(m)s and expiry %(e)s.",
                lot=lot_no, product=product.code, m=lot.manufactured_on.isoformat(), e=lot.expires_on.isoformat()))
        return lot
    lot = Lot(product=product, lot_no=lot_no, manufactured_on=manufactured_on, expires_on=expires_on)
    db.session.add(lot)
    db.session.flush()
    return lot


def set_lot_status(lot: Lot, status: str, reason: str) -> Lot:
    """Quarantine, recall or release a lot. A blocked lot is skipped by every allocation from then on."""
    if status not in {s.value for s in LotStatus}:
        raise InventoryError(_("Unknown lot status %(s)s.", s=status))
    if not (reason or "").strip():
        raise InventoryError(_("A reason is required."))
    # lock the lot so an allocation running now either sees it blocked or finishes before the block
    db.session.execute(select(Lot.id).where(Lot.id == lot.id).with_for_update())
    lot.status, lot.status_reason = status, reason.strip()
    db.session.flush()
    audit.record(db.session, f"lot_{status}", lot, note=reason.strip())
    return lot


# -- movements ----------------------------------------------------------------------------------------------------
def _locked_balance(location: StockLocation, lot: Lot, create: bool) -> StockBalance | None:
    stmt = select(StockBalance).where(StockBalance.location_id == location.id, StockBalance.lot_id == lot.id)
    balance = db.session.execute(stmt.with_for_update()).scalar_one_or_none()
    if balance is not None or not create:
        return balance
    try:
        with db.session.begin_nested():
            balance = StockBalance(location_id=location.id, lot_id=lot.id, distributor_id=location.distributor_id,
                                   quantity=0)
            db.session.add(balance)
    except IntegrityError:  # another transaction created it first
        balance = db.session.execute(stmt.with_for_update()).scalar_one()
    return balance


def post_movement(kind: str, lot: Lot, quantity: int, *, from_location: StockLocation | None = None,
                  to_location: StockLocation | None = None, on_date: date | None = None,
                  terminal: Terminal | None = None, reference: str | None = None, note: str | None = None,
                  ) -> StockMovement:
    """Append one movement and update the balances it touches (locked). Raises InventoryError, writing nothing."""
    if kind not in {k.value for k in MovementKind}:
        raise InventoryError(_("Unknown movement kind %(k)s.", k=kind))
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        raise InventoryError(_("The quantity must be a positive whole number of base units."))
    on_date = on_date or clock.today()
    _check_sides(kind, from_location, to_location)
    if kind == MovementKind.SHIPMENT:
        if lot.blocked:
            raise InventoryError(_("Lot %(lot)s is %(status)s and cannot be shipped.", lot=lot.lot_no,
                                   status=_status_label(lot.status)))
        if lot.expires_on < on_date:
            raise InventoryError(_("Lot %(lot)s expired on %(d)s and cannot be shipped.", lot=lot.lot_no,
                                   d=lot.expires_on.isoformat()))
        if not can_ship_to(to_location.distributor):
            raise InventoryError(_(
                "%(name)s may not be shipped to (licence or GSP certificate expired, or not active).",
                name=to_location.distributor.name))
    if kind == MovementKind.SELL_OUT and terminal is None and not reference:
        raise InventoryError(_("A sell-out names the terminal or the source record."))
    # lock in a fixed order so two movements between the same places cannot deadlock
    sides = sorted([loc for loc in (from_location, to_location) if loc is not None], key=lambda loc: loc.id)
    balances = {loc.id: _locked_balance(loc, lot, create=loc is to_location) for loc in sides}
    if from_location is not None:
        available = balances[from_location.id].quantity if balances[from_location.id] else 0
        if available < quantity:
            raise InventoryError(_(
                "Only %(have)d of lot %(lot)s at %(loc)s; %(want)d cannot be taken (stock never goes below zero).",
                have=available, lot=lot.lot_no, loc=from_location.code, want=quantity))
        balances[from_location.id].quantity -= quantity
    if to_location is not None:
        balances[to_location.id].quantity += quantity
    movement = StockMovement(
        business_date=on_date, kind=kind, lot_id=lot.id, quantity=quantity,
        from_location_id=from_location.id if from_location else None,
        to_location_id=to_location.id if to_location else None,
        from_distributor_id=from_location.distributor_id if from_location else None,
        to_distributor_id=to_location.distributor_id if to_location else None,
        terminal_id=terminal.id if terminal else None, reference=reference, note=note,
        actor=current_actor().label,
    )
    db.session.add(movement)
    db.session.flush()
    return movement


def _status_label(status: str) -> str:
    return {"quarantined": _("quarantined"), "recalled": _("recalled")}.get(status, status)


def _check_sides(kind: str, from_location, to_location) -> None:
    if kind == MovementKind.ADJUSTMENT:
        if (from_location is None) == (to_location is None):
            raise InventoryError(_("An adjustment either adds stock to a location or takes it from one."))
        return
    from_kinds, to_kinds = SIDES[MovementKind(kind)]
    for side, loc, allowed in (("from", from_location, from_kinds), ("to", to_location, to_kinds)):
        if allowed is None and loc is not None:
            raise InventoryError(_("A %(kind)s movement has no %(side)s location.", kind=kind, side=side))
        if allowed is not None and loc is None:
            raise InventoryError(_("A %(kind)s movement needs a %(side)s location.", kind=kind, side=side))
        if loc is not None and loc.kind not in allowed:
            raise InventoryError(_("Location %(loc)s (%(lk)s) cannot be the %(side)s side of a %(kind)s movement.",
                                   loc=loc.code, lk=loc.kind, side=side, kind=kind))
        if loc is not None and not loc.active:
            raise InventoryError(_("Location %(loc)s is not active.", loc=loc.code))
    if from_location is not None and to_location is not None and from_location.id == to_location.id:
        raise InventoryError(_("The two sides of a movement must be different locations."))


# -- allocation ---------------------------------------------------------------------------------------------------
def allocate(product: Product, quantity: int, from_location: StockLocation, destination_tier: int,
             on_date: date | None = None) -> Allocation:
    """FEFO allocation of ``quantity`` base units of ``product`` at ``from_location`` for a shipment to a
    distributor of ``destination_tier`` on ``on_date``.

    The balance rows are locked (FOR UPDATE) until the transaction ends, so a caller that allocates and then posts
    the shipment movements in one transaction can never ship the same units as a concurrent caller.
    """
    return allocate_lines([(product, quantity)], from_location, destination_tier, on_date)[0]


def allocate_lines(lines: list[tuple[Product, int]], from_location: StockLocation, destination_tier: int,
                   on_date: date | None = None) -> list[Allocation]:
    """FEFO allocation of each ``(product, quantity)`` line of an order, in line order, from ``from_location``.

    The stock of every product of the order is read and locked in one query (FOR UPDATE, in balance-id order, so
    two concurrent orders cannot deadlock); each line is then allocated by :func:`~inventory.allocation.fefo` from
    what the earlier lines left. Raises InventoryError on a quantity that is not a positive whole number.
    """
    for _product, quantity in lines:
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
            raise InventoryError(_("The quantity must be a positive whole number of base units."))
    if not lines:
        return []
    on_date = on_date or clock.today()
    rows = db.session.execute(
        select(StockBalance.quantity, Lot.id, Lot.lot_no, Lot.expires_on, Lot.status, Lot.product_id)
        .join(Lot, StockBalance.lot_id == Lot.id)
        .where(StockBalance.location_id == from_location.id, Lot.product_id.in_({p.id for p, _q in lines}),
               StockBalance.quantity > 0)
        .order_by(StockBalance.id)
        .with_for_update(of=StockBalance)
    ).all()
    available: dict[int, int] = {}
    lots_of: dict[int, list] = {}
    for qty, lot_id, lot_no, expires_on, status, product_id in rows:
        available[lot_id] = qty
        lots_of.setdefault(product_id, []).append((lot_id, lot_no, expires_on, status))
    result = []
    for product, quantity in lines:
        stock = [LotStock(lot_id, lot_no, exp, status, available[lot_id])
                 for lot_id, lot_no, exp, status in lots_of.get(product.id, [])]
        allocation = fefo(stock, quantity, on_date, product.min_shelf_days_for_tier(destination_tier))
        for pick in allocation.picks:
            available[pick.lot_id] -= pick.quantity
        result.append(allocation)
    return result


# -- reported flows (channel data) --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportedFlow:
    """Reported outflow of one product from a distributor's location on one day, summed over the report's lines:
    sell-out to terminals (``to_location_id`` None) or a transfer to another distributor's location. ``lot_id``
    None: the report named no lot, taken FEFO from the lots held there. A negative quantity (more reported returns
    than sales that day) brings stock back and needs a lot."""

    kind: str  # sell_out | transfer
    location_id: int
    product_id: int
    lot_id: int | None
    quantity: int
    business_date: date
    to_location_id: int | None = None


@dataclass(frozen=True)
class Shortfall:
    location_id: int
    product_id: int
    lot_id: int | None
    requested: int
    posted: int
    reason: str  # no_stock (the lot / product is not held there) | short (held, but less) | return_without_lot


@dataclass
class FlowPosting:
    movements: int = 0
    reversals: int = 0
    quantity: int = 0
    shortfalls: list[Shortfall] | None = None


def post_reported_flows(reference: str, flows, *, replaces: str | None = None, note: str | None = None,
                        write: Callable | None = None) -> FlowPosting:
    """Post reported sell-out and transfers set-based, in one pass over the balances they touch.

    ``reference`` names the report (every movement written carries it). With ``replaces`` (the reference of the
    version being replaced) every movement that version posted and has not yet been reversed is first reversed: a
    movement of the same kind and lot in the opposite direction naming it (``reverses_id``), on its business date,
    so flows in any window net out. The balances touched are locked once, in (location, lot) order as every writer
    does, and each is updated once by its net change, so a replacement that sells the same stock again needs no
    more stock than the difference. Stock never goes below zero: what a location cannot give (a lot it does not
    hold, more than it holds) is not posted and comes back as :class:`Shortfall` lines; the caller records them.
    Adds and flushes; returns what was written. ``write(table, columns, rows)``, when given, appends the movements
    (tuples in ``columns`` order) in the caller's bulk way (the load's COPY); by default one executemany.
    """
    result = FlowPosting(shortfalls=[])
    flows = [f for f in flows if f.quantity != 0]
    old = _open_postings(replaces) if replaces else []
    products = {f.product_id for f in flows}
    locations = {f.location_id for f in flows} | {f.to_location_id for f in flows if f.to_location_id}
    locations |= {loc for m in old for loc in (m["from_location_id"], m["to_location_id"]) if loc}
    lot_ids = {f.lot_id for f in flows if f.lot_id} | {m["lot_id"] for m in old}
    if not flows and not old:
        return result
    stock, lots = _lock_balances(locations, products, lot_ids, flows, old)
    owner = dict(db.session.execute(select(StockLocation.id, StockLocation.distributor_id)
                                    .where(StockLocation.id.in_(locations))).all())
    actor = current_actor().label
    rows: list[dict] = []

    def move(kind, lot_id, qty, on, src, dst, reverses=None, text=note):
        if src is not None:
            stock[src, lot_id] -= qty
        if dst is not None:
            stock[dst, lot_id] = stock.get((dst, lot_id), 0) + qty
        rows.append(dict(business_date=on, kind=kind, lot_id=lot_id, quantity=qty, from_location_id=src,
                         to_location_id=dst, from_distributor_id=owner.get(src), to_distributor_id=owner.get(dst),
                         reference=reference, note=text, actor=actor, reverses_id=reverses))

    for m in old:  # reversals first: what they give back is there for the new version
        qty = m["remaining"]
        if m["to_location_id"] is not None:  # stock the earlier version moved in (a transfer) must still be there
            qty = min(qty, max(stock.get((m["to_location_id"], m["lot_id"]), 0), 0))
            if qty < m["remaining"]:
                result.shortfalls.append(Shortfall(m["to_location_id"], lots[m["lot_id"]][0], m["lot_id"],
                                                   m["remaining"], qty, "reversal_short"))
        if qty > 0:
            move(m["kind"], m["lot_id"], qty, m["business_date"], m["to_location_id"], m["from_location_id"],
                 reverses=m["id"])
            result.reversals += 1
    for f in sorted(flows, key=lambda f: (f.business_date, f.location_id, f.product_id, f.lot_id or 0)):
        if f.quantity < 0:
            if f.lot_id is None:
                result.shortfalls.append(Shortfall(f.location_id, f.product_id, None, f.quantity, 0,
                                                   "return_without_lot"))
                continue
            move(MovementKind.ADJUSTMENT.value, f.lot_id, -f.quantity, f.business_date, None, f.location_id,
                 text=_("Reported customer returns exceed sales of the day (%(ref)s).", ref=reference))
            continue
        candidates = [f.lot_id] if f.lot_id else _fefo_order(stock, lots, f.location_id, f.product_id)
        left = f.quantity
        for lot_id in candidates:
            take = min(left, max(stock.get((f.location_id, lot_id), 0), 0))
            if take > 0:
                move(f.kind, lot_id, take, f.business_date, f.location_id, f.to_location_id)
                left -= take
            if left == 0:
                break
        if left:
            held = any(stock.get((f.location_id, lot_id)) is not None for lot_id in candidates)
            result.shortfalls.append(Shortfall(f.location_id, f.product_id, f.lot_id, f.quantity,
                                               f.quantity - left, "short" if held else "no_stock"))
    _write_flows(rows, stock, write)
    result.movements = len(rows) - result.reversals
    result.quantity = sum(r["quantity"] for r in rows if r["reverses_id"] is None)
    return result


def _open_postings(reference: str) -> list[dict]:
    """The movements posted under ``reference`` with what of each is not yet reversed."""
    m, r = StockMovement, aliased(StockMovement)
    reversed_qty = (select(func.coalesce(func.sum(r.quantity), 0)).where(r.reverses_id == m.id)
                    .correlate(m).scalar_subquery())
    rows = db.session.execute(
        select(m.id, m.kind, m.lot_id, m.quantity, m.business_date, m.from_location_id, m.to_location_id,
               reversed_qty.label("reversed"))
        .where(m.reference == reference, m.reverses_id.is_(None)).order_by(m.id)).mappings()
    return [{**row, "remaining": row["quantity"] - row["reversed"]} for row in rows
            if row["quantity"] - row["reversed"] > 0]


def _lock_balances(locations, products, lot_ids, flows, old):
    """Create the balance rows inbound sides need, then lock every balance of these locations for these products
    and lots, in (location, lot) order. Returns ({(location, lot): qty}, {lot: (product, expires_on, lot_no)})."""
    lot_rows = db.session.execute(select(Lot.id, Lot.product_id, Lot.expires_on, Lot.lot_no).where(
        (Lot.product_id.in_(products)) | (Lot.id.in_(lot_ids)))).all() if (products or lot_ids) else []
    lots = {lot_id: (product_id, exp, lot_no) for lot_id, product_id, exp, lot_no in lot_rows}
    inbound = {(f.to_location_id, f.lot_id) for f in flows if f.to_location_id and f.lot_id}
    inbound |= {(f.location_id, f.lot_id) for f in flows if f.quantity < 0 and f.lot_id}
    inbound |= {(m["from_location_id"], m["lot_id"]) for m in old if m["from_location_id"]}
    if any(f.to_location_id and not f.lot_id for f in flows):  # FEFO transfers may land on any lot held
        inbound |= {(f.to_location_id, lot_id) for f in flows if f.to_location_id for lot_id, (p, _e, _n)
                    in lots.items() if p == f.product_id}
    _ensure_balances(inbound)
    rows = db.session.execute(
        select(StockBalance.location_id, StockBalance.lot_id, StockBalance.quantity)
        .where(StockBalance.location_id.in_(locations), StockBalance.lot_id.in_(list(lots)))
        .order_by(StockBalance.location_id, StockBalance.lot_id).with_for_update()).all() if lots else []
    return {(loc, lot): qty for loc, lot, qty in rows}, lots


def _ensure_balances(keys) -> None:
    if not keys:
        return
    owner = dict(db.session.execute(select(StockLocation.id, StockLocation.distributor_id)
                                    .where(StockLocation.id.in_({loc for loc, _lot in keys}))).all())
    values = [{"location_id": loc, "lot_id": lot, "distributor_id": owner.get(loc), "quantity": 0,
               "updated_at": utcnow()} for loc, lot in sorted(keys)]
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    db.session.execute(upsert(StockBalance).values(values).on_conflict_do_nothing(
        index_elements=["location_id", "lot_id"]))


def _fefo_order(stock, lots, location_id: int, product_id: int) -> list[int]:
    held = [lot_id for (loc, lot_id), qty in stock.items() if loc == location_id and qty > 0
            and lots[lot_id][0] == product_id]
    return sorted(held, key=lambda lot_id: (lots[lot_id][1], lots[lot_id][2]))


def _write_flows(rows: list[dict], stock: dict, write: Callable | None = None) -> None:
    if not rows:
        return
    if write is None:
        db.session.execute(insert(StockMovement.__table__), rows)  # Core executemany: no ORM objects per row
    else:  # a COPY sets no column defaults: the posting's moment is given
        at = utcnow()
        columns = ("at", *rows[0])
        write(StockMovement.__table__, columns, [(at, *r.values()) for r in rows])
    touched = {(r["from_location_id"], r["lot_id"]) for r in rows if r["from_location_id"]}
    touched |= {(r["to_location_id"], r["lot_id"]) for r in rows if r["to_location_id"]}
    if any(stock[key] < 0 for key in touched):  # cannot happen (every take is capped); the constraint backs it
        raise InventoryError(_("Stock never goes below zero."))
    table = StockBalance.__table__
    db.session.execute(
        update(table).where(table.c.location_id == bindparam("loc"), table.c.lot_id == bindparam("lot"))
        .values(quantity=bindparam("qty"), updated_at=utcnow()),
        [{"loc": loc, "lot": lot, "qty": stock[loc, lot]} for loc, lot in sorted(touched)])
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, StockBalance):
            db.session.expire(obj)  # the rows changed underneath any loaded objects


# -- reading ------------------------------------------------------------------------------------------------------
def ledger_sum(location_id: int, lot_id: int) -> int:
    """On hand recomputed from the ledger (what the balance must always equal)."""
    inflow = db.session.execute(select(func.coalesce(func.sum(StockMovement.quantity), 0)).where(
        StockMovement.to_location_id == location_id, StockMovement.lot_id == lot_id)).scalar_one()
    outflow = db.session.execute(select(func.coalesce(func.sum(StockMovement.quantity), 0)).where(
        StockMovement.from_location_id == location_id, StockMovement.lot_id == lot_id)).scalar_one()
    return int(inflow) - int(outflow)


@dataclass
class OpeningResult:
    rows: int
    lots_created: int
    quantity: int
