"""Pure rules of agreements: quarters, achievement and the rebate tier, with hand-computed fixtures."""

from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distribution.rebates import (
    Quarter,
    RebateTier,
    achievement_and_rebate,
    achievement_pct,
    bucket_by_quarter,
    clipped,
    quarters_between,
    rebate_rate,
)

TIERS = [RebateTier(D("90"), D("1")), RebateTier(D("100"), D("2")), RebateTier(D("110"), D("3"))]
Q1, Q2, Q3, Q4 = (Quarter(2026, q) for q in (1, 2, 3, 4))


# -- quarters -----------------------------------------------------------------------------------------------------
def test_quarter_parse_print_and_bounds():
    for text in ("2026Q2", "2026-Q2", "2026 q2", " 2026/Q2 "):
        assert Quarter.parse(text) == Q2
    assert str(Q2) == "2026Q2"
    assert (Q2.first_day, Q2.last_day) == (date(2026, 4, 1), date(2026, 6, 30))
    assert (Q1.last_day, Q4.last_day) == (date(2026, 3, 31), date(2026, 12, 31))
    assert Quarter(2024, 1).last_day == date(2024, 3, 31)
    assert Q4.next() == Quarter(2027, 1)
    assert Quarter.of(date(2026, 9, 30)) == Q3 and Quarter.of(date(2026, 10, 1)) == Q4
    for bad in ("2026Q5", "2026", "Q1", "26Q1", ""):
        with pytest.raises(ValueError):
            Quarter.parse(bad)
    with pytest.raises(ValueError):
        Quarter(2026, 0)


def test_quarters_between_calendar_and_fiscal_periods():
    assert quarters_between(date(2026, 1, 1), date(2026, 12, 31)) == [Q1, Q2, Q3, Q4]
    # an April-to-March agreement spans two calendar years
    assert [str(q) for q in quarters_between(date(2026, 4, 1), date(2027, 3, 31))] == [
        "2026Q2", "2026Q3", "2026Q4", "2027Q1"]
    # a period starting mid-quarter still has that quarter (clipped)
    assert quarters_between(date(2026, 2, 15), date(2026, 4, 1)) == [Q1, Q2]
    assert quarters_between(date(2026, 5, 1), date(2026, 4, 1)) == []
    assert clipped(Q1, date(2026, 2, 15), date(2026, 12, 31)) == (date(2026, 2, 15), date(2026, 3, 31))
    assert clipped(Q4, date(2026, 2, 15), date(2026, 6, 30)) is None


def test_bucket_by_quarter_sums_inside_the_period_only_every_quarter_present():
    rows = [
        (date(2026, 2, 14), D("100.10"), 3),  # before the period: left out
        (date(2026, 2, 15), D("1000.005"), 10),  # first day counts
        (date(2026, 3, 31), D("0.000"), 5),
        (date(2026, 4, 1), D("200.00"), 2),
        (date(2026, 6, 30), D("300.00"), 1),
        (date(2026, 7, 1), D("999.00"), 9),  # after the period: left out
    ]
    got = bucket_by_quarter(rows, date(2026, 2, 15), date(2026, 6, 30))
    assert got == {Q1: (D("1000.01"), 15), Q2: (D("500.00"), 3)}  # 1000.005 rounds half up
    assert bucket_by_quarter([], date(2026, 1, 1), date(2026, 12, 31)) == {q: (D("0.00"), 0) for q in (Q1, Q2, Q3, Q4)}


# -- the tier -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("achievement, rate", [
    (D("0"), D("0")), (D("89.99"), D("0")), (D("90"), D("1")), (D("95"), D("1")), (D("99.999"), D("1")),
    (D("100"), D("2")), (D("109.99"), D("2")), (D("110"), D("3")), (D("250"), D("3")), (None, D("0")),
])
def test_highest_tier_reached_applies(achievement, rate):
    assert rebate_rate(achievement, TIERS) == rate
    assert rebate_rate(achievement, list(reversed(TIERS))) == rate  # order of entry does not matter
    assert rebate_rate(achievement, [(t.threshold_pct, t.rate_pct) for t in TIERS]) == rate  # plain tuples too


def test_no_tiers_no_rebate_and_zero_target_has_no_achievement():
    assert rebate_rate(D("150"), []) == 0
    assert achievement_pct(D("5000"), D("0")) is None
    assert achievement_pct(D("50"), D("200")) == D("25")


