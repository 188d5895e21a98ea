"""One definition per master-data entity drives its pages, JSON API, Excel import / export and validation.

A :class:`Resource` lists its :class:`Field` s once. From them come the marshmallow schemas (API input, output and
the OpenAPI document), the generic form, the Excel columns (Chinese header first, English accepted on import) and
the list columns. Every path that writes (form, API, Excel row) goes through
:func:`app.masterdata.services.save_record`, so a rule holds the same way everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, fields, validate

TRUTHY = {"1", "true", "True", "TRUE", "yes", "Yes", "YES", "y", "Y", "是", "√", "on", 1}
FALSY = {"0", "false", "False", "FALSE", "no", "No", "NO", "n", "N", "否", "×", "off", "", 0}
LIST_SPLIT = re.compile(r"[;；|\n]+")


@dataclass
class Ref:
    """A reference to another entity by its business code (``region_code`` → ``region_id``)."""

    model: Any
    attr: str  # foreign-key attribute on our model, e.g. "region_id"
    relationship: str  # relationship attribute, e.g. "region"
    lookup: str = "code"
    where: Callable[[], Any] | None = None  # extra filter on the referenced rows (e.g. tier == 1)
    label: Callable[[Any], str] = lambda o: f"{o.code} {o.name}"


@dataclass
class Field:
    name: str
    label: Any
    headers: tuple[str, ...]
    kind: str = "str"  # str | text | int | bool | date | choice | ref | list
    required: bool = False
    max_length: int | None = None
    min_value: int | None = None
    max_value: int | None = None
    pattern: str | None = None
    pattern_message: Any = None
    choices: Callable[[], list[tuple[str, Any]]] | None = None
    ref: Ref | None = None
    in_list: bool = False
    default: Any = None
    help: Any = None
    read_only: bool = False  # shown and exported, never written through the generic paths

    @property
    def header(self) -> str:
        return self.headers[0]

    @property
    def attr(self) -> str:
        return self.ref.attr if self.ref else self.name


@dataclass
class Resource:
    name: str
    model: Any
    label: Any
    label_plural: Any
    fields: list[Field]
    read_roles: tuple[str, ...]
    write_roles: tuple[str, ...]
    search: tuple[str, ...] = ("code", "name")
    order_by: str = "code"
    key: str | None = "code"  # the column that identifies a row in an import (None: ``find_existing`` decides)
    find_existing: Callable[[dict], Any] | None = None  # for resources without a code: the row an import row is
    delete_roles: tuple[str, ...] = ()
    distributor_fields: tuple[str, ...] = ()  # fields a distributor user may change on its own record
    filters: tuple[str, ...] = ()  # field names offered as list filters
    extra_output: Callable[[Any], dict] | None = None  # computed, read-only values in API / detail
    validate: Callable[[dict, Any], dict[str, list[str]]] | None = None  # cross-field rules → {field: [msg]}
    after_save: Callable[[Any, dict], None] | None = None
    list_badges: Callable[[Any], list[tuple[str, str]]] | None = None  # (css class, text) shown beside a row
    related: list[Callable[[Any], dict]] = field(default_factory=list)  # sections on the detail page
    allow_create: bool = True

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def writable_fields(self) -> list[Field]:
        return [f for f in self.fields if not f.read_only]

    def list_fields(self) -> list[Field]:
        return [f for f in self.fields if f.in_list]

    def value(self, obj, f: Field):
        """The API / form / Excel value of ``f`` on ``obj`` (references become codes, lists stay lists)."""
        if f.ref:
            target = getattr(obj, f.ref.relationship)
            return getattr(target, f.ref.lookup) if target is not None else None
        if f.kind == "list":
            return list(getattr(obj, f.name + "_values")) if hasattr(obj, f.name + "_values") else []
        return getattr(obj, f.name)

    def display(self, obj, f: Field) -> str:
        value = self.value(obj, f)
        if value is None:
            return ""
        if f.ref:
            target = getattr(obj, f.ref.relationship)
            return f.ref.label(target)
        if f.kind == "bool":
            return str(_l("Yes") if value else _l("No"))
        if f.kind == "choice" and f.choices:
            return str(dict(f.choices()).get(value, value))
        if f.kind == "list":
            return "；".join(value)
        if isinstance(value, date):
            return value.isoformat()
        return str(value)

    # -- schemas --------------------------------------------------------------------------------------------------
    def input_schema(self) -> type[Schema]:
        return _schema_cache(self, "In")

    def output_schema(self) -> type[Schema]:
        return _schema_cache(self, "Out")

    def patch_schema(self) -> type[Schema]:
        """Like the input schema with nothing required (PATCH sends only what changes)."""
        return _schema_cache(self, "Patch")


_SCHEMAS: dict[tuple[str, str], type[Schema]] = {}


class _Bool(fields.Boolean):
    truthy = TRUTHY - {""}
    falsy = FALSY


def _marshmallow_field(f: Field, for_output: bool, partial: bool = False) -> fields.Field:
    kw: dict[str, Any] = {"metadata": {"description": str(f.label), "x-excel-header": f.header}}
    validators = []
    if f.max_length:
        validators.append(validate.Length(max=f.max_length))
    if f.pattern:
        validators.append(validate.Regexp(f.pattern, error=str(f.pattern_message or _l("Invalid format."))))
    if f.min_value is not None or f.max_value is not None:
        validators.append(validate.Range(min=f.min_value, max=f.max_value))
    if f.kind == "choice" and f.choices and not for_output:
        validators.append(_ChoiceValidator(f))
    if not for_output:
        kw["required"] = f.required and not partial
        kw["allow_none"] = not f.required
        if validators:
            kw["validate"] = validators
    match f.kind:
        case "int":
            return fields.Integer(strict=False, **kw)
        case "bool":
            return _Bool(**kw)
        case "date":
            return fields.Date(**kw)
        case "list":
            return fields.List(fields.String(validate=validate.Length(min=1, max=f.max_length or 200)), **kw)
        case _:
            return fields.String(**kw)


class _ChoiceValidator(validate.Validator):
    def __init__(self, f: Field):
        self.f = f

    def __call__(self, value):
        from marshmallow import ValidationError

        allowed = [c for c, _ in self.f.choices()]
        if value not in allowed:
            raise ValidationError(str(_l("Must be one of: %(choices)s.", choices=", ".join(allowed))))
        return value


def _schema_cache(resource: Resource, kind: str) -> type[Schema]:
    key = (resource.name, kind)
    if key not in _SCHEMAS:
        attrs: dict[str, Any] = {}
        for f in resource.fields:
            if kind != "Out" and f.read_only:
                continue
            attrs[f.name] = _marshmallow_field(f, for_output=kind == "Out", partial=kind == "Patch")
        if kind == "Out":
            attrs["id"] = fields.Integer(dump_only=True)
            attrs["extra"] = fields.Dict(dump_only=True, metadata={"description": "computed, read-only values"})
        camel = "".join(p.capitalize() for p in resource.name.split("_"))
        _SCHEMAS[key] = type(f"{camel}{kind}", (Schema,), attrs)
    return _SCHEMAS[key]


# -- normalising values that come from forms and Excel cells ------------------------------------------------------
_FULLWIDTH = str.maketrans({chr(0xFF01 + i): chr(0x21 + i) for i in range(94)} | {"\u3000": " "})


def normalise_cell(f: Field, value):
    """Turn a form string or an Excel cell into what the schema loads: str / int / bool / ISO date / list / None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            return None
    if f.kind == "list":
        if isinstance(value, list | tuple):
            return [str(v).strip() for v in value if str(v).strip()]
        return [p.strip() for p in LIST_SPLIT.split(str(value)) if p.strip()]
    if f.kind == "date":
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        text = str(value).translate(_FULLWIDTH)
        m = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?", text)
        if m:
            try:
                return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
            except ValueError:
                return text
        return text
    if f.kind == "int":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            text = value.translate(_FULLWIDTH).replace(",", "")
            return int(text) if re.fullmatch(r"-?\d+", text) else text
        return value
    if f.kind == "bool":
        if isinstance(value, str):
            return value in TRUTHY if value in TRUTHY | FALSY else value
        return bool(value)
    # strings (codes typed as numbers in Excel come back as int or float)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    return str(value).translate(_FULLWIDTH) if f.kind in ("ref", "choice") else str(value)
