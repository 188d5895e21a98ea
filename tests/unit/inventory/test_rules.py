"""Days of inventory and the over / under flag (pure functions of plain values)."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from inventory.channel import Targets, days_of_inventory, stock_flag
from inventory.expiry import window_for

T = Targets(under=15, over=90)


def test_days_of_inventory():
    assert days_of_inventory(380, 150, 90) == Decimal("228.0")
    assert days_of_inventory(15, 80, 90) == Decimal("16.9")  # 16.875 rounds half up
    assert days_of_inventory(0, 10, 90) == Decimal("0.0")
    assert days_of_inventory(10, 0, 90) is None  # nothing sold: no finite figure


def test_flags():
    assert stock_flag(0, 0, None, T) is None
    assert stock_flag(10, 0, None, T) == "over"  # stock that does not move
    assert stock_flag(0, 10, Decimal("0"), T) == "under"  # selling with nothing on hand
    assert stock_flag(1, 1, Decimal("14.9"), T) == "under"
    assert stock_flag(1, 1, Decimal("15"), T) == "ok"
    assert stock_flag(1, 1, Decimal("90"), T) == "ok"
    assert stock_flag(1, 1, Decimal("90.1"), T) == "over"


@given(on_hand=st.integers(0, 10**6), sold=st.integers(1, 10**6), window=st.integers(1, 365))
def test_doi_is_on_hand_over_daily_rate(on_hand, sold, window):
    doi = days_of_inventory(on_hand, sold, window)
    assert abs(doi - Decimal(on_hand) * window / sold) <= Decimal("0.05")
    assert stock_flag(on_hand, sold, doi, T) in ("under", "ok", "over")


@given(days=st.integers(-1000, 1000))
def test_window_is_the_smallest_that_holds(days):
    wins = (30, 90, 180)
    w = window_for(days, wins)
    if days < 0:
        assert w == 0
    elif days > 180:
        assert w is None
    else:
        assert days <= w and all(not (days <= x < w) for x in wins)
