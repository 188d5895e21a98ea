"""Normalisation of channel-data rows: raw strings in, parsed values and a list of row problems out.

Pure (no Flask, no database). :func:`normalise_chunk` turns one chunk of :meth:`ingestion.reading.Table.iter_chunks`
into canonical columns under a confirmed column mapping:

* dates (``business_date``, ``as_of``, ``expires_on``) as :class:`datetime.date` or ``pd.NaT`` (see
  :func:`parse_date` for the formats: 2025-03-05, 2025/3/5, 2025.3.5, 2025年3月5日, 20250305, Excel serial numbers,
  full-width digits; an expiry may also be a month, 2027-03 = the last day of that month);
* ``quantity`` as integers (pandas ``Int64``; a non-integer, text or empty quantity is a problem, never rounded);
* money as :class:`decimal.Decimal`, never float: ``unit_price`` to 4 places and ``amount`` to 2, ROUND_HALF_UP;
* strings NFKC-normalised (full-width → half-width), stripped, inner runs of spaces collapsed; empty → None;
* ``unit`` keeps the raw unit text (a unit glued to the quantity, 10盒, is split off when the unit column is empty);
  conversion to base units needs the product and happens later (:func:`to_base_units`);
* ``problems``: the list of reason codes (keys of :data:`REASONS`) of the row; an empty list means clean.

Column-wise: pyarrow's C kernels sort out the cells that are already clean or plain numbers (most of them); the
rest, and every date, are parsed once per distinct raw value with the same scalar functions the rest of the code
uses (:func:`clean_text`, :func:`parse_date`, :func:`parse_quantity`, :func:`parse_money`), so there is one
definition of every format. Money goes from the cell's text straight to Decimal; a float copy only screens
amount = quantity × unit price, which is then decided in Decimal.
"""

from __future__ import annotations

import calendar
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from flask_babel import lazy_gettext as _l

from ingestion.mapping import FIELDS, INVENTORY
from ingestion.reading import EXTRA_CELLS, FORMULA_NO_VALUE, ROW

PROBLEMS = "problems"
CENT = Decimal("0.01")
PRICE_PLACES = Decimal("0.0001")
#: Default tolerance of amount = quantity × unit price: one yuan-cent plus 0.5 % of the amount (price rounding).
AMOUNT_TOLERANCE = Decimal("0.01")
AMOUNT_RELATIVE_TOLERANCE = Decimal("0.005")

#: Every row-problem reason: code → message (English msgid, zh in the catalog). Cleaning produces the first group;
#: the pipeline's validation uses the rest, and the rejected-rows export shows the message of each code.
REASONS = {
    "missing_date": _l("The date is empty."),
    "bad_date": _l("The date cannot be read (use 2025-03-05, 2025/3/5, 2025年3月5日 or an Excel date)."),
    "bad_expiry": _l("The expiry date cannot be read."),
    "missing_quantity": _l("The quantity is empty."),
    "bad_quantity": _l("The quantity is not a whole number."),
    "quantity_zero": _l("The quantity is zero."),
    "quantity_negative": _l("A stock quantity cannot be negative."),
    "bad_price": _l("The unit price is not a valid amount of money."),
    "bad_amount": _l("The amount is not a valid amount of money."),
    "amount_mismatch": _l("The amount is not quantity × unit price."),
    "missing_customer": _l("The customer name and code are both empty."),
    "missing_supplier": _l("The supplier name and code are both empty."),
    "missing_product": _l("The product code and name are both empty."),
    "extra_cells": _l("The row has more cells than the header has columns (a comma in a name may have shifted "
                      "the row)."),
    "formula_no_value": _l("A cell holds a formula without a calculated value (open the file in Excel, save it "
                           "and upload it again)."),
    # Validation in the pipeline (needs master data):
    "unknown_product": _l("The product is not known (no product matches its code or name and specification)."),
    "unknown_customer": _l("The customer is not matched to a terminal or distributor yet."),
    "unknown_supplier": _l("The supplier is not matched to a distributor."),
    "unknown_unit": _l("The unit cannot be converted to the product's base unit."),
    "date_outside_period": _l("The date is outside the submission's period."),
    "period_closed": _l("The period is already closed."),
    "lot_unknown": _l("The lot number is not one of our lots of this product."),
    "expiry_mismatch": _l("The expiry date does not match our lot's expiry date."),
    "duplicate_line": _l("The same line appears more than once in the file."),
    "other_distributor": _l("The line belongs to another distributor."),
}

