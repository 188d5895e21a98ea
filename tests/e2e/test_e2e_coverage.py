"""Coverage in the browser: the dashboard's numbers with their definitions, drilling down from the provinces to the
target terminals without the product, and the distributor 360° page (staff and the distributor itself). The seed's
coverage data is in conftest._seed_coverage: two target terminals, one of which bought P001 from distributor A in
May 2026 (test_e2e_ingestion uploads another distributor's May file, in which the other terminal buys P001)."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import login, zh

pytestmark = pytest.mark.e2e


def _go(page, selector: str) -> int:
    with page.expect_navigation() as nav:
        page.click(selector)
    return nav.value.status


def test_dashboard_drills_down_to_the_terminals_without_the_product(e2e, new_page):
    page, seed = new_page(), e2e.seed
    login(page, e2e.base_url, seed.manager)
    page.goto(f"{e2e.base_url}/distribution/coverage/")
    page.fill("#f-product", seed.products[0])
    page.fill("#f-distributor", seed.dist_a)  # A's sell-out only: other tests load other distributors' files
    assert _go(page, "#apply-filters") == 200
    assert page.locator("#kpi-listing_rate .kpi-value").inner_text() == "50.0%"
    hint = page.locator("#kpi-listing_rate span[title]").get_attribute("title")
    assert "Target terminals that bought" in hint and "目标终端数" in hint  # the definition, in both languages
    assert "Target terminals that bought" in page.locator("#def-listing_rate + dd").inner_text()
    assert page.locator("#trend-chart svg").count() == 1 and page.locator("#region-bars svg").count() == 1
    assert _go(page, "#breakdown a:has-text('浙江省')") == 200  # the province row: its cities
    assert "杭州市" in page.locator("#breakdown").inner_text()
    assert _go(page, "#breakdown a:has-text('杭州市')") == 200  # the city: its counties
    assert _go(page, "#terminals-link") == 200
    assert "2" in page.locator("#total").inner_text()
    assert _go(page, "#which-without") == 200
    rows = page.locator("#terminals tbody tr").all_inner_texts()
    assert len(rows) == 1 and seed.terminals[1] in rows[0]
    with page.expect_download() as dl:
        page.click("#export-link")
    assert dl.value.suggested_filename == "target-terminals-without.xlsx"


def test_distributor_360_for_staff_and_for_the_distributor(e2e, new_page):
    seed = e2e.seed
    staff = new_page()
    login(staff, e2e.base_url, seed.manager)
    staff.goto(f"{e2e.base_url}/distribution/distributors/{seed.ids['dist_a']}/360")
    for key in ("agreements", "prices", "orders", "receivables", "stock", "submissions", "coverage", "returns",
                "diversion"):
        assert staff.locator(f"#section-{key}").count() == 1
    assert "E2E-流向-2026-05.xlsx" in staff.locator("#section-submissions").inner_text()
    assert staff.locator("#c360-listing").inner_text() == "50.0%"
    assert staff.locator("#section-returns #c360-recalls").count() == 1
    assert _go(staff, "#section-agreements a") == 200 and "/distribution/agreements/" in staff.url
    staff.go_back()
    assert _go(staff, "#section-submissions tbody a:has-text('E2E-流向-2026-05.xlsx')") == 200
    assert "/ingestion/submissions/" in staff.url
    staff.go_back()
    assert _go(staff, "#c360-returns-link") == 200 and "/distribution/returns/" in staff.url
    dist = new_page()
    login(dist, e2e.base_url, seed.distributor_user)
    dist.goto(f"{e2e.base_url}/distribution/my-360")
    assert f"/distributors/{seed.ids['dist_a']}/360" in dist.url
    assert dist.locator("#section-diversion").count() == 0 and dist.locator("#section-coverage").count() == 1
    assert dist.locator("#section-returns").count() == 1
    assert dist.locator("#section-returns a[href*='/distribution/recalls/']").count() == 0  # staff's pages
    assert zh("Coverage of its territory") in dist.locator("#section-coverage").inner_text() or e2e.translated is False
    # on a phone the sections' tables scroll inside their cards; the page does not go sideways (627 px before)
    phone = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone.context.add_cookies(dist.context.cookies())
    phone.goto(dist.url)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    response = dist.goto(f"{e2e.base_url}/distribution/distributors/{seed.ids['dist_b']}/360")
    assert response.status == 404
