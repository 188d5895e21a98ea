"""The inventory JSON API: reads, bad input (400 / 422 in the error format, nothing written), roles, isolation."""

import pytest
from sqlalchemy import func, select

from app.auth.services import create_token
from inventory.models import Lot, StockBalance, StockMovement


@pytest.fixture
def api(app, db_session, make_user):
    def client_for(role="admin", distributor=None):
        user = make_user(role, distributor)
        _, secret = create_token(user, "test") if role == "distributor" else (None, None)
        if secret:
            c = app.test_client()
            c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
            return c
        c = app.test_client()
        c.post("/login", data={"username": user.username, "password": "Test-password-1"})
        return c

    return client_for


def _counts(db_session):
    return tuple(db_session.execute(select(func.count()).select_from(m)).scalar_one()
                 for m in (Lot, StockMovement, StockBalance))


def _error(r, status):
    assert r.status_code == status, r.get_data(as_text=True)
    assert set(r.json) == {"error"} and {"code", "message", "details"} <= set(r.json["error"])
    return r.json["error"]


def test_reads(db_session, api, channel_world):
    c = api("viewer")
    r = c.get("/api/v1/inventory/stock?product=CH-P1&per_page=2&sort=expiry")
    assert r.status_code == 200 and r.json["total"] == 7 and len(r.json["items"]) == 2
    assert r.json["quantity"] == 600 + 20 + 140 + 15 + 650 + 240 + 2
    assert r.json["items"][0]["lot_no"] == "L1"
    lots = c.get("/api/v1/inventory/lots?status=released").json
    assert [x["lot_no"] for x in lots["items"]] == ["L4", "L3", "L1", "L2"]
    l1 = channel_world["lots"]["L1"].id
    detail = c.get(f"/api/v1/inventory/lots/{l1}").json
    assert detail["on_hand"] == 775 and len(detail["balances"]) == 4
    moves = c.get(f"/api/v1/inventory/lots/{l1}/movements?per_page=3").json
    assert moves["total"] == 8 and [m["kind"] for m in moves["items"]] == ["receipt", "shipment", "sell_out"]
    assert c.get("/api/v1/inventory/lots/999999").status_code == 404
    _error(c.get("/api/v1/inventory/stock?expires_before=soon"), 400)


def test_channel_near_expiry_and_trace(db_session, api, channel_world):
    c = api("channel_manager")
    items = c.get("/api/v1/inventory/channel-stock").json["items"]
    got = {(i["distributor_code"], i["product_code"]): (i["computed"], i["reported"], i["difference"],
                                                       i["days_of_inventory"], i["flag"]) for i in items}
    assert got[("CH-D1", "CH-P1")] == (380, None, None, "228.0", "over")
    assert got[("CH-D3", "CH-P2")] == (200, None, None, None, "over")
    lots = c.get("/api/v1/inventory/channel-stock?level=lot&distributor=CH-D1").json["items"]
    assert {(i["lot_no"], i["computed"]) for i in lots} == {("L1", 140), ("L2", 240)}
    ne = c.get("/api/v1/inventory/near-expiry?window=90").json
    assert ne["total_quantity"] == 775 + 500 + 10 and ne["total_value"] is None
    assert {g["key"]: g["quantity"] for g in ne["by_tier"]} == {0: 930, 1: 340, 2: 15}
    t = c.get(f"/api/v1/inventory/lots/{channel_world['lots']['L1'].id}/trace").json
    assert t["on_hand"] == 775
    assert {d["code"] for d in t["distributors"]} == {"CH-D1", "CH-D2"}
    assert {x["code"] for x in t["terminals"]} == {"CH-T1", "CH-T2"}


def test_allocate_preview(db_session, api, channel_world):
    c = api("channel_manager")
    body = {"product_code": "CH-P1", "quantity": 700, "location_code": "MAN-WH", "destination_tier": 1}
    r = c.post("/api/v1/inventory/allocate-preview", json=body)
    assert r.status_code == 200
    assert [(p["lot_no"], p["quantity"]) for p in r.json["picks"]] == [("L2", 650)]
    assert r.json["short"] == 50 and r.json["min_remaining_days"] == 180
    assert [(s["lot_no"], s["reason"], s["remaining_days"]) for s in r.json["skipped"]] == [
        ("L1", "short_shelf_life", 47)]
    r = c.post("/api/v1/inventory/allocate-preview", json={**body, "product_code": "CH-P2", "quantity": 10})
    assert [(p["lot_no"], p["quantity"]) for p in r.json["picks"]] == [("L3", 10)]
    assert [(s["lot_no"], s["reason"]) for s in r.json["skipped"]] == [("L4", "expired")]
    for bad in (0, -5):
        _error(c.post("/api/v1/inventory/allocate-preview", json={**body, "quantity": bad}), 422)
    _error(c.post("/api/v1/inventory/allocate-preview", json={**body, "quantity": "x"}), 400)
    _error(c.post("/api/v1/inventory/allocate-preview", json={**body, "product_code": "NOPE"}), 422)
    _error(c.post("/api/v1/inventory/allocate-preview", json={**body, "destination_tier": 3}), 400)
    _error(api("finance").post("/api/v1/inventory/allocate-preview", json=body), 403)


