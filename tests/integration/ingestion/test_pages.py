"""Pages and API of ingestion through the test client: upload → status → report, the review queue, templates,
timeliness, closings, sources; distributors see their own submissions only."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import select

from ingestion.models import ReviewItem, Submission
from tests.integration.ingestion.conftest import csv_bytes, sale


def _upload(client, data, name="流向.csv", period="2026-05", kind="sell_out", **extra):
    return client.post("/ingestion/upload", data={"file": (io.BytesIO(data), name), "kind": kind,
                                                  "period_kind": "month", "period": period, **extra},
                       content_type="multipart/form-data")


def test_a_distributor_uploads_sees_the_report_and_downloads_rejected_rows(app, db_session, world, login):
    client = login(world["user"])
    rows = [sale(qty=q) for q in range(1, 6)] + [sale(day="2026-04-01", customer="=cmd|' /C calc'!A0", qty=9)]
    r = _upload(client, csv_bytes(rows))
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    sub = db_session.execute(select(Submission).order_by(Submission.id.desc())).scalars().first()
    assert sub.status == "needs_mapping" and f"/ingestion/templates/{sub.template_id}" in page
    # the proposal is right for these headers: the distributor confirms it once
    form = client.get(f"/ingestion/templates/{sub.template_id}").get_data(as_text=True)
    assert 'name="field_business_date"' in form
    tpl = sub.template
    r = client.post(f"/ingestion/templates/{tpl.id}", data={f"field_{f}": h for f, h in tpl.columns.items()})
    assert r.status_code == 302
    db_session.expire_all()
    sub = db_session.get(Submission, sub.id)
    assert (sub.status, sub.rows_accepted, sub.rows_rejected) == ("loaded", 5, 1)
    status = client.get(f"/ingestion/submissions/{sub.id}/status").json
    assert status["done"] and status["rows_rejected"] == 1
    x = client.get(f"/ingestion/submissions/{sub.id}/rejected.xlsx")
    assert x.status_code == 200
    ws = load_workbook(io.BytesIO(x.data)).active
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[1][0] == 7 and "期间" in values[1][1]
    cell = [c for c in ws[2] if isinstance(c.value, str) and "calc" in c.value][0]
    assert cell.data_type == "s" and cell.value.startswith("'=")  # neutralised, never a formula
    with client.get(f"/ingestion/submissions/{sub.id}/file") as raw:
        assert raw.status_code == 200 and raw.data == csv_bytes(rows)
    assert "流向" in client.get("/ingestion/").get_data(as_text=True)
    from app.models import Notification

    notes = db_session.execute(select(Notification.title, Notification.audience_role)
                               .where(Notification.kind == "submission")).all()
    assert any(role == "distributor" and "5" in title for title, role in notes)


def test_the_review_queue_confirms_in_bulk_and_loads_the_waiting_rows_once(app, db_session, world, login, layout):
    from inventory.models import StockBalance

    manager = login("channel_manager")
    rows = [sale(customer="杭州一院", qty=q) for q in (3, 4)] + [sale(customer="拱墅区某某诊所", qty=5)] + \
        [sale(qty=q) for q in (6, 7, 8, 9)]
    r = _upload(manager, csv_bytes(rows), distributor="ING-D1")
    sub = db_session.get(Submission, int(r.headers["Location"].rsplit("/", 1)[1]))
    assert (sub.status, sub.rows_accepted, sub.rows_review) == ("loaded", 4, 3), sub.error_message
    items = {i.raw_name: i for i in db_session.execute(select(ReviewItem)).scalars()}
    assert set(items) == {"杭州一院", "拱墅区某某诊所"}
    page = manager.get("/ingestion/review").get_data(as_text=True)
    assert "杭州一院" in page
    before = db_session.execute(select(StockBalance.quantity).where(
        StockBalance.lot_id == world["lots"]["L1"].id, StockBalance.location_id == world["loc"]["ING-D1"].id)).scalar()
    one = items["杭州一院"]
    r = manager.post("/ingestion/review", data={"item": [one.id], "action": "confirm",
                                                f"target_{one.id}": f"terminal:{world['t1'].id}"})
    assert r.status_code == 302
    clinic = items["拱墅区某某诊所"]
    r = manager.post("/ingestion/review", data={"item": [clinic.id], "action": "create", "region_code": "330105"})
    assert r.status_code == 302
    db_session.expire_all()
    sub = db_session.get(Submission, sub.id)
    assert (sub.rows_accepted, sub.rows_review, sub.rows_rejected) == (7, 0, 0)
    after = db_session.execute(select(StockBalance.quantity).where(
        StockBalance.lot_id == world["lots"]["L1"].id, StockBalance.location_id == world["loc"]["ING-D1"].id)).scalar()
    assert before - after == 12
    # confirming again is refused (already resolved): nothing loads twice
    r = manager.post("/ingestion/review", data={"item": [one.id], "action": "confirm"})
    db_session.expire_all()
    assert db_session.get(Submission, sub.id).rows_accepted == 7
    # next month's file matches by itself through the alias
    r = _upload(manager, csv_bytes([sale(day="2026-06-03", customer="杭州一院", qty=2)]), period="2026-06",
                distributor="ING-D1")
    nxt = db_session.get(Submission, int(r.headers["Location"].rsplit("/", 1)[1]))
    assert (nxt.rows_accepted, nxt.rows_review) == (1, 0)


def test_api_submit_status_and_tenant_scoping(app, db_session, world, make_user, layout):
    from app.auth.services import create_token

    _, secret = create_token(world["user"], "erp")
    h = {"Authorization": f"Bearer {secret}"}
    c = app.test_client()
    r = c.post("/api/v1/ingestion/submissions", headers=h, content_type="multipart/form-data",
               data={"file": (io.BytesIO(csv_bytes([sale(qty=q) for q in (1, 2)])), "a.csv"), "kind": "sell_out",
                     "period": "2026-05"})
    assert r.status_code == 202, r.json
    sub_id = r.json["id"]
    got = c.get(f"/api/v1/ingestion/submissions/{sub_id}", headers=h).json
    assert got["status"] == "loaded" and got["rows_accepted"] == 2
    again = c.post("/api/v1/ingestion/submissions", headers=h, content_type="multipart/form-data",
                   data={"file": (io.BytesIO(csv_bytes([sale(qty=q) for q in (1, 2)])), "a.csv"),
                         "kind": "sell_out", "period": "2026-05"})
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    bad = c.post("/api/v1/ingestion/submissions", headers=h, content_type="multipart/form-data",
                 data={"file": (io.BytesIO(b"MZ" + b"\0" * 100), "x.xlsx"), "kind": "sell_out", "period": "2026-05"})
    assert bad.status_code == 422 and bad.json["error"]["code"] == "not_a_table"
    assert "程序" in bad.json["error"]["message"] or "program" in bad.json["error"]["message"]
    # another distributor's user sees none of it
    _, other = create_token(make_user("distributor", world["other"]), "other")
    oh = {"Authorization": f"Bearer {other}"}
    assert c.get(f"/api/v1/ingestion/submissions/{sub_id}", headers=oh).status_code == 404
    assert c.get("/api/v1/ingestion/submissions", headers=oh).json["total"] == 0
    assert c.get("/api/v1/ingestion/review", headers=h).status_code == 403
    assert c.get(f"/api/v1/ingestion/submissions/{sub_id}/rejected", headers=oh).status_code == 404


def test_manager_pages_render(app, db_session, world, login, ingest):
    ingest(csv_bytes([sale(customer="未知终端甲", qty=1)] + [sale(qty=q) for q in (2, 3)]))
    manager = login("channel_manager")
    for url in ("/ingestion/", "/ingestion/upload", "/ingestion/review", "/ingestion/templates",
                "/ingestion/timeliness", "/ingestion/closings", "/ingestion/sources"):
        r = manager.get(url)
        assert r.status_code == 200, (url, r.get_data(as_text=True)[:300])
    r = manager.post("/ingestion/closings", data={"month": "2026-04", "distributor": ""})
    assert r.status_code == 302
    assert "2026-04" in manager.get("/ingestion/closings").get_data(as_text=True)
    r = manager.post("/ingestion/timeliness/schedule", data={"distributor": "ING-D1", "kind": "sell_out",
                                                             "due_day": "10", "expected": "1"})
    assert r.status_code == 302
    r = manager.post("/ingestion/sources", data={"distributor": "ING-D1", "location": "/tmp/drop-ing-d1",
                                                 "pattern": "*.csv", "data_kind": "sell_out", "active": "1"})
    assert r.status_code == 302 and "/tmp/drop-ing-d1" in manager.get("/ingestion/sources").get_data(as_text=True)


def test_moments_read_in_the_business_time_zone_not_in_utc(app, db_session, world, login, ingest):
    """A file received at 00:30 Beijing time on 1 December is stored as 16:30 UTC on 30 November; the submission
    page and list show the Beijing time a person expects (they showed the UTC time before)."""
    from datetime import UTC, datetime

    sub = ingest(csv_bytes([sale(qty=2)]))
    sub.submitted_at = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
    db_session.flush()
    manager = login("channel_manager")
    for url in (f"/ingestion/submissions/{sub.id}", "/ingestion/"):
        page = manager.get(url).get_data(as_text=True)
        assert "2026-12-01 00:30" in page and "2026-11-30 16:30" not in page, url


def test_a_refused_file_says_why_once(app, db_session, world, login, ingest):
    sub = ingest(csv_bytes([sale(day="2025-05-10", qty=q) for q in (1, 2, 3)]))
    assert sub.status == "failed" and sub.error_message
    page = login(world["user"]).get(f"/ingestion/submissions/{sub.id}").get_data(as_text=True)
    assert page.count(sub.error_message) == 1  # the alert; the outcome line no longer repeats it


def test_timeliness_lists_only_distributors_expected_to_report(app, db_session, world, login):
    """On the demo, 55 of 60 rows were dashes: distributors nobody expects a report from. They are counted under
    the table instead of listed."""
    manager = login("channel_manager")
    for kind in ("sell_out", "inventory"):
        r = manager.post("/ingestion/timeliness/schedule", data={"distributor": "ING-X9", "kind": kind,
                                                                 "due_day": "5", "expected": "0"})
        assert r.status_code == 302
    html = manager.get("/ingestion/timeliness").get_data(as_text=True)
    table = html.split('id="timeliness"')[1].split("</table>")[0]
    assert "ING-D1" in table and "ING-X9" not in table
    assert 'id="not-expected"' in html and "另有 1 家" in html
    assert "上报及时率</h1>" in html.replace("\n", "")  # the Chinese title once, not repeated beside itself
