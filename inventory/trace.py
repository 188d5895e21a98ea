"""Recall trace (召回追溯) of one lot: where it is now, and every distributor and terminal it went to.

Four set-based queries, whatever the lot's history: the holdings (balances above zero), the movements (one query
joining both locations, both holders and the terminal), and two grouped summaries (per distributor, per terminal).
Manufacturer staff only (views and API check the role): it names every holder of the lot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import case, func, literal, select, union_all
from sqlalchemy.orm import aliased

from app import clock
from app.extensions import db
from app.models import Distributor, Product, Region, Terminal
from inventory.models import Lot, StockMovement
from inventory.stock import lot_balances, lot_movements

# how each kind of movement counts for the distributor on each side of it
_IN_PARTS = {"shipment": "shipped_in", "transfer": "transferred_in", "opening": "opening", "adjustment": "adjusted_in"}
_OUT_PARTS = {"transfer": "transferred_out", "sell_out": "sold", "return": "returned", "write_off": "written_off",
              "adjustment": "adjusted_out"}
PARTS = ("opening", "shipped_in", "transferred_in", "adjusted_in", "transferred_out", "sold", "returned",
         "written_off", "adjusted_out")


@dataclass
class DistributorReach:
    distributor_id: int
    code: str
    name: str
    tier: int
    province: str | None
    first_date: date | None = None
    last_date: date | None = None
    parts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTS, 0))
    on_hand: int = 0


@dataclass
class Trace:
    lot: Lot
    product: Product
    as_of: date
    holdings: list
    movements: list
    distributors: list[DistributorReach]
    terminals: list

    @property
    def on_hand(self) -> int:
        return sum(h["quantity"] for h in self.holdings)


def recall_trace(lot: Lot) -> Trace:
    """Everything a recall needs about ``lot``: holders now with quantities, distributors reached (received, sold,
    transferred, returned, written off, first and last date), terminals supplied (quantity, dates) and the full
    movement history."""
    holdings = lot_balances(lot.id)
    movements = lot_movements(lot.id)
    distributors = _distributor_reach(lot.id)
    on_hand: dict[int, int] = {}
    for h in holdings:
        if h["distributor_id"] is not None:
            on_hand[h["distributor_id"]] = on_hand.get(h["distributor_id"], 0) + h["quantity"]
    for d in distributors:
        d.on_hand = on_hand.get(d.distributor_id, 0)
    return Trace(lot=lot, product=db.session.get(Product, lot.product_id), as_of=clock.today(), holdings=holdings,
                 movements=movements, distributors=distributors, terminals=_terminals(lot.id))


def _distributor_reach(lot_id: int) -> list[DistributorReach]:
    m = StockMovement
    # a reversal counts against the part of the movement it reverses (its sides are the other way round)
    side_in = case((m.reverses_id.is_(None), literal("in")), else_=literal("out"))
    side_out = case((m.reverses_id.is_(None), literal("out")), else_=literal("in"))
    signed = case((m.reverses_id.is_(None), m.quantity), else_=-m.quantity)
    inbound = (select(m.to_distributor_id.label("d"), side_in.label("side"), m.kind, signed.label("quantity"),
                      m.business_date)
               .where(m.lot_id == lot_id, m.to_distributor_id.is_not(None)))
    outbound = (select(m.from_distributor_id.label("d"), side_out.label("side"), m.kind, signed.label("quantity"),
                       m.business_date)
                .where(m.lot_id == lot_id, m.from_distributor_id.is_not(None)))
    both = union_all(inbound, outbound).subquery()
    region, province = aliased(Region), aliased(Region)
    stmt = (select(both.c.d, Distributor.code, Distributor.name, Distributor.tier, province.name, both.c.side,
                   both.c.kind, func.sum(both.c.quantity), func.min(both.c.business_date),
                   func.max(both.c.business_date))
            .join(Distributor, Distributor.id == both.c.d)
            .outerjoin(region, region.id == Distributor.region_id)
            .outerjoin(province, province.id == region.province_id)
            .group_by(both.c.d, Distributor.code, Distributor.name, Distributor.tier, province.name, both.c.side,
                      both.c.kind))
    reach: dict[int, DistributorReach] = {}
    for d_id, code, name, tier, prov, side, kind, qty, first, last in db.session.execute(stmt):
        r = reach.setdefault(d_id, DistributorReach(d_id, code, name, tier, prov))
        part = (_IN_PARTS if side == "in" else _OUT_PARTS).get(kind)
        if part:
            r.parts[part] += int(qty)
        r.first_date = min(filter(None, (r.first_date, first)))
        r.last_date = max(filter(None, (r.last_date, last)))
    return sorted(reach.values(), key=lambda r: (r.tier, r.code))


# -- the reported-terminals seam ----------------------------------------------------------------------------------
# Reported sell-out is posted to the ledger summed per report, location, lot and day (no terminal on the movement);
# the terminals it went to are in channel-data ingestion's facts, which plugs in a source here. A source returns
# rows shaped like :func:`_terminals`' (id, code, name, type, region, distributor_code, distributor_name, quantity,
# first_date, last_date) for one lot.
TerminalSource = Callable[[int], list]
_terminal_source: TerminalSource | None = None


def set_terminal_source(source: TerminalSource | None) -> None:
    """Plug in where reported sell-out to terminals comes from (channel-data ingestion); None unplugs it."""
    global _terminal_source
    _terminal_source = source


def _terminals(lot_id: int) -> list:
    """Terminals the lot was sold out to, with the distributors that sold to them: the ledger's sell-out movements
    that name a terminal and the reported sell-out of the plugged-in source."""
    rows = _ledger_terminals(lot_id)
    if _terminal_source is not None:
        rows = sorted([*rows, *_terminal_source(lot_id)],
                      key=lambda r: (r["code"], r["distributor_code"] or ""))
    return rows


def _ledger_terminals(lot_id: int) -> list:
    region = aliased(Region)
    return list(db.session.execute(
        select(Terminal.id, Terminal.code, Terminal.name, Terminal.type, region.name.label("region"),
               Distributor.code.label("distributor_code"), Distributor.name.label("distributor_name"),
               func.sum(StockMovement.quantity).label("quantity"),
               func.min(StockMovement.business_date).label("first_date"),
               func.max(StockMovement.business_date).label("last_date"))
        .join(Terminal, Terminal.id == StockMovement.terminal_id)
        .outerjoin(region, region.id == Terminal.region_id)
        .outerjoin(Distributor, Distributor.id == StockMovement.from_distributor_id)
        .where(StockMovement.lot_id == lot_id, StockMovement.kind == "sell_out")
        .group_by(Terminal.id, Terminal.code, Terminal.name, Terminal.type, region.name, Distributor.code,
                  Distributor.name)
        .order_by(Terminal.code, Distributor.code)
    ).mappings())
