"""Error pages (HTML) and the JSON error format for /api/ requests."""

from __future__ import annotations

import logging

from flask import Flask, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.api_base import error_response
from app.auth.security import is_api_request
from app.tenancy import TenantViolation

log = logging.getLogger(__name__)


def _messages():
    return {
        400: _("The request could not be understood."),
        401: _("Please log in."),
        403: _("You do not have permission to do this."),
        404: _("The page or record was not found."),
        405: _("This method is not allowed here."),
        409: _("This conflicts with the current state of the record."),
        413: _("The uploaded file is too large."),
        422: _("This breaks a business rule."),
        429: _("Too many attempts. Please wait a minute and try again."),
        500: _("Something went wrong on our side. The error has been logged."),
    }


def _render(status: int, message: str | None = None):
    message = message or _messages().get(status, _("Error"))
    if is_api_request():
        return error_response(status, message)
    return render_template("errors/error.html", status=status, message=message), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(e):
        return _render(400, _("The form has expired or is missing its security token. Reload the page and retry."))

    @app.errorhandler(TenantViolation)
    def _tenant(e):
        log.warning("tenant violation: %s", e)
        return _render(403)

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        if isinstance(e, InternalServerError):
            return _render(500)
        if is_api_request():
            from app.api_base import api

            return api.handle_http_exception(e)
        return _render(e.code or 500)

    @app.errorhandler(Exception)
    def _unhandled(e):
        log.exception("unhandled error")
        return _render(500)
