"""The audit log: every change of an audited row, with who / before / after; append-only."""

import pytest
from sqlalchemy import select, text, update

from app.audit import AppendOnlyViolation
from app.masterdata import services
from app.masterdata.resources import products
from app.models import AuditLog
from app.tenancy import Actor, acting_as


def _entries(db_session, entity_type, entity_id):
    return db_session.execute(
        select(AuditLog).where(AuditLog.entity_type == entity_type, AuditLog.entity_id == str(entity_id))
        .order_by(AuditLog.id)
    ).scalars().all()


def test_create_and_update_are_recorded_with_before_and_after(db_session, make_product_line):
    make_product_line(code="AUD")
    with acting_as(Actor(42, "zhang.san")):
        p = services.save_record(products, {
            "code": "AUD-1", "generic_name": "阿莫西林胶囊", "specification": "0.25g*24粒", "dosage_form": "胶囊剂",
            "base_unit": "盒", "pack_size": 200, "shelf_life_months": 24, "product_line_code": "AUD"})
        services.save_record(products, {"pack_size": 100, "brand_name": "<b>新名</b>"}, p, partial=True)
    create, change = _entries(db_session, "product", p.id)
    assert (create.action, create.actor, create.actor_id) == ("create", "zhang.san", 42)
    assert create.after["code"] == "AUD-1" and create.before is None
    assert change.action == "update"
    assert change.before == {"pack_size": 200, "brand_name": None}
    assert change.after == {"pack_size": 100, "brand_name": "<b>新名</b>"}


def test_web_edit_is_attributed_to_the_logged_in_user(login, db_session, make_product):
    p = make_product()
    c = login("channel_manager")
    form = {f.name: services.serialise(products, p)[f.name] for f in products.writable_fields}
    form.update({"pack_size": "48", "product_line_code": p.product_line.code, "active": "on", "cold_chain": ""})
    form = {k: ("" if v is None else v) for k, v in form.items() if k != "cold_chain"}
    pid, username = p.id, c.user.username
    r = c.post(f"/products/{pid}/edit", data=form)
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    entry = _entries(db_session, "product", pid)[-1]
    assert entry.actor == username and entry.after == {"pack_size": 48}
    # and the change history shows on the record's page
    assert "pack_size" in c.get(f"/products/{pid}").get_data(as_text=True)


def test_nothing_is_recorded_when_the_change_is_rolled_back(db_session, make_product):
    p = make_product()
    before = len(_entries(db_session, "product", p.id))
    pid = p.id
    nested = db_session.begin_nested()
    p.pack_size = 7
    db_session.flush()
    nested.rollback()
    assert len(_entries(db_session, "product", pid)) == before


def test_audit_rows_cannot_be_changed_through_the_orm(db_session, make_product):
    make_product()
    entry = db_session.execute(select(AuditLog)).scalars().first()
    entry.note = "tampered"
    with pytest.raises(AppendOnlyViolation):
        db_session.flush()
    db_session.rollback()


def test_audit_rows_cannot_be_changed_in_the_database(db_session, make_product):
    make_product()
    assert db_session.execute(text("SELECT count(*) FROM audit_log")).scalar() > 0
    nested = db_session.begin_nested()
    with pytest.raises(Exception, match="append-only"):
        db_session.execute(update(AuditLog).values(note="x").execution_options(synchronize_session=False))
    nested.rollback()
    nested = db_session.begin_nested()
    with pytest.raises(Exception, match="append-only"):
        db_session.execute(text("DELETE FROM audit_log"))
    nested.rollback()


def test_login_and_failed_login_are_audited(client, db_session, make_user):
    u = make_user("finance")
    client.post("/login", data={"username": u.username, "password": "wrong-password-1"})
    client.post("/login", data={"username": u.username, "password": "Test-password-1"})
    actions = db_session.execute(select(AuditLog.action, AuditLog.note).order_by(AuditLog.id.desc()).limit(2)).all()
    assert actions[0].action == "login"
    assert actions[1] == ("login_failed", u.username)


def test_a_deferred_decision_is_written_by_the_next_flush_with_the_new_rows_id(db_session):
    from app import audit
    from app.models import ProductLine

    line = ProductLine(code="AUD-DEF", name="延迟")
    db_session.add(line)
    with acting_as(Actor(7, "li.si")):
        audit.record(db_session, "line_opened", line, note="with its row", defer=True)
        assert _entries(db_session, "product_line", "None") == []  # not written yet: it rides on the flush
        db_session.flush()
        create, decision = _entries(db_session, "product_line", line.id)
        assert (create.action, decision.action, decision.note, decision.actor) == (
            "create", "line_opened", "with its row", "li.si")
        audit.record(db_session, "line_checked", line, defer=True)  # nothing pending: written at once
        assert _entries(db_session, "product_line", line.id)[-1].action == "line_checked"
