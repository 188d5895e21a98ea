"""Near expiry: one alert per lot per window (idempotent), for managers and holders; the dashboard's figures."""

from datetime import date
from decimal import Decimal

from sqlalchemy import select

from app.models import Notification
from app.tenancy import Actor, acting_as
from inventory import expiry


def _notes(db_session):
    return db_session.execute(select(Notification.dedupe_key, Notification.audience_role,
                                     Notification.distributor_id, Notification.title)
                              .where(Notification.kind == "near_expiry").order_by(Notification.id)).all()


def test_window_for():
    assert [expiry.window_for(d, (30, 90, 180)) for d in (-1, 0, 30, 31, 90, 91, 180, 181)] == [
        0, 30, 30, 90, 90, 180, 180, None]


def test_alerts_once_per_lot_per_window(db_session, channel_world):
    w = channel_world
    lots = w["lots"]
    assert expiry.scan_near_expiry() == 6
    keys = {(k, role, d) for k, role, d, _t in _notes(db_session)}
    assert keys == {
        (f"near_expiry:{lots['L1'].id}:90:channel_manager", "channel_manager", None),
        (f"near_expiry:{lots['L1'].id}:90:distributor:{w['d1'].id}", "distributor", w["d1"].id),
        (f"near_expiry:{lots['L1'].id}:90:distributor:{w['d2'].id}", "distributor", w["d2"].id),
        (f"near_expiry:{lots['L3'].id}:30:channel_manager", "channel_manager", None),
        (f"near_expiry:{lots['L3'].id}:30:distributor:{w['d3'].id}", "distributor", w["d3"].id),
        (f"near_expiry:{lots['L4'].id}:0:channel_manager", "channel_manager", None),
    }
    titles = {k: t for k, _r, _d, t in _notes(db_session)}
    assert "L1" in titles[f"near_expiry:{lots['L1'].id}:90:channel_manager"]
    assert "775" in titles[f"near_expiry:{lots['L1'].id}:90:channel_manager"]  # all holders: 600 + 20 + 140 + 15
    assert "140" in titles[f"near_expiry:{lots['L1'].id}:90:distributor:{w['d1'].id}"]  # D1's own stock only
    # the next run, the same day or any later day in the same windows, creates nothing
    assert expiry.scan_near_expiry() == 0
    assert expiry.scan_near_expiry(date(2026, 6, 20)) == 0
    # L1 crosses into the 30-day window on 2026-07-02: one new alert for each audience
    assert expiry.scan_near_expiry(date(2026, 7, 2)) == 3
    assert expiry.scan_near_expiry(date(2026, 7, 3)) == 0
    assert len(_notes(db_session)) == 9


def test_scan_task_commits_and_is_idempotent(app, db_session, channel_world):
    task = app.extensions["celery"].tasks["inventory.tasks.scan_near_expiry"]  # this app's (eager) Celery
    assert task.delay().get() == 6
    assert task.delay().get() == 0
    assert "inventory.tasks.scan_near_expiry" in {e["task"] for e in app.config["CELERY"]["beat_schedule"].values()}


def test_windows_are_configurable(app, db_session, channel_world):
    app.config["NEAR_EXPIRY_WINDOWS"] = (60,)
    try:
        created = expiry.scan_near_expiry()
    finally:
        app.config["NEAR_EXPIRY_WINDOWS"] = (180, 90, 30)
    assert created == 6  # the same lots, all in the one 60-day window (L4 expired: window 0)
    assert {k.split(":")[2] for k, *_ in _notes(db_session)} == {"60", "0"}


def test_dashboard_figures(db_session, channel_world):
    data = expiry.near_expiry()
    assert data.window == 180
    assert {g.key: g.quantity for g in data.by_tier} == {0: 930, 1: 340, 2: 15}
    assert {g.label: g.quantity for g in data.by_province} == {"浙江省": 1050, "广东省": 200, "江苏省": 15, "—": 20}
    assert {g.key: g.quantity for g in data.by_distributor} == {None: 930, "CH-D1": 140, "CH-D3": 200, "CH-D2": 15}
    assert data.total_quantity == 1285
    assert {(ln["lot_no"], ln["location_code"]): ln["days_left"] for ln in data.lines} == {
        ("L4", "MAN-WH"): -14, ("L3", "MAN-WH"): 20, ("L3", "WH-CH-D3"): 20, ("L1", "MAN-WH"): 47,
        ("L1", "MAN-Q"): 47, ("L1", "WH-CH-D1"): 47, ("L1", "WH-CH-D2"): 47}
    # no price source: values are unknown (None), not zero
    assert data.total_value is None and all(ln["value"] is None for ln in data.lines)
    narrow = expiry.near_expiry(expiry.NearExpiryFilters(window=30))
    assert {ln["lot_no"] for ln in narrow.lines} == {"L3", "L4"}
    assert {ln["lot_no"] for ln in expiry.near_expiry(expiry.NearExpiryFilters(distributor="CH-D2")).lines} == {"L1"}


def test_value_seam(db_session, channel_world):
    lots = channel_world["lots"]
    expiry.set_unit_value_source(lambda ids: {i: Decimal("2.50") for i in ids})
    try:
        data = expiry.near_expiry(expiry.NearExpiryFilters(distributor="CH-D1"))
    finally:
        expiry.set_unit_value_source(None)
    assert data.total_value == Decimal("350.00")  # 140 × 2.50
    assert [ln["value"] for ln in data.lines if ln["lot_id"] == lots["L1"].id] == [Decimal("350.00")]


def test_a_distributor_sees_only_its_own_near_expiry(db_session, channel_world):
    with acting_as(Actor(None, "d1", channel_world["d1"].id)):
        data = expiry.near_expiry()
    assert {(ln["lot_no"], ln["location_code"]) for ln in data.lines} == {("L1", "WH-CH-D1")}
    assert data.total_quantity == 140
