"""Home page (by role), notifications and the health check."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, render_template
from flask_login import current_user, login_required
from sqlalchemy import func, select, text

from app import clock
from app.extensions import db
from app.models import Distributor, Notification, Product, Terminal

bp = Blueprint("core", __name__)


@bp.get("/")
@login_required
def home():
    today = clock.today()
    soon = today + timedelta(days=60)
    licence_alerts = db.session.execute(
        select(Distributor).where(Distributor.licence_expiry <= soon).order_by(Distributor.licence_expiry).limit(20)
    ).scalars().all()
    counts = {}
    if not current_user.is_distributor:
        counts = {
            "products": db.session.scalar(select(func.count()).select_from(Product).where(Product.active)),
            "distributors": db.session.scalar(select(func.count()).select_from(Distributor)),
            "terminals": db.session.scalar(select(func.count()).select_from(Terminal)),
        }
    notes = db.session.execute(
        select(Notification).where(Notification.audience_role.in_([current_user.role, "all"]),
                                   Notification.read_at.is_(None))
        .order_by(Notification.created_at.desc()).limit(20)
    ).scalars().all()
    return render_template("home.html", today=today, licence_alerts=licence_alerts, counts=counts, notes=notes)


@bp.get("/healthz")
def health():
    """Liveness for load balancers: the database answers, and Redis when it is configured."""
    status = {"database": "ok"}
    code = 200
    try:
        db.session.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        status["database"] = f"error: {type(exc).__name__}"
        code = 503
    if current_app.config.get("REDIS_URL"):
        import redis

        try:
            redis.Redis.from_url(current_app.config["REDIS_URL"], socket_timeout=2).ping()
            status["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            status["redis"] = f"error: {type(exc).__name__}"
            code = 503
    return status, code
