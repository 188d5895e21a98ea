"""Cleaning: every date and number form of the issue parses, nothing is guessed, money never goes through float,
and each bad value becomes a named row problem."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.cleaning import (
    REASONS,
    amount_mismatch,
    clean_text,
    normalise_chunk,
    parse_date,
    parse_money,
    parse_quantity,
    to_base_units,
)
from ingestion.mapping import FIELDS, propose_mapping
from ingestion.reading import inspect_file, read_table

FULL = str.maketrans("0123456789-/.", "０１２３４５６７８９－／．")


@pytest.mark.parametrize("text", ["2025-03-05", "2025/3/5", "2025.3.5", "2025年3月5日", "2025年03月05日", "20250305",
                                  "45721", "45721.5", "2025-03-05 00:00:00", "2025/03/05 14:30", "2025-03-05T08:00:00",
                                  "２０２５－０３－０５", "２０２５年３月５日", " 2025 - 3 - 5 ",
                                   "2025年3月5日 星期三"])
def test_every_date_form_of_the_issue(text):
    assert parse_date(text) == date(2025, 3, 5)


@pytest.mark.parametrize("text", ["2025-02-30", "05/03/2025", "3/5/2025", "25-3-5", "abc", "", None, "99999", "1234",
                                  "2025-13-01", "1890-01-01", "2025-03"])
def test_what_is_not_a_date_is_none_never_a_guess(text):
    assert parse_date(text) is None


def test_dates_from_objects_and_numbers_and_expiry_months():
    assert parse_date(date(2025, 3, 5)) == date(2025, 3, 5)
    assert parse_date(45721) == parse_date(45721.0) == date(2025, 3, 5)
    assert parse_date("2027-03", allow_month=True) == date(2027, 3, 31)
    assert parse_date("2028年2月", allow_month=True) == date(2028, 2, 29)
    assert parse_date("202702", allow_month=True) == date(2027, 2, 28)
    assert parse_date("2027-13", allow_month=True) is None


FORMATS = [lambda d: d.isoformat(), lambda d: f"{d.year}/{d.month}/{d.day}", lambda d: f"{d.year}.{d.month}.{d.day}",
           lambda d: f"{d.year}年{d.month}月{d.day}日", lambda d: d.strftime("%Y%m%d"),
           lambda d: str((d - date(1899, 12, 30)).days)]


@settings(deadline=None)
@given(st.dates(date(1990, 1, 1), date(2099, 12, 31)), st.sampled_from(range(len(FORMATS))), st.booleans())
def test_parse_date_round_trips_every_format(d, fmt, full_width):
    text = FORMATS[fmt](d)
    if full_width:
        text = text.translate(FULL)
    if fmt == 5 and not 20_000 <= int(FORMATS[5](d)) <= 73_050:
        return
    assert parse_date(text) == d


@pytest.mark.parametrize("text,expected", [("10", 10), ("1,200", 1200), ("１２", 12), ("10.0", 10), ("-3", -3),
                                           ("−3", -3), ("(5)", -5), ("10盒", 10), ("10 盒", 10), (" 7 ", 7),
                                           ("10.5", None), ("", None), ("abc", None), ("1e3", 1000), ("-", None)])
def test_parse_quantity(text, expected):
    assert parse_quantity(text) == expected


@pytest.mark.parametrize("text,expected", [("¥1,234.50", "1234.50"), ("1234.5元", "1234.50"), ("(12.00)", "-12.00"),
                                           ("１２.３", "12.30"), ("0.005", "0.01"), ("-0.005", "-0.01"),
                                           ("12", "12.00"), ("RMB 8.8", "8.80"), ("1.2E3", "1200.00")])
def test_parse_money(text, expected):
    value = parse_money(text)
    assert isinstance(value, Decimal) and value == Decimal(expected) and str(value) == expected


def test_money_from_a_float_cell_is_its_shortest_text_not_binary_noise():
    assert parse_money(0.1 + 0.2) == Decimal("0.30")  # 0.30000000000000004 -> 0.30, half up
    assert parse_money(2.675) == Decimal("2.68")  # float 2.675 is 2.67499999...; its text is 2.675
    assert parse_money("12.34567", Decimal("0.0001")) == Decimal("12.3457")
    assert parse_money("") is None and parse_money("abc") is None and parse_money("—") is None


@settings(deadline=None)
@given(st.decimals(min_value=Decimal("-99999999.99"), max_value=Decimal("99999999.99"), places=2,
                   allow_nan=False, allow_infinity=False))
def test_money_is_exact_decimal_in_every_written_form(d):
    for text in (str(d), f"{d:,}", f"¥{d}", f"{d}元", str(d).translate(FULL)):
        value = parse_money(text)
        assert type(value) is Decimal and value == d and value.as_tuple().exponent == -2


def test_amount_mismatch_tolerance():
    assert not amount_mismatch(10, Decimal("12.50"), Decimal("125.00"))
    assert not amount_mismatch(3, Decimal("3.3333"), Decimal("10.00"))  # unit price rounding
    assert amount_mismatch(10, Decimal("12.50"), Decimal("130.00"))
    assert amount_mismatch(10, Decimal("12.50"), Decimal("125.00"), Decimal("0"), relative=Decimal("0")) is False
    assert amount_mismatch(10, Decimal("12.50"), Decimal("125.02"), Decimal("0.01"), relative=Decimal("0"))
    assert not amount_mismatch(None, Decimal("1"), Decimal("1")) and not amount_mismatch(1, None, Decimal("1"))


def test_units_to_base_units():
    assert to_base_units(3, "件", "盒", 20, None) == 60
    assert to_base_units(3, "箱", "盒", None, None) is None  # a pack without a pack size: unknown
    assert to_base_units(3, "盒", "盒", 20) == 3 and to_base_units(3, "瓶", "盒", 20) == 3
    assert to_base_units(3, None, "盒", 20) == 3 and to_base_units(3, " ", "盒", 20) == 3
    assert to_base_units(3, "中包", "盒", 20, {"中包": 10}) == 30
    assert to_base_units(3, "片", "盒", 20) is None


def test_clean_text():
    assert clean_text("  广州市　第一人民医院（本部） ") == "广州市 第一人民医院(本部)"
    assert clean_text("ＡＢＣ１２３") == "ABC123" and clean_text("") is None and clean_text(None) is None


def chunk(rows: list[dict], extra: dict | None = None) -> pd.DataFrame:
    df = pd.DataFrame(rows, dtype=object)
    df["_row"] = range(2, len(df) + 2)
    for k, v in (extra or {}).items():
        df[k] = v
    return df


COLUMNS = {"business_date": "日期", "customer_name": "客户", "product_code": "编码", "product_name": "品名",
           "lot_no": "批号", "expires_on": "效期", "quantity": "数量", "unit": "单位", "unit_price": "单价",
           "amount": "金额"}
GOOD = {"日期": "2025/3/5", "客户": "广州市第一人民医院", "编码": "P01", "品名": "阿莫西林", "批号": "A1",
        "效期": "2027-03", "数量": "10", "单位": "盒", "单价": "12.5", "金额": "125"}


def test_normalise_chunk_takes_columns_pandas_joined_from_pieces():
    """pd.concat of pyarrow-backed string frames gives columns of several pyarrow chunks: they are cleaned like
    columns of one."""
    halves = [pd.DataFrame([GOOD, {**GOOD, "数量": "3", "金额": "37.5"}]).astype("string[pyarrow]"),
              pd.DataFrame([{**GOOD, "客户": "（广州）第二医院", "数量": "２"}]).astype("string[pyarrow]")]
    joined = pd.concat(halves, ignore_index=True)
    joined["_row"] = range(2, 5)
    assert pa.array(joined["客户"], from_pandas=True).num_chunks == 2  # what the test is about
    out = normalise_chunk(joined, COLUMNS, "sell_out")
    assert out["quantity"].tolist() == [10, 3, 2]
    assert out["customer_name"].tolist() == ["广州市第一人民医院", "广州市第一人民医院", "(广州)第二医院"]
    assert out["problems"].tolist() == [[], [], ["amount_mismatch"]]


def test_normalise_chunk_types_and_problems():
    rows = [GOOD,
            {**GOOD, "日期": "2025-02-30", "数量": "0"},
            {**GOOD, "日期": "", "数量": "1.5", "单价": "abc", "金额": "x"},
            {**GOOD, "客户": " ", "编码": "", "品名": None, "效期": "明年"},
            {**GOOD, "数量": "２０盒", "单位": "", "金额": "300"},
            {**GOOD, "数量": "-2", "金额": "-25"},
            {**GOOD, "数量": "2", "金额": "-25", "单价": "-12.5"}]
    out = normalise_chunk(chunk(rows), COLUMNS, "sell_out")
    assert list(out.columns) == ["_row", *FIELDS["sell_out"], "problems"]
    assert list(out["_row"]) == [2, 3, 4, 5, 6, 7, 8]
    assert out.loc[0, "business_date"] == date(2025, 3, 5) and out.loc[0, "expires_on"] == date(2027, 3, 31)
    assert out.loc[0, "quantity"] == 10 and out.loc[0, "amount"] == Decimal("125.00")
    assert out.loc[0, "unit_price"] == Decimal("12.5000") and out.loc[0, "customer_code"] is None
    assert out["problems"].tolist() == [
        [], ["bad_date", "quantity_zero", "amount_mismatch"], ["missing_date", "bad_quantity", "bad_price",
         "bad_amount"],
        ["bad_expiry", "missing_customer", "missing_product"], ["amount_mismatch"], [], ["bad_price"]]
    assert out.loc[1, "business_date"] is pd.NaT and pd.isna(out.loc[2, "quantity"])
    assert out.loc[4, "quantity"] == 20 and out.loc[4, "unit"] == "盒"  # the unit glued to the quantity
    assert out.loc[5, "quantity"] == -2  # a reported return line
    assert all(c in REASONS for p in out["problems"] for c in p)


def test_money_columns_hold_only_decimals_or_none():
    out = normalise_chunk(chunk([GOOD, {**GOOD, "金额": "1,250.555"}, {**GOOD, "金额": ""}]), COLUMNS, "sell_out")
    assert [type(v).__name__ for v in out["amount"]] == ["Decimal", "Decimal", "NoneType"]
    assert out.loc[1, "amount"] == Decimal("1250.56")
    assert out["quantity"].dtype == "Int64"


def test_object_columns_leave_none_in_missing_cells_never_nan():
    """ingestion.pipeline._Columns takes object columns as they are: a NaN there would be a truthy customer name."""
    from ingestion.pipeline import frame_from_values

    rows = [GOOD, {k: "" for k in GOOD}, {**GOOD, "客户": None, "批号": None, "单价": None, "效期": None}]
    out = normalise_chunk(chunk(rows), COLUMNS, "sell_out")
    back = frame_from_values([{"business_date": "2026-05-01", "customer_name": "甲医院", "quantity": 3},
                              {"customer_code": "C1", "quantity": 4, "lot_no": None}])
    for frame in (out, back):
        for name in frame.columns:
            if frame[name].dtype == object and name != "problems":
                cells = frame[name].tolist()
                assert not any(isinstance(v, float) for v in cells), (name, cells)
                assert all(v is None or v is pd.NaT or not pd.isna(v) for v in cells), (name, cells)  # no NA
    assert out.loc[1, "customer_name"] is None and back.loc[1, "customer_name"] is None
    assert back.loc[0, "customer_code"] is None and out.loc[2, "expires_on"] is pd.NaT


def test_inventory_and_formula_and_extra_cells():
    columns = {"product_code": "编码", "quantity": "数量", "lot_no": "批号"}
    df = chunk([{"编码": "P1", "数量": "5", "批号": "A"}, {"编码": "P1", "数量": "-1", "批号": "A"},
                {"编码": "P2", "数量": "", "批号": "B"}],
               {"_formula_no_value": ["", "", "数量"], "_extra_cells": ["", "x", ""]})
    out = normalise_chunk(df, columns, "inventory")
    assert out["problems"].tolist() == [[], ["quantity_negative", "extra_cells"],
                                        ["missing_quantity", "formula_no_value"]]
    assert "as_of" in out.columns and out.loc[0, "as_of"] is pd.NaT  # optional: the period end decides
    with pytest.raises(ValueError):
        normalise_chunk(df, columns, "returns")


def test_a_file_read_by_arrow_cleans_like_the_same_rows_in_plain_objects(tmp_path):
    header = ",".join(GOOD)
    lines = [header, ",".join(GOOD.values()),
             "2025年3月6日,深圳市人民医院（东院）,P02,布洛芬,B1,2027/4,１２,盒,8.8,105.6"]
    path = tmp_path / "f.csv"
    path.write_text("\n".join(lines) + "\n", encoding="gbk")
    info = inspect_file(path, "f.csv", max_bytes=10**6)
    table = read_table(path, info)
    raw = next(table.iter_chunks())
    proposal = propose_mapping(table.headers, "sell_out")
    from_arrow = normalise_chunk(raw, COLUMNS, "sell_out")
    plain = raw.astype(object)
    from_objects = normalise_chunk(plain, COLUMNS, "sell_out")
    pd.testing.assert_frame_equal(from_arrow, from_objects)
    assert proposal.columns["customer_name"] == "客户"
    assert from_arrow.loc[1, "customer_name"] == "深圳市人民医院(东院)" and from_arrow.loc[1, "quantity"] == 12
    assert from_arrow.loc[1, "expires_on"] == date(2027, 4, 30)
    assert from_arrow.loc[1, "business_date"] == date(2025, 3, 6)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.dates(date(2020, 1, 1), date(2030, 1, 1)), st.integers(-50, 5000),
                          st.decimals(Decimal("0.01"), Decimal("9999.99"), places=2)), min_size=1, max_size=30))
def test_normalised_rows_keep_every_value_exactly(rows):
    df = chunk([{**GOOD, "日期": d.isoformat(), "数量": str(q), "单价": str(p), "金额": str(p * q)} for d, q,
               p in rows])
    out = normalise_chunk(df, COLUMNS, "sell_out")
    for (d, q, p), (_, row) in zip(rows, out.iterrows(), strict=True):
        assert row["business_date"] == d and row["quantity"] == q
        assert row["unit_price"] == p and row["amount"] == p * q and type(row["amount"]) is Decimal
        assert ("quantity_zero" in row["problems"]) == (q == 0)
        assert "amount_mismatch" not in row["problems"]


def test_serial_range_edges():
    assert parse_date("20000") == date(1899, 12, 30) + timedelta(days=20000)
    assert parse_date("19999") is None and parse_date("73051") is None