_TEXT_FIELDS = ("customer_name", "customer_code", "customer_region", "supplier_name", "supplier_code",
                "product_code", "product_name", "specification", "lot_no", "unit")
_DATE_FIELDS = ("business_date", "as_of")

# ----------------------------------------------------------------------------------------------------------------
# Scalar parsers (one definition of each format)
# ----------------------------------------------------------------------------------------------------------------

_MINUS = re.compile("[\u2212\u2013\u2014\uff0d\ufe63]")


def to_half_width(text: str) -> str:
    """NFKC: full-width digits, letters, punctuation and the ideographic space become their ASCII forms (and the
    minus-like dashes a minus)."""
    if text.isascii():
        return text
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return _MINUS.sub("-", text) if _MINUS.search(text) else text


def clean_text(value) -> str | None:
    """A text cell as kept: half-width, stripped, inner whitespace collapsed to one space; empty → None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = " ".join(to_half_width(str(value)).split())
    return text or None


_YMD = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
                  r"(?:[ T]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:\s*(?:星期|周).)?$")
_YM = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_COMPACT_YM = re.compile(r"^(\d{4})(\d{2})$")
_SERIAL = re.compile(r"^\d{5}(?:\.\d+)?$")
_EXCEL_EPOCH = date(1899, 12, 30)
#: Excel serial numbers accepted as dates: 1954-10-03 .. 2099-12-31 (a plain 5-digit number outside is no date).
SERIAL_RANGE = (20_000, 73_050)
YEAR_RANGE = (1990, 2100)


def _valid(y: int, m: int, d: int) -> date | None:
    if not YEAR_RANGE[0] <= y <= YEAR_RANGE[1]:
        return None
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _month_end(y: int, m: int) -> date | None:
    if not 1 <= m <= 12:
        return None
    return _valid(y, m, calendar.monthrange(y, m)[1])


def parse_date(value, *, allow_month: bool = False) -> date | None:
    """A date from the forms distributors write, or None when it cannot be read (never guessed).

    2025-03-05, 2025/3/5, 2025.3.5, 2025年3月5日 (with or without a time or 星期), 20250305, Excel serial numbers
    (45721 = 2025-03-05, in the range :data:`SERIAL_RANGE`), full-width digits, ``date`` / ``datetime`` objects.
    Day-first or month-first forms (05/03/2025) are ambiguous and give None. With ``allow_month`` (expiry dates),
    2027-03, 2027年3月 and 202703 mean the last day of that month.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _serial(float(value))
    text = to_half_width(str(value)).strip()
    if not text:
        return None
    if m := _YMD.match(text):
        return _valid(int(m[1]), int(m[2]), int(m[3]))
    if m := _COMPACT.match(text):
        return _valid(int(m[1]), int(m[2]), int(m[3]))
    if _SERIAL.match(text):
        return _serial(float(text))
    if allow_month:
        if (m := _YM.match(text)) or (m := _COMPACT_YM.match(text)):
            return _month_end(int(m[1]), int(m[2]))
    return None


def _serial(number: float) -> date | None:
    if not math.isfinite(number) or not SERIAL_RANGE[0] <= number <= SERIAL_RANGE[1]:
        return None
    return _EXCEL_EPOCH + timedelta(days=int(number))


_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_GROUPED = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?$")
_QTY_UNIT = re.compile(r"^([+-]?\d[\d,]*(?:\.\d+)?)\s*([^\d\s.,+-][^\d]{0,3})$")
_CURRENCY = re.compile(r"^(?:¥|￥|RMB|CNY|人民币)\s*|\s*(?:元|RMB|CNY)$", re.I)
_EMPTY_MARKS = {"", "-", "--", "—", "——", "/", "无", "null", "none", "nan", "n/a", "#n/a"}


