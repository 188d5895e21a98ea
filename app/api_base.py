"""The JSON API under /api/v1: flask-smorest for OpenAPI, with the project's error format.

Errors are ``{"error": {"code": "...", "message": "...", "details": [...]}}``; bad input is 400,
business rules 422, state conflicts 409.
"""

from __future__ import annotations

from flask import jsonify
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Api as _SmorestApi
from flask_smorest import Blueprint  # noqa: F401  (re-exported for the domain packages)
from flask_smorest.arguments import ArgumentsMixin
from marshmallow import Schema, fields, validate
from sqlalchemy import select
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from app.extensions import db
from app.models import Distributor


class PageArgs(Schema):
    """Query arguments of every paginated list endpoint."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class PageMeta(Schema):
    """The paging fields of every list response (subclasses add ``items``)."""

    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class _Parser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400


ArgumentsMixin.ARGUMENTS_PARSER = _Parser()

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "business_rule",
    429: "rate_limited",
    500: "server_error",
}


def _flatten(messages, prefix=""):
    """webargs/marshmallow nested error dicts → a flat list of {field, message}."""
    out = []
    if isinstance(messages, dict):
        for key, val in messages.items():
            if key in ("json", "query", "form", "files", "headers") and not prefix:
                out.extend(_flatten(val, ""))
            else:
                out.extend(_flatten(val, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(messages, list | tuple):
        if all(isinstance(m, str) for m in messages):
            from app.masterdata.services import translate_validation_message

            out.extend({"field": prefix or None, "message": translate_validation_message(m)} for m in messages)
        else:
            for m in messages:
                out.extend(_flatten(m, prefix))
    else:
        out.append({"field": prefix or None, "message": str(messages)})
    return out


def error_response(status: int, message: str, details=None, code: str | None = None):
    body = {"error": {"code": code or _CODES.get(status, "error"), "message": message, "details": details or []}}
    return jsonify(body), status


def field_details(errors) -> list[dict]:
    """A service's ``{field: [message, ...]}`` (``"_"`` for the whole request) as the API's error details."""
    return [{"field": None if k == "_" else k, "message": m} for k, msgs in errors.items() for m in msgs]


def requested_distributor(code: str | None, *, not_own: Exception, unknown: type):
    """The distributor an API request is for: a distributor user's own (naming another raises ``not_own``); staff
    name it by code (an unknown code raises ``unknown(message, {"distributor_code": [...]})``)."""
    if current_user.is_distributor:
        if code and code != current_user.distributor.code:
            raise not_own
        return current_user.distributor
    d = db.session.execute(select(Distributor).where(Distributor.code == (code or ""))).scalar_one_or_none()
    if d is None:
        raise unknown(_("Unknown distributor."), {"distributor_code": [_("Unknown distributor.")]})
    return d


def refused(exc):
    """The response for a refused service call (an exception with ``status``, ``message`` and ``errors``): the
    transaction is rolled back first, so nothing of the refused request stays."""
    db.session.rollback()
    return error_response(exc.status, exc.message, field_details(exc.errors))


class Api(_SmorestApi):
    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        details = _flatten(data.get("messages", {})) if "messages" in data else data.get("details", [])
        status = error.code or 500
        message = data.get("message")
        if not message:
            from app.errors import _messages

            message = _("Invalid input.") if details else _messages().get(status, error.name)
        resp, status = error_response(status, message, details, data.get("code"))
        if status == 429 or error.get_headers():
            for k, v in error.get_headers():
                if k.lower() != "content-type":
                    resp.headers[k] = v
        return resp, status


api = Api()
