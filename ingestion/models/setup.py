"""Set-up of ingestion, kept per distributor: mapping templates, aliases, reporting schedules (due days), closed
periods and drop-folder sources.

* A :class:`MappingTemplate` maps one column layout (``signature``, see ``ingestion.mapping.layout_signature``) of one
  distributor and kind to the canonical fields. It is proposed automatically from the headers and counts only once
  a person confirmed it (``confirmed_at``); a submission with an unconfirmed layout waits (``needs_mapping``).
* Aliases are what a confirmed match leaves behind, so next month's file matches by itself: a distributor's customer
  code or normalised name → one of our terminals or a tier-2 distributor; a distributor's product code or normalised
  name + specification → one of our products.
* A :class:`PeriodClosing` closes a calendar month for one distributor (or all, ``distributor_id`` null): a
  submission overlapping a closed month is refused as a whole.
* A :class:`ReportingSchedule` sets the due day of one distributor's reports of one kind (null distributor: the
  default for everybody), for the 上报及时率.
* A :class:`DropSource` is a place a distributor's files are picked up from (a folder today; the ``kind`` column
  leaves room for SFTP or HTTP sources, see ``ingestion.sources``), with the files seen there (:class:`DropFile`).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models import Distributor, Product, Terminal, User
from app.models.base import Audited, ManufacturerOnly, TenantScoped, utcnow


class MappingTemplate(TenantScoped, Audited, db.Model):
    """Which header of one distributor's layout holds which canonical field (``columns``: {field: header})."""

    __tablename__ = "mapping_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(64))
    headers: Mapped[list] = mapped_column(JSON)
    columns: Mapped[dict] = mapped_column(JSON)
    confidence: Mapped[float | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    distributor: Mapped[Distributor] = relationship()
    confirmed_by: Mapped[User | None] = relationship()

    __table_args__ = (UniqueConstraint("distributor_id", "kind", "signature"),
                      CheckConstraint("kind in ('sell_out', 'purchase', 'inventory')", name="kind"))

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None

    def __repr__(self) -> str:
        return f"<MappingTemplate d={self.distributor_id} {self.kind} {self.signature[:8]}>"


class CustomerAlias(TenantScoped, Audited, db.Model):
    """A distributor's customer (by its code, or by its normalised name) is one of our terminals or a distributor."""

    __tablename__ = "customer_alias"

    id: Mapped[int] = mapped_column(primary_key=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"))
    key_kind: Mapped[str] = mapped_column(String(8))  # code | name
    key: Mapped[str] = mapped_column(String(200))  # the customer code as sent, or the normalised name
    raw_name: Mapped[str | None] = mapped_column(String(200))
    terminal_id: Mapped[int | None] = mapped_column(ForeignKey("terminal.id"), index=True)
    to_distributor_id: Mapped[int | None] = mapped_column(ForeignKey("distributor.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    terminal: Mapped[Terminal | None] = relationship()
    to_distributor: Mapped[Distributor | None] = relationship(foreign_keys=[to_distributor_id])

    __table_args__ = (
        UniqueConstraint("distributor_id", "key_kind", "key"),
        CheckConstraint("key_kind in ('code', 'name')", name="key_kind"),
        CheckConstraint("(terminal_id is null) <> (to_distributor_id is null)", name="one_target"),
    )

    def __repr__(self) -> str:
        return f"<CustomerAlias d={self.distributor_id} {self.key_kind}:{self.key}>"


class ProductAlias(TenantScoped, Audited, db.Model):
    """A distributor's product (by its code, or by normalised name + specification) is one of our products."""

    __tablename__ = "product_alias"

    id: Mapped[int] = mapped_column(primary_key=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"))
    key_kind: Mapped[str] = mapped_column(String(8))  # code | name
    key: Mapped[str] = mapped_column(String(300))
    raw_name: Mapped[str | None] = mapped_column(String(300))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    product: Mapped[Product] = relationship()

    __table_args__ = (UniqueConstraint("distributor_id", "key_kind", "key"),
                      CheckConstraint("key_kind in ('code', 'name')", name="key_kind"))

    def __repr__(self) -> str:
        return f"<ProductAlias d={self.distributor_id} {self.key_kind}:{self.key}>"


class PeriodClosing(TenantScoped, Audited, db.Model):
    """A closed calendar month (``month`` = its first day) for one distributor or, with no distributor, for all."""

    __tablename__ = "period_closing"
    __tenant_shared__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    distributor_id: Mapped[int | None] = mapped_column(ForeignKey("distributor.id"))
    month: Mapped[date] = mapped_column(Date)
    closed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    note: Mapped[str | None] = mapped_column(Text)

    distributor: Mapped[Distributor | None] = relationship()
    closed_by: Mapped[User | None] = relationship()

    __table_args__ = (
        Index("uq_period_closing_month_distributor", "month", "distributor_id", unique=True,
              postgresql_where=text("distributor_id is not null"), sqlite_where=text("distributor_id is not null")),
        Index("uq_period_closing_month_all", "month", unique=True,
              postgresql_where=text("distributor_id is null"), sqlite_where=text("distributor_id is null")),
    )

    def __repr__(self) -> str:
        return f"<PeriodClosing {self.month:%Y-%m} d={self.distributor_id}>"


class ReportingSchedule(TenantScoped, Audited, db.Model):
    """When one distributor's reports of one kind are due: ``due_day`` days after the period ends (a monthly report
    for March with due_day 5 is due on 5 April). No distributor: the default for everybody."""

    __tablename__ = "reporting_schedule"
    __tenant_shared__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    distributor_id: Mapped[int | None] = mapped_column(ForeignKey("distributor.id"))
    kind: Mapped[str] = mapped_column(String(16))
    period_kind: Mapped[str] = mapped_column(String(8), default="month")
    due_day: Mapped[int] = mapped_column(Integer)
    expected: Mapped[bool] = mapped_column(Boolean, default=True)  # False: this distributor does not send this kind

    distributor: Mapped[Distributor | None] = relationship()

    __table_args__ = (
        Index("uq_reporting_schedule_distributor_kind", "distributor_id", "kind", unique=True,
              postgresql_where=text("distributor_id is not null"), sqlite_where=text("distributor_id is not null")),
        Index("uq_reporting_schedule_default_kind", "kind", unique=True,
              postgresql_where=text("distributor_id is null"), sqlite_where=text("distributor_id is null")),
        CheckConstraint("due_day between 0 and 60", name="due_day"),
        CheckConstraint("kind in ('sell_out', 'purchase', 'inventory')", name="kind"),
        CheckConstraint("period_kind in ('day', 'week', 'month')", name="period_kind"),
    )

    def __repr__(self) -> str:
        return f"<ReportingSchedule d={self.distributor_id} {self.kind} +{self.due_day}>"


class DropSource(ManufacturerOnly, Audited, db.Model):
    """Where a distributor's files are picked up on a schedule. ``kind`` 'folder': ``location`` is a directory
    path on the worker machines (see ingestion.sources for adding SFTP / HTTP)."""

    __tablename__ = "drop_source"

    id: Mapped[int] = mapped_column(primary_key=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="folder")
    location: Mapped[str] = mapped_column(String(500))
    pattern: Mapped[str] = mapped_column(String(100), default="*")
    data_kind: Mapped[str | None] = mapped_column(String(16))  # None: detected from the headers
    period_kind: Mapped[str] = mapped_column(String(8), default="month")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_scan_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    distributor: Mapped[Distributor] = relationship()

    __table_args__ = (CheckConstraint("kind in ('folder')", name="kind"),)

    def __repr__(self) -> str:
        return f"<DropSource {self.kind} {self.location}>"


class DropFile(ManufacturerOnly, db.Model):
    """A file seen in a drop source: picked up once its size and modification time stayed the same between two
    scans (a half-copied file is left alone), then never again unless its content changes."""

    __tablename__ = "drop_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("drop_source.id"), index=True)
    name: Mapped[str] = mapped_column(String(500))
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    picked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submission.id"))
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("source_id", "name"),)

    def __repr__(self) -> str:
        return f"<DropFile {self.name} {self.size}B>"
