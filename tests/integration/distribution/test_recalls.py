"""Recalls on PostgreSQL: a recall blocks its lots at once (no allocation, no shipment), finds every holder, drives
a return from each, is tracked recovered versus outstanding, and closes; a closed recall takes no more returns."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from credit.models import ReceivableEntry
from distribution import recalls, returns
from distribution.models.returns import RecallHolding, ReturnRequest
from tests.integration.distribution.return_world import ReturnWorld
from tests.integration.inventory.test_trace import pdf_text

D = Decimal
LOTS = [{"product_code": "OW-P1", "lot_no": "L-EARLY"}, {"product_code": "OW-P1", "lot_no": "L-LATE"}]


@pytest.fixture
def rw(request):
    return ReturnWorld.build(request)


def _open(rw, lots=LOTS, reason="稳定性考察含量下降", recall_class="II"):
    with rw.acting(rw.cm):
        return recalls.open_recall(lots, reason, recall_class, rw.cm)


def _dash(rw, recall):
    with rw.acting(rw.cm):
        return recalls.recall_dashboard(recall)


def test_open_blocks_traces_and_drives_returns(rw, db_session):
    recall = _open(rw)
    assert {rw.lots["L-EARLY"].status, rw.lots["L-LATE"].status} == {"recalled"}
    by_dist = {r.distributor.code: r for r in recall.returns}
    assert set(by_dist) == {"OW-D1", "OW-D2"}
    assert {(ln.lot.lot_no, ln.quantity, ln.reason) for ln in by_dist["OW-D1"].lines} == {
        ("L-EARLY", 25, "recall"), ("L-LATE", 30, "recall")}
    assert [(ln.lot.lot_no, ln.quantity) for ln in by_dist["OW-D2"].lines] == [("L-EARLY", 5)]
    assert {r.status for r in recall.returns} == {"approved"}
    held = db_session.execute(select(RecallHolding.location_id, RecallHolding.quantity)
                              .where(RecallHolding.recall_id == recall.id)).all()
    assert sorted(held) == sorted([(rw.dest.id, 25), (rw.dest.id, 30), (rw.dest2.id, 5), (rw.wh.id, 20)])
    dash = _dash(rw, recall)
    assert (dash.held, dash.recovered, dash.outstanding) == (60, 0, 60)
    assert [(h.code, h.lot_no, h.held, h.requested) for h in dash.holders] == [
        ("OW-D1", "L-EARLY", 25, 25), ("OW-D1", "L-LATE", 30, 30), ("OW-D2", "L-EARLY", 5, 5)]
    assert [(h.code, h.lot_no, h.held) for h in dash.ours] == [("OW-WH", "L-LATE", 20)]
    from app.models import Notification

    told = db_session.execute(select(Notification.audience_role, Notification.distributor_id, Notification.link)
                              .where(Notification.kind == "recall")).all()
    assert sorted(told, key=str) == sorted([("channel_manager", None, f"/distribution/recalls/{recall.id}"),
                                            ("distributor", rw.d.id, f"/distribution/returns/{by_dist['OW-D1'].id}"),
                                            ("distributor", rw.d2.id, f"/distribution/returns/{by_dist['OW-D2'].id}")],
                                           key=str)


def test_recalled_lots_are_never_allocated_or_shipped(rw):
    from distribution import orders
    from inventory import services as inventory

    _open(rw)
    order = rw.place([{"product_code": "OW-P1", "quantity": 1, "unit": "case"}])
    with rw.acting(rw.cm), pytest.raises(orders.RuleViolation) as exc:
        orders.ship_order(order, rw.cm)  # only L-LATE (recalled) and L-SHORT (too short) are in the warehouse
    assert "OW-WH" in exc.value.message
    with pytest.raises(inventory.InventoryError):
        inventory.post_movement("shipment", rw.lots["L-LATE"], 10, from_location=rw.wh, to_location=rw.dest)


def test_recovered_credit_and_close(rw, db_session):
    recall = _open(rw)
    by_dist = {r.distributor.code: r for r in recall.returns}
    d1, d2 = by_dist["OW-D1"], by_dist["OW-D2"]
    rw.receive(d1, {ln.id: (20 if ln.lot.lot_no == "L-LATE" else ln.quantity) for ln in d1.lines})
    with rw.acting(rw.cm), pytest.raises(returns.ReturnInvalid):
        returns.dispose_return(d1, rw.cm, {ln.id: "restock" for ln in d1.lines})  # a recalled lot is destroyed
    rw.dispose(d1, "destroy")
    rw.credit_it(d1)
    # L-EARLY 25 × 12.3456 = 308.64; L-LATE 20 latest first: 20 × 11.0000 = 220.00
    assert d1.credit_amount == D("528.64") and d1.credit_reference == f"CM-{d1.number}"
    dash = _dash(rw, recall)
    assert (dash.recovered, dash.outstanding) == (45, 15)
    assert {(h.code, h.lot_no): (h.recovered, h.destroyed, h.outstanding) for h in dash.holders} == {
        ("OW-D1", "L-EARLY"): (25, 25, 0), ("OW-D1", "L-LATE"): (20, 20, 10), ("OW-D2", "L-EARLY"): (0, 0, 5)}
    # the tier-2 holder got its stock by transfer: nothing of ours to credit, no memo
    memos = db_session.execute(select(ReceivableEntry.id).where(ReceivableEntry.kind == "credit_memo")).all()
    rw.credit_it(rw.dispose(rw.receive(d2), "destroy"))
    assert (d2.status, d2.credit_amount, d2.credit_reference) == ("credited", D("0.00"), None)
    assert db_session.execute(select(ReceivableEntry.id).where(ReceivableEntry.kind == "credit_memo")).all() == memos
    # closing with units outstanding needs a note
    with rw.acting(rw.cm), pytest.raises(returns.ReturnInvalid) as exc:
        recalls.close_recall(recall, rw.cm, "")
    assert "10" in exc.value.message
    with rw.acting(rw.cm):
        recalls.close_recall(recall, rw.cm, "剩余10盒经销商已售出，终端追回中")
    assert recall.status == "closed"
    with rw.acting(rw.cm), pytest.raises(returns.WrongState):
        recalls.close_recall(recall, rw.cm, "again")
    # a request against the closed recall is refused, nothing changed
    before = rw.counts()
    with pytest.raises(returns.ReturnInvalid) as exc:
        rw.request([rw.line(lot="L-LATE", qty=10, reason="recall")])
    assert rw.counts() == before
    assert "closed" in exc.value.message or "已关闭" in exc.value.message
    pdf = pdf_text(_report(rw, recall))
    assert recall.number in pdf and "OW-D1" in pdf and "召回" in pdf


def _report(rw, recall):
    from distribution.return_reports import recall_report_pdf

    return recall_report_pdf(_dash(rw, recall))


def test_bad_recalls_are_refused(rw, db_session):
    for lots, reason, cls in (([], "x", "I"), (LOTS, "", "I"), (LOTS, "x", "IV"),
                              ([{"product_code": "OW-P2", "lot_no": "L-LATE"}], "x", "I")):
        with pytest.raises(returns.ReturnInvalid):
            _open(rw, lots, reason, cls)
    assert db_session.execute(select(ReturnRequest.id)).all() == []
    assert rw.lots["L-LATE"].status == "released"
    _open(rw, LOTS[:1])
    with pytest.raises(returns.ReturnInvalid) as exc:
        _open(rw, LOTS)  # L-EARLY is already under the open recall
    assert "L-EARLY" in exc.value.message
    with rw.acting(rw.user), pytest.raises(returns.NotAllowed):
        recalls.open_recall(LOTS[1:], "x", "I", rw.user)
