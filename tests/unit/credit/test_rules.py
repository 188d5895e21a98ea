"""The pure credit rules: money, available credit, temporary windows, FIFO settlement, aging buckets."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credit import exposure as rules

D = Decimal


def test_money_rounds_half_up_and_refuses_floats():
    assert rules.money("1.005") == D("1.01")
    assert rules.money("2.675") == D("2.68")
    assert rules.money(3) == D("3.00")
    with pytest.raises(TypeError):
        rules.money(1.5)


def test_available_arithmetic():
    assert rules.available(D("100000"), D("20000"), D("55000.50"), D("30000")) == D("34999.50")
    assert rules.available(D("0"), D("0"), D("10"), D("0")) == D("-10.00")


def test_temporary_window_is_inclusive():
    incs = [(D("100"), date(2026, 6, 1), date(2026, 6, 15)), (D("50"), date(2026, 6, 16), date(2026, 6, 30))]
    assert rules.temporary_total(incs, date(2026, 5, 31)) == D("0.00")
    assert rules.temporary_total(incs, date(2026, 6, 1)) == D("100.00")
    assert rules.temporary_total(incs, date(2026, 6, 15)) == D("100.00")
    assert rules.temporary_total(incs, date(2026, 6, 16)) == D("50.00")
    assert rules.temporary_total(incs, date(2026, 7, 1)) == D("0.00")


@pytest.mark.parametrize(("days", "bucket"), [(-5, "current"), (0, "current"), (1, "1-30"), (30, "1-30"),
                                               (31, "31-60"), (60, "31-60"), (61, "61-90"), (90, "61-90"),
                                               (91, "90+"), (400, "90+")])
def test_bucket_edges(days, bucket):
    assert rules.bucket(days) == bucket


def test_aging_buckets_hand_computed():
    on = date(2026, 6, 15)
    items = [(D("100"), date(2026, 6, 30)),  # not due: current
             (D("200"), date(2026, 6, 15)),  # due today: current
             (D("300"), date(2026, 6, 14)),  # 1 day: 1-30
             (D("400"), date(2026, 5, 16)),  # 30 days: 1-30
             (D("500"), date(2026, 5, 15)),  # 31 days: 31-60
             (D("600"), date(2026, 3, 17)),  # 90 days: 61-90
             (D("700"), date(2026, 3, 16))]  # 91 days: 90+
    assert rules.aging_buckets(items, on) == {"current": D("300.00"), "1-30": D("700.00"), "31-60": D("500.00"),
                                              "61-90": D("600.00"), "90+": D("700.00")}


def test_allocate_fifo():
    applied, rest = rules.allocate_fifo(D("250"), [("a", D("100")), ("b", D("100")), ("c", D("100"))])
    assert applied == [("a", D("100")), ("b", D("100")), ("c", D("50.00"))]
    assert rest == D("0.00")
    applied, rest = rules.allocate_fifo(D("50"), [])
    assert applied == [] and rest == D("50.00")


money_st = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)


@given(st.lists(money_st, max_size=10), money_st)
def test_fifo_never_over_applies(opens, amount):
    items = list(enumerate(opens))
    applied, rest = rules.allocate_fifo(amount, items)
    assert sum((a for _, a in applied), D(0)) + rest == amount
    for key, a in applied:
        assert 0 < a <= opens[key]
    assert rest == 0 or sum(opens, D(0)) < amount
