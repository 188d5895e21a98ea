"""Demo sell-in orders, shipments, invoices and payments, so the finance pages and agreement achievement show real
numbers in the demo.

Registered with :mod:`app.demo` (after the prices and agreements) from ``distribution.init_app``. Everything goes
through the services as the demo users would do it. The plant delivers a few cases of every product to the
manufacturer's warehouse at the start of the period (a receipt in the stock ledger, after the warehouse's last one);
finance (``finance``) sets each tier-1 distributor's credit from its agreement; the distributor users (``dist_zj``,
``dist_gd``) place their own orders and the channel manager (``manager``) places the others' on their behalf and
ships them (FEFO from the manufacturer's warehouse, invoiced with the agreement's payment terms); payments come in
as each distributor pays. Day by day, in date order, over the months since the warehouse last received stock (so no
shipment takes stock before it arrived) and within the business year (the agreements' period):

* most distributors pay on or a little before the due date; a few pay a few days late, inside their grace days
  (aging shows 1–30 days overdue); two stopped paying two months ago: the nightly job
  (:func:`credit.services.apply_overdue_holds`) puts them on hold, and their orders wait in finance's queue with the
  overdue invoices named;
* GD101's rating was lowered and its limit cut mid-way: its larger orders are held for the limit; finance let one
  through with a reason and rejected one; one waits in the queue;
* ZJ101 has a temporary increase for the season; orders of the last days are approved and not shipped yet (their
  credit is reserved).

Adds nothing when any order exists, or when the agreements or demo users are missing. Adds and flushes, never
commits; deterministic for the seed and business date.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from flask_babel import force_locale
from sqlalchemy import func, select

from app.extensions import db
from app.masterdata.resources import can_ship_to
from app.models import Distributor, Product, User
from app.tenancy import acting_as, actor_for_user
from credit import services as credit
from distribution import orders
from distribution.agreements import agreements_in_force
from distribution.models.agreements import Agreement, AgreementStatus
from distribution.models.orders import Order
from inventory.models import Lot, StockBalance, StockMovement

MAX_DAYS = 150  # how far back the order history goes (at most)
DELINQUENT = 2  # distributors that stopped paying
LATE = 4  # distributors that pay a few days late, inside their grace days
GRACE_DAYS = 10
NEAR_LIMIT = "GD101"  # its limit is cut mid-way: orders held for the limit
SEASONAL = "ZJ101"  # a temporary increase for the season
STOCK_SHARE = 0.6  # the orders use at most this share of what the warehouse holds of a product
RESTOCK_CASES = 6  # cases of each product the plant delivers at the start of the period
CENT = Decimal("0.01")


@dataclass
class Buyer:
    distributor: Distributor
    placer: User
    products: list[Product]
    terms: int
    behaviour: str  # prompt | late | delinquent | near_limit (from the limit cut on)
    next_order: date
    invoices: list[tuple[date, str, Decimal]] = field(default_factory=list)  # (pays on, reference, amount)


def _user(username: str) -> User | None:
    return db.session.execute(select(User).where(User.username == username, User.active)).scalar_one_or_none()


def _usable_stock(source_id: int, today: date) -> Counter:
    """Base units per product at the warehouse in released lots with more than half a year left."""
    rows = db.session.execute(
        select(Lot.product_id, func.sum(StockBalance.quantity)).join(Lot, Lot.id == StockBalance.lot_id)
        .where(StockBalance.location_id == source_id, StockBalance.quantity > 0, Lot.status == "released",
               Lot.expires_on > today + timedelta(days=200)).group_by(Lot.product_id))
    return Counter({pid: int(q * STOCK_SHARE) for pid, q in rows})


def _restock(source, start: date, today: date) -> int:
    """The plant's delivery at the start of the period: RESTOCK_CASES more cases of each product's newest released
    lot that has more than a year left, received into the warehouse on the first day (before any of the orders
    ship, so no shipment takes stock that had not arrived). Returns the base units received."""
    from inventory import services as inventory

    newest: dict[int, Lot] = {}
    for lot in db.session.execute(select(Lot).where(Lot.status == "released", Lot.expires_on > today + timedelta(
            days=365)).order_by(Lot.product_id, Lot.expires_on.desc(), Lot.id)).scalars():
        newest.setdefault(lot.product_id, lot)
    received = 0
    for lot in newest.values():
        if lot.product.active:
            quantity = RESTOCK_CASES * lot.product.pack_size
            inventory.post_movement("receipt", lot, quantity, to_location=source, on_date=start,
                                    reference=f"RK{start:%Y%m%d}-{source.code}", note="生产入库（订单备货）")
            received += quantity
    return received


def _window(source_id: int, today: date) -> date | None:
    """The first day orders may ship: after the warehouse's last inflow, inside the business year."""
    last_in = db.session.execute(select(func.max(StockMovement.business_date))
                                 .where(StockMovement.to_location_id == source_id)).scalar_one()
    start = max(today - timedelta(days=MAX_DAYS), date(today.year, 1, 1), (last_in or date.min) + timedelta(days=1))
    return start if (today - start).days >= 45 else None


