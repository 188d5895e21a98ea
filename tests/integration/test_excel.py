"""Excel import and export of master data: row-level errors, all or nothing, formula neutralising."""

import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from app.masterdata import services
from app.masterdata.resources import distributors, products, target_list_entries, terminals
from app.models import Distributor, Product, StockLocation, Terminal


def xlsx(rows, title_rows=()) -> io.BytesIO:
    wb = Workbook()
    ws = wb.active
    for t in title_rows:
        ws.append(t)
    for r in rows:
        ws.append(r)
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text as typed, never a formula
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    return buf


PRODUCT_HEADER = ["产品编码", "通用名", "规格", "剂型", "基本单位", "件装量", "有效期(月)", "产品线编码", "冷链"]


def count(db_session, model):
    return db_session.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.fixture(autouse=True)
def english(app, db_session):
    """Messages are asserted in English here; the Chinese catalogue is tested in tests/unit/test_i18n.py."""
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("en"):
        yield


@pytest.fixture
def line(make_product_line):
    return make_product_line(code="XL")


def test_import_creates_then_updates(db_session, line):
    f = xlsx([PRODUCT_HEADER, ["X-1", "阿莫西林胶囊", "0.25g*24粒", "胶囊剂", "盒", 200, 24, "XL", "否"],
              ["X-2", "注射用头孢曲松钠", "1.0g", "注射剂", "支", "50", "36", "XL", "是"]],
             title_rows=[["华康药业 产品主数据"], []])
    result = services.import_workbook(products, f)
    assert (result.created, result.updated) == (2, 0)
    x2 = db_session.execute(select(Product).where(Product.code == "X-2")).scalar_one()
    assert x2.cold_chain is True and x2.pack_size == 50
    f = xlsx([["Product code", "Pack size"], ["X-2", 60]])
    with pytest.raises(services.ImportFailed):  # required columns missing in an update-only file
        services.import_workbook(products, f)
    f = xlsx([PRODUCT_HEADER, ["X-2", "注射用头孢曲松钠", "1.0g", "注射剂", "支", 60, 36, "XL", "是"]])
    result = services.import_workbook(products, f)
    assert (result.created, result.updated) == (0, 1)
    db_session.refresh(x2)
    assert x2.pack_size == 60


def test_bad_rows_are_all_reported_and_nothing_is_imported(db_session, line):
    before = count(db_session, Product)
    f = xlsx([PRODUCT_HEADER,
              ["OK-1", "好药", "1g", "片剂", "盒", 10, 24, "XL", "否"],
              ["BAD-1", "", "1g", "片剂", "盒", 0, 24, "NOPE", "否"],
              ["OK-1", "重复", "1g", "片剂", "盒", 10, 24, "XL", "否"]])
    with pytest.raises(services.ImportFailed) as exc:
        services.import_workbook(products, f)
    errors = exc.value.errors
    # the duplicate and the bad row are all reported in one go, in row order
    assert [(e.row, e.column) for e in errors] == [(3, "通用名"), (3, "件装量"), (3, "产品线编码"), (4, "产品编码")]
    f = xlsx([PRODUCT_HEADER,
              ["OK-1", "好药", "1g", "片剂", "盒", 10, 24, "XL", "否"],
              ["BAD-1", "", "1g", "丸子", "盒", 0, 24, "NOPE", "也许"]])
    with pytest.raises(services.ImportFailed) as exc:
        services.import_workbook(products, f)
    by_col = {e.column: e for e in exc.value.errors}
    assert set(by_col) == {"通用名", "剂型", "件装量", "产品线编码", "冷链"}
    assert all(e.row == 3 for e in exc.value.errors)
    assert by_col["产品线编码"].value == "NOPE"
    assert count(db_session, Product) == before


@pytest.mark.parametrize("payload, message", [
    (b"this is not excel", "not a readable Excel"),
    (b"PK\x03\x04broken zip", "not a readable Excel"),
])
def test_malformed_files(db_session, payload, message):
    with pytest.raises(services.ImportFailed) as exc:
        services.import_workbook(products, io.BytesIO(payload))
    assert message in exc.value.errors[0].message


def test_wrong_columns_name_the_column(db_session):
    f = xlsx([["产品编码", "通用名", "价格"], ["A", "B", 1]])
    with pytest.raises(services.ImportFailed) as exc:
        services.import_workbook(products, f)
    messages = [(e.column, e.message) for e in exc.value.errors]
    assert ("价格", "Unknown column “价格”.") in messages
    assert any(col == "规格" and "missing" in msg for col, msg in messages)


def test_empty_file(db_session):
    with pytest.raises(services.ImportFailed) as exc:
        services.import_workbook(products, xlsx([PRODUCT_HEADER]))
    assert "no data rows" in exc.value.errors[0].message


