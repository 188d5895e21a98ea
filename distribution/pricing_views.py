"""Pages of distribution: pricing (routes on the package blueprint `distribution.bp`).

Admins and channel managers write; finance and viewers read; a distributor user sees only "my prices" (resolved for
its own distributor; tenant scoping in app.tenancy keeps every other distributor's list out of its queries).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app import clock
from app.auth.security import roles_required
from app.downloads import xlsx_response
from app.extensions import db
from app.masterdata.services import ImportFailed, error_report_workbook
from app.models import AuditLog, Distributor, Product, Region
from distribution import bp, price_excel
from distribution import price_lists as svc
from distribution.models.pricing import PriceItem, PriceList, QuantityUnit

READERS = ("admin", "channel_manager", "finance", "viewer")
WRITERS = ("admin", "channel_manager")


def _price_list(price_list_id: int) -> PriceList:
    return svc.get_price_list(price_list_id) or abort(404)


def _item(item_id: int) -> PriceItem:
    return svc.get_item(item_id) or abort(404)


def _provinces():
    return db.session.execute(select(Region).where(Region.level == 1).order_by(Region.code)).scalars().all()


def _by_code(model, code):
    code = (code or "").strip()
    return db.session.execute(select(model).where(model.code == code)).scalar() if code else None


@bp.get("/prices")
@roles_required(*READERS, "distributor")
def prices_home():
    """The navigation entry: staff get the price lists, a distributor its own prices."""
    return redirect(url_for(".my_prices" if current_user.is_distributor else ".price_lists"))


@bp.get("/price-lists/")
@roles_required(*READERS)
def price_lists():
    kind, q = request.args.get("kind") or None, request.args.get("q") or None
    lists = db.session.execute(svc.list_price_lists(kind, q)).scalars().all()
    return render_template("distribution/price_lists.html", lists=lists, kinds=svc.kind_choices(), kind=kind,
                           can_write=current_user.role in WRITERS)


@bp.route("/price-lists/new", methods=["GET", "POST"])
@roles_required(*WRITERS)
def create_price_list():
    return _list_form(None)


@bp.route("/price-lists/<int:price_list_id>/edit", methods=["GET", "POST"])
@roles_required(*WRITERS)
def edit_price_list(price_list_id):
    return _list_form(_price_list(price_list_id))


def _list_form(price_list):
    values = {"code": "", "name": "", "kind": "", "province_code": "", "distributor_code": "", "active": True,
              "note": ""}
    if price_list is not None:
        values.update(code=price_list.code, name=price_list.name, kind=price_list.kind, active=price_list.active,
                      note=price_list.note or "", province_code=price_list.province.code if price_list.province else "",
                      distributor_code=price_list.distributor.code if price_list.distributor else "")
    errors, status = {}, 200
    if request.method == "POST":
        values = {k: request.form.get(k, "") for k in ("code", "name", "kind", "province_code", "distributor_code",
                                                       "note")} | {"active": "active" in request.form}
        try:
            saved = svc.save_price_list(values, price_list)
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for(".price_list", price_list_id=saved.id))
        except svc.PricingError as exc:
            db.session.rollback()
            errors, status = exc.errors or {"_": [exc.message]}, 422
            flash(_("Please correct the errors below."), "danger")
    return render_template("distribution/price_list_form.html", price_list=price_list, values=values, errors=errors,
                           kinds=svc.kind_choices(), provinces=_provinces()), status


@bp.get("/price-lists/<int:price_list_id>")
@roles_required(*READERS)
def price_list(price_list_id):
    pl = _price_list(price_list_id)
    today = clock.today()
    groups = svc.items_by_product(pl, today, request.args.get("product") or None)
    history = []
    if current_user.role in ("admin", "channel_manager", "finance"):
        history = db.session.execute(
            select(AuditLog).where(AuditLog.entity_type == "price_list", AuditLog.entity_id == str(pl.id))
            .order_by(AuditLog.at.desc()).limit(20)).scalars().all()
    return render_template("distribution/price_list.html", pl=pl, groups=groups, today=today, history=history,
                           svc=svc, can_write=current_user.role in WRITERS)


@bp.route("/price-lists/<int:price_list_id>/items/new", methods=["GET", "POST"])
@roles_required(*WRITERS)
def add_price_item(price_list_id):
    pl = _price_list(price_list_id)
    values = {"product_code": request.args.get("product", ""), "min_quantity": "1", "unit": QuantityUnit.BASE.value,
              "unit_price": "", "effective_from": clock.today().isoformat(), "effective_to": "", "note": ""}
    errors, status = {}, 200
    if request.method == "POST":
        values = {k: request.form.get(k, "").strip() for k in values}
        try:
            product = _by_code(Product, values["product_code"])
            if product is None:
                raise svc.PricingError.on("product_code", _("Unknown code %(code)s.", code=values["product_code"])
                                          if values["product_code"] else _("Required."))
            svc.add_item(pl, product, svc.parse_quantity(values["min_quantity"]), values["unit"],
                         svc.parse_price(values["unit_price"]), svc.parse_date(values["effective_from"],
                                                                                "effective_from"),
                         svc.parse_date(values["effective_to"], "effective_to", required=False), values["note"])
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for(".price_list", price_list_id=pl.id, product=product.code))
        except svc.PricingError as exc:
            db.session.rollback()
            errors, status = exc.errors or {"_": [exc.message]}, 422
    return render_template("distribution/price_item_form.html", pl=pl, item=None, values=values, errors=errors), status


@bp.route("/price-items/<int:item_id>/change", methods=["GET", "POST"])
@roles_required(*WRITERS)
def change_price_item(item_id):
    item = _item(item_id)
    pl = item.price_list
    start = max(clock.today(), item.effective_from + timedelta(days=1))
    values = {"unit_price": str(item.unit_price), "effective_from": start.isoformat(),
              "effective_to": item.effective_to.isoformat() if item.effective_to else "", "note": ""}
    errors, status = {}, 200
    if request.method == "POST":
        values = {k: request.form.get(k, "").strip() for k in values}
        try:
            new = svc.change_item(item, svc.parse_price(values["unit_price"]),
                                  svc.parse_date(values["effective_from"], "effective_from"),
                                  svc.parse_date(values["effective_to"], "effective_to", required=False),
                                  values["note"])
            db.session.commit()
            flash(_("Saved: version %(v)d from %(day)s.", v=new.version, day=new.effective_from.isoformat()), "success")
            return redirect(url_for(".price_list", price_list_id=pl.id, product=new.product.code))
        except svc.PricingError as exc:
            db.session.rollback()
            errors, status = exc.errors or {"_": [exc.message]}, 422
    return render_template("distribution/price_item_form.html", pl=pl, item=item, values=values, errors=errors,
                           svc=svc), status


@bp.post("/price-items/<int:item_id>/end")
@roles_required(*WRITERS)
def end_price_item(item_id):
    item = _item(item_id)
    try:
        svc.end_item(item, svc.parse_date(request.form.get("effective_to"), "effective_to", required=False))
        db.session.commit()
        flash(_("Saved."), "success")
    except svc.PricingError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return redirect(url_for(".change_price_item", item_id=item_id))
    return redirect(url_for(".price_list", price_list_id=item.price_list_id, product=item.product.code))


@bp.get("/price-lists/<int:price_list_id>/export.xlsx")
@roles_required(*READERS)
def export_price_list(price_list_id):
    pl = _price_list(price_list_id)
    data = price_excel.export_items(pl, clock.today())
    return xlsx_response(data, f"price-list-{pl.id}.xlsx")


@bp.route("/price-lists/<int:price_list_id>/import", methods=["GET", "POST"])
@roles_required(*WRITERS)
def import_price_list(price_list_id):
    pl = _price_list(price_list_id)
    if request.method == "GET":
        return render_template("distribution/price_import.html", pl=pl)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose an Excel (.xlsx) file to import."), "danger")
        return render_template("distribution/price_import.html", pl=pl), 400
    try:
        result = price_excel.import_items(pl, upload.stream)
        db.session.commit()
    except ImportFailed as exc:
        db.session.rollback()
        flash(_("Nothing was imported: %(n)d problems found. Correct the file and upload it again.",
                n=len(exc.errors)), "danger")
        return render_template("distribution/price_import.html", pl=pl, errors=exc.errors,
                               report=_save_error_report(exc.errors)), 422
    flash(_("Imported %(rows)d rows: %(added)d new items, %(changed)d new versions, %(ended)d end dates, "
            "%(unchanged)d unchanged.", rows=result.rows, added=result.added, changed=result.changed,
            ended=result.ended, unchanged=result.unchanged), "success")
    return redirect(url_for(".price_list", price_list_id=pl.id))


def _save_error_report(errors) -> str:
    """Saved where the master-data import reports are, and downloaded through the same route (owner-checked)."""
    path = Path(current_app.instance_path) / "import-reports"
    path.mkdir(parents=True, exist_ok=True)
    token = f"{current_user.id}-{uuid.uuid4().hex}"
    (path / f"{token}.xlsx").write_bytes(error_report_workbook(errors))
    return token


@bp.route("/price-floors/", methods=["GET", "POST"])
@roles_required(*READERS)
def price_floors():
    values = {"product_code": request.args.get("product", ""), "floor_price": "",
              "effective_from": clock.today().isoformat(), "effective_to": "", "note": ""}
    errors, status = {}, 200
    if request.method == "POST":
        if current_user.role not in WRITERS:
            abort(403)
        values = {k: request.form.get(k, "").strip() for k in values}
        try:
            product = _by_code(Product, values["product_code"])
            if product is None:
                raise svc.PricingError.on("product_code", _("Unknown code %(code)s.", code=values["product_code"])
                                          if values["product_code"] else _("Required."))
            svc.set_floor(product, svc.parse_price(values["floor_price"], "floor_price"),
                          svc.parse_date(values["effective_from"], "effective_from"),
                          svc.parse_date(values["effective_to"], "effective_to", required=False), values["note"])
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for(".price_floors", product=product.code))
        except svc.PricingError as exc:
            db.session.rollback()
            errors, status = exc.errors or {"_": [exc.message]}, 422
    floors = db.session.execute(svc.list_floors(request.args.get("product") or None).limit(500)).scalars().all()
    return render_template("distribution/price_floors.html", floors=floors, values=values, errors=errors,
                           today=clock.today(), can_write=current_user.role in WRITERS), status


@bp.get("/price-check")
@roles_required(*READERS)
def price_check():
    args = {k: request.args.get(k, "").strip() for k in ("distributor", "product", "quantity", "unit", "date")}
    args["unit"] = args["unit"] or QuantityUnit.BASE.value
    args["date"] = args["date"] or clock.today().isoformat()
    result, errors, status = None, {}, 200
    if args["distributor"] or args["product"]:
        try:
            result = _check(args)
        except svc.PricingError as exc:
            errors, status = exc.errors or {"_": [exc.message]}, 422
    return render_template("distribution/price_check.html", args=args, result=result, errors=errors,
                           svc=svc), status


def _check(args):
    distributor = _by_code(Distributor, args["distributor"])
    if distributor is None:
        raise svc.PricingError.on("distributor", _("Unknown code %(code)s.", code=args["distributor"] or "—"))
    product = _by_code(Product, args["product"])
    if product is None:
        raise svc.PricingError.on("product", _("Unknown code %(code)s.", code=args["product"] or "—"))
    on_date = svc.parse_date(args["date"], "date")
    resolution = svc.resolve_price(distributor, product, args["quantity"] or "1", on_date, args["unit"])
    return {"distributor": distributor, "product": product, "resolution": resolution,
            "explanation": svc.explain(resolution, product)}


@bp.get("/my-prices")
@roles_required("distributor")
def my_prices():
    distributor = current_user.distributor
    today = clock.today()
    return render_template("distribution/my_prices.html", rows=svc.my_prices(distributor, today), today=today,
                           distributor=distributor, svc=svc)
