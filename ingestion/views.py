"""HTML pages of ingestion: submissions (list, upload with progress, detail with live status, rejected-rows Excel,
the raw file), the review queue, mapping templates, 上报及时率, closed months and drop sources. Thin: parse, call
one service, render; each POST commits once."""

from __future__ import annotations

from datetime import date

from flask import abort, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from app.auth.security import roles_required
from app.downloads import xlsx_response
from app.extensions import db
from app.models import Distributor
from ingestion import (
    bp,
    closing,
    hooks,
    intake,
    layouts,
    mapping,
    pipeline,
    queries,
    reports,
    review,
    store,
    timeliness,
)
from ingestion.models import DataKind, DropSource, MappingTemplate, PeriodClosing, PeriodKind, SubmissionStatus

READ = ("admin", "channel_manager", "finance", "viewer", "distributor")
SUBMIT = ("admin", "channel_manager", "distributor")
STAFF = ("admin", "channel_manager")
WATCH = ("admin", "channel_manager", "finance", "viewer")
PER_PAGE = 50


@bp.context_processor
def _helpers():
    return {"kind_label": pipeline.kind_label, "status_label": pipeline.status_label,
            "source_label": pipeline.source_label,
            "kinds": [k.value for k in DataKind], "period_kinds": [k.value for k in PeriodKind],
            "statuses": [s.value for s in SubmissionStatus],
            "field_labels": layouts.field_labels(), "reason_text": reports.reason_text,
            "is_staff": current_user.is_authenticated and current_user.role in STAFF}


def _submission(submission_id: int):
    return queries.visible_submission(submission_id) or abort(404)


def _distributor_for_upload(code: str | None) -> Distributor:
    if current_user.is_distributor:
        return db.session.get(Distributor, current_user.distributor_id)
    dist = db.session.execute(select(Distributor).where(Distributor.code == (code or "").strip())
                              ).scalar_one_or_none()
    if dist is None:
        raise intake.IntakeError({"distributor": [_("Choose the distributor the file is for.")]})
    return dist


def _optional_distributor(code: str | None) -> Distributor | None:
    """A distributor by code; None for an empty code; ValueError for an unknown one."""
    code = (code or "").strip()
    if not code:
        return None
    dist = db.session.execute(select(Distributor).where(Distributor.code == code)).scalar_one_or_none()
    if dist is None:
        raise ValueError(_("Unknown code %(code)s.", code=code))
    return dist


def _decide(action, errors, done: str, back: str):
    """Run one service call: commit and say ``done``, or roll back and say why; back to ``back`` either way."""
    try:
        action()
    except errors as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return redirect(back)
    db.session.commit()
    flash(done, "success")
    return redirect(back)


def enqueue(submission_ids) -> None:
    from ingestion.tasks import process_submission

    for sub_id in submission_ids:
        process_submission.delay(sub_id)


