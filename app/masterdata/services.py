"""The verbs of master data: list, save (create / update), delete, Excel import and export.

Services add and flush; the caller (view, API, CLI) commits or rolls back. Errors are raised as
:class:`ValidationFailed` with messages per field, in the user's language.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

from flask_babel import gettext as _
from marshmallow import ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.masterdata.resource import Field, Resource, normalise_cell
from app.tenancy import current_actor


class ValidationFailed(Exception):
    """Input broke a rule; ``errors`` maps field name → list of messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


class ImportFailed(Exception):
    """An import had row errors; nothing was written. ``errors`` is a list of :class:`RowError`."""

    def __init__(self, errors: list[RowError], rows: int):
        super().__init__(f"{len(errors)} errors")
        self.errors = errors
        self.rows = rows


@dataclass
class RowError:
    row: int | None
    column: str | None
    value: str | None
    message: str


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    rows: int = 0
    codes: list[str] = field(default_factory=list)


# -- reading ------------------------------------------------------------------------------------------------------
def list_query(resource: Resource, q: str | None = None, filters: dict | None = None, sort: str | None = None):
    """A SELECT of the resource's rows matching a search string and field filters, in a stable order."""
    model = resource.model
    stmt = select(model)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(*[getattr(model, a).ilike(like) for a in resource.search]))
    for name, value in (filters or {}).items():
        if value in (None, ""):
            continue
        f = resource.field(name)
        if f.ref:
            target = f.ref.model
            stmt = stmt.join(getattr(model, f.ref.relationship)).where(getattr(target, f.ref.lookup) == value)
        elif f.kind == "bool":
            stmt = stmt.where(getattr(model, f.attr).is_(value in ("1", "true", True)))
        else:
            stmt = stmt.where(getattr(model, f.attr) == value)
    order = sort.lstrip("-") if sort else resource.order_by
    col = getattr(model, order, None)
    if col is None or order not in {f.attr for f in resource.fields} | {"id", resource.order_by}:
        col = getattr(model, resource.order_by)
    stmt = stmt.order_by(col.desc() if sort and sort.startswith("-") else col, model.id)
    return stmt


def paginate(stmt, page: int, per_page: int):
    total = db.session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    items = db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).scalars().unique().all()
    return items, total


def get_record(resource: Resource, record_id: int):
    """The row with ``record_id`` if the acting user may see it, else None (tenant scoping applies)."""
    return db.session.execute(select(resource.model).where(resource.model.id == record_id)).scalar_one_or_none()


def serialise(resource: Resource, obj) -> dict:
    """The record as plain values (the API's output schema turns them into JSON)."""
    data = {"id": obj.id}
    for f in resource.fields:
        data[f.name] = resource.value(obj, f)
    data["extra"] = resource.extra_output(obj) if resource.extra_output else {}
    return data


# -- writing ------------------------------------------------------------------------------------------------------
def editable_fields(resource: Resource) -> list[Field]:
    """The fields the acting user may write: all writable ones, or only ``distributor_fields`` for a distributor."""
    if current_actor().distributor_id is not None:
        return [f for f in resource.writable_fields if f.name in resource.distributor_fields]
    return resource.writable_fields


class _RefCache:
    """Resolves codes to rows once per call (an import of 5,000 rows must not run 5,000 look-ups per column)."""

    def __init__(self):
        self._maps: dict[int, dict] = {}

    def add(self, obj) -> None:
        for key, mapping in self._maps.items():
            if len(key) == 2 and isinstance(obj, key[0]):
                mapping[str(getattr(obj, key[1]))] = obj

    def resolve(self, f: Field, code):
        key = (f.ref.model, f.ref.lookup) if f.ref.where is None else (f.ref.model, f.ref.lookup, id(f))
        if key not in self._maps:
            stmt = select(f.ref.model)
            if f.ref.where is not None:
                stmt = stmt.where(f.ref.where())
            self._maps[key] = {str(getattr(o, f.ref.lookup)): o for o in db.session.execute(stmt).scalars()}
        return self._maps[key].get(str(code))


