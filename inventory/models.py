"""Lots, the append-only stock ledger and the balances it maintains."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
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
from app.models import Product, StockLocation, Terminal
from app.models.base import AppendOnly, Audited, TenantScoped, utcnow


class LotStatus(enum.StrEnum):
    RELEASED = "released"
    QUARANTINED = "quarantined"
    RECALLED = "recalled"


class MovementKind(enum.StrEnum):
    OPENING = "opening"  # opening balance, imported once
    RECEIPT = "receipt"  # from production into a manufacturer warehouse
    SHIPMENT = "shipment"  # manufacturer → distributor (sell-in)
    TRANSFER = "transfer"  # distributor → distributor (tier-1 → tier-2, as reported)
    SELL_OUT = "sell_out"  # distributor → terminal (as reported)
    RETURN = "return"  # distributor → manufacturer / quarantine
    ADJUSTMENT = "adjustment"  # stock count correction, + or −
    WRITE_OFF = "write_off"  # destroyed


class Lot(Audited, db.Model):
    """A lot (批号) of one product with its manufacture and expiry (有效期至, usable through that day)."""

    __tablename__ = "lot"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    lot_no: Mapped[str] = mapped_column(String(40))
    manufactured_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16), default=LotStatus.RELEASED.value)
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    product: Mapped[Product] = relationship()

    __table_args__ = (
        UniqueConstraint("product_id", "lot_no"),
        CheckConstraint("expires_on > manufactured_on", name="expiry_after_manufacture"),
        CheckConstraint("status in ('released', 'quarantined', 'recalled')", name="status"),
    )

    @property
    def blocked(self) -> bool:
        return self.status != LotStatus.RELEASED.value

    def __repr__(self) -> str:
        return f"<Lot {self.lot_no} product={self.product_id} exp={self.expires_on}>"


class StockMovement(AppendOnly, TenantScoped, db.Model):
    """One line of the append-only ledger: ``quantity`` base units of a lot from one place to another.

    ``from_location`` is empty for stock entering the channel (receipt, opening, positive adjustment); ``to_location``
    is empty for stock leaving it (sell-out to a terminal, write-off, negative adjustment). Never updated or deleted
    (an ORM guard and a database trigger); a correction is a new movement. A distributor user sees the movements
    touching its own locations (tenant keys on both sides).
    """

    __tablename__ = "stock_movement"
    __tenant_key__ = ("from_distributor_id", "to_distributor_id")

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    business_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    lot_id: Mapped[int] = mapped_column(ForeignKey("lot.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    from_location_id: Mapped[int | None] = mapped_column(ForeignKey("stock_location.id"))
    to_location_id: Mapped[int | None] = mapped_column(ForeignKey("stock_location.id"))
    from_distributor_id: Mapped[int | None] = mapped_column(ForeignKey("distributor.id"), index=True)
    to_distributor_id: Mapped[int | None] = mapped_column(ForeignKey("distributor.id"), index=True)
    terminal_id: Mapped[int | None] = mapped_column(ForeignKey("terminal.id"), index=True)
    reference: Mapped[str | None] = mapped_column(String(80), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    # a reversal: the same kind and lot in the opposite direction, taking back (part of) the movement it names
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("stock_movement.id"))

    lot: Mapped[Lot] = relationship()
    from_location: Mapped[StockLocation | None] = relationship(foreign_keys=[from_location_id])
    to_location: Mapped[StockLocation | None] = relationship(foreign_keys=[to_location_id])
    terminal: Mapped[Terminal | None] = relationship()

    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("from_location_id is not null or to_location_id is not null", name="has_a_side"),
        CheckConstraint(
            "kind in ('opening', 'receipt', 'shipment', 'transfer', 'sell_out', 'return', 'adjustment', 'write_off')",
            name="kind",
        ),
        Index("ix_stock_movement_lot_id_id", "lot_id", "id"),
        Index("ix_stock_movement_from_location_id", "from_location_id", "lot_id"),
        Index("ix_stock_movement_to_location_id", "to_location_id", "lot_id"),
        # what of a movement has been reversed (a resubmission reverses every posting of the version it replaces)
        Index("ix_stock_movement_reverses_id", "reverses_id", postgresql_where=text("reverses_id is not null"),
              sqlite_where=text("reverses_id is not null")),
    )

    def __repr__(self) -> str:
        return f"<StockMovement {self.kind} lot={self.lot_id} qty={self.quantity}>"


class StockBalance(TenantScoped, db.Model):
    """On hand per location × lot, kept in the same transaction as each movement; never below zero."""

    __tablename__ = "stock_balance"

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("stock_location.id"))
    lot_id: Mapped[int] = mapped_column(ForeignKey("lot.id"), index=True)
    distributor_id: Mapped[int | None] = mapped_column(ForeignKey("distributor.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    location: Mapped[StockLocation] = relationship()
    lot: Mapped[Lot] = relationship()

    __table_args__ = (
        UniqueConstraint("location_id", "lot_id"),
        CheckConstraint("quantity >= 0", name="not_negative"),
    )

    def __repr__(self) -> str:
        return f"<StockBalance loc={self.location_id} lot={self.lot_id} qty={self.quantity}>"
