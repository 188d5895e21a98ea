"""Concurrent allocations on PostgreSQL cannot take the same units twice (row locks), with real commits."""

from datetime import date

import pytest
from sqlalchemy import func, select

from tests.concurrency import committed_app as committed
from tests.concurrency import run_concurrently


def _seed():
    from app.extensions import db
    from app.masterdata import services as md
    from app.masterdata.resources import distributors, product_lines, products
    from app.models import StockLocation

    md.save_record(product_lines, {"code": "CC", "name": "并发"})
    md.save_record(products, {"code": "CC-P", "generic_name": "并发药", "specification": "1", "dosage_form": "片剂",
                              "base_unit": "盒", "pack_size": 10, "shelf_life_months": 36,
                              "product_line_code": "CC"})
    for i in range(4):
        md.save_record(distributors, {"code": f"CC-D{i}", "name": f"并发医药{i}", "tier": 1,
                                      "region_code": "330100", "licence_no": "x", "licence_expiry": "2030-01-01"})
    db.session.add(StockLocation(code="CC-WH", name="总仓", kind="manufacturer"))


@pytest.fixture(scope="module")
def committed_app(tmp_path_factory):
    with committed("drp_test_inventory_concurrency", tmp_path_factory.mktemp("inv"), _seed) as app:
        yield app


def test_concurrent_allocate_and_ship_never_oversells(committed_app):
    app = committed_app
    with app.app_context():
        from app.extensions import db
        from app.models import Product, StockLocation
        from inventory import services

        product = db.session.execute(select(Product).where(Product.code == "CC-P")).scalar_one()
        wh = db.session.execute(select(StockLocation).where(StockLocation.code == "CC-WH")).scalar_one()
        for i, (exp, qty) in enumerate([(date(2027, 6, 1), 60), (date(2028, 6, 1), 60)]):
            lot = services.register_lot(product, f"CC-L{i}", date(2026, 1, 1), exp)
            services.post_movement("receipt", lot, qty, to_location=wh)
        db.session.commit()
        db.session.remove()

    def ship(i):
        from app.extensions import db
        from app.models import Product, StockLocation
        from inventory import services
        from inventory.models import Lot

        product = db.session.execute(select(Product).where(Product.code == "CC-P")).scalar_one()
        wh = db.session.execute(select(StockLocation).where(StockLocation.code == "CC-WH")).scalar_one()
        dest = db.session.execute(select(StockLocation).where(StockLocation.code == f"WH-CC-D{i}")).scalar_one()
        allocation = services.allocate(product, 50, wh, destination_tier=1)
        for pick in allocation.picks:
            lot = db.session.get(Lot, pick.lot_id)
            services.post_movement("shipment", lot, pick.quantity, from_location=wh, to_location=dest)
        return allocation.allocated

    results, errors = run_concurrently(app, 4, ship)
    assert errors == []
    assert sorted(results) == [0, 20, 50, 50]  # 120 units for 4 × 50: the last gets nothing, one gets the rest
    with app.app_context():
        from app.extensions import db
        from inventory.models import StockBalance
        from inventory.services import ledger_sum

        rows = db.session.execute(select(StockBalance)).scalars().all()
        assert all(b.quantity >= 0 for b in rows)
        assert sum(b.quantity for b in rows) == 120
        for b in rows:
            assert b.quantity == ledger_sum(b.location_id, b.lot_id)
        assert db.session.execute(select(func.count()).select_from(StockBalance)).scalar_one() >= 4
        db.session.remove()
