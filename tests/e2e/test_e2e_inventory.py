"""Inventory in the browser: stock filters and export, the near-expiry dashboard, blocking a lot, the channel stock
matrix, the recall trace with its PDF, and what a distributor user sees. The seed's stock is in conftest._seed_stock.
"""

from __future__ import annotations

import pytest
from openpyxl import load_workbook

from tests.e2e.helpers import login, snap, zh

pytestmark = pytest.mark.e2e

STOCK_HEADERS = ("Location code", "Location", "Distributor", "Tier", "Product code", "Product", "Lot", "Manufactured",
                 "Expires", "Status", "Quantity", "Unit")


def _column(page, table: str, column: int) -> list[str]:
    return [t.strip() for t in page.locator(f"#{table} tbody tr td:nth-child({column})").all_inner_texts()]


def _first_words(texts: list[str]) -> list[str]:
    return [t.split()[0] if t else "" for t in texts]


def _rows(path) -> list[list]:
    wb = load_workbook(path, read_only=True)
    try:
        return [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
    finally:
        wb.close()


def _export(page, tmp_path, name: str) -> list[list]:
    with page.expect_download() as dl:
        page.click("#export-link")
    assert dl.value.suggested_filename == "stock.xlsx"
    dl.value.save_as(tmp_path / name)
    return _rows(tmp_path / name)


def _submit(page, selector: str) -> int:
    with page.expect_navigation() as nav:
        page.click(selector)
    return nav.value.status


@pytest.fixture
def manager_page(e2e, new_page):
    page = new_page()
    login(page, e2e.base_url, e2e.seed.manager)
    return page


def test_stock_filters_by_product_and_exports_what_is_shown(e2e, manager_page, tmp_path):
    page, seed = manager_page, e2e.seed
    page.goto(f"{e2e.base_url}/inventory/")
    assert set(_first_words(_column(page, "stock", 1))) == set(seed.products)
    page.fill('#stock-filters input[name="product"]', seed.products[1])
    assert _submit(page, "#stock-filters button[type=submit]") == 200
    assert f"product={seed.products[1]}" in page.url
    assert _column(page, "stock", 2) == ["E2E-L3", "E2E-L3"]
    assert sorted(_first_words(_column(page, "stock", 5))) == ["E2E-WH", "WH-E2E-DB"]
    assert page.inner_text("#total").strip() == f"{zh('%(n)d records', n=2)} · {zh('%(q)s units', q='300')}"
    snap(page, "stock")

    rows = _export(page, tmp_path, "stock.xlsx")
    assert rows[0] == [zh(h) for h in STOCK_HEADERS]
    assert rows[0][:3] == ["库位编码", "库位", "经销商"]
    table = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert {(r[zh("Location code")], r[zh("Lot")], r[zh("Quantity")]) for r in table} == {
        ("E2E-WH", "E2E-L3", 150), ("WH-E2E-DB", "E2E-L3", 150)}
    assert {r[zh("Product code")] for r in table} == {seed.products[1]}
    assert {r[zh("Status")] for r in table} == {zh("released")}


def test_near_expiry_dashboard_has_svg_charts_and_drills_down_to_a_lot(e2e, manager_page):
    page, base = manager_page, e2e.base_url
    page.goto(f"{base}/inventory/near-expiry")
    charts = page.locator("svg.drp-chart[role=img]")
    assert charts.count() == 3
    assert [t.strip() for t in page.locator("svg.drp-chart > title").all_text_contents()] == [
        zh("Near-expiry quantity by tier"), zh("Near-expiry quantity by province"),
        zh("Near-expiry quantity by distributor")]
    assert charts.nth(2).locator("rect").count() == 4  # the manufacturer and three distributors
    assert charts.nth(2).bounding_box()["height"] > 50  # drawn, not an empty box
    assert page.inner_text("#total-quantity").strip() == "970"
    assert sorted(_column(page, "near-expiry-lots", 2)) == ["E2E-L1"] * 4 + ["E2E-L3"] * 2
    snap(page, "near-expiry")

    # a bar of the distributor chart drills down to that distributor's lots
    with page.expect_navigation():
        charts.nth(2).locator('a[href*="distributor=E2E-DB"]').click()
    assert "distributor=E2E-DB" in page.url and page.url.endswith("#lots")
    assert set(_column(page, "near-expiry-lots", 8)) == {"江苏乙医药有限公司"}
    assert sorted(zip(_column(page, "near-expiry-lots", 2), _column(page, "near-expiry-lots", 9),
                      strict=True)) == [("E2E-L1", "20 盒"), ("E2E-L3", "150 盒")]
    assert page.inner_text("#total-quantity").strip() == "170"
    # ... and a lot number to the lot
    with page.expect_navigation():
        page.locator("#near-expiry-lots").get_by_role("link", name="E2E-L3", exact=True).click()
    assert page.url == f"{base}/inventory/lots/{e2e.seed.ids['lot_L3']}"
    assert page.inner_text("h1").startswith(f"{zh('Lot')} E2E-L3")
    assert "2026-07-05" in page.inner_text("main")


def test_block_a_lot_with_a_reason(e2e, manager_page):
    page, base = manager_page, e2e.base_url
    url = f"{base}/inventory/lots/{e2e.seed.ids['lot_L9']}"
    page.goto(url)
    assert page.inner_text("#lot-status").strip() == zh("released")
    assert _column(page, "lot-balances", 4) == ["100"]
    assert _column(page, "lot-movements", 2) == [zh("Receipt")]
    page.select_option('#lot-status-form select[name="status"]', "quarantined")

    # the reason is required: the browser does not send the form without one ...
    reason = page.locator('#lot-status-form input[name="reason"]')
    page.click("#lot-status-form button[type=submit]")
    assert reason.evaluate("el => el.validity.valueMissing")
    assert page.url == url
    # ... and the server refuses a blank one when the browser's check is bypassed
    reason.evaluate("el => el.required = false")
    reason.fill("   ")
    assert _submit(page, "#lot-status-form button[type=submit]") == 422
    assert zh("A reason is required.") in page.inner_text(".alert-danger")
    page.goto(url)
    assert page.inner_text("#lot-status").strip() == zh("released")

    page.select_option('#lot-status-form select[name="status"]', "quarantined")
    page.fill('#lot-status-form input[name="reason"]', "外包装破损，隔离待检")
    assert _submit(page, "#lot-status-form button[type=submit]") == 200
    assert page.url == url
    assert zh("Lot %(lot)s is now %(status)s.", lot="E2E-L9", status=zh("quarantined")) in page.inner_text(
        ".alert-success")
    assert page.inner_text("#lot-status").strip() == f"{zh('quarantined')} · 外包装破损，隔离待检"
    assert page.inner_text("h1 .badge").strip() == zh("quarantined")
    history = page.inner_text("#lot-history")
    assert e2e.seed.manager in history and "外包装破损，隔离待检" in history and zh("quarantined") in history
    options = page.locator('#lot-status-form select[name="status"] option').all_inner_texts()
    assert options == [zh("recalled"), zh("released")]
    snap(page, "lot-quarantined")

    page.goto(f"{base}/inventory/?status=quarantined")
    assert _column(page, "stock", 2) == ["E2E-L9"]
    assert _column(page, "stock", 4) == [zh("quarantined")]


def test_channel_matrix_is_coloured_by_days_of_inventory(e2e, manager_page):
    page = manager_page
    page.goto(f"{e2e.base_url}/inventory/channel")
    rows = {r.locator("th").inner_text().split()[0]: r for r in page.locator("#channel-matrix tbody tr").all()}
    assert set(rows) == {"E2E-DA", "E2E-DB", "E2E-DA2"}

    def shown(code, column):
        td = rows[code].locator("td").nth(column)
        return td.locator("a").inner_text().strip(), td.get_attribute("class")

    # on hand × 90 days ÷ sell-out in the last 90 days; under 15 red, over 90 amber, between green
    assert shown("E2E-DA", 0)[0] == "↑510.0" and "table-warning" in shown("E2E-DA", 0)[1]
    assert shown("E2E-DB", 0)[0] == "↓10.0" and "table-danger" in shown("E2E-DB", 0)[1]
    assert shown("E2E-DA2", 0)[0] == "60.0" and "table-success" in shown("E2E-DA2", 0)[1]
    assert shown("E2E-DB", 1)[0] == "↑∞" and "table-warning" in shown("E2E-DB", 1)[1]
    assert rows["E2E-DA"].locator("td").nth(1).inner_text().strip() == ""  # A holds no P002
    snap(page, "channel")
    with page.expect_navigation():
        rows["E2E-DB"].locator("td").nth(0).locator("a").click()
    assert "distributor=E2E-DB" in page.url and "product=E2E-P001" in page.url


def test_recall_trace_lists_the_holders_and_downloads_a_pdf(e2e, manager_page, tmp_path):
    page, base, seed = manager_page, e2e.base_url, e2e.seed
    page.goto(f"{base}/inventory/trace")
    page.fill('#trace-search input[name="product"]', seed.products[0])
    page.fill('#trace-search input[name="lot"]', "E2E-L1")
    assert _submit(page, "#trace-search button[type=submit]") == 200
    assert page.url == f"{base}/inventory/lots/{seed.ids['lot_L1']}/trace"
    assert zh("Recall trace of lot %(lot)s", lot="E2E-L1") in page.inner_text("h1")
    assert list(zip(_first_words(_column(page, "trace-holdings", 1)), _column(page, "trace-holdings", 5),
                    strict=True)) == [("E2E-WH", "400"), ("WH-E2E-DA", "210"), ("WH-E2E-DB", "20"),
                                      ("WH-E2E-DA2", "40")]
    assert page.inner_text("#trace-on-hand").strip() == "670"
    assert _first_words(_column(page, "trace-distributors", 1)) == ["E2E-DA", "E2E-DB", "E2E-DA2"]
    terminals = page.inner_text("#trace-terminals")
    assert "浙江大学医学院附属第一医院" in terminals and "杭州老百姓大药房西湖店" in terminals
    assert len(_column(page, "trace-movements", 1)) == 7
    snap(page, "trace")

    # the PDF is served inline, named for saving: Chromium opens it in its viewer (whose page replaces the body
    # Playwright would see), so the file itself is fetched from the link with the browser's session
    href = page.get_attribute("#trace-pdf", "href")
    with page.expect_response(lambda r: r.url == f"{base}{href}") as opened:
        page.click("#trace-pdf")
    assert opened.value.status == 200 and opened.value.headers["content-type"] == "application/pdf"
    pdf = page.context.request.get(f"{base}{href}")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert f"recall-trace-{seed.ids['lot_L1']}.pdf" in pdf.headers["content-disposition"]
    (tmp_path / "trace.pdf").write_bytes(pdf.body())
    assert pdf.body().startswith(b"%PDF") and len(pdf.body()) > 1000


def test_distributor_sees_only_its_own_stock_and_no_recall_trace(e2e, new_page, tmp_path):
    page, base, seed = new_page(), e2e.base_url, e2e.seed
    login(page, base, seed.distributor_user)
    page.goto(f"{base}/inventory/")
    assert set(_first_words(_column(page, "stock", 5))) == {"WH-E2E-DA"}
    assert sorted(zip(_column(page, "stock", 2), _column(page, "stock", 7), strict=True)) == [
        ("E2E-L1", "210 盒"), ("E2E-L2", "300 盒")]
    table = page.inner_text("#stock")
    for other in ("E2E-WH", "WH-E2E-DB", "WH-E2E-DA2", "江苏乙医药有限公司", "杭州丙医药有限公司", "E2E-L3", "E2E-L9"):
        assert other not in table, other
    options = page.locator('#stock-filters select[name="location"] option').all_inner_texts()
    assert [o.split()[0] for o in options[1:]] == ["WH-E2E-DA"]
    assert page.locator('#stock-filters input[name="distributor"]').count() == 0
    snap(page, "stock-distributor")
    rows = _export(page, tmp_path, "own-stock.xlsx")
    assert rows[0] == [zh(h) for h in STOCK_HEADERS]
    assert {r[0] for r in rows[1:]} == {"WH-E2E-DA"} and len(rows) == 3

    lot_url = f"{base}/inventory/lots/{seed.ids['lot_L1']}"
    page.goto(lot_url)
    assert _first_words(_column(page, "lot-balances", 1)) == ["WH-E2E-DA"]
    assert page.locator("#trace-link, #lot-status-form, #lot-history").count() == 0
    for url in (f"{lot_url}/trace", f"{lot_url}/trace.pdf", "/inventory/trace"):
        response = page.goto(url if url.startswith("http") else f"{base}{url}")
        assert response.status == 403, url
        assert zh("You do not have permission to do this.") in page.inner_text("#error-message")
    assert page.goto(f"{base}/inventory/lots/{seed.ids['lot_L3']}").status == 404  # never held by A
