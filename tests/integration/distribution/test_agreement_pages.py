"""Agreement pages by role, the draft form and its field errors, the workflow buttons, and the Excel exports."""

from __future__ import annotations

import io
from datetime import date

import pytest
from flask_babel import force_locale
from openpyxl import load_workbook
from sqlalchemy import func, select

from distribution.agreements import status_label
from distribution.models.agreements import Agreement
from tests.integration.distribution.agreement_world import AgreementWorld

ROLES = ("admin", "channel_manager", "finance", "viewer", "distributor")
WRITERS = ("admin", "channel_manager")


@pytest.fixture
def aw(request):
    return AgreementWorld.build(request)


@pytest.fixture
def english(login):
    """login() as an English-speaking user (messages asserted in English)."""
    def do(user):
        c = login(user)
        c.get("/lang/en")
        return c
    return do


def form(aw, **kw) -> dict:
    data = {"distributor_code": aw.d.code, "start_date": "2026-01-01", "end_date": "2026-12-31",
            "payment_terms_days": "60", "proposed_credit_limit": "1,000,000.00", "deposit": "100000",
            "rebate_basis": "amount", "note": "首年协议", "product_codes": f"{aw.pa1.code}\n{aw.pa2.code}",
            "product_line_codes": aw.line_b.code, "region_codes": "330100, 330200", "terminal_codes": "",
            "targets-0-quarter": "2026Q1", "targets-0-kind": "product", "targets-0-code": aw.pa1.code,
            "targets-0-amount": "100,000.00", "targets-0-quantity": "1000",
            "targets-1-quarter": "", "targets-1-kind": "product", "targets-1-code": "", "targets-1-amount": "",
            "targets-1-quantity": "",
            "targets-2-quarter": "2026Q2", "targets-2-kind": "line", "targets-2-code": aw.line_b.code,
            "targets-2-amount": "50000", "targets-2-quantity": "500",
            "rebate_tiers-0-threshold_pct": "90", "rebate_tiers-0-rate_pct": "1",
            "rebate_tiers-1-threshold_pct": "100", "rebate_tiers-1-rate_pct": "2",
            "rebate_tiers-2-threshold_pct": "", "rebate_tiers-2-rate_pct": ""}
    data.update(kw)
    return data


def xlsx_rows(response) -> list[tuple]:
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    wb = load_workbook(io.BytesIO(response.data))
    return [tuple(row) for row in wb.worksheets[0].iter_rows(values_only=True)]


@pytest.mark.parametrize("role", ROLES)
def test_pages_by_role(aw, login, role):
    active = aw.active()
    c = login(role, aw.d if role == "distributor" else None)
    writer, staff = role in WRITERS, role != "distributor"
    assert c.get("/distribution/agreements/").status_code == 200
    assert c.get(f"/distribution/agreements/{active.id}").status_code == 200
    assert c.get("/distribution/agreements/export.xlsx").status_code == 200
    assert c.get(f"/distribution/agreements/{active.id}/achievement.xlsx").status_code == 200
    assert c.get("/distribution/agreements/new").status_code == (200 if writer else 403)
    assert c.get("/distribution/agreement-gaps").status_code == (200 if staff else 403)
    assert c.get("/distribution/agreement-gaps/export.xlsx").status_code == (200 if staff else 403)
    for step in ("submit", "approve", "return", "terminate"):
        r = c.post(f"/distribution/agreements/{active.id}/{step}", data={"reason": "x"})
        assert r.status_code != 403 if writer else r.status_code == 403
    page = c.get("/").get_data(as_text=True)
    assert "/distribution/agreements/" in page  # the navigation entry


def test_create_a_draft_through_the_form(aw, login, db_session):
    c = login(aw.cm1)
    r = c.post("/distribution/agreements/new", data=form(aw))
    assert r.status_code == 302, r.get_data(as_text=True)[-2000:]
    a = db_session.execute(select(Agreement)).scalar_one()
    assert r.headers["Location"].endswith(f"/distribution/agreements/{a.id}")
    assert (str(a.proposed_credit_limit), str(a.deposit), a.note) == ("1000000.00", "100000.00", "首年协议")
    assert sorted(p.product.code for p in a.products) == ["AG-PA1", "AG-PA2"]
    assert [r.region.code for r in a.regions] == ["330100", "330200"]
    assert [(t.quarter_label, t.product_line_id is not None, str(t.amount)) for t in a.targets] == [
        ("2026Q1", False, "100000.00"), ("2026Q2", True, "50000.00")]
    assert [str(t.rate_pct.normalize()) for t in a.rebate_tiers] == ["1", "2"]
    page = c.get(r.headers["Location"]).get_data(as_text=True)
    for text in (a.number, "AG-PA2", "AG-PLB", "330200", "2026Q2", "submit-form", "terminate-form", "edit-agreement",
                 "<td>90%</td><td>1%</td>", "<td>100%</td><td>2%</td>"):
        assert text in page
    edit = c.get(f"/distribution/agreements/{a.id}/edit")
    assert edit.status_code == 200
    for text in ("AG-PA2", 'name="rebate_tiers-1-threshold_pct" value="100"',
                 'name="targets-0-amount" value="100000.00"'):
        assert text in edit.get_data(as_text=True)
    r = c.post(f"/distribution/agreements/{a.id}/edit", data=form(aw, product_codes=aw.pa1.code, deposit="0"))
    assert r.status_code == 302
    db_session.expire_all()
    assert [p.product.code for p in a.products] == ["AG-PA1"] and str(a.deposit) == "0.00"


