"""Pure rules of the coverage analytics: periods, month bit masks, terminal weights, rates and the definitions.

No Flask, no database: plain values in, plain values out (unit tested on their own; the SQL of
:mod:`distribution.rollups` and :mod:`distribution.coverage` follows what this module says).

**Month bits.** A presence row of year ``Y`` keeps one bit per month: bit ``m - 1`` is month ``m`` of ``Y``. A period
spanning two years (a rolling window in January) reads the rows of both years.

**"Bought"**: terminal *t* bought product *p* from distributor *d* in month *m* when the net quantity of the sell-out
lines of current, loaded submissions (returns reported as negative lines included) of *p* to *t* by *d* dated in *m*
is positive. From "any distributor": at least one distributor's is. A product line / all products: at least one
product of it. In a period of several months (quarter, year to date, rolling window): in at least one of them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

BITS = 12
FULL_MASK = (1 << BITS) - 1
MAX_WINDOW = 12
DEFAULT_WINDOW = 3


# -- months -------------------------------------------------------------------------------------------------------
def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def month_index(month: date) -> int:
    return month.year * 12 + month.month - 1


def bit_of(year: int, month: date) -> int | None:
    """The bit of ``month`` in a presence row of ``year``, or None when the month is of another year."""
    return month.month - 1 if month.year == year else None


def months_mask(year: int, months: Iterable[date]) -> int:
    """The bits of ``months`` in a row of ``year`` (months of other years are left out)."""
    mask = 0
    for m in months:
        if m.year == year:
            mask |= 1 << (m.month - 1)
    return mask


def masks_by_year(months: Iterable[date]) -> dict[int, int]:
    """{year: bits of the months of that year}: how a period is read from presence rows."""
    out: dict[int, int] = {}
    for m in months:
        out[m.year] = out.get(m.year, 0) | 1 << (m.month - 1)
    return out


def months_of_mask(year: int, mask: int) -> list[date]:
    """The months whose bits are set in ``mask`` of a row of ``year``, oldest first."""
    return [date(year, i + 1, 1) for i in range(BITS) if mask >> i & 1]


# -- periods ------------------------------------------------------------------------------------------------------
class PeriodKind(enum.StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YTD = "ytd"  # year to date: January up to the month
    ROLLING = "rolling"  # the last ``window`` months up to the month


class PeriodInvalid(ValueError):
    """A period that cannot be read (the message is for the person who typed it)."""


@dataclass(frozen=True)
class Period:
    """A period of whole calendar months ending with ``end`` (the first day of its last month)."""

    kind: str
    end: date
    window: int = DEFAULT_WINDOW

    @property
    def months(self) -> list[date]:
        if self.kind == PeriodKind.MONTH:
            return [self.end]
        if self.kind == PeriodKind.QUARTER:
            first = date(self.end.year, (self.end.month - 1) // 3 * 3 + 1, 1)
            return [add_months(first, i) for i in range(3)]
        if self.kind == PeriodKind.YTD:
            return [date(self.end.year, m, 1) for m in range(1, self.end.month + 1)]
        return [add_months(self.end, -i) for i in range(self.window - 1, -1, -1)]

    @property
    def start(self) -> date:
        return self.months[0]

    @property
    def last_day(self) -> date:
        return date.fromordinal(add_months(self.months[-1], 1).toordinal() - 1)

    @property
    def year(self) -> int:
        """The target lists' year: the year of the period's last month."""
        return self.months[-1].year

    def masks(self) -> dict[int, int]:
        """{year: month bits} of the period's months."""
        return masks_by_year(self.months)

    @property
    def typed(self) -> str:
        """The period as typed in the filters' month / quarter box (2026-05, 2026Q2)."""
        return self.label if self.kind == PeriodKind.QUARTER else f"{self.end:%Y-%m}"

    @property
    def label(self) -> str:
        if self.kind == PeriodKind.QUARTER:
            return f"{self.end.year}Q{(self.end.month - 1) // 3 + 1}"
        if self.kind == PeriodKind.YTD:
            return f"{self.end.year}-01…{self.end:%Y-%m}"
        if self.kind == PeriodKind.ROLLING:
            return f"{self.start:%Y-%m}…{self.end:%Y-%m}"
        return f"{self.end:%Y-%m}"

    def rolling(self, window: int | None = None) -> Period:
        """The rolling window of ``window`` months ending with this period's last month."""
        return Period(PeriodKind.ROLLING.value, self.months[-1], window or self.window)


