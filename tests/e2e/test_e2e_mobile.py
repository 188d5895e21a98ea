"""On a phone the navigation collapses behind the toggler, and every asset comes from the app itself."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import login, snap, zh

pytestmark = pytest.mark.e2e

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}


def test_phone_navbar_collapses_and_opens_on_tap(e2e, new_page, page_log):
    page = new_page(**PHONE)
    responses = []
    page.on("response", lambda r: responses.append((r.url, r.status)))
    login(page, e2e.base_url, e2e.seed.viewer)

    toggler = page.locator(".navbar-toggler")
    products_link = page.locator("#nav").get_by_role("link", name=zh("Products"), exact=True, include_hidden=True)
    master_menu = page.locator("#nav").get_by_role("button", name=zh("Master data"), exact=True)
    assert toggler.is_visible()
    assert not page.locator("#nav").is_visible()
    assert not products_link.is_visible()
    assert toggler.get_attribute("aria-expanded") == "false"
    # the page fits the phone's width (no sideways scrolling)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    snap(page, "phone-closed")

    toggler.tap()
    page.wait_for_selector("#nav.show", state="visible")
    assert toggler.get_attribute("aria-expanded") == "true"
    assert not products_link.is_visible()  # inside its menu group, which opens on a tap
    master_menu.tap()
    products_link.wait_for(state="visible")
    snap(page, "phone-open")
    with page.expect_navigation():
        products_link.tap()
    assert page.url == f"{e2e.base_url}/products/"
    assert not page.locator("#nav").is_visible()  # a new page starts collapsed again
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    snap(page, "phone-products")

    # Bootstrap's CSS and JS were served by the app, and nothing was asked of any other host
    bootstrap = [(u, s) for u, s in responses if "bootstrap" in u]
    assert any(u.endswith(".js") for u, _ in bootstrap) and any(u.endswith(".css") for u, _ in bootstrap)
    assert all(u.startswith(e2e.base_url) and s in (200, 304) for u, s in bootstrap), bootstrap
    assert page_log.requests and not page_log.foreign_hosts()
    assert all(u.startswith(e2e.base_url) for u in page_log.requests), page_log.requests


@pytest.mark.parametrize("user", ["distributor_user", "manager"])
def test_desktop_navbar_is_one_line_and_names_the_distributor_by_code(e2e, new_page, user):
    """At 1280 px every menu entry stays on one line (on the demo, 首页 and 退出登录 broke over two lines and the
    distributor's name was printed twice); a distributor user reads its code, the full name on hover."""
    page = new_page(viewport={"width": 1280, "height": 800})
    login(page, e2e.base_url, getattr(e2e.seed, user))
    line = page.evaluate("getComputedStyle(document.querySelector('#nav .nav-link')).lineHeight")
    assert page.evaluate("document.querySelector('nav.navbar').getBoundingClientRect().height") < 70, line
    for link in page.locator("#nav .nav-link").all():
        box = link.bounding_box()
        assert box and box["height"] < 45, (link.inner_text(), box)  # one line of text
    me = page.locator("#nav-user")
    if user == "distributor_user":
        assert me.inner_text().endswith(f"· {e2e.seed.dist_a}")
        assert "浙江甲医药有限公司" in me.get_attribute("title")
    else:
        assert "·" not in me.inner_text()
