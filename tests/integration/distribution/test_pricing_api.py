"""The pricing JSON API: OpenAPI, roles, error format, lists / items / versions / floors, resolve, price an order."""

from __future__ import annotations

import pytest

from app.auth.services import create_token
from tests.conftest import TODAY
from tests.integration.distribution.pricing_world import PricingWorld


@pytest.fixture
def pw(db_session, make_product, make_distributor):
    return PricingWorld(db_session, make_product, make_distributor)


def test_openapi_documents_the_pricing_endpoints(client):
    doc = client.get("/api/v1/openapi.json").json
    for path in ("/api/v1/price-lists", "/api/v1/price-lists/{price_list_id}",
                 "/api/v1/price-lists/{price_list_id}/items", "/api/v1/price-items/{item_id}/versions",
                 "/api/v1/price-floors", "/api/v1/prices/resolve", "/api/v1/prices/order", "/api/v1/prices/mine"):
        assert path in doc["paths"], path
    schemas = doc["components"]["schemas"]
    assert {"PriceListIn", "PriceItemIn", "ResolutionOut", "OrderIn", "PricedOrderOut"} <= set(schemas)
    params = {p["name"] for p in doc["paths"]["/api/v1/prices/resolve"]["get"]["parameters"]}
    assert {"distributor", "product", "quantity", "unit", "date"} <= params


def test_roles(login, pw):
    assert login("viewer").get("/api/v1/price-lists").status_code == 200
    assert login("viewer").post("/api/v1/price-lists", json={"code": "X", "name": "x", "kind": "retail_guide"}
                                ).status_code == 403
    d = login("distributor", pw.d1)
    assert d.get("/api/v1/price-lists").status_code == 403
    assert d.get(f"/api/v1/price-lists/{pw.own_d1.id}/items").status_code == 403
    assert d.get("/api/v1/price-floors").status_code == 403
    assert login("finance").get("/api/v1/prices/mine").status_code == 403


def test_lists_items_versions_and_floors(login, pw):
    c = login("channel_manager")
    r = c.post("/api/v1/price-lists", json={"code": "BID-GD", "name": "广东中标价", "kind": "provincial_bid",
                                            "province_code": "440000"})
    assert r.status_code == 201 and r.json["province_code"] == "440000"
    r = c.post("/api/v1/price-lists", json={"code": "T1-X", "name": "x", "kind": "tier1_supply"})
    assert r.status_code == 422 and r.json["error"]["details"][0]["field"] == "active"
    lid = pw.tier1.id
    r = c.post(f"/api/v1/price-lists/{lid}/items", json={"product_code": "PX-1", "min_quantity": 5, "unit": "case",
                                                         "unit_price": "9.12345", "effective_from": "2026-01-01"})
    assert r.status_code == 201, r.json
    item = r.json
    assert (item["min_quantity"], item["unit_price"], item["version"]) == (100, "9.1235", 1)
    r = c.post(f"/api/v1/price-lists/{lid}/items", json={"product_code": "PX-1", "min_quantity": 100,
                                                         "unit_price": 9, "effective_from": "2026-02-01"})
    assert r.status_code == 422
    assert r.json["error"]["code"] == "business_rule" and f"#{item['id']} v1" in r.json["error"]["message"]
    r = c.post(f"/api/v1/price-items/{item['id']}/versions", json={"unit_price": "9.0", "effective_from": "2026-08-01"})
    assert r.status_code == 201 and (r.json["version"], r.json["previous_id"]) == (2, item["id"])
    r = c.get(f"/api/v1/price-lists/{lid}/items", query_string={"product": "PX-1"})
    assert [(i["version"], i["effective_to"]) for i in r.json["items"]] == [(1, "2026-07-31"), (2, None)]
    r = c.get(f"/api/v1/price-lists/{lid}/items", query_string={"on": TODAY.isoformat()})
    assert [i["version"] for i in r.json["items"]] == [1]
    r = c.post("/api/v1/price-floors", json={"product_code": "PX-1", "floor_price": "9.5",
                                             "effective_from": "2026-01-01"})
    assert r.status_code == 422 and "T1" in r.json["error"]["details"][0]["message"]
    r = c.post("/api/v1/price-floors", json={"product_code": "PX-1", "floor_price": "8",
                                             "effective_from": "2026-01-01"})
    assert r.status_code == 201 and r.json["floor_price"] == "8.0000"
    r = c.post(f"/api/v1/price-lists/{lid}/items", json={"product_code": "PX-1", "min_quantity": "x"})
    assert r.status_code == 400 and r.json["error"]["details"]
    r = c.patch(f"/api/v1/price-lists/{lid}", json={"name": "一级供货价（新）"})
    assert r.status_code == 200 and r.json["name"] == "一级供货价（新）"