_PLAIN = re.compile(r"-?\d+(?:\.\d+)?")


def _number_text(value) -> str | None:
    """A numeric cell reduced to a plain decimal literal ('1234.5', '-3'), '' when empty, None when not a number."""
    if isinstance(value, str) and _PLAIN.fullmatch(value):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return str(value)
    text = to_half_width(str(value)).strip().replace(" ", "")
    if text.lower() in _EMPTY_MARKS:
        return ""
    text = _CURRENCY.sub("", text)
    negative = False
    if text.startswith("(") and text.endswith(")"):  # accounting negative: (12.00)
        text, negative = text[1:-1], True
    if _GROUPED.match(text):
        text = text.replace(",", "")
    if not _NUMBER.match(text):
        return None
    return f"-{text.lstrip('+')}" if negative and not text.startswith("-") else text


def parse_quantity(value) -> int | None:
    """A whole quantity (1, 1,200, １２, 10.0, -3, 10盒 → 10), or None when empty, not a number or not whole."""
    text = _number_text(value)
    if text is None and isinstance(value, str) and (m := _QTY_UNIT.match(to_half_width(value).strip())):
        text = _number_text(m[1])
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value() or abs(number) > 2**31 - 1:
        return None
    return int(number)


def quantity_unit(value) -> str | None:
    """The unit glued to a quantity (盒 of '10盒'), or None."""
    if isinstance(value, str) and (m := _QTY_UNIT.match(to_half_width(value).strip())):
        return m[2].strip()
    return None


def parse_money(value, places: Decimal = CENT) -> Decimal | None:
    """A Decimal amount (¥1,234.50, 1234.5元, (12.00) = -12.00, full-width digits), rounded half up to ``places``;
    None when empty or not a number. Never goes through float: a float cell is read through its shortest repr."""
    text = _number_text(value)
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    if not number.is_finite() or abs(number) >= Decimal("1e12"):
        return None
    return number.quantize(places, rounding=ROUND_HALF_UP)


def amount_mismatch(quantity: int | None, unit_price: Decimal | None, amount: Decimal | None,
                    tolerance: Decimal = AMOUNT_TOLERANCE, *,
                    relative: Decimal = AMOUNT_RELATIVE_TOLERANCE) -> bool:
    """Whether ``amount`` differs from ``quantity × unit_price`` by more than ``tolerance`` + ``relative`` × |amount|.

    False when any of the three is missing (nothing to compare).
    """
    if quantity is None or unit_price is None or amount is None:
        return False
    if isinstance(quantity, float) and math.isnan(quantity):
        return False
    expected = Decimal(int(quantity)) * unit_price
    return abs(expected - amount) > tolerance + relative * abs(amount)


#: Units that mean "one pack" (件 / 箱: pack_size base units) and units that are the base unit itself.
PACK_UNITS = frozenset({"件", "箱", "大箱", "整件", "件装", "ctn", "case", "carton"})
BASE_UNITS = frozenset({"盒", "瓶", "支", "袋", "包", "罐", "管", "板", "提", "box", "bottle"})


def to_base_units(quantity: int, unit_text: str | None, base_unit: str | None, pack_size: int | None,
                  known_units: Mapping[str, int] | None = None) -> int | None:
    """``quantity`` expressed in the product's base unit, or None when the unit is unknown.

    An empty unit or the product's own base unit: as is. ``known_units`` (unit text → base units per unit, e.g.
    a distributor's 中包 = 10) wins over the defaults. 件 / 箱 (:data:`PACK_UNITS`): × ``pack_size`` (None when the
    product has no pack size). 盒 / 瓶 / 支 ... (:data:`BASE_UNITS`): the base unit.
    """
    unit = clean_text(unit_text)
    if unit is None:
        return quantity
    key = unit.lower()
    if known_units:
        for text, factor in known_units.items():
            if clean_text(text) and clean_text(text).lower() == key:
                return quantity * int(factor)
    if base_unit and key == (clean_text(base_unit) or "").lower():
        return quantity
    if key in PACK_UNITS:
        return quantity * pack_size if pack_size else None
    if key in BASE_UNITS:
        return quantity
    return None


