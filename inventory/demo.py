"""Demo stock for the demo channel: lots, a ledger of receipts, sell-in shipments, tier-1 → tier-2 transfers,
reported sell-out and returns, one quarantined lot and the near-expiry alerts.

Registered with :mod:`app.demo` from ``inventory.init_app``, so ``flask drp seed-demo`` fills the stock, channel
stock, near-expiry and recall-trace pages too. Like the master data it works in two steps: :func:`plan_stock`
turns plain values (products, the distributors that may be shipped to, terminals) and the seed into lots and
movements, following every location × lot day by day so no balance ever goes below zero; :func:`seed_stock_demo`
registers the lots and posts the movements in date order through :func:`inventory.services.post_movement`, which
checks every rule again, except the ~5,000 reported sell-out lines, which go in set-based at the end (see
:func:`_post_sell_outs`). It adds and flushes, never commits, and adds nothing when the ledger already holds lots or
movements. About 10,000 movements: a few seconds on SQLite or PostgreSQL.

The story: each product has 2–4 lots made 6–30 months ago; regular lots keep more than 200 days of shelf life, and
14 short-dated lots (2 expired, 3 / 4 / 5 within 30 / 90 / 180 days) were bought once by a tier-1 distributor that
does not carry the product and sell slowly. Tier-1 distributors are shipped every 4–7 weeks (FEFO, respecting
their minimum remaining shelf life) from the warehouse serving their province and pass stock on to their tier-2s;
both report sell-out to terminals of their own province (tier 2: their own city) over the last 120 days, ending
with a few days to a few months of stock, so days of inventory reads under, normal and over.
"""

from __future__ import annotations

import calendar
import math
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import date, timedelta

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import aliased

from app.demo import DEMO_USERS, LOCATIONS, RX_LINES, register_demo_extension
from app.extensions import db
from app.masterdata.resources import can_ship_to
from app.models import Distributor, Product, ProductLine, Region, StockLocation, Terminal
from app.tenancy import current_actor
from inventory import services
from inventory.expiry import scan_near_expiry
from inventory.models import Lot, LotStatus, StockBalance, StockMovement

WINDOW = 120  # days of reported sell-out, up to the business date
MAIN_WAREHOUSE, QUARANTINE = "HK-WH-HZ", "HK-QT-HZ"
WAREHOUSE_OF = {"44": "HK-WH-GZ", "51": "HK-WH-CD", "50": "HK-WH-CD", "41": "HK-WH-ZZ", "42": "HK-WH-ZZ",
                "11": "HK-WH-ZZ"}  # province (2 digits) → serving warehouse; the rest from 杭州总仓
FULL_RANGE = frozenset(dc for *_rest, dc in DEMO_USERS if dc)  # the demo distributor users see every line
# short-dated lots held in the channel: label, days of shelf life left today (from, to), how many
SHORT_DATED = (("expired", -60, -10, 2), ("30", 8, 28, 3), ("90", 35, 85, 4), ("180", 100, 170, 5))
PHASE = {"receipt": 0, "shipment": 1, "transfer": 2, "sell_out": 3, "return": 4}  # order within one day
DAMAGED = "运输破损（外箱受潮），退回隔离库"
EXPIRED_BACK = "过期品退回隔离库，待销毁"
QUARANTINE_BACK = "质量复检暂停销售，退回隔离库"
QUARANTINE_REASON = "溶出度复检偏差，质量部通知暂停发货和销售，待复检结论"


# -- plain values -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProductInfo:
    id: int
    code: str
    line: str
    shelf_months: int
    min_shelf_tier1: int


@dataclass(frozen=True)
class DistributorInfo:
    id: int
    code: str
    tier: int
    parent_id: int | None
    province: str  # 2 digits
    city_unit_id: int | None
    location_id: int


@dataclass
class StockWorld:
    today: date
    products: list[ProductInfo]
    distributors: list[DistributorInfo]  # only those that may be shipped to (tier 2: under such a tier 1)
    warehouses: dict[str, int]  # manufacturer warehouse code → location id
    quarantine_id: int
    by_province: dict[str, list[int]]  # active terminal ids
    hospitals_by_province: dict[str, list[int]]
    by_city: dict[int, list[int]]


