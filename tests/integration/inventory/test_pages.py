"""Inventory pages by role: reads, block / release, opening import, manual movements, exports, PDF, isolation."""

import io
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app.models import AuditLog
from inventory import services
from inventory.models import Lot, StockBalance, StockMovement
from tests.integration.inventory.test_opening import HEADER, xlsx
from tests.integration.inventory.test_trace import pdf_text

STAFF = ("admin", "channel_manager", "finance", "viewer")


def pages(w):
    l1 = w["lots"]["L1"].id
    return [
        "/inventory/", "/inventory/?product=CH-P1&status=released&expires_before=2026-12-31&sort=expiry",
        "/inventory/export.xlsx", f"/inventory/lots/{l1}", f"/inventory/lots/{l1}/movements.xlsx",
        "/inventory/channel", "/inventory/channel?tier=1&province=330000", "/inventory/channel.xlsx",
        "/inventory/channel/lots?distributor=CH-D1", "/inventory/channel/lots.xlsx", "/inventory/near-expiry",
        "/inventory/near-expiry?window=30&tier=1", "/inventory/near-expiry.xlsx",
    ]


def staff_pages(w):
    l1 = w["lots"]["L1"].id
    return ["/inventory/trace", "/inventory/trace?lot=L", f"/inventory/lots/{l1}/trace",
            f"/inventory/lots/{l1}/trace.pdf", f"/inventory/lots/{l1}/trace.xlsx"]


@pytest.mark.parametrize("role", STAFF)
def test_staff_read_every_page(db_session, login, channel_world, role):
    client = login(role)
    for url in pages(channel_world) + staff_pages(channel_world):
        r = client.get(url)
        assert r.status_code == 200, (url, r.status_code)
    for url in ("/inventory/opening", "/inventory/movements/new", "/inventory/opening/template.xlsx"):
        assert client.get(url).status_code == (200 if role in ("admin", "channel_manager") else 403), url


