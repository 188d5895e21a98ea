"""The agreements JSON API: list, detail, draft, edit, workflow steps, achievement; the error format and OpenAPI."""

from __future__ import annotations

import pytest

from app.auth.services import create_token
from tests.integration.distribution.agreement_world import TIERS, AgreementWorld


@pytest.fixture
def aw(request):
    return AgreementWorld.build(request)


def body(aw, **kw) -> dict:
    data = {"distributor_code": aw.d.code, "start_date": "2026-01-01", "end_date": "2026-12-31",
            "payment_terms_days": 60, "proposed_credit_limit": "800000.00", "deposit": "20000.00",
            "product_codes": [aw.pa1.code], "product_line_codes": [aw.line_b.code], "region_codes": ["330100"],
            "rebate_tiers": TIERS,
            "targets": [{"quarter": "2026Q3", "product_code": aw.pa1.code, "amount": "30000.00", "quantity": 300}]}
    data.update(kw)
    return data


def en(client):
    client.get("/lang/en")
    return client


def test_create_read_edit_and_list(aw, login):
    c = login(aw.cm1)
    r = c.post("/api/v1/agreements", json=body(aw))
    assert r.status_code == 201, r.json
    a = r.json
    assert a["status"] == "draft" and a["number"] == "AG2026-AGD-1-01"
    assert (a["proposed_credit_limit"], a["deposit"]) == ("800000.00", "20000.00")  # money as strings, never floats
    assert a["products"] == [{"code": "AG-PA1", "name": aw.pa1.display_name}]
    assert a["product_lines"][0]["code"] == "AG-PLB" and a["regions"][0]["code"] == "330100"
    assert a["targets"] == [{"quarter": "2026Q3", "product_code": "AG-PA1", "product_line_code": None,
                             "amount": "30000.00", "quantity": 300}]
    assert [t["threshold_pct"] for t in a["rebate_tiers"]] == ["90.00", "100.00", "110.00"]
    assert a["events"][0]["action"] == "create" and a["events"][0]["actor"] == "cm-one"
    r = c.put(f"/api/v1/agreements/{a['id']}", json=body(aw, payment_terms_days=30, product_line_codes=[]))
    assert r.status_code == 200 and r.json["payment_terms_days"] == 30 and r.json["product_lines"] == []
    assert c.get(f"/api/v1/agreements/{a['id']}").json["payment_terms_days"] == 30
    listing = c.get("/api/v1/agreements?status=draft&year=2026").json
    assert listing["total"] == 1 and listing["items"][0]["number"] == a["number"]
    assert c.get("/api/v1/agreements?status=active").json["total"] == 0
    assert c.get(f"/api/v1/agreements?distributor={aw.d.code}").json["total"] == 1


def test_workflow_and_its_refusals(aw, login):
    one, two = en(login(aw.cm1)), en(login(aw.cm2))
    aid = one.post("/api/v1/agreements", json=body(aw)).json["id"]
    r = two.post(f"/api/v1/agreements/{aid}/approve", json={})
    assert r.status_code == 409 and r.json["error"]["code"] == "conflict"
    assert one.post(f"/api/v1/agreements/{aid}/submit", json={"note": "请审批"}).json["status"] == "submitted"
    r = one.post(f"/api/v1/agreements/{aid}/approve", json={})
    assert r.status_code == 422
    assert r.json["error"]["code"] == "business_rule" and "four-eyes" in r.json["error"]["message"]
    r = two.post(f"/api/v1/agreements/{aid}/approve", json={"note": "同意"})
    assert r.status_code == 200 and r.json["status"] == "active" and r.json["approved_by"] == "cm-two"
    r = one.put(f"/api/v1/agreements/{aid}", json=body(aw))
    assert r.status_code == 409 and "Only a draft can be edited" in r.json["error"]["message"]
    r = two.post(f"/api/v1/agreements/{aid}/terminate", json={})
    assert r.status_code == 400 and r.json["error"]["details"][0]["field"] == "reason"  # reason required
    r = two.post(f"/api/v1/agreements/{aid}/terminate", json={"reason": "违约"})
    assert r.status_code == 200 and r.json["status"] == "terminated" and r.json["termination_reason"] == "违约"
    assert [e["action"] for e in r.json["events"]] == ["create", "submit", "activate", "terminate"]


def test_return_to_draft(aw, login):
    a = aw.submitted()
    c = login(aw.cm2)
    assert c.post(f"/api/v1/agreements/{a.id}/return", json={"reason": ""}).status_code == 400
    r = c.post(f"/api/v1/agreements/{a.id}/return", json={"reason": "请补充终端"})
    assert r.status_code == 200 and r.json["status"] == "draft" and r.json["events"][-1]["note"] == "请补充终端"


