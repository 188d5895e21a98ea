"""Who am I: lets a distributor system check its token."""

from __future__ import annotations

from flask import abort
from flask_login import current_user
from marshmallow import Schema, fields

from app.api_base import Blueprint

blp = Blueprint("api_me", __name__, url_prefix="/api/v1/me", description="The authenticated user")


class MeSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    distributor_code = fields.String(allow_none=True)


@blp.route("")
@blp.response(200, MeSchema)
def me():
    """The user the session or bearer token belongs to."""
    if not current_user.is_authenticated:
        abort(401)
    return {"id": current_user.id, "username": current_user.username, "display_name": current_user.display_name,
            "role": current_user.role,
            "distributor_code": current_user.distributor.code if current_user.distributor else None}