def test_the_form_shows_errors_by_field_and_saves_nothing(aw, english, db_session):
    c = english(aw.cm1)
    bad = form(aw, end_date="2025-01-01", product_codes="NOPE-9", proposed_credit_limit="12.345",
               payment_terms_days="abc", **{"targets-2-amount": "-5", "rebate_tiers-1-rate_pct": "0.5"})
    r = c.post("/distribution/agreements/new", data=bad)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "At most 2 decimal places." in page and "Not a whole number." in page
    # the second target row is the blank one, dropped: the bad amount is reported on the row shown second
    assert 'name="targets-1-amount" value="-5"' in page
    assert db_session.execute(select(func.count()).select_from(Agreement)).scalar_one() == 0
    r = c.post("/distribution/agreements/new", data=form(aw, end_date="2025-01-01", product_codes="NOPE-9",
                                                         **{"rebate_tiers-1-rate_pct": "0.5"}))
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    for message in ("The end date is before the start date.", "Unknown product codes: NOPE-9",
                    "Reaching 100% may not pay less than reaching 90%."):
        assert message in page
    assert page.count("invalid-feedback") >= 3
    assert db_session.execute(select(func.count()).select_from(Agreement)).scalar_one() == 0


def test_workflow_through_the_buttons(aw, english, db_session):
    a = aw.draft()
    one, two = english(aw.cm1), english(aw.cm2)
    assert one.post(f"/distribution/agreements/{a.id}/submit", data={"note": "请审批"}).status_code == 302
    page = one.get(f"/distribution/agreements/{a.id}").get_data(as_text=True)
    assert "another person must approve it" in page and "approve-form" in page
    r = one.post(f"/distribution/agreements/{a.id}/approve")
    assert r.status_code == 422
    assert "someone else must approve it (four-eyes rule)" in r.get_data(as_text=True)
    r = two.post(f"/distribution/agreements/{a.id}/approve", data={"note": "同意"})
    assert r.status_code == 302
    db_session.expire_all()
    assert a.status == "active"
    r = two.post(f"/distribution/agreements/{a.id}/submit")
    assert r.status_code == 409 and "it cannot be submitted now" in r.get_data(as_text=True)
    assert two.get(f"/distribution/agreements/{a.id}/edit").status_code == 302  # only drafts: back to the page
    r = two.post(f"/distribution/agreements/{a.id}/terminate", data={"reason": " "})
    assert r.status_code == 422 and "A reason is required." in r.get_data(as_text=True)
    assert two.post(f"/distribution/agreements/{a.id}/terminate", data={"reason": "违约"}).status_code == 302
    page = two.get(f"/distribution/agreements/{a.id}").get_data(as_text=True)
    for text in ("违约", "请审批", "同意", "cm-one", "cm-two", "terminated"):
        assert text in page


def test_return_to_draft_through_the_button(aw, english, db_session):
    a = aw.submitted()
    c = english(aw.cm2)
    assert c.post(f"/distribution/agreements/{a.id}/return", data={"reason": ""}).status_code == 422
    assert c.post(f"/distribution/agreements/{a.id}/return", data={"reason": "目标偏低"}).status_code == 302
    db_session.expire_all()
    assert a.status == "draft" and "目标偏低" in c.get(f"/distribution/agreements/{a.id}").get_data(as_text=True)


