"""Near expiry (近效期): the daily alert scan and the dashboard's figures, at every tier of the channel.

Windows come from ``NEAR_EXPIRY_WINDOWS`` (default 180 / 90 / 30 days). A lot with stock anywhere is in the
smallest window that holds its remaining days (a lot with 20 days left is in the 30-day window), or in window 0
once expired; the scan raises one notification per lot per window (a unique ``dedupe_key``), never a new one
each day: for channel managers (all holders' stock) and for each holding distributor's users (its own stock).

Value = quantity × a unit value from :func:`unit_values`, a seam: inventory knows no prices (pricing lives in
``distribution``, which depends on inventory, not the other way round), so a later issue registers a source with
:func:`set_unit_value_source` (standard cost or supply price per lot). Until then values are None and pages show
"—"; no price is invented.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import aliased

from app import clock
from app.extensions import db
from app.models import Distributor, Notification, Product, Region, StockLocation
from inventory.models import Lot, StockBalance

KIND = "near_expiry"

# -- the value seam -----------------------------------------------------------------------------------------------
UnitValueSource = Callable[[list[int]], dict[int, Decimal]]
_unit_value_source: UnitValueSource | None = None


def set_unit_value_source(source: UnitValueSource | None) -> None:
    """Plug in a unit value per lot ({lot_id: Decimal per base unit}); None unplugs it."""
    global _unit_value_source
    _unit_value_source = source


def unit_values(lot_ids: list[int]) -> dict[int, Decimal]:
    """Unit values of lots; empty (unknown) until a price or cost source is plugged in."""
    if _unit_value_source is None or not lot_ids:
        return {}
    return dict(_unit_value_source(lot_ids))


def windows() -> tuple[int, ...]:
    return tuple(sorted({int(w) for w in current_app.config.get("NEAR_EXPIRY_WINDOWS", (180, 90, 30)) if int(w) > 0}))


def window_for(days_left: int, wins: tuple[int, ...]) -> int | None:
    """The smallest window holding ``days_left`` (0 once expired), or None when it is further out."""
    if days_left < 0:
        return 0
    return next((w for w in wins if days_left <= w), None)


# -- the daily scan -----------------------------------------------------------------------------------------------
def scan_near_expiry(as_of: date | None = None) -> int:
    """Raise one notification per lot per window for every lot with stock anywhere that expires within the largest
    window (or has expired): one for channel managers, one per holding distributor. Running again the same day,
    or any later day in the same window, creates nothing. Returns the number of notifications created."""
    as_of = as_of or clock.today()
    wins = windows()
    if not wins:
        return 0
    held = (select(Lot.id, Lot.lot_no, Lot.expires_on, Product.code, Product.generic_name, Product.base_unit,
                   StockBalance.distributor_id, func.sum(StockBalance.quantity))
            .join(Lot, Lot.id == StockBalance.lot_id).join(Product, Product.id == Lot.product_id)
            .where(StockBalance.quantity > 0, Lot.expires_on <= as_of + timedelta(days=max(wins)))
            .group_by(Lot.id, Lot.lot_no, Lot.expires_on, Product.code, Product.generic_name, Product.base_unit,
                      StockBalance.distributor_id)
            .execution_options(skip_tenant_scope=True))
    per_lot: dict[int, dict] = {}
    for lot_id, lot_no, expires_on, p_code, p_name, unit, dist_id, qty in db.session.execute(held):
        entry = per_lot.setdefault(lot_id, {"lot_no": lot_no, "expires_on": expires_on, "product": f"{p_code} {p_name}",
                                            "unit": unit, "total": 0, "holders": {}})
        entry["total"] += int(qty)
        if dist_id is not None:
            entry["holders"][dist_id] = entry["holders"].get(dist_id, 0) + int(qty)
    wanted: dict[str, tuple] = {}
    for lot_id, e in per_lot.items():
        window = window_for((e["expires_on"] - as_of).days, wins)
        if window is None:
            continue
        base = f"{KIND}:{lot_id}:{window}"
        wanted[f"{base}:channel_manager"] = ("channel_manager", None, lot_id, e, e["total"])
        for dist_id, qty in e["holders"].items():
            wanted[f"{base}:distributor:{dist_id}"] = ("distributor", dist_id, lot_id, e, qty)
    if not wanted:
        return 0
    existing = set(db.session.execute(
        select(Notification.dedupe_key).where(Notification.dedupe_key.in_(list(wanted)))
        .execution_options(skip_tenant_scope=True)).scalars())
    created = 0
    with force_locale("zh"):
        for key, (role, dist_id, lot_id, e, qty) in wanted.items():
            if key in existing:
                continue
            days = (e["expires_on"] - as_of).days
            if days < 0:
                title = _("Lot %(lot)s of %(product)s expired on %(date)s: %(qty)d %(unit)s still in stock",
                          lot=e["lot_no"], product=e["product"], date=e["expires_on"].isoformat(), qty=qty,
                          unit=e["unit"])
            else:
                title = _("Lot %(lot)s of %(product)s expires in %(days)d days (%(date)s): %(qty)d %(unit)s in stock",
                          lot=e["lot_no"], product=e["product"], days=days, date=e["expires_on"].isoformat(),
                          qty=qty, unit=e["unit"])
            db.session.add(Notification(audience_role=role, distributor_id=dist_id, kind=KIND, dedupe_key=key,
                                        title=title[:200], link=f"/inventory/lots/{lot_id}"))
            created += 1
    db.session.flush()
    return created


# -- the dashboard ------------------------------------------------------------------------------------------------
@dataclass
class NearExpiryFilters:
    window: int | None = None  # days; None: the largest configured window
    tier: int | None = None  # 0 manufacturer, 1, 2
    province: str | None = None  # 6-digit code
    distributor: str | None = None
    product: str | None = None

    @classmethod
    def parse(cls, args) -> NearExpiryFilters:
        def text(name):
            return (str(args.get(name) or "")).strip() or None

        window, tier = text("window"), text("tier")
        return cls(window=int(window) if window and window.isdigit() else None,
                   tier=int(tier) if tier in ("0", "1", "2") else None,
                   province=text("province"), distributor=text("distributor"), product=text("product"))


@dataclass
class Group:
    key: str | int | None
    label: str
    quantity: int
    value: Decimal | None
    lots: int


@dataclass
class NearExpiry:
    as_of: date
    window: int
    windows: tuple[int, ...]
    by_tier: list[Group] = field(default_factory=list)
    by_province: list[Group] = field(default_factory=list)
    by_distributor: list[Group] = field(default_factory=list)
    lines: list[dict] = field(default_factory=list)

    @property
    def total_quantity(self) -> int:
        return sum(g.quantity for g in self.by_tier)

    @property
    def total_value(self) -> Decimal | None:
        return _sum_values([g.value for g in self.by_tier])


def _sum_values(values) -> Decimal | None:
    values = list(values)
    if not values or any(v is None for v in values):
        return None
    return sum(values, Decimal("0"))


def _base(f: NearExpiryFilters, as_of: date, window: int):
    """Balances above zero of lots expiring within ``window`` days (or expired), with tier and province."""
    region, province = aliased(Region), aliased(Region)
    tier = case((StockLocation.kind == "distributor", Distributor.tier), else_=literal(0))
    stmt = (select(StockBalance.quantity, StockBalance.lot_id, Lot.lot_no, Lot.expires_on, Lot.status,
                   Product.code.label("product_code"), Product.generic_name, Product.specification,
                   Product.base_unit, StockLocation.code.label("location_code"),
                   StockLocation.name.label("location_name"), tier.label("tier"),
                   Distributor.code.label("distributor_code"), Distributor.name.label("distributor_name"),
                   province.code.label("province_code"), province.name.label("province_name"))
            .join(Lot, Lot.id == StockBalance.lot_id).join(Product, Product.id == Lot.product_id)
            .join(StockLocation, StockLocation.id == StockBalance.location_id)
            .outerjoin(Distributor, Distributor.id == StockLocation.distributor_id)
            .outerjoin(region, region.id == func.coalesce(Distributor.region_id, StockLocation.region_id))
            .outerjoin(province, province.id == region.province_id)
            .where(StockBalance.quantity > 0, Lot.expires_on <= as_of + timedelta(days=window)))
    if f.tier is not None:
        stmt = stmt.where(tier == f.tier)
    if f.province:
        stmt = stmt.where(province.code == f.province)
    if f.distributor:
        stmt = stmt.where(Distributor.code == f.distributor)
    if f.product:
        stmt = stmt.where(Product.code == f.product)
    return stmt.subquery()


def tier_label(tier: int | None) -> str:
    return {0: _("Manufacturer"), 1: _("Tier 1"), 2: _("Tier 2")}.get(tier, "—")


def near_expiry(f: NearExpiryFilters | None = None, as_of: date | None = None) -> NearExpiry:
    """Near-expiry quantity and value by tier, by province and by distributor, and the lot lines to drill into;
    grouped in SQL over one filtered base (tenant scoped: a distributor user sees its own stock)."""
    f = f or NearExpiryFilters()
    as_of = as_of or clock.today()
    wins = windows() or (180,)
    window = f.window if f.window and f.window > 0 else max(wins)
    base = _base(f, as_of, window)
    lines = [dict(r) for r in db.session.execute(
        select(base).order_by(base.c.expires_on, base.c.product_code, base.c.lot_no, base.c.location_code)
    ).mappings()]
    values = unit_values(sorted({ln["lot_id"] for ln in lines}))
    for ln in lines:
        ln["days_left"] = (ln["expires_on"] - as_of).days
        unit_value = values.get(ln["lot_id"])
        ln["value"] = None if unit_value is None else unit_value * ln["quantity"]
    result = NearExpiry(as_of=as_of, window=window, windows=wins, lines=lines)

    def grouped(key_cols, label_of):
        stmt = (select(*key_cols, base.c.lot_id, func.sum(base.c.quantity))
                .group_by(*key_cols, base.c.lot_id))
        groups: dict = {}
        for row in db.session.execute(stmt):
            *keys, lot_id, qty = row
            k = tuple(keys)
            g = groups.setdefault(k, {"qty": 0, "values": [], "lots": 0})
            g["qty"] += int(qty)
            g["lots"] += 1
            unit_value = values.get(lot_id)
            g["values"].append(None if unit_value is None else unit_value * int(qty))
        out = [Group(k[0], label_of(k), g["qty"], _sum_values(g["values"]), g["lots"]) for k, g in groups.items()]
        return sorted(out, key=lambda g: (-g.quantity, str(g.key)))

    result.by_tier = sorted(grouped([base.c.tier], lambda k: tier_label(k[0])), key=lambda g: g.key)
    result.by_province = grouped([base.c.province_code, base.c.province_name], lambda k: k[1] or "—")
    result.by_distributor = grouped([base.c.distributor_code, base.c.distributor_name],
                                    lambda k: f"{k[0]} {k[1]}" if k[0] else _("Manufacturer"))
    return result