# ----------------------------------------------------------------------------------------------------------------
# normalise_chunk
# ----------------------------------------------------------------------------------------------------------------


class _Distinct:
    """A column factorised once: each distinct raw value is parsed once and the results are spread back with
    numpy (files repeat their dates a lot; pyarrow-backed columns factorise in C)."""

    def __init__(self, values):
        if isinstance(values, pa.Array):  # dictionary-encode in C
            encoded = pc.dictionary_encode(values)
            self.codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
            self.values = [*encoded.dictionary.to_pylist(), None]
            return
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        self.codes = codes  # -1 for a missing value: it indexes the extra last slot of every table below
        self.values = [*np.asarray(uniques, dtype=object).tolist(), None]

    def table(self, parse: Callable) -> np.ndarray:
        out = np.empty(len(self.values), dtype=object)
        out[:] = [parse(v) for v in self.values]
        return out

    def spread(self, table: np.ndarray) -> np.ndarray:
        return table[self.codes]


def _missing(table: np.ndarray) -> np.ndarray:
    return np.array([v is None or v is pd.NaT for v in table], dtype=bool)


def _strings(df: pd.DataFrame, columns: Mapping[str, str], fld: str) -> pa.Array:
    """The raw column of ``fld`` as a pyarrow string array (all null when the field is not mapped)."""
    header = columns.get(fld)
    if header is None or header not in df.columns:
        return pa.nulls(len(df), type=pa.string())
    series = df[header]
    try:
        arr = pa.array(series, type=pa.string(), from_pandas=True)
        # a pyarrow-backed column pandas joined from pieces (pd.concat) comes out as a ChunkedArray
        return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # non-string cells handed in by a caller: as their text
        return pa.array([None if v is None or v != v else str(v) for v in series], type=pa.string())


#: Cells made only of these characters are already what clean_text makes of them (ASCII without spaces and CJK
#: unified ideographs are NFKC-stable); only the other cells go through Python.
_SIMPLE_CELL = r"^[\x21-\x7e\x{4e00}-\x{9fff}]+$"


def _half_width(arr: pa.Array) -> pa.Array:
    """:func:`clean_text` for a whole column: pyarrow's C kernels sort out the cells that are already clean (most
    of them), the rest are cleaned in Python once per distinct value; "" → null."""
    simple = _bools(pc.match_substring_regex(arr, _SIMPLE_CELL))
    present = ~_bools(pc.is_null(arr))
    need = present & ~simple
    if not need.any():
        return arr if present.all() else pc.if_else(pa.array(present), arr, pa.scalar(None, pa.string()))
    values = _objects(arr)
    values[~present] = None
    idx = np.flatnonzero(need)
    odd = _Distinct(values[idx])
    values[idx] = odd.spread(odd.table(clean_text))
    return pa.array(values, type=pa.string(), from_pandas=True)


def _objects(arr: pa.Array) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False).astype(object, copy=False)


def _bools(arr: pa.Array) -> np.ndarray:
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False).astype(bool, copy=False)


_EMPTY_SET = pa.array(sorted(_EMPTY_MARKS), type=pa.string())


def _numbers(raw: pa.Array, pattern: str):
    """Split a numeric column: (cleaned strings, plain rows (match ``pattern``), empty rows, other rows)."""
    text = _half_width(raw)
    plain = _bools(pc.match_substring_regex(text, pattern))
    empty = _bools(pc.is_null(text)) | _bools(pc.is_in(pc.utf8_lower(text), value_set=_EMPTY_SET))
    return text, plain, empty, ~plain & ~empty


