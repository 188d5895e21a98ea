"""The language link switches a logged-in user's pages to English and back to Chinese."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import CJK, login, zh

pytestmark = pytest.mark.e2e


def test_language_switch_to_english_and_back(e2e, new_page):
    page = new_page()
    login(page, e2e.base_url, e2e.seed.language_user)
    page.goto(f"{e2e.base_url}/products/?q=E2E-P00")
    assert page.get_attribute("html", "lang") == "zh-CN"
    nav = page.locator("#nav")
    assert nav.get_by_role("link", name=zh("Products"), exact=True, include_hidden=True).count() == 1
    assert page.locator("#lang-en").inner_text().strip() == "English"
    assert page.locator("#lang-zh").count() == 0

    with page.expect_navigation():
        page.click("#lang-en")
    # back on the same page, with its query, now in English
    assert page.url == f"{e2e.base_url}/products/?q=E2E-P00"
    assert page.get_attribute("html", "lang") == "en"
    assert nav.get_by_role("link", name="Products", exact=True, include_hidden=True).count() == 1
    assert page.inner_text("#export-link").strip() == "Export Excel"
    assert not CJK.search(page.inner_text("h1"))
    assert page.locator("#lang-zh").inner_text().strip() == "简体中文"
    # the choice sticks to the user: another page, and a new login in a fresh browser
    page.goto(f"{e2e.base_url}/")
    assert page.get_attribute("html", "lang") == "en"
    other = new_page()
    login(other, e2e.base_url, e2e.seed.language_user)
    assert other.get_attribute("html", "lang") == "en"

    with page.expect_navigation():
        page.click("#lang-zh")
    assert page.url == f"{e2e.base_url}/"
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert nav.get_by_role("link", name=zh("Products"), exact=True, include_hidden=True).count() == 1
    if e2e.translated:
        assert CJK.search(nav.inner_text())
