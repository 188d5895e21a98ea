"""The coverage pages, exports, API, channel report and 360° page, on the hand-computed channel of
test_coverage_metrics (the numbers here are the ones worked out there)."""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import load_workbook

from tests.integration.distribution.test_coverage_metrics import HandWorld
from tests.integration.inventory.test_trace import pdf_text

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def hw(request):
    world = HandWorld(request)
    world.replace_may()
    return world


def _cells(response) -> list[list]:
    assert response.status_code == 200 and response.mimetype == XLSX
    wb = load_workbook(io.BytesIO(response.data), read_only=True)
    return [list(row) for ws in wb.worksheets for row in ws.iter_rows(values_only=True)]


def test_dashboard_shows_numbers_definitions_charts_and_drill_down(hw, login):
    c = login("channel_manager")
    r = c.get("/distribution/coverage/?product=HW-P1&period=2026-05")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "66.7%" in html and "79.5%" in html and "4 / 6" not in html  # listing rate, weighted
    assert "铺货率" in html and "Listing rate" in html  # the definition in both languages
    assert html.count("<svg") >= 3  # two trend charts and the ranked provinces
    assert "region=330000" in html and "region=320000" in html  # drill-down links to the provinces
    zj = c.get("/distribution/coverage/?product=HW-P1&period=2026-05&region=330000").get_data(as_text=True)
    assert "杭州市" in zj and "宁波市" in zj and "50.0%" in zj
    page = c.get("/distribution/coverage/terminals?product=HW-P1&period=2026-05&region=330100&which=without")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "HW-T2" in text and "HW-T8" in text and "HW-T1" not in text
    rows = _cells(c.get("/distribution/coverage/terminals.xlsx?product=HW-P1&period=2026-05&region=330100"))
    assert [r[0] for r in rows[1:5]] == ["HW-T1", "HW-T3", "HW-T2", "HW-T8"]
    sheets = _cells(c.get("/distribution/coverage/export.xlsx?product=HW-P1&period=2026-05"))
    assert ["浙江省" in str(r) for r in sheets].count(True) >= 1 and any("66.7%" in str(r) for r in sheets)


def test_bad_filters_are_a_400_naming_them(hw, login):
    c = login("channel_manager")
    r = c.get("/distribution/coverage/?product=NOPE&period=2026-13")
    assert r.status_code == 400
    assert "NOPE" in r.get_data(as_text=True)
    api = c.get("/api/v1/coverage/summary?product=NOPE")
    assert api.status_code == 400 and api.json["error"]["details"][0]["field"] == "product"


def test_other_tables_and_exports(hw, login):
    c = login("channel_manager")
    sell = c.get("/distribution/coverage/sell-through?period=2026-05").get_data(as_text=True)
    assert "HW-DA" in sell and "HW-DB" in sell
    rows = _cells(c.get("/distribution/coverage/sell-through.xlsx?period=2026-05"))
    db_row = next(r for r in rows if r[0] == "HW-DB")
    assert db_row[5] == 11 and db_row[7] == 20  # sell-out 8 + 1 + 2, transfer 20
    assert "HW-DA" in c.get("/distribution/coverage/achievement?period=2026-05").get_data(as_text=True)
    assert len(_cells(c.get("/distribution/coverage/achievement.xlsx?period=2026-05"))) > 2
    div = c.get("/distribution/coverage/diversion?period=2026-05").get_data(as_text=True)
    assert hw.da_may_v2.filename in div and "HW-T5" in div
    flags = _cells(c.get("/distribution/coverage/diversion.xlsx?period=2026-05&kind=lot_region"))
    assert [(r[1], r[6], r[13]) for r in flags[1:] if r[0] and r[1] and str(r[1]).startswith("HW")] == [
        ("HW-DA", "HW-T5", 4)]


def test_api_summary_with_definitions_and_tenancy(hw, login, make_user):
    c = login("channel_manager")
    body = c.get("/api/v1/coverage/summary?product=HW-P1&period=2026-05").json
    numbers = {n["key"]: n for n in body["numbers"]}
    assert numbers["listing_rate"]["value"] == "66.7" and "铺货率" in numbers["listing_rate"]["definition"]["zh"]
    assert body["counts"]["targets"] == 6
    assert c.get("/api/v1/coverage/regions?product=HW-P1&period=2026-05").json["items"][0]["code"] == "320000"
    assert c.get("/api/v1/coverage/terminals?product=HW-P1&period=2026-05&which=with").json["total"] == 4
    assert c.get("/api/v1/coverage/diversion?period=2026-05").json["total"] == 3
    dist = login(make_user("distributor", hw.da))
    own = dist.get("/api/v1/coverage/summary?product=HW-P1&period=2026-05").json
    assert own["counts"]["targets"] == 5 and own["counts"]["bought"] == 2  # DA's territory, bought from DA
    assert dist.get("/api/v1/coverage/terminals?period=2026-05").status_code == 403
    assert dist.get("/distribution/coverage/").status_code == 403