def save_record(resource: Resource, raw: dict, obj=None, *, partial: bool = False, refs: _RefCache | None = None):
    """Validate ``raw`` (API JSON, form or Excel row) and create or update a row. Flushes; raises ValidationFailed."""
    allowed = {f.name: f for f in editable_fields(resource)}
    unknown = [k for k in raw if k not in allowed and k not in {f.name for f in resource.fields}]
    errors: dict[str, list[str]] = {k: [_("Unknown field.")] for k in unknown}
    forbidden = [k for k in raw if k not in allowed and k not in unknown]
    for k in forbidden:
        if obj is None or raw[k] != resource.value(obj, resource.field(k)):
            errors.setdefault(k, []).append(_("You may not change this field."))
    data_in = {k: normalise_cell(allowed[k], v) for k, v in raw.items() if k in allowed}
    if obj is None and not partial:
        for f in allowed.values():
            if data_in.get(f.name) is None and f.default is not None:
                data_in[f.name] = f.default
    try:
        data = resource.input_schema()().load(data_in, partial=obj is not None or partial)
    except ValidationError as exc:
        for k, msgs in exc.normalized_messages().items():
            errors.setdefault(k, []).extend(_flatten_msgs(msgs))
        data = dict(exc.valid_data) if isinstance(exc.valid_data, dict) else {}
    if obj is None:
        for f in allowed.values():
            if f.required and data_in.get(f.name) is None and f.name not in errors:
                errors[f.name] = [_("Required.")]
    refs = refs or _RefCache()
    resolved: dict = {}
    for name, value in data.items():
        f = allowed[name]
        if f.ref and value is not None:
            target = refs.resolve(f, value)
            if target is None:
                errors.setdefault(name, []).append(_("Unknown code %(code)s.", code=value))
            else:
                resolved[f.ref.relationship] = target
        elif f.ref:
            resolved[f.ref.relationship] = None
        else:
            resolved[name] = value
    _check_unique(resource, data, obj, errors)
    if resource.validate:
        failed = set(errors)
        for k, msgs in resource.validate({**_current(resource, obj), **resolved}, obj).items():
            if k not in failed:
                errors.setdefault(k, []).extend(msgs)
    if errors:
        raise ValidationFailed(errors)
    creating = obj is None
    if creating:
        obj = resource.model()
    lists = {}
    for key, value in resolved.items():
        f = next((x for x in allowed.values() if x.name == key), None)
        if f is not None and f.kind == "list":
            lists[key] = value
        else:
            setattr(obj, key, value)
    if creating:
        db.session.add(obj)
    try:
        with db.session.no_autoflush:
            for key, value in lists.items():
                getattr(obj, "set_" + key)(value or [])
        db.session.flush()
    except IntegrityError as exc:
        message = _("The record conflicts with an existing one: %(err)s", err=_short(exc))
        raise ValidationFailed({"_": [message]}) from exc
    if resource.after_save:
        resource.after_save(obj, {"created": creating, **resolved})
    return obj


def _flatten_msgs(msgs) -> list[str]:
    if isinstance(msgs, dict):
        return [m for v in msgs.values() for m in _flatten_msgs(v)]
    if isinstance(msgs, list):
        return [m for v in msgs for m in _flatten_msgs(v)]
    return [translate_validation_message(str(msgs))]


def translate_validation_message(msg: str) -> str:
    """marshmallow speaks English; give the user its messages in the user's language."""
    import re

    fixed = {
        "Missing data for required field.": _("Required."),
        "Field may not be null.": _("Required."),
        "Not a valid integer.": _("Not a whole number."),
        "Not a valid date.": _("Not a valid date (use YYYY-MM-DD)."),
        "Not a valid boolean.": _("Not a yes / no value (use 是 or 否)."),
        "Not a valid string.": _("Not text."),
        "Not a valid list.": _("Not a list."),
        "Unknown field.": _("Unknown field."),
        "Invalid input type.": _("Invalid input type."),
    }
    if msg in fixed:
        return fixed[msg]
    if m := re.fullmatch(r"Longer than maximum length (\d+)\.", msg):
        return _("Longer than %(n)s characters.", n=m[1])
    if m := re.fullmatch(r"Must be greater than or equal to (-?\d+) and less than or equal to (-?\d+)\.", msg):
        return _("Must be between %(a)s and %(b)s.", a=m[1], b=m[2])
    if m := re.fullmatch(r"Must be greater than or equal to (-?\d+)\.", msg):
        return _("Must be at least %(n)s.", n=m[1])
    if m := re.fullmatch(r"Must be less than or equal to (-?\d+)\.", msg):
        return _("Must be at most %(n)s.", n=m[1])
    return msg