@dataclass(frozen=True)
class LotPlan:
    product_id: int
    lot_no: str
    manufactured_on: date
    expires_on: date
    released_on: date  # received into the warehouse after QC release
    short_dated: str | None = None  # one of SHORT_DATED's labels

    @property
    def key(self) -> tuple[int, str]:
        return self.product_id, self.lot_no


@dataclass(frozen=True)
class Move:
    on: date
    kind: str
    product_id: int
    quantity: int | None  # None: all the source holds of the lot (a return)
    lot_no: str | None = None  # None: FEFO from what the source holds
    src: int | None = None  # location ids
    dst: int | None = None
    terminal_id: int | None = None
    reference: str | None = None
    note: str | None = None


@dataclass
class StockPlan:
    lots: list[LotPlan]
    moves: list[Move]
    quarantined: tuple[int, str] | None = None  # lot key


# -- the plan -----------------------------------------------------------------------------------------------------
def _add_months(day: date, months: int) -> date:
    """The same day ``months`` later (or earlier), or that month's last day when it has no such day."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def expiry_for(made: date, months: int) -> date:
    """有效期至 of a lot made on ``made`` with ``months`` of shelf life: the day before the same day that much later."""
    return _add_months(made, months) - timedelta(days=1)


def _lot(rng: random.Random, p: ProductInfo, made: date, short: str | None = None) -> LotPlan:
    return LotPlan(p.id, f"{made:%y%m%d}{rng.randint(1, 9)}", made, expiry_for(made, p.shelf_months),
                   made + timedelta(days=rng.randint(10, 21)), short)


def _regular_lots(rng: random.Random, p: ProductInfo, today: date) -> list[LotPlan]:
    """2–4 lots, the newest made 6–9 months ago, older ones 2–5 months apart while >200 days of shelf life remain."""
    lots, age = [], rng.randint(185, 270)
    for _ in range(rng.choice((2, 3, 3, 4))):
        lot = _lot(rng, p, today - timedelta(days=age))
        if lots and (lot.expires_on - today).days < 200:
            break
        lots.append(lot)
        age += rng.randint(60, 150)
    return lots


def _schedule(rng: random.Random, first: date, gap: tuple[int, int], last: date) -> list[date]:
    dates = [first]
    while True:
        nxt = dates[-1] + timedelta(days=rng.randint(*gap))
        if nxt > last:
            return dates
        dates.append(nxt)


def _ending_days(rng: random.Random) -> float:
    """Days of sell-out left in stock at the end: mostly normal, some over, some under, a few out of stock."""
    r = rng.random()
    if r < 0.07:
        return 0.0
    if r < 0.19:
        return rng.uniform(2, 10)
    if r < 0.33:
        return rng.uniform(100, 200)
    return rng.uniform(15, 60)


def _warehouse(world: StockWorld, d: DistributorInfo) -> int:
    """The manufacturer warehouse serving ``d``'s province (杭州总仓 when that one is missing)."""
    return world.warehouses.get(WAREHOUSE_OF.get(d.province, MAIN_WAREHOUSE)) or world.warehouses[MAIN_WAREHOUSE]


def _fefo_lot(lots: list[LotPlan], on: date, min_shelf: int) -> LotPlan | None:
    """The lot a shipment on ``on`` takes: first expiry among the released regular lots with at least
    ``min_shelf`` days left, else the longest-dated released one."""
    released = [lot for lot in lots if lot.short_dated is None and lot.released_on <= on]
    eligible = [lot for lot in released if (lot.expires_on - on).days >= min_shelf]
    if eligible:
        return min(eligible, key=lambda lot: (lot.expires_on, lot.lot_no))
    return max(released, key=lambda lot: (lot.expires_on, lot.lot_no), default=None)


def _size_supplies(dates: list[date], outflows: list[Move], today: date, extra_first: int, extra_last: int
                   ) -> list[tuple[date, int]]:
    """Each supply covers the outflows until the next one; the first adds safety stock, the last the ending stock."""
    out = []
    for k, on in enumerate(dates):
        until = dates[k + 1] if k + 1 < len(dates) else today + timedelta(days=1)
        qty = sum(m.quantity for m in outflows if on <= m.on < until)
        qty += (extra_first if k == 0 else 0) + (extra_last if k == len(dates) - 1 else 0)
        if qty > 0:
            out.append((on, qty))
    return out


