"""Agreements in the browser: a draft through the form (errors first), submitted by one channel manager, refused to
the same person (four eyes), approved by a second; terminated with a confirmation; read-only for the distributor."""

from __future__ import annotations

import re

import pytest

from tests.e2e.helpers import login, snap, zh

pytestmark = pytest.mark.e2e


def _feedback(page, field: str) -> list[str]:
    return [t.strip() for t in page.locator(f"#f-{field} ~ .invalid-feedback").all_inner_texts()]


def _status(page) -> str:
    return page.inner_text("#status-badge").strip()


def _history(page) -> list[list[str]]:
    return [[c.strip() for c in row.locator("td").all_inner_texts()] for row in page.locator("#history tbody tr").all()]


def _submit(page, form: str) -> int:
    with page.expect_navigation() as nav:
        page.click(f"#{form} button[type=submit]")
    return nav.value.status


def test_draft_submit_four_eyes_and_approve(e2e, new_page):
    base, seed = e2e.base_url, e2e.seed
    page = new_page()
    login(page, base, seed.manager)
    page.goto(f"{base}/distribution/agreements/")
    with page.expect_navigation():
        page.click("#new-agreement")
    assert page.url == f"{base}/distribution/agreements/new"

    page.fill("#f-distributor_code", seed.dist_b)
    page.fill("#f-start_date", "2026-07-01")
    page.fill("#f-end_date", "2026-06-30")  # before the start
    page.fill("#f-payment_terms_days", "45")
    page.fill("#f-proposed_credit_limit", "200,000")
    page.fill("#f-product_codes", f"{seed.products[2]}\nE2E-NO-SUCH")
    page.fill("#f-region_codes", "320100")
    page.fill('input[name="targets-0-quarter"]', "2026Q3")
    page.fill('input[name="targets-0-code"]', seed.products[2])
    page.fill('input[name="targets-0-amount"]', "50000")
    page.fill('input[name="targets-0-quantity"]', "2000")
    page.fill('input[name="rebate_tiers-0-threshold_pct"]', "95")
    page.fill('input[name="rebate_tiers-0-rate_pct"]', "1.5")
    page.fill("#f-note", "江苏乙 2026-2027 缬沙坦协议")
    with page.expect_navigation() as nav:
        page.click("#save")
    assert nav.value.status == 422
    assert page.url == f"{base}/distribution/agreements/new"
    assert zh("Please correct the errors below.") in page.inner_text(".alert-danger")
    assert _feedback(page, "end_date") == [zh("The end date is before the start date.")]
    assert _feedback(page, "product_codes") == [zh("Unknown product codes: %(codes)s", codes="E2E-NO-SUCH")]
    # with no period left, the target's quarter falls outside it: reported on its row
    assert [t.strip() for t in page.locator("#target-rows .invalid-feedback").all_inner_texts()] == [
        zh("Quarter %(q)s is outside the agreement period.", q="2026Q3")]
    assert "is-invalid" in page.get_attribute("#f-end_date", "class")
    assert "is-invalid" not in page.get_attribute("#f-start_date", "class")
    # what was typed is kept, target and tier rows included
    assert page.input_value("#f-distributor_code") == seed.dist_b
    assert page.input_value("#f-proposed_credit_limit") == "200,000"
    assert page.input_value('input[name="targets-0-amount"]') == "50000"
    assert page.input_value('input[name="rebate_tiers-0-rate_pct"]') == "1.5"
    snap(page, "agreement-form-errors")
    # nothing was saved (looked up in a second tab, so the form keeps its values)
    other = page.context.new_page()
    other.goto(f"{base}/distribution/agreements/?distributor={seed.dist_b}&year=2027")
    assert other.inner_text("#agreements tbody").strip() == zh("No records.")
    other.close()

    page.fill("#f-end_date", "2027-06-30")
    page.fill("#f-product_codes", seed.products[2])
    with page.expect_navigation() as nav:
        page.click("#save")
    assert nav.value.status == 200, page.inner_text("main")
    assert re.fullmatch(rf"{re.escape(base)}/distribution/agreements/\d+", page.url), page.url
    detail_url = page.url
    assert zh("Draft saved.") in page.inner_text(".alert-success")
    number = re.search(r"AG2026-E2E-DB-\d\d", page.inner_text("h1")).group()
    assert _status(page) == zh("draft")
    assert page.locator("#authorised-products li").all_inner_texts() == [f"{seed.products[2]} 缬沙坦胶囊 80mg*7粒"]
    assert [c.strip() for c in page.locator("#targets tbody td").all_inner_texts()] == [
        "2026Q3", f"{seed.products[2]} 缬沙坦胶囊 80mg*7粒", "50,000.00", "2000"]
    assert page.locator("#rebate-tiers tbody td").all_inner_texts() == ["95%", "1.5%"]

    page.fill("#submit-note", "请审批")
    assert _submit(page, "submit-form") == 200
    assert zh("Submitted for approval.") in page.inner_text(".alert-success")
    assert _status(page) == zh("submitted")

    # the submitter cannot approve: the button is disabled and the page says why ...
    approve = page.locator("#approve-form button[type=submit]")
    assert approve.is_disabled()
    assert page.inner_text("#approve-form .form-text").strip() == zh(
        "You submitted this agreement; another person must approve it.")
    snap(page, "agreement-four-eyes")
    # ... and a hand-enabled button is refused by the server with the rule's reason
    approve.evaluate("el => el.disabled = false")
    assert _submit(page, "approve-form") == 422
    assert zh("You submitted this agreement, so someone else must approve it (four-eyes rule).") in page.inner_text(
        "#action-error")
    assert _status(page) == zh("submitted")

    second = new_page()
    login(second, base, seed.manager_b)
    second.goto(detail_url)
    assert second.locator("#approve-form .form-text").count() == 0
    assert second.locator("#approve-form button[type=submit]").is_enabled()
    second.fill("#approve-note", "同意，按期执行")
    assert _submit(second, "approve-form") == 200
    assert second.url == detail_url
    assert zh("Approved: the agreement is active.") in second.inner_text(".alert-success")
    assert _status(second) == zh("active")
    steps = second.inner_text("#agreement-steps")
    assert "渠道经理王五" in steps and "渠道经理赵六" in steps and zh("Approved and activated") in steps
    assert second.locator("#submit-form, #approve-form, #return-form, #edit-agreement").count() == 0
    assert second.locator("#terminate-form").count() == 1  # an active agreement can still be terminated
    assert [row[1:] for row in _history(second)] == [
        [seed.manager_b, zh("approved and activated"), f"{zh('submitted')} → {zh('active')}", "同意，按期执行"],
        [seed.manager, zh("submitted"), f"{zh('draft')} → {zh('submitted')}", "请审批"],
        [seed.manager, zh("created"), zh("draft"), ""],
    ]  # the refused approval left no trace
    snap(second, "agreement-detail")

    second.goto(f"{base}/distribution/agreements/?distributor={seed.dist_b}&status=active")
    row = second.locator("#agreements tbody tr", has_text=number)
    assert row.count() == 1 and zh("active") in row.inner_text()
    snap(second, "agreement-list")


