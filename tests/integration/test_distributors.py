"""Distributor rules: tiers, licence flags everywhere, can-ship, notifications, contact edits by the distributor."""

import pytest
from sqlalchemy import select

from app.masterdata import services
from app.masterdata.notify import notify_licence_expiry
from app.masterdata.resources import can_ship_to, distributors, licence_status
from app.models import Notification


def test_tier_rules(db_session, make_distributor):
    t1 = make_distributor(code="R-T1")
    with pytest.raises(services.ValidationFailed) as exc:
        make_distributor(code="R-T2", tier=2)
    assert "parent_code" in exc.value.errors
    t2 = make_distributor(code="R-T2", tier=2, parent_code="R-T1")
    with pytest.raises(services.ValidationFailed) as exc:
        make_distributor(code="R-T3", tier=2, parent_code="R-T2")
    assert "parent_code" in exc.value.errors  # a tier-2 cannot supply
    with pytest.raises(services.ValidationFailed) as exc:
        services.save_record(distributors, {"tier": 2, "parent_code": "R-T2"}, t1, partial=True)
    assert set(exc.value.errors) >= {"tier"} or "parent_code" in exc.value.errors
    assert t2.parent_id == t1.id


def test_licence_status_and_shipping(db_session, make_distributor):
    expired = make_distributor(licence_expiry="2026-06-14")  # business date is 2026-06-15
    today = make_distributor(licence_expiry="2026-06-15")
    soon = make_distributor(licence_expiry="2026-08-01")
    gsp = make_distributor(gsp_expiry="2026-01-01")
    suspended = make_distributor(status="suspended")
    assert [licence_status(d) for d in (expired, today, soon)] == ["expired", "expiring", "expiring"]
    assert [can_ship_to(d) for d in (expired, today, soon, gsp, suspended)] == [False, True, True, False, False]


def test_expired_licence_is_flagged_on_list_detail_and_home(login, make_distributor):
    d = make_distributor(code="EXP-1", licence_expiry="2026-01-31")
    c = login("channel_manager")
    listing = c.get("/distributors/?q=EXP-1").get_data(as_text=True)
    assert "bg-danger" in listing
    detail = c.get(f"/distributors/{d.id}").get_data(as_text=True)
    assert "status-badge" in detail and "bg-danger" in detail
    home = c.get("/").get_data(as_text=True)
    assert "EXP-1" in home.split('id="licence-alerts"')[1]


def test_licence_notifications_once_per_threshold(db_session, make_distributor, app):
    d = make_distributor(code="N-1", licence_expiry="2026-07-01")  # 16 days ahead → the 30-day threshold
    make_distributor(code="N-2", licence_expiry="2027-07-01")
    created = notify_licence_expiry()
    rows = db_session.execute(select(Notification).where(Notification.dedupe_key.like(f"%:{d.id}:%"))).scalars().all()
    assert created >= 2 and {n.audience_role for n in rows} == {"channel_manager", "distributor"}
    assert all(":30:" in n.dedupe_key for n in rows)
    assert notify_licence_expiry() == 0
    app.config["FIXED_TODAY"] = "2026-07-02"
    try:
        assert notify_licence_expiry() >= 2  # now expired: a new, different alert
    finally:
        from tests.conftest import TODAY

        app.config["FIXED_TODAY"] = TODAY


def test_distributor_edits_own_contacts_through_the_page(login, db_session, make_distributor):
    d = make_distributor(code="OWN-1")
    c = login("distributor", d)
    page = c.get(f"/distributors/{d.id}/edit").get_data(as_text=True)
    assert 'name="licence_no"' in page and "disabled" in page.split('name="licence_no"')[1].split(">")[0]
    r = c.post(f"/distributors/{d.id}/edit", data={"contact_phone": "0571-66668888", "licence_no": "HACK"})
    assert r.status_code == 302
    db_session.expire_all()
    again = services.get_record(distributors, d.id)
    assert again.contact_phone == "0571-66668888" and again.licence_no != "HACK"
