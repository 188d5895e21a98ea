"""The JSON of waiting rows (ingestion.pipeline._json_values) converts column by column: every kind of column gives
the same JSON as converting each cell with _json_value, missing cells (None, NaN, NaT, NA) as null."""

import json
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd

from ingestion import pipeline


def _cell_by_cell(frame: pd.DataFrame) -> list[dict]:
    return [{k: pipeline._json_value(frame[k].astype(object).iloc[i]) for k in frame.columns}
            for i in range(len(frame))]


def test_each_kind_of_column_as_cell_by_cell():
    frame = pd.DataFrame({
        "business_date": pd.Series([date(2026, 5, 1), None, date(2026, 5, 31)], dtype=object),
        "expires_on": pd.Series([pd.NaT, date(2028, 1, 31), None], dtype=object),
        "customer_name": pd.Series(["某医院", None, "药房（一店）"], dtype="string[pyarrow]"),
        "customer_code": pd.Series([None, None, None], dtype=object),
        "product_code": pd.Series(["P1", np.nan, "P3"], dtype=object),
        "quantity": pd.array([5, None, -2], dtype="Int64"),
        "unit_price": pd.Series([Decimal("12.3456"), None, Decimal("0E-4")], dtype=object),
        "amount": pd.Series([Decimal("61.73"), Decimal("-0.00"), None], dtype=object),
        "unit": pd.Series(["盒", 3, None], dtype=object),  # mixed: the cell-by-cell path
        "_row": np.array([2, 3, 4], dtype="int64"),
    })
    got = [json.loads(line) for line in pipeline._json_values(frame)]
    assert got == _cell_by_cell(frame[[c for c in frame.columns]])
    assert got[1]["business_date"] is None and got[0]["expires_on"] is None and got[1]["quantity"] is None
    assert got[0]["unit_price"] == "12.3456" and got[2]["quantity"] == -2 and got[1]["unit"] == 3
    assert got[2]["customer_name"] == "药房（一店）" and got[1]["product_code"] is None
