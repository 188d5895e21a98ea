"""Logging in: Chinese by default, errors stay on the login page, success lands on the home page."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from tests.e2e.helpers import CJK, en, login, snap, zh

pytestmark = pytest.mark.e2e


def test_login_page_is_chinese_by_default_and_switches_language(e2e, new_page):
    page = new_page()
    response = page.goto(f"{e2e.base_url}/login")
    assert response.status == 200
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.inner_text("h1").strip() == zh("Log in")
    if e2e.translated:
        assert CJK.search(page.inner_text("h1")), "the login page is not in Chinese"
        assert page.title().startswith(zh("Log in"))
    snap(page, "login-zh")

    with page.expect_navigation():
        page.click("#lang-en")
    assert page.url.startswith(f"{e2e.base_url}/login")
    assert page.get_attribute("html", "lang") == "en"
    assert page.inner_text("h1").strip() == "Log in"
    assert page.inner_text("#login-submit").strip() == "Log in"

    with page.expect_navigation():
        page.click("#lang-zh")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.inner_text("h1").strip() == zh("Log in")


def test_wrong_password_stays_on_login(e2e, new_page):
    page = new_page()
    page.goto(f"{e2e.base_url}/login")
    page.fill("#username", e2e.seed.viewer)
    page.fill("#password", PASSWORD + "-wrong")
    with page.expect_navigation() as nav:
        page.click("#login-submit")
    assert nav.value.status == 401
    assert page.url.startswith(f"{e2e.base_url}/login")
    alert = page.locator(".alert-danger")
    assert alert.count() == 1
    assert zh("Wrong username or password.") in alert.inner_text()
    assert page.input_value("#username") == e2e.seed.viewer
    # still logged out: the home page sends us back to the login page
    page.goto(f"{e2e.base_url}/")
    assert page.url.startswith(f"{e2e.base_url}/login")


def test_right_password_lands_on_home(e2e, new_page):
    page = new_page()
    page.goto(f"{e2e.base_url}/login?next=/")
    login(page, e2e.base_url, e2e.seed.manager)
    assert page.inner_text("h1").strip() == zh("Welcome, %(name)s", name="渠道经理王五")
    assert page.inner_text("#count-products").strip().isdigit()
    nav = page.locator("#nav")
    assert nav.get_by_role("link", name=zh("Products"), exact=True, include_hidden=True).count() == 1
    assert zh("Log out") in nav.inner_text()
    snap(page, "home-manager")
    # and logging out ends the session
    with page.expect_navigation():
        nav.get_by_role("button", name=zh("Log out")).click()
    assert page.url.startswith(f"{e2e.base_url}/login")
    assert en("You have logged out.") != "" and zh("You have logged out.") in page.inner_text("main")