def test_anonymous_is_sent_to_login(db_session, client, channel_world):
    r = client.get("/inventory/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_distributor_sees_its_own_stock_only(db_session, login, make_user, channel_world):
    w = channel_world
    client = login(make_user("distributor", w["d1"]))
    for url in pages(w):
        r = client.get(url)
        assert r.status_code == 200, url
        body = r.get_data(as_text=True) if not url.endswith(".xlsx") else _xlsx_text(r.data)
        for other in ("WH-CH-D2", "WH-CH-D3", "广东一级医药", "MAN-WH", "杭州总仓", "CH-P2", "布洛芬片"):
            if other == "WH-CH-D2" and "/lots/" in url and "channel" not in url:
                continue  # D1's own transfer to D2 is D1's movement too
            assert other not in body, (url, other)
    for url in staff_pages(w) + ["/inventory/opening", "/inventory/movements/new"]:
        assert client.get(url).status_code == 403, url
    assert client.get(f"/inventory/lots/{w['lots']['L3'].id}").status_code == 404  # never touched D1
    page = client.get(f"/inventory/lots/{w['lots']['L1'].id}").get_data(as_text=True)
    assert "CH-T1" not in page and "杭州第一医院" not in page  # terminal master data is manufacturer-only
    assert "sell_out-L1" in page  # but its own sell-outs are listed
    assert client.post(f"/inventory/lots/{w['lots']['L1'].id}/status",
                       data={"status": "recalled", "reason": "x"}).status_code == 403


def _xlsx_text(data: bytes) -> str:
    wb = load_workbook(io.BytesIO(data), read_only=True)
    return " ".join(str(c) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for c in row)


def test_block_and_release_from_the_lot_page(db_session, login, channel_world):
    lot = channel_world["lots"]["L2"]
    client = login("channel_manager")
    r = client.post(f"/inventory/lots/{lot.id}/status", data={"status": "quarantined", "reason": "  "})
    assert r.status_code == 422 and "reason" in r.get_data(as_text=True).lower() or "原因" in r.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(Lot, lot.id).status == "released"
    r = client.post(f"/inventory/lots/{lot.id}/status", data={"status": "recalled", "reason": "质量问题召回"})
    assert r.status_code == 302
    db_session.expire_all()
    assert (db_session.get(Lot, lot.id).status, db_session.get(Lot, lot.id).status_reason) == ("recalled",
                                                                                                "质量问题召回")
    audit = db_session.execute(select(AuditLog).where(AuditLog.action == "lot_recalled")).scalar_one()
    assert audit.note == "质量问题召回" and audit.actor == client.user.username
    page = client.get(f"/inventory/lots/{lot.id}").get_data(as_text=True)
    assert "质量问题召回" in page
    for role in ("finance", "viewer"):
        assert login(role).post(f"/inventory/lots/{lot.id}/status",
                                data={"status": "released", "reason": "x"}).status_code == 403


def _counts(db_session):
    return tuple(db_session.execute(select(func.count()).select_from(m)).scalar_one()
                 for m in (Lot, StockMovement, StockBalance))


def test_opening_import_page(db_session, login, channel_world):
    client = login("admin")
    before = _counts(db_session)
    bad = xlsx([["MAN-WH", "CH-P1", "N1", date(2025, 1, 1), date(2024, 1, 1), 5],
                ["MAN-WH", "CH-P1", "N2", date(2025, 1, 1), date(2027, 1, 1), -1]])
    r = client.post("/inventory/opening", data={"file": (bad, "opening.xlsx")}, content_type="multipart/form-data")
    body = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="import-errors"' in body and "2024-01-01" in body
    assert _counts(db_session) == before
    good = xlsx([["MAN-WH", "CH-P1", "N1", date(2025, 1, 1), date(2027, 1, 1), 5]])
    r = client.post("/inventory/opening", data={"file": (good, "opening.xlsx")}, content_type="multipart/form-data")
    assert r.status_code == 302
    assert _counts(db_session) == (before[0] + 1, before[1] + 1, before[2] + 1)
    r = client.post("/inventory/opening", data={}, content_type="multipart/form-data")
    assert r.status_code == 400
    template = client.get("/inventory/opening/template.xlsx")
    assert _xlsx_text(template.data).split() == HEADER


def test_movement_form(db_session, login, channel_world):
    client = login("channel_manager")
    before = _counts(db_session)
    base = {"kind": "write_off", "product_code": "CH-P1", "lot_no": "L1", "from_location": "MAN-WH"}
    for qty, needle in (("0", "quantity"), ("-4", "quantity"), ("601", "600")):
        r = client.post("/inventory/movements/new", data={**base, "quantity": qty})
        assert r.status_code == 422, qty
        assert needle in r.get_data(as_text=True)
    r = client.post("/inventory/movements/new", data={"kind": "receipt", "product_code": "CH-P1", "lot_no": "NEW",
                                                      "manufactured_on": "2026-01-01", "expires_on": "2025-01-01",
                                                      "quantity": "5", "to_location": "MAN-WH"})
    assert r.status_code == 422 and "2025-01-01" in r.get_data(as_text=True)
    r = client.post("/inventory/movements/new", data={"kind": "receipt", "product_code": "CH-P1", "lot_no": "L1",
                                                      "manufactured_on": "2024-08-02", "expires_on": "2026-08-01",
                                                      "quantity": "5", "to_location": "MAN-WH"})
    assert r.status_code == 422 and "2024-08-01" in r.get_data(as_text=True)
    assert _counts(db_session) == before
    r = client.post("/inventory/movements/new", data={**base, "quantity": "600"})
    assert r.status_code == 302
    assert services.ledger_sum(channel_world["wh"].id, channel_world["lots"]["L1"].id) == 0


def test_exports_neutralise_formulas(db_session, login, channel_world):
    w = channel_world
    lot = services.register_lot(w["p1"], "=HYPERLINK(\"x\")", date(2026, 1, 1), date(2026, 9, 1))
    services.post_movement("receipt", lot, 5, to_location=w["wh"], note="@SUM(1)")
    client = login("admin")
    for url in ("/inventory/export.xlsx", "/inventory/near-expiry.xlsx", f"/inventory/lots/{lot.id}/movements.xlsx"):
        r = client.get(url)
        wb = load_workbook(io.BytesIO(r.data))
        values = [c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row]
        assert "'=HYPERLINK(\"x\")" in values or "'@SUM(1)" in values, url
        assert not any(isinstance(v, str) and v.startswith(("=", "@")) for v in values), url
    rows = list(load_workbook(io.BytesIO(client.get("/inventory/channel.xlsx").data)).active.iter_rows(
        values_only=True))
    assert ("CH-D1", "浙江一级医药", 1, "浙江省", "CH-P1") == rows[1][:5] and rows[1][6] == 380


def test_trace_pages_and_pdf(db_session, login, channel_world):
    lot = channel_world["lots"]["L1"]
    client = login("viewer")
    page = client.get(f"/inventory/lots/{lot.id}/trace").get_data(as_text=True)
    for needle in ("MAN-WH", "浙江一级医药", "江苏二级医药", "杭州第一医院", "南京药房", "775"):
        assert needle in page
    r = client.get(f"/inventory/lots/{lot.id}/trace.pdf")
    assert r.mimetype == "application/pdf" and r.data.startswith(b"%PDF")
    assert "L1" in pdf_text(r.data)
    r = client.get("/inventory/trace?product=CH-P1&lot=L1")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/inventory/lots/{lot.id}/trace")


def test_near_expiry_dashboard_has_charts_and_drill_down(db_session, login, channel_world):
    body = login("channel_manager").get("/inventory/near-expiry").get_data(as_text=True)
    assert body.count('role="img"') == 3 and "<svg" in body
    assert "distributor=CH-D1" in body  # a bar links to the distributor's lots
    assert "1,285" in body and "—" in body  # total quantity; value unknown
    drill = login("channel_manager").get("/inventory/near-expiry?distributor=CH-D3").get_data(as_text=True)
    assert "L3" in drill and "WH-CH-D1" not in drill


def test_channel_matrix_page(db_session, login, channel_world):
    body = login("finance").get("/inventory/channel").get_data(as_text=True)
    assert "table-danger" in body and "table-warning" in body and "table-success" in body
    assert "228.0" in body and "16.9" in body and "3.8" in body and "∞" in body
    detail = login("finance").get("/inventory/channel/lots?distributor=CH-D1").get_data(as_text=True)
    assert "140" in detail and "240" in detail


def test_the_expiry_filter_is_labelled_on_the_page(db_session, login, channel_world):
    """The date box had only a tooltip (and the browser's mm/dd/yyyy): nobody could tell what it filtered."""
    html = login("channel_manager").get("/inventory/?expires_before=2026-12-31").get_data(as_text=True)
    assert '<label class="input-group-text" for="expires_before">有效期早于</label>' in html
    assert 'value="2026-12-31"' in html


def test_near_expiry_value_reads_as_the_stock_value(db_session, login, channel_world):
    """'Value' there is money (货值), not a cell's value (值, as in the import error lists)."""
    import io

    from openpyxl import load_workbook

    client = login("channel_manager")
    html = client.get("/inventory/near-expiry").get_data(as_text=True)
    assert "货值" in html and ">值<" not in html
    with client.get("/inventory/near-expiry.xlsx") as x:
        header = [c.value for c in next(load_workbook(io.BytesIO(x.data)).active.iter_rows(max_row=1))]
    assert header[-1] == "货值"