def parse_period(kind: str | None, value: str | None, default_end: date, window: int | None = None) -> Period:
    """A period from what a person typed: ``month`` 2026-05, ``quarter`` 2026Q2 (or 2026-2), ``ytd`` 2026-05,
    ``rolling`` 2026-05 with ``window`` 1 … MAX_WINDOW months. Empty value: the period ending ``default_end``.
    Raises PeriodInvalid (with an English message; callers translate by ``code``)."""
    kind = (kind or PeriodKind.MONTH.value).strip().lower()
    if kind not in set(PeriodKind):
        raise PeriodInvalid("kind")
    window = DEFAULT_WINDOW if window in (None, "") else window
    try:
        window = int(window)
    except (TypeError, ValueError) as exc:
        raise PeriodInvalid("window") from exc
    if not 1 <= window <= MAX_WINDOW:
        raise PeriodInvalid("window")
    value = (value or "").strip().upper()
    if not value:
        end = month_start(default_end)
        if kind == PeriodKind.QUARTER:
            end = date(end.year, (end.month - 1) // 3 * 3 + 3, 1)
        return Period(kind, end, window)
    try:
        if kind == PeriodKind.QUARTER:
            year_text, _, q_text = value.replace("-", "Q").partition("Q")
            year, quarter = int(year_text), int(q_text)
            if not 1 <= quarter <= 4:
                raise ValueError(value)
            end = date(year, quarter * 3, 1)
        else:
            year_text, _, month_text = value.partition("-")
            end = date(int(year_text), int(month_text), 1)
    except ValueError as exc:
        raise PeriodInvalid("value") from exc
    if not 2000 <= end.year <= 2100:
        raise PeriodInvalid("value")
    return Period(kind, end, window)


# -- terminal potential weights ----------------------------------------------------------------------------------
DEFAULT_WEIGHTS: dict[str, dict[str | None, int]] = {
    "hospital": {"三级甲等": 10, "三级乙等": 8, "三级": 7, "二级甲等": 5, "二级乙等": 4, "二级": 4, "一级": 2,
                 "未定级": 1, None: 1},
    "pharmacy": {"large": 3, "medium": 2, "small": 1, None: 1},
    "clinic": {None: 1},
    "other": {None: 1},
}


def default_weight(terminal_type: str, grade: str | None, pharmacy_size: str | None,
                   weights: Mapping[str, Mapping[str | None, int]] = DEFAULT_WEIGHTS) -> int:
    """The potential of a terminal without a weight of its own: by hospital grade, by pharmacy size, else 1."""
    table = weights.get(terminal_type) or {None: 1}
    key = grade if terminal_type == "hospital" else pharmacy_size if terminal_type == "pharmacy" else None
    return int(table.get(key, table.get(None, 1)))


def effective_weight(terminal_type: str, grade: str | None, pharmacy_size: str | None, own: int | None,
                     weights: Mapping[str, Mapping[str | None, int]] = DEFAULT_WEIGHTS) -> int:
    """The terminal's own ``potential_weight`` when set, else :func:`default_weight`."""
    return int(own) if own is not None else default_weight(terminal_type, grade, pharmacy_size, weights)


def merged_weights(overrides: Mapping | None) -> dict[str, dict[str | None, int]]:
    """DEFAULT_WEIGHTS with a configuration's overrides ({"hospital": {"三级甲等": 12}, ...}) laid over."""
    out = {k: dict(v) for k, v in DEFAULT_WEIGHTS.items()}
    for kind, table in (overrides or {}).items():
        out.setdefault(kind, {None: 1}).update({(None if k in ("", "default") else k): int(v)
                                                for k, v in table.items()})
    return out


# -- rates --------------------------------------------------------------------------------------------------------
PCT = Decimal("0.1")


def rate(numerator: int | Decimal, denominator: int | Decimal) -> Decimal | None:
    """``numerator ÷ denominator`` in per cent, one decimal (ROUND_HALF_UP); None when the denominator is 0."""
    if not denominator:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(PCT, rounding=ROUND_HALF_UP)


def new_and_lost(bought_now: Iterable[bool], bought_before: Iterable[bool]) -> tuple[int, int]:
    """(new, lost) terminals, per terminal whether it bought in the month and in the month before: new (开户)
    bought now but not before, lost (流失) bought before but not now."""
    new = lost = 0
    for now, then in zip(bought_now, bought_before, strict=True):
        new += bool(now and not then)
        lost += bool(then and not now)
    return new, lost


@dataclass(frozen=True)
class SliceNumbers:
    """The counts behind one dashboard slice and the rates made of them."""

    targets: int = 0  # target terminals in scope
    bought: int = 0  # of them, bought the product(s) in the period
    bought_rolling: int = 0  # of them, bought in the rolling window ending with the period
    target_weight: int = 0
    bought_weight: int = 0
    coverage_targets: int = 0  # target terminals of any product line in scope
    covered: int = 0  # of them, reached by any of our products in the period
    target_cities: int = 0
    cities_with_sales: int = 0
    new_terminals: int = 0
    lost_terminals: int = 0
    listed_products: int = 0
    products_sold: int = 0

    @property
    def listing_rate(self) -> Decimal | None:
        return rate(self.bought, self.targets)

    @property
    def listing_rate_rolling(self) -> Decimal | None:
        return rate(self.bought_rolling, self.targets)

    @property
    def weighted_distribution(self) -> Decimal | None:
        return rate(self.bought_weight, self.target_weight)

    @property
    def coverage(self) -> Decimal | None:
        return rate(self.covered, self.coverage_targets)

    @property
    def city_coverage(self) -> Decimal | None:
        return rate(self.cities_with_sales, self.target_cities)

    @property
    def sell_through(self) -> Decimal | None:
        return rate(self.products_sold, self.listed_products)


# -- definitions: written next to every number, in Chinese and English ---------------------------------------------
DEFINITIONS: dict[str, tuple[str, str, str, str]] = {
    # key: (Chinese name, Chinese definition, English name, English definition)
    "listing_rate": (
        "铺货率", "期间内购进本产品（或产品线任一产品）的目标终端数 ÷ 范围内的目标终端数。"
        "购进 = 某月各经销商上报的对该终端的纯销净数量（含退货负数行）任一家为正；"
        "季度、年初至今按任一月购进计。目标终端取期末所在年度的目标终端清单。",
        "Listing rate", "Target terminals that bought the product (or any product of the line) in the period ÷ "
        "target terminals in scope. Bought: in some month of the period, one distributor's net reported sell-out "
        "to the terminal (return lines counted negative) was positive. Target lists of the period's last year."),
    "listing_rate_rolling": (
        "滚动铺货率", "截至期末的最近 N 个月内购进本产品的目标终端数 ÷ 目标终端数（N 见筛选条件）。",
        "Rolling listing rate", "Target terminals that bought the product in the last N months up to the end "
        "of the period ÷ target terminals in scope (N as chosen in the filters)."),
    "weighted_distribution": (
        "加权铺货率", "按终端潜力加权的铺货率：购进终端的权重之和 ÷ 目标终端的权重之和。权重为终端自设的潜力权重，"
        "未设置时按医院等级（三甲 10、三乙 8、三级 7、二甲 5、二乙/二级 4、一级 2、未定级 1）"
        "或药店规模（大 3、中 2、小 1），其他 1。",
        "Weighted distribution", "The listing rate weighted by terminal potential: Σ weights of the target "
        "terminals that bought ÷ Σ weights of the target terminals. A terminal's own potential weight, else by "
        "hospital grade (3A 10, 3B 8, 3 7, 2A 5, 2B/2 4, 1 2, ungraded 1) or pharmacy size (large 3, medium 2, "
        "small 1), else 1."),
    "coverage": (
        "覆盖率", "期间内购进我司任一产品的目标终端数 ÷ 目标终端数（任一产品线的目标终端清单）。不按产品筛选。",
        "Coverage", "Target terminals that bought any of our products in the period ÷ target terminals (of any "
        "product line's list). Not cut by product."),
    "city_coverage": (
        "城市覆盖率", "有纯销（本产品范围，任一终端）的目标城市数 ÷ 目标城市数；目标城市 = 范围内目标终端所在的地级城市"
        "（省直辖县按城市计）。",
        "City coverage", "Target cities with sell-out (of the products in scope, to any terminal) ÷ target "
        "cities; a target city is a prefecture-level city (a province-administered county counts as one) with a "
        "target terminal in scope."),
    "new_terminals": (
        "开户终端", "期末月购进、上月未购进的终端数（范围内全部终端，不限目标终端）。",
        "New terminals", "Terminals that bought in the period's last month but not in the month before (all "
        "terminals in scope, not only targets)."),
    "lost_terminals": (
        "流失终端", "上月购进、期末月未购进的终端数（范围内全部终端）。",
        "Lost terminals", "Terminals that bought in the month before the period's last month but not in it "
        "(all terminals in scope)."),
    "sell_through": (
        "动销率", "期间内有纯销或调拨（净数量为正）的在售品种数 ÷ 在售品种数；在售品种 = 期间内有有效协议授权的启用产品"
        "（按经销商筛选时为该经销商协议授权的）。不按终端区域、类型、等级筛选。",
        "Sell-through (动销率)", "Listed products with positive net sell-out (to terminals or distributors) in the "
        "period ÷ listed products; listed = active products an agreement in force during the period authorises "
        "(the distributor's, when cut by distributor). Not cut by terminal region, type or grade."),
    "sell_in": (
        "进货（发货）", "期间内我司已发货订单行的数量与开票金额（按发货日期）。",
        "Sell-in", "Quantity and invoiced amount of our shipped order lines in the period (by shipment date)."),
    "sell_out": (
        "纯销 / 调拨", "经销商上报的期间内销往终端（纯销）与销往其他经销商（调拨）的净数量与金额（当前有效版本）。",
        "Sell-out / transfers", "Net quantity and amount distributors reported selling to terminals (sell-out) "
        "and to other distributors (transfers) in the period (current versions only)."),
    "sell_out_ratio": (
        "出货比", "纯销与调拨数量 ÷ 进货数量。",
        "Out ÷ in", "Sell-out and transfer quantity ÷ sell-in quantity."),
    "achievement": (
        "采购目标达成率", "协议季度目标的进货（已发货）金额 ÷ 目标金额（数量同理），与协议页相同。",
        "Purchase-target achievement", "Sell-in (shipped) amount ÷ the agreement's quarterly target amount (and "
        "the same in quantity), as on the agreement page."),
    "outside_territory": (
        "区域外销售", "上报的纯销终端不在该经销商当日有效协议的授权区域内，且不是协议指定终端。",
        "Outside the territory", "A reported sale to a terminal outside the territory of the distributor's "
        "agreement in force that day, and not one of its named terminals."),
    "unauthorised_product": (
        "未授权产品", "上报销售当日，该经销商没有授权该产品的有效协议。",
        "Unauthorised product", "On the day of the reported sale no agreement of the distributor in force "
        "authorised the product."),
    "lot_region": (
        "批号跨区", "上报销售的批号，其终端所在省份不在我司发运该批号的经销商所在省份及其协议区域内。",
        "Lot out of region", "A reported sale of a lot to a terminal in a province we never shipped that lot to "
        "(the provinces of the distributors we shipped it to and of their territories)."),
}


def definition(key: str, locale: str = "zh") -> dict[str, str]:
    """The name and definition of a number in both languages, the page's language first."""
    zh_name, zh_text, en_name, en_text = DEFINITIONS[key]
    first, second = ((zh_name, zh_text), (en_name, en_text)) if locale == "zh" else ((en_name, en_text),
                                                                                    (zh_name, zh_text))
    return {"key": key, "name": first[0], "text": first[1], "other_name": second[0], "other_text": second[1],
            "zh": f"{zh_name}：{zh_text}", "en": f"{en_name}: {en_text}"}
