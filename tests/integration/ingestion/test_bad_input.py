"""Bad input: each refused (or its rows rejected) with a clear message, none touching what was already there."""

from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import func, select

from ingestion.models import PeriodClosing, RejectedRow, SellOutFact, Submission
from inventory.models import StockBalance, StockMovement
from tests.integration.ingestion.conftest import SELL_HEADERS, csv_bytes, sale, xlsx_bytes


@pytest.fixture
def good(db_session, world, ingest):
    """A good May file, loaded and current; returns (submission, snapshot of what must not change)."""
    sub = ingest(csv_bytes([sale(qty=q) for q in (10, 20, 30)]), filename="good.csv")
    assert sub.status == "loaded"
    return sub, _snapshot(db_session)


def _snapshot(db_session):
    return (db_session.execute(select(func.count(), func.sum(SellOutFact.quantity)).select_from(SellOutFact)).one(),
            sorted(db_session.execute(select(StockBalance.location_id, StockBalance.lot_id, StockBalance.quantity))
                   .all()),
            db_session.execute(select(func.count()).select_from(StockMovement)).scalar(),
            db_session.execute(select(Submission.id).where(Submission.is_current)).scalars().all())


def _zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b"0" * (30 * 1024 * 1024))
    return out.getvalue()


CASES = {
    "empty": (b"", "empty.csv", "empty"),
    "header only": (",".join(SELL_HEADERS).encode("gbk") + b"\r\n", "header.csv", "header_only"),
    "renamed exe": (b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200, "流向.xlsx", "not_a_table"),
    "pdf": (b"%PDF-1.7\n" + b"x" * 100, "流向.csv", "not_a_table"),
    "zip bomb": (_zip_bomb(), "流向.xlsx", "zip_bomb"),
    "mixed encodings": ("\n".join([",".join(SELL_HEADERS), *(",".join(map(str, sale(qty=q))) for q in range(1, 30))])
                        .encode("utf-8") + b"\n" + ",".join(map(str, sale(customer="杭州市第一人民医院"))).encode("gbk")
                        + b"\n", "mixed.csv", "mixed_encoding"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_file_is_refused_with_its_reason_and_changes_nothing(db_session, world, ingest, good, case):
    data, name, code = CASES[case]
    sub = ingest(data, filename=name)
    assert sub.status == "failed" and sub.error_code == code, (sub.error_code, sub.error_message)
    assert sub.error_message and "%(" not in sub.error_message
    assert _snapshot(db_session) == good[1]
    assert good[0].is_current


def test_an_inventory_file_sent_as_sell_out_is_refused(db_session, world, ingest, good):
    data = csv_bytes([["ING-P1", "阿莫西林胶囊", "0.25g*24粒", "L1", "2027-08-31", 100]],
                     headers=["产品编码", "产品名称", "规格", "批号", "有效期", "库存数量"], total=False,
                     title=["库存日报 截止2026-05-31"])
    sub = ingest(data, filename="库存.csv")
    assert (sub.status, sub.error_code) == ("failed", "wrong_kind"), sub.error_message
    assert "库存" in sub.error_message or "inventory" in sub.error_message
    assert _snapshot(db_session) == good[1]


def test_a_file_of_another_distributor_is_refused(db_session, world, ingest, good):
    by_title = ingest(csv_bytes([sale(qty=1)], title=["江苏别家医药有限公司 5月流向"]), filename="b.csv")
    assert (by_title.status, by_title.error_code) == ("failed", "other_distributor")
    assert "ING-X9" in by_title.error_message
    headers = ["经销商编码", *SELL_HEADERS]
    by_column = ingest(csv_bytes([["ING-X9", *sale(qty=2)]], headers=headers, total=False), filename="c.csv")
    assert (by_column.status, by_column.error_code) == ("failed", "other_distributor"), by_column.error_message
    own = ingest(csv_bytes([["ING-D1", *sale(qty=3)]], headers=headers, total=False), filename="d.csv")
    assert own.status == "loaded", own.error_message  # its own code in that column is fine


def test_a_closed_period_refuses_the_file_and_keeps_the_current_version(db_session, world, ingest, good):
    from datetime import date

    db_session.add(PeriodClosing(distributor_id=None, month=date(2026, 5, 1)))
    db_session.flush()
    sub = ingest(csv_bytes([sale(qty=99)]), filename="late.csv")
    assert (sub.status, sub.error_code) == ("failed", "period_closed")
    assert "2026-05" in sub.error_message
    assert _snapshot(db_session) == good[1]


def test_formulas_without_values_are_rejected_rows(db_session, world, ingest):
    rows = [sale(qty=q) for q in (1, 2, 3)]
    rows.append([*sale(qty=4)[:10], "=H5*J5"])  # openpyxl writes the formula with no cached value
    sub = ingest(xlsx_bytes(rows), filename="流向.xlsx")
    assert sub.status == "loaded", sub.error_message
    got = dict(db_session.execute(select(RejectedRow.source_row, RejectedRow.reasons)
                                  .where(RejectedRow.submission_id == sub.id)).all())
    assert "formula_no_value" in got.get(5, "")


def test_formula_text_in_a_cell_is_only_text(db_session, world, ingest):
    rows = [sale(qty=q) for q in (1, 2, 3)]
    rows.append(sale(customer='=HYPERLINK("http://x","杭州")', qty=5))
    sub = ingest(csv_bytes(rows), filename="流向.csv")
    assert sub.status == "loaded", sub.error_message
    assert (sub.rows_accepted, sub.rows_review) == (3, 1)  # an unknown customer name like any other


def test_the_wrong_file_at_23_00_over_a_good_one_changes_nothing(db_session, world, ingest, good):
    wrong = ingest(csv_bytes([sale(day="2025-05-10", qty=q) for q in (1, 2, 3, 4)]), filename="wrong.csv")
    assert (wrong.status, wrong.error_code) == ("failed", "too_many_rejected")
    assert "4" in wrong.error_message
    assert "主要原因：日期不在本次上报的期间内（4 行）。" in wrong.error_message  # the reason and its count, in Chinese
    assert _snapshot(db_session) == good[1]
    db_session.refresh(good[0])
    assert good[0].is_current and good[0].status == "loaded"
    # its rows and reasons are kept for the report
    assert db_session.execute(select(func.count()).select_from(RejectedRow)
                              .where(RejectedRow.submission_id == wrong.id)).scalar() == 4


def test_the_same_file_twice_is_a_duplicate_and_a_no_op(db_session, world, ingest, good):
    again = ingest(csv_bytes([sale(qty=q) for q in (10, 20, 30)]), filename="again.csv")
    assert again.status == "duplicate" and str(good[0].id) in again.error_message
    assert _snapshot(db_session) == good[1]


def test_a_file_over_the_size_limit_is_refused_and_nothing_is_kept(db_session, world, app):
    from ingestion import intake, store

    big = io.BytesIO(b"x" * (2 * 1024 * 1024))
    app.config["INGEST_MAX_MB"] = 1
    try:
        with pytest.raises(intake.IntakeError) as err:
            intake.receive_file(big, "big.csv", world["d1"], "sell_out", intake.parse_period("month", "2026-05"),
                                source="upload", submitted_by=None)
    finally:
        app.config["INGEST_MAX_MB"] = 150
    assert err.value.status == 413 and "1 MB" in str(err.value)
    assert not list((store.store_dir() / "tmp").iterdir())


def test_a_large_file_with_a_total_row_loads(db_session, world, layout, tmp_path):
    from ingestion import reading

    path = tmp_path / "big.csv"
    path.write_bytes(csv_bytes([sale(qty=1 + i % 7) for i in range(20_000)]))
    info = reading.inspect_file(path, "big.csv", max_bytes=10**9)
    table = reading.read_table(path, info, chunk_rows=2000)
    assert sum(len(c) for c in table.iter_chunks()) == 20_000 and table.dropped["total"] == 1
