"""Coverage and listing analytics (铺货率 / 覆盖率 / 动销率 / 窜货): the questions the dashboard, the API, the reports
and the distributor 360° page ask, answered from the rollups (:mod:`distribution.rollups`) and master data — never
from the raw facts. The definitions are in :mod:`distribution.metrics` (and on every page).

A :class:`Scope` is one cut: a period; a product, a product line or all products; a region at any level (the
terminal's own region lies in it); a distributor; a terminal type and a hospital grade. With a distributor the
target terminals are those inside its authorised territory (the regions and named terminals of its agreements in
force during the period that cover the products in scope), and "bought" means bought from it.

Tenant isolation: the numbers are read with plain SQL (fast, set-based), so this module enforces the tenant itself at
its entry points: a distributor user's scope is always its own distributor (:func:`restrict`), and it gets
aggregates only — the terminal lists, the diversion list and the breakdowns by region (terminal master data is
manufacturer-only) raise :class:`NotAllowed`. Target-terminal counts in its territory are the one aggregate of
manufacturer-only data it sees (its coverage); no terminal is ever named to it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

import numpy as np
from flask_babel import gettext as _
from sqlalchemy import Date, bindparam, select, text

from app import clock
from app.extensions import db
from app.models import Distributor, Product, ProductLine, Region
from app.tenancy import current_actor
from distribution import cube, metrics
from distribution.agreement_rules import in_force
from distribution.metrics import Period, PeriodInvalid, SliceNumbers, add_months
from distribution.models.agreements import (
    Agreement,
    AgreementProduct,
    AgreementProductLine,
    AgreementRegion,
    AgreementTerminal,
)
from distribution.models.coverage import DiversionKind, ProductScope

TERMINAL_TYPES = ("hospital", "pharmacy", "clinic", "other")
TREND_MONTHS = 12


class CoverageError(Exception):
    status = 400

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class FilterInvalid(CoverageError):
    status = 400


class NotAllowed(CoverageError):
    status = 403


# -- the scope ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    period: Period
    product_id: int | None = None
    product_line_id: int | None = None  # the product's line when a product is chosen
    region_id: int | None = None
    region_level: int | None = None
    distributor_id: int | None = None
    terminal_type: str | None = None
    grade: str | None = None

    @property
    def product_scope(self) -> tuple[int, int]:
        if self.product_id:
            return ProductScope.PRODUCT.value, self.product_id
        if self.product_line_id:
            return ProductScope.LINE.value, self.product_line_id
        return ProductScope.ALL.value, 0

    @property
    def lines(self) -> list[int] | None:
        """The product lines whose target lists count (None: every line's)."""
        return [self.product_line_id] if self.product_line_id else None

    def everything(self) -> Scope:
        """The same cut for all products (coverage)."""
        return replace(self, product_id=None, product_line_id=None)


@dataclass
class Filters:
    """The filters as typed (codes), for forms, links and exports; :meth:`scope` resolves them."""

    product: str = ""
    product_line: str = ""
    region: str = ""
    distributor: str = ""
    terminal_type: str = ""
    grade: str = ""
    period_kind: str = "month"
    period: str = ""
    window: int = metrics.DEFAULT_WINDOW

    @classmethod
    def parse(cls, args) -> Filters:
        def get(name):
            return (args.get(name) or "").strip()

        try:
            window = int(get("window") or metrics.DEFAULT_WINDOW)
        except ValueError:
            window = -1
        return cls(product=get("product"), product_line=get("product_line"), region=get("region"),
                   distributor=get("distributor"), terminal_type=get("terminal_type"), grade=get("grade"),
                   period_kind=get("period_kind") or "month", period=get("period"), window=window)

    def args(self, **changes) -> dict:
        values = {**self.__dict__, **changes}
        return {k: v for k, v in values.items() if v not in ("", None)}

    def scope(self, today: date | None = None) -> Scope:
        """Resolve the codes. Raises FilterInvalid naming each bad field (in the user's language)."""
        errors: dict[str, list[str]] = {}
        default_end = add_months((today or clock.today()).replace(day=1), -1)
        window = self.window
        if not 1 <= window <= metrics.MAX_WINDOW:
            errors["window"] = [_period_message("window")]
            window = metrics.DEFAULT_WINDOW
        try:
            period = metrics.parse_period(self.period_kind, self.period, default_end, window)
        except PeriodInvalid as exc:
            field_name = {"kind": "period_kind", "window": "window"}.get(str(exc), "period")
            errors[field_name] = [_period_message(str(exc))]
            period = Period("month", default_end)
        product_id = line_id = region_id = level = distributor_id = None
        if self.product:
            row = db.session.execute(select(Product.id, Product.product_line_id)
                                     .where(Product.code == self.product)).first()
            if row is None:
                errors["product"] = [_("No product with code %(code)s.", code=self.product)]
            else:
                product_id, line_id = row
        if self.product_line and not self.product:
            line_id = db.session.execute(select(ProductLine.id).where(ProductLine.code == self.product_line)
                                         ).scalar_one_or_none()
            if line_id is None:
                errors["product_line"] = [_("No product line with code %(code)s.", code=self.product_line)]
        if self.region:
            row = db.session.execute(select(Region.id, Region.level).where(Region.code == self.region)).first()
            if row is None:
                errors["region"] = [_("No region with code %(code)s.", code=self.region)]
            else:
                region_id, level = row
        if self.distributor:
            distributor_id = db.session.execute(select(Distributor.id).where(Distributor.code == self.distributor)
                                                ).scalar_one_or_none()
            if distributor_id is None:
                errors["distributor"] = [_("No distributor with code %(code)s.", code=self.distributor)]
        if self.terminal_type and self.terminal_type not in TERMINAL_TYPES:
            errors["terminal_type"] = [_("Unknown terminal type %(value)s.", value=self.terminal_type)]
        if errors:
            raise FilterInvalid(_("Please correct the filters: %(n)d problems.", n=len(errors)), errors)
        return Scope(period, product_id, line_id, region_id, level, distributor_id, self.terminal_type or None,
                     self.grade or None)


def _period_message(code: str) -> str:
    if code == "window":
        return _("The rolling window is 1 to %(n)d months.", n=metrics.MAX_WINDOW)
    if code == "kind":
        return _("The period is a month, a quarter, the year to date or a rolling window.")
    return _("Give the period as 2026-05 (a month) or 2026Q2 (a quarter).")


def restrict(scope: Scope) -> Scope:
    """A distributor user's scope is its own distributor, whatever was asked (tenant isolation)."""
    own = current_actor().distributor_id
    if own is None:
        return scope
    if scope.distributor_id not in (None, own):
        raise NotAllowed(_("You can see your own company's coverage only."))
    return replace(scope, distributor_id=own)


def require_staff() -> None:
    """Terminal-level answers (lists, breakdowns, diversion) are for the manufacturer's staff only."""
    if current_actor().distributor_id is not None:
        raise NotAllowed(_("This is for the manufacturer's staff."))


# -- SQL building blocks ------------------------------------------------------------------------------------------
@dataclass
class Territory:
    region_ids: set[int] = field(default_factory=set)
    terminal_ids: set[int] = field(default_factory=set)

    @property
    def empty(self) -> bool:
        return not self.region_ids and not self.terminal_ids


def territory(distributor_id: int, scope: Scope) -> Territory:
    """The regions and named terminals of the distributor's agreements in force on some day of the period that
    cover a product in scope (tenant scoping applies to the agreement rows)."""
    period = scope.period
    rows = db.session.execute(
        select(Agreement.id, Agreement.status, Agreement.approved_at, Agreement.start_date, Agreement.end_date,
               Agreement.terminated_on)
        .where(Agreement.distributor_id == distributor_id, Agreement.start_date <= period.last_day,
               Agreement.end_date >= period.start)).all()
    ids = [r.id for r in rows if r.approved_at is not None and any(
        in_force(r.status, True, r.start_date, r.end_date, r.terminated_on, day)
        for day in (max(r.start_date, period.start), min(r.end_date, period.last_day)))]
    ids = _covering(ids, scope)
    out = Territory()
    if ids:
        out.region_ids = set(db.session.execute(select(AgreementRegion.region_id)
                                                .where(AgreementRegion.agreement_id.in_(ids))).scalars())
        out.terminal_ids = set(db.session.execute(select(AgreementTerminal.terminal_id)
                                                  .where(AgreementTerminal.agreement_id.in_(ids))).scalars())
    return out


def _covering(agreement_ids: list[int], scope: Scope) -> list[int]:
    if not agreement_ids or scope.product_scope[0] == ProductScope.ALL.value:
        return agreement_ids
    by_line = set(db.session.execute(select(AgreementProductLine.agreement_id).where(
        AgreementProductLine.agreement_id.in_(agreement_ids),
        AgreementProductLine.product_line_id == scope.product_line_id)).scalars())
    direct = select(AgreementProduct.agreement_id).join(Product, Product.id == AgreementProduct.product_id).where(
        AgreementProduct.agreement_id.in_(agreement_ids))
    direct = direct.where(Product.id == scope.product_id) if scope.product_id else direct.where(
        Product.product_line_id == scope.product_line_id)
    return sorted(by_line | set(db.session.execute(direct).scalars()))


def _ints(values) -> str:
    return ", ".join(str(int(v)) for v in sorted(values)) or "NULL"


def _execute(sql: str, params: dict):
    stmt = text(sql)
    dates = [bindparam(k, type_=Date) for k, v in params.items() if isinstance(v, date)]
    return db.session.execute(stmt.bindparams(*dates) if dates else stmt, params)


class _Masks:
    """The terminal vectors of one scope: who is a target, who passes the filters, who bought."""

    def __init__(self, scope: Scope, c: cube.Cube | None = None):
        self.scope, self.c = scope, c or cube.current()
        self.d = int(scope.distributor_id or 0)
        self.filtered = self.c.filters(scope.region_id, scope.terminal_type, scope.grade, active_only=False)
        self.filtered_active = self.filtered & self.c.terminals.active
        self._territories: dict = {}

    def territory(self, s: Scope) -> np.ndarray | None:
        if not self.d:
            return None
        key = s.product_scope
        if key not in self._territories:
            terr = territory(self.d, s)
            self._territories[key] = self.c.territory(terr.region_ids, terr.terminal_ids)
        return self._territories[key]

    def targets(self, s: Scope, year: int) -> np.ndarray:
        out = self.c.targets(year, s.lines) & self.filtered_active
        terr = self.territory(s)
        return out if terr is None else out & terr

    def bought(self, s: Scope, months: list[date]) -> np.ndarray:
        return self.c.bought(self.d, s.product_scope, months)


def _weight(c: cube.Cube, mask: np.ndarray) -> int:
    return int(c.terminals.weight[mask].sum())


# -- listed products and 动销率 -------------------------------------------------------------------------------------
def _in_force_during(a: str, period: Period) -> str:
    """SQL: agreement ``a`` was in force on some day of the period (:func:`distribution.agreement_rules.in_force`)."""
    first, last = period.start.isoformat(), period.last_day.isoformat()
    return (f"{a}.status IN ('active', 'expired', 'terminated') AND {a}.approved_at IS NOT NULL "
            f"AND {a}.start_date <= '{last}' AND {a}.end_date >= '{first}' AND ({a}.status <> 'terminated' "
            f"OR ({a}.terminated_on IS NOT NULL AND {a}.terminated_on > {a}.start_date "
            f"AND {a}.terminated_on > '{first}'))")


def listed_products(scope: Scope) -> set[int]:
    """Active products in scope that an agreement in force during the period authorises (the distributor's, when
    the scope has one)."""
    where = _in_force_during("a", scope.period)
    if scope.distributor_id:
        where += f" AND a.distributor_id = {int(scope.distributor_id)}"
    products = "p.active"
    if scope.product_id:
        products += f" AND p.id = {int(scope.product_id)}"
    elif scope.product_line_id:
        products += f" AND p.product_line_id = {int(scope.product_line_id)}"
    return set(_execute(
        f"SELECT p.id FROM product p JOIN agreement_product ap ON ap.product_id = p.id JOIN agreement a "
        f"ON a.id = ap.agreement_id WHERE {products} AND {where} UNION SELECT p.id FROM product p "
        f"JOIN agreement_product_line al ON al.product_line_id = p.product_line_id JOIN agreement a "
        f"ON a.id = al.agreement_id WHERE {products} AND {where}", {}).scalars())


def products_sold(scope: Scope, product_ids: set[int]) -> set[int]:
    """Of ``product_ids``, those with positive net sell-out (terminals and transfers) in the period."""
    if not product_ids:
        return set()
    where = f"AND distributor_id = {int(scope.distributor_id)}" if scope.distributor_id else ""
    months = ", ".join(f"'{m.isoformat()}'" for m in scope.period.months)
    rows = _execute(f"SELECT product_id FROM coverage_sales WHERE month IN ({months}) {where} "
                    f"AND product_id IN ({_ints(product_ids)}) GROUP BY product_id "
                    f"HAVING SUM(terminal_quantity + transfer_quantity) > 0", {}).scalars()
    return set(rows)


# -- the dashboard's numbers ----------------------------------------------------------------------------------------
def slice_numbers(scope: Scope) -> SliceNumbers:
    """Every count of one slice (listing rate, rolling, weighted, coverage, city coverage, new / lost, 动销率)."""
    scope = restrict(scope)
    period = scope.period
    m = _Masks(scope)
    c = m.c
    targets = m.targets(scope, period.year)
    bought = m.bought(scope, period.months) & targets
    rolling = m.bought(scope, period.rolling().months) & targets
    everything = scope.everything()
    cover_targets = m.targets(everything, period.year)
    covered = m.bought(everything, period.months) & cover_targets
    city = c.terminals.city
    target_cities = set(np.unique(city[targets & (city > 0)]).tolist())
    sold = m.bought(scope, period.months) & m.filtered & (city > 0)
    cities_sold = target_cities & set(np.unique(city[sold]).tolist())
    end = period.months[-1]
    now = m.bought(scope, [end]) & m.filtered
    before = m.bought(scope, [add_months(end, -1)]) & m.filtered
    listed = listed_products(scope)
    return SliceNumbers(
        targets=int(targets.sum()), bought=int(bought.sum()), bought_rolling=int(rolling.sum()),
        target_weight=_weight(c, targets), bought_weight=_weight(c, bought),
        coverage_targets=int(cover_targets.sum()), covered=int(covered.sum()), target_cities=len(target_cities),
        cities_with_sales=len(cities_sold), new_terminals=int((now & ~before).sum()),
        lost_terminals=int((before & ~now).sum()), listed_products=len(listed),
        products_sold=len(products_sold(scope, listed)))


@dataclass(frozen=True)
class TrendPoint:
    month: date
    targets: int
    bought: int
    target_weight: int
    bought_weight: int
    coverage_targets: int
    covered: int
    new_terminals: int
    lost_terminals: int

    @property
    def listing_rate(self) -> Decimal | None:
        return metrics.rate(self.bought, self.targets)

    @property
    def weighted_distribution(self) -> Decimal | None:
        return metrics.rate(self.bought_weight, self.target_weight)

    @property
    def coverage(self) -> Decimal | None:
        return metrics.rate(self.covered, self.coverage_targets)


def trend(scope: Scope, months: int = TREND_MONTHS) -> list[TrendPoint]:
    """Month by month up to the period's last month: listing rate, weighted, coverage, new and lost terminals (each
    month against its own year's target lists)."""
    scope = restrict(scope)
    m = _Masks(scope)
    c, everything = m.c, scope.everything()
    end = scope.period.months[-1]
    out = []
    previous = m.bought(scope, [add_months(end, -months)]) & m.filtered
    for i in range(months - 1, -1, -1):
        month = add_months(end, -i)
        targets, cover = m.targets(scope, month.year), m.targets(everything, month.year)
        bought = m.bought(scope, [month])
        now = bought & m.filtered
        out.append(TrendPoint(month, int(targets.sum()), int((bought & targets).sum()), _weight(c, targets),
                              _weight(c, bought & targets), int(cover.sum()),
                              int((m.bought(everything, [month]) & cover).sum()), int((now & ~previous).sum()),
                              int((previous & ~now).sum())))
        previous = now
    return out


# -- breakdown by region and the terminals behind it ---------------------------------------------------------------
@dataclass(frozen=True)
class RegionRow:
    region_id: int
    code: str
    name: str
    level: int
    targets: int
    bought: int
    target_weight: int
    bought_weight: int

    @property
    def listing_rate(self) -> Decimal | None:
        return metrics.rate(self.bought, self.targets)

    @property
    def weighted_distribution(self) -> Decimal | None:
        return metrics.rate(self.bought_weight, self.target_weight)

    @property
    def not_bought(self) -> int:
        return self.targets - self.bought


def child_level(scope: Scope) -> int | None:
    """The level the breakdown goes down to: provinces, then cities, then counties (None below a county)."""
    return {None: 1, 1: 2, 2: 3}.get(scope.region_level)


def breakdown(scope: Scope) -> list[RegionRow]:
    """Listing rate per child region of the scope's region (provinces of the country, cities of a province,
    counties of a city), highest first. Staff only."""
    require_staff()
    level = child_level(scope)
    if level is None:
        return []
    m = _Masks(scope)
    t = m.c.terminals
    key = {1: t.province, 2: t.city, 3: t.region}[level]
    targets = m.targets(scope, scope.period.year)
    bought = m.bought(scope, scope.period.months) & targets
    ids = [int(i) for i in np.unique(key[targets]) if i]
    if not ids:
        return []
    size = int(max(ids)) + 1
    n_t = np.bincount(key[targets], minlength=size)
    n_b = np.bincount(key[bought], minlength=size)
    w_t = np.bincount(key[targets], weights=t.weight[targets], minlength=size)
    w_b = np.bincount(key[bought], weights=t.weight[bought], minlength=size)
    regions = {r.id: r for r in db.session.execute(select(Region).where(Region.id.in_(ids))).scalars()}
    out = [RegionRow(i, regions[i].code, regions[i].name, regions[i].level, int(n_t[i]), int(n_b[i]),
                     int(w_t[i]), int(w_b[i])) for i in ids if i in regions]
    out.sort(key=lambda r: (-(r.listing_rate or Decimal(-1)), -r.targets, r.code))
    return out


@dataclass
class TerminalRow:
    terminal_id: int
    code: str
    name: str
    type: str
    grade: str | None
    pharmacy_size: str | None
    weight: int
    region_code: str
    region_name: str
    city_name: str | None
    province_name: str | None
    months_bought: list[date]
    distributors: list[str] = field(default_factory=list)

    @property
    def bought(self) -> bool:
        return bool(self.months_bought)


def terminals(scope: Scope, which: str = "all", page: int = 1, per_page: int | None = 50
              ) -> tuple[list[TerminalRow], int]:
    """The target terminals of the slice, with and without the product (``which``: all | with | without): the
    months of the period they bought in and from which distributors. Staff only. Returns (rows, total)."""
    require_staff()
    m = _Masks(scope)
    t = m.c.terminals
    targets = m.targets(scope, scope.period.year)
    bought = m.bought(scope, scope.period.months)
    pick = targets & bought if which == "with" else targets & ~bought if which == "without" else targets
    ids = np.nonzero(pick)[0]
    order = np.lexsort((t.code[ids].astype(str), ~bought[ids]))
    ids = ids[order]
    total = len(ids)
    if per_page:
        ids = ids[(max(page, 1) - 1) * per_page:max(page, 1) * per_page]
    ids = [int(i) for i in ids]
    if not ids:
        return [], total
    found = {r.id: r for r in _execute(
        f"SELECT t.id, t.code, t.name, t.type, t.grade, t.pharmacy_size, r.code AS rcode, r.name AS rname, "
        f"c.name AS cname, pv.name AS pname FROM terminal t JOIN region r ON r.id = t.region_id "
        f"LEFT JOIN region c ON c.id = r.city_unit_id LEFT JOIN region pv ON pv.id = r.province_id "
        f"WHERE t.id IN ({_ints(ids)})", {}).all()}
    months_of = {}
    for year, mask in metrics.masks_by_year(scope.period.months).items():
        arr = m.c.months(m.d, year, scope.product_scope)
        for i in ids:
            months_of.setdefault(i, []).extend(metrics.months_of_mask(year, int(arr[i]) & mask))
    out = [TerminalRow(i, found[i].code, found[i].name, found[i].type, found[i].grade, found[i].pharmacy_size,
                       int(t.weight[i]), found[i].rcode, found[i].rname,
                       found[i].cname if found[i].cname != found[i].rname else None, found[i].pname,
                       sorted(months_of.get(i, []))) for i in ids if i in found]
    _sellers(out, scope)
    return out, total


def _sellers(rows: list[TerminalRow], scope: Scope) -> None:
    ids = [r.terminal_id for r in rows if r.bought]
    if not ids:
        return
    kind, ident = scope.product_scope
    product = {ProductScope.PRODUCT.value: f"AND cp.scope_id = {int(ident)}",
               ProductScope.LINE.value: f"AND p.product_line_id = {int(ident)}"}.get(kind, "")
    years = " OR ".join(f"(cp.year = {y} AND (cp.months & {mask}) <> 0)"
                        for y, mask in metrics.masks_by_year(scope.period.months).items())
    found = _execute(f"SELECT DISTINCT cp.terminal_id, d.code FROM coverage_presence cp JOIN distributor d "
                     f"ON d.id = cp.distributor_id JOIN product p ON p.id = cp.scope_id "
                     f"WHERE cp.distributor_id <> 0 AND cp.scope = {ProductScope.PRODUCT.value} {product} "
                     f"AND cp.terminal_id IN ({_ints(ids)}) AND ({years}) ORDER BY d.code", {}).all()
    by_terminal = defaultdict(list)
    for t_id, code in found:
        by_terminal[t_id].append(code)
    for r in rows:
        r.distributors = by_terminal.get(r.terminal_id, [])


# -- sell-in vs sell-out -------------------------------------------------------------------------------------------
@dataclass
class SellThroughRow:
    distributor_id: int
    code: str
    name: str
    tier: int
    sell_in_quantity: int = 0
    sell_in_amount: Decimal = Decimal("0.00")
    sell_out_quantity: int = 0
    sell_out_amount: Decimal = Decimal("0.00")
    transfer_quantity: int = 0
    transfer_amount: Decimal = Decimal("0.00")

    @property
    def out_in_ratio(self) -> Decimal | None:
        return metrics.rate(self.sell_out_quantity + self.transfer_quantity, self.sell_in_quantity)


def sell_in_vs_sell_out(scope: Scope) -> list[SellThroughRow]:
    """Per distributor: shipped sell-in (orders) against reported sell-out and transfers in the period, for the
    products in scope; distributors located in the scope's region. A distributor user gets its own row."""
    from distribution.orders import shipped_totals

    scope = restrict(scope)
    period = scope.period
    pscope = scope.product_scope

    def wanted(product_id: int, line_id: int) -> bool:
        return pscope[0] == ProductScope.ALL.value or product_id == scope.product_id or (
            pscope[0] == ProductScope.LINE.value and line_id == scope.product_line_id)

    rows: dict[int, SellThroughRow] = {}
    sell_in = defaultdict(lambda: [0, Decimal("0.00")])
    for d_id, p_id, l_id, amount, qty in shipped_totals(period.start, period.last_day):
        if wanted(p_id, l_id) and (not scope.distributor_id or d_id == scope.distributor_id):
            sell_in[d_id][0] += int(qty or 0)
            sell_in[d_id][1] += Decimal(amount or 0)
    months = ", ".join(f"'{m.isoformat()}'" for m in period.months)
    where = f"AND cs.distributor_id = {int(scope.distributor_id)}" if scope.distributor_id else ""
    if pscope[0] == ProductScope.PRODUCT.value:
        where += f" AND cs.product_id = {int(scope.product_id)}"
    elif pscope[0] == ProductScope.LINE.value:
        where += f" AND p.product_line_id = {int(scope.product_line_id)}"
    out = _execute(f"SELECT cs.distributor_id, SUM(cs.terminal_quantity), SUM(cs.terminal_amount), "
                   f"SUM(cs.transfer_quantity), SUM(cs.transfer_amount) FROM coverage_sales cs "
                   f"JOIN product p ON p.id = cs.product_id WHERE cs.month IN ({months}) {where} "
                   f"GROUP BY cs.distributor_id", {}).all()
    sell_out = {r[0]: r[1:] for r in out}
    ids = set(sell_in) | set(sell_out)
    if not ids:
        return []
    stmt = (select(Distributor.id, Distributor.code, Distributor.name, Distributor.tier)
            .join(Region, Region.id == Distributor.region_id).where(Distributor.id.in_(ids)))
    if scope.region_id:
        stmt = stmt.where((Region.id == scope.region_id) | (Region.parent_id == scope.region_id)
                          | (Region.province_id == scope.region_id))
    for d_id, code, name, tier in db.session.execute(stmt.order_by(Distributor.tier, Distributor.code)):
        row = rows[d_id] = SellThroughRow(d_id, code, name, tier)
        row.sell_in_quantity, row.sell_in_amount = sell_in[d_id][0], sell_in[d_id][1]
        if d_id in sell_out:
            tq, ta, xq, xa = sell_out[d_id]
            row.sell_out_quantity, row.sell_out_amount = int(tq or 0), Decimal(ta or 0)
            row.transfer_quantity, row.transfer_amount = int(xq or 0), Decimal(xa or 0)
    return list(rows.values())


def sales_by_month(distributor_id: int, months: list[date]) -> dict[date, tuple[int, int]]:
    """A distributor's reported (sell-out, transfer) quantity per month (the 360° page's trend)."""
    scope = restrict(Scope(Period("month", months[-1]), distributor_id=distributor_id))
    listed = ", ".join(f"'{m.isoformat()}'" for m in months)
    rows = _execute(f"SELECT month, SUM(terminal_quantity), SUM(transfer_quantity) FROM coverage_sales "
                    f"WHERE distributor_id = {int(scope.distributor_id)} AND month IN ({listed}) GROUP BY month",
                    {}).all()
    found = {(m if isinstance(m, date) else date.fromisoformat(str(m))): (int(a or 0), int(b or 0))
             for m, a, b in rows}
    return {m: found.get(m, (0, 0)) for m in months}


# -- purchase-target achievement per agreement ----------------------------------------------------------------------
@dataclass
class AchievementLine:
    agreement: Agreement
    rows: list  # the agreement's QuarterResults of the quarters that overlap the period
    total: object  # distribution.rebates.QuarterResult of the agreement's whole period


def achievements(scope: Scope) -> list[AchievementLine]:
    """Agreements in force during the period (of the scope's distributor / of distributors in its region) with
    their target achievement (:func:`distribution.agreements.agreement_achievement`, reused as is)."""
    from distribution.agreements import agreement_achievement

    scope = restrict(scope)
    period = scope.period
    stmt = (select(Agreement).join(Distributor, Distributor.id == Agreement.distributor_id)
            .join(Region, Region.id == Distributor.region_id)
            .where(Agreement.start_date <= period.last_day, Agreement.end_date >= period.start,
                   Agreement.approved_at.is_not(None)))
    if scope.distributor_id:
        stmt = stmt.where(Agreement.distributor_id == scope.distributor_id)
    if scope.region_id:
        stmt = stmt.where((Region.id == scope.region_id) | (Region.parent_id == scope.region_id)
                          | (Region.province_id == scope.region_id))
    out = []
    for a in db.session.execute(stmt.order_by(Distributor.code, Agreement.start_date)).scalars():
        report = agreement_achievement(a)
        rows = [r for r in report.rows if r.quarter is not None
                and r.quarter.first_day <= period.last_day and r.quarter.last_day >= period.start]
        out.append(AchievementLine(a, rows, report.total))
    return out


# -- diversion -------------------------------------------------------------------------------------------------------
@dataclass
class FlagRow:
    id: int
    kind: str
    distributor_code: str
    distributor_name: str
    submission_id: int
    filename: str
    source_row: int
    fact_id: int
    business_date: date
    product_code: str
    product_name: str
    terminal_code: str
    terminal_name: str
    region: str
    lot_no: str | None
    lot_id: int | None
    quantity: int
    shipped_to: list[str] = field(default_factory=list)  # lot flags: where we shipped the lot


def diversion_flags(scope: Scope, kind: str | None = None, page: int = 1, per_page: int | None = 50
                    ) -> tuple[list[FlagRow], int]:
    """The diversion flags of the period (by distributor, products, terminal region, kind) with their evidence.
    Staff only. Returns (rows, total)."""
    require_staff()
    params: dict = {}
    months = ", ".join(f"'{m.isoformat()}'" for m in scope.period.months)
    where = [f"df.month IN ({months})"]
    if scope.distributor_id:
        where.append(f"df.distributor_id = {int(scope.distributor_id)}")
    if scope.product_id:
        where.append(f"df.product_id = {int(scope.product_id)}")
    elif scope.product_line_id:
        where.append(f"p.product_line_id = {int(scope.product_line_id)}")
    if scope.region_id:
        where.append("(r.id = :region OR r.parent_id = :region OR r.province_id = :region)")
        params["region"] = scope.region_id
    if scope.terminal_type:
        where.append("t.type = :ttype")
        params["ttype"] = scope.terminal_type
    if scope.grade:
        where.append("t.grade = :grade")
        params["grade"] = scope.grade
    if kind in set(DiversionKind):
        where.append("df.kind = :kind")
        params["kind"] = kind
    base = (f"FROM diversion_flag df JOIN submission s ON s.id = df.submission_id "
            f"JOIN distributor d ON d.id = df.distributor_id JOIN product p ON p.id = df.product_id "
            f"JOIN terminal t ON t.id = df.terminal_id JOIN region r ON r.id = df.region_id "
            f"WHERE {' AND '.join(where)}")
    total = _execute(f"SELECT COUNT(*) {base}", params).scalar_one()
    limit = f" LIMIT {int(per_page)} OFFSET {int((max(page, 1) - 1) * per_page)}" if per_page else ""
    rows = _execute(f"SELECT df.id, df.kind, d.code AS dcode, d.name AS dname, df.submission_id, s.filename, "
                    f"df.source_row, df.fact_id, df.business_date, p.code AS pcode, p.generic_name, "
                    f"p.specification, t.code AS tcode, t.name AS tname, r.code AS rcode, r.name AS rname, "
                    f"df.lot_no, df.lot_id, df.quantity {base} "
                    f"ORDER BY df.business_date DESC, d.code, df.submission_id, df.source_row{limit}", params).all()
    out = [FlagRow(r.id, r.kind, r.dcode, r.dname, r.submission_id, r.filename, r.source_row, r.fact_id,
                   r.business_date if isinstance(r.business_date, date) else date.fromisoformat(str(r.business_date)),
                   r.pcode, f"{r.generic_name} {r.specification}", r.tcode, r.tname, f"{r.rcode} {r.rname}",
                   r.lot_no, r.lot_id, int(r.quantity)) for r in rows]
    _shipped_to(out)
    return out, int(total)


def _shipped_to(rows: list[FlagRow]) -> None:
    lots = {r.lot_id for r in rows if r.kind == DiversionKind.LOT_REGION.value and r.lot_id}
    if not lots:
        return
    found = _execute(f"SELECT DISTINCT sm.lot_id, d.code, pv.name FROM stock_movement sm "
                     f"JOIN distributor d ON d.id = sm.to_distributor_id JOIN region dr ON dr.id = d.region_id "
                     f"JOIN region pv ON pv.id = dr.province_id WHERE sm.kind = 'shipment' "
                     f"AND sm.lot_id IN ({_ints(lots)}) ORDER BY d.code", {}).all()
    by_lot = defaultdict(list)
    for lot_id, code, province in found:
        by_lot[lot_id].append(f"{code} ({province})")
    for r in rows:
        r.shipped_to = by_lot.get(r.lot_id, []) if r.kind == DiversionKind.LOT_REGION.value else []


def flag_counts(distributor_id: int, months: list[date]) -> dict[str, int]:
    """How many flags of each kind a distributor has in ``months`` (the 360° page). Staff only."""
    require_staff()
    listed = ", ".join(f"'{m.isoformat()}'" for m in months)
    rows = _execute(f"SELECT kind, COUNT(*) FROM diversion_flag WHERE distributor_id = {int(distributor_id)} "
                    f"AND month IN ({listed}) GROUP BY kind", {}).all()
    return {k.value: 0 for k in DiversionKind} | {kind: int(n) for kind, n in rows}


def kind_label(kind: str) -> str:
    return {"outside_territory": _("Outside the territory"), "unauthorised_product": _("Unauthorised product"),
            "lot_region": _("Lot out of region")}.get(kind, kind)


def type_label(value: str | None) -> str:
    return {"hospital": _("Hospital"), "pharmacy": _("Pharmacy"), "clinic": _("Clinic"), "other": _("Other")
            }.get(value or "", value or "")
