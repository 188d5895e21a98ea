"""Agreements: drafting, the status workflow and its refusals, audit and the database's own constraints."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from app.models import AuditLog, Distributor
from distribution import agreements as svc
from distribution.models.agreements import Agreement, AgreementEvent, AgreementProduct, AgreementTarget
from tests.conftest import TODAY
from tests.integration.distribution.agreement_world import AgreementWorld


@pytest.fixture
def aw(request):
    return AgreementWorld.build(request)


@pytest.fixture(autouse=True)
def english(app, db_session):
    """Messages are asserted in English; the Chinese catalogue is tested in tests/unit/test_i18n.py."""
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("en"):
        yield


def audit_actions(db_session, agreement):
    return [(a.action, a.actor, a.note) for a in db_session.execute(
        select(AuditLog).where(AuditLog.entity_type == "agreement", AuditLog.entity_id == str(agreement.id),
                               AuditLog.action.not_in(("create", "update"))).order_by(AuditLog.id)).scalars()]


# -- drafting -----------------------------------------------------------------------------------------------------
def test_create_draft_with_everything(aw, db_session, make_terminal):
    terminal = make_terminal(code="AG-T1", region_code="320102")
    a = aw.draft(product_codes=[aw.pa1.code], product_line_codes=[aw.line_b.code], region_codes=["330100", "330203"],
                 terminal_codes=[terminal.code], note="年度协议",
                 targets=[{"quarter": "2026Q1", "product_code": aw.pa1.code, "amount": "100000.00", "quantity": 1000},
                          {"quarter": "2026q2", "product_line_code": aw.line_b.code, "amount": "50000.50",
                           "quantity": 300}])
    db_session.expire_all()
    assert a.number == "AG2026-AGD-1-01" and a.status == "draft"
    assert (a.start_date, a.end_date, a.payment_terms_days) == (date(2026, 1, 1), date(2026, 12, 31), 60)
    assert (a.proposed_credit_limit, a.deposit) == (D("500000.00"), D("50000.00"))
    assert [p.product.code for p in a.products] == ["AG-PA1"]
    assert [p.product_line.code for p in a.product_lines] == ["AG-PLB"]
    assert [r.region.code for r in a.regions] == ["330100", "330203"]
    assert [t.terminal.code for t in a.terminals] == ["AG-T1"]
    assert [(t.quarter_label, t.amount, t.quantity) for t in a.targets] == [
        ("2026Q1", D("100000.00"), 1000), ("2026Q2", D("50000.50"), 300)]
    assert [(t.threshold_pct, t.rate_pct) for t in a.rebate_tiers] == [(D("90"), D("1")), (D("100"), D("2")),
                                                                       (D("110"), D("3"))]
    # every child carries the agreement's distributor (tenant scoping applies to it directly)
    assert {c.distributor_id for c in (*a.products, *a.regions, *a.targets, *a.rebate_tiers, *a.events)} == {aw.d.id}
    assert [(e.action, e.to_status, e.actor) for e in a.events] == [("create", "draft", "cm-one")]
    assert a.created_by_id == aw.cm1.id
    created = db_session.execute(select(AuditLog).where(AuditLog.entity_type == "agreement",
                                                        AuditLog.action == "create")).scalar_one()
    assert created.actor == "cm-one" and created.after["number"] == a.number
    assert aw.draft().number == "AG2026-AGD-1-02"


def test_editing_a_draft_keeps_the_rows_that_stay(aw, db_session):
    a = aw.draft(product_codes=[aw.pa1.code, aw.pa2.code])
    keep = next(p for p in a.products if p.product_id == aw.pa1.id).id
    target_id = a.targets[0].id
    with aw.acting(aw.cm2):
        svc.update_draft(a, aw.data(product_codes=[aw.pa1.code, aw.pb1.code], payment_terms_days=90,
                                    targets=[{"quarter": "2026Q1", "product_code": aw.pa1.code, "amount": "120000.00",
                                              "quantity": 1100}]), aw.cm2)
    db_session.expire_all()
    assert sorted(p.product.code for p in a.products) == ["AG-PA1", "AG-PB1"]
    assert keep in {p.id for p in a.products}
    assert [(t.id, t.amount, t.quantity) for t in a.targets] == [(target_id, D("120000.00"), 1100)]
    assert a.payment_terms_days == 90
    assert [e.action for e in a.events] == ["create", "edit"]
    removed = db_session.execute(select(AuditLog).where(AuditLog.entity_type == "agreement_product",
                                                        AuditLog.action == "delete")).scalar_one()
    assert removed.before["product_id"] == aw.pa2.id and removed.actor == "cm-two"


def test_draft_field_errors(aw):
    with pytest.raises(svc.AgreementInvalid) as exc:
        aw.draft(start_date="2026-12-31", end_date="2026-01-01", product_codes=["NOPE-1", aw.pa1.code],
                 region_codes=["999999"], terminal_codes=["T-NOPE"], product_line_codes=["PL-NOPE"],
                 targets=[{"quarter": "2027Q1", "product_code": aw.pb1.code, "amount": "1.00", "quantity": 1}],
                 rebate_tiers=[{"threshold_pct": "90", "rate_pct": "2"}, {"threshold_pct": "100", "rate_pct": "1"},
                               {"threshold_pct": "90", "rate_pct": "3"}])
    errors = exc.value.errors
    assert errors["end_date"] == ["The end date is before the start date."]
    assert errors["product_codes"] == ["Unknown product codes: NOPE-1"]
    assert errors["region_codes"] == ["Unknown region codes: 999999"]
    assert errors["terminal_codes"] == ["Unknown terminal codes: T-NOPE"]
    assert errors["product_line_codes"] == ["Unknown product line codes: PL-NOPE"]
    assert errors["targets.0"] == ["Quarter 2027Q1 is outside the agreement period.",
                                   "Product AG-PB1 is not among the authorised products."]
    assert errors["rebate_tiers.1"] == ["Reaching 100% may not pay less than reaching 90%."]
    assert errors["rebate_tiers.2"] == ["Threshold 90% appears twice."]
    with pytest.raises(svc.AgreementInvalid) as exc:
        aw.draft(distributor_code="NO-SUCH")
    assert exc.value.errors == {"distributor_code": ["Unknown code NO-SUCH."]}


def test_targets_by_line_need_the_line_or_one_of_its_products_and_may_not_repeat(aw):
    ok = aw.draft(product_codes=[aw.pa1.code], targets=[
        {"quarter": "2026Q1", "product_line_code": aw.line_a.code, "amount": "1.00", "quantity": 1}])
    assert ok.targets[0].product_line_id == aw.line_a.id
    with pytest.raises(svc.AgreementInvalid) as exc:
        aw.draft(product_codes=[aw.pa1.code], targets=[
            {"quarter": "2026Q1", "product_line_code": aw.line_b.code, "amount": "1.00", "quantity": 1},
            {"quarter": "2026Q2", "product_code": aw.pa1.code, "amount": "1.00", "quantity": 1},
            {"quarter": "2026Q2", "product_code": aw.pa1.code, "amount": "2.00", "quantity": 1}])
    assert exc.value.errors == {"targets.0": ["No product of line AG-PLB is authorised."],
                                "targets.2": ["This target repeats row 2."]}


def test_only_writers_act(aw, make_user):
    finance = make_user("finance")
    with pytest.raises(svc.NotAllowed):
        svc.create_draft(aw.data(), finance)
    a = aw.draft()
    for step in (lambda: svc.submit_agreement(a, finance), lambda: svc.terminate_agreement(a, finance, "x"),
                 lambda: svc.update_draft(a, aw.data(), finance)):
        with pytest.raises(svc.NotAllowed):
            step()


def test_the_distributor_of_an_agreement_never_changes(aw, make_distributor):
    other = make_distributor(code="AGD-OTHER")
    a = aw.draft()
    with pytest.raises(svc.AgreementInvalid) as exc:
        svc.update_draft(a, aw.data(distributor_code=other.code), aw.cm1)
    assert "distributor_code" in exc.value.errors


# -- the workflow -------------------------------------------------------------------------------------------------
def test_submit_approve_by_a_second_person_and_the_who_when_of_each_step(aw, db_session):
    a = aw.draft()
    with aw.acting(aw.cm1):
        svc.submit_agreement(a, aw.cm1, "请审批")
    assert (a.status, a.submitted_by_id) == ("submitted", aw.cm1.id) and a.submitted_at is not None
    with aw.acting(aw.cm1), pytest.raises(svc.RuleViolation) as exc:
        svc.approve_agreement(a, aw.cm1)
    assert "someone else must approve it" in exc.value.message and exc.value.status == 422
    with aw.acting(aw.cm2):
        svc.approve_agreement(a, aw.cm2, "同意")
    assert (a.status, a.approved_by_id) == ("active", aw.cm2.id) and a.approved_at is not None
    assert [(e.action, e.from_status, e.to_status, e.actor, e.note) for e in a.events] == [
        ("create", None, "draft", "cm-one", None), ("submit", "draft", "submitted", "cm-one", "请审批"),
        ("activate", "submitted", "active", "cm-two", "同意")]
    assert audit_actions(db_session, a) == [("submit", "cm-one", "请审批"), ("activate", "cm-two", "同意")]
    activation = db_session.execute(select(AuditLog).where(AuditLog.action == "activate")).scalar_one()
    assert (activation.before, activation.after) == ({"status": "submitted"}, {"status": "active"})


def test_wrong_state_is_refused_with_409(aw):
    a = aw.draft()
    for step in (lambda: svc.approve_agreement(a, aw.cm2), lambda: svc.return_to_draft(a, aw.cm2, "x")):
        with pytest.raises(svc.WrongState) as exc:
            step()
        assert exc.value.status == 409
    active = aw.active(start_date=date(2027, 1, 1), end_date=date(2027, 12, 31),
                       targets=[], product_codes=[aw.pb1.code])
    for step in (lambda: svc.submit_agreement(active, aw.cm1), lambda: svc.approve_agreement(active, aw.admin),
                 lambda: svc.update_draft(active, aw.data(), aw.cm1)):
        with pytest.raises(svc.WrongState):
            step()
    with pytest.raises(svc.WrongState) as exc:
        svc.submit_agreement(active, aw.cm1)
    assert exc.value.message == "This agreement is active; it cannot be submitted now."


def test_a_submitted_agreement_goes_back_to_draft_with_a_reason(aw, db_session):
    a = aw.submitted()
    with pytest.raises(svc.AgreementInvalid) as exc:
        svc.return_to_draft(a, aw.cm2, "  ")
    assert exc.value.errors == {"reason": ["A reason is required."]}
    with aw.acting(aw.cm2):
        svc.return_to_draft(a, aw.cm2, "目标太低")
    assert (a.status, a.submitted_by_id, a.submitted_at) == ("draft", None, None)
    assert a.events[-1].action == "return" and a.events[-1].note == "目标太低"
    assert audit_actions(db_session, a)[-1] == ("return", "cm-two", "目标太低")
    # editable again; resubmitted by the other person, the first may now approve
    svc.update_draft(a, aw.data(payment_terms_days=45), aw.cm2)
    svc.submit_agreement(a, aw.cm2)
    svc.approve_agreement(a, aw.cm1)
    assert a.status == "active"


def test_submission_needs_products_a_territory_and_a_future(aw):
    a = aw.draft(product_codes=[], region_codes=[], targets=[])
    with pytest.raises(svc.AgreementInvalid) as exc:
        svc.submit_agreement(a, aw.cm1)
    assert set(exc.value.errors) == {"product_codes", "region_codes"}
    named_terminals_only = aw.draft(region_codes=[], terminal_codes=[aw.make_terminal(code="AG-T9").code])
    assert svc.submit_agreement(named_terminals_only, aw.cm1).status == "submitted"
    past = aw.draft(start_date=date(2025, 1, 1), end_date=date(2025, 12, 31), targets=[])
    with pytest.raises(svc.AgreementInvalid) as exc:
        svc.submit_agreement(past, aw.cm1)
    assert exc.value.errors == {"end_date": ["The period of this agreement has already ended."]}


@pytest.mark.parametrize("change, message", [
    ({"licence_expiry": TODAY - timedelta(days=1)},
     "drug-trading licence of 杭州协议医药有限公司 expired on 2026-06-14"),
    ({"gsp_expiry": TODAY - timedelta(days=3)}, "GSP certificate of 杭州协议医药有限公司 expired on 2026-06-12"),
    ({"status": "suspended"}, "Distributor AGD-1 is not active."),
])
def test_activation_refused_for_a_distributor_that_may_not_be_shipped_to(aw, db_session, change, message):
    a = aw.submitted()
    db_session.execute(update(Distributor).where(Distributor.id == aw.d.id).values(**change))
    with pytest.raises(svc.RuleViolation) as exc:
        svc.approve_agreement(a, aw.cm2)
    assert message in exc.value.message
    assert db_session.execute(select(Agreement.status).where(Agreement.id == a.id)).scalar_one() == "submitted"


def test_licence_expiring_today_is_still_valid(aw, db_session):
    a = aw.submitted()
    db_session.execute(update(Distributor).where(Distributor.id == aw.d.id).values(licence_expiry=TODAY))
    assert svc.approve_agreement(a, aw.cm2).status == "active"


def test_terminate_with_a_reason_from_draft_submitted_or_active(aw, db_session):
    draft, submitted = aw.draft(), aw.submitted(product_codes=[aw.pa2.code], targets=[])
    active = aw.active(product_codes=[aw.pb1.code], targets=[])
    with pytest.raises(svc.AgreementInvalid):
        svc.terminate_agreement(active, aw.cm1, "")
    for a in (draft, submitted, active):
        with aw.acting(aw.admin):
            svc.terminate_agreement(a, aw.admin, "经销商违约")
        assert (a.status, a.terminated_by_id, a.terminated_on, a.termination_reason) == (
            "terminated", aw.admin.id, TODAY, "经销商违约")
        assert audit_actions(db_session, a)[-1] == ("terminate", "agr-admin", "经销商违约")
    with pytest.raises(svc.WrongState):
        svc.terminate_agreement(active, aw.admin, "again")


def test_expire_only_after_the_end_date(aw, db_session):
    a = aw.active(start_date=date(2026, 1, 1), end_date=TODAY, targets=[])
    with pytest.raises(svc.WrongState):
        svc.expire_agreement(a)
    db_session.execute(update(Agreement).where(Agreement.id == a.id).values(end_date=TODAY - timedelta(days=1)))
    svc.expire_agreement(a)
    assert a.status == "expired" and a.expired_at is not None
    assert (a.events[-1].action, a.events[-1].actor, a.events[-1].actor_id) == ("expire", "system", None)
    with pytest.raises(svc.WrongState):
        svc.terminate_agreement(a, aw.cm1, "too late")


# -- the database's own guarantees --------------------------------------------------------------------------------
def _violates(db_session, sql: str, **params) -> bool:
    try:
        with db_session.begin_nested():
            db_session.execute(text(sql), params)
    except IntegrityError:
        return True
    return False


def test_the_database_enforces_four_eyes_status_and_who_when(aw, db_session):
    a = aw.submitted()
    sql = "update agreement set status = 'active', approved_by_id = :u, approved_at = now() where id = :id"
    assert _violates(db_session, sql, u=aw.cm1.id, id=a.id)  # approver = submitter
    assert _violates(db_session, "update agreement set status = 'active' where id = :id", id=a.id)  # no approver
    assert _violates(db_session, "update agreement set status = 'terminated' where id = :id", id=a.id)  # no reason
    assert _violates(db_session, "update agreement set status = 'cancelled' where id = :id", id=a.id)
    assert _violates(db_session, "update agreement set end_date = start_date - 1 where id = :id", id=a.id)
    assert _violates(db_session, "update agreement set deposit = -1 where id = :id", id=a.id)
    assert not _violates(db_session, sql, u=aw.cm2.id, id=a.id)


def test_the_database_keeps_children_on_their_agreements_distributor(aw, db_session, make_distributor):
    a = aw.draft()
    other = make_distributor(code="AGD-X")
    assert _violates(db_session, "update agreement_product set distributor_id = :d where agreement_id = :id",
                     d=other.id, id=a.id)
    target = db_session.execute(select(AgreementTarget).where(AgreementTarget.agreement_id == a.id)).scalar_one()
    assert _violates(db_session, "update agreement_target set product_line_id = :pl where id = :id",
                     pl=aw.line_a.id, id=target.id)  # a product and a line at once
    assert _violates(db_session, "update agreement_target set quarter = 5 where id = :id", id=target.id)
    assert _violates(db_session, "insert into agreement_product (agreement_id, distributor_id, product_id)"
                                 " values (:id, :d, :p)", id=a.id, d=aw.d.id, p=aw.pa1.id)  # duplicate product
    assert _violates(db_session, "update agreement_rebate_tier set rate_pct = 101 where agreement_id = :id", id=a.id)
    assert db_session.execute(select(AgreementProduct).where(AgreementProduct.agreement_id == a.id)).scalar_one()
    assert db_session.execute(select(AgreementEvent).where(AgreementEvent.agreement_id == a.id)).scalar_one()
