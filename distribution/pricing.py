"""Price resolution, the pure rule: plain values in, plain values out (no Flask, no database session).

Precedence (the same text is shown on the price list page):

1. **Distributor-specific** (``distributor_specific``): the distributor's own list;
2. **Provincial bid** (``provincial_bid``): the bid list of the province the distributor sits in;
3. **Tier list** (``tier1_supply`` for a tier-1 distributor, ``tier2_supply`` for a tier-2 one).

The first list in this order that has an applicable item wins. An item is applicable when it is for the product, is
effective on the date (``effective_from <= date <= effective_to``, both edges inclusive, no ``effective_to`` = open
ended; so tomorrow's new version never leaks into today) and its minimum quantity is not above the quantity. Inside
the winning list the item with the **highest minimum quantity not above the quantity** wins (the quantity break).
A list that has items for the product but only with breaks above the quantity is passed over (the explanation
says so). Quantities are compared in the product's base unit: a quantity in cases is multiplied by the pack size
first. ``retail_guide`` lists are informational and never resolve a supply price.

The floor: if the winning price is below the product's floor price effective on the date, the floor is returned
and the explanation says so (the services refuse items below the floor at save, so this is a safety net).

Nothing is resolved arbitrarily: two items of one list with the same minimum quantity effective on the same date,
two lists of one rank, or two floors on one date raise :class:`AmbiguousPrice`. Money is ``Decimal``: unit prices
have 4 places, amounts 2, both rounded ROUND_HALF_UP.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

PRICE_PLACES = Decimal("0.0001")
AMOUNT_PLACES = Decimal("0.01")


class Rule(enum.StrEnum):
    """The precedence rules, strongest first."""

    DISTRIBUTOR_SPECIFIC = "distributor_specific"
    PROVINCIAL_BID = "provincial_bid"
    TIER_LIST = "tier_list"


PRECEDENCE: tuple[Rule, ...] = (Rule.DISTRIBUTOR_SPECIFIC, Rule.PROVINCIAL_BID, Rule.TIER_LIST)
TIER_KINDS = {1: "tier1_supply", 2: "tier2_supply"}
CASE, BASE = "case", "base"


class PassedOver(enum.StrEnum):
    """Why a stronger rule did not give the price."""

    NO_ITEM = "no_item"  # no item of the product in such a list effective on the date
    BELOW_LOWEST_BREAK = "below_lowest_break"  # items exist, but every break is above the quantity


class AmbiguousPrice(ValueError):
    """The data would tie (two items or lists or floors of equal standing); refused rather than picked at random."""

    def __init__(self, message: str, ids: Sequence[int] = ()):
        super().__init__(message)
        self.ids = tuple(ids)


@dataclass(frozen=True, slots=True)
class Customer:
    """The distributor a price is resolved for."""

    distributor_id: int
    tier: int
    province_id: int | None


class Candidate(NamedTuple):
    """One price item version with what the rule needs to know about its list (a tuple: cheap to build by the
    thousand from database rows)."""

    item_id: int
    version: int
    list_id: int
    list_code: str
    list_name: str
    kind: str
    product_id: int
    min_quantity: int  # base units
    unit_price: Decimal
    effective_from: date
    effective_to: date | None
    list_province_id: int | None = None
    list_distributor_id: int | None = None
    entered_quantity: int | None = None
    entered_unit: str = BASE

    def effective_on(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)


class Floor(NamedTuple):
    floor_id: int
    version: int
    product_id: int
    price: Decimal
    effective_from: date
    effective_to: date | None

    def effective_on(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)


@dataclass(frozen=True)
class Resolution:
    """The resolved price of one product for one quantity on one date, and why."""

    product_id: int
    quantity: int  # base units
    on_date: date
    unit_price: Decimal | None  # None: no list has a price for it
    rule: Rule | None = None  # the precedence rule that won
    item: Candidate | None = None  # the winning item (list, item id / version, break)
    list_price: Decimal | None = None  # the item's price before the floor
    floor: Floor | None = None  # the floor effective on the date, if any
    floor_applied: bool = False
    passed_over: tuple[tuple[Rule, PassedOver], ...] = field(default_factory=tuple)

    @property
    def found(self) -> bool:
        return self.unit_price is not None

    @property
    def amount(self) -> Decimal | None:
        return None if self.unit_price is None else line_amount(self.unit_price, self.quantity)


# -- small pure helpers ----------------------------------------------------------------------------------------------
def quantize_price(value) -> Decimal:
    """A unit price: Decimal, 4 places, ROUND_HALF_UP. Floats are refused (they are not money)."""
    if isinstance(value, float):
        raise TypeError("prices are Decimal, never float")
    return Decimal(value).quantize(PRICE_PLACES, rounding=ROUND_HALF_UP)


def line_amount(unit_price: Decimal, quantity: int) -> Decimal:
    """quantity × unit price, 2 places, ROUND_HALF_UP."""
    return (unit_price * quantity).quantize(AMOUNT_PLACES, rounding=ROUND_HALF_UP)


def to_base_units(quantity: int, unit: str, pack_size: int) -> int:
    """A quantity in base units; ``unit`` is ``base`` or ``case`` (a case holds ``pack_size`` base units)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise TypeError("quantities are whole numbers")
    if unit == BASE:
        return quantity
    if unit == CASE:
        if pack_size < 1:
            raise ValueError("pack size must be positive")
        return quantity * pack_size
    raise ValueError(f"unknown unit {unit!r}")


def windows_overlap(a_from: date, a_to: date | None, b_from: date, b_to: date | None) -> bool:
    """Do two inclusive date windows (None = open end) share a day?"""
    return (a_to is None or b_from <= a_to) and (b_to is None or a_from <= b_to)


