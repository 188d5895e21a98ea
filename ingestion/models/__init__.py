"""Models of channel-data ingestion (流向): raw files, submissions and the fact tables they load.

The contract other packages rely on (distribution's coverage analytics, inventory's reported-stock seam):

* A :class:`Submission` is one file of one kind (sell-out, purchase, inventory snapshot) from one distributor for one
  period. For each (distributor, kind, period) at most one submission is **current** (``is_current``, enforced by a
  partial unique index): a resubmission replaces the previous one atomically and the old version is kept with status
  ``superseded``. Facts of non-current submissions are kept but never counted.
* Facts (:class:`SellOutFact`, :class:`PurchaseFact`, :class:`InventoryFact`) are loaded in bulk, never updated; they
  carry the submission id (the one foreign key), the reporting distributor and the resolved master-data ids. Those ids
  have no foreign keys: the pipeline resolves and validates every one before the COPY, master data is deactivated,
  never deleted, and a per-row key check on each of six columns cost more than the COPY itself. Quantities are
  integers in the
  product's base unit; money is Decimal (unit prices 4 places, amounts 2).
* Whoever keeps aggregates of these facts registers a listener with :func:`ingestion.hooks.on_facts_changed` and is
  called in the same transaction whenever a submission's facts start or stop counting.

Every row carries ``distributor_id`` (the reporting distributor), so tenant scoping (:mod:`app.tenancy`) applies.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

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
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models import Distributor, Product, TenantScoped, User
from app.models.base import utcnow

MONEY = Numeric(14, 2)
PRICE = Numeric(14, 4)


class DataKind(enum.StrEnum):
    SELL_OUT = "sell_out"  # 纯销 / 调拨: lines sold to terminals or to tier-2 distributors
    PURCHASE = "purchase"  # 采购: what a tier-2 bought from a tier-1
    INVENTORY = "inventory"  # 库存: a stock snapshot on a date


class PeriodKind(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class SubmissionStatus(enum.StrEnum):
    RECEIVED = "received"  # raw file kept, waiting for the worker
    NEEDS_MAPPING = "needs_mapping"  # a new column layout: a person confirms the proposed mapping once
    PROCESSING = "processing"
    LOADED = "loaded"  # facts loaded and counting (rows waiting for review may still be pending)
    FAILED = "failed"  # rejected as a whole (bad file, wrong distributor, closed period ...): nothing loaded
    DUPLICATE = "duplicate"  # the same file (content hash) was already submitted: nothing done
    SUPERSEDED = "superseded"  # replaced by a newer version for the same distributor, kind and period


_KINDS = ", ".join(f"'{k.value}'" for k in DataKind)
_PERIODS = ", ".join(f"'{k.value}'" for k in PeriodKind)
_STATUSES = ", ".join(f"'{k.value}'" for k in SubmissionStatus)


class RawFile(db.Model):
    """A received file, kept immutably and addressed by its content hash (SHA-256 of the bytes)."""

    __tablename__ = "raw_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    storage_path: Mapped[str] = mapped_column(String(500))  # relative to the configured raw-file store
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def __repr__(self) -> str:
        return f"<RawFile {self.sha256[:12]} {self.size}B>"


class Submission(TenantScoped, db.Model):
    """One distributor's file of one kind for one period (see the module docstring for the contract)."""

    __tablename__ = "submission"

    id: Mapped[int] = mapped_column(primary_key=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    period_kind: Mapped[str] = mapped_column(String(8))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=SubmissionStatus.RECEIVED.value)
    raw_file_id: Mapped[int] = mapped_column(ForeignKey("raw_file.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(16))  # upload | api | drop_folder
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("submission.id"))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_accepted: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    rows_review: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)
    # added by the pipeline (issue 6): how the period was set, the layout used, tries, notes for the report
    period_source: Mapped[str] = mapped_column(String(8), default="given")  # given | filename | data
    template_id: Mapped[int | None] = mapped_column(ForeignKey("mapping_template.id"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    notes: Mapped[dict | None] = mapped_column(JSON)

    distributor: Mapped[Distributor] = relationship()
    raw_file: Mapped[RawFile] = relationship()
    submitted_by: Mapped[User | None] = relationship()
    supersedes: Mapped[Submission | None] = relationship(remote_side=[id])
    template: Mapped[MappingTemplate | None] = relationship("MappingTemplate")

    __table_args__ = (
        CheckConstraint(f"kind in ({_KINDS})", name="kind"),
        CheckConstraint(f"period_kind in ({_PERIODS})", name="period_kind"),
        CheckConstraint(f"status in ({_STATUSES})", name="status"),
        CheckConstraint("period_end >= period_start", name="period_order"),
        CheckConstraint("not is_current or status = 'loaded'", name="current_is_loaded"),
        Index("uq_submission_current", "distributor_id", "kind", "period_start", "period_end", unique=True,
              postgresql_where=text("is_current"), sqlite_where=text("is_current")),
        Index("ix_submission_distributor_kind_period", "distributor_id", "kind", "period_start"),
    )

    def __repr__(self) -> str:
        return f"<Submission {self.id} {self.kind} d={self.distributor_id} {self.period_start}..{self.period_end}>"


class SellOutFact(TenantScoped, db.Model):
    """A reported sell-out line: to a terminal (纯销) or to another distributor (调拨, ``to_distributor_id``)."""

    __tablename__ = "sell_out_fact"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"))
    distributor_id: Mapped[int] = mapped_column(Integer)
    source_row: Mapped[int] = mapped_column(Integer)  # the line number in the raw file (1-based, header included)
    business_date: Mapped[date] = mapped_column(Date)
    terminal_id: Mapped[int | None] = mapped_column(Integer)
    to_distributor_id: Mapped[int | None] = mapped_column(Integer)
    region_id: Mapped[int | None] = mapped_column(Integer)  # the customer's region
    product_id: Mapped[int] = mapped_column(Integer)
    lot_id: Mapped[int | None] = mapped_column(Integer)
    lot_no: Mapped[str | None] = mapped_column(String(40))
    expires_on: Mapped[date | None] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer)  # base units; negative for a reported return line
    unit_price: Mapped[Decimal | None] = mapped_column(PRICE)
    amount: Mapped[Decimal | None] = mapped_column(MONEY)

    product: Mapped[Product] = relationship(primaryjoin="foreign(SellOutFact.product_id) == Product.id",
                                            viewonly=True)

    __table_args__ = (
        CheckConstraint("(terminal_id is null) <> (to_distributor_id is null)", name="one_customer"),
        CheckConstraint("quantity <> 0", name="quantity_nonzero"),
        Index("ix_sell_out_fact_submission_id", "submission_id"),
        Index("ix_sell_out_fact_distributor_date", "distributor_id", "business_date"),
        Index("ix_sell_out_fact_terminal_product", "terminal_id", "product_id", "business_date"),
        Index("ix_sell_out_fact_lot_id", "lot_id"),
    )

    def __repr__(self) -> str:
        return f"<SellOutFact {self.id} sub={self.submission_id} p={self.product_id} q={self.quantity}>"


class PurchaseFact(TenantScoped, db.Model):
    """A reported purchase line: what the reporting (tier-2) distributor bought from a supplier distributor."""

    __tablename__ = "purchase_fact"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"))
    distributor_id: Mapped[int] = mapped_column(Integer)
    source_row: Mapped[int] = mapped_column(Integer)
    business_date: Mapped[date] = mapped_column(Date)
    supplier_distributor_id: Mapped[int | None] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(Integer)
    lot_id: Mapped[int | None] = mapped_column(Integer)
    lot_no: Mapped[str | None] = mapped_column(String(40))
    expires_on: Mapped[date | None] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal | None] = mapped_column(PRICE)
    amount: Mapped[Decimal | None] = mapped_column(MONEY)

    __table_args__ = (
        CheckConstraint("quantity <> 0", name="quantity_nonzero"),
        Index("ix_purchase_fact_submission_id", "submission_id"),
        Index("ix_purchase_fact_distributor_date", "distributor_id", "business_date"),
    )

    def __repr__(self) -> str:
        return f"<PurchaseFact {self.id} sub={self.submission_id} p={self.product_id} q={self.quantity}>"


