"""Pure rules of agreements: periods, product coverage, being in force. No Flask, no database.

Periods are closed intervals of days: an agreement ending on 30 June and one starting on 1 July touch but do not
overlap; two sharing even one day overlap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

# The states an agreement moves through, and which step leads where (checked by distribution.agreements).
TRANSITIONS: dict[str, dict[str, str]] = {
    "submit": {"draft": "submitted"},
    "return": {"submitted": "draft"},
    "activate": {"submitted": "active"},
    "terminate": {"draft": "terminated", "submitted": "terminated", "active": "terminated"},
    "expire": {"active": "expired"},
}


def next_status(action: str, status: str) -> str | None:
    """The status ``action`` leads to from ``status``, or None when it is not allowed there."""
    return TRANSITIONS[action].get(status)


def periods_overlap(a_start: date, a_end: date, b_start: date, b_end: date) -> bool:
    """Whether two inclusive periods share at least one day."""
    return a_start <= b_end and b_start <= a_end


@dataclass(frozen=True)
class Coverage:
    """What an agreement authorises: product ids by themselves and whole product line ids."""

    products: frozenset[int] = field(default_factory=frozenset)
    lines: frozenset[int] = field(default_factory=frozenset)

    def covers(self, product_id: int, line_id: int) -> bool:
        return product_id in self.products or line_id in self.lines


def shared_coverage(a: Coverage, b: Coverage, line_of: Mapping[int, int]) -> tuple[set[int], set[int]]:
    """(product ids, product line ids) both ``a`` and ``b`` authorise, directly or through a product's line.

    ``line_of`` maps each product id of ``a`` and ``b`` to its product line id. Two agreements that both name a line
    share it even while the line has no products yet.
    """
    lines = set(a.lines & b.lines)
    products = set(a.products & b.products)
    products |= {p for p in a.products if line_of[p] in b.lines}
    products |= {p for p in b.products if line_of[p] in a.lines}
    return products, lines


def in_force(status: str, activated: bool, start: date, end: date, terminated_on: date | None, on: date) -> bool:
    """Whether an agreement in ``status`` governed day ``on``.

    Active and expired agreements govern their whole period (expired ones for looking back); a terminated one that
    had been activated governed its period up to the day before it was terminated. Drafts, submitted agreements
    and those terminated before activation never do.
    """
    if status not in ("active", "expired", "terminated") or not activated or not start <= on <= end:
        return False
    if status == "terminated":
        return terminated_on is not None and on < terminated_on
    return True
