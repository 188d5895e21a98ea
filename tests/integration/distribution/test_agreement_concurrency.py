"""Two activations at once, on PostgreSQL with real commits (a throw-away database built by the migrations).

Activation takes SELECT … FOR UPDATE on the distributor's row before it checks for an overlapping active agreement,
so of two concurrent activations that overlap, the second waits for the first to commit, then sees it and is refused.
The control test takes the lock away and shows both slipping through: the race the lock closes is real.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from datetime import date

import pytest
from celery import current_app as current_celery
from sqlalchemy import create_engine, func, select, text

from app.extensions import db
from app.models import Distributor, Product, ProductLine, Region, User
from app.tenancy import acting_as, actor_for_user
from distribution import agreements as svc
from distribution.agreement_schemas import AgreementInSchema
from distribution.models.agreements import Agreement, AgreementEvent
from tests.conftest import create_database, drop_database, make_app

_n = itertools.count(1)


@pytest.fixture(scope="module")
def pg_app(tmp_path_factory):
    """An app on its own PostgreSQL database, migrated from empty; dropped afterwards."""
    name = f"drp_agreement_race_{os.getpid()}"
    url = create_database(name)
    previous = current_celery._get_current_object()
    try:
        app = make_app(url, tmp_path_factory.mktemp("race"))
    finally:  # creating an app must not leave its Celery app as the process default
        previous.set_current()
        previous.set_default()
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.session.add(Region(code="330000", name="浙江省", official_name="浙江省", level=1))
        db.session.commit()
        db.session.remove()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    drop_database(name)


@pytest.fixture
def race(pg_app):
    """Two submitted agreements of one new distributor covering the same product in the same year, and the users."""
    from app.auth.services import create_user

    n = next(_n)
    with pg_app.test_request_context():
        region = db.session.execute(select(Region).where(Region.code == "330000")).scalar_one()
        line = ProductLine(code=f"RACE-PL{n}", name="并发")
        product = Product(code=f"RACE-P{n}", generic_name="并发药", specification="1", dosage_form="片剂",
                          base_unit="盒", pack_size=10, shelf_life_months=24, product_line=line)
        d = Distributor(code=f"RACE-D{n}", name=f"并发医药{n}", tier=1, region=region, licence_no="X",
                        licence_expiry=date(2030, 12, 31))
        db.session.add_all([line, product, d])
        db.session.flush()
        users = {role: create_user(f"race{n}-{role}", "Race-password-1", role)
                 for role in ("channel_manager", "admin")}
        submitter = create_user(f"race{n}-submitter", "Race-password-1", "channel_manager")
        ids = []
        for products, lines in (([product.code], []), ([], [line.code])):  # directly, and through the line
            data = AgreementInSchema().load({
                "distributor_code": d.code, "start_date": "2026-01-01", "end_date": "2026-12-31",
                "payment_terms_days": 30, "proposed_credit_limit": "1000.00", "product_codes": products,
                "product_line_codes": lines, "region_codes": ["330000"]})
            with acting_as(actor_for_user(submitter)):
                a = svc.create_draft(data, submitter)
                svc.submit_agreement(a, submitter)
            ids.append(a.id)
        db.session.commit()
        out = {"agreements": ids, "distributor": d.id, "cm": users["channel_manager"].id,
               "admin": users["admin"].id}
        db.session.remove()
    return out


class Approval(threading.Thread):
    """Approve one agreement in its own app context, session and connection; hold the transaction open after the
    approval until ``release`` is set, then commit (or roll back on refusal)."""

    def __init__(self, app, agreement_id: int, user_id: int, release: threading.Event | None = None):
        super().__init__(daemon=True)
        self.app, self.agreement_id, self.user_id = app, agreement_id, user_id
        self.release = release
        self.flushed = threading.Event()
        self.outcome: str | Exception | None = None

    def run(self):
        with self.app.test_request_context():
            try:
                user = db.session.get(User, self.user_id)
                with acting_as(actor_for_user(user)):
                    agreement = db.session.get(Agreement, self.agreement_id)
                    svc.approve_agreement(agreement, user)
                    self.flushed.set()
                    if self.release is not None:
                        assert self.release.wait(30)
                    db.session.commit()
                    self.outcome = "active"
            except Exception as exc:  # noqa: BLE001 - handed to the test thread
                db.session.rollback()
                self.outcome = exc
            finally:
                self.flushed.set()
                db.session.remove()


def lock_waiters(app) -> int:
    """Backends of the race database waiting for a row lock."""
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as conn:
            return conn.execute(text("select count(*) from pg_stat_activity where datname = current_database()"
                                     " and wait_event_type = 'Lock'")).scalar_one()
    finally:
        engine.dispose()


def wait_for(predicate, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def actives(app, distributor_id: int) -> int:
    with app.app_context():
        try:
            return db.session.execute(select(func.count()).select_from(Agreement).where(
                Agreement.distributor_id == distributor_id, Agreement.status == "active")).scalar_one()
        finally:
            db.session.remove()


def test_two_concurrent_overlapping_activations_cannot_both_pass(pg_app, race):
    first_id, second_id = race["agreements"]
    release = threading.Event()
    first = Approval(pg_app, first_id, race["cm"], release)
    first.start()
    assert first.flushed.wait(30) and first.outcome is None, first.outcome  # activated, not yet committed
    second = Approval(pg_app, second_id, race["admin"])
    second.start()
    # the second activation is blocked on the distributor's row lock while the first is uncommitted
    assert wait_for(lambda: lock_waiters(pg_app) >= 1), "the second activation did not wait for the lock"
    assert second.outcome is None
    release.set()
    first.join(30)
    second.join(30)
    assert first.outcome == "active"
    assert isinstance(second.outcome, svc.RuleViolation), second.outcome
    assert "AG2026-RACE-D1-01" in second.outcome.message and "RACE-P1" in second.outcome.message
    assert actives(pg_app, race["distributor"]) == 1


def test_control_without_the_lock_both_slip_through(pg_app, race, monkeypatch):
    """Proves the test above means something: with the distributor lock replaced by a plain read, the second
    activation does not wait, cannot see the first (uncommitted) one, and both commit."""
    monkeypatch.setattr(svc, "_lock_distributor", lambda distributor_id: db.session.get(Distributor, distributor_id))
    first_id, second_id = race["agreements"]
    release = threading.Event()
    first = Approval(pg_app, first_id, race["cm"], release)
    first.start()
    assert first.flushed.wait(30) and first.outcome is None, first.outcome
    second = Approval(pg_app, second_id, race["admin"])
    second.start()
    second.join(30)  # nothing to wait for
    release.set()
    first.join(30)
    assert (first.outcome, second.outcome) == ("active", "active")
    assert actives(pg_app, race["distributor"]) == 2


def test_two_people_approving_the_same_agreement_at_once(pg_app, race):
    agreement_id = race["agreements"][0]
    release = threading.Event()
    first = Approval(pg_app, agreement_id, race["cm"], release)
    first.start()
    assert first.flushed.wait(30) and first.outcome is None, first.outcome
    second = Approval(pg_app, agreement_id, race["admin"])
    second.start()
    assert wait_for(lambda: lock_waiters(pg_app) >= 1)
    release.set()
    first.join(30)
    second.join(30)
    assert first.outcome == "active"
    assert isinstance(second.outcome, svc.WrongState), second.outcome  # it re-read the row after the lock
    with pg_app.app_context():
        events = db.session.execute(select(AgreementEvent.action).where(
            AgreementEvent.agreement_id == agreement_id)).scalars().all()
        db.session.remove()
    assert events.count("activate") == 1
