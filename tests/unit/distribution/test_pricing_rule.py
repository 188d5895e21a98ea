"""The pure price rule (distribution.pricing): no Flask, no database."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distribution import pricing
from distribution.pricing import AmbiguousPrice, Candidate, Customer, Floor, PassedOver, Rule

D = Decimal
TODAY = date(2026, 6, 15)
TIER1_ZJ = Customer(distributor_id=7, tier=1, province_id=330000)
_ids = itertools.count(1)


def item(kind="tier1_supply", price="10.0000", min_q=1, start=date(2026, 1, 1), end=None, product=1, list_id=None,
         province=None, distributor=None, version=1) -> Candidate:
    list_id = list_id or {"tier1_supply": 1, "tier2_supply": 2, "retail_guide": 3, "provincial_bid": 4,
                          "distributor_specific": 5}[kind]
    return Candidate(next(_ids), version, list_id, f"L{list_id}", f"list {list_id}", kind, product, min_q, D(price),
                     start, end, province, distributor)


def test_break_price_at_and_above_minimum_base_below_with_cases_converted():
    pack = 20  # base units per case
    base = item(price="10.0000", min_q=1)
    brk = item(price="9.0000", min_q=pricing.to_base_units(5, "case", pack))  # 5 cases = 100 units
    cands = [base, brk]
    assert pricing.resolve(TIER1_ZJ, 1, 99, TODAY, cands).unit_price == D("10.0000")
    at = pricing.resolve(TIER1_ZJ, 1, pricing.to_base_units(5, "case", pack), TODAY, cands)
    assert at.unit_price == D("9.0000") and at.item == brk and at.quantity == 100
    assert pricing.resolve(TIER1_ZJ, 1, 101, TODAY, cands).unit_price == D("9.0000")
    assert pricing.resolve(TIER1_ZJ, 1, pricing.to_base_units(4, "case", pack), TODAY, cands).unit_price == D("10")


def test_effective_window_is_inclusive_at_both_edges_and_tomorrow_does_not_leak():
    old = item(price="10.0000", start=date(2026, 1, 1), end=TODAY)
    new = item(price="11.0000", start=TODAY + timedelta(days=1), version=2)
    cands = [old, new]
    assert pricing.resolve(TIER1_ZJ, 1, 1, date(2025, 12, 31), cands).unit_price is None
    assert pricing.resolve(TIER1_ZJ, 1, 1, date(2026, 1, 1), cands).item == old
    assert pricing.resolve(TIER1_ZJ, 1, 1, TODAY, cands).item == old
    assert pricing.resolve(TIER1_ZJ, 1, 1, TODAY + timedelta(days=1), cands).item == new


def test_precedence_distributor_specific_then_bid_then_tier():
    tier = item("tier1_supply", "10.0000")
    bid = item("provincial_bid", "10.5000", province=330000)
    own = item("distributor_specific", "12.0000", distributor=7)
    r = pricing.resolve(TIER1_ZJ, 1, 1, TODAY, [tier, bid, own])
    assert (r.rule, r.item) == (Rule.DISTRIBUTOR_SPECIFIC, own)
    r = pricing.resolve(TIER1_ZJ, 1, 1, TODAY, [tier, bid])
    assert (r.rule, r.item) == (Rule.PROVINCIAL_BID, bid)
    assert r.passed_over == ((Rule.DISTRIBUTOR_SPECIFIC, PassedOver.NO_ITEM),)
    r = pricing.resolve(TIER1_ZJ, 1, 1, TODAY, [tier])
    assert (r.rule, r.item) == (Rule.TIER_LIST, tier)


def test_lists_that_do_not_apply_are_ignored():
    other_specific = item("distributor_specific", "1.0000", distributor=8)
    other_province = item("provincial_bid", "2.0000", province=440000)
    tier2 = item("tier2_supply", "3.0000")
    retail = item("retail_guide", "4.0000")
    tier1 = item("tier1_supply", "9.0000")
    r = pricing.resolve(TIER1_ZJ, 1, 1, TODAY, [other_specific, other_province, tier2, retail, tier1])
    assert r.item == tier1
    tier2_customer = Customer(9, 2, 440000)
    assert pricing.resolve(tier2_customer, 1, 1, TODAY, [tier1, tier2, retail]).item == tier2


def test_retail_guide_never_resolves_a_supply_price():
    r = pricing.resolve(TIER1_ZJ, 1, 1, TODAY, [item("retail_guide", "20.0000")])
    assert not r.found and r.unit_price is None and r.amount is None


def test_a_list_whose_breaks_are_all_above_the_quantity_is_passed_over():
    own = item("distributor_specific", "8.0000", min_q=1000, distributor=7)
    tier = item("tier1_supply", "10.0000")
    r = pricing.resolve(TIER1_ZJ, 1, 10, TODAY, [own, tier])
    assert r.item == tier
    assert (Rule.DISTRIBUTOR_SPECIFIC, PassedOver.BELOW_LOWEST_BREAK) in r.passed_over
    assert pricing.resolve(TIER1_ZJ, 1, 1000, TODAY, [own, tier]).item == own


def test_explanation_names_the_rule_the_list_the_item_and_the_break():
    tier = item("tier1_supply", "10.0000")
    brk = item("tier1_supply", "9.0000", min_q=50)
    r = pricing.resolve(TIER1_ZJ, 1, 60, TODAY, [tier, brk])
    assert r.rule == Rule.TIER_LIST
    assert (r.item.list_code, r.item.item_id, r.item.version, r.item.min_quantity) == ("L1", brk.item_id, 1, 50)
    assert r.passed_over == ((Rule.DISTRIBUTOR_SPECIFIC, PassedOver.NO_ITEM), (Rule.PROVINCIAL_BID, PassedOver.NO_ITEM))


def test_floor_is_never_undercut():
    floor = Floor(1, 1, 1, D("9.5000"), date(2026, 1, 1), None)
    r = pricing.resolve(TIER1_ZJ, 1, 100, TODAY, [item(price="10.0000"), item(price="9.0000", min_q=100)], [floor])
    assert r.unit_price == D("9.5000") and r.floor_applied and r.list_price == D("9.0000")
    r = pricing.resolve(TIER1_ZJ, 1, 1, TODAY, [item(price="10.0000")], [floor])
    assert r.unit_price == D("10.0000") and not r.floor_applied and r.floor == floor


def test_ties_are_refused_never_resolved_arbitrarily():
    a, b = item(price="10.0000"), item(price="9.0000")
    with pytest.raises(AmbiguousPrice) as exc:
        pricing.resolve(TIER1_ZJ, 1, 1, TODAY, [a, b])
    assert set(exc.value.ids) == {a.item_id, b.item_id}
    with pytest.raises(AmbiguousPrice):  # two active lists of one rank
        pricing.resolve(TIER1_ZJ, 1, 1, TODAY, [item(price="10.0000", list_id=1), item(price="9.0000", list_id=11)])
    floors = [Floor(1, 1, 1, D("1"), date(2026, 1, 1), None), Floor(2, 2, 1, D("2"), TODAY, None)]
    with pytest.raises(AmbiguousPrice):
        pricing.resolve(TIER1_ZJ, 1, 1, TODAY, [item()], floors)


def test_money_and_units():
    assert pricing.quantize_price(D("1.23455")) == D("1.2346")  # ROUND_HALF_UP, not banker's
    assert pricing.quantize_price("2.00005") == D("2.0001")
    assert pricing.line_amount(D("0.0050"), 1) == D("0.01")
    assert pricing.line_amount(D("12.3456"), 7) == D("86.42")
    with pytest.raises(TypeError):
        pricing.quantize_price(1.5)
    assert pricing.to_base_units(3, "case", 24) == 72 and pricing.to_base_units(3, "base", 24) == 3
    with pytest.raises(ValueError):
        pricing.to_base_units(1, "pallet", 24)
    with pytest.raises(ValueError):
        pricing.resolve(TIER1_ZJ, 1, 0, TODAY, [])


def test_resolve_lines_matches_resolve_per_line():
    cands = [item(product=p, price=f"{10 + p}.0000") for p in range(1, 6)] + [
        item(product=3, price="11.0000", min_q=10)]
    lines = [(1, 1), (3, 5), (3, 10), (9, 1)]
    got = pricing.resolve_lines(TIER1_ZJ, lines, TODAY, cands)
    assert [r.unit_price for r in got] == [D("11.0000"), D("13.0000"), D("11.0000"), None]


def test_save_checks():
    w = pricing.Window
    base = w(1, 1, D("10"), date(2026, 1, 1), date(2026, 6, 30))
    assert pricing.ties(w(None, 1, D("9"), date(2026, 6, 30), None), [base]) == [base]  # one shared day is a tie
    assert pricing.ties(w(None, 1, D("9"), date(2026, 7, 1), None), [base]) == []
    assert pricing.ties(w(None, 2, D("9"), date(2026, 1, 1), None), [base]) == []
    pricey = w(2, 100, D("11"), date(2026, 6, 1), None)
    assert pricing.break_order_violations([base, pricey]) == [(base, pricey)]
    assert pricing.break_order_violations([base, w(2, 100, D("11"), date(2026, 7, 1), None)]) == []
    floor = Floor(1, 1, 1, D("9.5"), date(2026, 6, 30), None)
    assert pricing.below_floor([w(3, 1, D("9"), date(2026, 1, 1), date(2026, 6, 29))], [floor]) == []
    assert len(pricing.below_floor([w(3, 1, D("9"), date(2026, 1, 1), date(2026, 6, 30))], [floor])) == 1


# -- properties ------------------------------------------------------------------------------------------------------
prices = st.decimals(min_value=D("0.0001"), max_value=D("99999"), places=4, allow_nan=False, allow_infinity=False)


@st.composite
def monotone_list(draw):
    """One list's breaks for one product as saved data can be: distinct minimums, price not rising with quantity."""
    minimums = sorted(draw(st.sets(st.integers(1, 5000), min_size=1, max_size=6)))
    ps = sorted(draw(st.lists(prices, min_size=len(minimums), max_size=len(minimums))), reverse=True)
    return [item(price=str(p), min_q=m) for m, p in zip(minimums, ps, strict=True)]


