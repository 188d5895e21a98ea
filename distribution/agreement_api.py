"""JSON API of distribution: agreement."""

from app.api_base import Blueprint

blp = Blueprint("api_agreement", __name__, url_prefix="/api/v1", description="agreement")
