"""Credit services against PostgreSQL: exposure, the order check, reservations, decisions, the AR ledger."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from app.audit import AppendOnlyViolation
from app.models import AuditLog, Notification
from credit import services
from credit.models import CreditReservation, ReceivableAllocation, ReceivableEntry
from credit.services import CreditError

D = Decimal
TODAY = date(2026, 6, 15)


def test_account_created_on_first_use_with_zero_limit(db_session, make_distributor):
    d = make_distributor()
    acc = services.get_account(d)
    assert acc.credit_limit == D("0.00") and not acc.manual_hold
    assert services.get_account(d).id == acc.id
    decision = services.check_and_reserve(d, "SO-ZERO", D("0.01"))
    assert not decision.approved and decision.shortfall == D("0.01")


def test_set_terms_is_audited_with_reason(db_session, dist):
    with pytest.raises(CreditError):
        services.set_credit_terms(dist, limit=D("5"), reason=" ")
    with pytest.raises(CreditError):
        services.set_credit_terms(dist, limit=D("-5"), reason="x")
    services.set_credit_terms(dist, limit=D("120000"), rating="A", reason="评级上调")
    acc = services.get_account(dist)
    assert acc.credit_limit == D("120000.00") and acc.rating == "A" and acc.grace_days == 5
    notes = db_session.execute(select(AuditLog.note).where(AuditLog.action == "credit_terms")).scalars().all()
    assert "评级上调" in notes


def test_exposure_with_temporary_increases_valid_window_inclusive(db_session, dist, make_user):
    boss = make_user("finance")
    services.add_temporary_increase(dist, D("20000"), date(2026, 6, 1), TODAY, boss, "旺季")
    services.add_temporary_increase(dist, D("5000"), date(2026, 6, 16), date(2026, 6, 30), boss, "later")
    services.add_temporary_increase(dist, D("7000"), date(2026, 5, 1), date(2026, 5, 31), boss, "expired")
    services.post_invoice(dist, "SO-1", D("30000.50"), date(2026, 6, 1))
    services.check_and_reserve(dist, "SO-2", D("10000"))
    exp = services.exposure(dist)
    assert (exp.limit, exp.temporary, exp.open_receivables, exp.reserved) == (
        D("100000.00"), D("20000.00"), D("30000.50"), D("10000.00"))
    assert exp.available == D("79999.50") and exp.total == D("40000.50")
    assert services.exposure(dist, date(2026, 6, 1)).temporary == D("20000.00")
    assert services.exposure(dist, date(2026, 6, 16)).temporary == D("5000.00")
    assert services.exposure(dist, date(2026, 7, 1)).temporary == D("0.00")
    with pytest.raises(CreditError):
        services.add_temporary_increase(dist, D("1"), TODAY, date(2026, 6, 1), boss, "backwards")


def test_check_approves_within_available_and_holds_over(db_session, dist):
    ok = services.check_and_reserve(dist, "SO-A", D("60000"))
    assert ok.approved and ok.reasons == [] and ok.shortfall == D("0.00")
    assert ok.reservation.status == "active"
    over = services.check_and_reserve(dist, "SO-B", D("50000"))
    assert not over.approved
    assert over.shortfall == D("10000.00")
    assert over.reservation.status == "held"
    assert any("10,000.00" in r and "40,000.00" in r for r in over.reasons)
    # a held order does not count in exposure
    assert services.exposure(dist).reserved == D("60000.00")
    exact = services.check_and_reserve(dist, "SO-C", D("40000"))
    assert exact.approved and services.exposure(dist).available == D("0.00")


def test_overdue_past_grace_holds_and_names_the_invoice(db_session, dist):
    # due 2026-06-12: 3 days overdue, within the 5 grace days → no hold
    services.post_invoice(dist, None, D("1000"), date(2026, 5, 13), reference="INV-GRACE")
    assert services.check_and_reserve(dist, "SO-1", D("10")).approved
    # due 2026-06-01: 14 days overdue → hold, whatever the amount
    services.post_invoice(dist, None, D("2000"), date(2026, 5, 2), reference="INV-LATE")
    decision = services.check_and_reserve(dist, "SO-2", D("10"))
    assert not decision.approved and decision.shortfall == D("0.00")
    assert len(decision.reasons) == 1 and "INV-LATE" in decision.reasons[0] and "INV-GRACE" not in decision.reasons[0]
    exp = decision.exposure
    assert exp.overdue_amount == D("3000.00")
    assert [i.reference for i in exp.blocking_invoices] == ["INV-LATE"]


def test_manual_hold_holds(db_session, dist):
    services.set_credit_terms(dist, limit=D("100000"), hold=True, reason="待核实")
    decision = services.check_and_reserve(dist, "SO-1", D("1"))
    assert not decision.approved and "待核实" in decision.reasons[0]


def test_amendment_replaces_the_reservation(db_session, dist):
    services.check_and_reserve(dist, "SO-1", D("90000"))
    # raised to 100,000: its own old 90,000 is released first, so it still fits
    again = services.check_and_reserve(dist, "SO-1", D("100000"))
    assert again.approved and again.exposure.available == D("100000.00")
    assert services.exposure(dist).reserved == D("100000.00")
    over = services.check_and_reserve(dist, "SO-1", D("100000.01"))
    assert not over.approved and services.exposure(dist).reserved == D("0.00")
    assert db_session.execute(select(func.count()).select_from(CreditReservation)).scalar_one() == 1
    back = services.check_and_reserve(dist, "SO-1", D("5"))
    assert back.approved and services.exposure(dist).reserved == D("5.00")


def test_order_ref_of_another_distributor_refused(db_session, dist, make_distributor):
    services.check_and_reserve(dist, "SO-X", D("5"))
    with pytest.raises(CreditError):
        services.check_and_reserve(make_distributor(), "SO-X", D("5"))


def test_release_whole_and_partial(db_session, dist):
    services.check_and_reserve(dist, "SO-1", D("1000"))
    services.release_reservation("SO-1", D("400"))
    assert services.exposure(dist).reserved == D("600.00")
    res = services.release_reservation("SO-1")
    assert res.status == "released" and services.exposure(dist).reserved == D("0.00")
    with pytest.raises(CreditError):
        services.release_reservation("SO-NONE")


def test_invoice_reduces_reservation_and_closes_it(db_session, dist):
    services.check_and_reserve(dist, "SO-1", D("1000"))
    inv = services.post_invoice(dist, "SO-1", D("600"), TODAY)
    assert inv.due_date == date(2026, 7, 15) and inv.reference == "INV-SO-1-1"
    exp = services.exposure(dist)
    assert (exp.reserved, exp.open_receivables) == (D("400.00"), D("600.00"))
    services.post_invoice(dist, "SO-1", D("400"), TODAY)
    res = db_session.execute(select(CreditReservation).where(CreditReservation.order_ref == "SO-1")).scalar_one()
    assert res.status == "closed" and res.amount == D("0.00")
    assert services.exposure(dist).total == D("1000.00")


def test_held_order_cannot_be_invoiced(db_session, dist):
    services.check_and_reserve(dist, "SO-BIG", D("200000"))
    with pytest.raises(CreditError):
        services.post_invoice(dist, "SO-BIG", D("1"), TODAY)


def test_decide_hold_approve_is_the_audited_override(db_session, dist, make_user):
    fin = make_user("finance")
    services.check_and_reserve(dist, "SO-BIG", D("150000"))
    with pytest.raises(CreditError):
        services.decide_hold("SO-BIG", True, fin, "  ")
    res = services.decide_hold("SO-BIG", True, fin, "客户已承诺回款")
    assert res.status == "active" and res.decided_by_id == fin.id and res.decision_reason == "客户已承诺回款"
    assert services.exposure(dist).available == D("-50000.00")
    with pytest.raises(CreditError, match="SO-BIG"):
        services.decide_hold("SO-BIG", False, fin, "again")
    log = db_session.execute(select(AuditLog).where(AuditLog.action == "credit_hold_approve")).scalar_one()
    assert log.note == "客户已承诺回款" and log.before["status"] == "held" and log.after["status"] == "active"


def test_decide_hold_reject(db_session, dist, make_user):
    services.check_and_reserve(dist, "SO-BIG", D("150000"))
    res = services.decide_hold("SO-BIG", False, make_user("finance"), "超额")
    assert res.status == "rejected" and services.exposure(dist).reserved == D("0.00")


def test_payment_applied_fifo(db_session, dist):
    a = services.post_invoice(dist, None, D("100"), date(2026, 4, 1), reference="INV-A")
    b = services.post_invoice(dist, None, D("200"), date(2026, 5, 1), reference="INV-B")
    c = services.post_invoice(dist, None, D("300"), date(2026, 6, 1), reference="INV-C")
    pay = services.record_payment(dist, D("250"), TODAY, "BANK-001")
    allocs = db_session.execute(select(ReceivableAllocation.debit_entry_id, ReceivableAllocation.amount)
                                .where(ReceivableAllocation.credit_entry_id == pay.id)
                                .order_by(ReceivableAllocation.id)).all()
    assert allocs == [(a.id, D("100.00")), (b.id, D("150.00"))]
    assert [(i.reference, i.open_amount) for i in services.open_items(dist)] == [("INV-B", D("50.00")),
                                                                                  ("INV-C", D("300.00"))]
    assert services.balance(dist) == D("350.00") == services.exposure(dist).open_receivables
    assert c.id


def test_overpayment_and_duplicate_refused_and_change_nothing(db_session, dist):
    services.post_invoice(dist, None, D("100"), TODAY, reference="INV-A")
    with pytest.raises(CreditError, match="100.00"):
        services.record_payment(dist, D("100.01"), TODAY, "BANK-X")
    services.record_payment(dist, D("40"), TODAY, "BANK-1")
    with pytest.raises(CreditError):
        services.record_payment(dist, D("1"), TODAY, "BANK-1")
    with pytest.raises(CreditError):
        services.record_payment(dist, D("0"), TODAY, "BANK-2")
    assert services.balance(dist) == D("60.00")
    assert db_session.execute(select(func.count()).select_from(ReceivableEntry)).scalar_one() == 2


def test_credit_memo_applies_to_the_original_invoice_first(db_session, dist):
    services.post_invoice(dist, None, D("100"), date(2026, 5, 1), reference="INV-A")
    services.post_invoice(dist, None, D("100"), date(2026, 6, 1), reference="INV-B")
    services.post_credit_memo(dist, D("30"), "CM-1", original_invoice_ref="INV-B")
    assert [(i.reference, i.open_amount) for i in services.open_items(dist)] == [("INV-A", D("100.00")),
                                                                                  ("INV-B", D("70.00"))]
    services.post_adjustment(dist, D("-10"), "ADJ-1", reason="尾差")
    services.post_adjustment(dist, D("5"), "ADJ-2", reason="补差")
    assert services.balance(dist) == D("165.00")
    assert sum(i.open_amount for i in services.open_items(dist)) == D("165.00")


def test_aging_buckets(db_session, dist, make_distributor):
    # terms 30 days: invoice date + 30 = due date
    services.post_invoice(dist, None, D("100"), date(2026, 6, 1), reference="I-CUR")  # due 07-01: current
    services.post_invoice(dist, None, D("200"), date(2026, 4, 16), reference="I-30")  # due 05-16: 30 days
    services.post_invoice(dist, None, D("300"), date(2026, 4, 15), reference="I-31")  # due 05-15: 31 days
    services.post_invoice(dist, None, D("400"), date(2026, 2, 15), reference="I-90")  # due 03-17: 90 days
    services.post_invoice(dist, None, D("500"), date(2026, 2, 14), reference="I-91")  # due 03-16: 91 days
    services.record_payment(dist, D("450"), TODAY, "P-1")  # 450 of I-91 (oldest due): 50 of it stays open
    other = make_distributor()
    services.post_invoice(other, None, D("1000"), date(2026, 5, 1), reference="I-OTHER")  # due 05-31: 15 days
    assert services.aging(dist) == {"current": D("100.00"), "1-30": D("200.00"), "31-60": D("300.00"),
                                    "61-90": D("400.00"), "90+": D("50.00")}
    assert services.aging()["1-30"] == D("1200.00")
    # as of an earlier date: the payment had not happened yet and I-CUR did not exist
    # (I-30 4 days, I-31 5 days, I-90 64 days, I-91 65 days overdue)
    assert services.aging(dist, date(2026, 5, 20)) == {"current": D("0.00"), "1-30": D("500.00"),
                                                       "31-60": D("0.00"), "61-90": D("900.00"), "90+": D("0.00")}


def test_statement_balances(db_session, dist):
    services.post_invoice(dist, None, D("1000"), date(2026, 4, 10), reference="I-1")
    services.record_payment(dist, D("300"), date(2026, 4, 30), "P-1")
    services.post_invoice(dist, None, D("500"), date(2026, 5, 5), reference="I-2")
    services.record_payment(dist, D("700"), date(2026, 5, 20), "P-2")
    services.post_credit_memo(dist, D("100"), "CM-1", on_date=date(2026, 5, 25))
    services.post_invoice(dist, None, D("80"), date(2026, 6, 2), reference="I-3")
    st = services.statement(dist, date(2026, 5, 1), date(2026, 5, 31))
    assert st.opening == D("700.00")
    assert [(ln.reference, ln.debit, ln.credit, ln.balance) for ln in st.lines] == [
        ("I-2", D("500.00"), D("0.00"), D("1200.00")), ("P-2", D("0.00"), D("700.00"), D("500.00")),
        ("CM-1", D("0.00"), D("100.00"), D("400.00"))]
    assert st.closing == D("400.00") == services.balance(dist, date(2026, 5, 31))
    assert (st.total_debit, st.total_credit) == (D("500.00"), D("800.00"))
    assert sum(i.open_amount for i in st.open_items) == D("400.00")


def test_ledger_is_append_only(db_session, dist):
    inv = services.post_invoice(dist, None, D("100"), TODAY, reference="I-1")
    inv.amount = D("1")
    with pytest.raises(AppendOnlyViolation):
        db_session.flush()
    db_session.rollback()


def test_ledger_trigger_refuses_sql_update_and_delete(db_session, dist):
    services.post_invoice(dist, None, D("100"), TODAY, reference="I-1")
    for sql in ("UPDATE receivable_entry SET amount = 1", "DELETE FROM receivable_entry"):
        with pytest.raises(Exception, match="append-only"):  # noqa: B017 - the driver's error class
            with db_session.begin_nested():
                db_session.execute(text(sql))


def test_nightly_overdue_holds_once(db_session, dist, make_distributor):
    services.post_invoice(dist, None, D("2000"), date(2026, 5, 2), reference="INV-LATE")  # 14 days overdue
    fine = make_distributor()
    services.post_invoice(fine, None, D("2000"), date(2026, 5, 14), reference="INV-GRACE")  # 2 days, grace 0? no
    services.set_credit_terms(fine, limit=D("0"), grace_days=5, reason="x")
    assert services.apply_overdue_holds() == 1
    acc = services.get_account(dist)
    assert acc.manual_hold and "INV-LATE" in acc.hold_reason
    assert not services.get_account(fine).manual_hold
    assert services.apply_overdue_holds() == 0
    notes = db_session.execute(select(Notification.audience_role, Notification.distributor_id)
                               .where(Notification.kind == "credit_overdue_hold")).all()
    assert sorted(notes, key=str) == sorted([("finance", None), ("distributor", dist.id)], key=str)
    assert db_session.execute(select(func.count()).select_from(AuditLog)
                              .where(AuditLog.action == "credit_overdue_hold")).scalar_one() == 1


def test_overview_is_set_based_and_agrees_with_each_exposure(db_session, dist, make_distributor, make_user):
    """The finance dashboard's figures come from a fixed number of statements however many distributors there
    are, and equal each distributor's own exposure and aging."""
    from sqlalchemy import event

    def world(n):
        for i in range(n):
            d = make_distributor()
            services.set_credit_terms(d, limit=D("5000"), grace_days=i, reason="授信")
            assert services.check_and_reserve(d, f"OV-SO-{d.code}", D("300")).approved
            services.post_invoice(d, None, D("1000") + i, date(2026, 5, 1), reference=f"OV-{d.code}")  # due 05-31
            services.record_payment(d, D("100"), TODAY, f"OV-P-{d.code}")
            services.add_temporary_increase(d, D("250"), date(2026, 6, 1), date(2026, 6, 30), make_user("finance"),
                                            "旺季")

    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db_session.get_bind()
    world(2)
    event.listen(engine, "before_cursor_execute", count)
    try:
        services.credit_overview(TODAY)
        few = len(statements)
        event.remove(engine, "before_cursor_execute", count)
        world(5)
        event.listen(engine, "before_cursor_execute", count)
        statements.clear()
        rows = services.credit_overview(TODAY)
        assert len(statements) == few <= 7, statements
    finally:
        if event.contains(engine, "before_cursor_execute", count):
            event.remove(engine, "before_cursor_execute", count)
    assert len(rows) >= 8
    for row in rows:
        assert row.exposure == services.exposure(row.distributor, TODAY)
        assert row.aging == services.aging(row.distributor, TODAY)
    busy = [r for r in rows if r.distributor.code != dist.code and r.exposure.reserved == D("300.00")]
    assert len(busy) == 7 and all(r.exposure.temporary == D("250.00") for r in busy)
    assert {r.exposure.overdue_amount for r in busy} == {D("900.00") + i for i in range(5)}
    assert all(r.exposure.blocking_invoices for r in busy)  # 15 days overdue, grace 0..4 days


def test_the_dashboard_lists_a_tier_2_only_when_it_has_credit_with_us(db_session, make_distributor):
    """A tier-2 buys from its tier-1, not from us: a row of zeros for it on finance's page is noise. Once we invoice
    it (a direct sale), it is listed like any account."""
    t1 = make_distributor(tier=1)
    quiet = make_distributor(tier=2, parent_code=t1.code)
    direct = make_distributor(tier=2, parent_code=t1.code)
    services.post_invoice(direct, None, D("120.00"), date(2026, 6, 1), date(2026, 7, 1), reference="T2-INV-1")
    listed = {r.distributor.code: r for r in services.credit_overview(TODAY)}
    assert t1.code in listed and quiet.code not in listed
    assert listed[direct.code].exposure.open_receivables == D("120.00")
