"""Excel import and export of a price list's items (the way pricing teams work today).

Columns in Chinese (产品编码, 起订量, 单位(盒/件), 单价, 生效日期, 失效日期; product name, specification and version are
exported for reading and ignored on import); header rows found below titles, English headers accepted (the master
data reader). An import is all or nothing, with every problem reported by row and column; text cells that would start
a formula are neutralised on export.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from app.extensions import db
from app.masterdata.resource import Field, Resource, normalise_cell
from app.masterdata.services import ImportFailed, RowError, all_or_nothing, neutralise, read_workbook
from app.models import Product
from distribution import price_lists as svc
from distribution import pricing
from distribution.models.pricing import PriceItem, PriceList, QuantityUnit

# -- sheet -----------------------------------------------------------------------------------------------------------
ITEM_SHEET = Resource(
    name="price_items",
    model=PriceItem,
    label=_l("Price item"),
    label_plural=_l("Price items"),
    fields=[
        Field("product_code", _l("Product code"), ("产品编码", "Product code"), required=True),
        Field("product_name", _l("Product"), ("产品名称", "Product"), read_only=True),
        Field("specification", _l("Specification"), ("规格", "Specification"), read_only=True),
        Field("min_quantity", _l("Minimum quantity"), ("起订量", "Min quantity", "Minimum quantity"), required=True),
        Field("unit", _l("Unit"), ("单位(盒/件)", "单位", "Unit")),
        Field("unit_price", _l("Unit price"), ("单价", "Unit price"), required=True),
        Field("effective_from", _l("Effective from"), ("生效日期", "Effective from"), required=True),
        Field("effective_to", _l("Effective to"), ("失效日期", "Effective to")),
        Field("version", _l("Version"), ("版本", "Version"), read_only=True),
        Field("note", _l("Note"), ("备注", "Note")),
    ],
    read_roles=(),
    write_roles=(),
    key=None,
)


def export_items(price_list: PriceList, day: date) -> bytes:
    """The list's current and future item versions as .xlsx (Chinese headers; imports back unchanged; text cells
    that would start a formula are neutralised)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = neutralise(price_list.code)[:31].replace("'", "") or "price list"
    ws.append([f.header for f in ITEM_SHEET.fields])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    stmt = (select(PriceItem).join(PriceItem.product).where(PriceItem.price_list_id == price_list.id,
                                                            or_(PriceItem.effective_to.is_(None),
                                                                PriceItem.effective_to >= day))
            .order_by(Product.code, PriceItem.min_quantity, PriceItem.effective_from))
    for item in db.session.execute(stmt).scalars():
        p = item.product
        ws.append([neutralise(p.code), neutralise(p.generic_name), neutralise(p.specification), item.entered_quantity,
                   neutralise("件" if item.entered_unit == QuantityUnit.CASE.value else p.base_unit), item.unit_price,
                   item.effective_from,
                   item.effective_to, item.version, neutralise(item.note)])
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"
        row[5].number_format = "0.0000"
        row[6].number_format = row[7].number_format = "yyyy-mm-dd"
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@dataclass
class ItemImportResult:
    rows: int = 0
    added: int = 0
    changed: int = 0
    ended: int = 0
    unchanged: int = 0


_COLUMN = {f.name: f.header for f in ITEM_SHEET.fields}


