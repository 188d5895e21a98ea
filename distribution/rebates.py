"""Pure rules of agreements: calendar quarters, target achievement and the rebate it earns.

No Flask, no database: plain values in, plain values out (unit tested in tests/unit/distribution).

* Quarters are calendar quarters (2026Q1 = January to March). An agreement whose period does not start on a quarter
  boundary still has its targets and sell-in per calendar quarter; sell-in counts only days inside the period.
* Achievement = sell-in ÷ target × 100, on the agreement's basis (amount or quantity). A quarter with a zero target
  has no achievement (None) and earns no rebate.
* The rebate tier is the highest one whose threshold the exact achievement reaches (achievement ≥ threshold); the
  displayed achievement is rounded, the comparison is not (99.996 % shows as 100.00 % and still earns the 90 % tier).
* The rebate amount is that tier's percentage of the quarter's sell-in amount, ROUND_HALF_UP to 2 places. The year's
  rebate is the sum of the quarters' (already rounded) rebates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
ZERO = Decimal("0.00")
_QUARTER = re.compile(r"^\s*(\d{4})\s*[-_ /]?\s*[Qq]\s*([1-4])\s*$")


def money(value) -> Decimal:
    """An amount rounded ROUND_HALF_UP to 2 places."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    q: int

    def __post_init__(self):
        if self.q not in (1, 2, 3, 4):
            raise ValueError(f"quarter {self.q} is not 1-4")

    def __str__(self) -> str:
        return f"{self.year}Q{self.q}"

    @classmethod
    def parse(cls, text: str) -> Quarter:
        """``2026Q1``, ``2026-Q1``, ``2026 q1`` → Quarter(2026, 1); ValueError otherwise."""
        m = _QUARTER.match(str(text))
        if not m:
            raise ValueError(f"not a quarter: {text!r}")
        return cls(int(m[1]), int(m[2]))

    @classmethod
    def of(cls, day: date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def first_day(self) -> date:
        return date(self.year, 3 * self.q - 2, 1)

    @property
    def last_day(self) -> date:
        return self.next().first_day - timedelta(days=1)

    def next(self) -> Quarter:
        return Quarter(self.year + 1, 1) if self.q == 4 else Quarter(self.year, self.q + 1)


def quarters_between(start: date, end: date) -> list[Quarter]:
    """The calendar quarters that overlap the period [start, end] (both inclusive), in order."""
    if end < start:
        return []
    out, q, last = [], Quarter.of(start), Quarter.of(end)
    while q <= last:
        out.append(q)
        q = q.next()
    return out


def clipped(quarter: Quarter, start: date, end: date) -> tuple[date, date] | None:
    """The days of ``quarter`` inside the period [start, end], or None when they do not meet."""
    lo, hi = max(quarter.first_day, start), min(quarter.last_day, end)
    return (lo, hi) if lo <= hi else None


def bucket_by_quarter(rows: Iterable[tuple[date, Decimal, int]], start: date, end: date
                      ) -> dict[Quarter, tuple[Decimal, int]]:
    """Sum (day, amount, quantity) rows into the period's quarters; rows outside [start, end] are left out.

    Every quarter of the period is present, with zero when nothing was bought in it.
    """
    totals: dict[Quarter, tuple[Decimal, int]] = {q: (ZERO, 0) for q in quarters_between(start, end)}
    for day, amount, quantity in rows:
        if start <= day <= end:
            a, n = totals[Quarter.of(day)]
            totals[Quarter.of(day)] = (a + Decimal(amount), n + int(quantity))
    return {q: (money(a), n) for q, (a, n) in totals.items()}


@dataclass(frozen=True)
class RebateTier:
    threshold_pct: Decimal  # achievement (%) at which the tier starts
    rate_pct: Decimal  # rebate (%) of the sell-in amount


def achievement_pct(actual, target) -> Decimal | None:
    """Exact achievement in percent (not rounded); None when the target is zero (nothing to achieve)."""
    target = Decimal(target)
    if target <= 0:
        return None
    return Decimal(actual) * HUNDRED / target


def rebate_rate(achievement: Decimal | None, tiers: Iterable[RebateTier | tuple]) -> Decimal:
    """The rate of the highest tier whose threshold ``achievement`` reaches; 0 when none is reached (or None)."""
    if achievement is None:
        return Decimal(0)
    reached = [_tier(t) for t in tiers if achievement >= _tier(t).threshold_pct]
    if not reached:
        return Decimal(0)
    return max(reached, key=lambda t: t.threshold_pct).rate_pct


def _tier(t) -> RebateTier:
    return t if isinstance(t, RebateTier) else RebateTier(Decimal(t[0]), Decimal(t[1]))


def _pct(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class QuarterResult:
    quarter: Quarter | None  # None on the total row
    target_amount: Decimal
    target_quantity: int
    sell_in_amount: Decimal
    sell_in_quantity: int
    amount_pct: Decimal | None  # achievement, rounded to 2 places; None when the target is zero
    quantity_pct: Decimal | None
    rebate_pct: Decimal | None  # None on the total row (each quarter earns its own tier)
    rebate_amount: Decimal


@dataclass(frozen=True)
class Achievement:
    rows: list[QuarterResult]
    total: QuarterResult


def achievement_and_rebate(targets: Mapping[Quarter, tuple], sell_in: Mapping[Quarter, tuple],
                           rebate_tiers: Sequence[RebateTier | tuple], basis: str = "amount") -> Achievement:
    """Per quarter: target, sell-in, achievement (amount and quantity), rebate rate and rebate amount, plus a total.

    ``targets`` and ``sell_in`` map a quarter to (amount, quantity); a quarter missing from either counts as zero.
    ``basis`` ("amount" or "quantity") is the achievement that picks the tier.
    """
    if basis not in ("amount", "quantity"):
        raise ValueError(f"unknown rebate basis {basis!r}")
    rows = []
    for q in sorted(set(targets) | set(sell_in)):
        t_amount, t_qty = targets.get(q, (ZERO, 0))
        s_amount, s_qty = sell_in.get(q, (ZERO, 0))
        amount_exact = achievement_pct(s_amount, t_amount)
        qty_exact = achievement_pct(s_qty, t_qty)
        rate = rebate_rate(amount_exact if basis == "amount" else qty_exact, rebate_tiers)
        rows.append(QuarterResult(q, money(t_amount), int(t_qty), money(s_amount), int(s_qty), _pct(amount_exact),
                                  _pct(qty_exact), rate, money(Decimal(s_amount) * rate / HUNDRED)))
    t_amount = sum((r.target_amount for r in rows), ZERO)
    s_amount = sum((r.sell_in_amount for r in rows), ZERO)
    t_qty = sum(r.target_quantity for r in rows)
    s_qty = sum(r.sell_in_quantity for r in rows)
    total = QuarterResult(None, t_amount, t_qty, s_amount, s_qty, _pct(achievement_pct(s_amount, t_amount)),
                          _pct(achievement_pct(s_qty, t_qty)), None, sum((r.rebate_amount for r in rows), ZERO))
    return Achievement(rows, total)
