"""Models of distribution: sell-in orders (订单), their lines, shipments and shipped lots.

An :class:`Order` belongs to one distributor; its status moves as :mod:`distribution.orders` says
(approved | credit_hold → rejected / partially_shipped → shipped, or cancelled). Quantities are whole base units;
``entered_quantity`` / ``entered_unit`` keep what the person typed (cases or base units). Money is Decimal: unit
prices to 4 places, amounts to 2 (ROUND_HALF_UP, see :mod:`distribution.pricing`).

Every child row repeats the order's ``distributor_id`` so tenant scoping (:mod:`app.tenancy`) applies to it
directly.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models import Audited, Distributor, Product, StockLocation, TenantScoped, TimestampMixin, User
from app.models.base import utcnow
from inventory.models import Lot, StockMovement

__all__ = ["OrderStatus", "Order", "OrderLine", "Shipment", "ShipmentLine"]

MONEY = Numeric(14, 2)
PRICE = Numeric(14, 4)


class OrderStatus(enum.StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    CREDIT_HOLD = "credit_hold"
    REJECTED = "rejected"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


_STATUSES = ", ".join(f"'{s.value}'" for s in OrderStatus)


class Order(TenantScoped, TimestampMixin, Audited, db.Model):
    __tablename__ = "sales_order"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=OrderStatus.DRAFT.value, index=True)
    on_date: Mapped[date] = mapped_column(Date)  # the business date the order is priced and checked on
    total: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    placed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    placed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # the credit check's answer: reasons of a hold (user language, as credit wrote them) and the shortfall
    credit_reasons: Mapped[list] = mapped_column(JSON, default=list)
    credit_shortfall: Mapped[Decimal | None] = mapped_column(MONEY)
    credit_exposure: Mapped[Decimal | None] = mapped_column(MONEY)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    amended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)

    distributor: Mapped[Distributor] = relationship()
    placed_by: Mapped[User | None] = relationship(foreign_keys=[placed_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    cancelled_by: Mapped[User | None] = relationship(foreign_keys=[cancelled_by_id])
    lines: Mapped[list[OrderLine]] = relationship(back_populates="order", cascade="all, delete-orphan",
                                                  order_by="OrderLine.line_no")
    shipments: Mapped[list[Shipment]] = relationship(back_populates="order", order_by="Shipment.id")

    __table_args__ = (
        CheckConstraint(f"status in ({_STATUSES})", name="status"),
        CheckConstraint("total >= 0", name="total_nonneg"),
    )

    @property
    def shipped_amount(self) -> Decimal:
        return sum((s.amount for s in self.shipments), Decimal("0.00"))

    def __repr__(self) -> str:
        return f"<Order {self.number} {self.status} {self.total}>"


class OrderLine(TenantScoped, Audited, db.Model):
    __tablename__ = "sales_order_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id", ondelete="CASCADE"), index=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    entered_quantity: Mapped[int] = mapped_column(Integer)
    entered_unit: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[int] = mapped_column(Integer)  # base units
    unit_price: Mapped[Decimal] = mapped_column(PRICE)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    price_rule: Mapped[str | None] = mapped_column(String(32))
    price_explanation: Mapped[str] = mapped_column(Text, default="")
    shipped_quantity: Mapped[int] = mapped_column(Integer, default=0)

    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()

    __table_args__ = (
        UniqueConstraint("order_id", "line_no"),
        CheckConstraint("quantity > 0 and entered_quantity > 0", name="quantity_positive"),
        CheckConstraint("entered_unit in ('base', 'case')", name="entered_unit"),
        CheckConstraint("shipped_quantity >= 0 and shipped_quantity <= quantity", name="shipped_range"),
        CheckConstraint("unit_price >= 0 and amount >= 0", name="money_nonneg"),
    )

    @property
    def backorder(self) -> int:
        """Ordered but not (yet) shipped, in base units."""
        return self.quantity - (self.shipped_quantity or 0)

    def __repr__(self) -> str:
        return f"<OrderLine {self.order_id}#{self.line_no} product={self.product_id} qty={self.quantity}>"


class Shipment(TenantScoped, Audited, db.Model):
    __tablename__ = "shipment"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(48), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id"), index=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"), index=True)
    on_date: Mapped[date] = mapped_column(Date, index=True)
    shipped_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    shipped_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    from_location_id: Mapped[int] = mapped_column(ForeignKey("stock_location.id"))
    to_location_id: Mapped[int] = mapped_column(ForeignKey("stock_location.id"))
    amount: Mapped[Decimal] = mapped_column(MONEY)  # invoiced: Σ line amounts
    invoice_reference: Mapped[str | None] = mapped_column(String(80))  # the receivable credit posted for it

    order: Mapped[Order] = relationship(back_populates="shipments")
    shipped_by: Mapped[User | None] = relationship()
    from_location: Mapped[StockLocation] = relationship(foreign_keys=[from_location_id])
    to_location: Mapped[StockLocation] = relationship(foreign_keys=[to_location_id])
    lines: Mapped[list[ShipmentLine]] = relationship(back_populates="shipment", cascade="all, delete-orphan",
                                                     order_by="ShipmentLine.id")

    __table_args__ = (CheckConstraint("amount >= 0", name="amount_nonneg"),)

    def __repr__(self) -> str:
        return f"<Shipment {self.number} order={self.order_id}>"


class ShipmentLine(TenantScoped, Audited, db.Model):
    __tablename__ = "shipment_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipment.id", ondelete="CASCADE"), index=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("sales_order_line.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lot.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(PRICE)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    movement_id: Mapped[int] = mapped_column(ForeignKey("stock_movement.id"))

    shipment: Mapped[Shipment] = relationship(back_populates="lines")
    order_line: Mapped[OrderLine] = relationship()
    lot: Mapped[Lot] = relationship()
    movement: Mapped[StockMovement] = relationship()

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    def __repr__(self) -> str:
        return f"<ShipmentLine {self.shipment_id} lot={self.lot_id} qty={self.quantity}>"
