"""Pages of distribution: agreements (routes on the package blueprint `distribution.bp`).

Thin handlers: parse, call one service of :mod:`distribution.agreements`, commit or roll back, render.
Admins and channel managers draft, submit, approve and terminate; finance and viewers read; a distributor user reads
its own agreements only (tenant scoping) and takes no action.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from app import clock
from app.auth.security import roles_required
from app.downloads import xlsx_response
from app.extensions import db
from app.masterdata.services import paginate
from distribution import agreement_reports as reports
from distribution import bp
from distribution.agreement_forms import field_errors, form_values, schema_input, values_of
from distribution.agreement_jobs import agreement_gaps, gap_reason_label
from distribution.agreement_schemas import STATUSES, AgreementInSchema
from distribution.agreements import (
    READER_ROLES,
    SELL_IN_SOURCE,
    WRITER_ROLES,
    AgreementError,
    action_label,
    agreement_achievement,
    approve_agreement,
    create_draft,
    get_agreement,
    list_agreements,
    return_to_draft,
    status_label,
    submit_agreement,
    terminate_agreement,
    update_draft,
)

STAFF = ("admin", "channel_manager", "finance", "viewer")
PER_PAGE = 50
BLANK_TARGET_ROWS = 4
BLANK_TIER_ROWS = 3


def _helpers() -> dict:
    return {"status_label": status_label, "action_label": action_label, "statuses": STATUSES,
            "can_write": current_user.role in WRITER_ROLES}


def _agreement_or_404(agreement_id: int):
    return get_agreement(agreement_id) or abort(404)


def _list_filters() -> dict:
    year = request.args.get("year", type=int)
    return {"distributor_code": request.args.get("distributor") or None,
            "status": request.args.get("status") if request.args.get("status") in STATUSES else None,
            "year": year if year and 2000 <= year <= 2100 else None}


# -- list and export ----------------------------------------------------------------------------------------------
@bp.get("/agreements/")
@roles_required(*READER_ROLES)
def agreements():
    page = max(request.args.get("page", 1, type=int), 1)
    items, total = paginate(list_agreements(**_list_filters()), page, PER_PAGE)
    return render_template("distribution/agreement_list.html", items=items, total=total, page=page,
                           pages=max((total + PER_PAGE - 1) // PER_PAGE, 1), today=clock.today(), **_helpers())


@bp.get("/agreements/export.xlsx")
@roles_required(*READER_ROLES)
def agreement_export():
    rows = db.session.execute(list_agreements(**_list_filters())).scalars().all()
    return xlsx_response(reports.agreements_workbook(rows), "agreements.xlsx")


# -- detail and achievement ---------------------------------------------------------------------------------------
def _render_detail(agreement_id: int, error: AgreementError | None = None, status: int = 200):
    agreement = _agreement_or_404(agreement_id)
    return render_template("distribution/agreement_detail.html", a=agreement, error=error,
                           achievement=agreement_achievement(agreement), sell_in_source=SELL_IN_SOURCE,
                           **_helpers()), status


@bp.get("/agreements/<int:agreement_id>")
@roles_required(*READER_ROLES)
def agreement_detail(agreement_id):
    return _render_detail(agreement_id)


@bp.get("/agreements/<int:agreement_id>/achievement.xlsx")
@roles_required(*READER_ROLES)
def agreement_achievement_export(agreement_id):
    agreement = _agreement_or_404(agreement_id)
    return xlsx_response(reports.achievement_workbook(agreement), f"{agreement.number}-achievement.xlsx")


# -- create and edit drafts ---------------------------------------------------------------------------------------
def _form_page(agreement=None):
    """GET: the form; POST: validate, save the draft, redirect — or re-render with the errors by field."""
    values = values_of(agreement) if agreement is not None else {"rebate_basis": "amount", "deposit": "0",
                                                                   "targets": [], "rebate_tiers": []}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = form_values(request.form)
        try:
            data = AgreementInSchema().load(schema_input(values))
            saved = create_draft(data, current_user) if agreement is None else update_draft(agreement, data,
                                                                                             current_user)
            db.session.commit()
            flash(_("Draft saved."), "success")
            return redirect(url_for(".agreement_detail", agreement_id=saved.id))
        except ValidationError as exc:
            errors = field_errors(exc.normalized_messages())
        except AgreementError as exc:
            db.session.rollback()
            if exc.status == 409:
                flash(exc.message, "danger")
                return redirect(url_for(".agreement_detail", agreement_id=agreement.id))
            errors = exc.errors or {"_": [exc.message]}
        flash(_("Please correct the errors below."), "danger")
    return render_template("distribution/agreement_form.html", a=agreement, values=values, errors=errors,
                           blank_targets=BLANK_TARGET_ROWS, blank_tiers=BLANK_TIER_ROWS,
                           **_helpers()), (422 if errors else 200)


@bp.route("/agreements/new", methods=["GET", "POST"])
@roles_required(*WRITER_ROLES)
def agreement_new():
    return _form_page()


@bp.route("/agreements/<int:agreement_id>/edit", methods=["GET", "POST"])
@roles_required(*WRITER_ROLES)
def agreement_edit(agreement_id):
    agreement = _agreement_or_404(agreement_id)
    if not agreement.is_editable:
        flash(_("Only a draft can be edited; this agreement is %(status)s.", status=status_label(agreement.status)),
              "warning")
        return redirect(url_for(".agreement_detail", agreement_id=agreement_id))
    return _form_page(agreement)


# -- workflow steps -----------------------------------------------------------------------------------------------
def _step(agreement_id: int, do, done: str):
    agreement = _agreement_or_404(agreement_id)
    try:
        do(agreement)
        db.session.commit()
    except AgreementError as exc:
        db.session.rollback()
        return _render_detail(agreement_id, error=exc, status=exc.status)
    flash(done, "success")
    return redirect(url_for(".agreement_detail", agreement_id=agreement_id))


@bp.post("/agreements/<int:agreement_id>/submit")
@roles_required(*WRITER_ROLES)
def agreement_submit(agreement_id):
    return _step(agreement_id, lambda a: submit_agreement(a, current_user, request.form.get("note")),
                 _("Submitted for approval."))


@bp.post("/agreements/<int:agreement_id>/return")
@roles_required(*WRITER_ROLES)
def agreement_return(agreement_id):
    return _step(agreement_id, lambda a: return_to_draft(a, current_user, request.form.get("reason")),
                 _("Returned to draft."))


@bp.post("/agreements/<int:agreement_id>/approve")
@roles_required(*WRITER_ROLES)
def agreement_approve(agreement_id):
    return _step(agreement_id, lambda a: approve_agreement(a, current_user, request.form.get("note")),
                 _("Approved: the agreement is active."))


@bp.post("/agreements/<int:agreement_id>/terminate")
@roles_required(*WRITER_ROLES)
def agreement_terminate(agreement_id):
    return _step(agreement_id, lambda a: terminate_agreement(a, current_user, request.form.get("reason")),
                 _("The agreement is terminated."))


# -- distributors without a valid agreement or licence ------------------------------------------------------------
@bp.get("/agreement-gaps")
@roles_required(*STAFF)
def agreement_gaps_page():
    return render_template("distribution/agreement_gaps.html", gaps=agreement_gaps(), today=clock.today(),
                           reason_label=gap_reason_label)


@bp.get("/agreement-gaps/export.xlsx")
@roles_required(*STAFF)
def agreement_gaps_export():
    return xlsx_response(reports.gaps_workbook(agreement_gaps()), "distributors-without-agreement.xlsx")
