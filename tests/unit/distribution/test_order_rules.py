"""Pure helpers of orders: invoiced line amounts round half-up to the cent; quantities are whole numbers."""

from decimal import Decimal

import pytest

from distribution.orders import _whole, line_amount


@pytest.mark.parametrize("price,qty,amount", [("12.3456", 30, "370.37"), ("0.0050", 1, "0.01"),
                                              ("0.0049", 1, "0.00"), ("5.0000", 20, "100.00")])
def test_line_amount_rounds_half_up(price, qty, amount):
    assert line_amount(Decimal(price), qty) == Decimal(amount)


@pytest.mark.parametrize("value,expected", [(3, 3), ("12", 12), (" 7 ", 7), (4.0, 4), ("-2", -2), (1.5, None),
                                            ("x", None), (True, None), (None, None), (Decimal("2.0"), 2)])
def test_whole_quantities(value, expected):
    assert _whole(value) == expected
