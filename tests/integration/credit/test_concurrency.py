"""Many threads reserving credit for one distributor at once never together exceed its limit (PostgreSQL row lock
on the credit account, real commits)."""

import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.conftest import REGIONS_DIR, create_database, drop_database, make_app

DB = "drp_test_credit_concurrency"


@pytest.fixture(scope="module")
def committed_app(tmp_path_factory):
    url = create_database(DB)
    app = make_app(url, tmp_path_factory.mktemp("credit"))
    with app.app_context():
        from flask_migrate import upgrade

        from app.extensions import db
        from app.masterdata import services as md
        from app.masterdata.regions import import_regions
        from app.masterdata.resources import distributors

        upgrade()
        import_regions(REGIONS_DIR)
        md.save_record(distributors, {"code": "CC-CR", "name": "并发信用医药", "tier": 1, "region_code": "330100",
                                      "licence_no": "x", "licence_expiry": "2030-01-01"})
        db.session.commit()
        db.session.remove()
    yield app
    with app.app_context():
        from app.extensions import db

        db.engine.dispose()
    drop_database(DB)


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

    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def runner(i):
        with app.app_context():
            from app.extensions import db
            from credit import services

            try:
                barrier.wait(timeout=10)
                results[i] = services.check_and_reserve(did, f"CC-SO-{i}", Decimal("100.00")).approved
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                db.session.rollback()
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
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
