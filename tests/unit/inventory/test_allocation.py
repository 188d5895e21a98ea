"""FEFO as a pure rule: order, skips with reasons, partial allocation; properties with hypothesis."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inventory.allocation import LotStock, fefo

D = date(2026, 6, 15)


def lot(i, days, qty=100, status="released"):
    return LotStock(i, f"L{i}", D + timedelta(days=days), status, qty)


def test_earliest_expiry_first_and_partial_lots():
    a = fefo([lot(1, 400, 50), lot(2, 300, 30), lot(3, 500, 100)], 60, D)
    assert [(p.lot_no, p.quantity) for p in a.picks] == [("L2", 30), ("L1", 30)]
    assert a.complete and a.allocated == 60


def test_skips_say_why():
    stock = [lot(1, -1), lot(2, 0), lot(3, 10), lot(4, 200, status="recalled"), lot(5, 300, status="quarantined"),
             lot(6, 400, qty=0), lot(7, 500, 10)]
    a = fefo(stock, 50, D, min_remaining_days=30)
    assert {s.lot_no: s.reason for s in a.skipped} == {
        "L1": "expired", "L2": "short_shelf_life", "L3": "short_shelf_life", "L4": "recalled", "L5": "quarantined",
        "L6": "no_stock"}
    assert [(p.lot_no, p.quantity) for p in a.picks] == [("L7", 10)]
    assert a.short == 40 and not a.complete


def test_expiry_day_itself_is_usable_and_minimum_is_inclusive():
    assert fefo([lot(1, 0)], 1, D).picks[0].lot_no == "L1"  # usable through its expiry day
    assert fefo([lot(1, 30)], 1, D, min_remaining_days=30).complete
    assert not fefo([lot(1, 29)], 1, D, min_remaining_days=30).picks


def test_ties_are_broken_deterministically():
    a = fefo([lot(2, 100, 5), LotStock(1, "L0", D + timedelta(days=100), "released", 5)], 6, D)
    assert [p.lot_no for p in a.picks] == ["L0", "L2"]


@pytest.mark.parametrize("qty", [0, -5])
def test_quantity_must_be_positive(qty):
    with pytest.raises(ValueError):
        fefo([lot(1, 100)], qty, D)


stocks = st.lists(
    st.builds(LotStock, lot_id=st.integers(1, 10_000), lot_no=st.text("AB12", min_size=1, max_size=4),
              expires_on=st.dates(D - timedelta(days=60), D + timedelta(days=900)),
              status=st.sampled_from(["released", "released", "released", "recalled", "quarantined"]),
              available=st.integers(0, 500)),
    max_size=25, unique_by=lambda s: s.lot_id)


@given(stocks, st.integers(1, 3000), st.integers(0, 400))
def test_fefo_properties(stock, qty, min_days):
    a = fefo(stock, qty, D, min_days)
    by_id = {s.lot_id: s for s in stock}
    eligible = [s for s in stock if s.status == "released" and (s.expires_on - D).days >= min_days and s.available > 0]
    # never more than asked, never more than a lot has, never twice the same lot
    assert a.allocated == min(qty, sum(s.available for s in eligible))
    assert len({p.lot_id for p in a.picks}) == len(a.picks)
    for p in a.picks:
        s = by_id[p.lot_id]
        assert 0 < p.quantity <= s.available and s.status == "released" and (s.expires_on - D).days >= min_days
    # first expiry first out: every eligible lot expiring before the last pick is fully used
    if a.picks:
        last = max(p.expires_on for p in a.picks)
        picked = {p.lot_id: p.quantity for p in a.picks}
        for s in eligible:
            if s.expires_on < last:
                assert picked.get(s.lot_id) == s.available
    # every lot not picked and not eligible has a reason
    assert {s.lot_id for s in a.skipped} == {s.lot_id for s in stock} - {s.lot_id for s in eligible}
