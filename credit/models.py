"""Credit accounts, temporary increases, order reservations and the append-only receivables (AR) ledger.

Balances, open items and aging are never stored: they are derived from :class:`ReceivableEntry` (signed amounts:
invoices and positive adjustments are debits, payments, credit memos and negative adjustments are credits) and
:class:`ReceivableAllocation` (which credit settled which debit, how much). Both tables are append-only.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
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
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models import Distributor, User
from app.models.base import AppendOnly, Audited, TenantScoped, TimestampMixin, utcnow

MONEY = Numeric(14, 2)


class ReservationStatus(enum.StrEnum):
    ACTIVE = "active"  # approved, counts in exposure until invoiced / released
    HELD = "held"  # credit hold: waits for finance; does not count
    RELEASED = "released"  # order cancelled (or its rest released)
    REJECTED = "rejected"  # finance rejected the held order
    CLOSED = "closed"  # fully invoiced


class EntryKind(enum.StrEnum):
    INVOICE = "invoice"
    PAYMENT = "payment"
    CREDIT_MEMO = "credit_memo"
    ADJUSTMENT = "adjustment"


class CreditAccount(TenantScoped, TimestampMixin, Audited, db.Model):
    """A distributor's credit terms: limit (授信额度), rating, payment terms (账期), grace days and a manual hold.

    The row is also the per-distributor lock: every exposure-changing step takes ``SELECT … FOR UPDATE`` on it.
    """

    __tablename__ = "credit_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"), unique=True)
    credit_limit: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    rating: Mapped[str | None] = mapped_column(String(8))
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=30)
    grace_days: Mapped[int] = mapped_column(Integer, default=0)
    manual_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    hold_reason: Mapped[str | None] = mapped_column(Text)

    distributor: Mapped[Distributor] = relationship()

    __table_args__ = (
        CheckConstraint("credit_limit >= 0", name="limit_nonneg"),
        CheckConstraint("payment_terms_days >= 0 and payment_terms_days <= 3650", name="payment_terms"),
        CheckConstraint("grace_days >= 0 and grace_days <= 3650", name="grace_days"),
    )

    def __repr__(self) -> str:
        return f"<CreditAccount distributor={self.distributor_id} limit={self.credit_limit}>"


class TemporaryIncrease(TenantScoped, Audited, db.Model):
    """A temporary raise of the limit, valid from / to (both days inclusive)."""

    __tablename__ = "credit_temporary_increase"

    id: Mapped[int] = mapped_column(primary_key=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    approved_by: Mapped[User | None] = relationship()

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_pos"),
        CheckConstraint("valid_to >= valid_from", name="window"),
    )

    def __repr__(self) -> str:
        return f"<TemporaryIncrease {self.amount} {self.valid_from}..{self.valid_to}>"


class CreditReservation(TenantScoped, TimestampMixin, Audited, db.Model):
    """The credit an order takes: ``amount`` still reserved (counts in exposure while ``active``)."""

    __tablename__ = "credit_reservation"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_ref: Mapped[str] = mapped_column(String(60), unique=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"), index=True)
    requested: Mapped[Decimal] = mapped_column(MONEY)  # the order amount of the last check
    amount: Mapped[Decimal] = mapped_column(MONEY)  # what is still reserved (requested − invoiced − released)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    shortfall: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str | None] = mapped_column(Text)

    distributor: Mapped[Distributor] = relationship()
    decided_by: Mapped[User | None] = relationship()

    __table_args__ = (
        CheckConstraint("amount >= 0 and requested >= 0 and shortfall >= 0", name="money_nonneg"),
        CheckConstraint("status in ('active', 'held', 'released', 'rejected', 'closed')", name="status"),
    )

    def __repr__(self) -> str:
        return f"<CreditReservation {self.order_ref} {self.status} {self.amount}>"


class ReceivableEntry(AppendOnly, TenantScoped, db.Model):
    """One line of the append-only AR ledger; ``amount`` is signed (+ the distributor owes more, − less)."""

    __tablename__ = "receivable_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    entry_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(60))
    order_ref: Mapped[str | None] = mapped_column(String(60), index=True)
    original_reference: Mapped[str | None] = mapped_column(String(60))
    note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    distributor: Mapped[Distributor] = relationship()

    __table_args__ = (
        UniqueConstraint("kind", "reference"),
        Index("ix_receivable_entry_distributor_date", "distributor_id", "entry_date"),
        CheckConstraint("kind in ('invoice', 'payment', 'credit_memo', 'adjustment')", name="kind"),
        CheckConstraint("amount <> 0", name="amount_nonzero"),
        CheckConstraint("(kind <> 'invoice') or (amount > 0 and due_date is not null)", name="invoice"),
        CheckConstraint("kind not in ('payment', 'credit_memo') or amount < 0", name="credit_sign"),
    )

    @property
    def is_debit(self) -> bool:
        return self.amount > 0

    def __repr__(self) -> str:
        return f"<ReceivableEntry {self.kind} {self.reference} {self.amount}>"


class ReceivableAllocation(AppendOnly, TenantScoped, db.Model):
    """``amount`` of a credit entry (payment, credit memo, negative adjustment) settling a debit entry (invoice)."""

    __tablename__ = "receivable_allocation"

    id: Mapped[int] = mapped_column(primary_key=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"), index=True)
    credit_entry_id: Mapped[int] = mapped_column(ForeignKey("receivable_entry.id"), index=True)
    debit_entry_id: Mapped[int] = mapped_column(ForeignKey("receivable_entry.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    credit_entry: Mapped[ReceivableEntry] = relationship(foreign_keys=[credit_entry_id])
    debit_entry: Mapped[ReceivableEntry] = relationship(foreign_keys=[debit_entry_id])

    __table_args__ = (CheckConstraint("amount > 0", name="amount_pos"),)

    def __repr__(self) -> str:
        return f"<ReceivableAllocation {self.credit_entry_id}→{self.debit_entry_id} {self.amount}>"


PaymentAllocation = ReceivableAllocation  # the name the issue uses
