"""HTML pages of inventory: stock, lot detail (block / release), channel stock, near expiry, recall trace, opening
balances, manual movements. Thin: parse, call one service, render; every table has an Excel export."""

from __future__ import annotations

import io

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app import charts
from app.auth.security import roles_required
from app.downloads import xlsx_response
from app.extensions import db
from app.masterdata.services import ImportFailed
from inventory import bp, channel, expiry, labels, opening, recording, reports, services, stock, trace

READ = ("admin", "channel_manager", "finance", "viewer", "distributor")
STAFF = ("admin", "channel_manager", "finance", "viewer")  # the recall trace names every holder: ours only
WRITE = ("admin", "channel_manager")
PER_PAGE = 50


@bp.context_processor
def _labels():
    return {"kind_label": labels.kind_label, "status_label": labels.status_label, "flag_label": labels.flag_label,
            "tier_label": expiry.tier_label, "can_write": current_user.is_authenticated and current_user.role in WRITE,
            "is_staff": current_user.is_authenticated and current_user.role in STAFF}


def _xlsx(name: str, data: bytes):
    return xlsx_response(data, f"{name}.xlsx")


def _stock_filters() -> stock.StockFilters:
    try:
        return stock.StockFilters.parse(request.args)
    except stock.FilterError as exc:
        flash(f"{exc}", "warning")
        return stock.StockFilters.parse({k: v for k, v in request.args.items() if k != exc.field})


def _lot(lot_id: int):
    return stock.visible_lot(lot_id) or abort(404)


