"""Two concurrent saves of tying items: the row lock makes the second wait and then refuse with the domain error
(PostgreSQL, two real transactions that commit)."""

from __future__ import annotations

import threading
import time
from datetime import date
from decimal import Decimal

from sqlalchemy import delete, func, select

from app.extensions import db
from app.models import Product, ProductLine
from distribution import price_lists as svc
from distribution.models.pricing import PriceItem, PriceList


def _setup(app):
    with app.app_context():
        pl = ProductLine(code="CONC-PL", name="并发")
        product = Product(code="CONC-P", generic_name="并发测试药", specification="1", dosage_form="片剂",
                          base_unit="盒", pack_size=10, shelf_life_months=24, product_line=pl)
        db.session.add(product)
        price_list = svc.save_price_list({"code": "CONC-L", "name": "并发价", "kind": "tier1_supply", "active": False})
        db.session.commit()
        ids = price_list.id, product.id, pl.id
        db.session.remove()
        return ids


def _cleanup(app, list_id, product_id, line_id):
    with app.app_context():
        db.session.execute(delete(PriceItem).where(PriceItem.price_list_id == list_id))
        db.session.execute(delete(PriceList).where(PriceList.id == list_id))
        db.session.execute(delete(Product).where(Product.id == product_id))
        db.session.execute(delete(ProductLine).where(ProductLine.id == line_id))
        db.session.commit()
        db.session.remove()


def test_concurrent_tying_saves_cannot_both_pass(app):
    list_id, product_id, line_id = _setup(app)
    first_flushed = threading.Event()
    outcome: dict = {}

    def save(name, price, hold):
        with app.app_context():
            try:
                pl, product = db.session.get(PriceList, list_id), db.session.get(Product, product_id)
                if name == "second":
                    first_flushed.wait(10)
                started = time.monotonic()
                svc.add_item(pl, product, 1, "base", Decimal(price), date(2026, 1, 1))
                if name == "first":
                    first_flushed.set()
                    time.sleep(hold)  # keep the lock while the other save tries
                db.session.commit()
                outcome[name] = ("saved", time.monotonic() - started)
            except svc.PricingError as exc:
                db.session.rollback()
                outcome[name] = (type(exc).__name__, time.monotonic() - started, exc.message)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                db.session.rollback()
                outcome[name] = (type(exc).__name__, 0, str(exc))
            finally:
                first_flushed.set()
                db.session.remove()

    try:
        threads = [threading.Thread(target=save, args=("first", "10.0000", 0.6)),
                   threading.Thread(target=save, args=("second", "9.0000", 0))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert outcome["first"][0] == "saved"
        assert outcome["second"][0] == "PriceConflict", outcome
        assert outcome["second"][1] >= 0.4  # it waited for the first transaction's lock
        assert "10.0000" in outcome["second"][2] and "9.0000" in outcome["second"][2]
        with app.app_context():
            n = db.session.execute(select(func.count()).select_from(PriceItem)
                                   .where(PriceItem.price_list_id == list_id)).scalar_one()
            db.session.remove()
        assert n == 1
    finally:
        _cleanup(app, list_id, product_id, line_id)
