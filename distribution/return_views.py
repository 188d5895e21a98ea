"""Pages of returns (routes on the package blueprint `distribution.bp`): list (filters, Excel export), new request
(lines typed or scanned from the pack's GS1 DataMatrix, photos and documents), detail (lines, attachments, history,
credit) with the step each role may take in the return's status, attachment downloads and the credit note PDF.

Thin handlers: parse, call one service of :mod:`distribution.returns`, commit or roll back, render. A distributor
user sees and files only its own returns (tenant scoping; its own distributor is the only choice).
"""

from __future__ import annotations

import io

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app import clock
from app.auth.security import roles_required
from app.downloads import xlsx_response
from app.extensions import db
from app.masterdata.services import paginate
from app.models import Distributor
from distribution import bp, return_reports
from distribution import return_rules as rules
from distribution import returns as svc

PER_PAGE = 50
BLANK_LINES = 3


def _filters() -> dict:
    status = request.args.get("status")
    return {"distributor_code": request.args.get("distributor") or None,
            "status": status if status in {s for s, _l in svc.status_choices()} else None,
            "q": request.args.get("q") or None, "recall_id": request.args.get("recall", type=int)}


def _helpers(ret=None) -> dict:
    role, state = current_user.role, ret.status if ret is not None else None

    def can(step: str, roles) -> bool:
        return ret is not None and role in roles and rules.next_status(step, state) is not None

    return {"status_label": svc.status_label, "statuses": svc.status_choices(), "reason_label": svc.reason_label,
            "disposition_label": svc.disposition_label, "can_request": role in svc.REQUESTER_ROLES,
            "can_decide": can("approve", svc.DECIDER_ROLES), "can_receive": can("receive", svc.WAREHOUSE_ROLES),
            "can_dispose": can("dispose", svc.WAREHOUSE_ROLES), "can_credit": can("credit", svc.FINANCE_ROLES)}


