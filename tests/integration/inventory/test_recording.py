"""Manual movements (receipt, adjustment, write-off) from plain input: every bad input refused, nothing written."""

from datetime import date

import pytest
from sqlalchemy import func, select

from app.models import StockLocation
from inventory.models import Lot, StockBalance, StockMovement
from inventory.recording import MovementInputError, record_movement
from inventory.services import InventoryError


@pytest.fixture
def wh(db_session, make_product):
    loc = StockLocation(code="RC-WH", name="总仓", kind="manufacturer")
    db_session.add(loc)
    make_product(code="RC-P")
    db_session.flush()
    return loc


def counts(db_session):
    return tuple(db_session.execute(select(func.count()).select_from(m)).scalar_one()
                 for m in (Lot, StockMovement, StockBalance))


def receipt(**kw):
    data = {"kind": "receipt", "product_code": "RC-P", "lot_no": "R1", "manufactured_on": "2026-01-01",
            "expires_on": "2028-01-01", "quantity": 50, "to_location": "RC-WH"}
    data.update(kw)
    return record_movement(data)


def test_receipt_adjustment_write_off(db_session, wh):
    m = receipt()
    assert (m.kind, m.quantity) == ("receipt", 50)
    record_movement({"kind": "adjustment", "product_code": "RC-P", "lot_no": "R1", "quantity": "3",
                     "from_location": "RC-WH", "note": "盘亏"})
    record_movement({"kind": "write_off", "product_code": "RC-P", "lot_no": "R1", "quantity": 7,
                     "from_location": "RC-WH", "business_date": date(2026, 6, 1)})
    assert db_session.execute(select(StockBalance.quantity)).scalar_one() == 40


@pytest.mark.parametrize("kw, field", [
    ({"quantity": 0}, "quantity"),
    ({"quantity": -3}, "quantity"),
    ({"quantity": "x"}, "quantity"),
    ({"kind": "shipment"}, "kind"),
    ({"product_code": "NOPE"}, "product_code"),
    ({"to_location": "NOPE"}, "to_location"),
    ({"expires_on": "31/12/2027"}, "expires_on"),
    ({"manufactured_on": None, "expires_on": None}, "expires_on"),
])
def test_bad_input_names_the_field(db_session, wh, kw, field):
    before = counts(db_session)
    with pytest.raises(MovementInputError) as exc:
        receipt(**kw)
    assert field in exc.value.errors
    assert counts(db_session) == before


def test_business_rules_write_nothing(db_session, wh):
    before = counts(db_session)
    with pytest.raises(InventoryError, match="2025-01-01"):  # expiry before manufacture: the lot is not created
        receipt(lot_no="R2", manufactured_on="2026-01-01", expires_on="2025-01-01")
    assert counts(db_session) == before
    receipt()
    before = counts(db_session)
    with pytest.raises(InventoryError, match="R1"):  # the same lot number with other dates
        receipt(manufactured_on="2026-02-01")
    with pytest.raises(InventoryError, match="50"):  # would go below zero
        record_movement({"kind": "write_off", "product_code": "RC-P", "lot_no": "R1", "quantity": 51,
                         "from_location": "RC-WH"})
    assert counts(db_session) == before