def test_a_distributor_sees_its_own_agreements_and_cannot_act(aw, login, make_distributor, make_terminal):
    own = aw.active(terminal_codes=[make_terminal(code="AG-T-OWN").code])
    other_d = make_distributor(code="AGD-OTHER", name="别家医药")
    other = aw.active(distributor_code=other_d.code)
    c = login("distributor", aw.d)
    listing = c.get("/distribution/agreements/").get_data(as_text=True)
    assert own.number in listing and other.number not in listing and "别家医药" not in listing
    assert "new-agreement" not in listing
    page = c.get(f"/distribution/agreements/{own.id}").get_data(as_text=True)
    assert own.number in page and "terminate-form" not in page and "cm-one" not in page  # no staff names
    assert "AG-T-OWN" not in page  # terminals are manufacturer-only master data
    assert c.get(f"/distribution/agreements/{other.id}").status_code == 404
    assert c.get(f"/distribution/agreements/{other.id}/achievement.xlsx").status_code == 404
    assert c.post(f"/distribution/agreements/{own.id}/terminate", data={"reason": "x"}).status_code == 403
    rows = xlsx_rows(c.get("/distribution/agreements/export.xlsx"))
    assert [r[0] for r in rows[1:]] == [own.number]


def test_list_filters(aw, login):
    a = aw.active()
    b = aw.draft(start_date=date(2027, 1, 1), end_date=date(2027, 12, 31), targets=[])
    c = login("viewer")
    page = c.get("/distribution/agreements/?status=draft").get_data(as_text=True)
    assert b.number in page and a.number not in page
    page = c.get("/distribution/agreements/?year=2026").get_data(as_text=True)
    assert a.number in page and b.number not in page
    page = c.get("/distribution/agreements/?distributor=NOBODY").get_data(as_text=True)
    assert a.number not in page
    rows = xlsx_rows(c.get("/distribution/agreements/export.xlsx?year=2027"))
    assert [r[0] for r in rows[1:]] == [b.number]


def test_list_export_has_chinese_headers_and_neutralises_formulas(aw, login, app):
    a = aw.active(note="=HYPERLINK(\"http://evil\",\"点我\")", product_line_codes=[aw.line_b.code])
    rows = xlsx_rows(login("finance").get("/distribution/agreements/export.xlsx"))
    assert rows[0][:6] == ("协议编号", "经销商编码", "经销商名称", "开始日期", "结束日期", "状态")
    row = dict(zip(rows[0], rows[1], strict=True))
    with app.test_request_context(), force_locale("zh"):
        assert (row["协议编号"], row["状态"]) == (a.number, status_label("active"))
    assert row["备注"] == "'=HYPERLINK(\"http://evil\",\"点我\")"
    assert (row["授权产品"], row["授权产品线"], row["授权区域"]) == ("AG-PA1", "AG-PLB", "330000")
    assert float(row["建议授信额度"]) == 500000.0 and row["账期(天)"] == 60


def test_achievement_table_and_export(aw, login):
    a = aw.active(targets=[{"quarter": "2026Q1", "product_code": aw.pa1.code, "amount": "100000.00",
                            "quantity": 1000},
                           {"quarter": "2026Q3", "product_code": aw.pa1.code, "amount": "80000.00", "quantity": 10}])
    c = login("finance")
    page = c.get(f"/distribution/agreements/{a.id}").get_data(as_text=True)
    assert 'id="achievement"' in page and "100,000.00" in page and "180,000.00" in page
    assert "sell-in-note" not in page  # sell-in now comes from shipped orders
    rows = xlsx_rows(c.get(f"/distribution/agreements/{a.id}/achievement.xlsx"))
    assert rows[0] == ("季度", "目标金额", "目标数量", "进货金额", "进货数量", "金额达成率(%)", "数量达成率(%)",
                       "返利比例(%)", "返利金额")
    assert [r[0] for r in rows[1:6]] == ["2026Q1", "2026Q2", "2026Q3", "2026Q4", "合计"]
    q1, total = rows[1], rows[5]
    assert (q1[1], q1[2], q1[3], q1[5], q1[7], q1[8]) == (100000, 1000, 0, 0, 0, 0)
    assert rows[2][5] is None  # no target in Q2: no achievement
    assert (total[1], total[2], total[8]) == (180000, 1010, 0)


def test_gaps_page_and_export(aw, login, make_distributor):
    make_distributor(code="AGD-GAP", name="无协议医药")
    aw.active()
    c = login("channel_manager")
    page = c.get("/distribution/agreement-gaps").get_data(as_text=True)
    assert "AGD-GAP" in page and "AGD-1" not in page
    rows = xlsx_rows(c.get("/distribution/agreement-gaps/export.xlsx"))
    assert rows[0][:5] == ("经销商编码", "经销商名称", "级别", "所在区域", "问题")
    codes = [r[0] for r in rows[1:]]
    assert "AGD-GAP" in codes and "AGD-1" not in codes
