"""Orders and finance in the browser: a distributor places an order that is approved and one that is held (and sees
why); finance finds the held one in the hold queue, cannot decide it without a reason, approves it with one, and the
distributor sees the decision; the statement of account downloads as PDF and Excel.

Distributor A (see conftest): limit 10,000.00, 2,000.00 open, so 8,000.00 available. P001 at 11.80 from 100 boxes,
pack 200: 2 cases = 4,720.00. P002 at A's own price 23.40: 1 case = 4,680.00, more than the 3,280.00 then left.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from tests.e2e.helpers import login, snap, zh

pytestmark = pytest.mark.e2e


def _place(page, base: str, code: str, cases: int) -> str:
    page.goto(f"{base}/distribution/orders/new")
    page.locator('input[name="product_code"]').first.fill(code)
    page.locator('input[name="quantity"]').first.fill(str(cases))
    page.locator('select[name="unit"]').first.select_option("case")
    with page.expect_navigation():
        page.click("#submit-order")
    assert re.fullmatch(rf"{base}/distribution/orders/\d+", page.url), page.inner_text("main")
    return re.search(r"SO\d{8}-[0-9A-F]{10}", page.inner_text("h1")).group()


def test_placed_approved_or_held_and_finance_decides_with_a_reason(e2e, new_page):
    base, seed = e2e.base_url, e2e.seed
    dist = new_page()
    login(dist, base, seed.distributor_user)
    # distributor users order for their own distributor only: no choice of distributor on the form
    dist.goto(f"{base}/distribution/orders/new")
    assert dist.locator("#distributor_code option").all_inner_texts() == [f"{seed.dist_a} 浙江甲医药有限公司"]

    approved = _place(dist, base, seed.products[0], 2)
    assert dist.inner_text("#status").strip() == zh("approved")
    assert dist.inner_text("#total").strip() == "4,720.00"
    assert zh("Order %(number)s placed: %(status)s.", number=approved, status=zh("approved")) in dist.inner_text(
        ".alert-success")
    assert seed.tier1_list in dist.inner_text("#lines")  # why this price: the tier list and its break
    assert dist.locator("#credit-reasons").count() == 0

    held = _place(dist, base, seed.products[1], 1)
    assert dist.inner_text("#status").strip() == zh("credit hold")
    assert dist.inner_text("#total").strip() == "4,680.00"
    assert zh("The order amount %(amount)s exceeds the available credit %(available)s by %(over)s.",
              amount="4,680.00", available="3,280.00", over="1,400.00") in dist.inner_text("#credit-reasons")
    assert dist.locator("#decision").count() == 0  # only finance decides
    snap(dist, "order-held")
    dist.goto(f"{base}/distribution/orders/?status=credit_hold")
    assert held in dist.inner_text("main") and approved not in dist.inner_text("main")

    fin = new_page()
    login(fin, base, seed.finance)
    fin.goto(f"{base}/credit/holds")
    row = fin.locator("#hold-queue tbody tr", has_text=held)
    assert row.count() == 1 and "1,400.00" in row.inner_text()
    # no reason: the browser does not send the form
    row.locator('button[value="approve"]').click()
    assert fin.url == f"{base}/credit/holds"
    assert row.locator('input[name="reason"]').evaluate("e => e.validity.valueMissing")
    # blanks only: the server refuses it, says why, and nothing changes
    row.locator('input[name="reason"]').fill("   ")
    with fin.expect_navigation() as nav:
        row.locator('button[value="approve"]').click()
    assert nav.value.status == 422
    assert zh("A reason is required.") in fin.inner_text(".alert-danger")
    row = fin.locator("#hold-queue tbody tr", has_text=held)
    assert row.count() == 1
    row.locator('input[name="reason"]').fill("客户已承诺月底回款")
    with fin.expect_navigation():
        row.locator('button[value="approve"]').click()
    assert zh("Order %(ref)s approved.", ref=held) in fin.inner_text(".alert-success")
    assert fin.locator("#hold-queue tbody tr", has_text=held).count() == 0
    snap(fin, "hold-queue")

    dist.goto(f"{base}/distribution/orders/?q={held}")
    with dist.expect_navigation():
        dist.get_by_role("link", name=held).click()
    assert dist.inner_text("#status").strip() == zh("approved")
    assert "客户已承诺月底回款" in dist.inner_text("#credit-reasons")


def test_statement_of_account_downloads_as_pdf_and_excel(e2e, new_page):
    from openpyxl import load_workbook

    base, seed = e2e.base_url, e2e.seed
    page = new_page()
    login(page, base, seed.finance)
    page.goto(f"{base}/credit/")
    with page.expect_navigation():
        page.locator("#credit-accounts").get_by_role("link", name=re.compile(seed.dist_a + " ")).click()
    assert page.url == f"{base}/credit/distributors/{seed.ids['dist_a']}"
    page.fill('#statement-form input[name="from"]', "2026-05-01")
    page.fill('#statement-form input[name="to"]', "2026-06-15")
    # the PDF is served inline (Chromium opens it in its viewer), named for saving; the file is fetched again with
    # the browser's session to look inside
    with page.expect_response(lambda r: "/statement.pdf?" in r.url) as opened:
        page.click('#statement-form button:has-text("PDF")')
    response = opened.value
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    assert f"statement-{seed.dist_a}-2026-05-01-2026-06-15.pdf" in response.headers["content-disposition"]
    data = page.context.request.get(response.url).body()
    assert data.startswith(b"%PDF") and b"STSong-Light" in data  # the Chinese CID font, by name
    page.goto(f"{base}/credit/distributors/{seed.ids['dist_a']}")
    page.fill('#statement-form input[name="from"]', "2026-05-01")
    page.fill('#statement-form input[name="to"]', "2026-06-15")
    with page.expect_download() as xlsx:
        page.click('#statement-form button:has-text("Excel")')
    assert xlsx.value.suggested_filename.endswith(".xlsx")
    ws = load_workbook(io.BytesIO(Path(xlsx.value.path()).read_bytes())).active
    rows = [[c for c in row if c is not None] for row in ws.iter_rows(values_only=True)]
    refs = [r for r in rows if any(str(c).startswith("E2E-") for c in r)]
    assert [next(c for c in r if str(c).startswith("E2E-")) for r in refs] == ["E2E-INV-1", "E2E-PAY-1"]
    closing = next(r for r in rows if r and r[0] == zh("Closing balance"))
    assert float(closing[1]) == 2000.00
