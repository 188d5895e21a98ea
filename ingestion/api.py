"""JSON API of channel-data ingestion under /api/v1/ingestion: submit a file (multipart), follow its status, read
its rejected rows; the review queue; mapping templates; 上报及时率; closed months. Thin: parse, call one service,
serialise. A distributor (session or bearer token) submits and sees its own submissions only."""

from __future__ import annotations

from datetime import date

from flask import abort, request
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from app.api_base import Blueprint, PageArgs, PageMeta, error_response
from app.extensions import db
from app.models import Distributor
from ingestion import closing, hooks, intake, layouts, queries, reports, review, timeliness
from ingestion.models import MappingTemplate, SubmissionStatus

blp = Blueprint("api_ingestion", __name__, url_prefix="/api/v1/ingestion",
                description="Channel data (流向): submissions, review queue, mapping templates, timeliness")

READ = ("admin", "channel_manager", "finance", "viewer", "distributor")
SUBMIT = ("admin", "channel_manager", "distributor")
STAFF = ("admin", "channel_manager")
WATCH = ("admin", "channel_manager", "finance", "viewer")


def _require(roles) -> None:
    if not current_user.is_authenticated:
        abort(401)
    if current_user.role not in roles:
        abort(403)


class SubmissionArgs(PageArgs):
    distributor = fields.String(metadata={"description": "distributor code"})
    kind = fields.String(validate=validate.OneOf(("sell_out", "purchase", "inventory")))
    status = fields.String(validate=validate.OneOf(tuple(s.value for s in SubmissionStatus)))
    month = fields.String(metadata={"description": "submissions whose period touches this month (2026-03)"})
    current = fields.Boolean(load_default=False)


class SubmissionOut(Schema):
    id = fields.Integer()
    distributor_code = fields.String(attribute="distributor.code")
    kind = fields.String()
    period_kind = fields.String()
    period_start = fields.Date()
    period_end = fields.Date()
    version = fields.Integer()
    is_current = fields.Boolean()
    status = fields.String()
    filename = fields.String()
    source = fields.String()
    sha256 = fields.String(attribute="raw_file.sha256")
    submitted_at = fields.DateTime()
    processed_at = fields.DateTime(allow_none=True)
    rows_read = fields.Integer()
    rows_accepted = fields.Integer()
    rows_rejected = fields.Integer()
    rows_review = fields.Integer()
    error_code = fields.String(allow_none=True)
    error_message = fields.String(allow_none=True)
    supersedes_id = fields.Integer(allow_none=True)


class SubmissionPage(PageMeta):
    items = fields.List(fields.Nested(SubmissionOut))


class RejectedOut(Schema):
    source_row = fields.Integer()
    reasons = fields.Function(lambda r: r.reasons.split(","))
    message = fields.Function(lambda r: reports.reason_text(r.reasons))
    raw = fields.Dict()


class RejectedPage(PageMeta):
    items = fields.List(fields.Nested(RejectedOut))


def _sub(submission_id: int):
    return queries.visible_submission(submission_id) or abort(404)


@blp.route("/submissions", methods=["POST"])
@blp.doc(requestBody={"content": {"multipart/form-data": {"schema": {"type": "object", "properties": {
    "file": {"type": "string", "format": "binary"}, "kind": {"type": "string", "enum": ["sell_out", "purchase",
                                                                                        "inventory"]},
    "period_kind": {"type": "string", "enum": ["month", "week", "day"]},
    "period": {"type": "string", "example": "2026-03"},
    "distributor_code": {"type": "string", "description": "staff only: the distributor the file is for"}}}}}})
