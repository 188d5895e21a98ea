"""The scheduler's agreement jobs, run through their Celery tasks (eager in tests): expiry, reminders, and the
distributors without a valid agreement or licence. Each is idempotent: a second run creates nothing new."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from app.models import AuditLog, Distributor, Notification
from distribution import agreements as svc
from distribution.agreement_jobs import agreement_gaps
from distribution.models.agreements import Agreement
from distribution.tasks import run_agreement_expiry, scan_agreement_gaps
from tests.conftest import TODAY
from tests.integration.distribution.agreement_world import AgreementWorld


@pytest.fixture
def aw(request):
    return AgreementWorld.build(request)


def notes(db_session, kind):
    return db_session.execute(select(Notification).where(Notification.kind == kind)
                              .order_by(Notification.id)).scalars().all()


def set_today(app, monkeypatch, day: date) -> None:
    monkeypatch.setitem(app.config, "FIXED_TODAY", day)


def test_beat_schedule_runs_the_jobs_daily(app):
    schedule = app.config["CELERY"]["beat_schedule"]
    assert schedule["agreement-expiry"]["task"] == "distribution.tasks.run_agreement_expiry"
    assert schedule["agreement-gaps-scan"]["task"] == "distribution.tasks.scan_agreement_gaps"
    assert {"distribution.tasks.run_agreement_expiry", "distribution.tasks.scan_agreement_gaps"} <= set(
        app.extensions["celery"].tasks)


def test_expiry_moves_ended_agreements_to_expired_once(aw, db_session, app, monkeypatch):
    ended = aw.active(start_date=date(2025, 7, 1), end_date=date(2026, 6, 30), targets=[])
    last_day = aw.active(start_date=date(2025, 7, 1), end_date=TODAY, product_codes=[aw.pb1.code], targets=[])
    db_session.execute(update(Agreement).where(Agreement.id == ended.id).values(end_date=TODAY - timedelta(days=1)))
    assert run_agreement_expiry.delay().get() == {"expired": 1, "reminders": 2}  # + the last-day one's reminder
    db_session.expire_all()
    assert (ended.status, last_day.status) == ("expired", "active")
    assert ended.expired_at is not None and ended.events[-1].action == "expire"
    audit = db_session.execute(select(AuditLog).where(AuditLog.action == "expire")).scalar_one()
    assert (audit.entity_id, audit.actor, audit.after) == (str(ended.id), "system", {"status": "expired"})
    expired_notes = notes(db_session, "agreement_expired")
    assert {(n.audience_role, n.distributor_id) for n in expired_notes} == {("channel_manager", None),
                                                                            ("distributor", aw.d.id)}
    assert expired_notes[0].link == f"/distribution/agreements/{ended.id}"
    assert run_agreement_expiry.delay().get() == {"expired": 0, "reminders": 0}
    set_today(app, monkeypatch, TODAY + timedelta(days=1))
    assert run_agreement_expiry.delay().get() == {"expired": 1, "reminders": 0}
    db_session.expire_all()
    assert last_day.status == "expired"


def test_reminders_once_per_agreement_per_threshold(aw, db_session, app, monkeypatch):
    def ending_in(days, product):
        return aw.active(start_date=date(2026, 1, 1), end_date=TODAY + timedelta(days=days),
                         product_codes=[product.code], targets=[])

    in_5, in_20, in_45 = ending_in(5, aw.pa1), ending_in(20, aw.pa2), ending_in(45, aw.pb1)
    aw.active(start_date=date(2026, 1, 1), end_date=TODAY + timedelta(days=61), product_codes=[],
              product_line_codes=[aw.make_product(code="AG-PC1").product_line.code], targets=[])  # not yet
    assert run_agreement_expiry.delay().get() == {"expired": 0, "reminders": 6}
    keys = {n.dedupe_key for n in notes(db_session, "agreement_expiry")}
    end = {a.id: (TODAY + timedelta(days=d)).isoformat() for a, d in ((in_5, 5), (in_20, 20), (in_45, 45))}
    assert keys == {f"agreement_expiry:{a.id}:{end[a.id]}:{t}:{role}"
                    for a, t in ((in_5, 7), (in_20, 30), (in_45, 60)) for role in ("channel_manager", "distributor")}
    in_5_notes = [n for n in notes(db_session, "agreement_expiry") if f":{in_5.id}:" in n.dedupe_key]
    assert {n.distributor_id for n in in_5_notes} == {None, aw.d.id}
    assert in_5.number in in_5_notes[0].title
    assert run_agreement_expiry.delay().get() == {"expired": 0, "reminders": 0}  # once
    # 16 days on: in_5 has ended; in_20 is 4 days out (7), in_45 29 days (30), the 61-day one 45 days (60)
    set_today(app, monkeypatch, TODAY + timedelta(days=16))
    assert run_agreement_expiry.delay().get() == {"expired": 1, "reminders": 6}
    assert run_agreement_expiry.delay().get() == {"expired": 0, "reminders": 0}


def test_terminated_agreements_get_no_reminders(aw, db_session):
    a = aw.active(start_date=date(2026, 1, 1), end_date=TODAY + timedelta(days=3), targets=[])
    svc.terminate_agreement(a, aw.cm1, "提前终止")
    assert run_agreement_expiry.delay().get() == {"expired": 0, "reminders": 0}


def test_distributors_without_a_valid_agreement_or_licence(aw, db_session, make_distributor):
    covered = aw.d
    aw.active(targets=[])
    none = make_distributor(code="AGD-NONE")
    future = make_distributor(code="AGD-FUTURE")
    aw.active(distributor_code=future.code, start_date=date(2026, 7, 1), end_date=date(2027, 6, 30), targets=[])
    lapsed = make_distributor(code="AGD-LAPSED")
    old = aw.active(distributor_code=lapsed.code, start_date=date(2025, 7, 1), end_date=date(2026, 6, 30), targets=[])
    svc.terminate_agreement(old, aw.cm1, "停止合作")
    make_distributor(code="AGD-LIC", licence_expiry="2026-06-14")
    no_gsp = make_distributor(code="AGD-GSP")
    aw.active(distributor_code=no_gsp.code, targets=[])
    db_session.execute(update(Distributor).where(Distributor.id == no_gsp.id).values(gsp_expiry=date(2026, 1, 31)))
    db_session.expire_all()
    make_distributor(code="AGD-SUSP", status="suspended")  # not active: not listed
    gaps = {g.distributor.code: g for g in agreement_gaps() if g.distributor.code.startswith("AGD")}
    assert covered.code not in gaps and "AGD-SUSP" not in gaps
    assert gaps["AGD-NONE"].reasons == ["no_agreement"] and gaps["AGD-NONE"].last_end is None
    assert (gaps["AGD-FUTURE"].reasons, gaps["AGD-FUTURE"].next_start) == (["no_agreement"], date(2026, 7, 1))
    assert (gaps["AGD-LAPSED"].reasons, gaps["AGD-LAPSED"].last_end) == (["no_agreement"], date(2026, 6, 30))
    assert gaps["AGD-LIC"].reasons == ["no_agreement", "licence_expired"]
    assert gaps["AGD-GSP"].reasons == ["gsp_expired"]
    assert none.id == gaps["AGD-NONE"].distributor.id


def test_gap_scan_notifies_when_the_list_changes(aw, db_session, make_distributor):
    make_distributor(code="AGD-SCAN")
    assert scan_agreement_gaps.delay().get() == 1
    note = notes(db_session, "agreement_gaps")[-1]
    assert (note.audience_role, note.distributor_id, note.link) == ("channel_manager", None,
                                                                   "/distribution/agreement-gaps")
    assert "AGD-SCAN" in note.body and "AGD-1" in note.body
    assert scan_agreement_gaps.delay().get() == 0  # the same list: nothing new
    aw.active(targets=[])  # AGD-1 gets an agreement: the list changes
    assert scan_agreement_gaps.delay().get() == 1
    assert "AGD-1 " not in notes(db_session, "agreement_gaps")[-1].body
    total = db_session.execute(select(func.count()).select_from(Notification)
                               .where(Notification.kind == "agreement_gaps")).scalar_one()
    assert total == 2


def test_licence_expiry_makes_an_agreed_distributor_a_gap(aw, db_session):
    aw.active(targets=[])
    assert aw.d.code not in {g.distributor.code for g in agreement_gaps()}
    db_session.execute(update(Distributor).where(Distributor.id == aw.d.id).values(licence_expiry=date(2026, 6, 1)))
    db_session.expire_all()
    gap = next(g for g in agreement_gaps() if g.distributor.code == aw.d.code)
    assert gap.reasons == ["licence_expired"]