def plan_stock(rng: random.Random, world: StockWorld) -> StockPlan:
    """Lots and movements from plain values alone (no session, no writes), deterministic for the random stream."""
    today = world.today
    products = world.products
    lots = {p.id: _regular_lots(rng, p, today) for p in products}
    tier1 = [d for d in world.distributors if d.tier == 1]
    kids: dict[int, list[DistributorInfo]] = defaultdict(list)
    for d in world.distributors:
        if d.tier == 2:
            kids[d.parent_id].append(d)
    lines = sorted({p.line for p in products})
    carried: dict[int, list[ProductInfo]] = {}
    for d in tier1:
        mine = set(lines if d.code in FULL_RANGE else rng.sample(lines, rng.randint(3, len(lines))))
        carried[d.id] = [p for p in products if p.line in mine and rng.random() < 0.3]
        for c in kids[d.id]:
            carried[c.id] = [p for p in carried[d.id] if rng.random() < 0.3]
    popularity = {p.id: math.exp(rng.uniform(math.log(1.5), math.log(20))) for p in products}
    size = {d.id: rng.uniform(0.6, 1.6) if d.tier == 1 else rng.uniform(0.15, 0.5) for d in world.distributors}

    def pool(d: DistributorInfo, line: str) -> list[int]:
        if d.tier == 2 and world.by_city.get(d.city_unit_id):
            return world.by_city[d.city_unit_id]
        if line in RX_LINES and rng.random() < 0.65 and world.hospitals_by_province.get(d.province):
            return world.hospitals_by_province[d.province]
        return world.by_province.get(d.province, [])

    def sell_outs(d: DistributorInfo, p: ProductInfo, start: date, end: date, n: int, total: float) -> list[Move]:
        span = (end - start).days + 1
        out = []
        for off in sorted(rng.sample(range(span), min(n, span))):
            on = start + timedelta(days=off)
            terminals = pool(d, p.line)
            if terminals:
                out.append(Move(on, "sell_out", p.id, max(1, round(total / n * rng.uniform(0.6, 1.4))),
                                src=d.location_id, terminal_id=rng.choice(terminals),
                                reference=f"LX-{d.code}-{on:%Y%m}"))
        return out

    intents: list[Move] = []
    ending: dict[tuple[int, int], tuple[int, int]] = {}  # (distributor, product) → (safety, ending stock)
    own_sales: dict[tuple[int, int], list[Move]] = {}
    first_sale = today - timedelta(days=WINDOW - 1)
    for d in world.distributors:
        for p in carried.get(d.id, []):
            rate = popularity[p.id] * size[d.id]
            own_sales[d.id, p.id] = sell_outs(d, p, first_sale, today, rng.randint(3, 6), rate * WINDOW)
            ending[d.id, p.id] = (round(rate * rng.uniform(5, 15)), round(rate * _ending_days(rng)))
    transfers_out: dict[tuple[int, int], list[Move]] = defaultdict(list)
    for d in tier1:
        for c in kids[d.id]:
            dates = _schedule(rng, today - timedelta(days=WINDOW + rng.randint(3, 8)), (30, 50),
                              today - timedelta(days=5))
            for p in carried[c.id]:
                safety, stock = ending[c.id, p.id]
                for on, qty in _size_supplies(dates, own_sales[c.id, p.id], today, safety, stock):
                    move = Move(on, "transfer", p.id, qty, src=d.location_id, dst=c.location_id,
                                reference=f"DB{on:%Y%m%d}-{c.code}")
                    transfers_out[d.id, p.id].append(move)
                    intents.append(move)
    for d in tier1:
        warehouse = _warehouse(world, d)
        dates = _schedule(rng, today - timedelta(days=WINDOW + rng.randint(12, 20)), (30, 50),
                          today - timedelta(days=3))
        for p in carried[d.id]:
            safety, stock = ending[d.id, p.id]
            outflows = own_sales[d.id, p.id] + transfers_out[d.id, p.id]
            for on, qty in _size_supplies(dates, outflows, today, safety, stock):
                lot = _fefo_lot(lots[p.id], on, p.min_shelf_tier1)
                if lot is not None:
                    intents.append(Move(on, "shipment", p.id, qty, lot.lot_no, src=warehouse, dst=d.location_id,
                                        reference=f"FH{on:%Y%m%d}-{d.code}"))
    for moves in own_sales.values():
        intents.extend(moves)

    # short-dated lots: bought once by a tier-1 distributor that does not carry the product, selling slowly
    candidates = [p for p in products if p.shelf_months == 24 and len(lots[p.id]) <= 3]
    rng.shuffle(candidates)
    expired_holders = []
    # the demo distributor users hold one short-dated lot each, so their near-expiry page and alerts show something
    favourites = dict(zip(("30", "90"), [d for d in tier1 if d.code in FULL_RANGE], strict=False))
    for label, lo, hi, count in SHORT_DATED:
        for i in range(count):
            favourite = favourites.get(label) if i == 0 else None
            mine = [p for p in candidates if favourite is None or p not in carried[favourite.id]]
            if not mine:
                break
            p = mine[-1]
            candidates.remove(p)
            holders = [favourite] if favourite else [d for d in tier1 if p not in carried[d.id]]
            if not holders:
                continue
            d = rng.choice(holders)
            made = _add_months(today + timedelta(days=rng.randint(lo, hi) + 1), -p.shelf_months)
            lot = _lot(rng, p, made, label)
            lots[p.id].append(lot)
            ship_on = min(lot.expires_on - timedelta(days=p.min_shelf_tier1 + rng.randint(5, 40)),
                          today - timedelta(days=20))
            ship_on = max(ship_on, lot.released_on + timedelta(days=7))
            quantity = max(40, round(popularity[p.id] * rng.uniform(20, 45)))
            intents.append(Move(ship_on, "shipment", p.id, quantity, lot.lot_no, src=_warehouse(world, d),
                                dst=d.location_id,
                                reference=f"FH{ship_on:%Y%m%d}-{d.code}"))
            start, end = max(ship_on + timedelta(days=3), first_sale - timedelta(days=30)), min(today, lot.expires_on)
            n = rng.randint(2, 4)
            intents += sell_outs(d, p, start, end, n, quantity * rng.uniform(0.15, 0.3))
            if kids[d.id] and (label == "30" or rng.random() < 0.5):  # some short-dated stock at tier 2
                c = rng.choice(kids[d.id])
                on = min(ship_on + timedelta(days=rng.randint(5, 20)), end)
                part = round(quantity * rng.uniform(0.2, 0.35))
                intents.append(Move(on, "transfer", p.id, part, src=d.location_id, dst=c.location_id,
                                    reference=f"DB{on:%Y%m%d}-{c.code}"))
                intents += sell_outs(c, p, min(on + timedelta(days=3), end), end, rng.randint(1, 2),
                                     part * rng.uniform(0.2, 0.5))
            if label == "expired":
                expired_holders.append((d, lot))

    # returns: transport damage (two), and the first expired lot back to quarantine after its expiry
    regular = [(d, p) for d in tier1 for p in carried[d.id]]
    for d, p in rng.sample(regular, min(2, len(regular))):
        on = today - timedelta(days=rng.randint(15, 45))
        intents.append(Move(on, "return", p.id, rng.randint(2, 12), src=d.location_id, dst=world.quarantine_id,
                            reference=f"TH{on:%Y%m%d}-{d.code}", note=DAMAGED))
    for d, lot in expired_holders[:1]:
        on = min(lot.expires_on + timedelta(days=rng.randint(5, 15)), today - timedelta(days=1))
        intents.append(Move(on, "return", lot.product_id, None, lot.lot_no, src=d.location_id,
                            dst=world.quarantine_id, reference=f"TH{on:%Y%m%d}-{d.code}", note=EXPIRED_BACK))

    all_lots = [lot for p in products for lot in lots[p.id]]
    moves, holdings = _simulate(intents, {lot.key: lot for lot in all_lots})
    plan = StockPlan(all_lots, moves)
    _quarantine_one(plan, holdings, world, today, {d.location_id: d for d in world.distributors})
    plan.moves = _receipts(rng, plan, world) + plan.moves
    plan.moves.sort(key=lambda m: (m.on, PHASE[m.kind]))  # stable: the planned order within a day and kind
    return plan