def _parse_quantities(raw: pa.Array):
    text, plain, empty, other = _numbers(raw, r"^-?\d{1,9}$")
    values = np.zeros(len(raw), dtype="int64")
    valid = plain.copy()
    if plain.any():
        values[plain] = pc.cast(pc.filter(text, pa.array(plain)), pa.int64()).to_numpy()
    units = None
    if other.any():
        idx = np.flatnonzero(other)
        odd = _Distinct(_objects(raw.take(pa.array(idx))))
        parsed = odd.spread(odd.table(parse_quantity))
        ok = np.array([v is not None for v in parsed], dtype=bool)
        values[idx[ok]] = np.array([v for v in parsed if v is not None], dtype="int64")
        valid[idx[ok]] = True
        glued = odd.spread(odd.table(quantity_unit))
        if any(g is not None for g in glued):
            units = np.full(len(raw), None, dtype=object)
            units[idx] = glued
    quantity = pd.arrays.IntegerArray(values, ~valid)
    return quantity, empty, ~valid & ~empty, units


def _parse_money(raw: pa.Array, places: Decimal):
    """(Decimal-or-None objects, float copy for screening only, empty rows, unreadable rows)."""
    text, plain, empty, other = _numbers(raw, r"^-?\d{1,12}(?:\.\d+)?$")
    values = np.full(len(raw), None, dtype=object)
    floats = np.full(len(raw), np.nan)
    if plain.any():
        strings = pc.filter(text, pa.array(plain))
        floats[plain] = pc.cast(strings, pa.float64()).to_numpy()
        # Pad to the exact number of places in C, so that Decimal() alone gives the rounded value; only the
        # few cells with more places than kept need quantize (ROUND_HALF_UP).
        digits = -places.as_tuple().exponent
        padded = pc.replace_substring_regex(strings, r"^(-?\d+)$", r"\1.")
        parts = pc.split_pattern(padded, ".", max_splits=1)
        fraction = pc.list_element(parts, 1)
        long = _bools(pc.greater(pc.utf8_length(fraction), digits))
        short = pc.utf8_rpad(fraction, width=digits, padding="0")
        exact = pc.binary_join_element_wise(pc.list_element(parts, 0), short, ".")
        values[plain] = list(map(Decimal, exact.to_pylist()))
        if long.any():
            where = np.flatnonzero(plain)[long]
            values[where] = [v.quantize(places, rounding=ROUND_HALF_UP) for v in values[where]]
    bad = np.zeros(len(raw), dtype=bool)
    if other.any():
        idx = np.flatnonzero(other)
        odd = _Distinct(_objects(raw.take(pa.array(idx))))
        parsed = odd.spread(odd.table(lambda v: parse_money(v, places)))
        values[idx] = parsed
        floats[idx] = [float(v) if v is not None else np.nan for v in parsed]
        bad[idx] = [v is None for v in parsed]
    return values, floats, empty, bad


