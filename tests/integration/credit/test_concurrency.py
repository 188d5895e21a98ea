"""Many threads reserving credit for one distributor at once never together exceed its limit (PostgreSQL row lock
on the credit account, real commits)."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.concurrency import committed_app as committed
from tests.concurrency import run_concurrently

DB = "drp_test_credit_concurrency"


def _seed():
    from app.masterdata import services as md
    from app.masterdata.resources import distributors

    md.save_record(distributors, {"code": "CC-CR", "name": "并发信用医药", "tier": 1, "region_code": "330100",
                                  "licence_no": "x", "licence_expiry": "2030-01-01"})


@pytest.fixture(scope="module")
def committed_app(tmp_path_factory):
    with committed(DB, tmp_path_factory.mktemp("credit"), _seed) as app:
        yield app


def test_concurrent_reservations_never_exceed_the_limit(committed_app):
    app, n = committed_app, 16
    with app.app_context():
        from app.extensions import db
        from app.models import Distributor
        from credit import services

        d = db.session.execute(select(Distributor).where(Distributor.code == "CC-CR")).scalar_one()
        did = d.id
        services.post_invoice(d, None, Decimal("250.00"), services.clock.today(), reference="CC-INV")
        services.set_credit_terms(d, limit=Decimal("1000.00"), reason="并发测试")  # 750.00 available
        db.session.commit()
        db.session.remove()

    def reserve(i):
        from credit import services

        return services.check_and_reserve(did, f"CC-SO-{i}", Decimal("100.00")).approved

    results, errors = run_concurrently(app, n, reserve)
    assert errors == []
    assert results.count(True) == 7 and results.count(False) == n - 7
    with app.app_context():
        from app.extensions import db
        from credit import services
        from credit.models import CreditReservation

        active = db.session.execute(select(func.sum(CreditReservation.amount))
                                    .where(CreditReservation.status == "active")).scalar_one()
        assert active == Decimal("700.00")
        assert services.exposure(did).available == Decimal("50.00")
        assert db.session.execute(select(func.count()).select_from(CreditReservation)
                                  .where(CreditReservation.status == "held")).scalar_one() == n - 7
        db.session.remove()
