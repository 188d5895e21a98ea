"""A channel manager creates a product through the form: errors first, then corrected."""

from __future__ import annotations

import re

import pytest

from tests.e2e.helpers import column_texts, gtin13, login, snap, zh

pytestmark = pytest.mark.e2e


def _feedback(page, field: str) -> list[str]:
    return page.locator(f"#f-{field} ~ .invalid-feedback, #f-{field} + datalist ~ .invalid-feedback").all_inner_texts()


def test_create_product_with_errors_then_corrected(e2e, new_page):
    page = new_page()
    login(page, e2e.base_url, e2e.seed.manager)
    page.goto(f"{e2e.base_url}/products/")
    with page.expect_navigation():
        page.click("#new-record")
    assert page.url == f"{e2e.base_url}/products/new"

    code = "E2E-FORM-1"
    page.fill("#f-code", code)
    page.fill("#f-base_unit", "盒")
    page.fill("#f-pack_size", "0")
    page.fill("#f-gtin", "6901234567890")  # wrong check digit
    page.fill("#f-shelf_life_months", "24")
    page.fill("#f-product_line_code", e2e.seed.product_line)
    # generic name, specification and dosage form left empty
    with page.expect_navigation() as nav:
        page.click("#save")
    assert nav.value.status == 422
    assert page.url == f"{e2e.base_url}/products/new"
    assert zh("Please correct the errors below.") in page.inner_text(".alert-danger")
    for field in ("generic_name", "specification", "dosage_form"):
        assert "is-invalid" in page.get_attribute(f"#f-{field}", "class"), field
        assert _feedback(page, field) == [zh("Required.")], field
    assert _feedback(page, "pack_size") == [zh("Must be between %(a)s and %(b)s.", a="1", b="100000")]
    # the GTIN check digit (a rule of the resource) is reported in the same round as the field errors
    assert _feedback(page, "gtin") == [zh("Not a valid GTIN (8, 12, 13 or 14 digits with a correct check digit).")]
    for field in ("code", "base_unit", "shelf_life_months", "product_line_code"):
        assert "is-invalid" not in page.get_attribute(f"#f-{field}", "class"), field
    # what was typed is kept
    assert page.input_value("#f-code") == code
    assert page.input_value("#f-gtin") == "6901234567890"
    snap(page, "product-form-errors")

    page.fill("#f-generic_name", "瑞舒伐他汀钙片")
    page.fill("#f-brand_name", "可定")
    page.fill("#f-specification", "10mg*28片")
    page.select_option("#f-dosage_form", "片剂")
    page.fill("#f-pack_size", "120")
    with page.expect_navigation() as nav:
        page.click("#save")
    assert nav.value.status == 422
    assert _feedback(page, "gtin") == [zh("Not a valid GTIN (8, 12, 13 or 14 digits with a correct check digit).")]
    assert page.locator(".invalid-feedback").count() == 1
    assert page.input_value("#f-generic_name") == "瑞舒伐他汀钙片"
    # nothing was saved by the two failed attempts (looked up in a second tab, so the form keeps its values)
    other = page.context.new_page()
    other.goto(f"{e2e.base_url}/products/?q={code}")
    assert column_texts(other) == [zh("No records.")]
    other.close()

    gtin = gtin13("690123456789")
    page.fill("#f-gtin", gtin)
    page.check("#f-cold_chain")
    with page.expect_navigation() as nav:
        page.click("#save")
    assert nav.value.status == 200
    assert re.fullmatch(rf"{re.escape(e2e.base_url)}/products/\d+", page.url), page.url
    detail_url = page.url
    assert zh("Saved.") in page.inner_text(".alert-success")

    def shown(field):
        return page.inner_text(f'#record-fields dd[data-field="{field}"]').strip()

    assert page.inner_text("h1").strip() == f"{zh('Product')}: 瑞舒伐他汀钙片"
    assert shown("code") == code
    assert shown("generic_name") == "瑞舒伐他汀钙片"
    assert shown("specification") == "10mg*28片"
    assert shown("dosage_form") == "片剂"
    assert shown("pack_size") == "120"
    assert shown("gtin") == gtin
    assert shown("cold_chain") == zh("Yes")
    assert shown("product_line_code").startswith(e2e.seed.product_line)
    snap(page, "product-detail")

    # in the list ...
    page.goto(f"{e2e.base_url}/products/")
    assert code in column_texts(page)
    with page.expect_navigation():
        page.get_by_role("link", name=code, exact=True).click()
    assert page.url == detail_url
    # ... and found by the search box (by generic name and by GTIN), and not by an unrelated term
    page.goto(f"{e2e.base_url}/products/")
    for term in ("瑞舒伐他汀", gtin):
        page.fill('input[name="q"]', term)
        with page.expect_navigation():
            page.press('input[name="q"]', "Enter")
        assert column_texts(page) == [code], term
    page.fill('input[name="q"]', "no-such-product-xyz")
    with page.expect_navigation():
        page.press('input[name="q"]', "Enter")
    assert column_texts(page) == [zh("No records.")]