def _buyers(rng: random.Random, manager: User, today: date, start: date, stock: Counter) -> list[Buyer]:
    agreements = db.session.execute(
        select(Agreement).join(Distributor, Distributor.id == Agreement.distributor_id)
        .where(Agreement.status == AgreementStatus.ACTIVE.value, Distributor.tier == 1)
        .order_by(Distributor.code)).scalars().all()
    products = db.session.execute(select(Product).where(Product.id.in_(list(stock))).order_by(Product.code)
                                  ).scalars().all()
    buyers = []
    for a in agreements:
        d = a.distributor
        if not can_ship_to(d):
            continue
        authorised = agreements_in_force(d, products, today)
        mine = [p for p in products if p.id in authorised]
        if len(mine) < 3:
            continue
        own = {"ZJ101": "dist_zj", "GD101": "dist_gd"}.get(d.code)
        placer = (_user(own) if own else None) or manager
        buyers.append(Buyer(d, placer, mine, a.payment_terms_days, "prompt",
                            start + timedelta(days=rng.randint(0, 20))))
    others = [b for b in buyers if b.distributor.code not in (NEAR_LIMIT, SEASONAL)]
    rng.shuffle(others)
    for b in others[:DELINQUENT]:
        b.behaviour = "delinquent"
    for b in others[DELINQUENT:DELINQUENT + LATE]:
        b.behaviour = "late"
    return buyers