def test_resolve_and_price_an_order(login, pw):
    pw.add(pw.tier1, "10.0000")
    pw.add(pw.tier1, "9.5000", min_quantity=5, unit="case")
    pw.add(pw.bid_zj, "12.0000", product=pw.other_product)
    c = login("channel_manager")
    r = c.get("/api/v1/prices/resolve", query_string={"distributor": "PD-ZJ1", "product": "PX-1", "quantity": 5,
                                                      "unit": "case", "date": TODAY.isoformat()})
    assert r.status_code == 200, r.json
    body = r.json
    assert (body["unit_price"], body["amount"], body["quantity"]) == ("9.5000", "950.00", 100)
    assert body["explanation"]["rule"] == "tier_list" and body["explanation"]["price_list"]["code"] == "T1"
    assert body["explanation"]["break"]["min_quantity"] == 100 and body["explanation"]["text"]
    r = c.get("/api/v1/prices/resolve", query_string={"distributor": "PD-ZJ1", "product": "PX-1", "date": "2025-01-01"})
    assert r.status_code == 200 and r.json["unit_price"] is None
    r = c.get("/api/v1/prices/resolve", query_string={"distributor": "NOPE", "product": "PX-1"})
    assert r.status_code == 422 and r.json["error"]["details"][0]["field"] == "distributor"
    assert c.get("/api/v1/prices/resolve", query_string={"product": "PX-1", "quantity": 0}).status_code == 400
    r = c.post("/api/v1/prices/order", json={"distributor": "PD-ZJ1", "lines": [
        {"product": "PX-1", "quantity": 3}, {"product": "PX-2", "quantity": 2, "unit": "case"}]})
    assert r.status_code == 200, r.json
    assert [ln["unit_price"] for ln in r.json["lines"]] == ["10.0000", "12.0000"]
    assert r.json["total"] == "270.00"  # 3 × 10 + 20 × 12
    assert r.json["lines"][1]["explanation"]["rule"] == "provincial_bid"
    r = c.post("/api/v1/prices/order", json={"distributor": "PD-GD1", "lines": [{"product": "PX-2", "quantity": 1}]})
    assert r.status_code == 422 and r.json["error"]["details"][0]["field"] == "lines.0"
    r = c.post("/api/v1/prices/order", json={"distributor": "PD-ZJ1", "lines": [{"product": "NOPE", "quantity": 1}]})
    assert r.status_code == 422 and r.json["error"]["details"][0]["field"] == "lines.0.product"


def test_a_distributor_token_prices_for_itself_only(app, pw, make_user):
    from distribution import price_lists as svc

    pw.add(pw.tier1, "10.0000")
    other = svc.save_price_list({"code": "SP-ZJ2", "name": "温州专供", "kind": "distributor_specific",
                                 "distributor_code": "PD-ZJ2"})
    pw.add(other, "6.6666")
    user = make_user("distributor", pw.d1)
    _, secret = create_token(user, "erp")
    c = app.test_client()
    h = {"Authorization": f"Bearer {secret}"}
    r = c.get("/api/v1/prices/resolve", query_string={"product": "PX-1"}, headers=h)
    assert r.status_code == 200 and r.json["distributor"] == "PD-ZJ1" and r.json["unit_price"] == "10.0000"
    r = c.get("/api/v1/prices/resolve", query_string={"product": "PX-1", "distributor": "PD-ZJ2"}, headers=h)
    assert r.status_code == 422 and "6.6666" not in r.get_data(as_text=True)
    r = c.post("/api/v1/prices/order", json={"distributor": "PD-ZJ2", "lines": [{"product": "PX-1", "quantity": 1}]},
               headers=h)
    assert r.status_code == 422
    r = c.get("/api/v1/prices/mine", headers=h)
    assert r.status_code == 200 and [i["unit_price"] for i in r.json["items"]] == ["10.0000"]
