"""Orders through the services: validation (nothing written on failure), pricing, the credit check (approved vs
held with reasons), amend, cancel, finance's decision, FEFO shipping with backorders and the invoice."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from distribution import orders as svc
from distribution.models.orders import Order, OrderLine, Shipment
from inventory.models import StockBalance, StockMovement
from tests.integration.distribution.order_world import OrderWorld

D = Decimal
TODAY = date(2026, 6, 15)


@pytest.fixture
def ow(request):
    return OrderWorld.build(request)


def _count(session, model):
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def _refused(ow, lines, exc=svc.OrderInvalid, **kw):
    before = (_count(ow.session, Order), _count(ow.session, OrderLine))
    with pytest.raises(exc) as info:
        ow.place(lines, **kw)
    assert (_count(ow.session, Order), _count(ow.session, OrderLine)) == before
    return info.value


# -- validation ---------------------------------------------------------------------------------------------------
def test_unknown_product_is_refused_naming_it(ow):
    err = _refused(ow, [{"product_code": "NOPE-1", "quantity": 1, "unit": "case"}])
    assert "NOPE-1" in err.message and "lines.0.product_code" in err.errors


@pytest.mark.parametrize("quantity", [0, -10, "abc", 1.5])
def test_zero_negative_or_fractional_quantities_are_refused(ow, quantity):
    err = _refused(ow, [{"product_code": "OW-P1", "quantity": quantity, "unit": "case"}])
    assert "lines.0.quantity" in err.errors


def test_base_units_must_be_whole_cases(ow):
    err = _refused(ow, [{"product_code": "OW-P1", "quantity": 15, "unit": "盒"}])
    assert "10" in err.message and "20" in err.message  # suggests the neighbouring multiples
    order = ow.place([{"product_code": "OW-P1", "quantity": 20, "unit": "盒"}])
    assert order.lines[0].quantity == 20 and order.lines[0].entered_unit == "base"


def test_all_problems_are_listed_at_once(ow):
    err = _refused(ow, [{"product_code": "NOPE", "quantity": 1}, {"product_code": "OW-P2", "quantity": 0}])
    assert set(err.errors) == {"lines.0.product_code", "lines.1.quantity"}


def test_product_without_an_agreement_in_force_is_refused(ow):
    err = _refused(ow, [{"product_code": "OW-NA", "quantity": 1, "unit": "case"}])
    assert "OW-NA" in err.message and ("agreement" in err.message or "协议" in err.message)
    # and outside the agreement's period
    err = _refused(ow, [{"product_code": "OW-P1", "quantity": 1, "unit": "case"}], on_date=date(2027, 1, 5))
    assert "lines.0.product_code" in err.errors


def test_expired_licence_is_refused(ow):
    ow.d.licence_expiry = TODAY - timedelta(days=1)
    ow.session.flush()
    err = _refused(ow, [{"product_code": "OW-P1", "quantity": 1, "unit": "case"}], exc=svc.RuleViolation)
    assert "2026-06-14" in err.message and ("licence" in err.message or "许可证" in err.message)


def test_distributor_user_orders_only_for_itself(ow):
    other = ow.make_distributor(code="OW-D2")
    _refused(ow, [{"product_code": "OW-P1", "quantity": 1, "unit": "case"}], exc=svc.NotAllowed, user=ow.user,
             distributor=other)
    order = ow.place([{"product_code": "OW-P1", "quantity": 1, "unit": "case"}], user=ow.user)
    assert order.distributor_id == ow.d.id and order.placed_by_id == ow.user.id


def test_viewer_cannot_place(ow):
    _refused(ow, [{"product_code": "OW-P1", "quantity": 1, "unit": "case"}], exc=svc.NotAllowed,
             user=ow.make_user("viewer"))


# -- pricing and credit -------------------------------------------------------------------------------------------
def test_approved_order_is_priced_and_reserves_exposure(ow):
    order = ow.place([{"product_code": "OW-P1", "quantity": 10, "unit": "件"},
                      {"product_code": "OW-P2", "quantity": 20, "unit": "支"}])
    assert order.status == "approved" and order.credit_reasons == []
    l1, l2 = order.lines
    assert (l1.quantity, l1.entered_quantity, l1.entered_unit, l1.unit_price, l1.amount) == (
        100, 10, "case", D("12.3456"), D("1234.56"))
    assert (l2.quantity, l2.amount, l2.backorder) == (20, D("100.00"), 20)
    assert order.total == D("1334.56") and "OW-T1" in l1.price_explanation
    assert ow.exposure().reserved == D("1334.56")


def test_placing_an_order_is_a_fixed_number_of_statements_with_the_figures_read_under_the_lock(ow):
    """The hot path: products, agreements (every line at once), prices, the credit account lock, the exposure
    figures, then one flush (reservation, order, lines, audit rows): nine statements however many lines. The figures
    are read after the lock is granted (a statement started before it would see a stale snapshot)."""
    from sqlalchemy import event

    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split()))

    engine = ow.session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        ow.place([{"product_code": "OW-P1", "quantity": 1, "unit": "case"}], user=ow.user)
        one_line = list(statements)
        statements.clear()
        order = ow.place([{"product_code": "OW-P1", "quantity": 1, "unit": "case"},
                          {"product_code": "OW-P2", "quantity": 2, "unit": "case"}], user=ow.user)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert order.status == "approved" and len(order.lines) == 2
    assert len(statements) == len(one_line) == 9, statements
    lock = next(i for i, s in enumerate(statements) if s.startswith("SELECT credit_account.") and "FOR UPDATE" in s)
    figures = next(i for i, s in enumerate(statements) if "sum(credit_reservation.amount)" in s)
    assert lock < figures
    assert [s.split(" (")[0] for s in statements[-4:]] == [
        "INSERT INTO credit_reservation", "INSERT INTO sales_order", "INSERT INTO sales_order_line",
        "INSERT INTO audit_log"]


def test_over_the_limit_is_held_with_the_reason(ow):
    first = ow.place([{"product_code": "OW-P1", "quantity": 70, "unit": "case"}])  # 8641.92
    assert first.status == "approved"
    second = ow.place([{"product_code": "OW-P1", "quantity": 20, "unit": "case"}])  # 2469.12 > 1358.08 left
    assert second.status == "credit_hold"
    assert second.credit_shortfall == D("1111.04")
    assert any("1,111.04" in r for r in second.credit_reasons)
    assert ow.exposure().reserved == D("8641.92")  # a held order does not count


def test_amend_reruns_the_check(ow):
    order = ow.place([{"product_code": "OW-P1", "quantity": 10, "unit": "case"}])
    assert order.status == "approved"
    with ow.acting(ow.user):
        svc.amend_order(order, [{"product_code": "OW-P1", "quantity": 900, "unit": "case"}], ow.user)
    assert order.status == "credit_hold" and order.total == D("111110.40")
    assert ow.exposure().reserved == D("0.00")
    with ow.acting(ow.user):
        svc.amend_order(order, [{"product_code": "OW-P2", "quantity": 2, "unit": "case"}], ow.user)
    assert order.status == "approved" and [ln.product.code for ln in order.lines] == ["OW-P2"]
    assert ow.exposure().reserved == D("200.00")


def test_cancel_releases_the_exposure(ow):
    order = ow.place([{"product_code": "OW-P1", "quantity": 10, "unit": "case"}])
    assert ow.exposure().reserved == D("1234.56")
    with ow.acting(ow.user):
        svc.cancel_order(order, ow.user, "不要了")
    assert order.status == "cancelled" and ow.exposure().reserved == D("0.00")
    with pytest.raises(svc.WrongState):
        svc.cancel_order(order, ow.cm)
    with pytest.raises(svc.WrongState):
        svc.amend_order(order, [{"product_code": "OW-P1", "quantity": 1, "unit": "case"}], ow.cm)


def test_finance_decides_a_held_order(ow):
    held = ow.place([{"product_code": "OW-P1", "quantity": 900, "unit": "case"}])
    assert held.status == "credit_hold"
    with pytest.raises(svc.NotAllowed):
        svc.decide_order_hold(held, True, ow.cm, "ok")
    with pytest.raises(svc.OrderInvalid):
        svc.decide_order_hold(held, True, ow.finance, " ")
    svc.decide_order_hold(held, True, ow.finance, "客户已承诺月底回款")
    assert held.status == "approved" and held.decided_by_id == ow.finance.id
    with pytest.raises(svc.WrongState):  # no longer held
        svc.decide_order_hold(held, False, ow.finance, "again")
    other = ow.place([{"product_code": "OW-P1", "quantity": 1, "unit": "case"}])
    assert other.status == "credit_hold"
    svc.decide_order_hold(other, False, ow.finance, "超额")
    assert other.status == "rejected"


def test_a_decision_taken_on_credits_side_reaches_the_order(ow):
    held = ow.place([{"product_code": "OW-P1", "quantity": 900, "unit": "case"}])
    assert ow.credit.reservation_status(held.number).status == "held"
    ow.credit.decide_hold(held.number, False, ow.finance, "拒绝")
    ow.session.flush()
    # at once, in the same transaction (credit's on_hold_decided seam), not only when the order is next read
    assert ow.session.execute(select(Order.status).where(Order.id == held.id)).scalar_one() == "rejected"
    assert (held.decision_reason, held.decided_by_id) == ("拒绝", ow.finance.id)
    assert ow.credit.reservation_status(held.number).status == "rejected"
    assert ow.credit.reservation_status("SO-NEVER-CHECKED") is None


# -- shipping -----------------------------------------------------------------------------------------------------
def test_nothing_ships_from_held_or_rejected(ow):
    held = ow.place([{"product_code": "OW-P1", "quantity": 900, "unit": "case"}])
    moves = _count(ow.session, StockMovement)
    with pytest.raises(svc.WrongState):
        svc.ship_order(held, ow.cm)
    svc.decide_order_hold(held, False, ow.finance, "no")
    with pytest.raises(svc.WrongState):
        svc.ship_order(held, ow.cm)
    assert _count(ow.session, StockMovement) == moves and _count(ow.session, Shipment) == 0


def test_only_staff_ship(ow):
    order = ow.place([{"product_code": "OW-P1", "quantity": 1, "unit": "case"}])
    with pytest.raises(svc.NotAllowed):
        svc.ship_order(order, ow.user)


def test_fefo_partial_shipment_backorder_and_invoice(ow):
    order = ow.place([{"product_code": "OW-P1", "quantity": 10, "unit": "case"}])  # 100 盒, 1234.56
    shipment = svc.ship_order(order, ow.cm)
    # L-SHORT (16 days left) is skipped for tier 1 (30 days); L-EARLY before L-LATE; 80 of 100 shipped
    assert [(sl.lot.lot_no, sl.quantity) for sl in shipment.lines] == [("L-EARLY", 30), ("L-LATE", 50)]
    line = order.lines[0]
    assert (line.shipped_quantity, line.backorder, order.status) == (80, 20, "partially_shipped")
    assert shipment.amount == D("987.65")  # 30 × 12.3456 = 370.368 → 370.37; 50 × 12.3456 = 617.28
    balance = ow.session.execute(select(StockBalance.quantity).where(
        StockBalance.location_id == ow.dest.id, StockBalance.lot_id == ow.lots["L-LATE"].id)).scalar_one()
    assert balance == 50
    movement = ow.session.get(StockMovement, shipment.lines[0].movement_id)
    assert (movement.kind, movement.reference) == ("shipment", shipment.number)
    # the invoice: due date from the 60-day payment terms; the reservation is reduced by the invoiced amount
    items = ow.credit.open_items(ow.d, TODAY)
    assert [(i.reference, i.open_amount, i.due_date) for i in items] == [
        (shipment.invoice_reference, D("987.65"), TODAY + timedelta(days=60))]
    exp = ow.exposure()
    assert (exp.open_receivables, exp.reserved) == (D("987.65"), D("246.91"))
    # nothing left to allocate: a second shipment is refused, the backorder stays
    with pytest.raises(svc.RuleViolation):
        svc.ship_order(order, ow.cm)
    from inventory import services as inventory

    inventory.post_movement("receipt", ow.lots["L-LATE"], 40, to_location=ow.wh, reference="rcv-more")
    second = svc.ship_order(order, ow.cm)
    assert [(sl.lot.lot_no, sl.quantity) for sl in second.lines] == [("L-LATE", 20)]
    assert (order.status, line.backorder, second.amount) == ("shipped", 0, D("246.91"))
    assert ow.exposure().reserved == D("0.00")
    with pytest.raises(svc.WrongState):
        svc.ship_order(order, ow.cm)
    with pytest.raises(svc.WrongState):
        svc.cancel_order(order, ow.cm)


def test_ship_chosen_quantities(ow):
    order = ow.place([{"product_code": "OW-P1", "quantity": 2, "unit": "case"}])
    with pytest.raises(svc.OrderInvalid):
        svc.ship_order(order, ow.cm, lines={order.lines[0].id: 30})
    shipment = svc.ship_order(order, ow.cm, lines={order.lines[0].id: 10})
    assert shipment.lines[0].quantity == 10 and order.status == "partially_shipped"
    with pytest.raises(svc.WrongState):  # something shipped: no more amendments
        svc.amend_order(order, [{"product_code": "OW-P1", "quantity": 1, "unit": "case"}], ow.cm)


def test_shipped_orders_are_agreement_sell_in(ow):
    from distribution.agreements import sell_in_by_quarter
    from distribution.rebates import Quarter

    order = ow.place([{"product_code": "OW-P1", "quantity": 10, "unit": "case"}])
    svc.ship_order(order, ow.cm)
    assert sell_in_by_quarter(ow.agreement)[Quarter(2026, 2)] == (D("987.65"), 80)
    assert sell_in_by_quarter(ow.agreement)[Quarter(2026, 3)] == (D("0.00"), 0)