def _lines(rng: random.Random, b: Buyer, stock: Counter) -> list[dict]:
    """2–4 lines of 1–4 cases (as far as the warehouse has them); from the limit cut on, GD101 orders 3–10 cases
    whatever the stock (those orders are held for the limit; one let through ships what there is)."""
    lines = []
    for p in rng.sample(b.products, k=min(len(b.products), rng.randint(2, 4))):
        if b.behaviour == "near_limit":
            lines.append({"product_code": p.code, "quantity": rng.randint(3, 10), "unit": "case"})
            continue
        cases = min(rng.randint(1, 4), stock[p.id] // p.pack_size)
        if cases > 0:
            stock[p.id] -= cases * p.pack_size
            lines.append({"product_code": p.code, "quantity": cases, "unit": "case"})
    return lines


def _place(b: Buyer, lines: list[dict], day: date) -> Order | None:
    with acting_as(actor_for_user(b.placer)):
        try:
            with db.session.begin_nested():  # a refused order leaves nothing behind
                return orders.place_order(b.distributor, lines, b.placer, on_date=day)
        except orders.OrderError:
            return None


def seed_order_demo(seed: int, today: date) -> str:
    """The demo orders and receivables (see the module docstring); nothing when any order exists, or the demo's
    agreements, users or warehouse stock are missing."""
    started = time.perf_counter()
    if db.session.execute(select(Order.id).limit(1)).first() is not None:
        return "orders: already present; nothing added"
    finance, manager = _user("finance"), _user("manager")
    source = orders.manufacturer_warehouse()
    if finance is None or manager is None or source is None:
        return "orders: the demo users finance / manager or the warehouse are missing; nothing added"
    start = _window(source.id, today)
    if start is None:
        return "orders: the warehouse received stock too recently for an order history; nothing added"
    rng = random.Random(f"{seed}:orders")
    delivered = _restock(source, start, today)
    stock = _usable_stock(source.id, today)
    buyers = _buyers(rng, manager, today, start, stock)
    if not buyers:
        return "orders: no tier-1 distributor with an active agreement; nothing added"
    with force_locale("zh"):
        made = _history(rng, buyers, finance, manager, start, today, stock)
    counts = Counter(o.status for o in db.session.execute(select(Order)).scalars())
    held = sum(b.distributor.code != NEAR_LIMIT and b.behaviour == "delinquent" for b in buyers)
    return (f"orders: {sum(counts.values())} for {len(buyers)} tier-1 distributors since {start.isoformat()} "
            f"({counts['shipped']} shipped, {counts['partially_shipped']} partly shipped, {counts['approved']} "
            f"approved not yet shipped, {counts['credit_hold']} on credit hold, {counts['rejected']} rejected); "
            f"{made['invoices']} invoices, {made['payments']} payments; {made['overdue_holds']} distributors put on "
            f"hold for overdue invoices ({held} stopped paying); {delivered} units delivered to {source.code} on "
            f"{start.isoformat()}; {time.perf_counter() - started:.1f} s")


def _history(rng: random.Random, buyers: list[Buyer], finance: User, manager: User, start: date, today: date,
             stock: Counter) -> Counter:
    made: Counter = Counter()
    by_code = {b.distributor.code: b for b in buyers}
    with acting_as(actor_for_user(finance)):
        for b in buyers:
            credit.set_credit_terms(b.distributor, limit=_limit(b), rating="A" if b.behaviour == "prompt" else "B",
                                    payment_terms_days=b.terms, grace_days=GRACE_DAYS, reason="按年度协议核定授信额度",
                                    user=finance)
        if SEASONAL in by_code:
            credit.add_temporary_increase(by_code[SEASONAL].distributor, Decimal("300000.00"),
                                          today - timedelta(days=20), today + timedelta(days=40), finance,
                                          "年末备货旺季，临时上调额度")
    to_ship: dict[date, list[Order]] = {}
    cut_on = start + (today - start) * 2 // 3
    stopped = today - timedelta(days=60)
    day = start
    while day <= today:
        if day == cut_on and NEAR_LIMIT in by_code:
            _cut_limit(by_code[NEAR_LIMIT], finance, day)
        _pay(buyers, finance, day, made)
        for b in buyers:
            if b.next_order <= day < today:
                lines = _lines(rng, b, stock)
                order = _place(b, lines, day) if lines else None
                if order is not None and (order.status == "approved" or _decide(order, finance, made)):
                    to_ship.setdefault(day + timedelta(days=rng.randint(1, 3)), []).append(order)
                b.next_order = day + timedelta(days=rng.randint(20, 35))
        for order in to_ship.pop(day, []):
            _ship(rng, order, manager, day, by_code[order.distributor.code], stopped, made)
        day += timedelta(days=1)
    with acting_as(actor_for_user(finance)):
        made["overdue_holds"] = credit.apply_overdue_holds(today)
    # today's orders: the held distributors' wait in finance's queue; three others' are approved, not yet shipped
    prompt = [b for b in buyers if b.behaviour == "prompt"]
    held = [b for b in buyers if b.behaviour in ("delinquent", "near_limit")]
    for b in held + rng.sample(prompt, min(3, len(prompt))):
        lines = _lines(rng, b, stock)
        if lines:
            _place(b, lines, today)
    return made


def _limit(b: Buyer) -> Decimal:
    agreement = db.session.execute(select(Agreement.proposed_credit_limit).where(
        Agreement.distributor_id == b.distributor.id, Agreement.status == AgreementStatus.ACTIVE.value)).scalar_one()
    return Decimal(agreement)


def _cut_limit(b: Buyer, finance: User, day: date) -> None:
    """The rating is lowered: the limit comes down to a little over what the distributor owes and has reserved
    (rounded up to ten thousand yuan), and its orders grow: the larger ones are held for the limit from then on."""
    with acting_as(actor_for_user(finance)):
        exp = credit.exposure(b.distributor, day)
        limit = -(-(exp.total + Decimal("10000")) // 10000) * 10000
        credit.set_credit_terms(b.distributor, limit=limit, rating="C",
                                reason=f"{day.isoformat()} 回款变慢，信用评级下调至 C，额度相应调整", user=finance)
    b.behaviour = "near_limit"


def _decide(order: Order, finance: User, made: Counter) -> bool:
    """Finance lets GD101's first held order through with a reason and rejects the second; later ones wait in the
    queue. Returns whether the order may now ship."""
    if order.distributor.code != NEAR_LIMIT or made["decided"] >= 2:
        return False
    approve = made["decided"] == 0
    made["decided"] += 1
    reason = "经销商已承诺本月底前回款，本单特批放行" if approve else "超出授信额度且回款放缓，本单不予放行"
    with acting_as(actor_for_user(finance)):
        orders.decide_order_hold(order, approve, finance, reason)
    return approve


def _ship(rng: random.Random, order: Order, manager: User, day: date, b: Buyer, stopped: date,
          made: Counter) -> None:
    """Ship (FEFO, invoiced) and note when the distributor will pay the invoice, as it does: prompt payers up to a
    week before the due date, late ones a few days after it (within the grace days), the delinquent ones not at
    all once they stopped paying."""
    with acting_as(actor_for_user(manager)):
        try:
            with db.session.begin_nested():  # nothing of a shipment that cannot be made stays
                shipment = orders.ship_order(order, manager, on_date=day)
        except orders.OrderError:
            return
    made["invoices"] += 1
    due = day + timedelta(days=b.terms)
    if b.behaviour == "late":
        pay_on = due + timedelta(days=rng.randint(2, GRACE_DAYS - 2))
    else:
        pay_on = due - timedelta(days=rng.randint(0, 7))
    if b.behaviour != "delinquent" or pay_on < stopped:
        b.invoices.append((pay_on, shipment.invoice_reference, shipment.amount))


def _pay(buyers: list[Buyer], finance: User, day: date, made: Counter) -> None:
    for b in buyers:
        for invoice in [i for i in b.invoices if i[0] == day]:
            _pay_on, reference, amount = invoice
            with acting_as(actor_for_user(finance)):
                credit.record_payment(b.distributor, amount, day, f"YH{day:%Y%m%d}-{reference.removeprefix('INV-')}",
                                      user=finance, note="银行回单")
            b.invoices.remove(invoice)
            made["payments"] += 1