def test_terminate_asks_for_confirmation_and_a_reason(e2e, new_page):
    base, seed = e2e.base_url, e2e.seed
    page = new_page()
    login(page, base, seed.manager)
    url = f"{base}/distribution/agreements/{seed.ids['agreement_b']}"
    page.goto(url)
    assert _status(page) == zh("submitted")
    page.fill("#terminate-reason", "经销商放弃续约")
    dialogs = []

    def dismiss(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.click("#terminate-form button[type=submit]")
    assert dialogs == [zh("Terminate this agreement?")]
    page.reload()
    assert _status(page) == zh("submitted")  # cancelled: nothing happened

    page.fill("#terminate-reason", "经销商放弃续约")
    page.once("dialog", lambda dialog: dialog.accept())
    assert _submit(page, "terminate-form") == 200
    assert zh("The agreement is terminated.") in page.inner_text(".alert-success")
    assert _status(page) == zh("terminated")
    assert "经销商放弃续约" in page.inner_text("#agreement-steps")
    assert page.locator("#actions").count() == 0
    assert _history(page)[0][2:] == [zh("terminated"), f"{zh('submitted')} → {zh('terminated')}", "经销商放弃续约"]


def test_distributor_reads_its_own_agreement_without_actions(e2e, new_page):
    base, seed = e2e.base_url, e2e.seed
    page = new_page()
    login(page, base, seed.distributor_user)
    page.goto(f"{base}/distribution/agreements/")
    numbers = [t.strip() for t in page.locator("#agreements tbody td:nth-child(1)").all_inner_texts()]
    assert numbers == ["AG2026-E2E-DA-01"]
    assert "江苏乙医药有限公司" not in page.inner_text("#agreements")
    assert page.locator("#new-agreement, #gaps-link, input[name=distributor]").count() == 0

    with page.expect_navigation():
        page.get_by_role("link", name="AG2026-E2E-DA-01", exact=True).click()
    assert page.url == f"{base}/distribution/agreements/{seed.ids['agreement_a']}"
    assert _status(page) == zh("active")
    assert page.locator("#actions, #edit-agreement, #submit-form, #approve-form, #terminate-form").count() == 0
    assert page.locator("main form[method=post]").count() == 0
    assert page.locator("#authorised-products li").count() == 2
    assert page.locator("#rebate-tiers tbody td").all_inner_texts() == ["90%", "1%", "100%", "2%"]
    # the history shows what happened, not who at the manufacturer did it
    assert zh("Who") not in page.locator("#history thead").all_inner_texts()[0]
    assert [r[1:] for r in _history(page)] == [
        [zh("approved and activated"), f"{zh('submitted')} → {zh('active')}", ""],
        [zh("submitted"), f"{zh('draft')} → {zh('submitted')}", ""], [zh("created"), zh("draft"), ""]]
    for name in (seed.manager, seed.manager_b, "渠道经理王五", "渠道经理赵六"):
        assert name not in page.inner_text("main"), name
    snap(page, "agreement-distributor")

    assert page.goto(f"{base}/distribution/agreements/{seed.ids['agreement_b']}").status == 404
    assert page.goto(f"{base}/distribution/agreements/new").status == 403
    assert page.goto(f"{base}/distribution/agreements/{seed.ids['agreement_a']}/edit").status == 403
