"""Channel data in the browser: a channel manager uploads a distributor's GBK file (XHR behind the progress bar),
confirms the proposed column mapping once, reads the report and downloads the rejected rows; then confirms a
customer in the review queue, which loads the waiting rows. Runs for a distributor of its own (the seeded ones'
stock figures belong to the stock tests)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from openpyxl import load_workbook

from tests.e2e.helpers import login, snap, zh

pytestmark = pytest.mark.e2e

HEADERS = ["销售日期", "客户名称", "产品编码", "产品名称", "规格", "批号", "有效期至", "数量", "单位", "单价", "金额"]


def _file(rows) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["浙江英格测试医药有限公司 2026年5月销售流向"])
    w.writerow(HEADERS)
    w.writerows(rows)
    w.writerow(["合计", "", "", "", "", "", "", sum(int(r[7]) for r in rows)])
    return buf.getvalue().encode("gbk")


def _line(customer, qty, day="2026-05-10"):
    return [day, customer, "E2E-P001", "阿托伐他汀钙片", "20mg*7片", "E2E-L2", "2027-06-01", qty, "盒", "12.50",
            f"{qty * 12.5:.2f}"]


def _make_distributor(page, base_url: str) -> None:
    token = page.get_attribute('meta[name="csrf-token"]', "content")
    r = page.request.post(f"{base_url}/api/v1/distributors",
                          headers={"X-CSRFToken": token, "Content-Type": "application/json"},
                          data=json.dumps({"code": "E2E-ING", "name": "浙江英格测试医药有限公司", "tier": 1,
                                           "region_code": "330100", "licence_no": "浙AA5719999",
                                           "licence_expiry": "2030-12-31"}),
                          )
    assert r.status in (200, 201), r.text()


def test_upload_map_report_and_review(e2e, new_page, page_log):
    page = new_page()
    base = e2e.base_url
    login(page, base, e2e.seed.manager)
    _make_distributor(page, base)
    page.goto(f"{base}/ingestion/upload")
    page.select_option("#u-dist", "E2E-ING")
    page.select_option("#u-kind", "sell_out")
    page.fill("#u-period", "2026-05")
    rows = [_line("浙江大学医学院附属第一医院", 10), _line("浙江大学医学院附属第一医院", 20, "2026-05-11"),
            _line("杭州老百姓大药房西湖店", 5), _line("浙大附一院", 7), _line("西溪社区卫生服务站", 3),
            _line("杭州老百姓大药房西湖店", 0, "2026-05-12")]
    page.set_input_files("#u-file", files=[{"name": "流向_2026-05.csv", "mimeType": "text/csv", "buffer": _file(rows)}])
    page.click("#u-submit")
    page.wait_for_selector("#map-link")  # a new layout: the proposed mapping is confirmed once
    assert page_log.xhr_posts == [f"{base}/ingestion/upload"]  # sent by app.js behind the progress bar
    assert page.locator("#upload-progress").count() == 0  # the submission page replaced the form
    snap(page, "ingestion-needs-mapping")
    page.click("#map-link")
    assert page.input_value('select[name="field_customer_name"]') == "客户名称"
    assert page.input_value('select[name="field_lot_no"]') == "批号"
    with page.expect_navigation():
        page.click("#confirm-template")
    page.goto(f"{base}/ingestion/?distributor=E2E-ING")
    page.click("#submissions tbody tr:first-child td:first-child a")
    page.wait_for_selector("#rows-read")
    snap(page, "ingestion-report")
    counts = {k: page.inner_text(f"#rows-{k}").strip() for k in ("read", "accepted", "rejected", "review")}
    assert counts == {"read": "6", "accepted": "3", "rejected": "1", "review": "2"}
    assert zh("loaded") in page.inner_text("#status")
    assert page.locator("#shortfalls").count() == 1  # E2E-ING holds no stock: reported, counted, not posted
    assert zh("uploaded on the page") in page.inner_text("#submission-facts")  # not the code 'upload'
    # the same report on a phone: its facts wrap instead of pushing the page sideways (586 px wide before)
    phone = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone.context.add_cookies(page.context.cookies())
    phone.goto(page.url)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.close()
    with page.expect_download() as info:
        page.click("#rejected-download")
    ws = load_workbook(io.BytesIO(info.value.path().read_bytes())).active
    lines = [[c.value for c in r] for r in ws.iter_rows()]
    assert lines[0][:2] == [zh("Line in file"), zh("Reasons")]
    assert lines[1][0] == 8 and zh("The quantity is zero.") in lines[1][1]
    # the review queue: confirm the candidate of one customer; its row is loaded and the submission counts move
    page.goto(f"{base}/ingestion/review?distributor=E2E-ING")
    items = page.locator("#review-items tbody tr")
    assert items.count() == 2
    row = page.locator("#review-items tbody tr", has_text="浙大附一院")
    assert "浙江大学医学院附属第一医院" in row.locator("select").inner_text()
    # an abbreviation scores too low to be preselected: confirming without a choice changes nothing and says so
    assert row.locator("select").input_value() == ""
    row.locator(".item-check").check()
    with page.expect_navigation():
        page.click("#confirm-selected")
    assert "浙大附一院" in page.locator(".alert-warning").inner_text()
    row = page.locator("#review-items tbody tr", has_text="浙大附一院")
    label = [t for t in row.locator("select option").all_inner_texts() if "浙江大学医学院附属第一医院" in t][0]
    row.locator("select").select_option(label=label)
    row.locator(".item-check").check()
    with page.expect_navigation():
        page.click("#confirm-selected")
    snap(page, "ingestion-review")
    assert page.locator("#review-items tbody tr", has_text="浙大附一院").count() == 0
    page.goto(f"{base}/ingestion/?distributor=E2E-ING")
    assert page.inner_text("#submissions tbody tr:first-child").split()[-4:] == ["6", "4", "1", "1"]
