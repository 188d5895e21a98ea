"""Concurrent return requests for the same shipped units, from many threads with real commits on PostgreSQL: the
distributor's row lock makes them check one after the other, so together they never return more than was shipped."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.concurrency import committed_app as committed
from tests.concurrency import run_concurrently

DB = "drp_test_return_concurrency"
THREADS = 6
SHIPPED = 50  # each request asks for 30: only one fits


def _seed():
    from app.auth.services import create_user
    from app.extensions import db
    from app.masterdata import services as md
    from app.masterdata.resources import distributors, product_lines, products
    from app.models import StockLocation
    from app.tenancy import acting_as, actor_for_user
    from credit import services as credit
    from distribution import agreements, orders, price_lists
    from distribution.agreement_schemas import AgreementInSchema
    from inventory import services as inventory

    md.save_record(product_lines, {"code": "RC", "name": "并发退货"})
    p = md.save_record(products, {"code": "RC-P", "generic_name": "并发退货药", "specification": "1",
                                  "dosage_form": "片剂", "base_unit": "盒", "pack_size": 10, "shelf_life_months": 36,
                                  "product_line_code": "RC"})
    d = md.save_record(distributors, {"code": "RC-D", "name": "并发退货医药", "tier": 1, "region_code": "330100",
                                      "licence_no": "x", "licence_expiry": "2030-01-01"})
    cm1 = create_user("rc-cm1", "Test-password-1", "channel_manager")
    cm2 = create_user("rc-cm2", "Test-password-1", "channel_manager")
    create_user("rc-dist", "Test-password-1", "distributor", distributor_code="RC-D")
    tier1 = price_lists.save_price_list({"code": "RC-T1", "name": "一级", "kind": "tier1_supply"})
    price_lists.add_item(tier1, p, 1, "base", Decimal("10.0000"), date(2026, 1, 1))
    a = agreements.create_draft(AgreementInSchema().load({
        "distributor_code": "RC-D", "start_date": "2026-01-01", "end_date": "2026-12-31", "payment_terms_days": 30,
        "proposed_credit_limit": "100000.00", "product_codes": ["RC-P"], "region_codes": ["330000"]}), cm1)
    agreements.submit_agreement(a, cm1)
    agreements.approve_agreement(a, cm2)
    credit.set_credit_terms(d, limit=Decimal("100000"), reason="test")
    wh = StockLocation(code="RC-WH", name="总仓", kind="manufacturer")
    db.session.add(wh)
    db.session.flush()
    lot = inventory.register_lot(p, "RC-LOT", date(2026, 1, 1), date(2028, 1, 1))
    inventory.post_movement("receipt", lot, 100, to_location=wh)
    with acting_as(actor_for_user(cm1)):
        order = orders.place_order(d, [{"product_code": "RC-P", "quantity": SHIPPED // 10, "unit": "case"}], cm1)
        orders.ship_order(order, cm1)


@pytest.fixture(scope="module")
def committed_app(tmp_path_factory):
    with committed(DB, tmp_path_factory.mktemp("returns"), _seed) as app:
        yield app


def test_concurrent_requests_never_return_more_than_shipped(committed_app):
    app = committed_app

    def load(i):
        from app.extensions import db
        from app.models import User

        user = db.session.execute(select(User).where(User.username == "rc-dist")).scalar_one()
        return user, user.distributor

    def request(i, loaded):
        from app.tenancy import acting_as, actor_for_user
        from distribution.returns import request_return

        user, d = loaded
        with acting_as(actor_for_user(user)):
            return request_return(d, [{"product_code": "RC-P", "lot_no": "RC-LOT", "quantity": 30,
                                       "reason": "wrong_shipment"}], user).number

    numbers, errors = run_concurrently(app, THREADS, request, prepare=load, timeout=120)
    from distribution.returns import ReturnInvalid

    assert len([n for n in numbers if n]) == 1
    assert len(errors) == THREADS - 1 and all(isinstance(e, ReturnInvalid) for e in errors)
    assert all("20" in e.message for e in errors)  # what is left to return after the one that passed
    with app.app_context():
        from app.extensions import db
        from distribution.models.returns import ReturnLine

        assert db.session.execute(select(func.sum(ReturnLine.quantity))).scalar_one() == 30
        db.session.remove()
