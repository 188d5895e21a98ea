"""Excel import through the page, whose form is sent by app.js with XHR behind a progress bar."""

from __future__ import annotations

import pytest

from app.masterdata.resources import products
from tests.e2e.helpers import column_texts, login, snap, total_records, xlsx_bytes, zh

pytestmark = pytest.mark.e2e

HEADER = [f.header for f in products.fields if f.name != "active"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _row(code: str, name: str, product_line: str) -> list:
    values = {"code": code, "generic_name": name, "brand_name": None, "specification": "0.5g*12片",
              "dosage_form": "片剂", "base_unit": "盒", "pack_size": 300, "approval_number": "国药准字H20000001",
              "gtin": None, "shelf_life_months": 24, "min_shelf_days_tier1": 180, "min_shelf_days_tier2": 90,
              "cold_chain": "否", "storage_condition": "密封，阴凉处保存", "product_line_code": product_line}
    return [values[f.name] for f in products.fields if f.name != "active"]


def _upload(page, base_url: str, name: str, content: bytes) -> None:
    page.goto(f"{base_url}/products/import")
    page.set_input_files('#import-form input[type="file"]', files=[{"name": name, "mimeType": XLSX, "buffer": content}])
    page.click('#import-form button[type="submit"]')


def _errors(page) -> list[tuple[str, str, str, str]]:
    page.wait_for_selector("#import-errors")
    rows = page.locator("#import-errors tbody tr")
    return [tuple(c.strip() for c in rows.nth(i).locator("td").all_inner_texts()) for i in range(rows.count())]


def test_import_reports_row_errors_and_imports_nothing(e2e, new_page, page_log):
    page = new_page()
    login(page, e2e.base_url, e2e.seed.manager)
    page.goto(f"{e2e.base_url}/products/")
    before = total_records(page)
    pl = e2e.seed.product_line

    duplicate = xlsx_bytes(HEADER, [_row("E2E-IMP-A1", "布洛芬缓释胶囊", pl), _row("E2E-IMP-A2", "对乙酰氨基酚片", pl),
                                    _row("E2E-IMP-A1", "布洛芬缓释胶囊", pl)])
    _upload(page, e2e.base_url, "duplicate.xlsx", duplicate)
    errors = _errors(page)
    snap(page, "import-errors")
    assert errors == [("4", "产品编码", "E2E-IMP-A1",
                       zh("Duplicate code %(code)s (also on row %(row)d).", code="E2E-IMP-A1", row=2))]
    assert zh("Nothing was imported: %(n)d problems found. Correct the file and upload it again.", n=1) \
        in page.inner_text(".alert-danger")

    unknown_line = xlsx_bytes(HEADER, [_row("E2E-IMP-B1", "阿莫西林胶囊", pl),
                                       _row("E2E-IMP-B2", "头孢克肟片", "NO-SUCH-PL")])
    _upload(page, e2e.base_url, "unknown-line.xlsx", unknown_line)
    errors = _errors(page)
    assert errors == [("3", "产品线编码", "NO-SUCH-PL", zh("Unknown code %(code)s.", code="NO-SUCH-PL"))]
    # the page came from the XHR path of app.js (not a plain form post) and is a working page again
    assert page_log.xhr_posts == [f"{e2e.base_url}/products/import"] * 2
    assert page.locator("#import-form").count() == 1
    with page.expect_download() as dl:
        page.get_by_role("link", name=zh("Download the error report")).click()
    assert dl.value.suggested_filename == "import-errors.xlsx"

    # nothing was imported: not the good row of either file
    page.goto(f"{e2e.base_url}/products/")
    assert total_records(page) == before
    for code in ("E2E-IMP-A1", "E2E-IMP-A2", "E2E-IMP-B1"):
        page.goto(f"{e2e.base_url}/products/?q={code}")
        assert column_texts(page) == [zh("No records.")], code


def test_import_good_file_creates_rows(e2e, new_page, page_log):
    page = new_page()
    login(page, e2e.base_url, e2e.seed.manager)
    page.goto(f"{e2e.base_url}/products/")
    before = total_records(page)
    good = xlsx_bytes(HEADER, [_row("E2E-IMP-C1", "奥美拉唑肠溶胶囊", e2e.seed.product_line),
                               _row("E2E-IMP-C2", "二甲双胍缓释片", e2e.seed.product_line)])
    _upload(page, e2e.base_url, "good.xlsx", good)
    page.wait_for_selector(".alert-success")
    snap(page, "import-success")
    assert page_log.xhr_posts == [f"{e2e.base_url}/products/import"]
    assert zh("Imported %(rows)d rows: %(created)d created, %(updated)d updated.", rows=2, created=2, updated=0) \
        in page.inner_text(".alert-success")
    # the XHR followed the redirect to the list, and the address bar says so
    assert page.url == f"{e2e.base_url}/products/"
    assert total_records(page) == before + 2
    codes = column_texts(page)
    assert "E2E-IMP-C1" in codes and "E2E-IMP-C2" in codes

    page.goto(f"{e2e.base_url}/products/?q=E2E-IMP-C2")
    assert column_texts(page) == ["E2E-IMP-C2"]
    assert "二甲双胍缓释片" in page.inner_text("#records tbody")
