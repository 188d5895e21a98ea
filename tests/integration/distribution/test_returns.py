"""Returns through the services on PostgreSQL: the whole journey with the ledgers asserted (stock and receivable
change exactly once each), the original-price rule, the restocking fee, the policy, and every refusal with nothing
changed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from credit.models import ReceivableAllocation, ReceivableEntry
from distribution import returns as svc
from distribution.models.returns import ReturnCreditSource, ReturnEvent
from inventory.models import StockMovement
from tests.integration.distribution.return_world import PDF, PNG, ReturnWorld

D = Decimal


@pytest.fixture
def rw(request):
    return ReturnWorld.build(request)


def test_the_world_is_as_documented(rw):
    assert rw.ship1.amount == D("493.83") and rw.ship2.amount == D("220.00")
    assert rw.receivable() == D("713.83")
    assert rw.balance_at(rw.dest) == 30 and rw.balance_at(rw.dest, "L-EARLY") == 25


def test_journey_changes_stock_and_receivable_exactly_once(rw, db_session):
    exposure_before = rw.exposure().total
    ret = rw.request([rw.line(qty=25, reason="overstock")], note="客户退货")
    assert ret.status == "requested" and ret.number.startswith("RT20260615-")
    assert rw.receivable() == D("713.83")  # requesting changes nothing in the ledgers
    rw.decide(ret, reason="库存积压，同意按政策退回")
    movements_before = db_session.execute(select(StockMovement.id)).scalars().all()
    rw.receive(ret)
    received = db_session.execute(select(StockMovement).where(StockMovement.id.not_in(movements_before))
                                  ).scalars().all()
    assert [(m.kind, m.quantity, m.from_location_id, m.to_location_id, m.reference) for m in received] == [
        ("return", 25, rw.dest.id, rw.q.id, ret.number)]
    assert (rw.balance_at(rw.dest), rw.balance_at(rw.q)) == (5, 25)
    rw.dispose(ret, "restock")
    wh_before = 50 - 10 - 20  # L-LATE received 50, shipped 10 + 20
    assert (rw.balance_at(rw.q), rw.balance_at(rw.wh)) == (0, wh_before + 25)
    rw.credit_it(ret)
    # stock: exactly one movement per step per line
    ours = db_session.execute(select(StockMovement.kind).where(StockMovement.reference == ret.number)
                              .order_by(StockMovement.id)).scalars().all()
    assert ours == ["return", "return"]
    # receivable: exactly one credit memo at the original prices less the 10% overstock fee
    memos = db_session.execute(select(ReceivableEntry).where(ReceivableEntry.kind == "credit_memo")).scalars().all()
    assert [(m.reference, m.amount) for m in memos] == [(f"CM-{ret.number}", D("-253.56"))]
    assert (ret.gross_amount, ret.restocking_fee, ret.credit_amount) == (D("281.73"), D("28.17"), D("253.56"))
    assert rw.receivable() == D("713.83") - D("253.56")
    assert rw.exposure().total == exposure_before - D("253.56")
    # applied to the latest shipment's invoice first
    applied = db_session.execute(select(ReceivableEntry.reference, ReceivableAllocation.amount)
                                 .join(ReceivableAllocation, ReceivableAllocation.debit_entry_id == ReceivableEntry.id)
                                 .where(ReceivableAllocation.credit_entry_id == memos[0].id)
                                 .order_by(ReceivableAllocation.id)).all()
    assert applied == [(rw.ship2.invoice_reference, D("220.00")), (rw.ship1.invoice_reference, D("33.56"))]
    assert ret.status == "credited"
    events = db_session.execute(select(ReturnEvent.to_status).where(ReturnEvent.request_id == ret.id)
                                .order_by(ReturnEvent.id)).scalars().all()
    assert events == ["requested", "approved", "received", "disposed", "credited"]
    from app.models import AuditLog

    actions = set(db_session.execute(select(AuditLog.action).where(AuditLog.entity_type == "return_request",
                                                                   AuditLog.entity_id == str(ret.id))).scalars())
    assert {"return_requested", "return_approved", "return_received", "return_disposed",
            "return_credited"} <= actions


def test_original_price_latest_shipments_first_and_each_unit_once(rw, db_session):
    first = rw.through(rw.request([rw.line(qty=25, reason="wrong_shipment")]))
    parts = db_session.execute(select(ReturnCreditSource.shipped_on, ReturnCreditSource.quantity,
                                      ReturnCreditSource.unit_price, ReturnCreditSource.amount)
                               .order_by(ReturnCreditSource.id)).all()
    assert parts == [(date(2026, 6, 10), 20, D("11.0000"), D("220.00")),
                     (date(2026, 6, 2), 5, D("12.3456"), D("61.73"))]
    assert first.credit_amount == D("281.73")  # no fee for a wrong shipment
    second = rw.through(rw.request([rw.line(qty=5, reason="wrong_shipment")]))
    assert second.credit_amount == D("61.73")  # the 5 left of the first shipment, at its price
    assert rw.receivable() == D("713.83") - D("281.73") - D("61.73")


def test_destroy_writes_off_from_quarantine(rw, db_session):
    ret = rw.request([rw.line(lot="L-EARLY", qty=10, reason="near_expiry")])
    rw.dispose(rw.receive(rw.decide(ret)), "destroy")
    kinds = db_session.execute(select(StockMovement.kind, StockMovement.from_location_id, StockMovement.to_location_id)
                               .where(StockMovement.reference == ret.number).order_by(StockMovement.id)).all()
    assert kinds == [("return", rw.dest.id, rw.q.id), ("write_off", rw.q.id, None)]
    assert rw.balance_at(rw.q, "L-EARLY") == 0
    rw.credit_it(ret)
    assert ret.credit_amount == D("123.46")  # 10 × 12.3456, near expiry pays no fee


def test_partial_receipt_credits_what_arrived(rw):
    ret = rw.decide(rw.request([rw.line(qty=20, reason="wrong_shipment")]))
    rw.receive(ret, {ret.lines[0].id: 8})
    rw.credit_it(rw.dispose(ret))
    assert ret.lines[0].received_quantity == 8 and ret.credit_amount == D("88.00")
    # the 12 that never came back are returnable again
    assert rw.request([rw.line(qty=22, reason="wrong_shipment")]).status == "requested"


# -- bad input: each refused with a clear message and nothing changed -----------------------------------------------
def _refused(rw, lines, **kw):
    before = rw.counts()
    with pytest.raises(svc.ReturnError) as exc:
        rw.request(lines, **kw)
    assert rw.counts() == before
    return exc.value


def test_refused_lines_change_nothing(rw):
    # a lot never shipped to this distributor (L-SHORT sits in our warehouse only)
    err = _refused(rw, [rw.line(lot="L-SHORT", qty=10, reason="near_expiry")])
    assert "从未发货" in err.message or "never shipped" in err.message
    assert list(err.errors) == ["lines.0.lot_no"]
    # more than was shipped (30 of L-LATE)
    err = _refused(rw, [rw.line(qty=31, reason="overstock")])
    assert err.errors == {"lines.0.quantity": [err.message]} and "30" in err.message
    # a lot of another product
    err = _refused(rw, [rw.line(product_code="OW-P2", lot="L-LATE", qty=1, reason="overstock")])
    assert "OW-P1" in err.message and list(err.errors) == ["lines.0.lot_no"]
    # requests still in flight count: 20 requested leaves 10
    rw.request([rw.line(qty=20, reason="overstock")])
    err = _refused(rw, [rw.line(qty=11, reason="overstock")])
    assert "10" in err.message
    # every problem of a return is named at once
    err = _refused(rw, [rw.line(lot="L-SHORT", qty=1), rw.line(lot="L-EARLY", qty=99, reason="wrong_shipment")])
    assert set(err.errors) == {"lines.0.lot_no", "lines.1.quantity"}


def test_a_decision_in_the_wrong_state(rw):
    ret = rw.receive(rw.decide(rw.request([rw.line(qty=5, reason="wrong_shipment")])))
    before = rw.counts()
    with pytest.raises(svc.WrongState) as exc:
        rw.decide(ret)
    assert exc.value.status == 409 and ret.number in exc.value.message
    with pytest.raises(svc.WrongState):
        rw.credit_it(ret)  # not disposed yet
    assert rw.counts() == before and ret.status == "received"


def test_a_rejection_needs_a_reason_and_a_rejected_return_goes_no_further(rw):
    ret = rw.request([rw.line(qty=5, reason="wrong_shipment")])
    with pytest.raises(svc.ReturnInvalid):
        rw.decide(ret, approve=False, reason=" ")
    rw.decide(ret, approve=False, reason="批号与发货记录不符")
    with pytest.raises(svc.WrongState):
        rw.receive(ret)
    assert rw.request([rw.line(qty=30, reason="wrong_shipment")]).status == "requested"  # rejected units count 0


def test_a_second_credit_for_the_same_return(rw, db_session):
    ret = rw.through(rw.request([rw.line(qty=5, reason="wrong_shipment")]))
    before, receivable = rw.counts(), rw.receivable()
    with pytest.raises(svc.WrongState) as exc:
        rw.credit_it(ret)
    assert exc.value.status == 409
    assert rw.counts() == before and rw.receivable() == receivable


def test_roles_and_tenants(rw):
    ret = rw.request([rw.line(qty=5)])
    with rw.acting(rw.user2):
        assert svc.get_return(ret.id) is None  # another distributor's return does not exist for it
    with pytest.raises(svc.NotAllowed):
        rw.request([rw.line(qty=5)], user=rw.user2)  # filing for OW-D1 as OW-D2's user
    with pytest.raises(svc.NotAllowed):
        rw.decide(ret, user=rw.user)  # a distributor cannot approve its own return
    with pytest.raises(svc.NotAllowed):
        with rw.acting(rw.cm):
            svc.issue_credit(ret, rw.cm)
    # a channel manager files on the distributor's behalf
    assert rw.request([rw.line(qty=5)], user=rw.cm).requested_by_id == rw.cm.id


# -- the policy -----------------------------------------------------------------------------------------------------
def test_near_expiry_only_within_the_configured_window_and_never_expired(rw, app):
    err = _refused(rw, [rw.line(lot="L-LATE", qty=5, reason="near_expiry")])
    assert "90" in err.message
    app.config["RETURN_POLICY"] = {"near_expiry_window_days": 60}
    try:
        err = _refused(rw, [rw.line(lot="L-EARLY", qty=5, reason="near_expiry")])  # 78 days left
        assert "60" in err.message
    finally:
        app.config["RETURN_POLICY"] = {}
    err = _refused(rw, [rw.line(lot="L-EARLY", qty=5, reason="quality_complaint")], on_date=date(2026, 9, 2),
                   attachments=[svc.Upload("report.pdf", PDF)])
    assert "2026-09-01" in err.message
    assert rw.request([rw.line(lot="L-EARLY", qty=5, reason="near_expiry")]).status == "requested"


def test_transit_damage_needs_a_photo_and_a_prompt_report(rw):
    from distribution.returns import Upload

    err = _refused(rw, [rw.line(qty=5, reason="damaged_in_transit")])
    assert list(err.errors) == ["lines.0.reason"]
    late = _refused(rw, [rw.line(qty=5, reason="damaged_in_transit")], attachments=[Upload("破损.png", PNG)],
                    on_date=date(2026, 6, 30))
    assert "7" in late.message
    ok = rw.request([rw.line(qty=5, reason="damaged_in_transit")], attachments=[Upload("破损.png", PNG)])
    assert [a.filename for a in ok.attachments] == ["破损.png"]


def test_overstock_needs_shelf_life_and_an_approval_with_a_reason(rw):
    err = _refused(rw, [rw.line(lot="L-EARLY", qty=5, reason="overstock")])
    assert "180" in err.message
    ret = rw.request([rw.line(qty=5, reason="overstock")])
    assert ret.lines[0].restocking_fee_pct == D("10")
    with pytest.raises(svc.ReturnInvalid):
        rw.decide(ret, reason="")
    assert rw.decide(ret, reason="季末库存调整").status == "approved"


# -- attachments ----------------------------------------------------------------------------------------------------
def test_attachments_are_checked_and_stored_once_per_distributor(rw, db_session):
    from distribution.models.returns import ReturnFile

    for bad in (b"MZ\x90\x00 not a photo", b""):
        err = _refused(rw, [rw.line(qty=1, reason="quality_complaint")], attachments=[svc.Upload("x.exe", bad)])
        assert list(err.errors) == ["attachments"]
    big = b"%PDF-" + b"0" * (5 * 1024 * 1024)
    err = _refused(rw, [rw.line(qty=1, reason="quality_complaint")], attachments=[svc.Upload("big.pdf", big)])
    assert "5 MB" in err.message
    a = rw.request([rw.line(qty=1, reason="quality_complaint")], attachments=[svc.Upload("../../etc/报告.pdf", PDF)])
    b = rw.request([rw.line(qty=1, reason="quality_complaint")], attachments=[svc.Upload("again.pdf", PDF)])
    assert a.attachments[0].filename == "报告.pdf"
    assert a.attachments[0].file_id == b.attachments[0].file_id  # content-addressed: stored once
    assert db_session.execute(select(ReturnFile.content_type)).scalars().all() == ["application/pdf"]
    with rw.acting(rw.user):
        att, data = svc.get_attachment(a.id, a.attachments[0].id)
    assert data == PDF
    with rw.acting(rw.user2):
        assert svc.get_attachment(a.id, a.attachments[0].id) is None


# -- scanning -------------------------------------------------------------------------------------------------------
def test_a_scan_fills_product_lot_and_checks_the_expiry(rw):
    rw.p1.gtin = "6937215000010"
    rw.session.flush()
    scan = "(01)06937215000010(17)271231(10)L-LATE(21)SN0001"
    ret = rw.request([{"scan": scan, "quantity": 5, "reason": "overstock"}])
    assert (ret.lines[0].product_id, ret.lines[0].lot.lot_no, ret.lines[0].serial) == (rw.p1.id, "L-LATE", "SN0001")
    raw = "0106937215000010172712311" + "0L-LATE\x1d21SN0002"
    assert rw.request([{"scan": raw, "quantity": 5, "reason": "overstock"}]).lines[0].serial == "SN0002"
    wrong_expiry = _refused(rw, [{"scan": "(01)06937215000010(17)271130(10)L-LATE", "quantity": 5,
                                  "reason": "overstock"}])
    assert "2027-12-31" in wrong_expiry.message
    other = _refused(rw, [{"scan": scan, "product_code": "OW-P2", "quantity": 5, "reason": "overstock"}])
    assert "OW-P1" in other.message
    unreadable = _refused(rw, [{"scan": "hello", "quantity": 5, "reason": "overstock"}])
    assert list(unreadable.errors) == ["lines.0.scan"]
