"""Display labels and export columns shared by the pages, the Excel exports and the PDF (translated at call time)."""

from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog


def kind_label(kind: str) -> str:
    return {"opening": _("Opening balance"), "receipt": _("Receipt"), "shipment": _("Shipment"),
            "transfer": _("Transfer"), "sell_out": _("Sell-out"), "return": _("Return"),
            "adjustment": _("Adjustment"), "write_off": _("Write-off")}.get(kind, kind)


def status_label(status: str) -> str:
    return {"released": _("released"), "quarantined": _("quarantined"), "recalled": _("recalled")}.get(status, status)


def flag_label(flag: str | None) -> str:
    return {"under": _("Under-stocked"), "over": _("Over-stocked"), "ok": _("Within target")}.get(flag, "—")


def location_kind_label(kind: str) -> str:
    return {"manufacturer": _("Manufacturer warehouse"), "distributor": _("Distributor warehouse"),
            "quarantine": _("Quarantine")}.get(kind, kind)


def status_history(lot) -> list:
    """Block / release decisions on the lot (audit log; manufacturer staff only)."""
    if not current_user.is_authenticated or current_user.is_distributor:
        return []
    return list(db.session.execute(
        select(AuditLog).where(AuditLog.entity_type == "lot", AuditLog.entity_id == str(lot.id),
                               AuditLog.action.like("lot_%")).order_by(AuditLog.at.desc()).limit(50)).scalars())


# -- export columns -----------------------------------------------------------------------------------------------
def stock_headers() -> list[str]:
    return [_("Location code"), _("Location"), _("Distributor"), _("Tier"), _("Product code"), _("Product"),
            _("Lot"), _("Manufactured"), _("Expires"), _("Status"), _("Quantity"), _("Unit")]


def stock_cells(rows):
    for r in rows:
        yield (r["location_code"], r["location_name"], r["distributor_name"], r["tier"], r["product_code"],
               f"{r['generic_name']} {r['specification']}", r["lot_no"], r["manufactured_on"], r["expires_on"],
               status_label(r["status"]), r["quantity"], r["base_unit"])


def movement_headers() -> list[str]:
    return [_("Date"), _("Kind"), _("Quantity"), _("From"), _("From distributor"), _("To"), _("To distributor"),
            _("Terminal"), _("Reference"), _("Note"), _("By")]


def movement_cells(rows):
    for m in rows:
        yield (m["business_date"], kind_label(m["kind"]), m["quantity"], m["from_code"], m["from_distributor_name"],
               m["to_code"], m["to_distributor_name"], m["terminal_name"], m["reference"], m["note"], m["actor"])


def channel_headers() -> list[str]:
    return [_("Distributor code"), _("Distributor"), _("Tier"), _("Province"), _("Product code"), _("Product"),
            _("Computed stock"), _("Reported stock"), _("Difference"), _("Outflow in window"),
            _("Days of inventory"), _("Flag")]


def channel_cells(rows):
    for r in rows:
        yield (r["distributor_code"], r["distributor_name"], r["tier"], r["province"], r["product_code"],
               r["product_name"], r["computed"], r["reported"], r["difference"], r["sold_in_window"],
               r["days_of_inventory"], flag_label(r["flag"]))


def channel_lot_headers() -> list[str]:
    return [_("Distributor code"), _("Distributor"), _("Product code"), _("Product"), _("Lot"), _("Expires"),
            _("Status"), _("Computed stock"), _("Reported stock"), _("Difference")]


def channel_lot_cells(lines):
    for ln in lines:
        yield (ln.distributor_code, ln.distributor_name, ln.product_code, ln.product_name, ln.lot_no, ln.expires_on,
               status_label(ln.status), ln.computed, ln.reported, ln.difference)


def near_expiry_headers() -> list[str]:
    return [_("Product code"), _("Product"), _("Lot"), _("Expires"), _("Days left"), _("Status"), _("Tier"),
            _("Province"), _("Distributor"), _("Location"), _("Quantity"), _("Stock value")]


def near_expiry_cells(lines):
    from inventory.expiry import tier_label

    for ln in lines:
        yield (ln["product_code"], f"{ln['generic_name']} {ln['specification']}", ln["lot_no"], ln["expires_on"],
               ln["days_left"], status_label(ln["status"]), tier_label(ln["tier"]), ln["province_name"],
               ln["distributor_name"], ln["location_code"], ln["quantity"], ln["value"])


def near_expiry_charts(data, bar_chart) -> dict:
    """Bar charts of near-expiry quantity by tier, province and distributor; each bar drills down."""
    args = {k: v for k, v in {"window": data.window}.items() if v}

    def link(**kw):
        return url_for("inventory.near_expiry", **{**args, **kw}) + "#lots"

    def chart(items, title):
        return bar_chart(items, title=title, width=380, label_width=140, bar_height=20)

    return {
        "tier": chart([(g.label, g.quantity, link(tier=g.key)) for g in data.by_tier],
                      _("Near-expiry quantity by tier")),
        "province": chart([(g.label, g.quantity, link(province=g.key) if g.key else None) for g in data.by_province],
                          _("Near-expiry quantity by province")),
        "distributor": chart([(g.label, g.quantity, link(distributor=g.key) if g.key else link(tier=0))
                              for g in data.by_distributor], _("Near-expiry quantity by distributor")),
    }