def import_items(price_list: PriceList, stream) -> ItemImportResult:
    """Apply an .xlsx of items to ``price_list``, all or nothing. Each row is a break (product, minimum quantity in
    base units or cases) with a price and dates: the same as an existing version → unchanged; the same start with
    another end → that version's end moves; a start inside an existing version → a change (new version, the old one
    closed the day before); otherwise a new item. Raises ImportFailed with every row error (row, column, value)."""
    rows, errors = read_workbook(ITEM_SHEET, stream)
    if errors:
        raise ImportFailed(errors, 0)
    if not rows:
        raise ImportFailed([RowError(None, None, None, _("The file has no data rows."))], 0)
    codes = {str(normalise_cell(Field("c", "c", ("c",)), r.get("product_code")) or "") for _n, r in rows}
    products = {p.code: p for p in db.session.execute(select(Product).where(Product.code.in_(codes))).scalars()}
    parsed, seen = [], {}
    for rownum, record in rows:
        try:
            values = _parse_row(record, products)
        except svc.PricingError as exc:
            errors.extend(_row_errors(rownum, exc, record))
            continue
        key = (values["product"].id, values["min_base"], values["effective_from"])
        if key in seen:
            errors.append(RowError(rownum, _COLUMN["effective_from"], str(values["effective_from"]),
                                   _("Duplicate of row %(row)d (same product, minimum quantity and start).",
                                     row=seen[key])))
            continue
        seen[key] = rownum
        parsed.append((rownum, values))
    # The rows that parsed are applied even when others did not (inside a savepoint that is then rolled back), so
    # one upload reports every problem.
    parsed.sort(key=lambda rv: (rv[1]["product"].code, rv[1]["min_base"], rv[1]["effective_from"]))
    result = ItemImportResult(rows=len(rows))
    labels: dict[int, int] = {}
    touched: dict[int, list[PriceItem]] = defaultdict(list)
    with all_or_nothing(errors, len(rows)):
        for rownum, values in parsed:
            try:
                with db.session.begin_nested():  # a refused row leaves nothing behind for the rows after it
                    outcome, item = _apply_row(price_list, values, labels)
            except svc.PricingError as exc:
                errors.extend(_row_errors(rownum, exc, values["record"]))
                continue
            if item is not None:
                labels[item.id] = rownum
                touched[item.product_id].append(item)
            setattr(result, outcome, getattr(result, outcome) + 1)
        # Break order and floors are checked once every row is in: a file may lower a small break and a large one
        # together, in any row order.
        if touched:
            for items in touched.values():
                try:
                    with db.session.no_autoflush:
                        versions = svc.item_versions(price_list, items[0].product)
                        svc.check_item_rules(items[0].product, versions, items, labels)
                except svc.PricingError as exc:
                    rownum = next((labels[i] for i in exc.item_ids if i in labels), labels[items[0].id])
                    errors.extend(_row_errors(rownum, exc, {}))
    return result


def _parse_row(record: dict, products: dict[str, Product]) -> dict:
    code_raw = record.get("product_code")
    code = normalise_cell(Field("c", "c", ("c",)), code_raw)
    if code is None:
        raise svc.PricingError.on("product_code", _("Required."))
    product = products.get(str(code))
    if product is None:
        raise svc.PricingError.on("product_code", _("Unknown code %(code)s.", code=code))
    errors: dict[str, list[str]] = {}
    out = {"product": product, "record": record, "note": (str(record.get("note")).strip() or None)
           if record.get("note") not in (None, "") else None}
    for name, parse in (("min_quantity", lambda v: svc.parse_quantity(v, "min_quantity")),
                        ("unit", lambda v: svc.parse_unit(v, product)),
                        ("unit_price", lambda v: svc.parse_price(v)),
                        ("effective_from", lambda v: svc.parse_date(v, "effective_from")),
                        ("effective_to", lambda v: svc.parse_date(v, "effective_to", required=False))):
        try:
            out[name] = parse(record.get(name))
        except svc.PricingError as exc:
            for k, msgs in exc.errors.items():
                errors.setdefault(k, []).extend(msgs)
    if not errors and out["effective_to"] is not None and out["effective_to"] < out["effective_from"]:
        errors["effective_to"] = [_("The end date cannot be before the start date.")]
    if errors:
        raise svc.PricingError(_("Invalid row."), errors)
    out["min_base"] = pricing.to_base_units(out["min_quantity"], out["unit"], product.pack_size)
    return out


def _apply_row(price_list: PriceList, v: dict, labels: dict[int, int]) -> tuple[str, PriceItem | None]:
    product, start, end, price = v["product"], v["effective_from"], v["effective_to"], v["unit_price"]
    versions = [s for s in svc.item_versions(price_list, product) if s.min_quantity == v["min_base"]]
    same_start = next((s for s in versions if s.effective_from == start), None)
    if same_start is not None:
        if same_start.unit_price != price:
            raise svc.PricingError.on("unit_price", _(
                "%(item)s already starts on this date at another price; a price change needs a later start date.",
                item=svc.describe_item(same_start, labels.get(same_start.id))))
        if same_start.effective_to == end:
            return "unchanged", None
        return "ended", svc.end_item(same_start, end, labels, check=False)
    covering = next((s for s in versions if s.effective_on(start)), None)
    if covering is not None:
        return "changed", svc.change_item(covering, price, start, end, v["note"], labels, check=False)
    return "added", svc.add_item(price_list, product, v["min_quantity"], v["unit"], price, start, end, v["note"],
                                 labels, check=False)


def _row_errors(rownum: int, exc: svc.PricingError, record: dict) -> list[RowError]:
    if not exc.errors:
        return [RowError(rownum, None, None, exc.message)]
    out = []
    for name, msgs in exc.errors.items():
        value = record.get(name)
        for m in msgs:
            out.append(RowError(rownum, _COLUMN.get(name), None if value is None else str(value), m))
    return out