def test_360_page_staff_and_distributor(hw, login, make_user):
    c = login("channel_manager")
    html = c.get(f"/distribution/distributors/{hw.da.id}/360").get_data(as_text=True)
    for key in ("agreements", "prices", "orders", "receivables", "stock", "submissions", "coverage", "returns",
                "diversion"):
        assert f'id="section-{key}"' in html
    assert hw.da_may_v2.filename in html  # the current May version is listed among the submissions
    subs = html.split('id="section-submissions"', 1)[1].split("</section>", 1)[0]
    assert "纯销" in subs and "已加载" in subs  # kind and status in the user's language, not their codes
    assert "sell_out" not in subs and ">loaded" not in subs
    sheets = _cells(c.get(f"/distribution/distributors/{hw.da.id}/360.xlsx"))
    assert any(r and r[0] == "HW-CV" + " " + hw.cv.name for r in sheets)
    assert any(r and r[0] == "退货申请" for r in sheets)  # the returns section's sheet, with zero counts here
    dist = login(make_user("distributor", hw.da))
    own = dist.get(f"/distribution/distributors/{hw.da.id}/360")
    assert own.status_code == 200 and 'id="section-diversion"' not in own.get_data(as_text=True)
    assert dist.get(f"/distribution/distributors/{hw.db.id}/360").status_code == 404
    api = dist.get(f"/api/v1/distributors/{hw.da.id}/360").json
    assert "diversion" not in [s["key"] for s in api["sections"]]
    assert dist.get("/distribution/my-360").status_code == 302


def test_channel_report_on_demand_renders_chinese(hw, login):
    c = login("channel_manager")
    r = c.post("/distribution/coverage/reports", data={"month": "2026-05"})
    assert r.status_code == 302
    page = c.get("/distribution/coverage/reports").get_data(as_text=True)
    assert "2026-05" in page
    from distribution.channel_reports import list_reports

    report = list_reports()[0]
    pdf = c.get(f"/distribution/coverage/reports/{report.id}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = pdf_text(pdf.data)
    assert "月度渠道报告" in text and "铺货率" in text and "浙江省" in text
    bad = c.post("/distribution/coverage/reports", data={"month": "2026/99"}, follow_redirects=True)
    assert "2026-05" in bad.get_data(as_text=True)


def test_scheduled_report_once_a_month_and_notified(hw):
    from sqlalchemy import select

    from app.models import Notification
    from distribution.channel_reports import scheduled_report

    first = scheduled_report()
    assert scheduled_report() == first  # a second run in the same month adds nothing
    note = hw.s.execute(select(Notification).where(Notification.kind == "channel_report")).scalar_one()
    assert "2026-05" in note.title and str(first) in note.link


def test_cli_rebuild_and_report(hw, app):
    runner = app.test_cli_runner()
    out = runner.invoke(args=["drp", "rebuild-rollups"])
    assert out.exit_code == 0 and "3 diversion flags" in out.output
    out = runner.invoke(args=["drp", "channel-report", "2026-05"])
    assert out.exit_code == 0 and "channel report 2026-05" in out.output
    assert runner.invoke(args=["drp", "channel-report", "May"]).exit_code == 1
    assert date(2026, 5, 1)


@pytest.mark.parametrize("query", ["", "?period_kind=quarter", "?period_kind=ytd"])
def test_an_empty_period_box_shows_the_period_being_shown(hw, login, query):
    """With no period typed, the box's hint is the period the numbers are for (it said 2026-05 whatever they were:
    on the demo, November's numbers under a box reading 2026-05)."""
    import re

    html = login("channel_manager").get(f"/distribution/coverage/{query}").get_data(as_text=True)
    hint = re.search(r'id="f-period" name="period" value="" placeholder="([^"]*)"', html).group(1)
    shown = re.search(r'id="scope">[^<]*<strong>([^<]*)</strong>', html).group(1)
    assert hint and (hint == shown if "quarter" in query else shown.endswith(hint)), (hint, shown)


def test_360_credit_card_shows_the_temporary_increase_its_available_figure_counts(hw, login, make_user):
    """Seen on the demo: 授信额度 1,800,000, 未清应收 118,224.02, 可用额度 1,981,775.98 — the 300,000 temporary
    increase that explains the sum was not on the card."""
    from decimal import Decimal

    from app import clock
    from credit import services

    services.add_temporary_increase(hw.da, Decimal("30000"), clock.today(), clock.today(), make_user("finance"), "旺季")
    html = login("channel_manager").get(f"/distribution/distributors/{hw.da.id}/360").get_data(as_text=True)
    card = html.split('id="section-orders"', 1)[1].split("</section>", 1)[0]
    assert 'id="credit-temporary"' in card and "+30,000.00" in card
    e = services.exposure(hw.da)
    assert e.available == e.limit + e.temporary - e.open_receivables - e.reserved  # what the card adds up