def submit():
    """Submit a channel-data file; 202 with the submission (processed in the background: poll its status). The
    same file again is 200 with status duplicate; a file that is not a readable table is 422; too big, 413."""
    from ingestion.store import TooLarge, max_bytes
    from ingestion.views import _distributor_for_upload, enqueue

    _require(SUBMIT)
    request.max_content_length = max_bytes() + 1024 * 1024
    try:
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            return error_response(400, _("Send the file in the multipart field “file”."))
        code = request.form.get("distributor_code")
        sub = intake.receive_file(upload.stream, upload.filename, _distributor_for_upload(code),
                                  intake.parse_kind(request.form.get("kind")),
                                  intake.parse_period(request.form.get("period_kind"), request.form.get("period")),
                                  source="api", submitted_by=current_user._get_current_object())
    except intake.IntakeError as exc:
        db.session.rollback()
        return error_response(exc.status, str(exc), [{"field": f, "message": m} for f, ms in exc.errors.items()
                                                     for m in ms])
    except Exception as exc:
        from werkzeug.exceptions import RequestEntityTooLarge

        if isinstance(exc, RequestEntityTooLarge):
            return error_response(413, str(TooLarge(max_bytes())))
        raise
    sub_id, status = sub.id, sub.status
    db.session.commit()
    if status == SubmissionStatus.FAILED.value:
        return error_response(422, sub.error_message, [{"field": "file", "message": sub.error_message,
                                                        "submission_id": sub.id}], code=sub.error_code)
    if status == SubmissionStatus.RECEIVED.value:
        enqueue([sub_id])
        db.session.refresh(sub)
        return SubmissionOut().dump(sub), 202
    return SubmissionOut().dump(sub), 200


@blp.route("/submissions")
@blp.arguments(SubmissionArgs, location="query")
@blp.response(200, SubmissionPage)
def submission_list(args):
    """Submissions, newest first (a distributor: its own)."""
    _require(READ)
    items, total = queries.page(queries.submissions_query(queries.SubmissionFilters.parse(args)), args["page"],
                                args["per_page"])
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("/submissions/<int:submission_id>")
@blp.response(200, SubmissionOut)
def submission_get(submission_id):
    """One submission with its counts."""
    _require(READ)
    return _sub(submission_id)


@blp.route("/submissions/<int:submission_id>/status")
def submission_status(submission_id):
    """The status to poll while a submission is processed: counts, and the live progress while it runs."""
    _require(READ)
    return queries.status_of(_sub(submission_id))


@blp.route("/submissions/<int:submission_id>/rejected")
@blp.arguments(PageArgs, location="query")
@blp.response(200, RejectedPage)
def submission_rejected(args, submission_id):
    """The rejected rows with their reasons (codes and messages) and the row as sent."""
    _require(READ)
    sub = _sub(submission_id)
    items = list(queries.rejected_rows(sub.id, limit=args["per_page"], offset=(args["page"] - 1) * args["per_page"]))
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": sub.rows_rejected}


# -- review queue -------------------------------------------------------------------------------------------------
class ReviewItemOut(Schema):
    id = fields.Integer()
    distributor_code = fields.String(attribute="distributor.code")
    subject = fields.String()
    raw_name = fields.String()
    raw_code = fields.String(allow_none=True)
    raw_extra = fields.String(allow_none=True)
    rows_waiting = fields.Integer()
    candidates = fields.List(fields.Dict())


class ReviewArgs(Schema):
    subject = fields.String(validate=validate.OneOf(("customer", "product")))
    distributor = fields.String()


class ReviewDecision(Schema):
    id = fields.Integer(required=True)
    target_kind = fields.String(validate=validate.OneOf(("terminal", "distributor", "product")))
    target_id = fields.Integer()


class ReviewIn(Schema):
    action = fields.String(required=True, validate=validate.OneOf(("confirm", "create", "reject")))
    items = fields.List(fields.Nested(ReviewDecision), required=True, validate=validate.Length(min=1, max=1000))
    terminal_type = fields.String(validate=validate.OneOf(("hospital", "pharmacy", "clinic", "other")))
    region_code = fields.String()
    note = fields.String()


@blp.route("/review")
@blp.arguments(ReviewArgs, location="query")
@blp.response(200, ReviewItemOut(many=True))
def review_list(args):
    """Open review items (unmatched customers and products) with their candidates, most rows first."""
    _require(STAFF)
    return queries.review_items(args.get("subject"), args.get("distributor"))


