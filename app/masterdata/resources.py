"""The master-data entities, each defined once (see :mod:`app.masterdata.resource`)."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.masterdata.resource import Field, Ref, Resource
from app.models import (
    HOSPITAL_GRADES,
    Distributor,
    LocationKind,
    Product,
    ProductLine,
    Region,
    StockLocation,
    TargetList,
    TargetListEntry,
    Terminal,
    TerminalAlias,
)

ALL_ROLES = ("admin", "channel_manager", "finance", "viewer", "distributor")
STAFF = ("admin", "channel_manager", "finance", "viewer")
WRITERS = ("admin", "channel_manager")
CODE = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
CODE_MSG = _l("Letters, digits, '-', '_' or '.', starting with a letter or digit.")
LICENCE_WARNING_DAYS = 60


def _code(headers=("编码", "Code"), max_length=32) -> Field:
    return Field("code", _l("Code"), headers, required=True, max_length=max_length, pattern=CODE,
                 pattern_message=CODE_MSG, in_list=True)


def _region_ref(relationship="region", attr="region_id") -> Ref:
    return Ref(Region, attr, relationship, label=lambda r: f"{r.code} {r.full_name}")


# -- product lines ------------------------------------------------------------------------------------------------
product_lines = Resource(
    name="product_lines",
    model=ProductLine,
    label=_l("Product line"),
    label_plural=_l("Product lines"),
    fields=[
        _code(("产品线编码", "Code")),
        Field("name", _l("Name"), ("产品线名称", "Name"), required=True, max_length=100, in_list=True),
    ],
    read_roles=ALL_ROLES,
    write_roles=WRITERS,
)

# -- products -----------------------------------------------------------------------------------------------------
DOSAGE_FORMS = (
    "片剂", "胶囊剂", "颗粒剂", "注射剂", "口服溶液剂", "软膏剂", "滴眼剂", "喷雾剂", "丸剂", "散剂", "贴剂", "其他",
)


def _gtin_ok(value: str | None) -> bool:
    """GS1 mod-10 check digit."""
    if not value or not value.isdigit() or len(value) not in (8, 12, 13, 14):
        return False
    digits = [int(c) for c in value]
    body, check = digits[:-1], digits[-1]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def _validate_product(data: dict, obj) -> dict:
    errors: dict[str, list[str]] = {}
    gtin = data.get("gtin")
    if gtin and not _gtin_ok(gtin):
        errors["gtin"] = [_("Not a valid GTIN (8, 12, 13 or 14 digits with a correct check digit).")]
    shelf = data.get("shelf_life_months")
    for tier in ("min_shelf_days_tier1", "min_shelf_days_tier2"):
        days = data.get(tier)
        if shelf and days and days >= shelf * 31:
            errors[tier] = [_("The minimum remaining shelf life must be shorter than the shelf life.")]
    return errors


products = Resource(
    name="products",
    model=Product,
    label=_l("Product"),
    label_plural=_l("Products"),
    fields=[
        _code(("产品编码", "Product code")),
        Field("generic_name", _l("Generic name"), ("通用名", "Generic name"), required=True, max_length=100,
              in_list=True),
        Field("brand_name", _l("Brand name"), ("商品名", "Brand name"), max_length=100, in_list=True),
        Field("specification", _l("Specification"), ("规格", "Specification"), required=True, max_length=100,
              in_list=True),
        Field("dosage_form", _l("Dosage form"), ("剂型", "Dosage form"), required=True, max_length=50,
              kind="choice", choices=lambda: [(d, d) for d in DOSAGE_FORMS]),
        Field("base_unit", _l("Base unit"), ("基本单位", "Base unit"), required=True, max_length=16, in_list=True,
              help=_l("The unit quantities are counted in, e.g. 盒.")),
        Field("pack_size", _l("Units per case"), ("件装量", "Pack size"), kind="int", required=True, min_value=1,
              max_value=100000, in_list=True),
        Field("approval_number", _l("Approval number"), ("批准文号", "Approval number"), max_length=50),
        Field("gtin", _l("GTIN"), ("GTIN", "商品条码"), max_length=14),
        Field("shelf_life_months", _l("Shelf life (months)"), ("有效期(月)", "Shelf life months"), kind="int",
              required=True, min_value=1, max_value=120),
        Field("min_shelf_days_tier1", _l("Min. remaining shelf life to tier 1 (days)"),
              ("一级商最低剩余效期(天)", "Min shelf days tier 1"), kind="int", min_value=0, max_value=3650, default=0),
        Field("min_shelf_days_tier2", _l("Min. remaining shelf life to tier 2 (days)"),
              ("二级商最低剩余效期(天)", "Min shelf days tier 2"), kind="int", min_value=0, max_value=3650, default=0),
        Field("cold_chain", _l("Cold chain"), ("冷链", "Cold chain"), kind="bool", default=False, in_list=True),
        Field("storage_condition", _l("Storage condition"), ("储存条件", "Storage condition"), max_length=100),
        Field("product_line_code", _l("Product line"), ("产品线编码", "Product line code"), kind="ref", required=True,
              ref=Ref(ProductLine, "product_line_id", "product_line"), in_list=True),
        Field("active", _l("Active"), ("启用", "Active"), kind="bool", default=True, in_list=True),
    ],
    read_roles=ALL_ROLES,
    write_roles=WRITERS,
    search=("code", "generic_name", "brand_name", "specification", "approval_number", "gtin"),
    filters=("product_line_code", "cold_chain", "active"),
    validate=_validate_product,
)


# -- regions (loaded by the import command; read-only here) -------------------------------------------------------
regions = Resource(
    name="regions",
    model=Region,
    label=_l("Region"),
    label_plural=_l("Regions"),
    fields=[
        Field("code", _l("Code"), ("行政区划代码", "Code"), required=True, in_list=True),
        Field("name", _l("Name"), ("名称", "Name"), required=True, in_list=True),
        Field("level", _l("Level"), ("级别", "Level"), kind="choice", in_list=True,
              choices=lambda: [(1, _l("Province")), (2, _l("City")), (3, _l("County"))]),
        Field("parent_code", _l("Parent"), ("上级代码", "Parent code"), kind="ref", in_list=True,
              ref=Ref(Region, "parent_id", "parent", label=lambda r: f"{r.code} {r.full_name}")),
    ],
    read_roles=ALL_ROLES,
    write_roles=(),
    search=("code", "name"),
    filters=("level", "parent_code"),
    allow_create=False,
)


# -- distributors -------------------------------------------------------------------------------------------------
def licence_status(d: Distributor) -> str:
    today = clock.today()
    if d.licence_expiry < today:
        return "expired"
    if d.licence_expiry <= today + timedelta(days=LICENCE_WARNING_DAYS):
        return "expiring"
    return "valid"


def can_ship_to(d: Distributor) -> bool:
    """Whether goods may be shipped to ``d`` today: active, licence and GSP certificate not expired."""
    today = clock.today()
    return d.status == "active" and not d.licence_expired(today) and not d.gsp_expired(today)


def _distributor_extra(d: Distributor) -> dict:
    today = clock.today()
    return {
        "licence_status": licence_status(d),
        "gsp_expired": d.gsp_expired(today),
        "can_ship": can_ship_to(d),
        "region_name": d.region.full_name if d.region else None,
    }


def _distributor_badges(d: Distributor) -> list[tuple[str, str]]:
    status = licence_status(d)
    badges = []
    if status == "expired":
        badges.append(("danger", _("Licence expired")))
    elif status == "expiring":
        badges.append(("warning", _("Licence expiring")))
    if d.gsp_expired(clock.today()):
        badges.append(("danger", _("GSP expired")))
    if d.status != "active":
        badges.append(("secondary", _("Not active")))
    return badges


def _validate_distributor(data: dict, obj) -> dict:
    errors: dict[str, list[str]] = {}
    tier, parent = data.get("tier"), data.get("parent")
    if tier == 2 and parent is None:
        errors["parent_code"] = [_("A tier-2 distributor needs its supplying tier-1 distributor.")]
    if tier == 1 and parent is not None:
        errors["parent_code"] = [_("A tier-1 distributor buys from the manufacturer and has no supplier.")]
    if parent is not None and parent.tier != 1:
        errors["parent_code"] = [_("The supplier %(code)s is not a tier-1 distributor.", code=parent.code)]
    if parent is not None and obj is not None and parent.id == obj.id:
        errors["parent_code"] = [_("A distributor cannot supply itself.")]
    if obj is not None and tier == 2 and obj.tier == 1:
        has_children = db.session.execute(select(Distributor.id).where(Distributor.parent_id == obj.id)).first()
        if has_children:
            errors["tier"] = [_("This distributor supplies tier-2 distributors; reassign them first.")]
    return errors


def _distributor_after_save(d: Distributor, data: dict) -> None:
    """A new distributor gets its warehouse location."""
    if data.get("created"):
        db.session.add(
            StockLocation(code=f"WH-{d.code}"[:32], name=f"{d.name} 仓库", kind=LocationKind.DISTRIBUTOR.value,
                          distributor=d, region=d.region)
        )
        db.session.flush()


distributors = Resource(
    name="distributors",
    model=Distributor,
    label=_l("Distributor"),
    label_plural=_l("Distributors"),
    fields=[
        _code(("经销商编码", "Distributor code")),
        Field("name", _l("Name"), ("经销商名称", "Name"), required=True, max_length=200, in_list=True),
        Field("tier", _l("Tier"), ("级别", "Tier"), kind="int", required=True, min_value=1, max_value=2,
              in_list=True),
        Field("parent_code", _l("Supplying tier-1 distributor"), ("上游一级商编码", "Supplier code"), kind="ref",
              ref=Ref(Distributor, "parent_id", "parent"), in_list=True),
        Field("region_code", _l("Region"), ("行政区划代码", "Region code"), kind="ref", required=True,
              ref=_region_ref(), in_list=True),
        Field("address", _l("Address"), ("地址", "Address"), max_length=300),
        Field("contact_name", _l("Contact"), ("联系人", "Contact"), max_length=50),
        Field("contact_phone", _l("Phone"), ("联系电话", "Phone"), max_length=30, pattern=r"^[0-9+\-() ]{5,30}$",
              pattern_message=_l("Digits, spaces, +, - and brackets only.")),
        Field("contact_email", _l("Email"), ("邮箱", "Email"), max_length=120, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
              pattern_message=_l("Not an email address.")),
        Field("licence_no", _l("Drug-trading licence no."), ("药品经营许可证号", "Licence no"), required=True,
              max_length=60),
        Field("licence_expiry", _l("Licence expiry"), ("许可证有效期至", "Licence expiry"), kind="date",
              required=True, in_list=True),
        Field("gsp_expiry", _l("GSP certificate expiry"), ("GSP证书有效期至", "GSP expiry"), kind="date"),
        Field("status", _l("Status"), ("状态", "Status"), kind="choice", default="active", in_list=True,
              choices=lambda: [("active", _l("Active")), ("suspended", _l("Suspended")),
                               ("terminated", _l("Terminated"))]),
    ],
    read_roles=ALL_ROLES,
    write_roles=WRITERS,
    search=("code", "name", "licence_no"),
    filters=("tier", "status", "region_code"),
    distributor_fields=("address", "contact_name", "contact_phone", "contact_email"),
    extra_output=_distributor_extra,
    validate=_validate_distributor,
    after_save=_distributor_after_save,
    list_badges=_distributor_badges,
)


# -- terminals ----------------------------------------------------------------------------------------------------
TERMINAL_TYPES = lambda: [  # noqa: E731
    ("hospital", _l("Hospital")), ("pharmacy", _l("Pharmacy")), ("clinic", _l("Clinic")), ("other", _l("Other"))
]


PHARMACY_SIZE_LABELS = lambda: [  # noqa: E731
    ("large", _l("Large pharmacy")), ("medium", _l("Medium pharmacy")), ("small", _l("Small pharmacy"))
]


def _validate_terminal(data: dict, obj) -> dict:
    errors: dict[str, list[str]] = {}
    if data.get("grade") and data.get("type") != "hospital":
        errors["grade"] = [_("Only hospitals have a grade.")]
    if data.get("pharmacy_size") and data.get("type") != "pharmacy":
        errors["pharmacy_size"] = [_("Only pharmacies have a size.")]
    aliases = data.get("aliases") or []
    if aliases:
        clash = db.session.execute(
            select(TerminalAlias.alias, Terminal.code).join(Terminal).where(TerminalAlias.alias.in_(aliases))
        ).all()
        clash = [(a, c) for a, c in clash if obj is None or c != obj.code]
        if clash:
            errors["aliases"] = [_("Alias “%(alias)s” already belongs to terminal %(code)s.", alias=a, code=c)
                                 for a, c in clash]
    return errors


terminals = Resource(
    name="terminals",
    model=Terminal,
    label=_l("Terminal"),
    label_plural=_l("Terminals"),
    fields=[
        _code(("终端编码", "Terminal code")),
        Field("name", _l("Name"), ("终端名称", "Name"), required=True, max_length=200, in_list=True),
        Field("aliases", _l("Aliases"), ("别名", "Aliases"), kind="list", max_length=200,
              help=_l("Other names used in distributors' files; one per line, or separated by ；")),
        Field("type", _l("Type"), ("终端类型", "Type"), kind="choice", required=True, choices=TERMINAL_TYPES,
              in_list=True),
        Field("grade", _l("Hospital grade"), ("医院等级", "Grade"), kind="choice",
              choices=lambda: [(g, g) for g in HOSPITAL_GRADES], in_list=True),
        Field("pharmacy_size", _l("Pharmacy size"), ("药店规模", "Pharmacy size"), kind="choice",
              choices=PHARMACY_SIZE_LABELS),
        Field("potential_weight", _l("Potential weight"), ("潜力权重", "Potential weight"), kind="int", min_value=0,
              max_value=100000,
              help=_l("Weight in weighted distribution; empty: the default of the hospital grade or pharmacy size.")),
        Field("region_code", _l("Region"), ("行政区划代码", "Region code"), kind="ref", required=True,
              ref=_region_ref(), in_list=True),
        Field("address", _l("Address"), ("地址", "Address"), max_length=300),
        Field("active", _l("Active"), ("启用", "Active"), kind="bool", default=True),
    ],
    read_roles=STAFF,
    write_roles=WRITERS,
    search=("code", "name", "address"),
    filters=("type", "grade", "region_code"),
    validate=_validate_terminal,
)


# -- target terminal lists ----------------------------------------------------------------------------------------
def region_contains(territory: Region, region: Region | None) -> bool:
    """Whether ``region`` lies inside ``territory`` (or is it)."""
    node = region
    while node is not None:
        if node.id == territory.id:
            return True
        node = node.parent
    return False


target_lists = Resource(
    name="target_lists",
    model=TargetList,
    label=_l("Target terminal list"),
    label_plural=_l("Target terminal lists"),
    fields=[
        _code(("目标清单编码", "List code")),
        Field("name", _l("Name"), ("目标清单名称", "Name"), required=True, max_length=200, in_list=True),
        Field("product_line_code", _l("Product line"), ("产品线编码", "Product line code"), kind="ref",
              required=True, ref=Ref(ProductLine, "product_line_id", "product_line"), in_list=True),
        Field("region_code", _l("Territory"), ("区域代码", "Territory code"), kind="ref", required=True,
              ref=_region_ref(), in_list=True),
        Field("year", _l("Year"), ("年度", "Year"), kind="int", required=True, min_value=2000, max_value=2100,
              in_list=True),
        Field("active", _l("Active"), ("启用", "Active"), kind="bool", default=True, in_list=True),
    ],
    read_roles=STAFF,
    write_roles=WRITERS,
    filters=("product_line_code", "year"),
)


def _validate_entry(data: dict, obj) -> dict:
    tl, terminal = data.get("target_list"), data.get("terminal")
    if tl is None or terminal is None:
        return {}
    errors: dict[str, list[str]] = {}
    if not region_contains(tl.region, terminal.region):
        errors["terminal_code"] = [_("Terminal %(t)s is outside the territory %(r)s of list %(l)s.",
                                     t=terminal.code, r=tl.region.full_name, l=tl.code)]
    dup = db.session.execute(
        select(TargetListEntry.id).where(TargetListEntry.target_list_id == tl.id,
                                         TargetListEntry.terminal_id == terminal.id)
    ).scalar_one_or_none()
    if dup is not None and (obj is None or dup != obj.id):
        errors["terminal_code"] = [_("Terminal %(t)s is already on list %(l)s.", t=terminal.code, l=tl.code)]
    return errors


def _find_entry(record: dict):
    """An import row naming a list and a terminal already on it is that entry (re-importing is harmless)."""
    tl_code, t_code = record.get("target_list_code"), record.get("terminal_code")
    if tl_code is None or t_code is None:
        return None
    return db.session.execute(
        select(TargetListEntry)
        .join(TargetList, TargetListEntry.target_list_id == TargetList.id)
        .join(Terminal, TargetListEntry.terminal_id == Terminal.id)
        .where(TargetList.code == str(tl_code).strip(), Terminal.code == str(t_code).strip())
    ).scalar_one_or_none()


target_list_entries = Resource(
    name="target_list_entries",
    model=TargetListEntry,
    label=_l("Target terminal"),
    label_plural=_l("Target terminals"),
    fields=[
        Field("target_list_code", _l("Target list"), ("目标清单编码", "List code"), kind="ref", required=True,
              ref=Ref(TargetList, "target_list_id", "target_list"), in_list=True),
        Field("terminal_code", _l("Terminal"), ("终端编码", "Terminal code"), kind="ref", required=True,
              ref=Ref(Terminal, "terminal_id", "terminal"), in_list=True),
    ],
    read_roles=STAFF,
    write_roles=WRITERS,
    delete_roles=WRITERS,
    search=(),
    order_by="id",
    key=None,
    find_existing=_find_entry,
    filters=("target_list_code",),
    validate=_validate_entry,
)


# -- stock locations ----------------------------------------------------------------------------------------------
def _validate_location(data: dict, obj) -> dict:
    kind, dist = data.get("kind"), data.get("distributor")
    if kind == "distributor" and dist is None:
        return {"distributor_code": [_("A distributor warehouse needs its distributor.")]}
    if kind != "distributor" and dist is not None:
        return {"distributor_code": [_("Only distributor warehouses belong to a distributor.")]}
    return {}


locations = Resource(
    name="locations",
    model=StockLocation,
    label=_l("Stock location"),
    label_plural=_l("Stock locations"),
    fields=[
        _code(("库位编码", "Location code")),
        Field("name", _l("Name"), ("库位名称", "Name"), required=True, max_length=200, in_list=True),
        Field("kind", _l("Kind"), ("类型", "Kind"), kind="choice", required=True, in_list=True,
              choices=lambda: [("manufacturer", _l("Manufacturer warehouse")),
                               ("distributor", _l("Distributor warehouse")), ("quarantine", _l("Quarantine"))]),
        Field("distributor_code", _l("Distributor"), ("经销商编码", "Distributor code"), kind="ref",
              ref=Ref(Distributor, "distributor_id", "distributor"), in_list=True),
        Field("region_code", _l("Region"), ("行政区划代码", "Region code"), kind="ref", ref=_region_ref()),
        Field("address", _l("Address"), ("地址", "Address"), max_length=300),
        Field("active", _l("Active"), ("启用", "Active"), kind="bool", default=True, in_list=True),
    ],
    read_roles=ALL_ROLES,
    write_roles=WRITERS,
    filters=("kind", "distributor_code"),
    validate=_validate_location,
)


RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (products, product_lines, regions, distributors, terminals, target_lists, target_list_entries,
              locations)
}
