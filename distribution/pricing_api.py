"""JSON API of distribution: pricing."""

from app.api_base import Blueprint

blp = Blueprint("api_pricing", __name__, url_prefix="/api/v1", description="pricing")
