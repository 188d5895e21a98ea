"""Models of returns (退货) and recalls (召回).

A :class:`ReturnRequest` belongs to one distributor; its status moves only in :mod:`distribution.returns`
(requested → approved | rejected; approved → received → disposed → credited). Every child row repeats the
``distributor_id`` so tenant scoping (:mod:`app.tenancy`) applies to it directly. :class:`ReturnEvent` is the
history the distributor sees (the audit log is manufacturer-only). :class:`ReturnCreditSource` records which
shipment line (and so which invoice and price) each credited unit came from, so no shipped unit is credited twice.

Attachments are stored in the database, content-addressed per distributor (:class:`ReturnFile`, unique on
distributor × SHA-256), so every web machine serves them and one distributor can never reach another's file even
by its hash.

A :class:`Recall` names lots (:class:`RecallLot`) and keeps, per lot and holding location, what was held when it
was opened (:class:`RecallHolding`, manufacturer-only): the baseline of recovered versus outstanding.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models import Audited, Distributor, ManufacturerOnly, Product, StockLocation, TenantScoped, User
from app.models.base import AppendOnly, utcnow
from inventory.models import Lot, StockMovement

__all__ = ["ReturnStatus", "ReturnReason", "Disposition", "ReturnRequest", "ReturnLine", "ReturnEvent",
           "ReturnFile", "ReturnAttachment", "ReturnCreditSource", "RecallStatus", "Recall", "RecallLot",
           "RecallHolding"]

MONEY = Numeric(14, 2)
PRICE = Numeric(14, 4)


class ReturnStatus(enum.StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    RECEIVED = "received"
    DISPOSED = "disposed"
    CREDITED = "credited"


class ReturnReason(enum.StrEnum):
    NEAR_EXPIRY = "near_expiry"
    DAMAGED_IN_TRANSIT = "damaged_in_transit"
    QUALITY_COMPLAINT = "quality_complaint"
    RECALL = "recall"
    WRONG_SHIPMENT = "wrong_shipment"
    OVERSTOCK = "overstock"


class Disposition(enum.StrEnum):
    RESTOCK = "restock"  # back to the manufacturer's warehouse as saleable
    DESTROY = "destroy"  # written off


def _in(values) -> str:
    return ", ".join(f"'{v.value}'" for v in values)


class ReturnRequest(TenantScoped, Audited, db.Model):
    __tablename__ = "return_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=ReturnStatus.REQUESTED.value, index=True)
    recall_id: Mapped[int | None] = mapped_column(ForeignKey("recall.id"), index=True)
    on_date: Mapped[date] = mapped_column(Date)  # the business date it was requested on
    note: Mapped[str | None] = mapped_column(Text)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    received_on: Mapped[date | None] = mapped_column(Date)
    quarantine_location_id: Mapped[int | None] = mapped_column(ForeignKey("stock_location.id"))
    disposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    disposed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    credited_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    credited_on: Mapped[date | None] = mapped_column(Date)
    credit_reference: Mapped[str | None] = mapped_column(String(60), unique=True)  # the AR credit memo
    gross_amount: Mapped[Decimal | None] = mapped_column(MONEY)  # Σ credited lines at the original prices
    restocking_fee: Mapped[Decimal | None] = mapped_column(MONEY)
    credit_amount: Mapped[Decimal | None] = mapped_column(MONEY)  # gross − fee: what the memo credits

    distributor: Mapped[Distributor] = relationship()
    recall: Mapped[Recall | None] = relationship(back_populates="returns")
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    quarantine_location: Mapped[StockLocation | None] = relationship()
    lines: Mapped[list[ReturnLine]] = relationship(back_populates="request", cascade="all, delete-orphan",
                                                   order_by="ReturnLine.line_no")
    events: Mapped[list[ReturnEvent]] = relationship(back_populates="request", order_by="ReturnEvent.id")
    attachments: Mapped[list[ReturnAttachment]] = relationship(back_populates="request",
                                                               order_by="ReturnAttachment.id")

    __table_args__ = (
        CheckConstraint(f"status in ({_in(ReturnStatus)})", name="status"),
        CheckConstraint("credit_amount is null or credit_amount >= 0", name="credit_nonneg"),
    )

    @property
    def quantity(self) -> int:
        return sum(ln.quantity for ln in self.lines)

    def __repr__(self) -> str:
        return f"<ReturnRequest {self.number} {self.status}>"


class ReturnLine(TenantScoped, Audited, db.Model):
    __tablename__ = "return_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("return_request.id", ondelete="CASCADE"), index=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    lot_id: Mapped[int] = mapped_column(ForeignKey("lot.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)  # requested, base units
    reason: Mapped[str] = mapped_column(String(24))
    serial: Mapped[str | None] = mapped_column(String(40))  # from a scanned pack (21), kept for the record
    restocking_fee_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("0"))
    received_quantity: Mapped[int | None] = mapped_column(Integer)
    receipt_movement_id: Mapped[int | None] = mapped_column(ForeignKey("stock_movement.id"))
    disposition: Mapped[str | None] = mapped_column(String(8))
    disposition_movement_id: Mapped[int | None] = mapped_column(ForeignKey("stock_movement.id"))
    gross_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    restocking_fee: Mapped[Decimal | None] = mapped_column(MONEY)

    request: Mapped[ReturnRequest] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()
    lot: Mapped[Lot] = relationship()
    receipt_movement: Mapped[StockMovement | None] = relationship(foreign_keys=[receipt_movement_id])
    disposition_movement: Mapped[StockMovement | None] = relationship(foreign_keys=[disposition_movement_id])
    sources: Mapped[list[ReturnCreditSource]] = relationship(back_populates="line", order_by="ReturnCreditSource.id")

    __table_args__ = (
        UniqueConstraint("request_id", "line_no"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("received_quantity is null or (received_quantity >= 0 and received_quantity <= quantity)",
                        name="received_range"),
        CheckConstraint(f"reason in ({_in(ReturnReason)})", name="reason"),
        CheckConstraint(f"disposition is null or disposition in ({_in(Disposition)})", name="disposition"),
        CheckConstraint("restocking_fee_pct >= 0 and restocking_fee_pct <= 100", name="fee_pct"),
    )

    def __repr__(self) -> str:
        return f"<ReturnLine {self.request_id}#{self.line_no} lot={self.lot_id} qty={self.quantity}>"


class ReturnEvent(AppendOnly, TenantScoped, db.Model):
    """One step of a return (requested, approved, rejected, received, disposed, credited), shown to its distributor.
    Only ever inserted."""

    __tablename__ = "return_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("return_request.id", ondelete="CASCADE"), index=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor: Mapped[str] = mapped_column(String(100))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)

    request: Mapped[ReturnRequest] = relationship(back_populates="events")

    def __repr__(self) -> str:
        return f"<ReturnEvent {self.request_id} {self.from_status}→{self.to_status}>"


class ReturnFile(TenantScoped, db.Model):
    """The bytes of an attachment, addressed by their SHA-256 within one distributor (stored once)."""

    __tablename__ = "return_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(40))  # sniffed from the bytes, never the client's claim
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False, deferred=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("distributor_id", "sha256"), CheckConstraint("size > 0", name="size_pos"))

    def __repr__(self) -> str:
        return f"<ReturnFile {self.sha256[:12]} {self.content_type} {self.size}>"


class ReturnAttachment(TenantScoped, db.Model):
    __tablename__ = "return_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("return_request.id", ondelete="CASCADE"), index=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"), index=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("return_file.id"))
    filename: Mapped[str] = mapped_column(String(200))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    request: Mapped[ReturnRequest] = relationship(back_populates="attachments")
    file: Mapped[ReturnFile] = relationship()

    def __repr__(self) -> str:
        return f"<ReturnAttachment {self.request_id} {self.filename!r}>"


class ReturnCreditSource(AppendOnly, TenantScoped, db.Model):
    """``quantity`` credited units of a return line priced at a shipment line's original invoice price."""

    __tablename__ = "return_credit_source"

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("return_line.id", ondelete="CASCADE"), index=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"), index=True)
    shipment_line_id: Mapped[int] = mapped_column(ForeignKey("shipment_line.id"), index=True)
    invoice_reference: Mapped[str | None] = mapped_column(String(80))
    shipped_on: Mapped[date] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(PRICE)
    amount: Mapped[Decimal] = mapped_column(MONEY)

    line: Mapped[ReturnLine] = relationship(back_populates="sources")

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    def __repr__(self) -> str:
        return f"<ReturnCreditSource line={self.line_id} shipment_line={self.shipment_line_id} qty={self.quantity}>"


class RecallStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Recall(Audited, db.Model):
    """A recall of one or more lots. Product data like a lot (a distributor may read it, e.g. the recall its own
    return names); its pages and dashboard are manufacturer staff's."""

    __tablename__ = "recall"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    recall_class: Mapped[str] = mapped_column(String(4))  # I / II / III (一级 / 二级 / 三级召回)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), default=RecallStatus.OPEN.value, index=True)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    opened_on: Mapped[date] = mapped_column(Date)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    close_note: Mapped[str | None] = mapped_column(Text)

    opened_by: Mapped[User | None] = relationship(foreign_keys=[opened_by_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])
    lots: Mapped[list[RecallLot]] = relationship(back_populates="recall", cascade="all, delete-orphan",
                                                 order_by="RecallLot.id")
    returns: Mapped[list[ReturnRequest]] = relationship(back_populates="recall", order_by="ReturnRequest.id")

    __table_args__ = (
        CheckConstraint("recall_class in ('I', 'II', 'III')", name="recall_class"),
        CheckConstraint(f"status in ({_in(RecallStatus)})", name="status"),
    )

    @property
    def is_open(self) -> bool:
        return self.status == RecallStatus.OPEN.value

    def __repr__(self) -> str:
        return f"<Recall {self.number} {self.status}>"


class RecallLot(db.Model):
    __tablename__ = "recall_lot"

    id: Mapped[int] = mapped_column(primary_key=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recall.id", ondelete="CASCADE"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lot.id"), index=True)
    previous_status: Mapped[str] = mapped_column(String(16))

    recall: Mapped[Recall] = relationship(back_populates="lots")
    lot: Mapped[Lot] = relationship()

    __table_args__ = (UniqueConstraint("recall_id", "lot_id"),)

    def __repr__(self) -> str:
        return f"<RecallLot {self.recall_id} lot={self.lot_id}>"


class RecallHolding(ManufacturerOnly, db.Model):
    """What one location held of a recalled lot when the recall was opened (the baseline of the dashboard)."""

    __tablename__ = "recall_holding"

    id: Mapped[int] = mapped_column(primary_key=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recall.id", ondelete="CASCADE"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lot.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("stock_location.id"))
    distributor_id: Mapped[int | None] = mapped_column(ForeignKey("distributor.id"))
    quantity: Mapped[int] = mapped_column(Integer)

    lot: Mapped[Lot] = relationship()
    location: Mapped[StockLocation] = relationship()
    distributor: Mapped[Distributor | None] = relationship()

    __table_args__ = (UniqueConstraint("recall_id", "lot_id", "location_id"),
                      CheckConstraint("quantity > 0", name="quantity_positive"))

    def __repr__(self) -> str:
        return f"<RecallHolding {self.recall_id} lot={self.lot_id} loc={self.location_id} {self.quantity}>"