def _simulate(intents: list[Move], lots: dict[tuple[int, str], LotPlan]):
    """Follow every distributor location × lot in date order: outflows take FEFO among unexpired lots held (or the
    named lot) and are cut to what is held, so nothing ever goes below zero. Returns the movements with their lots
    and the holdings at the end ({location: {lot key: quantity}})."""
    held: dict[int, dict[tuple[int, str], int]] = defaultdict(lambda: defaultdict(int))
    out = []
    for m in sorted(intents, key=lambda m: (m.on, PHASE[m.kind])):
        if m.kind == "shipment":
            held[m.dst][m.product_id, m.lot_no] += m.quantity
            out.append(m)
            continue
        source = held[m.src]
        if m.kind == "return":
            mine = sorted((k for k, q in source.items() if k[0] == m.product_id and q > 0),
                          key=lambda k: (-source[k], k[1]))
            key = (m.product_id, m.lot_no) if m.lot_no else (mine[0] if mine else None)
            have = source.get(key, 0) if key else 0
            parts = [(key, have if m.quantity is None else min(m.quantity, have))]
        else:
            usable = sorted((k for k, q in source.items()
                             if k[0] == m.product_id and q > 0 and lots[k].expires_on >= m.on),
                            key=lambda k: (lots[k].expires_on, k[1]))
            parts, wanted = [], m.quantity
            for k in usable:
                take = min(wanted, source[k])
                parts.append((k, take))
                wanted -= take
                if not wanted:
                    break
        for key, qty in parts:
            if qty <= 0:
                continue
            source[key] -= qty
            if m.dst is not None:
                held[m.dst][key] += qty
            out.append(replace(m, lot_no=key[1], quantity=qty))
    return out, held


