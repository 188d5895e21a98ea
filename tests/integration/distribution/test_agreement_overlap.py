"""Two active agreements of one distributor may not cover the same product (directly or through its product line) in
overlapping periods; checked at activation."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from distribution import agreements as svc
from distribution.models.agreements import Agreement
from tests.integration.distribution.agreement_world import AgreementWorld

H1 = {"start_date": date(2026, 1, 1), "end_date": date(2026, 6, 30)}
H2 = {"start_date": date(2026, 7, 1), "end_date": date(2026, 12, 31)}
YEAR = {"start_date": date(2026, 1, 1), "end_date": date(2026, 12, 31)}


@pytest.fixture
def aw(request):
    return AgreementWorld.build(request)


@pytest.fixture(autouse=True)
def english(app, db_session):
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("en"):
        yield


def cover(aw, products=(), lines=(), period=YEAR, **kw) -> dict:
    return {"product_codes": [p.code for p in products], "product_line_codes": [pl.code for pl in lines],
            "targets": [], **period, **kw}


def refused(aw, second) -> str:
    with pytest.raises(svc.RuleViolation) as exc:
        svc.approve_agreement(second, aw.cm2)
    return exc.value.message


def test_the_same_product_directly(aw):
    first = aw.active(**cover(aw, [aw.pa1, aw.pb1]))
    second = aw.submitted(**cover(aw, [aw.pa1], period=H2))
    message = refused(aw, second)
    assert first.number in message and "AG-PA1" in message and "2026-01-01" in message
    assert "AG-PB1" not in message  # only what they share is named


def test_a_product_and_its_line_either_way(aw):
    aw.active(**cover(aw, [aw.pa2]))
    assert "AG-PA2" in refused(aw, aw.submitted(**cover(aw, lines=[aw.line_a])))


def test_a_line_and_one_of_its_products(aw):
    aw.active(**cover(aw, lines=[aw.line_a]))
    assert "AG-PA1" in refused(aw, aw.submitted(**cover(aw, [aw.pa1, aw.pb1])))


def test_the_same_line(aw):
    aw.active(**cover(aw, lines=[aw.line_b]))
    assert "line AG-PLB" in refused(aw, aw.submitted(**cover(aw, lines=[aw.line_b])))


def test_touching_periods_do_not_overlap_one_shared_day_does(aw):
    aw.active(**cover(aw, [aw.pa1], period=H1))
    assert svc.approve_agreement(aw.submitted(**cover(aw, [aw.pa1], period=H2)), aw.cm2).status == "active"
    shared_day = {"start_date": date(2026, 6, 30), "end_date": date(2026, 9, 30)}
    assert "AG-PA1" in refused(aw, aw.submitted(**cover(aw, [aw.pa1], period=shared_day)))


def test_different_products_in_the_same_period_are_fine(aw):
    aw.active(**cover(aw, [aw.pa1]))
    assert svc.approve_agreement(aw.submitted(**cover(aw, [aw.pa2], lines=[aw.line_b])), aw.cm2).status == "active"


def test_agreements_that_are_not_active_do_not_conflict(aw):
    aw.draft(**cover(aw, [aw.pa1]))
    aw.submitted(**cover(aw, [aw.pa1]))
    terminated = aw.active(**cover(aw, [aw.pa1]))
    svc.terminate_agreement(terminated, aw.admin, "改签")
    expired = aw.active(**cover(aw, [aw.pa1], period={"start_date": date(2025, 7, 1), "end_date": date(2026, 6, 30)}))
    expired.end_date = date(2026, 6, 14)  # ended yesterday: the scheduler expires it
    svc.expire_agreement(expired)
    second = aw.submitted(**cover(aw, [aw.pa1]))
    assert svc.approve_agreement(second, aw.cm2).status == "active"


def test_another_distributors_agreement_does_not_conflict(aw, make_distributor):
    aw.active(**cover(aw, [aw.pa1]))
    other = make_distributor(code="AGD-2")
    second = aw.submitted(**cover(aw, [aw.pa1], distributor_code=other.code))
    assert svc.approve_agreement(second, aw.cm2).status == "active"


def test_a_refused_activation_changes_nothing(aw, db_session):
    aw.active(**cover(aw, [aw.pa1]))
    second = aw.submitted(**cover(aw, [aw.pa1]))
    refused(aw, second)
    db_session.flush()
    db_session.expire_all()
    assert db_session.execute(select(Agreement.status).where(Agreement.id == second.id)).scalar_one() == "submitted"
    active = db_session.execute(select(Agreement).where(Agreement.status == "active")).scalars().all()
    assert len(active) == 1
