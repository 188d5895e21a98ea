"""Opening balances from Excel: 库位编码, 产品编码, 批号, 生产日期, 有效期至, 数量 (one row per location × lot).

Each row registers its lot (or finds it: the same lot number with other dates is a row error) and posts an
``opening`` movement into the location. All or nothing: every row is checked and every problem reported (row,
column, value, message); on any problem everything the import wrote is rolled back (a savepoint) and
:class:`~app.masterdata.services.ImportFailed` is raised. An opening balance is imported once per location × lot:
a second one for the same pair is refused (importing the same file twice would double the stock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select, tuple_

from app.extensions import db
from app.masterdata.resource import Field, normalise_cell
from app.masterdata.services import ImportFailed, RowError, all_or_nothing
from app.models import Product, StockLocation
from inventory import services
from inventory.models import Lot, MovementKind, StockMovement
from inventory.services import OpeningResult


@dataclass(frozen=True)
class Column:
    name: str
    header: str
    aliases: tuple[str, ...]
    kind: str  # str | date | int


COLUMNS = (
    Column("location", "库位编码", ("库位", "location_code", "location"), "str"),
    Column("product", "产品编码", ("产品代码", "product_code", "product"), "str"),
    Column("lot_no", "批号", ("lot_no", "lot"), "str"),
    Column("manufactured_on", "生产日期", ("manufactured_on", "manufacture_date"), "date"),
    Column("expires_on", "有效期至", ("有效期", "expires_on", "expiry_date"), "date"),
    Column("quantity", "数量", ("quantity", "qty"), "int"),
)


def template_workbook() -> bytes:
    from inventory.reports import table_workbook

    return table_workbook(_("Opening balances"), [c.header for c in COLUMNS], [])


def read_rows(stream) -> tuple[list[tuple[int, dict]], list[RowError]]:
    """(row number, {column name: cell}) pairs from the first sheet, or the errors about the file and header."""
    from zipfile import BadZipFile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(stream, read_only=True, data_only=True)
    except (BadZipFile, InvalidFileException, KeyError, OSError, ValueError):
        return [], [RowError(None, None, None, _("This is not a readable Excel (.xlsx) file."))]
    by_header = {h.lower(): c for c in COLUMNS for h in (c.header, *c.aliases)}
    rows = wb.worksheets[0].iter_rows(values_only=True)
    header, header_row = None, 0
    for i, row in enumerate(rows, start=1):  # title rows may sit above the header
        if sum(str(v).strip().lower() in by_header for v in row if v not in (None, "")) >= 2:
            header, header_row = row, i
            break
        if i >= 20:
            break
    if header is None:
        return [], [RowError(None, None, None, _("The file has no header row."))]
    columns, errors, seen = [], [], set()
    for cell in header:
        text = str(cell).strip() if cell is not None else ""
        col = by_header.get(text.lower()) if text else None
        if text and col is None:
            errors.append(RowError(header_row, text, None, _("Unknown column “%(col)s”.", col=text)))
        elif col is not None and col.name in seen:
            errors.append(RowError(header_row, text, None, _("Column “%(col)s” appears twice.", col=text)))
            col = None
        elif col is not None:
            seen.add(col.name)
        columns.append(col)
    for c in COLUMNS:
        if c.name not in seen:
            errors.append(RowError(header_row, c.header, None, _("Required column “%(col)s” is missing.",
                                                                 col=c.header)))
    if errors:
        return [], errors
    out = []
    for rownum, row in enumerate(rows, start=header_row + 1):
        if all(v in (None, "") for v in row):
            continue
        out.append((rownum, {c.name: v for c, v in zip(columns, row, strict=False) if c is not None}))
    return out, []


def _parse(rownum: int, raw: dict, errors: list[RowError]) -> dict | None:
    """Typed values of one row, or None after appending its problems."""
    values, bad = {}, False
    for c in COLUMNS:
        cell = raw.get(c.name)
        value = normalise_cell(Field(c.name, c.header, (c.header,), kind=c.kind), cell)
        shown = None if cell is None else str(cell)
        if value is None:
            errors.append(RowError(rownum, c.header, shown, _("Required.")))
            bad = True
            continue
        if c.kind == "date":
            try:
                value = date.fromisoformat(value)
            except (TypeError, ValueError):
                errors.append(RowError(rownum, c.header, shown, _("Not a valid date (use YYYY-MM-DD).")))
                bad = True
                continue
        elif c.kind == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                errors.append(RowError(rownum, c.header, shown, _("Not a whole number.")))
                bad = True
                continue
            if value <= 0:
                errors.append(RowError(rownum, c.header, shown, _(
                    "The quantity must be a positive whole number of base units.")))
                bad = True
                continue
        values[c.name] = value
    if bad:
        return None
    if len(values["lot_no"]) > 40:
        errors.append(RowError(rownum, "批号", values["lot_no"], _("A lot number of 1 to 40 characters is required.")))
        return None
    if values["expires_on"] <= values["manufactured_on"]:
        errors.append(RowError(rownum, "有效期至", values["expires_on"].isoformat(), _(
            "The expiry date %(e)s must be after the manufacture date %(m)s.", e=values["expires_on"].isoformat(),
            m=values["manufactured_on"].isoformat())))
        return None
    return values


def import_opening_balances(stream) -> OpeningResult:
    """Register the lots and post the opening movements of an .xlsx; all or nothing (raises ImportFailed with
    every problem found, having written nothing)."""
    rows, errors = read_rows(stream)
    if errors:
        raise ImportFailed(errors, 0)
    if not rows:
        raise ImportFailed([RowError(None, None, None, _("The file has no data rows."))], 0)
    parsed = [(n, v) for n, raw in rows if (v := _parse(n, raw, errors)) is not None]
    locations = {loc.code: loc for loc in db.session.execute(select(StockLocation).where(
        StockLocation.code.in_({str(v["location"]) for _n, v in parsed}))).scalars()}
    products = {p.code: p for p in db.session.execute(select(Product).where(
        Product.code.in_({str(v["product"]) for _n, v in parsed}))).scalars()}
    lots = {(lot.product_id, lot.lot_no): lot for lot in db.session.execute(select(Lot).where(
        tuple_(Lot.product_id, Lot.lot_no).in_(
            [(products[v["product"]].id, v["lot_no"]) for _n, v in parsed if v["product"] in products] or [(0, "")]
        ))).scalars()}
    checked = _check_rows(parsed, locations, products, lots, errors)
    if errors:
        errors.sort(key=lambda e: e.row or 0)
        raise ImportFailed(errors, len(rows))
    created = quantity = 0
    with all_or_nothing(errors, len(rows)):
        for rownum, v, loc, product in checked:
            try:
                is_new = (product.id, v["lot_no"]) not in lots
                lot = services.register_lot(product, v["lot_no"], v["manufactured_on"], v["expires_on"])
                lots[(product.id, lot.lot_no)] = lot
                created += is_new
                services.post_movement(MovementKind.OPENING, lot, v["quantity"], to_location=loc,
                                       reference=_("Opening balance"))
                quantity += v["quantity"]
            except services.InventoryError as exc:
                errors.append(RowError(rownum, None, None, str(exc)))
    return OpeningResult(rows=len(checked), lots_created=created, quantity=quantity)


def _check_rows(parsed, locations, products, lots, errors) -> list:
    """Cross-row and database rules, every problem reported: unknown codes, inactive locations, a lot number
    given other dates (in the file or already registered), a location × lot twice, an opening already imported."""
    checked, first_dates, first_pair = [], {}, {}
    pairs = []
    for rownum, v in parsed:
        loc, product = locations.get(str(v["location"])), products.get(str(v["product"]))
        ok = True
        if loc is None:
            errors.append(RowError(rownum, "库位编码", str(v["location"]),
                                   _("Unknown code %(code)s.", code=v["location"])))
            ok = False
        elif not loc.active:
            errors.append(RowError(rownum, "库位编码", loc.code, _("Location %(loc)s is not active.", loc=loc.code)))
            ok = False
        if product is None:
            errors.append(RowError(rownum, "产品编码", str(v["product"]),
                                   _("Unknown code %(code)s.", code=v["product"])))
            continue
        dates = (v["manufactured_on"], v["expires_on"])
        key = (product.id, v["lot_no"])
        known = lots.get(key)
        if known is not None and (known.manufactured_on, known.expires_on) != dates:
            errors.append(RowError(rownum, "批号", v["lot_no"], _(
                "Lot %(lot)s of %(product)s already exists with manufacture date %(m)s and expiry %(e)s.",
                lot=v["lot_no"], product=product.code, m=known.manufactured_on.isoformat(),
                e=known.expires_on.isoformat())))
            ok = False
        elif key in first_dates and first_dates[key][1] != dates:
            row0, (m, e) = first_dates[key][0], first_dates[key][1]
            errors.append(RowError(rownum, "批号", v["lot_no"], _(
                "Lot %(lot)s has other dates on row %(row)d (manufacture %(m)s, expiry %(e)s).",
                lot=v["lot_no"], row=row0, m=m.isoformat(), e=e.isoformat())))
            ok = False
        first_dates.setdefault(key, (rownum, dates))
        if loc is not None:
            pair = (loc.code, product.code, v["lot_no"])
            if pair in first_pair:
                errors.append(RowError(rownum, "批号", v["lot_no"], _(
                    "Lot %(lot)s at %(loc)s appears twice (also on row %(row)d).", lot=v["lot_no"], loc=loc.code,
                    row=first_pair[pair])))
                ok = False
            first_pair.setdefault(pair, rownum)
            if known is not None:
                pairs.append((rownum, loc, known))
        if ok:
            checked.append((rownum, v, loc, product))
    if pairs:
        done = set(db.session.execute(
            select(StockMovement.to_location_id, StockMovement.lot_id).where(
                StockMovement.kind == MovementKind.OPENING,
                tuple_(StockMovement.to_location_id, StockMovement.lot_id).in_([(loc.id, lot.id)
                                                                                for _r, loc, lot in pairs]))).all())
        for rownum, loc, lot in pairs:
            if (loc.id, lot.id) in done:
                errors.append(RowError(rownum, "批号", lot.lot_no, _(
                    "The opening balance of lot %(lot)s at %(loc)s was already imported.", lot=lot.lot_no,
                    loc=loc.code)))
    return checked