def _quarantine_one(plan: StockPlan, held, world: StockWorld, today: date, dist_of: dict) -> None:
    """Quarantine the regular lot held by most distributors; its two biggest holders send it back today."""
    holders: dict[tuple[int, str], list[tuple[int, int]]] = defaultdict(list)
    for loc, stock in held.items():
        if loc in dist_of:
            for key, qty in stock.items():
                if qty > 0:
                    holders[key].append((qty, loc))
    regular = {lot.key for lot in plan.lots if lot.short_dated is None}
    ranked = sorted((k for k in holders if k in regular), key=lambda k: (-len(holders[k]), k))
    if not ranked:
        return
    key = ranked[0]
    plan.quarantined = key
    for qty, loc in sorted(holders[key], reverse=True)[:2]:
        d = dist_of[loc]
        plan.moves.append(Move(today, "return", key[0], qty, key[1], src=loc, dst=world.quarantine_id,
                               reference=f"TH{today:%Y%m%d}-{d.code}", note=QUARANTINE_BACK))


def _receipts(rng: random.Random, plan: StockPlan, world: StockWorld) -> list[Move]:
    """Each lot is received, on its release, into the warehouses that ship it: what they ship plus what they
    still hold today (the newest lot of a product the most); a lot nobody was shipped goes to 杭州总仓."""
    shipped: dict[tuple[int, str], Counter] = defaultdict(Counter)  # lot key → {warehouse: quantity}
    for m in plan.moves:
        if m.kind == "shipment":
            shipped[m.product_id, m.lot_no][m.src] += m.quantity
    newest = {}
    for lot in plan.lots:
        if lot.short_dated is None and (lot.product_id not in newest or lot.expires_on > newest[lot.product_id]):
            newest[lot.product_id] = lot.expires_on
    suffix = {loc: code.rsplit("-", 1)[-1] for code, loc in world.warehouses.items()}
    out = []
    for lot in plan.lots:
        targets = sorted(shipped[lot.key]) or [world.warehouses[MAIN_WAREHOUSE]]
        is_newest = lot.short_dated is None and newest[lot.product_id] == lot.expires_on
        for wh in targets:
            sent = shipped[lot.key][wh]
            if is_newest or not sent:
                left = round(sent * rng.uniform(0.25, 0.6)) + rng.randint(20, 200) * (1 if sent else 5)
            elif lot.short_dated:
                left = rng.randint(10, 120)
            else:
                left = round(sent * rng.uniform(0, 0.08))
            out.append(Move(lot.released_on, "receipt", lot.product_id, sent + left, lot.lot_no, dst=wh,
                            reference=f"RK{lot.released_on:%Y%m%d}-{suffix[wh]}"))
    return out


