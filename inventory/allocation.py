"""FEFO allocation: a pure rule over plain values (no Flask, no session).

Lots are taken earliest expiry first (then lot number, then id, so the choice is deterministic). A lot is skipped,
with the reason, when it is recalled or quarantined, expired on the ship date (a lot is usable through its expiry
day), its remaining shelf life on the ship date is shorter than the minimum for the destination tier, or it has no
available stock. When the eligible stock is short, what there is is allocated and the shortfall is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class LotStock:
    lot_id: int
    lot_no: str
    expires_on: date
    status: str  # released | quarantined | recalled
    available: int


@dataclass(frozen=True)
class Pick:
    lot_id: int
    lot_no: str
    expires_on: date
    quantity: int


@dataclass(frozen=True)
class Skip:
    lot_id: int
    lot_no: str
    reason: str  # recalled | quarantined | expired | short_shelf_life | no_stock
    remaining_days: int


@dataclass
class Allocation:
    requested: int
    picks: list[Pick] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)

    @property
    def allocated(self) -> int:
        return sum(p.quantity for p in self.picks)

    @property
    def short(self) -> int:
        return self.requested - self.allocated

    @property
    def complete(self) -> bool:
        return self.short == 0


def fefo(stock: list[LotStock], quantity: int, on_date: date, min_remaining_days: int = 0) -> Allocation:
    """Allocate ``quantity`` base units from ``stock`` first-expiry-first-out for a shipment on ``on_date``."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    result = Allocation(requested=quantity)
    remaining = quantity
    for lot in sorted(stock, key=lambda s: (s.expires_on, s.lot_no, s.lot_id)):
        days = (lot.expires_on - on_date).days
        reason = None
        if lot.status != "released":
            reason = lot.status
        elif days < 0:
            reason = "expired"
        elif days < min_remaining_days:
            reason = "short_shelf_life"
        elif lot.available <= 0:
            reason = "no_stock"
        if reason is not None:
            result.skipped.append(Skip(lot.lot_id, lot.lot_no, reason, days))
            continue
        if remaining == 0:
            continue
        take = min(remaining, lot.available)
        result.picks.append(Pick(lot.lot_id, lot.lot_no, lot.expires_on, take))
        remaining -= take
    return result
