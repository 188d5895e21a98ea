"""Returns and recalls in the browser: a distributor scans a pack and files a return with a photo, the manager
approves, receives and destroys it, finance credits it at the original price and the credit note opens; the manager
opens a recall of the lot, follows it on the dashboard while the holder's return is received, and closes it.

The module prepares its own data once, under its own codes (a manufacturer warehouse E2E-RWH with lot E2E-RL1 of
P002, a quarantine location, a finance user, credit for A, and one real order of A shipped from E2E-RWH at A's own
price 23.40), so the seed other modules rely on is not touched.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tests.conftest import PASSWORD
from tests.e2e.helpers import login, snap, zh
from tests.integration.distribution.return_world import PNG

pytestmark = pytest.mark.e2e

GTIN = "6937215000027"
FINANCE = "e2e_finance_r"


@pytest.fixture(scope="module")
def shipped(e2e):
    from sqlalchemy import select

    from app.auth.services import create_user, find_user
    from app.extensions import db
    from app.models import Distributor, Product, StockLocation
    from app.tenancy import acting_as, actor_for_user
    from credit import services as credit
    from distribution import orders
    from inventory import services as inventory

    seed = e2e.seed
    with e2e.app.app_context():
        manager = find_user(seed.manager)
        finance = create_user(FINANCE, PASSWORD, "finance", "财务孙七")
        a = db.session.get(Distributor, seed.ids["dist_a"])
        p2 = db.session.execute(select(Product).where(Product.code == seed.products[1])).scalar_one()
        p2.gtin = GTIN
        rwh = StockLocation(code="E2E-RWH", name="退货测试仓", kind="manufacturer")
        db.session.add_all([rwh, StockLocation(code="E2E-RQ", name="退货隔离库", kind="quarantine")])
        db.session.flush()
        lot = inventory.register_lot(p2, "E2E-RL1", date(2025, 12, 1), date(2027, 12, 31))
        inventory.post_movement("receipt", lot, 400, to_location=rwh)
        credit.set_credit_terms(a, limit=Decimal("1000000"), reason="年度授信", user=finance)
        with acting_as(actor_for_user(manager)):
            order = orders.place_order(a, [{"product_code": p2.code, "quantity": 1, "unit": "case"}], manager)
            orders.ship_order(order, manager, from_location=rwh)
        db.session.commit()
        db.session.remove()
    return {"product": seed.products[1], "lot": "E2E-RL1", "shipped": 200}


def _go(page, selector: str) -> int:
    with page.expect_navigation() as nav:
        page.click(selector)
    return nav.value.status


def test_return_journey(e2e, new_page, shipped, tmp_path):
    base, seed = e2e.base_url, e2e.seed
    dist = new_page(viewport={"width": 390, "height": 844})  # a distributor on a phone
    login(dist, base, seed.distributor_user)
    dist.goto(f"{base}/distribution/returns/new")
    assert "E2E-RL1" in dist.inner_text("#returnable")
    # a tap on a shipped lot fills the first empty line (product and lot) and moves to its quantity
    dist.locator("#returnable .returnable-lot", has_text="E2E-RL1").first.click()
    first = dist.locator(".return-line").first
    assert (first.locator(".product-code").input_value(), first.locator(".lot-no").input_value()) == (
        shipped["product"], "E2E-RL1")
    assert dist.evaluate("document.activeElement.name") == "quantity"
    first.locator(".product-code").fill("")
    first.locator(".lot-no").fill("")
    line = dist.locator(".return-line").first
    line.locator(".scan").fill(f"(01)0{GTIN}(17)271231(10)E2E-RL1(21)SN42")
    line.locator(".scan").press("Enter")  # the scanner's Enter reads the code; it does not submit the form
    dist.wait_for_function("document.querySelector('.return-line .lot-no').value === 'E2E-RL1'")
    assert line.locator(".product-code").input_value() == shipped["product"]
    assert "2027-12-31" in line.locator(".scan-info").inner_text()
    line.locator('input[name="quantity"]').fill("20")
    line.locator('select[name="reason"]').select_option("quality_complaint")
    dist.set_input_files("#attachments", files=[{"name": "外观异常.png", "mimeType": "image/png", "buffer": PNG}])
    assert _go(dist, "#submit-return") == 200
    assert dist.inner_text("#status").strip() == zh("requested")
    assert "外观异常.png" in dist.inner_text("#attachments")
    return_url = dist.url
    snap(dist, "return-requested")

    manager = new_page()
    login(manager, base, seed.manager)
    manager.goto(return_url)
    manager.fill('#decision input[name="reason"]', "照片显示片剂变色，同意退回检验")
    assert _go(manager, "#approve") == 200
    assert manager.inner_text("#status").strip() == zh("approved")
    assert _go(manager, "#receive") == 200
    assert manager.inner_text("#status").strip() == zh("received")
    manager.locator("#lines select").first.select_option("destroy")
    assert _go(manager, "#dispose") == 200
    assert manager.inner_text("#status").strip() == zh("disposed")

    finance = new_page()
    login(finance, base, FINANCE)
    finance.goto(return_url)
    assert _go(finance, "#credit") == 200
    assert finance.inner_text("#status").strip() == zh("credited")
    assert finance.inner_text("#credit-amount").startswith("468.00")  # 20 × 23.40, A's price when it was shipped
    href = finance.get_attribute("#credit-note", "href")
    pdf = finance.context.request.get(f"{base}{href}")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    (tmp_path / "credit-note.pdf").write_bytes(pdf.body())

    dist.goto(return_url)  # the distributor follows every step of its own return
    assert dist.inner_text("#status").strip() == zh("credited")
    history = dist.inner_text("#history")
    for status in ("requested", "approved", "received", "disposed", "credited"):
        assert zh(status) in history
    snap(dist, "return-credited")


def test_recall_dashboard(e2e, new_page, shipped):
    base, seed = e2e.base_url, e2e.seed
    page = new_page()
    login(page, base, seed.manager)
    page.goto(f"{base}/distribution/recalls/new?product={shipped['product']}&lot=E2E-RL1")
    page.select_option("#recall_class", "I")
    page.fill("#reason", "包装密封不严，可能受潮")
    assert _go(page, "#open-recall") == 200
    assert page.inner_text("#status").strip() == zh("open")
    row = page.locator('#holders tr[data-holder="E2E-DA"]')
    held = int(row.locator("td").nth(2).inner_text())
    assert held > 0 and int(row.locator(".outstanding").inner_text()) == held
    assert page.locator("svg.drp-chart[role=img]").count() == 1
    recall_url = page.url
    assert zh("recalled") in page.inner_text("#lots")  # blocked everywhere from now on
    with page.expect_navigation():
        row.locator("td").nth(7).locator("a").first.click()  # A's recall return
    assert page.inner_text("#status").strip() == zh("approved")
    assert _go(page, "#receive") == 200
    page.goto(recall_url)
    row = page.locator('#holders tr[data-holder="E2E-DA"]')
    assert int(row.locator(".recovered").inner_text()) == held
    assert int(row.locator(".outstanding").inner_text()) == 0
    assert "100%" in page.inner_text("#progress")
    snap(page, "recall-dashboard")
    assert _go(page, "#close") == 200
    assert page.inner_text("#status").strip() == zh("closed")
    report = page.context.request.get(f"{base}{page.get_attribute('#report', 'href')}")
    assert report.status == 200 and report.headers["content-type"] == "application/pdf"
