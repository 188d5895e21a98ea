"""Finance's pages, the statement files, the payments import, the API and the nightly task, by role."""

import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from credit import services
from credit.models import ReceivableEntry
from tests.integration.inventory.test_trace import pdf_text

D = Decimal


@pytest.fixture
def ledger(db_session, dist):
    services.post_invoice(dist, None, D("1000"), date(2026, 4, 1), reference="INV-OLD")  # due 05-01: 45 days
    services.post_invoice(dist, None, D("500"), date(2026, 6, 1), reference="INV-NEW")
    services.record_payment(dist, D("300"), date(2026, 6, 5), "BANK-1")
    services.check_and_reserve(dist, "SO-HELD", D("10"))  # overdue → held
    return dist


def test_dashboard_by_role(db_session, login, ledger):
    for role in ("finance", "admin", "channel_manager", "viewer"):
        r = login(role).get("/credit/")
        assert r.status_code == 200, role
        body = r.get_data(as_text=True)
        assert "CR-D1" in body and "<svg" in body and "1,200.00" in body
    assert login("distributor", ledger).get("/credit/").status_code == 302


def test_hold_queue_and_decisions(db_session, login, ledger):
    from app import clock
    from credit.models import CreditReservation

    page = login("viewer").get("/credit/holds").get_data(as_text=True)
    assert "SO-HELD" in page
    held = db_session.execute(select(CreditReservation).where(CreditReservation.order_ref == "SO-HELD")).scalar_one()
    # when it was held, beside the reasons recorded then (days overdue grow after it: finance reads both)
    assert f'<td class="held-since">{clock.when(held.updated_at)}</td>' in page and "检查时的原因" in page
    assert login("viewer").post("/credit/holds/SO-HELD/decide", data={"decision": "approve", "reason": "x"}
                                ).status_code == 403
    assert login("channel_manager").post("/credit/holds/SO-HELD/decide",
                                         data={"decision": "approve", "reason": "x"}).status_code == 403
    fin = login("finance")
    r = fin.post("/credit/holds/SO-HELD/decide", data={"decision": "approve", "reason": ""})
    assert r.status_code == 422
    r = fin.post("/credit/holds/SO-HELD/decide", data={"decision": "approve", "reason": "已电话确认回款"})
    assert r.status_code == 302
    assert services.exposure(ledger).reserved == D("10.00")
    r = fin.post("/credit/holds/SO-HELD/decide", data={"decision": "reject", "reason": "late"})
    assert r.status_code == 422 and "SO-HELD" in r.get_data(as_text=True)


def test_account_page_and_forms(db_session, login, ledger):
    fin = login("finance")
    r = fin.get(f"/credit/distributors/{ledger.id}")
    assert r.status_code == 200 and "INV-OLD" in r.get_data(as_text=True) and "terms-form" in r.get_data(as_text=True)
    assert "terms-form" not in login("viewer").get(f"/credit/distributors/{ledger.id}").get_data(as_text=True)
    r = fin.post(f"/credit/distributors/{ledger.id}/terms", data={"limit": "200000", "payment_terms_days": "45",
                                                                  "grace_days": "10", "reason": "上调"})
    assert r.status_code == 302
    assert services.exposure(ledger).limit == D("200000.00")
    r = fin.post(f"/credit/distributors/{ledger.id}/increases", data={"amount": "5000", "valid_from": "2026-06-01",
                                                                      "valid_to": "2026-06-30", "reason": "旺季"})
    assert r.status_code == 302 and services.exposure(ledger).temporary == D("5000.00")
    r = fin.post(f"/credit/distributors/{ledger.id}/payments", data={"amount": "99999", "paid_on": "2026-06-15",
                                                                     "reference": "BANK-BIG"})
    assert r.status_code == 302 and services.balance(ledger) == D("1200.00")
    fin.post(f"/credit/distributors/{ledger.id}/payments", data={"amount": "200", "paid_on": "2026-06-15",
                                                                "reference": "BANK-2"})
    assert services.balance(ledger) == D("1000.00")
    assert login("viewer").post(f"/credit/distributors/{ledger.id}/payments",
                                data={"amount": "1", "reference": "X"}).status_code == 403


def test_distributor_sees_own_account_only(db_session, login, ledger, make_distributor):
    other = make_distributor()
    c = login("distributor", ledger)
    assert "INV-OLD" in c.get(f"/credit/distributors/{ledger.id}").get_data(as_text=True)
    assert c.get(f"/credit/distributors/{other.id}").status_code == 404
    assert c.get("/credit/holds").status_code == 403
    assert c.get(f"/credit/distributors/{other.id}/statement.pdf").status_code == 404


