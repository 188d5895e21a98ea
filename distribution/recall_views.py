"""Pages of recalls (manufacturer staff): list, open a recall (one or more lots, reason, class), the dashboard
(recovered versus outstanding per holder, with a chart, the returns it drove and the terminals reached), close, and
the PDF report for the regulator. Thin: parse, call one service of :mod:`distribution.recalls`, commit, render."""

from __future__ import annotations

import io

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app import charts
from app.auth.security import roles_required
from app.extensions import db
from app.masterdata.services import paginate
from distribution import bp, return_reports
from distribution import recalls as svc
from distribution import returns as returns_svc

PER_PAGE = 50


def _helpers() -> dict:
    return {"class_label": svc.class_label, "recall_status": svc.status_label,
            "return_status": returns_svc.status_label, "classes": svc.CLASSES,
            "can_manage": current_user.role in returns_svc.DECIDER_ROLES}


@bp.get("/recalls/")
@roles_required(*svc.STAFF_ROLES)
def recalls():
    page = max(request.args.get("page", 1, type=int), 1)
    items, total = paginate(svc.list_recalls(request.args.get("status") or None), page, PER_PAGE)
    return render_template("distribution/recall_list.html", items=items, total=total, page=page,
                           pages=max((total + PER_PAGE - 1) // PER_PAGE, 1), **_helpers())


def _form(lots=None, errors=None, status=200):
    lots = list(lots or [])
    if not lots and request.args.get("lot"):
        lots = [{"product_code": request.args.get("product", ""), "lot_no": request.args.get("lot", "")}]
    lots += [{"product_code": "", "lot_no": ""}] * max(3 - len(lots), 1)
    return render_template("distribution/recall_form.html", lots=lots, errors=errors or {}, form=request.form,
                           **_helpers()), status


@bp.route("/recalls/new", methods=["GET", "POST"])
@roles_required(*returns_svc.DECIDER_ROLES)
def recall_new():
    if request.method == "GET":
        return _form()
    lots = svc.lot_refs_from_form(request.form)
    try:
        recall = svc.open_recall(lots, request.form.get("reason", ""), request.form.get("recall_class", ""),
                                 current_user)
    except returns_svc.ReturnError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return _form(lots, exc.errors, exc.status)
    db.session.commit()
    flash(_("Recall %(number)s opened: %(n)d lots blocked, %(r)d returns requested from the holders.",
            number=recall.number, n=len(recall.lots), r=len(recall.returns)), "success")
    return redirect(url_for("distribution.recall_detail", recall_id=recall.id))


def _recall(recall_id: int):
    return svc.get_recall(recall_id) or abort(404)


def _chart(dash):
    """Two bars per holder and lot, recovered and outstanding; each links to the holder's recall returns."""
    items, recovered, outstanding = [], _("Recovered"), _("Outstanding")
    for h in dash.holders:
        link = url_for("distribution.returns", recall=dash.recall.id, distributor=h.code)
        items += [(f"{h.code} · {h.lot_no} · {recovered}", h.recovered, link),
                  (f"{h.code} · {h.lot_no} · {outstanding}", h.outstanding, link)]
    return charts.bar_chart(items, title=_("Recovered and outstanding per holder"), width=640, label_width=260,
                            bar_height=18)


@bp.get("/recalls/<int:recall_id>")
@roles_required(*svc.STAFF_ROLES)
def recall_detail(recall_id):
    dash = svc.recall_dashboard(_recall(recall_id))
    return render_template("distribution/recall_detail.html", dash=dash, recall=dash.recall, chart=_chart(dash),
                           **_helpers())


@bp.post("/recalls/<int:recall_id>/close")
@roles_required(*returns_svc.DECIDER_ROLES)
def recall_close(recall_id):
    recall = _recall(recall_id)
    try:
        svc.close_recall(recall, current_user, request.form.get("note"))
    except returns_svc.ReturnError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
    else:
        db.session.commit()
        flash(_("Recall %(number)s closed.", number=recall.number), "success")
    return redirect(url_for("distribution.recall_detail", recall_id=recall_id))


@bp.get("/recalls/<int:recall_id>/report.pdf")
@roles_required(*svc.STAFF_ROLES)
def recall_report(recall_id):
    data = return_reports.recall_report_pdf(svc.recall_dashboard(_recall(recall_id)))
    return send_file(io.BytesIO(data), mimetype="application/pdf", download_name=f"recall-report-{recall_id}.pdf")
