"""Channel stock: what each distributor holds by our ledger, what it reports, the difference, days of inventory.

* **Computed** stock of a distributor = the balances at its locations, which by the ledger invariant equal shipped
  in + transferred in + opening + positive adjustments − reported sell-out − transferred out − returned − written
  off − negative adjustments (:func:`ledger_components` shows that breakdown for one distributor).
* **Reported** stock comes from the distributors' inventory snapshots, which channel-data ingestion (a later issue)
  will load. Until then :func:`reported_stock` is a documented seam returning nothing: the reported column shows
  "—" and no difference is computed. Nothing is ever made up.
* **Days of inventory (库存天数)** = on hand ÷ average daily outflow over the last ``DOI_WINDOW_DAYS`` days (default
  90) up to the business date, the outflow being the ledger's ``sell_out`` movements (``DOI_OUTFLOW_KINDS`` can add
  ``transfer`` so a tier-1 distributor's sales to tier-2 count too). Flags: ``under`` below ``DOI_UNDER_DAYS``
  (default 15), ``over`` above ``DOI_OVER_DAYS`` (default 90), per distributor overridable with
  ``DOI_TARGET_OVERRIDES`` ({code: {"under": n, "over": n}}). Stock with no outflow in the window is ``over``
  (nothing moves); no stock while it sells is ``under`` (0 days).

Everything is aggregated in SQL (GROUP BY); Python only merges the grouped rows. Tenant scoping applies: a
distributor user gets its own row only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask import current_app
from sqlalchemy import case, func, select
from sqlalchemy.orm import aliased

from app import clock
from app.extensions import db
from app.models import Distributor, Product, ProductLine, Region
from inventory.models import Lot, MovementKind, StockBalance, StockMovement

# -- the reported-stock seam --------------------------------------------------------------------------------------
# A source returns {(distributor_id, product_id, lot_id or None): quantity} of the latest inventory snapshot each
# distributor reported on or before ``as_of`` (lot_id None: a product-level figure). Channel-data ingestion
# registers one with set_reported_stock_source(); there is none today, so nothing is reported.
ReportedSource = Callable[[date, set[int] | None], dict[tuple[int, int, int | None], int]]
_reported_source: ReportedSource | None = None


def set_reported_stock_source(source: ReportedSource | None) -> None:
    """Plug in where reported inventory snapshots come from (channel-data ingestion); None unplugs it."""
    global _reported_source
    _reported_source = source


def reported_stock(as_of: date, distributor_ids: set[int] | None = None) -> dict[tuple[int, int, int | None], int]:
    """The stock distributors reported, keyed (distributor_id, product_id, lot_id | None). Empty until channel-data
    ingestion provides snapshots: an empty source means "not reported", never zero."""
    if _reported_source is None:
        return {}
    return dict(_reported_source(as_of, distributor_ids))


# -- targets ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Targets:
    under: int
    over: int


def targets_for(distributor_code: str | None) -> Targets:
    cfg = current_app.config
    base = Targets(int(cfg.get("DOI_UNDER_DAYS", 15)), int(cfg.get("DOI_OVER_DAYS", 90)))
    override = (cfg.get("DOI_TARGET_OVERRIDES") or {}).get(distributor_code) or {}
    return Targets(int(override.get("under", base.under)), int(override.get("over", base.over)))


def window_days() -> int:
    return max(int(current_app.config.get("DOI_WINDOW_DAYS", 90)), 1)


def outflow_kinds() -> tuple[str, ...]:
    return tuple(current_app.config.get("DOI_OUTFLOW_KINDS") or (MovementKind.SELL_OUT.value,))


def days_of_inventory(on_hand: int, sold: int, window: int) -> Decimal | None:
    """on hand ÷ (sold ÷ window), one decimal; None when nothing sold (infinitely many days)."""
    if sold <= 0:
        return None
    return (Decimal(on_hand) * window / Decimal(sold)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def stock_flag(on_hand: int, sold: int, doi: Decimal | None, targets: Targets) -> str | None:
    """``under`` / ``over`` / ``ok``, or None when there is neither stock nor outflow."""
    if on_hand <= 0 and sold <= 0:
        return None
    if doi is None:
        return "over"
    if doi < targets.under:
        return "under"
    if doi > targets.over:
        return "over"
    return "ok"


# -- filters and results ------------------------------------------------------------------------------------------
@dataclass
class ChannelFilters:
    distributor: str | None = None
    tier: int | None = None
    province: str | None = None  # 6-digit province code
    product: str | None = None
    product_line: str | None = None

    @classmethod
    def parse(cls, args) -> ChannelFilters:
        tier = str(args.get("tier") or "").strip()
        return cls(distributor=(args.get("distributor") or "").strip() or None,
                   tier=int(tier) if tier in ("1", "2") else None,
                   province=(args.get("province") or "").strip() or None,
                   product=(args.get("product") or "").strip() or None,
                   product_line=(args.get("product_line") or "").strip() or None)


@dataclass
class Cell:
    on_hand: int = 0
    sold: int = 0
    reported: int | None = None
    doi: Decimal | None = None
    flag: str | None = None

    @property
    def difference(self) -> int | None:
        """Computed − reported (None while the distributor has reported nothing)."""
        return None if self.reported is None else self.on_hand - self.reported


@dataclass
class ChannelMatrix:
    as_of: date
    window: int
    distributors: list = field(default_factory=list)  # rows: id, code, name, tier, province
    products: list = field(default_factory=list)  # rows: id, code, generic_name, specification
    cells: dict[tuple[int, int], Cell] = field(default_factory=dict)

    def cell(self, distributor_id: int, product_id: int) -> Cell | None:
        return self.cells.get((distributor_id, product_id))

    def rows(self) -> list[dict]:
        """Flat (distributor × product) rows for the API and the Excel export."""
        dists = {d.id: d for d in self.distributors}
        prods = {p.id: p for p in self.products}
        out = []
        for (d_id, p_id), c in sorted(self.cells.items(), key=lambda kv: (dists[kv[0][0]].code,
                                                                         prods[kv[0][1]].code)):
            d, p = dists[d_id], prods[p_id]
            out.append({"distributor_code": d.code, "distributor_name": d.name, "tier": d.tier,
                        "province": d.province, "product_code": p.code,
                        "product_name": f"{p.generic_name} {p.specification}", "computed": c.on_hand,
                        "reported": c.reported, "difference": c.difference, "sold_in_window": c.sold,
                        "days_of_inventory": c.doi, "flag": c.flag})
        return out


def _distributor_scope(stmt, f: ChannelFilters, dist_col):
    stmt = stmt.join(Distributor, Distributor.id == dist_col)
    if f.distributor:
        stmt = stmt.where(Distributor.code == f.distributor)
    if f.tier:
        stmt = stmt.where(Distributor.tier == f.tier)
    if f.province:
        stmt = stmt.join(Region, Region.id == Distributor.region_id).where(
            Region.province_id == select(Region.id).where(Region.code == f.province).scalar_subquery())
    return stmt


def _product_scope(stmt, f: ChannelFilters):
    if f.product:
        stmt = stmt.where(Product.code == f.product)
    if f.product_line:
        stmt = stmt.join(ProductLine, ProductLine.id == Product.product_line_id).where(
            ProductLine.code == f.product_line)
    return stmt


def _window(as_of: date, window: int):
    return StockMovement.business_date > as_of - timedelta(days=window), StockMovement.business_date <= as_of


def sold_by(group_cols, f: ChannelFilters, as_of: date, window: int):
    """Outflow (sell-out, plus configured kinds) per distributor and ``group_cols`` in the window, net of reversals
    (a reversal runs the other way and is subtracted from the distributor that made the original outflow)."""
    m = StockMovement
    reversal = m.reverses_id.is_not(None)
    seller = case((reversal, m.to_distributor_id), else_=m.from_distributor_id)
    signed = case((reversal, -m.quantity), else_=m.quantity)
    stmt = (select(seller.label("distributor_id"), *group_cols, func.sum(signed).label("sold"))
            .join(Lot, Lot.id == m.lot_id).join(Product, Product.id == Lot.product_id)
            .where(m.kind.in_(outflow_kinds()), seller.is_not(None), *_window(as_of, window)))
    stmt = _product_scope(_distributor_scope(stmt, f, seller), f)
    return stmt.group_by(seller, *group_cols)


def channel_matrix(f: ChannelFilters | None = None, as_of: date | None = None) -> ChannelMatrix:
    """Distributors × products: computed on hand, reported, difference, outflow in the window, days of inventory
    and the over / under flag. Four grouped queries (on hand, outflow, then the two axes)."""
    f = f or ChannelFilters()
    as_of = as_of or clock.today()
    window = window_days()
    held = (select(StockBalance.distributor_id, Lot.product_id, func.sum(StockBalance.quantity).label("qty"))
            .join(Lot, Lot.id == StockBalance.lot_id).join(Product, Product.id == Lot.product_id)
            .where(StockBalance.distributor_id.is_not(None)))
    held = _product_scope(_distributor_scope(held, f, StockBalance.distributor_id), f)
    held = held.group_by(StockBalance.distributor_id, Lot.product_id)
    result = ChannelMatrix(as_of=as_of, window=window)
    for d_id, p_id, qty in db.session.execute(held):
        result.cells[(d_id, p_id)] = Cell(on_hand=int(qty))
    for d_id, p_id, sold in db.session.execute(sold_by([Lot.product_id], f, as_of, window)):
        result.cells.setdefault((d_id, p_id), Cell()).sold = int(sold)
    reported: dict[tuple[int, int], int] = {}
    for (d_id, p_id, _lot), qty in reported_stock(as_of).items():
        reported[(d_id, p_id)] = reported.get((d_id, p_id), 0) + int(qty)
    dist_ids = {d for d, _ in result.cells} | {d for d, _ in reported}
    result.distributors = _distributors(dist_ids, f)
    allowed = {d.id for d in result.distributors}
    for key, qty in reported.items():
        if key[0] in allowed and (not f.product or key in result.cells):
            result.cells.setdefault(key, Cell()).reported = qty
    result.cells = {k: c for k, c in result.cells.items() if k[0] in allowed}
    codes = {d.id: d.code for d in result.distributors}
    for (d_id, _p), c in result.cells.items():
        c.doi = days_of_inventory(c.on_hand, c.sold, window)
        c.flag = stock_flag(c.on_hand, c.sold, c.doi, targets_for(codes[d_id]))
    product_ids = {p for _, p in result.cells}
    result.products = list(db.session.execute(
        select(Product.id, Product.code, Product.generic_name, Product.specification)
        .where(Product.id.in_(product_ids)).order_by(Product.code))) if product_ids else []
    return result


def _distributors(ids: set[int], f: ChannelFilters) -> list:
    if not ids:
        return []
    region, province = aliased(Region), aliased(Region)
    stmt = (select(Distributor.id, Distributor.code, Distributor.name, Distributor.tier,
                   province.name.label("province"))
            .outerjoin(region, region.id == Distributor.region_id)
            .outerjoin(province, province.id == region.province_id)
            .where(Distributor.id.in_(ids)))
    if f.distributor:
        stmt = stmt.where(Distributor.code == f.distributor)
    if f.tier:
        stmt = stmt.where(Distributor.tier == f.tier)
    return list(db.session.execute(stmt.order_by(Distributor.tier, Distributor.code)))


@dataclass
class LotLine:
    distributor_id: int
    distributor_code: str
    distributor_name: str
    product_code: str
    product_name: str
    lot_id: int
    lot_no: str
    expires_on: date
    status: str
    computed: int
    reported: int | None = None

    @property
    def difference(self) -> int | None:
        return None if self.reported is None else self.computed - self.reported


def channel_lots(f: ChannelFilters | None = None, as_of: date | None = None) -> list[LotLine]:
    """Distributor × product × lot: computed on hand (balances), reported (seam) and the difference."""
    f = f or ChannelFilters()
    as_of = as_of or clock.today()
    stmt = (select(StockBalance.distributor_id, Distributor.code, Distributor.name, Product.code,
                   Product.generic_name, Product.specification, Lot.id, Lot.lot_no, Lot.expires_on, Lot.status,
                   func.sum(StockBalance.quantity))
            .join(Lot, Lot.id == StockBalance.lot_id).join(Product, Product.id == Lot.product_id)
            .where(StockBalance.distributor_id.is_not(None)))
    stmt = _product_scope(_distributor_scope(stmt, f, StockBalance.distributor_id), f)
    stmt = stmt.group_by(StockBalance.distributor_id, Distributor.code, Distributor.name, Product.code,
                         Product.generic_name, Product.specification, Lot.id, Lot.lot_no, Lot.expires_on,
                         Lot.status).having(func.sum(StockBalance.quantity) != 0)
    lines = [LotLine(d_id, d_code, d_name, p_code, f"{g} {s}", lot_id, lot_no, exp, status, int(qty))
             for d_id, d_code, d_name, p_code, g, s, lot_id, lot_no, exp, status, qty
             in db.session.execute(stmt.order_by(Distributor.code, Product.code, Lot.expires_on, Lot.lot_no))]
    reported = reported_stock(as_of, {ln.distributor_id for ln in lines} or None)
    by_lot = {(d, lot): int(q) for (d, _p, lot), q in reported.items() if lot is not None}
    for ln in lines:
        ln.reported = by_lot.get((ln.distributor_id, ln.lot_id))
    return lines


COMPONENTS = ("opening", "shipped_in", "transferred_in", "adjusted_in", "sold", "transferred_out", "returned",
              "written_off", "adjusted_out")


def ledger_components(distributor_id: int) -> dict[int, dict[str, int]]:
    """For one distributor, per lot: the ledger's inflows and outflows by kind (one grouped query), and
    ``computed`` = their signed sum, which equals the balances (movements between two of the distributor's own
    locations cancel out and are left out)."""
    inbound = StockMovement.to_distributor_id == distributor_id
    reversal = StockMovement.reverses_id.is_not(None)  # counts against the part of the movement it reverses
    label = case(
        (reversal & inbound & (StockMovement.kind == "sell_out"), "sold"),
        (reversal & inbound & (StockMovement.kind == "transfer"), "transferred_out"),
        (reversal & (StockMovement.kind == "transfer"), "transferred_in"),
        (inbound & (StockMovement.kind == "opening"), "opening"),
        (inbound & (StockMovement.kind == "shipment"), "shipped_in"),
        (inbound & (StockMovement.kind == "transfer"), "transferred_in"),
        (inbound, "adjusted_in"),
        (StockMovement.kind == "sell_out", "sold"),
        (StockMovement.kind == "transfer", "transferred_out"),
        (StockMovement.kind == "return", "returned"),
        (StockMovement.kind == "write_off", "written_off"),
        else_="adjusted_out",
    )
    signed = case((reversal, -StockMovement.quantity), else_=StockMovement.quantity)
    stmt = (select(StockMovement.lot_id, label.label("part"), func.sum(signed))
            .where((StockMovement.to_distributor_id == distributor_id)
                   | (StockMovement.from_distributor_id == distributor_id))
            .where(func.coalesce(StockMovement.from_distributor_id, -1)
                   != func.coalesce(StockMovement.to_distributor_id, -1))
            .group_by(StockMovement.lot_id, label))
    out: dict[int, dict[str, int]] = {}
    for lot_id, part, qty in db.session.execute(stmt):
        out.setdefault(lot_id, dict.fromkeys(COMPONENTS, 0))[part] = int(qty)
    for parts in out.values():
        parts["computed"] = sum(parts[k] for k in COMPONENTS[:4]) - sum(parts[k] for k in COMPONENTS[4:])
    return out
