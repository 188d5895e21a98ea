"""Excel import and export of a price list's items: Chinese columns, row-level errors, all or nothing, versions,
round trip, formulas neutralised."""

from __future__ import annotations

import io
from datetime import date

import pytest
from flask_babel import gettext as _
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from app.masterdata.services import ImportFailed
from distribution import price_excel
from distribution import price_lists as svc
from distribution.models.pricing import PriceItem
from tests.conftest import TODAY
from tests.integration.distribution.pricing_world import D, PricingWorld

HEADER = ["产品编码", "起订量", "单位(盒/件)", "单价", "生效日期", "失效日期"]


@pytest.fixture
def pw(db_session, make_product, make_distributor):
    return PricingWorld(db_session, make_product, make_distributor)


def _xlsx(rows, header=HEADER, title=None) -> io.BytesIO:
    wb = Workbook()
    ws = wb.active
    if title:
        ws.append([title])
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    return buf


def _count(pw) -> int:
    return pw.session.execute(select(func.count()).select_from(PriceItem)
                              .where(PriceItem.price_list_id == pw.tier1.id)).scalar_one()


def test_import_adds_items_with_breaks_in_cases(pw):
    result = price_excel.import_items(pw.tier1, _xlsx([
        ["PX-1", 1, "盒", 10.5, date(2026, 1, 1), None],
        ["PX-1", 5, "件", "9.80", "2026-01-01", ""],
        ["PX-2", 1, "", "12.345678", "2026/01/01", "2026-12-31"],
    ], title="2026年一级供货价"))
    assert (result.rows, result.added) == (3, 3)
    r = svc.resolve_price(pw.d1, pw.product, 100, TODAY)
    assert (r.unit_price, r.item.entered_unit, r.item.min_quantity) == (D("9.8000"), "case", 100)
    assert svc.resolve_price(pw.d1, pw.other_product, 1, TODAY).unit_price == D("12.3457")


def test_import_row_errors_name_row_and_column_and_nothing_is_written(pw):
    pw.add(pw.tier1, "10.0000")
    before = _count(pw)
    with pytest.raises(ImportFailed) as exc:
        price_excel.import_items(pw.tier1, _xlsx([
            ["PX-1", 100, "盒", 9.5, "2026-01-01", None],  # fine on its own
            ["NOPE", 1, "盒", 1, "2026-01-01", None],
            ["PX-1", "many", "盒", 1, "2026-01-01", None],
            ["PX-2", 1, "桶", -3, "2026-13-01", None],
            ["PX-2", 1, "支", 3, "2026-02-01", "2026-01-01"],
            ["PX-1", 1, "盒", 9.0, "2026-01-01", None],  # same start as the existing item at another price
        ]))
    errors = {(e.row, e.column) for e in exc.value.errors}
    assert {(3, "产品编码"), (4, "起订量"), (5, "单位(盒/件)"), (5, "单价"), (5, "生效日期"), (6, "失效日期"),
            (7, "单价")} <= errors
    assert all(e.message for e in exc.value.errors)
    assert _count(pw) == before


def test_import_refuses_tying_rows_and_unknown_columns(pw):
    with pytest.raises(ImportFailed) as exc:
        price_excel.import_items(pw.tier1, _xlsx([["PX-1", 1, "盒", 10, "2026-01-01", None],
                                          ["PX-1", 1, "盒", 10, "2026-01-01", None]]))
    assert [e.row for e in exc.value.errors] == [3]
    with pytest.raises(ImportFailed) as exc:
        price_excel.import_items(pw.tier1, _xlsx([["PX-1", 1]], header=["产品编码", "起订量", "折扣"]))
    messages = " ".join(e.message for e in exc.value.errors)
    assert "折扣" in messages and "单价" in messages
    with pytest.raises(ImportFailed):
        price_excel.import_items(pw.tier1, io.BytesIO(b"not an excel file"))
    # a row that ties with an existing item names it; a rule broken between two rows names both rows
    later = pw.add(pw.tier1, "10.0000", start=date(2026, 7, 1))
    with pytest.raises(ImportFailed) as exc:
        price_excel.import_items(pw.tier1, _xlsx([["PX-1", 1, "盒", 10, "2026-03-01", None]]))
    assert f"#{later.id}" in exc.value.errors[0].message
    with pytest.raises(ImportFailed) as exc:
        price_excel.import_items(pw.tier1, _xlsx([["PX-2", 1, "支", 10, "2026-01-01", None],
                                          ["PX-2", 10, "支", 11, "2026-01-01", None]]))
    [error] = exc.value.errors
    assert error.row == 3 and _("row %(row)d", row=2) in error.message and _("row %(row)d", row=3) in error.message


