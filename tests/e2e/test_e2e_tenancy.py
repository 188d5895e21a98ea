"""Tenant isolation as a distributor user sees it in the browser."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import column_texts, login, snap, zh

pytestmark = pytest.mark.e2e


@pytest.fixture
def distributor_page(e2e, new_page):
    page = new_page()
    login(page, e2e.base_url, e2e.seed.distributor_user)
    return page


def test_distributor_sees_only_its_own_company(e2e, distributor_page):
    page, seed = distributor_page, e2e.seed
    page.goto(f"{e2e.base_url}/distributors/")
    assert column_texts(page) == [seed.dist_a]
    body = page.inner_text("#records")
    assert "浙江甲医药有限公司" in body
    assert "江苏乙医药有限公司" not in body and "杭州丙医药有限公司" not in body
    # no writing actions for a distributor on the list
    assert page.locator("#new-record").count() == 0
    snap(page, "distributor-list")

    for other in ("dist_b", "dist_a2"):
        response = page.goto(f"{e2e.base_url}/distributors/{seed.ids[other]}")
        assert response.status in (403, 404), other
        assert page.locator("#error-message").count() == 1
        assert "江苏乙医药有限公司" not in page.content() and "杭州丙医药有限公司" not in page.content()
        response = page.goto(f"{e2e.base_url}/distributors/{seed.ids[other]}/edit")
        assert response.status in (403, 404), other


def test_distributor_has_no_terminals(e2e, distributor_page):
    page = distributor_page
    nav = page.locator("#nav")
    assert nav.get_by_role("link", name=zh("My company"), exact=True, include_hidden=True).count() == 1
    assert nav.get_by_role("link", name=zh("Terminals"), exact=True, include_hidden=True).count() == 0
    assert page.locator('#nav a[href^="/terminals"]').count() == 0
    assert page.locator('#nav a[href^="/admin"]').count() == 0
    response = page.goto(f"{e2e.base_url}/terminals/")
    assert response.status == 403
    assert zh("You do not have permission to do this.") in page.inner_text("#error-message")
    assert "浙江大学医学院附属第一医院" not in page.content()


def test_distributor_edits_contacts_but_not_licence(e2e, distributor_page):
    page, seed = distributor_page, e2e.seed
    page.goto(f"{e2e.base_url}/distributors/{seed.ids['dist_a']}")
    with page.expect_navigation():
        page.click("#edit-record")
    assert page.url == f"{e2e.base_url}/distributors/{seed.ids['dist_a']}/edit"
    for field in ("code", "name", "tier", "licence_no", "licence_expiry", "status"):
        assert page.is_disabled(f"#f-{field}"), field
    for field in ("contact_phone", "contact_name", "address", "contact_email"):
        assert page.is_enabled(f"#f-{field}"), field
    assert page.input_value("#f-licence_no") == "浙AA5710001"
    snap(page, "distributor-edit")

    page.fill("#f-contact_phone", "0571-87654321")
    # a hand-crafted form that re-enables the licence field must not get through either
    page.eval_on_selector("#f-licence_no", "el => { el.disabled = false; el.value = '伪造-0001'; }")
    with page.expect_navigation() as nav:
        page.click("#save")
    assert nav.value.status == 200
    assert page.url == f"{e2e.base_url}/distributors/{seed.ids['dist_a']}"
    assert page.inner_text('#record-fields dd[data-field="contact_phone"]').strip() == "0571-87654321"
    assert page.inner_text('#record-fields dd[data-field="licence_no"]').strip() == "浙AA5710001"