class InventoryFact(TenantScoped, db.Model):
    """A reported stock line: the distributor held ``quantity`` of a product (and lot) on ``as_of``."""

    __tablename__ = "inventory_fact"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"))
    distributor_id: Mapped[int] = mapped_column(Integer)
    source_row: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[date] = mapped_column(Date)
    product_id: Mapped[int] = mapped_column(Integer)
    lot_id: Mapped[int | None] = mapped_column(Integer)
    lot_no: Mapped[str | None] = mapped_column(String(40))
    expires_on: Mapped[date | None] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_nonneg"),
        Index("ix_inventory_fact_submission_id", "submission_id"),
        Index("ix_inventory_fact_distributor_as_of", "distributor_id", "as_of"),
    )

    def __repr__(self) -> str:
        return f"<InventoryFact {self.id} sub={self.submission_id} p={self.product_id} q={self.quantity}>"


# the rest of ingestion's tables (templates, aliases, review queue, rejected rows, closings, sources, postings)
from ingestion.models.rows import PendingRow, RejectedRow, ReviewItem, StockShortfall  # noqa: E402, F401
from ingestion.models.setup import (  # noqa: E402, F401
    CustomerAlias,
    DropFile,
    DropSource,
    MappingTemplate,
    PeriodClosing,
    ProductAlias,
    ReportingSchedule,
)