def test_import_versions_a_changed_price_and_leaves_equal_rows_alone(pw):
    v1 = pw.add(pw.tier1, "10.0000")
    pw.add(pw.tier1, "9.5000", min_quantity=100)
    result = price_excel.import_items(pw.tier1, _xlsx([
        ["PX-1", 1, "盒", 10, "2026-01-01", None],  # unchanged
        ["PX-1", 1, "盒", 9.2, "2026-07-01", None],  # a change from July: v2, v1 closed on June 30
        ["PX-1", 100, "盒", 9.0, "2026-07-01", None],  # lowering a larger break in the same file: order is free
    ]))
    assert (result.unchanged, result.changed, result.added) == (1, 2, 0)
    assert v1.effective_to == date(2026, 6, 30)
    assert svc.resolve_price(pw.d1, pw.product, 1, date(2026, 7, 1)).unit_price == D("9.2000")
    assert svc.resolve_price(pw.d1, pw.product, 1, TODAY).unit_price == D("10.0000")


def test_export_then_import_round_trip_changes_nothing(pw):
    pw.add(pw.tier1, "10.0000")
    pw.add(pw.tier1, "9.1234", min_quantity=5, unit="case", end=date(2026, 12, 31))
    pw.add(pw.tier1, "12.0000", product=pw.other_product)
    data = price_excel.export_items(pw.tier1, TODAY)
    ws = load_workbook(io.BytesIO(data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:8] == ("产品编码", "产品名称", "规格", "起订量", "单位(盒/件)", "单价", "生效日期", "失效日期")
    assert ("PX-1", 5, "件") == (rows[2][0], rows[2][3], rows[2][4])
    result = price_excel.import_items(pw.tier1, io.BytesIO(data))
    assert (result.rows, result.unchanged, result.added, result.changed) == (3, 3, 0, 0)


def test_export_neutralises_formulas(pw, make_product):
    hostile = make_product(code="PX-EVIL", generic_name="=HYPERLINK(\"http://x\")", specification="+1+1")
    pw.add(pw.tier1, "10.0000", product=hostile)
    ws = load_workbook(io.BytesIO(price_excel.export_items(pw.tier1, TODAY))).active
    row = [c for c in ws[2]]
    assert row[1].value.startswith("'=") and row[1].data_type == "s"
    assert row[2].value.startswith("'+")


def test_import_and_export_pages(login, pw):
    c = login("channel_manager")
    lid = pw.tier1.id
    bad = _xlsx([["NOPE", 1, "盒", 1, "2026-01-01", None]])
    r = c.post(f"/distribution/price-lists/{lid}/import", data={"file": (bad, "p.xlsx")},
               content_type="multipart/form-data")
    assert r.status_code == 422 and 'id="import-errors"' in r.get_data(as_text=True)
    good = _xlsx([["PX-1", 1, "盒", 10, "2026-01-01", None]])
    r = c.post(f"/distribution/price-lists/{lid}/import", data={"file": (good, "p.xlsx")},
               content_type="multipart/form-data")
    assert r.status_code == 302
    r = c.get(f"/distribution/price-lists/{lid}/export.xlsx")
    assert r.status_code == 200 and r.data[:2] == b"PK"
    r = login("viewer").post(f"/distribution/price-lists/{lid}/import", data={})
    assert r.status_code == 403
