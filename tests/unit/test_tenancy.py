"""Tenant isolation at the ORM level: every query and every flush, in one place (app.tenancy)."""

import pytest
from sqlalchemy import func, select, update

from app.masterdata import services
from app.masterdata.resources import distributors
from app.models import Distributor, StockLocation, Terminal, TerminalAlias, User
from app.tenancy import Actor, TenantViolation, acting_as


@pytest.fixture
def two_distributors(make_distributor, make_terminal):
    a = make_distributor(code="DA", name="甲医药")
    b = make_distributor(code="DB", name="乙医药")
    make_terminal(code="T-1")
    return a, b


def as_dist(d):
    return acting_as(Actor(999, "dist-user", d.id))


# Each request starts with an empty session; expunge_all() recreates that here (rows already in the identity map
# are returned by Session.get without a query, as SQLAlchemy documents).


def test_selects_see_only_own_rows(db_session, two_distributors):
    a, b = two_distributors
    db_session.expunge_all()
    with as_dist(a):
        assert db_session.execute(select(Distributor.code)).scalars().all() == ["DA"]
        locs = db_session.execute(select(StockLocation)).scalars().all()
        assert {loc.distributor_id for loc in locs} == {a.id}
        assert db_session.execute(select(func.count()).select_from(Terminal)).scalar_one() == 0
        assert db_session.get(Distributor, b.id) is None
        # a join through another entity does not leak either
        joined = db_session.execute(select(StockLocation.code).join(Distributor)).scalars().all()
        assert joined == [f"WH-{a.code}"]
    # the system actor sees everything
    assert set(db_session.execute(select(Distributor.code)).scalars()) >= {"DA", "DB"}


def test_lazy_loads_are_scoped(db_session, two_distributors, make_distributor):
    a, b = two_distributors
    child = make_distributor(code="DA2", tier=2, parent_code="DB")
    db_session.expunge_all()
    with acting_as(Actor(999, "dist-user", child.id)):
        me = db_session.execute(select(Distributor)).scalar_one()
        assert me.code == "DA2"
        assert me.parent is None  # the supplier belongs to someone else


def test_writes_to_other_tenants_are_refused(db_session, two_distributors):
    a, b = two_distributors
    with as_dist(a):
        b_loaded = db_session.execute(select(Distributor).where(Distributor.code == "DB")
                                      .execution_options(skip_tenant_scope=True)).scalar_one()
        b_loaded.contact_phone = "13800000000"
        with pytest.raises(TenantViolation):
            db_session.flush()
    db_session.rollback()


def test_moving_own_row_to_another_tenant_is_refused(db_session, two_distributors):
    a, b = two_distributors
    with as_dist(a):
        loc = db_session.execute(select(StockLocation)).scalars().first()
        loc.distributor_id = b.id
        with pytest.raises(TenantViolation):
            db_session.flush()
    db_session.rollback()


def test_manufacturer_only_rows_cannot_be_written(db_session, two_distributors):
    a, _ = two_distributors
    with as_dist(a):
        db_session.add(TerminalAlias(terminal_id=1, alias="x"))
        with pytest.raises(TenantViolation):
            db_session.flush()
    db_session.rollback()


def test_bulk_update_is_scoped(db_session, two_distributors):
    a, b = two_distributors
    with as_dist(a):
        db_session.execute(update(Distributor).values(contact_name="改"))
    db_session.expire_all()
    names = dict(db_session.execute(select(Distributor.code, Distributor.contact_name)).all())
    assert names["DA"] == "改" and names["DB"] != "改"


def test_own_contact_fields_only(db_session, two_distributors):
    a, _ = two_distributors
    with as_dist(a):
        services.save_record(distributors, {"contact_phone": "0571-88886666"}, a, partial=True)
        with pytest.raises(services.ValidationFailed) as exc:
            services.save_record(distributors, {"licence_no": "FAKE"}, a, partial=True)
    assert "licence_no" in exc.value.errors
    assert a.contact_phone == "0571-88886666"


def test_distributor_user_sees_own_users_only(db_session, two_distributors, make_user):
    a, b = two_distributors
    make_user("distributor", a, username="ua")
    make_user("distributor", b, username="ub")
    make_user("admin", username="boss")
    with as_dist(a):
        assert db_session.execute(select(User.username)).scalars().all() == ["ua"]


def test_aliased_joins_are_scoped_too(db_session, make_distributor):
    """An alias of a scoped model in a join gets the tenant criteria as well (a self-join must not leak a parent)."""
    from sqlalchemy.orm import aliased

    a = make_distributor(code="AL-A")
    b = make_distributor(code="AL-B", tier=2, parent_code="AL-A")
    db_session.expunge_all()
    parent = aliased(Distributor)
    with as_dist(b):
        rows = db_session.execute(select(Distributor.code, parent.code)
                                  .outerjoin(parent, Distributor.parent_id == parent.id)).all()
    assert rows == [("AL-B", None)]
    loc = aliased(StockLocation)
    with as_dist(a):
        rows = db_session.execute(select(loc.code).join(Distributor, loc.distributor_id == Distributor.id)).all()
    assert rows == [("WH-AL-A",)]
    with as_dist(b):  # and the statement cache does not hand one tenant's criteria to another
        assert db_session.execute(select(Distributor.code)).scalars().all() == ["AL-B"]
    with as_dist(a):
        assert db_session.execute(select(Distributor.code)).scalars().all() == ["AL-A"]


def test_bulk_inserts_follow_the_flush_rules(db_session, two_distributors):
    """app.bulk writes without the unit of work, under the same rules: own rows only, each audited as a create, and
    the rows come back as persistent objects (no second INSERT on the next flush)."""
    from app import audit, bulk
    from app.models import AuditLog
    from credit.models import CreditReservation

    a, b = two_distributors
    row = {"order_ref": "BULK-1", "requested": 5, "amount": 5, "status": "active"}
    with as_dist(a):
        with pytest.raises(TenantViolation):
            bulk.insert_rows(db_session, CreditReservation, [{**row, "distributor_id": b.id}])
        (res,) = bulk.insert_rows(db_session, CreditReservation, [{**row, "distributor_id": a.id}], defer_audit=True)
        audit.record(db_session, "reserved", res, defer=True)  # queued behind the pending create
        assert db_session.execute(select(func.count()).select_from(AuditLog)
                                  .where(AuditLog.entity_type == "credit_reservation")).scalar_one() == 0
        audit.write_pending(db_session)
    assert res in db_session and res.id and res.reasons == [] and not db_session.dirty
    db_session.flush()
    entries = db_session.execute(select(AuditLog).where(AuditLog.entity_type == "credit_reservation")
                                 .order_by(AuditLog.id)).scalars().all()
    assert [(e.action, e.entity_id, e.actor) for e in entries] == [
        ("create", str(res.id), "dist-user"), ("reserved", str(res.id), "dist-user")]
    assert entries[0].after["order_ref"] == "BULK-1" and entries[0].after["amount"] == "5.00"
    assert db_session.execute(select(func.count()).select_from(CreditReservation)
                              .where(CreditReservation.order_ref == "BULK-1")).scalar_one() == 1