@settings(max_examples=200, deadline=None)
@given(monotone_list(), st.integers(1, 6000), st.integers(1, 6000))
def test_property_price_never_rises_with_quantity_within_a_list(cands, q1, q2):
    lo, hi = sorted((q1, q2))
    a, b = pricing.resolve(TIER1_ZJ, 1, lo, TODAY, cands), pricing.resolve(TIER1_ZJ, 1, hi, TODAY, cands)
    if a.found:
        assert b.found and b.unit_price <= a.unit_price
    assert not a.found or a.item.min_quantity <= lo  # the break is never above the quantity


@settings(max_examples=200, deadline=None)
@given(monotone_list(), st.lists(prices, min_size=0, max_size=1), st.integers(1, 6000))
def test_property_resolved_price_is_never_below_the_floor(cands, floor_price, quantity):
    floors = [Floor(1, 1, 1, floor_price[0], date(2026, 1, 1), None)] if floor_price else []
    r = pricing.resolve(TIER1_ZJ, 1, quantity, TODAY, cands, floors)
    if r.found and floors:
        assert r.unit_price >= floors[0].price
        assert r.floor_applied == (r.list_price < floors[0].price)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["distributor_specific", "provincial_bid", "tier1_supply", "retail_guide"]),
                          prices), min_size=1, max_size=4, unique_by=lambda t: t[0]))
def test_property_the_strongest_list_with_an_item_always_wins(entries):
    cands = [item(kind, str(p), province=330000 if kind == "provincial_bid" else None,
                  distributor=7 if kind == "distributor_specific" else None) for kind, p in entries]
    r = pricing.resolve(TIER1_ZJ, 1, 1, TODAY, cands)
    kinds = {k for k, _ in entries}
    expected = next((rule for rule, kind in ((Rule.DISTRIBUTOR_SPECIFIC, "distributor_specific"),
                                             (Rule.PROVINCIAL_BID, "provincial_bid"),
                                             (Rule.TIER_LIST, "tier1_supply")) if kind in kinds), None)
    assert r.rule == expected


@settings(max_examples=200, deadline=None)
@given(st.dates(date(2025, 1, 1), date(2027, 12, 31)), st.dates(date(2025, 1, 1), date(2027, 12, 31)),
       st.dates(date(2025, 1, 1), date(2027, 12, 31)))
def test_property_a_version_applies_exactly_inside_its_inclusive_window(start, end, day):
    start, end = min(start, end), max(start, end)
    r = pricing.resolve(TIER1_ZJ, 1, 1, day, [item(start=start, end=end)])
    assert r.found == (start <= day <= end)