def test_statement_pdf_and_excel(db_session, login, ledger):
    c = login("finance")
    r = c.get(f"/credit/distributors/{ledger.id}/statement.pdf?from=2026-06-01&to=2026-06-30")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    text = pdf_text(r.data)
    assert "对账单" in text or "Statement" in text
    assert "信用测试医药" in text and "INV-NEW" in text and "1,200.00" in text
    r = c.get(f"/credit/distributors/{ledger.id}/statement.xlsx?from=2026-06-01&to=2026-06-30")
    ws = load_workbook(io.BytesIO(r.data)).active
    values = [c for row in ws.iter_rows(values_only=True) for c in row if c is not None]
    assert "INV-NEW" in values and "BANK-1" in values and D("1000") in values  # the opening balance
    assert c.get(f"/credit/distributors/{ledger.id}/statement.pdf?from=2026-07-01&to=2026-06-01").status_code == 400


def _xlsx(rows) -> io.BytesIO:
    wb = Workbook()
    ws = wb.active
    ws.append(["经销商编码", "付款日期", "金额", "流水号"])
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    return buf


def _count(db_session):
    return db_session.execute(select(func.count()).select_from(ReceivableEntry)).scalar_one()


def test_payments_import_all_or_nothing(db_session, login, ledger):
    c = login("finance")
    before = _count(db_session)
    bad = _xlsx([["CR-D1", "2026-06-10", "100", "B-1"], ["NOPE", "2026-06-10", "1", "B-2"],
                 ["CR-D1", "bad date", "-5", "B-1"], ["CR-D1", date(2026, 6, 11), "99999", "B-3"]])
    r = c.post("/credit/payments/import", data={"file": (bad, "bank.xlsx")}, content_type="multipart/form-data")
    assert r.status_code == 422
    body = r.get_data(as_text=True)
    assert "import-errors" in body and body.count("<tr><td>") >= 4
    assert _count(db_session) == before and services.balance(ledger) == D("1200.00")
    good = _xlsx([["CR-D1", "2026-06-10", "700", "B-1"], ["CR-D1", date(2026, 6, 11), "100.50", "B-2"]])
    r = c.post("/credit/payments/import", data={"file": (good, "bank.xlsx")}, content_type="multipart/form-data")
    assert r.status_code == 302
    assert services.balance(ledger) == D("399.50")
    assert [i.reference for i in services.open_items(ledger)] == ["INV-NEW"]
    assert login("viewer").get("/credit/payments/import").status_code == 403


def test_api(db_session, login, ledger, make_distributor):
    fin = login("finance")
    r = fin.get(f"/api/v1/credit/exposure/{ledger.id}")
    assert r.status_code == 200
    assert r.json["open_receivables"] == "1200.00" and r.json["overdue_invoices"][0]["reference"] == "INV-OLD"
    assert [h["order_ref"] for h in fin.get("/api/v1/credit/holds").json["items"]] == ["SO-HELD"]
    r = fin.post("/api/v1/credit/holds/SO-HELD/decision", json={"approve": False, "reason": "逾期"})
    assert r.status_code == 200 and r.json["status"] == "rejected"
    r = fin.post("/api/v1/credit/holds/SO-HELD/decision", json={"approve": True, "reason": "again"})
    assert r.status_code == 409 and r.json["error"]["code"] == "conflict"
    r = fin.post("/api/v1/credit/payments", json={"distributor_code": "CR-D1", "amount": "5000",
                                                  "paid_on": "2026-06-15", "reference": "API-1"})
    assert r.status_code == 422 and "1,200.00" in r.json["error"]["message"]
    r = fin.post("/api/v1/credit/payments", json={"distributor_code": "CR-D1", "amount": "200",
                                                  "paid_on": "2026-06-15", "reference": "API-1"})
    assert r.status_code == 201 and r.json["balance"] == "1000.00"
    r = fin.get(f"/api/v1/credit/statement/{ledger.id}?date_from=2026-06-01&date_to=2026-06-30")
    assert r.json["opening"] == "1000.00" and r.json["closing"] == "1000.00"
    dist_client = login("distributor", ledger)
    assert dist_client.get(f"/api/v1/credit/exposure/{ledger.id}").status_code == 200
    assert dist_client.get(f"/api/v1/credit/exposure/{make_distributor().id}").status_code == 404
    assert dist_client.get("/api/v1/credit/holds").status_code == 403


def test_nightly_task_holds_once(app, db_session, ledger):
    from credit.tasks import apply_overdue_holds

    assert apply_overdue_holds.delay().get() == 1
    assert services.get_account(ledger).manual_hold
    assert apply_overdue_holds.delay().get() == 0
    assert "credit.tasks.apply_overdue_holds" in {v["task"] for v in app.config["CELERY"]["beat_schedule"].values()}