# -- stock --------------------------------------------------------------------------------------------------------
@bp.get("/")
@roles_required(*READ)
def stock_list():
    filters = _stock_filters()
    page_no = max(request.args.get("page", 1, type=int), 1)
    rows, total = stock.page(stock.stock_query(filters, request.args.get("sort")), page_no, PER_PAGE)
    return render_template("inventory/stock.html", rows=rows, total=total, page=page_no, filters=filters,
                           pages=max((total + PER_PAGE - 1) // PER_PAGE, 1), quantity=stock.stock_total(filters),
                           choices=stock.choices())


@bp.get("/export.xlsx")
@roles_required(*READ)
def stock_export():
    rows = db.session.execute(stock.stock_query(_stock_filters(), request.args.get("sort"))).mappings()
    return _xlsx("stock", reports.table_workbook(_("Stock"), labels.stock_headers(), labels.stock_cells(rows)))


# -- lots ---------------------------------------------------------------------------------------------------------
@bp.get("/lots/<int:lot_id>")
@roles_required(*READ)
def lot_detail(lot_id):
    lot = _lot(lot_id)
    return render_template("inventory/lot.html", lot=lot, balances=stock.lot_balances(lot.id),
                           movements=stock.lot_movements(lot.id), history=labels.status_history(lot))


@bp.get("/lots/<int:lot_id>/movements.xlsx")
@roles_required(*READ)
def lot_movements_export(lot_id):
    lot = _lot(lot_id)
    return _xlsx(f"lot-{lot.id}-movements", reports.table_workbook(
        lot.lot_no, labels.movement_headers(), labels.movement_cells(stock.lot_movements(lot.id))))


@bp.post("/lots/<int:lot_id>/status")
@roles_required(*WRITE)
def lot_status(lot_id):
    lot = _lot(lot_id)
    try:
        services.set_lot_status(lot, request.form.get("status", ""), request.form.get("reason", ""))
        db.session.commit()
    except services.InventoryError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return lot_detail(lot_id), 422
    flash(_("Lot %(lot)s is now %(status)s.", lot=lot.lot_no, status=labels.status_label(lot.status)), "success")
    return redirect(url_for(".lot_detail", lot_id=lot.id))


# -- recall trace (manufacturer staff) ----------------------------------------------------------------------------
@bp.get("/trace")
@roles_required(*STAFF)
def trace_search():
    product, lot_no = (request.args.get("product") or "").strip(), (request.args.get("lot") or "").strip()
    lots = db.session.execute(stock.lots_query(product=product or None, lot_no=lot_no).limit(50)).mappings().all() \
        if lot_no else []
    if len(lots) == 1:
        return redirect(url_for(".trace_page", lot_id=lots[0]["id"]))
    return render_template("inventory/trace_search.html", lots=lots, product=product, lot_no=lot_no)


@bp.get("/lots/<int:lot_id>/trace")
@roles_required(*STAFF)
def trace_page(lot_id):
    return render_template("inventory/trace.html", trace=trace.recall_trace(_lot(lot_id)))


@bp.get("/lots/<int:lot_id>/trace.pdf")
@roles_required(*STAFF)
def trace_pdf(lot_id):
    data = reports.trace_pdf(trace.recall_trace(_lot(lot_id)))
    return send_file(io.BytesIO(data), mimetype="application/pdf", download_name=f"recall-trace-{lot_id}.pdf")


@bp.get("/lots/<int:lot_id>/trace.xlsx")
@roles_required(*STAFF)
def trace_export(lot_id):
    t = trace.recall_trace(_lot(lot_id))
    return _xlsx(f"recall-trace-{lot_id}", reports.table_workbook(
        t.lot.lot_no, labels.movement_headers(), labels.movement_cells(t.movements)))


# -- channel stock ------------------------------------------------------------------------------------------------
@bp.get("/channel")
@roles_required(*READ)
def channel_matrix():
    filters = channel.ChannelFilters.parse(request.args)
    return render_template("inventory/channel.html", matrix=channel.channel_matrix(filters), filters=filters,
                           targets=channel.targets_for(None),
                           outflow=[labels.kind_label(k) for k in channel.outflow_kinds()])


@bp.get("/channel.xlsx")
@roles_required(*READ)
def channel_export():
    rows = channel.channel_matrix(channel.ChannelFilters.parse(request.args)).rows()
    return _xlsx("channel-stock", reports.table_workbook(
        _("Channel stock"), labels.channel_headers(), labels.channel_cells(rows)))


@bp.get("/channel/lots")
@roles_required(*READ)
def channel_lots():
    filters = channel.ChannelFilters.parse(request.args)
    lines = channel.channel_lots(filters)
    parts = channel.ledger_components(lines[0].distributor_id) if lines and filters.distributor else {}
    return render_template("inventory/channel_lots.html", lines=lines, filters=filters, parts=parts,
                           components=channel.COMPONENTS)


@bp.get("/channel/lots.xlsx")
@roles_required(*READ)
def channel_lots_export():
    lines = channel.channel_lots(channel.ChannelFilters.parse(request.args))
    return _xlsx("channel-stock-lots", reports.table_workbook(
        _("Channel stock by lot"), labels.channel_lot_headers(), labels.channel_lot_cells(lines)))


# -- near expiry --------------------------------------------------------------------------------------------------
@bp.get("/near-expiry")
@roles_required(*READ)
def near_expiry():
    filters = expiry.NearExpiryFilters.parse(request.args)
    data = expiry.near_expiry(filters)
    return render_template("inventory/near_expiry.html", data=data, filters=filters,
                           charts=labels.near_expiry_charts(data, charts.bar_chart))


@bp.get("/near-expiry.xlsx")
@roles_required(*READ)
def near_expiry_export():
    data = expiry.near_expiry(expiry.NearExpiryFilters.parse(request.args))
    return _xlsx("near-expiry", reports.table_workbook(
        _("Near expiry"), labels.near_expiry_headers(), labels.near_expiry_cells(data.lines)))


# -- opening balances and manual movements ------------------------------------------------------------------------
@bp.route("/opening", methods=["GET", "POST"])
@roles_required(*WRITE)
def opening_import():
    if request.method == "GET":
        return render_template("inventory/opening.html")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose an Excel (.xlsx) file to import."), "danger")
        return render_template("inventory/opening.html"), 400
    try:
        result = opening.import_opening_balances(upload.stream)
        db.session.commit()
    except ImportFailed as exc:
        db.session.rollback()
        flash(_("Nothing was imported: %(n)d problems found. Correct the file and upload it again.",
                n=len(exc.errors)), "danger")
        return render_template("inventory/opening.html", errors=exc.errors), 422
    flash(_("Opening balances imported: %(rows)d rows, %(lots)d new lots, %(qty)d units.", rows=result.rows,
            lots=result.lots_created, qty=result.quantity), "success")
    return redirect(url_for(".stock_list"))


@bp.get("/opening/template.xlsx")
@roles_required(*WRITE)
def opening_template():
    return _xlsx("opening-balances-template", opening.template_workbook())


@bp.route("/movements/new", methods=["GET", "POST"])
@roles_required(*WRITE)
def movement_new():
    values, errors = dict(request.form.items()) or dict(request.args.items()), {}
    if request.method == "POST":
        try:
            movement = recording.record_movement(values)
            db.session.commit()
            flash(_("Movement recorded."), "success")
            return redirect(url_for(".lot_detail", lot_id=movement.lot_id))
        except services.InventoryError as exc:
            db.session.rollback()
            errors = getattr(exc, "errors", None) or {"_": [str(exc)]}
            flash(_("Nothing was recorded: %(problem)s", problem=str(exc)), "danger")
    return render_template("inventory/movement_form.html", values=values, errors=errors,
                           kinds=recording.MANUAL_KINDS, choices=stock.choices()), (422 if errors else 200)
