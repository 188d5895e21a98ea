"""Users, roles, API tokens, the audit log and notifications."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, CheckConstraint, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import AppendOnly, Audited, ManufacturerOnly, TenantScoped, TimestampMixin, utcnow
from app.models.masterdata import Distributor


class Role(enum.StrEnum):
    ADMIN = "admin"
    CHANNEL_MANAGER = "channel_manager"
    FINANCE = "finance"
    DISTRIBUTOR = "distributor"
    VIEWER = "viewer"


ROLE_VALUES = tuple(r.value for r in Role)


class User(UserMixin, TenantScoped, TimestampMixin, Audited, db.Model):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(20))
    distributor_id: Mapped[int | None] = mapped_column(ForeignKey("distributor.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str | None] = mapped_column(String(8))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    distributor: Mapped[Distributor | None] = relationship()

    __audit_exclude__ = ("created_at", "updated_at", "password_hash", "last_login_at")

    __table_args__ = (
        CheckConstraint(
            "role in ('admin', 'channel_manager', 'finance', 'distributor', 'viewer')", name="role"
        ),
        CheckConstraint(
            "(role = 'distributor' and distributor_id is not null)"
            " or (role <> 'distributor' and distributor_id is null)",
            name="distributor_binding",
        ),
    )

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    @property
    def is_distributor(self) -> bool:
        return self.role == Role.DISTRIBUTOR.value

    def has_role(self, *roles: str) -> bool:
        return self.role in roles

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"


class ApiToken(ManufacturerOnly, db.Model):
    """A bearer token for a distributor's system. Only a SHA-256 of the secret is stored; revocable."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<ApiToken {self.prefix}… user={self.user_id}>"


class AuditLog(AppendOnly, ManufacturerOnly, db.Model):
    """Append-only: who changed what, when, before → after. Never updated or deleted (see app.audit)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    entity_type: Mapped[str] = mapped_column(String(60), index=True)
    entity_id: Mapped[str | None] = mapped_column(String(60), index=True)
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(40))

    def __repr__(self) -> str:
        return f"<AuditLog {self.action} {self.entity_type}#{self.entity_id}>"


class Notification(TenantScoped, db.Model):
    """An alert for a role (and, when set, one distributor). ``dedupe_key`` keeps a job from repeating itself."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    audience_role: Mapped[str] = mapped_column(String(20))
    distributor_id: Mapped[int | None] = mapped_column(ForeignKey("distributor.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(300))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"<Notification {self.kind} {self.dedupe_key}>"
