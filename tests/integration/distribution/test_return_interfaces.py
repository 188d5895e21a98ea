"""Returns and recalls through the real interfaces: the JSON API (session and bearer token) and the pages, each
step by the role that takes it, with the error format, tenant isolation of the return and its attachments, the
credit note and recall report PDFs."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from sqlalchemy import select

from credit.models import ReceivableEntry
from distribution.models.returns import ReturnRequest
from tests.integration.distribution.return_world import PNG, ReturnWorld, b64
from tests.integration.inventory.test_trace import pdf_text

D = Decimal


@pytest.fixture
def rw(request):
    return ReturnWorld.build(request)


@pytest.fixture
def clients(rw, login):
    return {"dist": login(rw.user), "dist2": login(rw.user2), "cm": login(rw.cm), "fin": login(rw.finance)}


def test_api_journey(rw, clients, db_session):
    c = clients
    body = {"lines": [{"product_code": "OW-P1", "lot_no": "L-LATE", "quantity": 10, "reason": "damaged_in_transit"}],
            "note": "运输途中外箱破损", "attachments": [{"filename": "破损照片.png", "content_base64": b64(PNG)}]}
    r = c["dist"].post("/api/v1/returns", json=body)
    assert r.status_code == 201, r.json
    ret = r.json
    rid, line_id = ret["id"], ret["lines"][0]["id"]
    assert ret["status"] == "requested" and ret["attachments"][0]["content_type"] == "image/png"
    # the owner and staff download the photo; another distributor cannot see the return or the file
    url = ret["attachments"][0]["url"]
    got = c["dist"].get(url)
    assert got.status_code == 200 and got.data == PNG
    assert got.headers["X-Content-Type-Options"] == "nosniff" and "attachment" in got.headers["Content-Disposition"]
    assert c["cm"].get(url).data == PNG
    assert c["dist2"].get(url).status_code == 404
    assert c["dist2"].get(f"/api/v1/returns/{rid}").status_code == 404
    assert c["dist2"].get(f"/distribution/returns/{rid}/attachments/{ret['attachments'][0]['id']}").status_code == 404
    # the distributor may not take the manager's steps
    assert c["dist"].post(f"/api/v1/returns/{rid}/decision", json={"approve": True}).status_code == 403
    r = c["cm"].post(f"/api/v1/returns/{rid}/decision", json={"approve": True, "reason": "照片属实"})
    assert r.status_code == 200 and r.json["status"] == "approved"
    r = c["cm"].post(f"/api/v1/returns/{rid}/receive", json={"lines": [{"line_id": line_id, "quantity": 10}]})
    assert r.status_code == 200 and r.json["lines"][0]["received_quantity"] == 10
    r = c["cm"].post(f"/api/v1/returns/{rid}/disposition", json={"lines": [{"line_id": line_id,
                                                                          "disposition": "destroy"}]})
    assert r.status_code == 200 and r.json["status"] == "disposed"
    assert c["cm"].post(f"/api/v1/returns/{rid}/credit", json={}).status_code == 403
    r = c["fin"].post(f"/api/v1/returns/{rid}/credit", json={})
    assert r.status_code == 200, r.json
    assert r.json["credit"]["amount"] == "110.00"  # the 10 latest shipped, at 11.0000
    assert r.json["lines"][0]["priced_from"][0]["unit_price"] == "11.0000"
    again = c["fin"].post(f"/api/v1/returns/{rid}/credit", json={})
    assert again.status_code == 409 and again.json["error"]["code"] == "conflict"
    memos = db_session.execute(select(ReceivableEntry.amount).where(ReceivableEntry.kind == "credit_memo")).all()
    assert memos == [(D("-110.00"),)]
    mine = c["dist"].get(f"/api/v1/returns/{rid}").json
    assert [e["to_status"] for e in mine["events"]] == ["requested", "approved", "received", "disposed", "credited"]
    # the distributor sees every step, and only its own user's name, not our staff's
    assert [e["actor"] for e in mine["events"]] == [rw.user.display_name, None, None, None, None]
    listed = c["dist2"].get("/api/v1/returns").json
    assert listed["total"] == 0


def test_api_refusals_have_the_error_format(rw, clients):
    c = clients["dist"]
    r = c.post("/api/v1/returns", json={"lines": [{"product_code": "OW-P1", "lot_no": "L-SHORT", "quantity": 10,
                                                   "reason": "near_expiry"}]})
    assert r.status_code == 422
    assert r.json["error"]["code"] == "business_rule" and r.json["error"]["details"][0]["field"] == "lines.0.lot_no"
    r = c.post("/api/v1/returns", json={"lines": [{"product_code": "OW-P1", "lot_no": "L-LATE", "quantity": "x",
                                                   "reason": "overstock"}]})
    assert r.status_code == 400
    r = c.post("/api/v1/returns", json={"distributor_code": "OW-D2", "lines": [
        {"product_code": "OW-P1", "lot_no": "L-LATE", "quantity": 1, "reason": "overstock"}]})
    assert r.status_code == 403
    r = c.post("/api/v1/returns", json={"lines": [{"product_code": "OW-P1", "lot_no": "L-LATE", "quantity": 1,
                                                   "reason": "quality_complaint"}],
                                        "attachments": [{"filename": "a.png", "content_base64": "@@not base64"}]})
    assert r.status_code == 422 and r.json["error"]["details"][0]["field"] == "attachments.0"


def test_api_scan_and_bearer_token(rw, app):
    from app.auth.services import create_token

    rw.p1.gtin = "6937215000010"
    rw.session.flush()
    _, secret = create_token(rw.user, "erp")
    c, h = app.test_client(), {"Authorization": f"Bearer {secret}"}
    r = c.post("/api/v1/returns/scan", json={"code": "]d2010693721500001017271231" "10L-LATE"}, headers=h)
    assert r.status_code == 200
    assert (r.json["product_code"], r.json["lot_no"], r.json["expires_on"], r.json["lot_known"]) == (
        "OW-P1", "L-LATE", "2027-12-31", True)
    assert c.post("/api/v1/returns/scan", json={"code": "(01)06937215000011"}, headers=h).status_code == 422
    r = c.post("/api/v1/returns", headers=h, json={"lines": [
        {"scan": "(01)06937215000010(10)L-LATE", "quantity": 5, "reason": "overstock"}]})
    assert r.status_code == 201 and r.json["lines"][0]["lot_no"] == "L-LATE"


def test_pages_journey(rw, clients, db_session):
    c = clients
    form = c["dist"].get("/distribution/returns/new")
    assert form.status_code == 200 and "L-LATE" in form.get_data(as_text=True)  # the lots shipped to it
    bad = c["dist"].post("/distribution/returns/new", data={"product_code": "OW-P1", "lot_no": "L-LATE", "scan": "",
                                                            "quantity": "99", "reason": "overstock"})
    assert bad.status_code == 422 and "99" in bad.get_data(as_text=True)
    assert db_session.execute(select(ReturnRequest.id)).all() == []
    r = c["dist"].post("/distribution/returns/new", content_type="multipart/form-data", data={
        "scan": ["", ""], "product_code": ["OW-P1", "OW-P1"], "lot_no": ["L-LATE", "L-EARLY"],
        "quantity": ["5", "4"], "reason": ["quality_complaint", "near_expiry"], "note": "客户投诉",
        "attachments": [(io.BytesIO(PNG), "投诉.png")]})
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    ret = db_session.execute(select(ReturnRequest)).scalar_one()
    ids = {ln.lot.lot_no: ln.id for ln in ret.lines}
    base = f"/distribution/returns/{ret.id}"
    page = c["dist"].get(base).get_data(as_text=True)
    assert ret.number in page and "投诉.png" in page
    assert c["cm"].post(f"{base}/decision", data={"approve": "0", "reason": ""}).status_code == 422
    assert c["cm"].post(f"{base}/decision", data={"approve": "1", "reason": ""}).status_code == 302
    assert c["cm"].post(f"{base}/receive", data={f"received_{ids['L-LATE']}": "5",
                                                 f"received_{ids['L-EARLY']}": "4"}).status_code == 302
    r = c["cm"].post(f"{base}/dispose", data={f"disposition_{ids['L-LATE']}": "restock"})
    assert r.status_code == 422  # every received line needs a disposition
    assert c["cm"].post(f"{base}/dispose", data={f"disposition_{ids['L-LATE']}": "restock",
                                                 f"disposition_{ids['L-EARLY']}": "destroy"}).status_code == 302
    assert c["fin"].post(f"{base}/credit").status_code == 302
    db_session.refresh(ret)
    assert ret.status == "credited" and ret.credit_amount == D("104.38")  # 5 × 11.0000 + 4 × 12.3456
    pdf = c["dist"].get(f"{base}/credit-note.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = pdf_text(pdf.data)
    assert ret.credit_reference in text and "104.38" in text and "11.0000" in text
    assert c["dist2"].get(f"{base}/credit-note.pdf").status_code == 404
    listing = c["dist"].get("/distribution/returns/export.xlsx")
    assert listing.status_code == 200 and listing.data[:2] == b"PK"


def test_recall_pages_and_api(rw, clients):
    c = clients["cm"]
    assert c.get("/distribution/recalls/new?product=OW-P1&lot=L-LATE").status_code == 200
    bad = c.post("/distribution/recalls/new", data={"product_code": "OW-P1", "lot_no": "NOPE", "reason": "x",
                                                    "recall_class": "I"})
    assert bad.status_code == 422
    r = c.post("/distribution/recalls/new", data={"product_code": "OW-P1", "lot_no": "L-LATE",
                                                  "reason": "包装密封性不合格", "recall_class": "I"})
    assert r.status_code == 302
    recall_id = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    page = c.get(f"/distribution/recalls/{recall_id}").get_data(as_text=True)
    assert "OW-D1" in page and "<svg" in page
    api = c.get(f"/api/v1/recalls/{recall_id}").json
    assert api["totals"] == {"held": 30, "recovered": 0, "outstanding": 30}
    assert clients["dist"].get(f"/api/v1/recalls/{recall_id}").status_code == 403
    assert clients["dist"].get(f"/distribution/recalls/{recall_id}").status_code == 403
    assert c.post(f"/api/v1/recalls/{recall_id}/close", json={}).status_code == 422
    report = c.get(f"/distribution/recalls/{recall_id}/report.pdf")
    assert report.status_code == 200 and "OW-D1" in pdf_text(report.data)
    r = c.post(f"/api/v1/recalls/{recall_id}/close", json={"note": "经销商已全部销毁，凭证已收"})
    assert r.status_code == 200 and r.json["status"] == "closed"
    r = c.post("/api/v1/recalls", json={"lots": [{"product_code": "OW-P1", "lot_no": "L-EARLY"}], "reason": "x",
                                        "recall_class": "III"})
    assert r.status_code == 201 and {x["distributor_code"] for x in r.json["returns"]} == {"OW-D1", "OW-D2"}