def test_block_release(db_session, api, channel_world):
    c = api("admin")
    lot = channel_world["lots"]["L2"]
    url = f"/api/v1/inventory/lots/{lot.id}/status"
    _error(c.post(url, json={"status": "recalled"}), 400)
    _error(c.post(url, json={"status": "gone", "reason": "x"}), 400)
    _error(c.post(url, json={"status": "recalled", "reason": "   "}), 422)
    r = c.post(url, json={"status": "recalled", "reason": "召回"})
    assert r.status_code == 200 and r.json["status"] == "recalled"
    pick = c.post("/api/v1/inventory/allocate-preview", json={"product_code": "CH-P1", "quantity": 10,
                                                              "location_code": "WH-CH-D1", "destination_tier": 2})
    assert ("L2", "recalled") in {(s["lot_no"], s["reason"]) for s in pick.json["skipped"]}
    _error(api("viewer").post(url, json={"status": "released", "reason": "x"}), 403)


def test_bad_lots_and_movements_write_nothing(db_session, api, channel_world):
    c = api("channel_manager")
    before = _counts(db_session)
    lot = {"product_code": "CH-P1", "lot_no": "NEW", "manufactured_on": "2026-01-01", "expires_on": "2025-01-01"}
    assert "2025-01-01" in _error(c.post("/api/v1/inventory/lots", json=lot), 422)["message"]
    e = _error(c.post("/api/v1/inventory/lots", json={**lot, "lot_no": "L1", "expires_on": "2030-01-01"}), 422)
    assert "L1" in e["message"] and "2026-08-01" in e["message"]
    _error(c.post("/api/v1/inventory/lots", json={**lot, "expires_on": "not a date"}), 400)
    _error(c.post("/api/v1/inventory/lots", json={**lot, "product_code": "NOPE"}), 422)
    move = {"kind": "write_off", "product_code": "CH-P1", "lot_no": "L1", "from_location": "MAN-WH"}
    for qty in (0, -1):
        e = _error(c.post("/api/v1/inventory/movements", json={**move, "quantity": qty}), 422)
        assert e["details"][0]["field"] == "quantity"
    e = _error(c.post("/api/v1/inventory/movements", json={**move, "quantity": 601}), 422)
    assert "600" in e["message"]
    _error(c.post("/api/v1/inventory/movements", json={**move, "quantity": 1.5}), 400)
    assert _counts(db_session) == before
    r = c.post("/api/v1/inventory/lots", json={**lot, "expires_on": "2028-01-01"})
    assert r.status_code == 201 and r.json["lot_no"] == "NEW"
    r = c.post("/api/v1/inventory/movements", json={"kind": "receipt", "product_code": "CH-P1", "lot_no": "NEW",
                                                    "quantity": 30, "to_location": "MAN-WH", "reference": "PO-1"})
    assert r.status_code == 201 and (r.json["kind"], r.json["quantity"], r.json["to_code"]) == ("receipt", 30,
                                                                                                 "MAN-WH")
    _error(api("finance").post("/api/v1/inventory/movements", json={**move, "quantity": 1}), 403)


def test_distributor_token_sees_only_its_own(db_session, api, channel_world):
    w = channel_world
    c = api("distributor", w["d1"])
    stock = c.get("/api/v1/inventory/stock").json
    assert {i["location_code"] for i in stock["items"]} == {"WH-CH-D1"} and stock["quantity"] == 380
    assert {x["lot_no"] for x in c.get("/api/v1/inventory/lots").json["items"]} == {"L1", "L2"}
    assert c.get(f"/api/v1/inventory/lots/{w['lots']['L3'].id}").status_code == 404
    assert c.get(f"/api/v1/inventory/lots/{w['lots']['L3'].id}/movements").status_code == 404
    moves = c.get(f"/api/v1/inventory/lots/{w['lots']['L1'].id}/movements").json["items"]
    assert [m["kind"] for m in moves] == ["shipment", "sell_out", "transfer", "sell_out", "return"]
    assert all(m["terminal_code"] is None for m in moves)
    assert {(i["distributor_code"]) for i in c.get("/api/v1/inventory/channel-stock").json["items"]} == {"CH-D1"}
    assert c.get("/api/v1/inventory/near-expiry").json["total_quantity"] == 140
    _error(c.get(f"/api/v1/inventory/lots/{w['lots']['L1'].id}/trace"), 403)
    _error(c.post(f"/api/v1/inventory/lots/{w['lots']['L1'].id}/status", json={"status": "recalled",
                                                                                "reason": "x"}), 403)


def test_openapi_documents_the_inventory_api(db_session, client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/inventory/stock", "/api/v1/inventory/lots", "/api/v1/inventory/lots/{lot_id}/movements",
                 "/api/v1/inventory/allocate-preview", "/api/v1/inventory/lots/{lot_id}/status",
                 "/api/v1/inventory/channel-stock", "/api/v1/inventory/near-expiry",
                 "/api/v1/inventory/lots/{lot_id}/trace", "/api/v1/inventory/movements"):
        assert path in paths, path
