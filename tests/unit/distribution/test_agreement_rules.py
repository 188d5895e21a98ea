"""Pure rules of agreements: periods, coverage (directly or through a product line), transitions, being in force."""

from datetime import date

import pytest

from distribution.agreement_rules import TRANSITIONS, Coverage, in_force, next_status, periods_overlap, shared_coverage

JAN1, JUN30, JUL1, DEC31 = date(2026, 1, 1), date(2026, 6, 30), date(2026, 7, 1), date(2026, 12, 31)


@pytest.mark.parametrize("a, b, overlap", [
    ((JAN1, JUN30), (JUL1, DEC31), False),  # touching: one ends the day before the other starts
    ((JAN1, JUL1), (JUL1, DEC31), True),  # sharing one day
    ((JAN1, DEC31), (date(2026, 3, 1), date(2026, 3, 31)), True),  # contained
    ((JAN1, date(2026, 1, 31)), (date(2026, 3, 1), DEC31), False),
    ((JAN1, JAN1), (JAN1, JAN1), True),
])
def test_periods_overlap_inclusive_days(a, b, overlap):
    assert periods_overlap(*a, *b) is overlap
    assert periods_overlap(*b, *a) is overlap


LINE_OF = {1: 10, 2: 10, 3: 20}  # products 1 and 2 in line 10, product 3 in line 20


@pytest.mark.parametrize("a, b, shared", [
    (Coverage(frozenset({1})), Coverage(frozenset({1, 3})), ({1}, set())),  # the same product directly
    (Coverage(frozenset({1})), Coverage(lines=frozenset({10})), ({1}, set())),  # a product and its line
    (Coverage(lines=frozenset({10})), Coverage(frozenset({2, 3})), ({2}, set())),
    (Coverage(lines=frozenset({30})), Coverage(lines=frozenset({30})), (set(), {30})),  # a line, even with no products
    (Coverage(frozenset({1})), Coverage(frozenset({2}), frozenset({20})), (set(), set())),  # nothing in common
    (Coverage(), Coverage(frozenset({1})), (set(), set())),
])
def test_shared_coverage(a, b, shared):
    assert shared_coverage(a, b, LINE_OF) == shared
    assert shared_coverage(b, a, LINE_OF) == shared


def test_coverage_covers_directly_or_through_the_line():
    c = Coverage(frozenset({1}), frozenset({20}))
    assert c.covers(1, 10) and c.covers(3, 20) and not c.covers(2, 10)


def test_transitions():
    assert next_status("submit", "draft") == "submitted"
    assert next_status("return", "submitted") == "draft"
    assert next_status("activate", "submitted") == "active"
    assert next_status("expire", "active") == "expired"
    for status in ("draft", "submitted", "active"):
        assert next_status("terminate", status) == "terminated"
    refused = [("submit", "submitted"), ("submit", "active"), ("activate", "draft"), ("activate", "active"),
               ("return", "draft"), ("return", "active"), ("terminate", "expired"), ("terminate", "terminated"),
               ("expire", "submitted"), ("expire", "terminated")]
    for action, status in refused:
        assert next_status(action, status) is None, (action, status)
    assert set(TRANSITIONS) == {"submit", "return", "activate", "terminate", "expire"}


@pytest.mark.parametrize("status, activated, terminated_on, on, expected", [
    ("active", True, None, JAN1, True),
    ("active", True, None, DEC31, True),
    ("active", True, None, date(2027, 1, 1), False),
    ("active", True, None, date(2025, 12, 31), False),
    ("expired", True, None, JUN30, True),  # looking back
    ("terminated", True, JUL1, JUN30, True),  # in force until the day before termination
    ("terminated", True, JUL1, JUL1, False),
    ("terminated", False, JUL1, JUN30, False),  # terminated before it was ever activated
    ("draft", False, None, JUN30, False),
    ("submitted", False, None, JUN30, False),
])
def test_in_force(status, activated, terminated_on, on, expected):
    assert in_force(status, activated, JAN1, DEC31, terminated_on, on) is expected