def rule_for(kind: str, list_province_id: int | None, list_distributor_id: int | None,
             customer: Customer) -> Rule | None:
    """The precedence rule under which a list of this kind applies to ``customer``, or None if it does not."""
    if kind == "distributor_specific":
        return Rule.DISTRIBUTOR_SPECIFIC if list_distributor_id == customer.distributor_id else None
    if kind == "provincial_bid":
        ok = customer.province_id is not None and list_province_id == customer.province_id
        return Rule.PROVINCIAL_BID if ok else None
    if kind == TIER_KINDS.get(customer.tier):
        return Rule.TIER_LIST
    return None  # retail_guide, the other tier's list


# -- resolution ------------------------------------------------------------------------------------------------------
def resolve(customer: Customer, product_id: int, quantity: int, on_date: date, candidates: Iterable[Candidate],
            floors: Iterable[Floor] = ()) -> Resolution:
    """Resolve one product's unit price for ``quantity`` base units on ``on_date`` (see the module docstring).

    ``candidates`` may contain anything (other products, lists, dates): what does not apply is ignored.
    Raises AmbiguousPrice for data that would tie, ValueError for a quantity below 1.
    """
    if quantity < 1:
        raise ValueError("quantity must be at least 1")
    by_rule: dict[Rule, list[Candidate]] = defaultdict(list)
    for c in candidates:
        if c.product_id != product_id or not c.effective_on(on_date):
            continue
        rule = rule_for(c.kind, c.list_province_id, c.list_distributor_id, customer)
        if rule is not None:
            by_rule[rule].append(c)
    floor = _floor_on(product_id, on_date, floors)
    passed: list[tuple[Rule, PassedOver]] = []
    for rule in PRECEDENCE:
        items = by_rule.get(rule)
        if not items:
            passed.append((rule, PassedOver.NO_ITEM))
            continue
        lists = {c.list_id for c in items}
        if len(lists) > 1:
            ids = sorted(lists)
            raise AmbiguousPrice(f"{len(ids)} active lists of rule {rule} price product {product_id}: {ids}", ids)
        best = _best_break(items, quantity)
        if best is None:
            passed.append((rule, PassedOver.BELOW_LOWEST_BREAK))
            continue
        price = best.unit_price
        applied = floor is not None and price < floor.price
        return Resolution(product_id, quantity, on_date, floor.price if applied else price, rule, best, price,
                          floor, applied, tuple(passed))
    return Resolution(product_id, quantity, on_date, None, floor=floor, passed_over=tuple(passed))


def _best_break(items: list[Candidate], quantity: int) -> Candidate | None:
    best: Candidate | None = None
    tie: Candidate | None = None
    for c in items:
        if c.min_quantity > quantity:
            continue
        if best is None or c.min_quantity > best.min_quantity:
            best, tie = c, None
        elif c.min_quantity == best.min_quantity:
            tie = c
    if tie is not None:
        ids = sorted((best.item_id, tie.item_id))
        raise AmbiguousPrice(f"items {ids[0]} and {ids[1]} tie (same list, product, break and date)", ids)
    return best


def _floor_on(product_id: int, on_date: date, floors: Iterable[Floor]) -> Floor | None:
    found = [f for f in floors if f.product_id == product_id and f.effective_on(on_date)]
    if len(found) > 1:
        ids = sorted(f.floor_id for f in found)
        raise AmbiguousPrice(f"floors {ids} of product {product_id} overlap on {on_date}", ids)
    return found[0] if found else None


def resolve_lines(customer: Customer, lines: Sequence[tuple[int, int]], on_date: date,
                  candidates: Iterable[Candidate], floors: Iterable[Floor] = ()) -> list[Resolution]:
    """Resolve every ``(product_id, base quantity)`` line; candidates are grouped by product once."""
    by_product: dict[int, list[Candidate]] = defaultdict(list)
    for c in candidates:
        by_product[c.product_id].append(c)
    floors_by_product: dict[int, list[Floor]] = defaultdict(list)
    for f in floors:
        floors_by_product[f.product_id].append(f)
    return [resolve(customer, pid, qty, on_date, by_product.get(pid, ()), floors_by_product.get(pid, ()))
            for pid, qty in lines]


# -- checks the services run at save ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Window:
    """A priced thing with an id and an inclusive date window (an item or a floor, as plain values)."""

    id: int | None
    min_quantity: int
    price: Decimal
    effective_from: date
    effective_to: date | None


def ties(new: Window, others: Iterable[Window]) -> list[Window]:
    """Items of the same list and product that would tie with ``new``: same minimum quantity, overlapping dates."""
    return [o for o in others if o.id != new.id and o.min_quantity == new.min_quantity
            and windows_overlap(new.effective_from, new.effective_to, o.effective_from, o.effective_to)]


def break_order_violations(items: Sequence[Window]) -> list[tuple[Window, Window]]:
    """Pairs (lower break, higher break) of one list and product that share a day while the higher break costs
    more: a bigger quantity may never be priced above a smaller one, so price never rises with quantity."""
    out = []
    for a in items:
        for b in items:
            if a.min_quantity < b.min_quantity and b.price > a.price and windows_overlap(
                    a.effective_from, a.effective_to, b.effective_from, b.effective_to):
                out.append((a, b))
    return out


def below_floor(items: Iterable[Window], floors: Iterable[Floor]) -> list[tuple[Window, Floor]]:
    """(item, floor) pairs where the item is priced below a floor effective on some day of its window."""
    floors = list(floors)
    return [(i, f) for i in items for f in floors if i.price < f.price
            and windows_overlap(i.effective_from, i.effective_to, f.effective_from, f.effective_to)]
