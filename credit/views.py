"""Finance's pages: the credit dashboard (with the aging chart), the hold queue and its decisions, a distributor's
credit page (terms, temporary increases, open items, aging, payments), the payments import and the statement of
account (PDF, Excel). Thin: parse, call one service, render. A distributor user reaches only its own account."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app import charts, clock
from app.auth.security import roles_required
from app.downloads import xlsx_response
from app.extensions import db
from app.masterdata.services import ImportFailed
from app.models import Distributor
from credit import bp, payments_import, reports, services
from credit.exposure import BUCKETS
from credit.services import CreditError

READ = ("admin", "channel_manager", "finance", "viewer", "distributor")
STAFF = ("admin", "channel_manager", "finance", "viewer")
DECIDE = ("admin", "finance")


def bucket_label(key: str) -> str:
    return {"current": _("Not yet due"), "1-30": _("1–30 days"), "31-60": _("31–60 days"),
            "61-90": _("61–90 days"), "90+": _("Over 90 days")}[key]


@bp.context_processor
def _helpers():
    return {"bucket_label": bucket_label, "buckets": BUCKETS, "kind_label": reports.kind_label,
            "can_decide": current_user.is_authenticated and current_user.role in DECIDE}


def _distributor(distributor_id: int) -> Distributor:
    """The distributor, if the acting user may see it (tenant scoping makes another's a 404)."""
    return db.session.get(Distributor, distributor_id) or abort(404)


def _date_arg(name: str, default: date) -> date:
    try:
        return date.fromisoformat(request.args.get(name) or request.form.get(name) or default.isoformat())
    except ValueError:
        abort(400)


def _aging_chart(aging: dict, title: str):
    return charts.bar_chart([(bucket_label(k), aging[k]) for k in BUCKETS], title=title, colour="#dc3545",
                            label_width=110)


@bp.get("/")
@roles_required(*READ)
def dashboard():
    if current_user.is_distributor:
        return redirect(url_for(".account", distributor_id=current_user.distributor_id))
    rows = services.credit_overview()
    total = services.aging()
    return render_template("credit/dashboard.html", rows=rows, total_aging=total,
                           chart=_aging_chart(total, _("Receivables aging")))


@bp.get("/holds")
@roles_required(*STAFF)
def holds():
    return render_template("credit/holds.html", holds=services.held_reservations())


@bp.post("/holds/<order_ref>/decide")
@roles_required(*DECIDE)
def decide(order_ref):
    approve = request.form.get("decision") == "approve"
    try:
        services.decide_hold(order_ref, approve, current_user, request.form.get("reason", ""))
        db.session.commit()
    except CreditError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return render_template("credit/holds.html", holds=services.held_reservations()), 422
    flash(_("Order %(ref)s approved.", ref=order_ref) if approve else _("Order %(ref)s rejected.", ref=order_ref),
          "success")
    return redirect(url_for(".holds"))


@bp.get("/distributors/<int:distributor_id>")
@roles_required(*READ)
def account(distributor_id):
    d = _distributor(distributor_id)
    today = clock.today()
    aging = services.aging(d)
    return render_template("credit/account.html", d=d, exp=services.exposure(d), items=services.open_items(d),
                           aging=aging, chart=_aging_chart(aging, _("Aging of %(name)s", name=d.name)),
                           increases=services.temporary_increases(d), today=today,
                           date_from=today.replace(day=1), date_to=today)


def _account_form_errors(distributor_id: int, exc: CreditError):
    db.session.rollback()
    flash(str(exc), "danger")
    return redirect(url_for(".account", distributor_id=distributor_id))


@bp.post("/distributors/<int:distributor_id>/terms")
@roles_required(*DECIDE)
def terms(distributor_id):
    d, f = _distributor(distributor_id), request.form
    try:
        services.set_credit_terms(d, limit=f.get("limit", ""), rating=f.get("rating"),
                                  payment_terms_days=f.get("payment_terms_days", type=int),
                                  grace_days=f.get("grace_days", type=int), hold=f.get("hold") == "on",
                                  reason=f.get("reason", ""))
        db.session.commit()
    except (CreditError, ValueError) as exc:
        return _account_form_errors(distributor_id, CreditError(str(exc)))
    flash(_("Credit terms saved."), "success")
    return redirect(url_for(".account", distributor_id=distributor_id))


@bp.post("/distributors/<int:distributor_id>/increases")
@roles_required(*DECIDE)
def add_increase(distributor_id):
    d, f = _distributor(distributor_id), request.form
    try:
        services.add_temporary_increase(d, f.get("amount", ""), _date_arg("valid_from", clock.today()),
                                        _date_arg("valid_to", clock.today()), current_user, f.get("reason", ""))
        db.session.commit()
    except CreditError as exc:
        return _account_form_errors(distributor_id, exc)
    flash(_("Temporary increase added."), "success")
    return redirect(url_for(".account", distributor_id=distributor_id))


@bp.post("/distributors/<int:distributor_id>/payments")
@roles_required(*DECIDE)
def add_payment(distributor_id):
    d, f = _distributor(distributor_id), request.form
    try:
        services.record_payment(d, f.get("amount", ""), _date_arg("paid_on", clock.today()), f.get("reference", ""),
                                user=current_user, note=f.get("note") or None)
        db.session.commit()
    except CreditError as exc:
        return _account_form_errors(distributor_id, exc)
    flash(_("Payment recorded."), "success")
    return redirect(url_for(".account", distributor_id=distributor_id))


@bp.route("/payments/import", methods=["GET", "POST"])
@roles_required(*DECIDE)
def payments_upload():
    if request.method == "GET":
        return render_template("credit/payments_import.html")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose an Excel (.xlsx) file to import."), "danger")
        return render_template("credit/payments_import.html"), 400
    try:
        result = payments_import.import_payments(upload.stream, current_user)
        db.session.commit()
    except ImportFailed as exc:
        db.session.rollback()
        flash(_("Nothing was imported: %(n)d problems found. Correct the file and upload it again.",
                n=len(exc.errors)), "danger")
        return render_template("credit/payments_import.html", errors=exc.errors), 422
    flash(_("Payments imported: %(rows)d rows, %(total)s in total.", rows=result.rows, total=f"{result.total:,.2f}"),
          "success")
    return redirect(url_for(".dashboard"))


def _statement(distributor_id: int):
    d = _distributor(distributor_id)
    today = clock.today()
    try:
        return services.statement(d, _date_arg("from", today.replace(day=1)), _date_arg("to", today))
    except CreditError:
        abort(400)


@bp.get("/distributors/<int:distributor_id>/statement.pdf")
@roles_required(*READ)
def statement_pdf(distributor_id):
    st = _statement(distributor_id)
    return send_file(io.BytesIO(reports.statement_pdf(st, clock.today())), mimetype="application/pdf",
                     download_name=f"statement-{st.distributor.code}-{st.date_from}-{st.date_to}.pdf")


@bp.get("/distributors/<int:distributor_id>/statement.xlsx")
@roles_required(*READ)
def statement_xlsx(distributor_id):
    st = _statement(distributor_id)
    return xlsx_response(reports.statement_workbook(st),
                         f"statement-{st.distributor.code}-{st.date_from}-{st.date_to}.xlsx")


def money(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


bp.add_app_template_filter(money, "credit_money")