# -- the table ----------------------------------------------------------------------------------------------------
def test_achievement_and_rebate_hand_computed():
    targets = {Q1: (D("100000.00"), 1000), Q2: (D("200000.00"), 2000), Q3: (D("0.00"), 0),
               Q4: (D("150000.00"), 1000)}
    sell_in = {Q1: (D("95000.00"), 900), Q2: (D("200000.00"), 1500), Q3: (D("5000.00"), 50),
               Q4: (D("166666.67"), 1200)}
    report = achievement_and_rebate(targets, sell_in, TIERS)
    q1, q2, q3, q4 = report.rows
    # 95 % → 1 % of 95,000.00
    assert (q1.amount_pct, q1.quantity_pct, q1.rebate_pct, q1.rebate_amount) == (D("95.00"), D("90.00"), D("1"),
                                                                                 D("950.00"))
    # exactly 100 % → 2 %
    assert (q2.amount_pct, q2.quantity_pct, q2.rebate_pct, q2.rebate_amount) == (D("100.00"), D("75.00"), D("2"),
                                                                                 D("4000.00"))
    # zero target: no achievement, no rebate, but the sell-in is still shown
    assert (q3.amount_pct, q3.quantity_pct, q3.rebate_pct, q3.rebate_amount) == (None, None, D("0"), D("0.00"))
    assert q3.sell_in_amount == D("5000.00")
    # 111.11 % → 3 % of 166,666.67 = 5,000.0001 → 5,000.00
    assert (q4.amount_pct, q4.rebate_pct, q4.rebate_amount) == (D("111.11"), D("3"), D("5000.00"))
    total = report.total
    assert total.quarter is None and total.rebate_pct is None
    assert (total.target_amount, total.target_quantity) == (D("450000.00"), 4000)
    assert (total.sell_in_amount, total.sell_in_quantity) == (D("466666.67"), 3650)
    assert total.amount_pct == D("103.70")  # 466,666.67 / 450,000 = 103.7037…
    assert total.quantity_pct == D("91.25")
    assert total.rebate_amount == D("9950.00")  # 950 + 4,000 + 0 + 5,000


def test_rounding_is_half_up_to_two_places():
    report = achievement_and_rebate({Q1: (D("1000.00"), 3), Q2: (D("80000.00"), 0)},
                                    {Q1: (D("1234.50"), 2), Q2: (D("80100.00"), 0)}, TIERS)
    q1, q2 = report.rows
    assert q1.rebate_amount == D("37.04")  # 123.45 % → 3 % of 1,234.50 = 37.035 → 37.04
    assert q1.quantity_pct == D("66.67")  # 2 / 3
    assert q2.amount_pct == D("100.13")  # exactly 100.125 % → 100.13 (half-even would say 100.12)
    one = achievement_and_rebate({Q1: (D("1000.00"), 0)}, {Q1: (D("1234.50"), 0)}, [RebateTier(D("100"), D("1"))])
    assert one.rows[0].rebate_amount == D("12.35")  # 12.345 → 12.35 (half-even would say 12.34)


def test_the_tier_is_chosen_on_the_exact_achievement_not_the_rounded_one():
    report = achievement_and_rebate({Q1: (D("100000.00"), 0)}, {Q1: (D("89999.99"), 0)}, TIERS)
    row = report.rows[0]
    assert row.amount_pct == D("90.00")  # 89.99999 % shows as 90.00 %
    assert row.rebate_pct == 0 and row.rebate_amount == D("0.00")  # but 90 % was not reached


def test_quantity_basis_picks_the_tier_on_quantity_and_pays_on_amount():
    report = achievement_and_rebate({Q1: (D("100000.00"), 1000)}, {Q1: (D("50000.00"), 1100)}, TIERS, "quantity")
    row = report.rows[0]
    assert (row.amount_pct, row.quantity_pct, row.rebate_pct, row.rebate_amount) == (D("50.00"), D("110.00"), D("3"),
                                                                                     D("1500.00"))
    with pytest.raises(ValueError):
        achievement_and_rebate({}, {}, TIERS, "margin")


def test_quarters_missing_on_one_side_count_as_zero():
    report = achievement_and_rebate({Q1: (D("100.00"), 1)}, {Q2: (D("50.00"), 1)}, TIERS)
    assert [(str(r.quarter), r.target_amount, r.sell_in_amount) for r in report.rows] == [
        ("2026Q1", D("100.00"), D("0.00")), ("2026Q2", D("0.00"), D("50.00"))]
    assert report.rows[0].amount_pct == D("0.00") and report.rows[1].amount_pct is None


amounts = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(target=amounts.filter(lambda d: d > 0), a=amounts, b=amounts)
def test_property_more_sell_in_never_earns_a_lower_rate_and_the_rebate_is_the_rounded_share(target, a, b):
    lo, hi = sorted((a, b))
    r_lo = achievement_and_rebate({Q1: (target, 0)}, {Q1: (lo, 0)}, TIERS).rows[0]
    r_hi = achievement_and_rebate({Q1: (target, 0)}, {Q1: (hi, 0)}, TIERS).rows[0]
    assert r_lo.rebate_pct <= r_hi.rebate_pct
    for r, s in ((r_lo, lo), (r_hi, hi)):
        assert r.rebate_amount == (s * r.rebate_pct / 100).quantize(D("0.01"), rounding="ROUND_HALF_UP")
        assert r.rebate_pct in (0, 1, 2, 3)
