"""Pure credit rules: money rounding, available credit, FIFO settlement, overdue days and aging buckets.

Plain values in, plain values out (no Flask, no session), unit tested without a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")


def money(value) -> Decimal:
    """A Decimal rounded half-up to 2 places (strings and ints accepted; floats refused: they are not money)."""
    if isinstance(value, float):
        raise TypeError("money must not be a float")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def available(limit: Decimal, temporary: Decimal, open_receivables: Decimal, reserved: Decimal) -> Decimal:
    """limit + valid temporary increases − (open receivables + reserved orders)."""
    return money(limit + temporary - (open_receivables + reserved))


def temporary_total(increases: Iterable[tuple[Decimal, date, date]], on_date: date) -> Decimal:
    """Sum of the increases whose window [valid_from, valid_to] (inclusive) contains ``on_date``."""
    return money(sum((a for a, start, end in increases if start <= on_date <= end), ZERO))


def days_overdue(due_date: date, on_date: date) -> int:
    """Days past the due date (0 when not yet due; due on the due date itself)."""
    return max((on_date - due_date).days, 0)


def bucket(days: int) -> str:
    """The aging bucket of an item ``days`` overdue."""
    if days <= 0:
        return "current"
    if days <= 30:
        return "1-30"
    if days <= 60:
        return "31-60"
    if days <= 90:
        return "61-90"
    return "90+"


def aging_buckets(items: Iterable[tuple[Decimal, date]], on_date: date) -> dict[str, Decimal]:
    """Open amounts ``(open_amount, due_date)`` summed per bucket (every bucket present, zero when empty)."""
    out = dict.fromkeys(BUCKETS, ZERO)
    for amount, due in items:
        out[bucket(days_overdue(due, on_date))] += amount
    return {k: money(v) for k, v in out.items()}


def allocate_fifo(amount: Decimal, open_items: Sequence[tuple[object, Decimal]]) -> tuple[list[tuple], Decimal]:
    """Spread ``amount`` over ``open_items`` ``(key, open_amount)`` in the given (oldest first) order.

    Returns ``([(key, applied), ...], unapplied rest)``.
    """
    rest, out = money(amount), []
    for key, open_amount in open_items:
        if rest <= 0:
            break
        take = min(rest, open_amount)
        if take > 0:
            out.append((key, take))
            rest -= take
    return out, rest
