"""JSON API of master data under /api/v1/<resource>, generated from the resource definitions."""

from __future__ import annotations

from flask import abort, request
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import Schema, fields

from app.api_base import Blueprint, PageArgs, PageMeta, error_response, field_details
from app.extensions import db
from app.masterdata import services
from app.masterdata.resources import RESOURCES


def _require(roles) -> None:
    if not current_user.is_authenticated:
        abort(401)
    if current_user.role not in roles:
        abort(403)


def validation_error(exc: services.ValidationFailed):
    details = field_details(exc.errors)
    return error_response(422, _("The record was not saved: %(n)d problems.", n=len(details)), details)


def import_error(exc: services.ImportFailed):
    details = [{"row": e.row, "column": e.column, "value": e.value, "message": e.message} for e in exc.errors]
    return error_response(422, _("Nothing was imported: %(n)d problems found.", n=len(details)), details)


def _list_args_schema(resource) -> type[Schema]:
    attrs = {
        "q": fields.String(metadata={"description": "search in " + ", ".join(resource.search)}),
        "sort": fields.String(metadata={"description": "field name, '-' prefix for descending"}),
    }
    for name in resource.filters:
        attrs[name] = fields.String()
    camel = "".join(p.capitalize() for p in resource.name.split("_"))
    return type(f"{camel}ListArgs", (PageArgs,), attrs)


def _page_schema(resource) -> type[Schema]:
    camel = "".join(p.capitalize() for p in resource.name.split("_"))
    return type(f"{camel}Page", (PageMeta,), {"items": fields.List(fields.Nested(resource.output_schema()))})


class _ImportResultSchema(Schema):
    rows = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()


def make_blueprint(resource) -> Blueprint:
    blp = Blueprint(f"api_{resource.name}", __name__, url_prefix=f"/api/v1/{resource.name}",
                    description=str(resource.label_plural))
    out = resource.output_schema()
    body = resource.input_schema()
    list_args = _list_args_schema(resource)

    class Collection(MethodView):
        @blp.arguments(list_args, location="query")
        @blp.response(200, _page_schema(resource))
        def get(self, args):
            """List, searched, filtered and paginated."""
            _require(resource.read_roles)
            filters = {k: args[k] for k in resource.filters if k in args}
            stmt = services.list_query(resource, args.get("q"), filters, args.get("sort"))
            items, total = services.paginate(stmt, args["page"], args["per_page"])
            return {"items": [services.serialise(resource, o) for o in items], "page": args["page"],
                    "per_page": args["per_page"], "total": total}

        if resource.allow_create and resource.write_roles:

            @blp.arguments(body)
            @blp.response(201, out)
            def post(self, data):
                """Create."""
                _require(resource.write_roles)
                try:
                    obj = services.save_record(resource, data)
                except services.ValidationFailed as exc:
                    db.session.rollback()
                    return validation_error(exc)
                db.session.commit()
                return services.serialise(resource, obj)

    class Item(MethodView):
        @blp.response(200, out)
        def get(self, record_id):
            """One record."""
            _require(resource.read_roles)
            obj = services.get_record(resource, record_id) or abort(404)
            return services.serialise(resource, obj)

        if resource.write_roles:

            @blp.arguments(resource.patch_schema())
            @blp.response(200, out)
            def patch(self, data, record_id):
                """Change some fields (a distributor user may change only its own contact fields)."""
                _require(resource.write_roles + (("distributor",) if resource.distributor_fields else ()))
                obj = services.get_record(resource, record_id) or abort(404)
                try:
                    services.save_record(resource, data, obj, partial=True)
                except services.ValidationFailed as exc:
                    db.session.rollback()
                    return validation_error(exc)
                db.session.commit()
                return services.serialise(resource, obj)

        if resource.delete_roles:

            @blp.response(204)
            def delete(self, record_id):
                """Delete."""
                _require(resource.delete_roles)
                obj = services.get_record(resource, record_id) or abort(404)
                try:
                    services.delete_record(resource, obj)
                except services.ValidationFailed as exc:
                    db.session.rollback()
                    return validation_error(exc)
                db.session.commit()

    blp.add_url_rule("", endpoint="collection", view_func=Collection)
    blp.add_url_rule("/<int:record_id>", endpoint="item", view_func=Item)

    if resource.write_roles:

        @blp.route("/import", methods=["POST"])
        @blp.response(200, _ImportResultSchema)
        @blp.doc(requestBody={"content": {"multipart/form-data": {"schema": {
            "type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}}}})
        def import_xlsx():
            """Create or update from an .xlsx (same columns as the export); all or nothing."""
            _require(resource.write_roles)
            upload = request.files.get("file")
            if upload is None:
                return error_response(400, _("Send the Excel file in the multipart field “file”."))
            try:
                result = services.import_workbook(resource, upload.stream)
            except services.ImportFailed as exc:
                db.session.rollback()
                return import_error(exc)
            db.session.commit()
            return {"rows": result.rows, "created": result.created, "updated": result.updated}

    return blp


def register_api(api) -> None:
    from app.auth.api import blp as auth_blp

    for resource in RESOURCES.values():
        api.register_blueprint(make_blueprint(resource))
    api.register_blueprint(auth_blp)