def test_unknown_region_codes_and_tier_rules_for_distributors(db_session):
    header = ["经销商编码", "经销商名称", "级别", "上游一级商编码", "行政区划代码", "药品经营许可证号",
              "许可证有效期至"]
    f = xlsx([header,
              ["T1", "一级商", 1, None, 330100, "浙AA1", "2030-01-01"],
              ["T2", "二级商", 2, "T1", "330106", "浙AA2", "2030年1月1日"],
              ["T3", "二级商无上游", 2, None, "999999", "浙AA3", "2029/02/30"]])
    with pytest.raises(services.ImportFailed) as exc:
        services.import_workbook(distributors, f)
    assert {(e.row, e.column) for e in exc.value.errors} == {(4, "上游一级商编码"), (4, "行政区划代码"),
                                                              (4, "许可证有效期至")}
    f = xlsx(header and [header, *[r for r in [
        ["T1", "一级商", 1, None, 330100, "浙AA1", "2030-01-01"],
        ["T2", "二级商", 2, "T1", "330106", "浙AA2", "2030年1月1日"]]]])
    result = services.import_workbook(distributors, f)
    assert result.created == 2
    t2 = db_session.execute(select(Distributor).where(Distributor.code == "T2")).scalar_one()
    assert t2.parent.code == "T1" and str(t2.licence_expiry) == "2030-01-01"
    # each imported distributor got its warehouse
    assert db_session.execute(select(StockLocation.code).where(StockLocation.distributor_id == t2.id)).scalar() \
        == "WH-T2"


def test_hostile_and_overlong_strings(db_session, login, line):
    f = xlsx([PRODUCT_HEADER,
              ["H-1", "<script>alert(1)</script>", "=cmd|' /C calc'!A0", "片剂", "盒", 10, 24, "XL", "否"],
              ["H-2", "长" * 101, "1g", "片剂", "盒", 10, 24, "XL", "否"]])
    with pytest.raises(services.ImportFailed) as exc:
        services.import_workbook(products, f)
    assert [(e.row, e.column) for e in exc.value.errors] == [(3, "通用名")]
    f = xlsx([PRODUCT_HEADER,
              ["H-1", "<script>alert(1)</script>", "=cmd|' /C calc'!A0", "片剂", "盒", 10, 24, "XL", "否"]])
    services.import_workbook(products, f)
    c = login("channel_manager")
    page = c.get("/products/?q=H-1").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    r = c.get("/products/export.xlsx?q=H-1")
    ws = load_workbook(io.BytesIO(r.data)).active
    header = [c.value for c in ws[1]]
    row = dict(zip(header, [c.value for c in ws[2]], strict=True))
    assert row["规格"] == "'=cmd|' /C calc'!A0" and ws.cell(2, header.index("规格") + 1).data_type == "s"
    assert row["通用名"] == "<script>alert(1)</script>"


def test_export_reimports_unchanged(db_session, line, make_terminal):
    make_terminal(code="RT-1", name="杭州市第一人民医院")
    t = db_session.execute(select(Terminal).where(Terminal.code == "RT-1")).scalar_one()
    t.set_aliases(["杭州一院", "市一医院"])
    db_session.flush()
    rows = db_session.execute(services.list_query(terminals, "RT-1")).scalars().all()
    data = services.export_workbook(terminals, rows)
    result = services.import_workbook(terminals, io.BytesIO(data))
    assert (result.created, result.updated) == (0, 1)
    db_session.refresh(t)
    assert sorted(t.aliases_values) == ["市一医院", "杭州一院"]


def test_target_list_members_import_is_idempotent_and_territory_checked(db_session, line, make_terminal):
    from app.masterdata.resources import target_lists

    services.save_record(target_lists, {"code": "TL-HZ", "name": "杭州心血管", "product_line_code": "XL",
                                        "region_code": "330100", "year": 2026})
    make_terminal(code="IN-1", region_code="330106")
    make_terminal(code="OUT-1", region_code="320102")
    f = xlsx([["目标清单编码", "终端编码"], ["TL-HZ", "IN-1"], ["TL-HZ", "OUT-1"]])
    with pytest.raises(services.ImportFailed) as exc:
        services.import_workbook(target_list_entries, f)
    assert [(e.row, e.column) for e in exc.value.errors] == [(3, "终端编码")]
    f = xlsx([["目标清单编码", "终端编码"], ["TL-HZ", "IN-1"]])
    assert services.import_workbook(target_list_entries, f).created == 1
    again = services.import_workbook(target_list_entries, xlsx([["目标清单编码", "终端编码"], ["TL-HZ", "IN-1"]]))
    assert (again.created, again.updated) == (0, 1)


def test_import_page_shows_errors_and_offers_a_report(login, db_session, line):
    c = login("channel_manager")
    f = xlsx([PRODUCT_HEADER, ["P-1", "", "1g", "片剂", "盒", 10, 24, "XL", "否"]])
    r = c.post("/products/import", data={"file": (f, "products.xlsx")}, content_type="multipart/form-data")
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "import-errors" in page and "通用名" in page
    link = page.split('href="/import-reports/')[1].split('"')[0]
    report = c.get("/import-reports/" + link)
    assert report.status_code == 200
    ws = load_workbook(io.BytesIO(report.data)).active
    assert [c.value for c in ws[2]][:2] == [2, "通用名"]
    report.close()
    # another user cannot fetch it
    assert login("channel_manager").get("/import-reports/" + link).status_code == 404
    assert count(db_session, Product) == 0 or db_session.execute(
        select(Product).where(Product.code == "P-1")).scalar() is None
    # wrong role
    assert login("viewer").post("/products/import", data={}).status_code == 403