@bp.get("/returns/")
@roles_required(*svc.READER_ROLES)
def returns():
    page = max(request.args.get("page", 1, type=int), 1)
    items, total = paginate(svc.list_returns(**_filters()), page, PER_PAGE)
    return render_template("distribution/return_list.html", items=items, total=total, page=page,
                           pages=max((total + PER_PAGE - 1) // PER_PAGE, 1), **_helpers())


@bp.get("/returns/export.xlsx")
@roles_required(*svc.READER_ROLES)
def return_export():
    rows = ([r.number, r.distributor.code, r.distributor.name, r.on_date, svc.status_label(r.status), ln.product.code,
             ln.lot.lot_no, ln.lot.expires_on, svc.reason_label(ln.reason), ln.quantity, ln.received_quantity,
             svc.disposition_label(ln.disposition), ln.gross_amount, ln.restocking_fee, r.credit_reference]
            for r in db.session.execute(svc.list_returns(**_filters())).scalars() for ln in r.lines)
    headers = [_("Return"), _("Distributor code"), _("Distributor"), _("Date"), _("Status"), _("Product code"),
               _("Lot"), _("Expires"), _("Reason"), _("Quantity"), _("Received"), _("Disposition"),
               _("Original value"), _("Restocking fee"), _("Credit memo")]
    return xlsx_response(return_reports.table_workbook(_("Returns"), headers, rows),
                         f"returns-{clock.today().isoformat()}.xlsx")


def _form_lines() -> list[dict]:
    keys = ("scan", "product_code", "lot_no", "quantity", "reason")
    columns = [request.form.getlist(k) for k in keys]
    rows = [dict(zip(keys, (v.strip() for v in values), strict=True))
            for values in zip(*columns, strict=False)]
    return [r for r in rows if r["scan"] or r["product_code"] or r["lot_no"] or r["quantity"]]


def _uploads() -> list[svc.Upload]:
    files = [f for f in request.files.getlist("attachments") if f and f.filename]
    return [svc.Upload(f.filename, f.read(rules.MAX_ATTACHMENT_BYTES + 1)) for f in files]


def _distributors():
    if current_user.is_distributor:
        return [current_user.distributor]
    return db.session.execute(select(Distributor).order_by(Distributor.code)).scalars().all()


def _chosen_distributor(code: str | None):
    if current_user.is_distributor:
        return current_user.distributor
    return db.session.execute(select(Distributor).where(Distributor.code == (code or ""))).scalar_one_or_none()


def _form(lines=None, errors=None, status=200, code=None):
    lines = list(lines or [])
    lines += [{"scan": "", "product_code": "", "lot_no": "", "quantity": "", "reason": ""}] * max(
        BLANK_LINES - len(lines), 1)
    d = _chosen_distributor(code or request.args.get("distributor"))
    return render_template("distribution/return_form.html", lines=lines, errors=errors or {},
                           distributors=_distributors(), chosen=d, policy=svc.policy(),
                           returnable=svc.returnable_lots(d) if d is not None else [],
                           reasons=svc.reason_choices(), **_helpers()), status


@bp.route("/returns/new", methods=["GET", "POST"])
@roles_required(*svc.REQUESTER_ROLES)
def return_new():
    if request.method == "GET":
        return _form()
    code = request.form.get("distributor_code") or ""
    d, lines = _chosen_distributor(code), _form_lines()
    try:
        if d is None:
            raise svc.ReturnInvalid(_("Unknown distributor."), {"distributor_code": [_("Unknown distributor.")]})
        ret = svc.request_return(d, lines, current_user, note=request.form.get("note"), attachments=_uploads())
    except svc.ReturnError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return _form(lines, exc.errors, exc.status, code)
    db.session.commit()
    flash(_("Return %(number)s requested; a channel manager will decide on it.", number=ret.number), "success")
    return redirect(url_for("distribution.return_detail", return_id=ret.id))


def _return_or_404(return_id: int):
    return svc.get_return(return_id) or abort(404)


@bp.get("/returns/<int:return_id>")
@roles_required(*svc.READER_ROLES)
def return_detail(return_id):
    ret = _return_or_404(return_id)
    return render_template("distribution/return_detail.html", ret=ret, **_helpers(ret))


def _act(return_id: int, do, done: str):
    ret = _return_or_404(return_id)
    try:
        do(ret)
    except svc.ReturnError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return render_template("distribution/return_detail.html", ret=_return_or_404(return_id),
                               errors=exc.errors, **_helpers(_return_or_404(return_id))), exc.status
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("distribution.return_detail", return_id=return_id))


def _per_line(prefix: str) -> dict[int, str]:
    return {int(k[len(prefix):]): v for k, v in request.form.items() if k.startswith(prefix) and k[len(prefix):]
            .isdigit()}


@bp.post("/returns/<int:return_id>/decision")
@roles_required(*svc.DECIDER_ROLES)
def return_decide(return_id):
    approve = request.form.get("approve") == "1"
    return _act(return_id, lambda r: svc.decide_return(r, approve, current_user, request.form.get("reason")),
                _("The return was approved.") if approve else _("The return was rejected."))


@bp.post("/returns/<int:return_id>/receive")
@roles_required(*svc.WAREHOUSE_ROLES)
def return_receive(return_id):
    quantities = _per_line("received_") or None
    return _act(return_id, lambda r: svc.receive_return(r, current_user, quantities),
                _("Received into quarantine."))


@bp.post("/returns/<int:return_id>/dispose")
@roles_required(*svc.WAREHOUSE_ROLES)
def return_dispose(return_id):
    return _act(return_id, lambda r: svc.dispose_return(r, current_user, _per_line("disposition_"),
                                                        request.form.get("note")),
                _("The disposition was recorded."))


@bp.post("/returns/<int:return_id>/credit")
@roles_required(*svc.FINANCE_ROLES)
def return_credit(return_id):
    return _act(return_id, lambda r: svc.issue_credit(r, current_user), _("The credit memo was issued."))


def attachment_response(return_id: int, attachment_id: int):
    """The attachment as a download (never rendered inline: the type is the one sniffed at upload, nosniff)."""
    found = svc.get_attachment(return_id, attachment_id)
    if found is None:
        abort(404)
    att, data = found
    resp = send_file(io.BytesIO(data), mimetype=att.file.content_type, as_attachment=True,
                     download_name=att.filename)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.get("/returns/<int:return_id>/attachments/<int:attachment_id>")
@roles_required(*svc.READER_ROLES)
def return_attachment(return_id, attachment_id):
    return attachment_response(return_id, attachment_id)


@bp.get("/returns/<int:return_id>/credit-note.pdf")
@roles_required(*svc.READER_ROLES)
def return_credit_note(return_id):
    ret = _return_or_404(return_id)
    if ret.status != "credited":
        abort(404)
    return send_file(io.BytesIO(return_reports.credit_note_pdf(ret)), mimetype="application/pdf",
                     download_name=f"credit-note-{ret.number}.pdf")
