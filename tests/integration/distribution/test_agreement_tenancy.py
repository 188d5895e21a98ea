"""Tenant isolation of agreements at the ORM level: a distributor user reads its own agreements and their rows, never
another's, and writes none (not even its own)."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, update

from app.tenancy import Actor, TenantViolation, acting_as
from distribution import agreements as svc
from distribution.models.agreements import (
    Agreement,
    AgreementEvent,
    AgreementProduct,
    AgreementRegion,
    AgreementTarget,
    AgreementTerminal,
)
from tests.integration.distribution.agreement_world import AgreementWorld


@pytest.fixture
def aw(request):
    return AgreementWorld.build(request)


@pytest.fixture
def two(aw, make_distributor, make_terminal):
    own = aw.active(terminal_codes=[make_terminal(code="AG-TEN-T").code])
    other_d = make_distributor(code="AGD-TEN-B")
    other = aw.active(distributor_code=other_d.code)
    aw.session.expunge_all()  # each request starts with an empty session
    return own, other


def as_distributor(aw):
    return acting_as(Actor(999, "dist-user", aw.d.id))


def test_reads_are_scoped_for_every_agreement_table(aw, two, db_session):
    own, other = two
    with as_distributor(aw):
        assert db_session.execute(select(Agreement.id)).scalars().all() == [own.id]
        for model in (AgreementProduct, AgreementRegion, AgreementTarget, AgreementEvent, AgreementTerminal):
            ids = set(db_session.execute(select(model.agreement_id)).scalars())
            assert ids == {own.id}, model
        assert db_session.get(Agreement, other.id) is None
        assert svc.get_agreement(other.id) is None
        mine = svc.get_agreement(own.id)
        assert [t.terminal for t in mine.terminals] == [None]  # terminal master data stays manufacturer-only
        assert mine.submitted_by is None  # staff users are not the distributor's rows
    total = db_session.execute(select(func.count()).select_from(Agreement)).scalar_one()
    assert total == 2  # the system sees both


def test_a_distributor_never_writes_an_agreement_even_its_own(aw, two, db_session):
    own, _ = two
    with as_distributor(aw):
        mine = db_session.get(Agreement, own.id)
        mine.note = "改了"
        with pytest.raises(TenantViolation):
            db_session.flush()
    db_session.rollback()
    with as_distributor(aw):
        db_session.add(AgreementEvent(agreement_id=own.id, distributor_id=aw.d.id, actor="x", action="edit",
                                      to_status="active"))
        with pytest.raises(TenantViolation):
            db_session.flush()
    db_session.rollback()


def test_bulk_statements_and_services_are_refused_too(aw, two, db_session):
    own, other = two
    with as_distributor(aw):
        for stmt in (update(Agreement).values(payment_terms_days=1), delete(AgreementTarget)):
            with pytest.raises(TenantViolation):
                db_session.execute(stmt.execution_options(synchronize_session=False))
    db_session.expire_all()
    days = dict(db_session.execute(select(Agreement.id, Agreement.payment_terms_days)).all())
    assert days == {own.id: 60, other.id: 60}
    user = aw.make_user("distributor", aw.d)
    with pytest.raises(svc.NotAllowed):
        svc.terminate_agreement(own, user, "x")
