"""Rows of a submission that did not (yet) become facts, and what posting its facts into channel stock left open.

* A :class:`ReviewItem` is one distinct unmatched customer (or product) of one distributor, with the top candidates
  the matcher found; it waits for a person (confirm a candidate, create a terminal, reject). Several rows, across
  submissions, wait on the same item.
* A :class:`PendingRow` is a validated row that waits for its review items. Confirming them loads it into its
  submission's facts (if that submission is still current) exactly once (``status`` moves from waiting to loaded
  under a row lock); rejecting one makes it a rejected row.
* A :class:`RejectedRow` is kept forever with its reasons (codes of ``ingestion.cleaning.REASONS`` and of the
  pipeline) and the raw cells, for the submitter's Excel report.
* A :class:`StockShortfall` records reported outflow the ledger could not take (more sell-out of a lot than our
  computed stock at the distributor's location): the facts count, the stock never goes below zero, and the gap is
  shown on the submission report.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models import Distributor, Product, User
from app.models.base import ManufacturerOnly, TenantScoped, utcnow

BIGID = BigInteger().with_variant(Integer, "sqlite")


class ReviewItem(ManufacturerOnly, db.Model):
    """An unmatched customer or product of one distributor, waiting for a person (channel managers only: the
    candidates are our terminal master data)."""

    __tablename__ = "review_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"), index=True)
    subject: Mapped[str] = mapped_column(String(8))  # customer | product
    key_kind: Mapped[str] = mapped_column(String(8))  # code | name (the alias a confirmation creates)
    key: Mapped[str] = mapped_column(String(300))
    raw_name: Mapped[str] = mapped_column(String(300))
    raw_code: Mapped[str | None] = mapped_column(String(100))
    raw_extra: Mapped[str | None] = mapped_column(String(300))  # specification (products), region text (customers)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"))
    candidates: Mapped[list] = mapped_column(JSON, default=list)  # [{"id", "score", "label"}], best first
    rows_waiting: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(12), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    terminal_id: Mapped[int | None] = mapped_column(ForeignKey("terminal.id"))
    to_distributor_id: Mapped[int | None] = mapped_column(ForeignKey("distributor.id"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id"))
    note: Mapped[str | None] = mapped_column(Text)

    distributor: Mapped[Distributor] = relationship(foreign_keys=[distributor_id])
    resolved_by: Mapped[User | None] = relationship()

    __table_args__ = (
        CheckConstraint("subject in ('customer', 'product')", name="subject"),
        CheckConstraint("status in ('open', 'confirmed', 'created', 'rejected')", name="status"),
        Index("uq_review_item_open_key", "distributor_id", "subject", "key_kind", "key", unique=True,
              postgresql_where=text("status = 'open'"), sqlite_where=text("status = 'open'")),
    )

    def __repr__(self) -> str:
        return f"<ReviewItem {self.subject} d={self.distributor_id} {self.key!r} {self.status}>"


class PendingRow(TenantScoped, db.Model):
    """A validated row waiting for its review items (``values``: the normalised fields, JSON-safe)."""

    __tablename__ = "pending_row"

    id: Mapped[int] = mapped_column(BIGID, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"), index=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"))
    source_row: Mapped[int] = mapped_column(Integer)
    customer_item_id: Mapped[int | None] = mapped_column(ForeignKey("review_item.id"), index=True)
    product_item_id: Mapped[int | None] = mapped_column(ForeignKey("review_item.id"), index=True)
    values: Mapped[dict] = mapped_column(JSON)
    raw: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="waiting")

    __table_args__ = (
        CheckConstraint("status in ('waiting', 'loaded', 'rejected', 'superseded')", name="status"),
        CheckConstraint("customer_item_id is not null or product_item_id is not null", name="waits_on_something"),
    )

    def __repr__(self) -> str:
        return f"<PendingRow sub={self.submission_id} row={self.source_row} {self.status}>"


class RejectedRow(TenantScoped, db.Model):
    """A row that will not be loaded, with its reasons (codes, comma-separated) and the raw cells."""

    __tablename__ = "rejected_row"

    id: Mapped[int] = mapped_column(BIGID, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"), index=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"))
    source_row: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[str] = mapped_column(String(300))
    detail: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict] = mapped_column(JSON)

    def __repr__(self) -> str:
        return f"<RejectedRow sub={self.submission_id} row={self.source_row} {self.reasons}>"


class StockShortfall(TenantScoped, db.Model):
    """Reported outflow of a lot the distributor's computed stock could not cover (posted less than reported)."""

    __tablename__ = "stock_shortfall"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"), index=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("stock_location.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id"))
    requested: Mapped[int] = mapped_column(Integer)
    posted: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(40))

    product: Mapped[Product] = relationship()

    def __repr__(self) -> str:
        return f"<StockShortfall sub={self.submission_id} p={self.product_id} {self.posted}/{self.requested}>"
