"""The questions other packages ask: which agreement is in force, is a sale authorised, sell-in and achievement."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from app.models import Region
from distribution import agreements as svc
from distribution.rebates import Quarter
from tests.conftest import TODAY
from tests.integration.distribution.agreement_world import AgreementWorld


@pytest.fixture
def aw(request):
    return AgreementWorld.build(request)


def region(db_session, code):
    return db_session.execute(select(Region).where(Region.code == code)).scalar_one()


def test_agreement_in_force_for_a_product_directly_or_through_its_line(aw):
    a = aw.active(product_codes=[aw.pa1.code], product_line_codes=[aw.line_b.code], targets=[])
    assert svc.agreement_in_force(aw.d, aw.pa1, TODAY) == a
    assert svc.agreement_in_force(aw.d, aw.pb1, TODAY) == a  # through line B
    assert svc.agreement_in_force(aw.d, aw.pa2, TODAY) is None  # line A is not authorised, only PA1
    assert svc.agreement_in_force(aw.d, aw.pa1, date(2026, 1, 1)) == a
    assert svc.agreement_in_force(aw.d, aw.pa1, date(2026, 12, 31)) == a
    assert svc.agreement_in_force(aw.d, aw.pa1, date(2027, 1, 1)) is None
    assert svc.agreement_in_force(aw.d, aw.pa1, date(2025, 12, 31)) is None


def test_drafts_and_submitted_agreements_are_not_in_force(aw):
    aw.draft(product_codes=[aw.pa1.code])
    aw.submitted(product_codes=[aw.pa1.code])
    assert svc.agreement_in_force(aw.d, aw.pa1, TODAY) is None
    assert not svc.is_authorised(aw.d, aw.pa1, TODAY)


def test_a_terminated_agreement_stops_on_the_day_it_is_terminated(aw):
    a = aw.active(product_codes=[aw.pa1.code], targets=[])
    svc.terminate_agreement(a, aw.cm1, "停止合作")
    assert svc.agreement_in_force(aw.d, aw.pa1, TODAY) is None
    assert svc.agreement_in_force(aw.d, aw.pa1, TODAY - timedelta(days=1)) == a  # looking back


def test_an_expired_agreement_governed_its_period_looking_back(aw):
    a = aw.active(start_date=date(2025, 7, 1), end_date=date(2026, 6, 30), targets=[])
    a.end_date = date(2026, 6, 14)
    svc.expire_agreement(a)
    assert svc.agreement_in_force(aw.d, aw.pa1, date(2026, 3, 1)) == a
    assert svc.agreement_in_force(aw.d, aw.pa1, TODAY) is None


def test_is_authorised_by_territory_at_any_level(aw, db_session):
    aw.active(region_codes=["330100"], targets=[])  # the city of Hangzhou
    assert svc.is_authorised(aw.d, aw.pa1, TODAY)  # the product alone
    assert svc.is_authorised(aw.d, aw.pa1, TODAY, terminal_region=region(db_session, "330106"))  # a county inside
    assert svc.is_authorised(aw.d, aw.pa1, TODAY, terminal_region=region(db_session, "330100"))  # the city itself
    assert not svc.is_authorised(aw.d, aw.pa1, TODAY, terminal_region=region(db_session, "330000"))  # the province
    assert not svc.is_authorised(aw.d, aw.pa1, TODAY, terminal_region=region(db_session, "330203"))  # Ningbo
    assert not svc.is_authorised(aw.d, aw.pb1, TODAY, terminal_region=region(db_session, "330106"))  # not authorised
    assert not svc.is_authorised(aw.d, aw.pa1, date(2027, 1, 5), terminal_region=region(db_session, "330106"))


def test_named_terminals_are_authorised_wherever_they_are(aw, make_terminal):
    named = make_terminal(code="AG-NAMED", region_code="320102")  # Nanjing, outside the territory
    other_out = make_terminal(code="AG-OUT", region_code="320102")
    inside = make_terminal(code="AG-IN", region_code="330106")
    aw.active(region_codes=["330000"], terminal_codes=[named.code], targets=[])
    assert svc.is_authorised(aw.d, aw.pa1, TODAY, terminal=named)
    assert svc.is_authorised(aw.d, aw.pa1, TODAY, terminal=inside)
    assert not svc.is_authorised(aw.d, aw.pa1, TODAY, terminal=other_out)


def test_terminals_only_agreement(aw, make_terminal):
    named = make_terminal(code="AG-ONLY", region_code="330106")
    neighbour = make_terminal(code="AG-NEXT", region_code="330106")
    aw.active(region_codes=[], terminal_codes=[named.code], targets=[])
    assert svc.is_authorised(aw.d, aw.pa1, TODAY, terminal=named)
    assert not svc.is_authorised(aw.d, aw.pa1, TODAY, terminal=neighbour)


def test_sell_in_is_zero_per_quarter_until_orders_exist(aw):
    a = aw.active(start_date=date(2026, 4, 1), end_date=date(2027, 3, 31), targets=[])
    assert svc.SELL_IN_SOURCE == "orders"  # no shipped orders in this test: zero
    assert svc.sell_in_by_quarter(a) == {Quarter(2026, 2): (D("0.00"), 0), Quarter(2026, 3): (D("0.00"), 0),
                                         Quarter(2026, 4): (D("0.00"), 0), Quarter(2027, 1): (D("0.00"), 0)}


def test_achievement_from_the_sell_in_seam(aw, monkeypatch):
    """What the orders issue will plug in: rows from _sell_in_rows flow into the quarters and the rebate."""
    a = aw.active(product_codes=[aw.pa1.code, aw.pa2.code], targets=[
        {"quarter": "2026Q1", "product_code": aw.pa1.code, "amount": "60000.00", "quantity": 600},
        {"quarter": "2026Q1", "product_code": aw.pa2.code, "amount": "40000.00", "quantity": 400},
        {"quarter": "2026Q2", "product_code": aw.pa1.code, "amount": "100000.00", "quantity": 1000}])
    seen = {}

    def rows(distributor_id, coverage, start, end):
        seen.update(distributor=distributor_id, products=set(coverage.products), start=start, end=end)
        return [(date(2026, 2, 1), D("50000.00"), 500), (date(2026, 3, 31), D("45000.00"), 450),
                (date(2026, 5, 20), D("100000.00"), 1000), (date(2027, 1, 2), D("999.00"), 1)]

    monkeypatch.setattr(svc, "_sell_in_rows", rows)
    report = svc.agreement_achievement(a)
    assert seen == {"distributor": aw.d.id, "products": {aw.pa1.id, aw.pa2.id}, "start": date(2026, 1, 1),
                    "end": date(2026, 12, 31)}
    q1, q2, q3, q4 = report.rows
    assert (q1.target_amount, q1.sell_in_amount, q1.amount_pct, q1.rebate_pct, q1.rebate_amount) == (
        D("100000.00"), D("95000.00"), D("95.00"), D("1"), D("950.00"))
    assert (q2.amount_pct, q2.rebate_pct, q2.rebate_amount) == (D("100.00"), D("2"), D("2000.00"))
    assert (q3.target_amount, q3.sell_in_amount, q3.amount_pct, q3.rebate_amount) == (D("0.00"), D("0.00"), None,
                                                                                      D("0.00"))
    assert report.total.rebate_amount == D("2950.00")


def test_a_terminated_agreement_counts_sell_in_until_the_day_before(aw, monkeypatch):
    a = aw.active(targets=[])
    svc.terminate_agreement(a, aw.cm1, "x")
    ends = []
    monkeypatch.setattr(svc, "_sell_in_rows", lambda d, c, s, e: ends.append(e) or [])
    svc.sell_in_by_quarter(a)
    assert ends == [TODAY - timedelta(days=1)]
