"""Shared column types and mixins."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.orm import Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, nullable=False
    )


class TenantScoped:
    """Rows owned by one distributor. A distributor user reads and writes only rows whose tenant key is its own.

    ``__tenant_key__`` names the column holding the distributor id (``id`` for the distributor itself).
    Enforced for every query in :mod:`app.tenancy`; nothing view-specific.
    """

    __tenant_key__ = "distributor_id"
    # True: rows whose tenant key is null are shared reference rows every distributor user may read (never write),
    # e.g. the tier price lists beside each distributor's own list.
    __tenant_shared__ = False


class ManufacturerOnly:
    """Rows a distributor user may never read or write (terminal master data, target lists, audit, tokens)."""


class AppendOnly:
    """Ledger rows: inserted, never updated or deleted (guarded at flush in app.audit and by a database trigger)."""


class Audited:
    """Inserts, updates and deletes of these rows are written to the audit log with before / after values."""

    __audit_exclude__: tuple[str, ...] = ("created_at", "updated_at", "password_hash")
