"""Price list pages by role: who may read, who may write, field errors, history, price check, my prices."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from distribution import price_lists as svc
from distribution.models.pricing import PriceItem, PriceList
from tests.conftest import TODAY
from tests.integration.distribution.pricing_world import D, PricingWorld

ROLES = ("admin", "channel_manager", "finance", "viewer", "distributor")
WRITERS = ("admin", "channel_manager")


@pytest.fixture
def pw(db_session, make_product, make_distributor):
    return PricingWorld(db_session, make_product, make_distributor)


@pytest.mark.parametrize("role", ROLES)
def test_pages_by_role(login, pw, role):
    item = pw.add(pw.tier1, "10.0000")
    c = login(role, pw.d1 if role == "distributor" else None)
    staff, writer = role != "distributor", role in WRITERS
    lid = pw.tier1.id
    reads = ["/distribution/price-lists/", f"/distribution/price-lists/{lid}",
             f"/distribution/price-lists/{lid}/export.xlsx", "/distribution/price-floors/", "/distribution/price-check"]
    for url in reads:
        assert c.get(url).status_code == (200 if staff else 403), url
    writes = ["/distribution/price-lists/new", f"/distribution/price-lists/{lid}/edit",
              f"/distribution/price-lists/{lid}/items/new", f"/distribution/price-items/{item.id}/change",
              f"/distribution/price-lists/{lid}/import"]
    for url in writes:
        assert c.get(url).status_code == (200 if writer else 403), url
    assert c.post("/distribution/price-floors/", data={"product_code": "PX-1", "floor_price": "1",
                                                    "effective_from": "2026-01-01"}).status_code \
        in ((302,) if writer else (403,))
    assert c.get("/distribution/my-prices").status_code == (403 if staff else 200)
    r = c.get("/distribution/prices")
    assert r.status_code == 302 and r.location.endswith("/distribution/my-prices" if not staff else "/price-lists/")
    home = c.get("/").get_data(as_text=True)
    assert "/distribution/prices" in home  # the navigation entry


def test_create_list_with_field_errors_then_success(login, pw):
    c = login("channel_manager")
    r = c.post("/distribution/price-lists/new", data={"code": "", "name": "", "kind": "provincial_bid"})
    assert r.status_code == 422
    body = r.get_data(as_text=True)
    assert "is-invalid" in body and 'id="f-code"' in body
    r = c.post("/distribution/price-lists/new", data={"code": "BID-GD", "name": "广东挂网价", "kind": "provincial_bid",
                                                     "province_code": "440000", "active": "on"})
    assert r.status_code == 302
    pl = pw.session.execute(select(PriceList).where(PriceList.code == "BID-GD")).scalar_one()
    assert pl.province.code == "440000" and pl.active


def test_add_item_change_price_and_history_on_the_page(login, pw):
    c = login("admin")
    lid = pw.tier1.id
    r = c.post(f"/distribution/price-lists/{lid}/items/new", data={
        "product_code": "PX-1", "min_quantity": "5", "unit": "case", "unit_price": "9.87654",
        "effective_from": "2026-01-01", "effective_to": ""})
    assert r.status_code == 302, r.get_data(as_text=True)
    item = pw.session.execute(select(PriceItem).where(PriceItem.price_list_id == lid)).scalar_one()
    assert (item.min_quantity, item.unit_price) == (100, D("9.8765"))  # 5 cases; 4 places, HALF_UP
    r = c.post(f"/distribution/price-lists/{lid}/items/new", data={
        "product_code": "PX-1", "min_quantity": "100", "unit": "base", "unit_price": "9",
        "effective_from": "2026-03-01"})
    assert r.status_code == 422
    assert f"#{item.id} v1" in r.get_data(as_text=True)  # the tie names the existing item
    r = c.post(f"/distribution/price-lists/{lid}/items/new", data={
        "product_code": "NOPE", "min_quantity": "x", "unit_price": "-1", "effective_from": "2026-01-01"})
    assert r.status_code == 422 and "is-invalid" in r.get_data(as_text=True)
    r = c.post(f"/distribution/price-items/{item.id}/change",
               data={"unit_price": "9.5", "effective_from": "2026-07-01"})
    assert r.status_code == 302
    page = c.get(f"/distribution/price-lists/{lid}").get_data(as_text=True)
    assert 'data-status="current"' in page and 'data-status="future"' in page
    assert "9.8765" in page and "9.5000" in page and "v2" in page
    assert 'id="precedence"' in page  # the precedence rules are documented on the page
    r = c.post(f"/distribution/price-items/{item.id}/change", data={"unit_price": "9.4",
                                                                    "effective_from": "2026-01-01"})
    assert r.status_code == 422


def test_price_check_shows_the_price_and_why(login, pw):
    pw.add(pw.tier1, "10.0000")
    pw.add(pw.bid_zj, "10.5000")
    c = login("finance")
    r = c.get("/distribution/price-check", query_string={"distributor": "PD-ZJ1", "product": "PX-1", "quantity": "2",
                                                         "unit": "case", "date": TODAY.isoformat()})
    body = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "10.5000" in body and "BID-ZJ" in body and 'id="explanation"' in body and "420.00" in body
    r = c.get("/distribution/price-check", query_string={"distributor": "NOPE", "product": "PX-1"})
    assert r.status_code == 422


def test_my_prices_shows_own_prices_only(login, pw, make_distributor):
    make_distributor(code="PD-ZJ7", tier=1, region_code="330100")
    other = svc.save_price_list({"code": "SP-ZJ7", "name": "别家秘密价", "kind": "distributor_specific",
                                 "distributor_code": "PD-ZJ7"})
    pw.add(other, "6.6666")
    pw.add(pw.tier1, "10.0000")
    pw.add(pw.own_d1, "9.1234", min_quantity=50)
    c = login("distributor", pw.d1)
    body = c.get("/distribution/my-prices").get_data(as_text=True)
    assert "10.0000" in body and "9.1234" in body
    assert "6.6666" not in body and "别家秘密价" not in body
    assert c.get(f"/distribution/price-lists/{other.id}").status_code == 403


def test_floor_page_refuses_a_floor_above_existing_prices(login, pw):
    pw.add(pw.tier1, "10.0000")
    c = login("channel_manager")
    r = c.post("/distribution/price-floors/", data={"product_code": "PX-1", "floor_price": "10.5",
                                                    "effective_from": date(2026, 7, 1).isoformat()})
    assert r.status_code == 422 and "T1" in r.get_data(as_text=True)
    r = c.post("/distribution/price-floors/", data={"product_code": "PX-1", "floor_price": "9.5",
                                                    "effective_from": date(2026, 7, 1).isoformat()})
    assert r.status_code == 302
    assert "9.5000" in c.get("/distribution/price-floors/?product=PX-1").get_data(as_text=True)
