"""Prices in the browser: the price check shows the resolved price and why; a distributor sees only its own prices."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import login, open_nav, snap, zh

pytestmark = pytest.mark.e2e


def _check(page, distributor: str, product: str, quantity: int, day: str) -> int:
    page.fill("#f-distributor", distributor)
    page.fill("#f-product", product)
    page.fill("#f-quantity", str(quantity))
    page.fill("#f-date", day)
    with page.expect_navigation() as nav:
        page.click("#check-form button[type=submit]")
    return nav.value.status


def test_price_check_shows_the_price_and_the_winning_list_and_break(e2e, new_page):
    base, seed = e2e.base_url, e2e.seed
    page = new_page()
    login(page, base, seed.manager)
    page.goto(f"{base}/distribution/price-lists/")
    with page.expect_navigation():
        page.get_by_role("link", name=zh("Price check"), exact=True).click()
    assert page.url == f"{base}/distribution/price-check"
    assert page.locator("#check-result").count() == 0
    assert page.input_value("#f-date") == "2026-06-15"  # today by default

    # 150 boxes for tier-1 distributor A: the tier-1 list wins (A's own list does not price P001), break 100
    assert _check(page, seed.dist_a, seed.products[0], 150, "2026-06-15") == 200
    assert page.inner_text("#resolved-price").strip() == "11.8000"
    assert page.inner_text("#rule").strip() == zh("tier supply price list")
    passed = "; ".join(zh("%(rule)s: no item effective on the date", rule=zh(rule))
                       for rule in ("distributor-specific price", "provincial bid price"))
    assert page.inner_text("#explanation").strip() == " ".join([
        zh("Rule: %(rule)s wins (precedence: distributor-specific, then provincial bid, then tier list). List %(code)s "
           "“%(name)s”, item #%(item)d version %(version)d, break from %(qty)s (the highest break not above "
           "%(quantity)d), effective %(window)s.", rule=zh("tier supply price list"), code=seed.tier1_list,
           name="一级供货价2026", item=seed.ids["price_item_100"], version=1, qty="100 盒", quantity=150,
           window=f"2026-01-01 ~ {zh('open-ended')}"),
        zh("Passed over: %(reasons)s.", reasons=passed)])
    result = page.inner_text("#check-result")
    assert f"{seed.tier1_list} 一级供货价2026" in result and "1770.00" in result
    snap(page, "price-check")

    # below the break after the new version's start date: version 2 of the 1-box item
    assert _check(page, seed.dist_a, seed.products[0], 10, "2026-07-15") == 200
    assert page.inner_text("#resolved-price").strip() == "13.0000"
    explanation = page.inner_text("#explanation")
    assert f"#{seed.ids['price_item_1_v2']}" in explanation and "2026-07-01 ~" in explanation
    assert "1 盒" in explanation and seed.tier1_list in explanation
    # the same day, before the new version: version 1
    assert _check(page, seed.dist_a, seed.products[0], 10, "2026-06-30") == 200
    assert page.inner_text("#resolved-price").strip() == "12.5000"
    assert f"#{seed.ids['price_item_1']} " in page.inner_text("#explanation")

    # distributor B has its own list for P001: it wins whatever the quantity
    assert _check(page, seed.dist_b, seed.products[0], 150, "2026-06-15") == 200
    assert page.inner_text("#resolved-price").strip() == "10.9000"
    assert page.inner_text("#rule").strip() == zh("distributor-specific price")
    assert "E2E-SP-DB" in page.inner_text("#explanation") and "江苏乙专供价" in page.inner_text("#explanation")

    # an unknown code is reported beside its field
    assert _check(page, "E2E-NOPE", seed.products[0], 1, "2026-06-15") == 422
    assert page.inner_text("#f-distributor ~ .invalid-feedback").strip() == zh("Unknown code %(code)s.",
                                                                              code="E2E-NOPE")
    assert page.locator("#check-result").count() == 0


def test_distributor_sees_its_own_prices_only(e2e, new_page):
    base, seed = e2e.base_url, e2e.seed
    page = new_page()
    login(page, base, seed.distributor_user)
    open_nav(page, zh("Prices"))
    assert page.url == f"{base}/distribution/my-prices"
    cards = page.locator("#my-prices [data-product]")
    assert [c.get_attribute("data-product") for c in cards.all()] == [seed.products[0], seed.products[1]]

    def rows(code):
        return [[c.strip() for c in r.locator("td").all_inner_texts()]
                for r in page.locator(f'#my-prices [data-product="{code}"] tbody tr').all()]

    assert rows(seed.products[0]) == [
        ["1 盒", "12.5000", "2026-06-30"], [f"一级供货价2026 · {zh('tier supply price list')}"],
        ["100 盒", "11.8000", zh("open-ended")], [f"一级供货价2026 · {zh('tier supply price list')}"]]
    assert rows(seed.products[1]) == [["1 盒", "23.4000", zh("open-ended")],
                                      [f"浙江甲专供价 · {zh('distributor-specific price')}"]]
    body = page.inner_text("main")
    for other in ("江苏乙专供价", "E2E-SP-DB", "10.9000", "31.7000", seed.products[2]):
        assert other not in body, other
    snap(page, "my-prices")

    for url in ("/distribution/price-lists/", "/distribution/price-check"):
        assert page.goto(f"{base}{url}").status == 403, url