# -- reading the world, writing the plan --------------------------------------------------------------------------
def load_world(today: date) -> StockWorld | None:
    """The demo's products, warehouses, shippable distributors and terminals as plain values (None when the demo's
    warehouses are missing)."""
    codes = [code for code, _n, _k, *_rest in LOCATIONS]
    locs = {code: (loc_id, kind) for code, loc_id, kind, active in db.session.execute(
        select(StockLocation.code, StockLocation.id, StockLocation.kind, StockLocation.active)
        .where(StockLocation.code.in_(codes))) if active}
    if MAIN_WAREHOUSE not in locs or QUARANTINE not in locs:
        return None
    warehouses = {code: loc_id for code, (loc_id, kind) in locs.items() if kind == "manufacturer"}
    products = [ProductInfo(*row) for row in db.session.execute(
        select(Product.id, Product.code, ProductLine.code, Product.shelf_life_months, Product.min_shelf_days_tier1)
        .join(ProductLine, ProductLine.id == Product.product_line_id).where(Product.active).order_by(Product.code))]
    location_of = {}
    for d_id, loc_id in db.session.execute(
            select(StockLocation.distributor_id, StockLocation.id)
            .where(StockLocation.kind == "distributor", StockLocation.active).order_by(StockLocation.id.desc())):
        location_of[d_id] = loc_id
    province = aliased(Region)
    rows = db.session.execute(
        select(Distributor, Region.city_unit_id, province.code).join(Region, Region.id == Distributor.region_id)
        .join(province, province.id == Region.province_id).order_by(Distributor.tier, Distributor.code)).all()
    shippable: dict[int, DistributorInfo] = {}
    for d, city_unit_id, province_code in rows:
        if not can_ship_to(d) or d.id not in location_of or (d.tier == 2 and d.parent_id not in shippable):
            continue
        shippable[d.id] = DistributorInfo(d.id, d.code, d.tier, d.parent_id, province_code[:2], city_unit_id,
                                          location_of[d.id])
    by_province, hospitals, by_city = defaultdict(list), defaultdict(list), defaultdict(list)
    for t_id, t_type, city_unit_id, province_code in db.session.execute(
            select(Terminal.id, Terminal.type, Region.city_unit_id, province.code)
            .join(Region, Region.id == Terminal.region_id).join(province, province.id == Region.province_id)
            .where(Terminal.active).order_by(Terminal.id)):
        by_province[province_code[:2]].append(t_id)
        by_city[city_unit_id].append(t_id)
        if t_type == "hospital":
            hospitals[province_code[:2]].append(t_id)
    return StockWorld(today, products, list(shippable.values()), warehouses, locs[QUARANTINE][0], dict(by_province),
                      dict(hospitals), dict(by_city))


def seed_stock_demo(seed: int, today: date) -> str:
    """The demo's lots and ledger and the near-expiry alerts (see the module docstring); nothing when the ledger
    already holds lots or movements. Posts through :func:`inventory.services.post_movement`, so it raises
    InventoryError if a movement breaks a rule. Returns the summary lines."""
    started = time.perf_counter()
    if (db.session.execute(select(Lot.id).limit(1)).first() is not None
            or db.session.execute(select(StockMovement.id).limit(1)).first() is not None):
        return "stock: lots and movements already present; nothing added"
    world = load_world(today)
    if world is None or not world.products:
        return "stock: the demo warehouses or products are missing; nothing added"
    plan = plan_stock(random.Random(f"{seed}:stock"), world)
    products = {p.id: p for p in db.session.execute(select(Product).where(Product.active)).scalars()}
    lots = {lot.key: services.register_lot(products[lot.product_id], lot.lot_no, lot.manufactured_on,
                                           lot.expires_on) for lot in plan.lots}
    location_ids = {m.src for m in plan.moves} | {m.dst for m in plan.moves}
    locations = {loc.id: loc for loc in db.session.execute(
        select(StockLocation).where(StockLocation.id.in_(location_ids - {None}))).scalars()}
    for m in plan.moves:
        if m.kind != "sell_out":
            services.post_movement(m.kind, lots[m.product_id, m.lot_no], m.quantity,
                                   from_location=locations.get(m.src), to_location=locations.get(m.dst), on_date=m.on,
                                   reference=m.reference, note=m.note)
    sell_outs = [m for m in plan.moves if m.kind == "sell_out"]
    for taker in _SELL_OUT_TAKERS:  # reported through another package's pipeline (channel-data files) instead
        taken = set(taker(sell_outs, world))
        sell_outs = [m for i, m in enumerate(sell_outs) if i not in taken]
    _post_sell_outs(sell_outs, lots, locations)
    if plan.quarantined:
        services.set_lot_status(lots[plan.quarantined], LotStatus.QUARANTINED.value, QUARANTINE_REASON)
    alerts = scan_near_expiry(today)
    return _summary(plan, alerts, time.perf_counter() - started)