def _short(exc: IntegrityError) -> str:
    return str(exc.orig).splitlines()[0][:200]


def _current(resource: Resource, obj) -> dict:
    """Current values of ``obj`` keyed like resolved input (relationship objects for references)."""
    if obj is None:
        return {}
    out = {}
    for f in resource.fields:
        out[f.ref.relationship if f.ref else f.name] = getattr(obj, f.ref.relationship if f.ref else f.name, None)
    return out


def _check_unique(resource: Resource, data: dict, obj, errors: dict) -> None:
    model = resource.model
    for col in model.__table__.columns:
        if not col.unique or col.key not in data or data[col.key] in (None, ""):
            continue
        stmt = select(model.id).where(getattr(model, col.key) == data[col.key]).execution_options(
            skip_tenant_scope=True
        )
        existing = db.session.execute(stmt).scalar_one_or_none()
        if existing is not None and (obj is None or existing != obj.id):
            errors.setdefault(col.key, []).append(_("%(value)s is already used.", value=data[col.key]))


def delete_record(resource: Resource, obj) -> None:
    try:
        db.session.delete(obj)
        db.session.flush()
    except IntegrityError as exc:
        raise ValidationFailed({"_": [_("This record is still in use and cannot be deleted.")]}) from exc


# -- Excel --------------------------------------------------------------------------------------------------------
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """Make a string safe to open in Excel: anything that would start a formula is prefixed with an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def export_workbook(resource: Resource, rows) -> bytes:
    """An .xlsx with the Chinese headers in row 1 (the same file imports back unchanged)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook(write_only=False)
    ws = wb.active
    ws.title = resource.name[:31]
    ws.append([f.header for f in resource.fields])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for obj in rows:
        values = []
        for f in resource.fields:
            v = resource.value(obj, f)
            if f.kind == "list":
                v = "；".join(v)
            elif f.kind == "bool":
                v = "是" if v else "否"
            values.append(neutralise(v))
        ws.append(values)
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def read_workbook(resource: Resource, stream) -> tuple[list[tuple[int, dict]], list[RowError]]:
    """Read an uploaded .xlsx into (row number, {field: value}) pairs, or errors about the file and its header."""
    from zipfile import BadZipFile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(stream, read_only=True, data_only=True)
    except (BadZipFile, InvalidFileException, KeyError, OSError, ValueError):
        return [], [RowError(None, None, None, _("This is not a readable Excel (.xlsx) file."))]
    ws = wb.worksheets[0]
    by_header = {}
    for f in resource.fields:
        for h in (*f.headers, f.name):
            by_header[h.strip().lower()] = f
    rows_iter = ws.iter_rows(values_only=True)
    header, header_row, first_nonempty = None, 0, None
    # Title rows often sit above the header: the header is the first row naming at least two of our columns.
    for i, row in enumerate(rows_iter, start=1):
        cells = [str(c).strip().lower() for c in row if c not in (None, "")]
        if cells and first_nonempty is None:
            first_nonempty = (i, row)
        if sum(c in by_header for c in cells) >= min(2, len(resource.fields)):
            header, header_row = row, i
            break
        if i >= 20:
            break
    if header is None and first_nonempty is not None:
        header_row, header = first_nonempty
        rows_iter = ws.iter_rows(min_row=header_row + 1, values_only=True)
    if header is None:
        return [], [RowError(None, None, None, _("The file has no header row."))]
    columns: list[Field | None] = []
    errors: list[RowError] = []
    seen: set[str] = set()
    for _idx, h in enumerate(header):
        text = str(h).strip() if h is not None else ""
        if not text:
            columns.append(None)
            continue
        f = by_header.get(text.lower())
        if f is None:
            errors.append(RowError(header_row, text, None, _("Unknown column “%(col)s”.", col=text)))
        elif f.name in seen:
            errors.append(RowError(header_row, text, None, _("Column “%(col)s” appears twice.", col=text)))
        else:
            seen.add(f.name)
        columns.append(f)
    key_field = resource.field(resource.key) if resource.key else None
    for f in resource.writable_fields:
        if (f.required or f is key_field) and f.name not in seen:
            message = _("Required column “%(col)s” is missing.", col=f.header)
            errors.append(RowError(header_row, f.header, None, message))
    if errors:
        return [], errors
    out = []
    for rownum, row in enumerate(rows_iter, start=header_row + 1):
        if all(c in (None, "") for c in row):
            continue
        record = {}
        for f, value in zip(columns, row, strict=False):
            if f is not None and not f.read_only:
                record[f.name] = value
        out.append((rownum, record))
    return out, []