def test_bad_input_is_400_and_business_rules_422_with_details(aw, login):
    c = en(login("admin"))
    r = c.post("/api/v1/agreements", json=body(aw, start_date="not a date", proposed_credit_limit="1.234",
                                               surprise=1))
    assert r.status_code == 400
    fields = {d["field"] for d in r.json["error"]["details"]}
    assert {"start_date", "proposed_credit_limit", "surprise"} <= fields
    r = c.post("/api/v1/agreements", json=body(aw, product_codes=["NOPE"], targets=[
        {"quarter": "2026Q1", "product_code": "NOPE", "amount": "1.00", "quantity": 1}]))
    assert r.status_code == 422
    details = {(d["field"], d["message"]) for d in r.json["error"]["details"]}
    assert ("product_codes", "Unknown product codes: NOPE") in details
    assert ("targets.0", "Unknown product code NOPE.") in details
    r = c.post("/api/v1/agreements", json=body(aw, targets=[{"quarter": "2026Q1", "amount": "1", "quantity": 1}]))
    assert r.status_code == 400 and r.json["error"]["details"][0]["field"] == "targets.0.product_code"
    r = c.post("/api/v1/agreements", json=body(aw, targets=[{"quarter": "2026Q5", "product_code": aw.pa1.code,
                                                             "amount": "1", "quantity": 1}]))
    assert r.status_code == 400
    assert r.json["error"]["details"] == [{"field": "targets.0.quarter", "message": "Use the form 2026Q1."}]


def test_roles_and_not_found(aw, login, app):
    a = aw.draft()
    for role in ("finance", "viewer"):
        c = login(role)
        assert c.get(f"/api/v1/agreements/{a.id}").status_code == 200
        assert c.post("/api/v1/agreements", json=body(aw)).status_code == 403
        assert c.post(f"/api/v1/agreements/{a.id}/submit", json={}).status_code == 403
        assert c.put(f"/api/v1/agreements/{a.id}", json=body(aw)).status_code == 403
    r = login("admin").get("/api/v1/agreements/999999")
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"
    assert app.test_client().get("/api/v1/agreements").status_code == 401


def test_a_distributor_token_sees_only_its_own(aw, app, make_distributor, make_user):
    own = aw.active()
    other_d = make_distributor(code="AGD-API-O")
    other = aw.active(distributor_code=other_d.code)
    user = make_user("distributor", aw.d)
    _, secret = create_token(user, "erp")
    c = app.test_client()
    h = {"Authorization": f"Bearer {secret}"}
    r = c.get("/api/v1/agreements", headers=h)
    assert r.status_code == 200 and [i["number"] for i in r.json["items"]] == [own.number]
    detail = c.get(f"/api/v1/agreements/{own.id}", headers=h).json
    assert detail["submitted_by"] is None and detail["approved_by"] is None  # staff names are not shown
    assert {e["actor"] for e in detail["events"]} == {None}
    assert c.get(f"/api/v1/agreements/{other.id}", headers=h).status_code == 404
    assert c.get(f"/api/v1/agreements/{other.id}/achievement", headers=h).status_code == 404
    assert c.post(f"/api/v1/agreements/{own.id}/terminate", json={"reason": "x"}, headers=h).status_code == 403
    assert c.post("/api/v1/agreements", json=body(aw), headers=h).status_code == 403


def test_achievement(aw, login):
    a = aw.active()
    r = login("finance").get(f"/api/v1/agreements/{a.id}/achievement")
    assert r.status_code == 200
    assert (r.json["basis"], r.json["sell_in_source"]) == ("amount", "orders")
    assert [row["quarter"] for row in r.json["rows"]] == ["2026Q1", "2026Q2", "2026Q3", "2026Q4"]
    q1 = r.json["rows"][0]
    assert (q1["target_amount"], q1["sell_in_amount"], q1["amount_pct"], q1["rebate_pct"], q1["rebate_amount"]) == (
        "100000.00", "0.00", "0.00", "0", "0.00")
    assert r.json["rows"][1]["amount_pct"] is None  # no target in Q2
    assert r.json["total"]["quarter"] is None and r.json["total"]["target_amount"] == "100000.00"


def test_openapi_documents_the_agreement_api(app, client):
    spec = client.get("/api/v1/openapi.json").json
    for path in ("/api/v1/agreements", "/api/v1/agreements/{agreement_id}",
                 "/api/v1/agreements/{agreement_id}/submit", "/api/v1/agreements/{agreement_id}/approve",
                 "/api/v1/agreements/{agreement_id}/return", "/api/v1/agreements/{agreement_id}/terminate",
                 "/api/v1/agreements/{agreement_id}/achievement"):
        assert path in spec["paths"], path
    post = spec["paths"]["/api/v1/agreements"]["post"]
    assert "201" in post["responses"] and "422" in post["responses"]
    assert "409" in spec["paths"]["/api/v1/agreements/{agreement_id}/approve"]["post"]["responses"]
    schemas = spec["components"]["schemas"]
    assert {"AgreementIn", "AgreementOut", "Achievement", "TargetIn", "RebateTierIn"} <= set(schemas)