def _post_sell_outs(moves: list[Move], lots: dict[tuple[int, str], Lot], locations: dict[int, StockLocation]) -> None:
    """The reported sell-out, set-based: thousands of rows in two statements instead of one post_movement each.

    Posted after every other movement of the plan, so each earlier movement met at least the stock the day-by-day
    plan had (taking sell-out out later never makes an earlier balance short); the same rules as
    :func:`inventory.services.post_movement` are checked first (a distributor location gives, a terminal takes, no
    balance below zero: the database's check constraint backs that too). Raises InventoryError, writing nothing.
    """
    if not moves:
        return
    taken: Counter = Counter()
    for m in moves:
        if locations[m.src].kind != "distributor" or not locations[m.src].active or m.terminal_id is None:
            raise services.InventoryError(f"demo sell-out {m} breaks the movement rules")
        taken[m.src, lots[m.product_id, m.lot_no].id] += m.quantity
    balances = {(loc, lot): (b_id, qty) for b_id, loc, lot, qty in db.session.execute(
        select(StockBalance.id, StockBalance.location_id, StockBalance.lot_id, StockBalance.quantity)
        .where(StockBalance.location_id.in_({loc for loc, _lot in taken})).with_for_update())}
    short = [key for key, qty in taken.items() if balances.get(key, (None, 0))[1] < qty]
    if short:
        raise services.InventoryError(f"demo sell-out would take more than held at {short[:5]}")
    actor = current_actor().label
    db.session.execute(insert(StockMovement), [
        dict(business_date=m.on, kind=m.kind, lot_id=lots[m.product_id, m.lot_no].id, quantity=m.quantity,
             from_location_id=m.src, from_distributor_id=locations[m.src].distributor_id, terminal_id=m.terminal_id,
             reference=m.reference, note=m.note, actor=actor) for m in moves])
    table = StockBalance.__table__
    db.session.execute(
        update(table).where(table.c.id == bindparam("b_id")).values(quantity=table.c.quantity - bindparam("qty")),
        [{"b_id": balances[key][0], "qty": qty} for key, qty in taken.items()])
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, StockBalance):
            db.session.expire(obj)  # the rows changed underneath the loaded objects


def _summary(plan: StockPlan, alerts: int, seconds: float) -> str:
    kinds = Counter(m.kind for m in plan.moves)
    short = Counter(lot.short_dated for lot in plan.lots if lot.short_dated)
    shipped_to = len({m.dst for m in plan.moves if m.kind == "shipment"})
    reached = len({m.terminal_id for m in plan.moves if m.kind == "sell_out"})
    quarantined = f"lot {plan.quarantined[1]} quarantined" if plan.quarantined else "none quarantined"
    first = min(m.on for m in plan.moves)
    return "\n".join((
        f"stock: {len(plan.lots)} lots of {len({lot.product_id for lot in plan.lots})} products ({quarantined}; "
        f"short-dated in the channel: {short['expired']} expired, {short['30']} / {short['90']} / {short['180']} "
        f"within 30 / 90 / 180 days)",
        f"stock movements: {len(plan.moves)} from {first.isoformat()} ({kinds['receipt']} receipts, "
        f"{kinds['shipment']} shipments to {shipped_to} tier-1 distributors, {kinds['transfer']} transfers to "
        f"tier 2, {kinds['sell_out']} sell-outs to {reached} terminals, {kinds['return']} returns); "
        f"{alerts} near-expiry alerts; {seconds:.1f} s",
    ))


# Functions that take over part of the planned reported sell-out: called with the sell-out moves (plain values) and
# the world, they return the indices of the moves they will report themselves (channel-data ingestion writes them
# into distributors' files and runs them through its pipeline, which posts them); the rest is posted here.
_SELL_OUT_TAKERS: list = []


def report_sell_out_through(taker) -> None:
    """Register a taker of planned sell-out (see above); registering the same one twice keeps one."""
    if taker not in _SELL_OUT_TAKERS:
        _SELL_OUT_TAKERS.append(taker)


def register() -> None:
    """Have ``flask drp seed-demo`` seed the demo stock too (called from ``inventory.init_app``)."""
    register_demo_extension(seed_stock_demo)
