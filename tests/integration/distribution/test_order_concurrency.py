"""Many orders for one distributor placed at the same moment, from many threads with real commits on PostgreSQL,
never together pass the credit limit: the approved total stays within it and the rest are held."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.concurrency import committed_app as committed
from tests.concurrency import run_concurrently

DB = "drp_test_order_concurrency"
THREADS = 24
LIMIT = Decimal("1000.00")  # each order: 1 case of 10 × 11.0000 = 110.00 → at most 9 fit


def _seed():
    from app.auth.services import create_user
    from app.extensions import db
    from app.masterdata import services as md
    from app.masterdata.resources import distributors, product_lines, products
    from credit import services as credit
    from distribution import agreements, price_lists
    from distribution.agreement_schemas import AgreementInSchema

    md.save_record(product_lines, {"code": "OC", "name": "并发"})
    md.save_record(products, {"code": "OC-P", "generic_name": "并发药", "specification": "1", "dosage_form": "片剂",
                              "base_unit": "盒", "pack_size": 10, "shelf_life_months": 36,
                              "product_line_code": "OC"})
    d = md.save_record(distributors, {"code": "OC-D", "name": "并发医药", "tier": 1, "region_code": "330100",
                                      "licence_no": "x", "licence_expiry": "2030-01-01"})
    cm1 = create_user("oc-cm1", "Test-password-1", "channel_manager")
    cm2 = create_user("oc-cm2", "Test-password-1", "channel_manager")
    create_user("oc-fin", "Test-password-1", "finance")
    tier1 = price_lists.save_price_list({"code": "OC-T1", "name": "一级", "kind": "tier1_supply"})
    price_lists.add_item(tier1, db.session.execute(select(products.model).where(products.model.code == "OC-P"))
                         .scalar_one(), 1, "base", Decimal("11.0000"), date(2026, 1, 1))
    a = agreements.create_draft(AgreementInSchema().load({
        "distributor_code": "OC-D", "start_date": "2026-01-01", "end_date": "2026-12-31",
        "payment_terms_days": 30, "proposed_credit_limit": "1000.00", "product_codes": ["OC-P"],
        "region_codes": ["330000"]}), cm1)
    agreements.submit_agreement(a, cm1)
    agreements.approve_agreement(a, cm2)
    credit.set_credit_terms(d, limit=LIMIT, reason="test")


@pytest.fixture(scope="module")
def committed_app(tmp_path_factory):
    with committed(DB, tmp_path_factory.mktemp("orders"), _seed) as app:
        yield app


def test_concurrent_orders_never_exceed_the_limit(committed_app):
    app = committed_app

    def load(i):
        from app.extensions import db
        from app.models import Distributor, User

        user = db.session.execute(select(User).where(User.username == "oc-cm1")).scalar_one()
        return user, db.session.execute(select(Distributor).where(Distributor.code == "OC-D")).scalar_one()

    def place(i, loaded):
        from app.tenancy import acting_as, actor_for_user
        from distribution.orders import place_order

        user, d = loaded
        with acting_as(actor_for_user(user)):
            return place_order(d, [{"product_code": "OC-P", "quantity": 1, "unit": "case"}], user).status

    statuses, errors = run_concurrently(app, THREADS, place, prepare=load, timeout=120)
    assert errors == []
    assert len(statuses) == THREADS
    with app.app_context():
        from app.extensions import db
        from app.models import Distributor
        from credit import services as credit
        from distribution.models.orders import Order

        rows = db.session.execute(select(Order.status, Order.total)).all()
        approved = sum((t for s, t in rows if s == "approved"), Decimal("0.00"))
        assert approved <= LIMIT
        assert sum(1 for s, _t in rows if s == "approved") == 9  # every order that fits got through
        assert sum(1 for s, _t in rows if s == "credit_hold") == THREADS - 9
        d = db.session.execute(select(Distributor).where(Distributor.code == "OC-D")).scalar_one()
        assert credit.exposure(d).reserved == approved
        db.session.remove()
