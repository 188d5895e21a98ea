"""HTML pages of master data: list / detail / create / edit / delete / Excel import and export, for every resource."""

from __future__ import annotations

import uuid
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from app.downloads import xlsx_response
from app.extensions import db
from app.masterdata import services
from app.masterdata.resources import RESOURCES
from app.models import AuditLog

bp = Blueprint("masterdata", __name__)
_NAMES = ",".join(RESOURCES)
PER_PAGE = 50


def _resource(name: str, action: str = "read"):
    resource = RESOURCES[name]
    roles = {"read": resource.read_roles, "write": resource.write_roles, "delete": resource.delete_roles}[action]
    if current_user.role not in roles:
        abort(403)
    return resource


def _record(resource, record_id: int):
    obj = services.get_record(resource, record_id)
    if obj is None:
        abort(404)
    return obj


def _filters(resource) -> dict:
    return {name: request.args.get(name) for name in resource.filters if request.args.get(name)}


@bp.get(f"/<any({_NAMES}):name>/")
@login_required
def list_records(name):
    resource = _resource(name)
    stmt = services.list_query(resource, request.args.get("q"), _filters(resource), request.args.get("sort"))
    page = max(request.args.get("page", 1, type=int), 1)
    items, total = services.paginate(stmt, page, PER_PAGE)
    return render_template("masterdata/list.html", resource=resource, items=items, total=total, page=page,
                           pages=max((total + PER_PAGE - 1) // PER_PAGE, 1), filters=_filters(resource))


@bp.get(f"/<any({_NAMES}):name>/<int:record_id>")
@login_required
def show_record(name, record_id):
    resource = _resource(name)
    obj = _record(resource, record_id)
    history = []
    if current_user.role in ("admin", "channel_manager", "finance"):
        history = db.session.execute(
            select(AuditLog).where(AuditLog.entity_type == resource.model.__tablename__,
                                   AuditLog.entity_id == str(obj.id)).order_by(AuditLog.at.desc()).limit(50)
        ).scalars().all()
    return render_template("masterdata/detail.html", resource=resource, obj=obj, history=history,
                           extra=resource.extra_output(obj) if resource.extra_output else {},
                           sections=[section(obj) for section in resource.related])


@bp.route(f"/<any({_NAMES}):name>/new", methods=["GET", "POST"])
@login_required
def create_record(name):
    resource = _resource(name, "write")
    if not resource.allow_create:
        abort(404)
    return _form(resource, None)


@bp.route(f"/<any({_NAMES}):name>/<int:record_id>/edit", methods=["GET", "POST"])
@login_required
def edit_record(name, record_id):
    resource = RESOURCES[name]
    if current_user.role not in resource.write_roles and not (
        current_user.is_distributor and resource.distributor_fields
    ):
        abort(403)
    return _form(resource, _record(resource, record_id))


def _form(resource, obj):
    editable = services.editable_fields(resource)
    if not editable:
        abort(403)
    values = {f.name: resource.value(obj, f) for f in resource.fields} if obj is not None else {
        f.name: f.default for f in resource.fields}
    errors: dict = {}
    if request.method == "POST":
        raw = {f.name: (request.form.get(f.name, "") if f.kind != "bool" else (f.name in request.form))
               for f in editable}
        try:
            saved = services.save_record(resource, raw, obj)
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for(".show_record", name=resource.name, record_id=saved.id))
        except services.ValidationFailed as exc:
            db.session.rollback()
            errors = exc.errors
            values.update(raw)
            flash(_("Please correct the errors below."), "danger")
    return render_template("masterdata/form.html", resource=resource, obj=obj, values=values, errors=errors,
                           editable={f.name for f in editable}), (422 if errors else 200)


@bp.post(f"/<any({_NAMES}):name>/<int:record_id>/delete")
@login_required
def delete_record(name, record_id):
    resource = _resource(name, "delete")
    obj = _record(resource, record_id)
    try:
        services.delete_record(resource, obj)
        db.session.commit()
        flash(_("Deleted."), "success")
    except services.ValidationFailed as exc:
        db.session.rollback()
        flash("; ".join(m for msgs in exc.errors.values() for m in msgs), "danger")
    return redirect(request.form.get("next") or url_for(".list_records", name=name))


@bp.get(f"/<any({_NAMES}):name>/export.xlsx")
@login_required
def export_records(name):
    resource = _resource(name)
    stmt = services.list_query(resource, request.args.get("q"), _filters(resource), request.args.get("sort"))
    rows = db.session.execute(stmt).scalars().unique().all()
    data = services.export_workbook(resource, rows)
    return xlsx_response(data, f"{name}.xlsx")


@bp.get(f"/<any({_NAMES}):name>/template.xlsx")
@login_required
def import_template(name):
    resource = _resource(name, "write")
    data = services.export_workbook(resource, [])
    return xlsx_response(data, f"{name}-template.xlsx")


@bp.route(f"/<any({_NAMES}):name>/import", methods=["GET", "POST"])
@login_required
def import_records(name):
    resource = _resource(name, "write")
    if request.method == "GET":
        return render_template("masterdata/import.html", resource=resource)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose an Excel (.xlsx) file to import."), "danger")
        return render_template("masterdata/import.html", resource=resource), 400
    try:
        result = services.import_workbook(resource, upload.stream)
        db.session.commit()
    except services.ImportFailed as exc:
        db.session.rollback()
        report = _save_error_report(exc.errors)
        flash(_("Nothing was imported: %(n)d problems found. Correct the file and upload it again.",
                n=len(exc.errors)), "danger")
        return render_template("masterdata/import.html", resource=resource, errors=exc.errors, report=report), 422
    flash(_("Imported %(rows)d rows: %(created)d created, %(updated)d updated.", rows=result.rows,
            created=result.created, updated=result.updated), "success")
    return redirect(url_for(".list_records", name=name))


def _report_dir() -> Path:
    path = Path(current_app.instance_path) / "import-reports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _save_error_report(errors) -> str:
    token = f"{current_user.id}-{uuid.uuid4().hex}"
    (_report_dir() / f"{token}.xlsx").write_bytes(services.error_report_workbook(errors))
    return token


@bp.get("/import-reports/<token>.xlsx")
@login_required
def import_report(token):
    owner, _sep, rest = token.partition("-")
    if owner != str(current_user.id) or not rest.isalnum():
        abort(404)
    path = _report_dir() / f"{token}.xlsx"
    if not path.exists():
        abort(404)
    return send_file(path, as_attachment=True, download_name="import-errors.xlsx")


@bp.get(f"/<any({_NAMES}):name>/lookup")
@login_required
def lookup(name):
    """Codes and labels for pickers (JSON, at most 20), searched by code or name."""
    resource = _resource(name)
    stmt = services.list_query(resource, request.args.get("q"), _filters(resource)).limit(20)
    rows = db.session.execute(stmt).scalars().all()
    return {"items": [{"code": r.code, "label": f"{r.code} {_label(r)}"} for r in rows]}


def _label(obj) -> str:
    return getattr(obj, "full_name", None) or getattr(obj, "name", None) or getattr(obj, "display_name", "")
