"""Pages of sell-in orders (routes on the package blueprint `distribution.bp`): list (filters, Excel export), new
order, detail (lines, prices and why, the credit decision, shipments and lots) and the actions each role may take
in the order's status (amend, cancel; ship for channel managers and admins; decide a hold for finance).

Thin handlers: parse, call one service of :mod:`distribution.orders`, commit or roll back, render. A distributor
user sees and orders for its own distributor only (tenant scoping; its own distributor is the only choice).
"""

from __future__ import annotations

import io

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from openpyxl import Workbook
from sqlalchemy import select

from app import clock
from app.auth.security import roles_required
from app.downloads import xlsx_response
from app.extensions import db
from app.masterdata.services import neutralise, paginate
from app.models import Distributor
from distribution import bp
from distribution import orders as svc

PER_PAGE = 50
BLANK_LINES = 5


def _filters() -> dict:
    from distribution.price_lists import parse_date

    def day(name):
        try:
            return parse_date(request.args.get(name) or None, name, required=False)
        except Exception:  # noqa: BLE001 - a bad filter date is ignored
            return None

    status = request.args.get("status")
    return {"distributor_code": request.args.get("distributor") or None,
            "status": status if status in {s for s, _l in svc.status_choices()} else None,
            "q": request.args.get("q") or None, "date_from": day("date_from"), "date_to": day("date_to")}


def _helpers(order=None) -> dict:
    role = current_user.role
    state = order.status if order is not None else None
    return {"status_label": svc.status_label, "statuses": svc.status_choices(), "unit_label": svc.unit_label,
            "can_place": role in svc.PLACER_ROLES,
            "can_amend": order is not None and role in svc.PLACER_ROLES and state in svc.AMENDABLE
            and not order.shipments,
            "can_cancel": order is not None and role in svc.PLACER_ROLES and state in svc.CANCELLABLE,
            "can_ship": order is not None and role in svc.SHIPPER_ROLES and state in svc.SHIPPABLE,
            "can_decide": order is not None and role in svc.DECIDER_ROLES and state == "credit_hold"}