# -- submissions --------------------------------------------------------------------------------------------------
@bp.get("/")
@roles_required(*READ)
def submissions():
    filters = queries.SubmissionFilters.parse(request.args)
    page_no = max(request.args.get("page", 1, type=int), 1)
    items, total = queries.page(queries.submissions_query(filters), page_no, PER_PAGE)
    return render_template("ingestion/submissions.html", items=items, total=total, page=page_no, filters=filters,
                           pages=max((total + PER_PAGE - 1) // PER_PAGE, 1))


@bp.route("/upload", methods=["GET", "POST"])
@roles_required(*SUBMIT)
def upload():
    if request.method == "GET":
        return _upload_form()
    request.max_content_length = store.max_bytes() + 1024 * 1024
    try:
        upload_file = request.files.get("file")
        if upload_file is None or not upload_file.filename:
            raise intake.IntakeError({"file": [_("Choose a file.")]})
        sub = intake.receive_file(upload_file.stream, upload_file.filename,
                                  _distributor_for_upload(request.form.get("distributor")),
                                  intake.parse_kind(request.form.get("kind")),
                                  intake.parse_period(request.form.get("period_kind"), request.form.get("period")),
                                  source="upload", submitted_by=current_user._get_current_object())
    except RequestEntityTooLarge:
        return _upload_form([str(store.TooLarge(store.max_bytes()))], 413)
    except intake.IntakeError as exc:
        db.session.rollback()
        return _upload_form([m for msgs in exc.errors.values() for m in msgs], exc.status)
    sub_id, received = sub.id, sub.status == SubmissionStatus.RECEIVED.value
    db.session.commit()
    if received:
        enqueue([sub_id])
    return redirect(url_for(".submission", submission_id=sub_id))


def _upload_form(errors=None, status=200):
    dists = [] if current_user.is_distributor else db.session.execute(
        select(Distributor.code, Distributor.name).where(Distributor.status == "active").order_by(Distributor.code)
    ).all()
    return render_template("ingestion/upload.html", errors=errors or [], distributors=dists,
                           max_mb=store.max_bytes() // (1024 * 1024), form=request.form), status


@bp.get("/submissions/<int:submission_id>")
@roles_required(*READ)
def submission(submission_id):
    sub = _submission(submission_id)
    return render_template("ingestion/submission.html", sub=sub, state=queries.status_of(sub),
                           rejected=list(queries.rejected_rows(sub.id, limit=100)),
                           waiting=queries.waiting_rows(sub.id), versions=queries.versions(sub),
                           shortfalls=queries.shortfalls(sub.id), outcome=pipeline.outcome_text(sub))


@bp.get("/submissions/<int:submission_id>/status")
@roles_required(*READ)
def submission_status(submission_id):
    return jsonify(queries.status_of(_submission(submission_id)))


@bp.get("/submissions/<int:submission_id>/rejected.xlsx")
@roles_required(*READ)
def rejected_export(submission_id):
    sub = _submission(submission_id)
    return xlsx_response(reports.rejected_workbook(sub), f"rejected-{sub.id}.xlsx")


@bp.get("/submissions/<int:submission_id>/file")
@roles_required(*READ)
def raw_file(submission_id):
    sub = _submission(submission_id)
    try:
        path = store.path_of(sub.raw_file.storage_path)
    except FileNotFoundError:
        abort(404)
    return send_file(path, as_attachment=True, download_name=sub.filename, mimetype="application/octet-stream")


@bp.post("/submissions/<int:submission_id>/retry")
@roles_required(*STAFF)
def retry(submission_id):
    sub = _submission(submission_id)
    if sub.status != SubmissionStatus.PROCESSING.value:
        abort(409)
    enqueue([sub.id])
    flash(_("Submission %(id)d was queued again.", id=sub.id), "info")
    return redirect(url_for(".submission", submission_id=sub.id))


# -- review queue -------------------------------------------------------------------------------------------------
@bp.get("/review")
@roles_required(*STAFF)
def review_queue():
    subject, dist = request.args.get("subject"), (request.args.get("distributor") or "").strip() or None
    items = queries.review_items(subject, dist)
    return render_template("ingestion/review.html", items=items, subject=subject, distributor=dist,
                           children=queries.children_of({i.distributor_id for i in items}),
                           suggested={i.id: review.suggested(i) for i in items})


@bp.post("/review")
@roles_required(*STAFF)
def review_decide():
    ids = [int(i) for i in request.form.getlist("item") if i.isdigit()]
    action = request.form.get("action")
    user = current_user._get_current_object()
    if not ids:
        flash(_("Select at least one item."), "warning")
        return redirect(url_for(".review_queue", **request.args))
    try:
        if action == "confirm":
            outcome = review.confirm_items({i: _choice(i) for i in ids}, user, choice_required=True)
        elif action == "create":
            outcome = review.create_terminals(ids, user, request.form.get("terminal_type") or None,
                                              (request.form.get("region_code") or "").strip() or None)
        elif action == "reject":
            outcome = review.reject_items(ids, user, request.form.get("note"))
        else:
            abort(400)
    except review.ReviewError as exc:
        db.session.rollback()
        flash(str(exc), "warning" if isinstance(exc, review.ChoiceMissing) else "danger")
        return redirect(url_for(".review_queue", **request.args))
    db.session.commit()
    hooks.facts_committed()  # rows the decisions loaded: their coverage refresh
    flash(_("%(n)d items resolved: %(loaded)d rows loaded, %(rejected)d rows rejected.", n=outcome.resolved,
            loaded=outcome.loaded, rejected=outcome.rejected), "success")
    return redirect(url_for(".review_queue", **request.args))


def _choice(item_id: int):
    value = (request.form.get(f"target_{item_id}") or "").strip()
    if ":" in value:
        kind, _sep, target = value.partition(":")
        if target.isdigit():
            return kind, int(target)
    if value.startswith("D=") and len(value) > 2:  # a tier-2 distributor by code
        d_id = db.session.execute(select(Distributor.id).where(Distributor.code == value[2:])).scalar()
        return ("distributor", d_id) if d_id else ("distributor", 0)
    return None


# -- mapping templates --------------------------------------------------------------------------------------------
@bp.get("/templates")
@roles_required(*SUBMIT)
def templates():
    return render_template("ingestion/templates.html", templates=queries.templates(
        (request.args.get("distributor") or "").strip() or None))


@bp.route("/templates/<int:template_id>", methods=["GET", "POST"])
@roles_required(*SUBMIT)
def template(template_id):
    tpl = db.session.execute(select(MappingTemplate).where(MappingTemplate.id == template_id)).scalar_one_or_none()
    if tpl is None:
        abort(404)
    errors = {}
    if request.method == "POST":
        columns = {f: request.form.get(f"field_{f}") or None for f in mapping.FIELDS[tpl.kind]}
        try:
            waiting = layouts.confirm_template(tpl, columns, current_user._get_current_object())
        except layouts.TemplateError as exc:
            db.session.rollback()
            errors = exc.errors
        else:
            tpl_id = tpl.id
            db.session.commit()
            enqueue(waiting)
            flash(_("Mapping confirmed; %(n)d waiting submissions were sent to processing.", n=len(waiting)),
                  "success")
            return redirect(url_for(".template", template_id=tpl_id))
    return render_template("ingestion/template.html", tpl=tpl, fields=mapping.FIELDS[tpl.kind], errors=errors,
                           required={g[0] for g in mapping.REQUIRED[tpl.kind]}, used=queries.template_usage(tpl.id)), \
        422 if errors else 200


# -- 上报及时率 --------------------------------------------------------------------------------------------------
@bp.get("/timeliness")
@roles_required(*WATCH)
def timeliness_page():
    count = min(max(request.args.get("months", 3, type=int), 1), 12)
    grid = timeliness.timeliness(timeliness.recent_months(count), None,
                                 (request.args.get("distributor") or "").strip() or None)
    schedules, default_due = timeliness.schedules()
    return render_template("ingestion/timeliness.html", grid=grid, months_count=count, schedules=schedules,
                           default_due=default_due)


@bp.post("/timeliness/schedule")
@roles_required(*STAFF)
def schedule_save():
    form = request.form
    return _decide(lambda: timeliness.set_due_day(_optional_distributor(form.get("distributor")),
                                                  intake.parse_kind(form.get("kind")), int(form.get("due_day") or -1),
                                                  form.get("expected", "1") == "1"),
                   (ValueError, intake.IntakeError), _("Due day saved."), url_for(".timeliness_page"))


# -- closed months ------------------------------------------------------------------------------------------------
@bp.get("/closings")
@roles_required(*WATCH)
def closings():
    rows = db.session.execute(select(PeriodClosing).order_by(PeriodClosing.month.desc())).scalars().all()
    return render_template("ingestion/closings.html", rows=rows)


@bp.post("/closings")
@roles_required(*STAFF)
def close():
    raw = (request.form.get("month") or "").strip()
    try:
        month = date.fromisoformat(raw + "-01")
    except ValueError:
        flash(_("Give the month as 2026-03."), "danger")
        return redirect(url_for(".closings"))
    return _decide(lambda: closing.close_month(month, _optional_distributor(request.form.get("distributor")),
                                               current_user._get_current_object(), request.form.get("note")),
                   ValueError, _("%(month)s closed.", month=month.strftime("%Y-%m")), url_for(".closings"))


@bp.post("/closings/<int:closing_id>/reopen")
@roles_required(*STAFF)
def reopen(closing_id):
    row = db.session.get(PeriodClosing, closing_id) or abort(404)
    user = current_user._get_current_object()
    return _decide(lambda: closing.reopen_month(row, user, request.form.get("reason", "")), closing.ClosingError,
                   _("Month reopened."), url_for(".closings"))


# -- drop sources -------------------------------------------------------------------------------------------------
@bp.get("/sources")
@roles_required(*STAFF)
def sources_page():
    rows = db.session.execute(select(DropSource).order_by(DropSource.id)).scalars().all()
    return render_template("ingestion/sources.html", rows=rows)


@bp.post("/sources")
@roles_required(*STAFF)
def source_save():
    from ingestion import sources

    return _decide(lambda: sources.save_source(request.form, source_id=request.form.get("id", type=int)),
                   sources.SourceError, _("Drop source saved."), url_for(".sources_page"))