@blp.route("/review", methods=["POST"])
@blp.arguments(ReviewIn)
def review_decide(data):
    """Confirm (chosen or best candidate), create terminals or reject, in bulk; the rows that no longer wait are
    loaded. 422 (nothing changed) when a decision cannot be applied."""
    _require(STAFF)
    user = current_user._get_current_object()
    ids = [d["id"] for d in data["items"]]
    try:
        if data["action"] == "confirm":
            outcome = review.confirm_items({d["id"]: (d["target_kind"], d["target_id"]) if d.get("target_id") else None
                                            for d in data["items"]}, user)
        elif data["action"] == "create":
            outcome = review.create_terminals(ids, user, data.get("terminal_type"), data.get("region_code"))
        else:
            outcome = review.reject_items(ids, user, data.get("note"))
    except review.ReviewError as exc:
        db.session.rollback()
        return error_response(422, str(exc))
    db.session.commit()
    hooks.facts_committed()  # rows the decisions loaded: their coverage refresh
    return {"resolved": outcome.resolved, "loaded": outcome.loaded, "rejected": outcome.rejected,
            "submissions": sorted(outcome.submissions)}


# -- mapping templates --------------------------------------------------------------------------------------------
class TemplateOut(Schema):
    id = fields.Integer()
    distributor_code = fields.String(attribute="distributor.code")
    kind = fields.String()
    signature = fields.String()
    headers = fields.List(fields.String())
    columns = fields.Dict()
    confirmed_at = fields.DateTime(allow_none=True)


class TemplateIn(Schema):
    columns = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True), required=True)


@blp.route("/templates")
@blp.response(200, TemplateOut(many=True))
def template_list():
    """Mapping templates (a distributor: its own), those to confirm first."""
    _require(SUBMIT)
    return queries.templates(request.args.get("distributor"))


@blp.route("/templates/<int:template_id>", methods=["PUT"])
@blp.arguments(TemplateIn)
@blp.response(200, TemplateOut)
def template_confirm(data, template_id):
    """Save and confirm a mapping ({field: header}); the submissions waiting for it are processed. 422 lists
    the fields in error."""
    from ingestion.views import enqueue

    _require(SUBMIT)
    tpl = db.session.execute(select(MappingTemplate).where(MappingTemplate.id == template_id)).scalar_one_or_none()
    if tpl is None:
        abort(404)
    try:
        waiting = layouts.confirm_template(tpl, data["columns"], current_user._get_current_object())
    except layouts.TemplateError as exc:
        db.session.rollback()
        return error_response(422, str(exc), [{"field": f, "message": m} for f, ms in exc.errors.items() for m in ms])
    tpl_id = tpl.id
    db.session.commit()
    enqueue(waiting)
    return db.session.get(MappingTemplate, tpl_id)


# -- 上报及时率 and closed months ---------------------------------------------------------------------------------
@blp.route("/timeliness")
def timeliness_get():
    """Per distributor × kind × month: on time / late / missing / open, with the rates (``months``: 1–12)."""
    _require(WATCH)
    count = min(max(request.args.get("months", 3, type=int), 1), 12)
    grid = timeliness.timeliness(timeliness.recent_months(count), None, request.args.get("distributor"))
    return {"months": [m.isoformat() for m in grid.months], "kinds": grid.kinds, "rate": grid.rate,
            "distributors": [{"code": r.code, "name": r.name, "rate": r.rate, "due": r.due_count,
                              "on_time": r.on_time,
                              "reports": [{"kind": k, "month": m.isoformat(), "status": c.status,
                                           "due": c.due.isoformat(),
                                           "submitted": c.submitted.isoformat() if c.submitted else None,
                                           "submission_id": c.submission_id}
                                          for (k, m), c in sorted(r.cells.items())]} for r in grid.rows]}


class ClosingIn(Schema):
    month = fields.String(required=True, validate=validate.Regexp(r"^\d{4}-\d{2}$"))
    distributor_code = fields.String()
    note = fields.String()


@blp.route("/closings", methods=["POST"])
@blp.arguments(ClosingIn)
def close_month(data):
    """Close a month for one distributor or everybody; 409 when it is already closed."""
    _require(STAFF)
    dist = None
    if data.get("distributor_code"):
        dist = db.session.execute(select(Distributor).where(Distributor.code == data["distributor_code"])
                                  ).scalar_one_or_none()
        if dist is None:
            return error_response(422, _("Unknown code %(code)s.", code=data["distributor_code"]))
    try:
        row = closing.close_month(date.fromisoformat(data["month"] + "-01"), dist, current_user._get_current_object(),
                                  data.get("note"))
    except closing.ClosingError as exc:
        db.session.rollback()
        return error_response(409, str(exc))
    db.session.commit()
    return {"id": row.id, "month": row.month.isoformat(), "distributor_code": dist.code if dist else None}, 201