def normalise_chunk(df: pd.DataFrame, columns: Mapping[str, str], kind: str) -> pd.DataFrame:
    """Canonical, parsed columns of one raw chunk under ``columns`` (field → header), plus ``_row`` and ``problems``.

    Every field of ``FIELDS[kind]`` is present (None / NaT when not mapped). See the module docstring for the
    parsed types. Raises ``ValueError`` for an unknown kind; bad values never raise, they become problems.
    String work runs column-wise in pyarrow's C kernels; dates are parsed once per distinct value; money goes
    from the cell's text straight to Decimal.
    """
    kind = str(kind)
    if kind not in FIELDS:
        raise ValueError(f"unknown kind {kind!r}")
    n = len(df)
    out = pd.DataFrame(index=df.index)
    out[ROW] = df[ROW].astype("int64") if ROW in df.columns else np.arange(1, n + 1, dtype="int64")
    masks: dict[str, np.ndarray] = {}
    glued_unit = None
    floats: dict[str, np.ndarray] = {}

    for fld in FIELDS[kind]:
        raw = _strings(df, columns, fld)
        if fld in _TEXT_FIELDS:
            out[fld] = pd.Series(_objects(_half_width(raw)), index=out.index, dtype=object)
        elif fld in _DATE_FIELDS or fld == "expires_on":
            month = fld == "expires_on"
            cells = _Distinct(_half_width(raw))
            parsed = cells.table(lambda v, m=month: parse_date(v, allow_month=m))
            empty = np.array([v is None for v in cells.values], dtype=bool)
            bad = _missing(parsed) & ~empty
            if month:
                masks["bad_expiry"] = cells.spread(bad)
            elif fld in columns or fld != "as_of":  # as_of is optional: the period end when not mapped
                masks["missing_date"] = cells.spread(empty)
                masks["bad_date"] = cells.spread(bad)
            parsed[_missing(parsed)] = pd.NaT
            out[fld] = pd.Series(cells.spread(parsed), index=out.index, dtype=object)
        elif fld == "quantity":
            quantity, empty, bad, glued_unit = _parse_quantities(raw)
            out[fld] = quantity
            masks["missing_quantity"] = empty
            masks["bad_quantity"] = bad
            masks["quantity_zero"] = (quantity == 0).fillna(False).to_numpy(dtype=bool)
            if kind == INVENTORY:
                masks["quantity_negative"] = (quantity < 0).fillna(False).to_numpy(dtype=bool)
        elif fld in ("unit_price", "amount"):
            places = PRICE_PLACES if fld == "unit_price" else CENT
            values, floats[fld], empty, bad = _parse_money(raw, places)
            if fld == "unit_price":
                bad = bad | (floats[fld] < 0)
            masks["bad_price" if fld == "unit_price" else "bad_amount"] = bad
            out[fld] = pd.Series(values, index=out.index, dtype=object)
    if glued_unit is not None and "unit" in out.columns:
        unit = out["unit"].to_numpy(dtype=object)
        out["unit"] = pd.Series(np.where(pd.isna(unit), glued_unit, unit), index=out.index, dtype=object)

    if kind == "sell_out":
        masks["missing_customer"] = (out["customer_name"].isna() & out["customer_code"].isna()).to_numpy()
    elif kind == "purchase":
        masks["missing_supplier"] = (out["supplier_name"].isna() & out["supplier_code"].isna()).to_numpy()
    masks["missing_product"] = (out["product_code"].isna() & out["product_name"].isna()).to_numpy()
    if "amount" in out.columns:
        masks["amount_mismatch"] = _amount_mismatches(out, floats["unit_price"], floats["amount"])
    for column, code in ((FORMULA_NO_VALUE, "formula_no_value"), (EXTRA_CELLS, "extra_cells")):
        if column in df.columns:
            flags = _Distinct(df[column])
            masks[code] = flags.spread(np.array([v is not None and str(v) != "" for v in flags.values]))
    out[PROBLEMS] = _problem_lists(masks, n, out.index)
    return out


def _amount_mismatches(out: pd.DataFrame, p: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Screen in float (never stored), decide in Decimal: only rows the float screen cannot clear are computed."""
    qty = out["quantity"]
    price = out["unit_price"].to_numpy(dtype=object)
    amount = out["amount"].to_numpy(dtype=object)
    result = np.zeros(len(out), dtype=bool)
    q = qty.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        slack = float(AMOUNT_TOLERANCE) + float(AMOUNT_RELATIVE_TOLERANCE) * np.abs(a)
        suspect = ~np.isnan(q) & ~np.isnan(p) & ~np.isnan(a) & ~(np.abs(q * p - a) <= 0.5 * slack)
    for i in np.flatnonzero(suspect):
        result[i] = amount_mismatch(int(qty.iat[i]), price[i], amount[i])
    return result


def _problem_lists(masks: dict[str, np.ndarray], n: int, index) -> pd.Series:
    codes = [c for c in REASONS if c in masks]
    problems = np.empty(n, dtype=object)
    problems[:] = [[] for _ in range(n)]
    if codes:
        matrix = np.column_stack([np.asarray(masks[c], dtype=bool) for c in codes])
        names = np.array(codes, dtype=object)
        for i in np.flatnonzero(matrix.any(axis=1)):
            problems[i] = list(names[matrix[i]])
    return pd.Series(problems, index=index, dtype=object)