def import_workbook(resource: Resource, stream) -> ImportResult:
    """Create or update rows (matched by the resource key) from an .xlsx. All or nothing: on any row error,
    raises ImportFailed with every error found, and everything the import wrote is rolled back (a savepoint)."""
    rows, errors = read_workbook(resource, stream)
    if errors:
        raise ImportFailed(errors, 0)
    if not rows:
        raise ImportFailed([RowError(None, None, None, _("The file has no data rows."))], 0)
    key = resource.key
    existing: dict[str, object] = {}
    if key is not None:
        key_field = resource.field(key)
        seen: dict[str, int] = {}
        unique_rows = []
        for rownum, record in rows:
            code = normalise_cell(key_field, record.get(key))
            if code in seen:
                errors.append(RowError(rownum, key_field.header, str(code),
                                       _("Duplicate code %(code)s (also on row %(row)d).", code=code, row=seen[code])))
                continue  # reported; the other rows are still checked so every problem is listed at once
            if code is not None:
                seen[code] = rownum
            unique_rows.append((rownum, record))
        rows = unique_rows
        existing = {
            str(getattr(o, key)): o
            for o in db.session.execute(
                select(resource.model).where(getattr(resource.model, key).in_([str(c) for c in seen]))
            ).scalars()
        }
    with all_or_nothing(errors, len(rows)):
        result = _import_rows(resource, rows, existing, errors)
    return result


@contextlib.contextmanager
def all_or_nothing(errors: list[RowError], rows: int):
    """The writes of an import, in a savepoint: kept only if no row error was collected in ``errors`` by the end of
    the block; otherwise rolled back and ImportFailed raised with every error, in row order. Any exception also
    rolls the savepoint back. Every Excel import (master data, prices, opening stock, payments) goes through this."""
    savepoint = db.session.begin_nested()
    try:
        yield
    except BaseException:
        savepoint.rollback()
        raise
    if errors:
        savepoint.rollback()
        errors.sort(key=lambda e: (e.row or 0))
        raise ImportFailed(errors, rows)
    savepoint.commit()


def _import_rows(resource: Resource, rows, existing: dict, errors: list[RowError]) -> ImportResult:
    key = resource.key
    key_field = resource.field(key) if key else None
    result = ImportResult(rows=len(rows))
    refs = _RefCache()
    for rownum, record in rows:
        if key is not None:
            code = normalise_cell(key_field, record.get(key))
            obj = existing.get(str(code)) if code is not None else None
        else:
            obj = resource.find_existing(record) if resource.find_existing else None
            code = rownum
        try:
            with db.session.no_autoflush:
                saved = save_record(resource, record, obj, partial=obj is not None, refs=refs)
            refs.add(saved)
        except ValidationFailed as exc:
            for name, msgs in exc.errors.items():
                f = next((x for x in resource.fields if x.name == name), None)
                value = record.get(name)
                for m in msgs:
                    errors.append(RowError(rownum, f.header if f else None, None if value is None else str(value), m))
            if any(k == "_" for k in exc.errors):
                break  # the session needs a rollback after a database error; stop here
            continue
        if obj is None:
            result.created += 1
        else:
            result.updated += 1
        result.codes.append(str(code))
    return result


def error_report_workbook(errors: list[RowError]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "errors"
    ws.append([_("Row"), _("Column"), _("Value"), _("Problem")])
    for e in errors:
        ws.append([e.row, neutralise(e.column), neutralise(e.value), neutralise(e.message)])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
