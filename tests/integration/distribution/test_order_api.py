"""The orders API and pages: place / list / detail / amend / cancel / decide / ship, error statuses per DESIGN.md,
and a distributor user confined to its own orders."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.integration.distribution.order_world import OrderWorld

D = Decimal


@pytest.fixture
def ow(request):
    return OrderWorld.build(request)


def _lines(qty=1, code="OW-P1", unit="case"):
    return [{"product_code": code, "quantity": qty, "unit": unit}]


def test_distributor_places_for_itself_and_reads_it(ow, login):
    c = login(ow.user)
    r = c.post("/api/v1/orders", json={"lines": _lines(10)})
    assert r.status_code == 201, r.json
    assert (r.json["status"], r.json["total"], r.json["distributor"]["code"]) == ("approved", "1234.56", "OW-D1")
    assert r.json["lines"][0]["price_explanation"]
    oid = r.json["id"]
    assert c.get(f"/api/v1/orders/{oid}").json["number"] == r.json["number"]
    assert c.get("/api/v1/orders").json["total"] == 1
    other = ow.make_distributor(code="OW-D2")
    r = c.post("/api/v1/orders", json={"distributor_code": other.code, "lines": _lines()})
    assert r.status_code == 403


def test_another_distributors_order_is_404_and_unchanged(ow, login):
    order = ow.place(_lines(2))
    stranger = login("distributor", ow.make_distributor(code="OW-D3"))
    assert stranger.get(f"/api/v1/orders/{order.id}").status_code == 404
    assert stranger.post(f"/api/v1/orders/{order.id}/cancel", json={}).status_code == 404
    assert stranger.post(f"/api/v1/orders/{order.id}/amend", json={"lines": _lines(1)}).status_code == 404
    assert stranger.get(f"/distribution/orders/{order.id}").status_code == 404
    assert stranger.get("/api/v1/orders").json["total"] == 0
    ow.session.refresh(order)
    assert order.status == "approved" and order.total == D("246.91")


@pytest.mark.parametrize("body,status,field", [
    ({"lines": _lines(code="NOPE")}, 422, "lines.0.product_code"),
    ({"lines": _lines(0)}, 422, "lines.0.quantity"),
    ({"lines": _lines(-5)}, 422, "lines.0.quantity"),
    ({"lines": _lines(15, unit="base")}, 422, "lines.0.quantity"),
    ({"lines": _lines(code="OW-NA")}, 422, "lines.0.product_code"),
    ({"lines": [{"product_code": "OW-P1", "quantity": "x"}]}, 400, "lines.0.quantity"),
    ({"lines": []}, 400, "lines"),
])
def test_bad_orders_are_refused(ow, login, body, status, field):
    c = login("channel_manager")
    r = c.post("/api/v1/orders", json={"distributor_code": "OW-D1", **body})
    assert r.status_code == status, r.json
    assert r.json["error"]["message"]
    assert field in {d["field"] for d in r.json["error"]["details"]}
    assert c.get("/api/v1/orders").json["total"] == 0


def test_held_decided_shipped_through_the_api(ow, login):
    cm, fin = login(ow.cm), login(ow.finance)
    r = cm.post("/api/v1/orders", json={"distributor_code": "OW-D1", "lines": _lines(900)})
    assert r.json["status"] == "credit_hold" and r.json["credit"]["reasons"]
    oid = r.json["id"]
    assert cm.post(f"/api/v1/orders/{oid}/ship", json={}).status_code == 409
    assert cm.post(f"/api/v1/orders/{oid}/decision", json={"approve": True, "reason": "x"}).status_code == 403
    assert cm.post(f"/api/v1/orders/{oid}/amend", json={"lines": _lines(8)}).json["status"] == "approved"
    r = cm.post(f"/api/v1/orders/{oid}/ship", json={})
    assert r.status_code == 200 and r.json["status"] == "shipped"
    assert [lot["lot_no"] for lot in r.json["shipments"][0]["lots"]] == ["L-EARLY", "L-LATE"]
    assert cm.post(f"/api/v1/orders/{oid}/cancel", json={}).status_code == 409
    assert fin.post(f"/api/v1/orders/{oid}/decision", json={"approve": False, "reason": "x"}).status_code == 409


def test_pages(ow, login):
    c = login(ow.user)
    assert c.get("/distribution/orders/new").status_code == 200
    r = c.post("/distribution/orders/new", data={"product_code": ["OW-P1", ""], "quantity": ["15", ""],
                                                 "unit": ["base", "case"]})
    assert r.status_code == 422 and "OW-P1" in r.get_data(as_text=True)
    r = c.post("/distribution/orders/new", data={"product_code": ["OW-P1"], "quantity": ["2"], "unit": ["case"]})
    assert r.status_code == 302
    page = c.get(r.headers["Location"]).get_data(as_text=True)
    assert "OW-T1" in page and "246.91" in page and 'id="ship"' not in page
    listing = c.get("/distribution/orders/")
    assert listing.status_code == 200 and "OW-D1" in listing.get_data(as_text=True)
    x = c.get("/distribution/orders/export.xlsx")
    assert x.status_code == 200 and x.data[:2] == b"PK"
    cm = login(ow.cm)
    detail = cm.get(r.headers["Location"]).get_data(as_text=True)
    assert 'id="ship"' in detail
    assert cm.post(r.headers["Location"] + "/ship").status_code == 302
    assert "L-EARLY" in cm.get(r.headers["Location"]).get_data(as_text=True)


def test_the_order_form_offers_the_products_and_says_the_credit_available(ow, login):
    """A distributor had to know our product codes by heart and learnt about its credit only from a hold: the form
    now offers the products (code, name, specification, case size) and shows what credit is available."""
    from credit import services

    html = login(ow.user).get("/distribution/orders/new").get_data(as_text=True)
    datalist = html.split('<datalist id="order-products">', 1)[1].split("</datalist>", 1)[0]
    assert 'value="OW-P1"' in datalist and 'list="order-products"' in html
    available = services.exposure(ow.user.distributor).available
    assert "可用额度: <strong" in html and f"{available:,.2f}" in html.split('id="order-credit"', 1)[1][:300]
    assert 'id="order-credit"' not in login(ow.cm).get("/distribution/orders/new").get_data(as_text=True)
