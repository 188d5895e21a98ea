"""Export to Excel from a list page: Chinese headers, the rows shown, formulas neutralised."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook

from app.masterdata.resources import products
from tests.e2e.helpers import login, zh

pytestmark = pytest.mark.e2e


def _create_product(page, base_url: str, code: str, name: str, product_line: str) -> None:
    page.goto(f"{base_url}/products/new")
    page.fill("#f-code", code)
    page.fill("#f-generic_name", name)
    page.fill("#f-specification", "1g*10袋")
    page.select_option("#f-dosage_form", "颗粒剂")
    page.fill("#f-base_unit", "盒")
    page.fill("#f-pack_size", "100")
    page.fill("#f-shelf_life_months", "36")
    page.fill("#f-product_line_code", product_line)
    with page.expect_navigation() as nav:
        page.click("#save")
    assert nav.value.status == 200, page.inner_text("main")


def test_export_downloads_xlsx_with_chinese_headers_and_neutralised_formulas(e2e, new_page, tmp_path):
    page = new_page()
    login(page, e2e.base_url, e2e.seed.manager)
    hostile = '=HYPERLINK("http://evil.example/","点我")'
    _create_product(page, e2e.base_url, "E2E-EXP-1", "板蓝根颗粒", e2e.seed.product_line)
    _create_product(page, e2e.base_url, "E2E-EXP-2", hostile, e2e.seed.product_line)
    # the page shows the hostile name as text, it does not run or link it
    assert page.inner_text('#record-fields dd[data-field="generic_name"]').strip() == hostile

    page.goto(f"{e2e.base_url}/products/")
    with page.expect_download() as dl:
        page.click("#export-link")
    download = dl.value
    assert download.suggested_filename == "products.xlsx"
    path = tmp_path / "products.xlsx"
    download.save_as(path)

    wb = load_workbook(path, read_only=True)
    try:
        rows = [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
    finally:
        wb.close()
    assert rows[0] == [f.header for f in products.fields]
    assert rows[0][:4] == ["产品编码", "通用名", "商品名", "规格"]
    by_code = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert {"E2E-EXP-1", "E2E-EXP-2", *e2e.seed.products} <= set(by_code)
    assert by_code["E2E-EXP-1"]["通用名"] == "板蓝根颗粒"
    assert by_code["E2E-EXP-1"]["产品线编码"] == e2e.seed.product_line
    assert by_code["E2E-EXP-2"]["通用名"] == "'" + hostile
    assert not any(isinstance(v, str) and v.startswith("=") for r in rows for v in r)

    # the export follows the search of the list page
    page.fill('input[name="q"]', "板蓝根")
    with page.expect_navigation():
        page.press('input[name="q"]', "Enter")
    with page.expect_download() as dl:
        page.click("#export-link")
    dl.value.save_as(tmp_path / "filtered.xlsx")
    wb = load_workbook(tmp_path / "filtered.xlsx", read_only=True)
    try:
        codes = [r[0] for r in wb.worksheets[0].iter_rows(min_row=2, values_only=True)]
    finally:
        wb.close()
    assert codes == ["E2E-EXP-1"]
    assert zh("Export Excel") == page.inner_text("#export-link").strip()