@bp.get("/orders/")
@roles_required(*svc.READER_ROLES)
def orders():
    page = max(request.args.get("page", 1, type=int), 1)
    items, total = paginate(svc.list_orders(**_filters()), page, PER_PAGE)
    return render_template("distribution/order_list.html", items=items, total=total, page=page,
                           pages=max((total + PER_PAGE - 1) // PER_PAGE, 1), **_helpers())


@bp.get("/orders/export.xlsx")
@roles_required(*svc.READER_ROLES)
def order_export():
    wb = Workbook()
    ws = wb.active
    ws.title = "订单"
    ws.append(["订单号", "经销商编码", "经销商", "日期", "状态", "产品", "订购数量(基本单位)", "单价", "金额",
               "已发货", "欠货", "订单金额", "信用原因"])
    for o in db.session.execute(svc.list_orders(**_filters())).scalars():
        for ln in o.lines:
            ws.append([neutralise(v) for v in (
                o.number, o.distributor.code, o.distributor.name, o.on_date.isoformat(), svc.status_label(o.status),
                ln.product.code, ln.quantity, ln.unit_price, ln.amount, ln.shipped_quantity, ln.backorder, o.total,
                "；".join(o.credit_reasons or []))])
    out = io.BytesIO()
    wb.save(out)
    return xlsx_response(out.getvalue(), f"orders-{clock.today().isoformat()}.xlsx")


def _form_lines() -> list[dict]:
    codes, qtys, units = (request.form.getlist(k) for k in ("product_code", "quantity", "unit"))
    rows = [{"product_code": c.strip(), "quantity": q.strip(), "unit": u}
            for c, q, u in zip(codes, qtys, units, strict=False)]
    return [r for r in rows if r["product_code"] or r["quantity"]]


def _distributors():
    if current_user.is_distributor:
        return [current_user.distributor]
    return db.session.execute(select(Distributor).where(Distributor.status == "active")
                              .order_by(Distributor.code)).scalars().all()


def _form(order=None, lines=None, errors=None, status=200):
    lines = lines if lines is not None else (
        [{"product_code": ln.product.code, "quantity": ln.entered_quantity, "unit": ln.entered_unit}
         for ln in order.lines] if order is not None else [])
    lines = lines + [{"product_code": "", "quantity": "", "unit": "case"}] * max(BLANK_LINES - len(lines), 1)
    own = current_user.distributor if current_user.is_distributor else None
    return render_template("distribution/order_form.html", order=order, lines=lines, errors=errors or {},
                           distributors=_distributors(), products=svc.orderable_products(),
                           exposure=svc.credit_position(own) if own is not None else None,
                           **_helpers(order)), status


@bp.route("/orders/new", methods=["GET", "POST"])
@roles_required(*svc.PLACER_ROLES)
def order_new():
    if request.method == "GET":
        return _form()
    code = request.form.get("distributor_code") or ""
    d = current_user.distributor if current_user.is_distributor else db.session.execute(
        select(Distributor).where(Distributor.code == code)).scalar_one_or_none()
    lines = _form_lines()
    try:
        if d is None:
            raise svc.OrderInvalid(_("Unknown distributor."), {"distributor_code": [_("Unknown distributor.")]})
        order = svc.place_order(d, lines, current_user, note=request.form.get("note"))
    except svc.OrderError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return _form(lines=lines, errors=exc.errors, status=exc.status)
    db.session.commit()
    flash(_("Order %(number)s placed: %(status)s.", number=order.number, status=svc.status_label(order.status)),
          "success" if order.status == "approved" else "warning")
    return redirect(url_for("distribution.order_detail", order_id=order.id))


def _order_or_404(order_id: int):
    return svc.get_order(order_id) or abort(404)


@bp.get("/orders/<int:order_id>")
@roles_required(*svc.READER_ROLES)
def order_detail(order_id):
    order = _order_or_404(order_id)
    db.session.commit()  # a decision finance took on credit's side may have been picked up
    return render_template("distribution/order_detail.html", order=order, **_helpers(order))


@bp.route("/orders/<int:order_id>/amend", methods=["GET", "POST"])
@roles_required(*svc.PLACER_ROLES)
def order_amend(order_id):
    order = _order_or_404(order_id)
    if request.method == "GET":
        return _form(order)
    lines = _form_lines()
    try:
        svc.amend_order(order, lines, current_user)
    except svc.OrderError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return _form(_order_or_404(order_id), lines=lines, errors=exc.errors, status=exc.status)
    db.session.commit()
    flash(_("Order %(number)s amended: %(status)s.", number=order.number, status=svc.status_label(order.status)),
          "success")
    return redirect(url_for("distribution.order_detail", order_id=order.id))


def _act(order_id: int, do, done: str):
    order = _order_or_404(order_id)
    try:
        do(order)
    except svc.OrderError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
    else:
        db.session.commit()
        flash(done, "success")
    return redirect(url_for("distribution.order_detail", order_id=order_id))


@bp.post("/orders/<int:order_id>/cancel")
@roles_required(*svc.PLACER_ROLES)
def order_cancel(order_id):
    return _act(order_id, lambda o: svc.cancel_order(o, current_user, request.form.get("reason")),
                _("The order was cancelled and its credit released."))


@bp.post("/orders/<int:order_id>/ship")
@roles_required(*svc.SHIPPER_ROLES)
def order_ship(order_id):
    return _act(order_id, lambda o: svc.ship_order(o, current_user), _("Shipped and invoiced."))


@bp.post("/orders/<int:order_id>/decision")
@roles_required(*svc.DECIDER_ROLES)
def order_decide(order_id):
    approve = request.form.get("approve") == "1"
    return _act(order_id, lambda o: svc.decide_order_hold(o, approve, current_user, request.form.get("reason")),
                _("The decision was recorded."))
