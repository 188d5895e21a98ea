"""Models of distribution: annual distributor agreements (年度协议).

An :class:`Agreement` belongs to one distributor and runs for a period (start and end dates, both inclusive). It
authorises products (directly or as whole product lines), a territory (regions at any level) and optionally named
terminals; it sets purchase targets per calendar quarter, a tiered rebate, payment terms, a proposed credit limit
and a deposit. Its status moves draft → submitted → active → expired / terminated (see
:mod:`distribution.agreements`); every step is kept in :class:`AgreementEvent`.

Every child row repeats the agreement's ``distributor_id`` so tenant scoping (:mod:`app.tenancy`) applies to it
directly; a composite foreign key on (agreement_id, distributor_id) keeps the copy equal to the agreement's own.
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
    ForeignKeyConstraint,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from app.extensions import db
from app.models import Audited, Distributor, Product, ProductLine, Region, TenantScoped, Terminal, TimestampMixin, User
from app.models.base import utcnow
from app.tenancy import TenantViolation, current_actor

__all__ = [
    "AgreementStatus",
    "RebateBasis",
    "Agreement",
    "AgreementProduct",
    "AgreementProductLine",
    "AgreementRegion",
    "AgreementTerminal",
    "AgreementTarget",
    "AgreementRebateTier",
    "AgreementEvent",
]

MONEY = Numeric(14, 2)


class AgreementStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    ACTIVE = "active"
    EXPIRED = "expired"
    TERMINATED = "terminated"


class RebateBasis(enum.StrEnum):
    """Which achievement picks the rebate tier (the rebate itself is always a percentage of sell-in amount)."""

    AMOUNT = "amount"
    QUANTITY = "quantity"


def _child_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["agreement_id", "distributor_id"], ["agreement.id", "agreement.distributor_id"],
                                ondelete="CASCADE")


class Agreement(TenantScoped, TimestampMixin, Audited, db.Model):
    __tablename__ = "agreement"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(48), unique=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    payment_terms_days: Mapped[int] = mapped_column(Integer)
    proposed_credit_limit: Mapped[Decimal] = mapped_column(MONEY)
    deposit: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    rebate_basis: Mapped[str] = mapped_column(String(10), default=RebateBasis.AMOUNT.value)
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=AgreementStatus.DRAFT.value, index=True)
    # who / when of each step (the full history, returns to draft included, is in AgreementEvent)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))  # null: created by the system
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    terminated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    terminated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    terminated_on: Mapped[date | None] = mapped_column(Date)  # business date: no longer in force from this day
    termination_reason: Mapped[str | None] = mapped_column(Text)
    expired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    distributor: Mapped[Distributor] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    submitted_by: Mapped[User | None] = relationship(foreign_keys=[submitted_by_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    terminated_by: Mapped[User | None] = relationship(foreign_keys=[terminated_by_id])

    products: Mapped[list[AgreementProduct]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", order_by="AgreementProduct.id")
    product_lines: Mapped[list[AgreementProductLine]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", order_by="AgreementProductLine.id")
    regions: Mapped[list[AgreementRegion]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", order_by="AgreementRegion.id")
    terminals: Mapped[list[AgreementTerminal]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", order_by="AgreementTerminal.id")
    targets: Mapped[list[AgreementTarget]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan",
        order_by="(AgreementTarget.year, AgreementTarget.quarter, AgreementTarget.id)")
    rebate_tiers: Mapped[list[AgreementRebateTier]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", order_by="AgreementRebateTier.threshold_pct")
    events: Mapped[list[AgreementEvent]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", order_by="AgreementEvent.id")

    __table_args__ = (
        UniqueConstraint("id", "distributor_id"),  # target of the children's composite foreign keys
        CheckConstraint("end_date >= start_date", name="period"),
        CheckConstraint("payment_terms_days >= 0 and payment_terms_days <= 3650", name="payment_terms"),
        CheckConstraint("proposed_credit_limit >= 0 and deposit >= 0", name="money_nonneg"),
        CheckConstraint("status in ('draft', 'submitted', 'active', 'expired', 'terminated')", name="status"),
        CheckConstraint("rebate_basis in ('amount', 'quantity')", name="rebate_basis"),
        CheckConstraint("status not in ('submitted', 'active', 'expired')"
                        " or (submitted_by_id is not null and submitted_at is not null)", name="submitted_who_when"),
        CheckConstraint("status not in ('active', 'expired')"
                        " or (approved_by_id is not null and approved_at is not null)", name="approved_who_when"),
        # four eyes: whoever approves an agreement is not the person who submitted it
        CheckConstraint("approved_by_id is null or submitted_by_id is null or approved_by_id <> submitted_by_id",
                        name="four_eyes"),
        CheckConstraint("status <> 'terminated' or (terminated_by_id is not null and terminated_at is not null"
                        " and terminated_on is not null and termination_reason is not null)",
                        name="terminated_who_when"),
        CheckConstraint("status <> 'expired' or expired_at is not null", name="expired_when"),
    )

    @property
    def is_editable(self) -> bool:
        return self.status == AgreementStatus.DRAFT.value

    def __repr__(self) -> str:
        return f"<Agreement {self.number} {self.status}>"


class AgreementProduct(TenantScoped, Audited, db.Model):
    """A product the agreement authorises by itself."""

    __tablename__ = "agreement_product"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(Integer, index=True)
    distributor_id: Mapped[int] = mapped_column(Integer, index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)

    agreement: Mapped[Agreement] = relationship(back_populates="products")
    product: Mapped[Product] = relationship()

    __table_args__ = (_child_fk(), UniqueConstraint("agreement_id", "product_id"))

    def __repr__(self) -> str:
        return f"<AgreementProduct {self.agreement_id}:{self.product_id}>"


class AgreementProductLine(TenantScoped, Audited, db.Model):
    """A whole product line the agreement authorises (every product of the line, today's and future ones)."""

    __tablename__ = "agreement_product_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(Integer, index=True)
    distributor_id: Mapped[int] = mapped_column(Integer, index=True)
    product_line_id: Mapped[int] = mapped_column(ForeignKey("product_line.id"), index=True)

    agreement: Mapped[Agreement] = relationship(back_populates="product_lines")
    product_line: Mapped[ProductLine] = relationship()

    __table_args__ = (_child_fk(), UniqueConstraint("agreement_id", "product_line_id"))

    def __repr__(self) -> str:
        return f"<AgreementProductLine {self.agreement_id}:{self.product_line_id}>"


class AgreementRegion(TenantScoped, Audited, db.Model):
    """Part of the authorised territory: a province, city or county, with everything inside it."""

    __tablename__ = "agreement_region"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(Integer, index=True)
    distributor_id: Mapped[int] = mapped_column(Integer, index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)

    agreement: Mapped[Agreement] = relationship(back_populates="regions")
    region: Mapped[Region] = relationship()

    __table_args__ = (_child_fk(), UniqueConstraint("agreement_id", "region_id"))

    def __repr__(self) -> str:
        return f"<AgreementRegion {self.agreement_id}:{self.region_id}>"


class AgreementTerminal(TenantScoped, Audited, db.Model):
    """A named terminal the distributor may sell to, wherever it lies (in addition to the territory)."""

    __tablename__ = "agreement_terminal"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(Integer, index=True)
    distributor_id: Mapped[int] = mapped_column(Integer, index=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminal.id"), index=True)

    agreement: Mapped[Agreement] = relationship(back_populates="terminals")
    terminal: Mapped[Terminal | None] = relationship()  # None for a distributor user: terminals are manufacturer-only

    __table_args__ = (_child_fk(), UniqueConstraint("agreement_id", "terminal_id"))

    def __repr__(self) -> str:
        return f"<AgreementTerminal {self.agreement_id}:{self.terminal_id}>"


class AgreementTarget(TenantScoped, Audited, db.Model):
    """A purchase target for one calendar quarter and one product or one product line."""

    __tablename__ = "agreement_target"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(Integer, index=True)
    distributor_id: Mapped[int] = mapped_column(Integer, index=True)
    year: Mapped[int] = mapped_column(Integer)
    quarter: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id"))
    product_line_id: Mapped[int | None] = mapped_column(ForeignKey("product_line.id"))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    quantity: Mapped[int] = mapped_column(Integer)  # in the product's base unit

    agreement: Mapped[Agreement] = relationship(back_populates="targets")
    product: Mapped[Product | None] = relationship()
    product_line: Mapped[ProductLine | None] = relationship()

    __table_args__ = (
        _child_fk(),
        UniqueConstraint("agreement_id", "year", "quarter", "product_id"),
        UniqueConstraint("agreement_id", "year", "quarter", "product_line_id"),
        CheckConstraint("quarter between 1 and 4", name="quarter"),
        CheckConstraint("(product_id is null) <> (product_line_id is null)", name="product_or_line"),
        CheckConstraint("amount >= 0 and quantity >= 0", name="nonneg"),
    )

    @property
    def quarter_label(self) -> str:
        return f"{self.year}Q{self.quarter}"

    def __repr__(self) -> str:
        return f"<AgreementTarget {self.agreement_id} {self.quarter_label}>"


class AgreementRebateTier(TenantScoped, Audited, db.Model):
    """``rate_pct`` % of sell-in amount once achievement reaches ``threshold_pct`` %; the highest tier reached wins."""

    __tablename__ = "agreement_rebate_tier"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(Integer, index=True)
    distributor_id: Mapped[int] = mapped_column(Integer, index=True)
    threshold_pct: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    rate_pct: Mapped[Decimal] = mapped_column(Numeric(6, 3))

    agreement: Mapped[Agreement] = relationship(back_populates="rebate_tiers")

    __table_args__ = (
        _child_fk(),
        UniqueConstraint("agreement_id", "threshold_pct"),
        CheckConstraint("threshold_pct > 0", name="threshold_positive"),
        CheckConstraint("rate_pct >= 0 and rate_pct <= 100", name="rate_range"),
    )

    def __repr__(self) -> str:
        return f"<AgreementRebateTier {self.threshold_pct}% → {self.rate_pct}%>"


class AgreementEvent(TenantScoped, db.Model):
    """One step of an agreement's life (created, edited, submitted, returned, activated, terminated, expired).

    Append-only, like the audit log it accompanies: the status history shown on the agreement page.
    """

    __tablename__ = "agreement_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(Integer, index=True)
    distributor_id: Mapped[int] = mapped_column(Integer, index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))  # null: the scheduler
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)

    agreement: Mapped[Agreement] = relationship(back_populates="events")

    __table_args__ = (
        _child_fk(),
        CheckConstraint("action in ('create', 'edit', 'submit', 'return', 'activate', 'terminate', 'expire')",
                        name="action"),
    )

    def __repr__(self) -> str:
        return f"<AgreementEvent {self.agreement_id} {self.action}>"


_AGREEMENT_MODELS = (Agreement, AgreementProduct, AgreementProductLine, AgreementRegion, AgreementTerminal,
                     AgreementTarget, AgreementRebateTier, AgreementEvent)


@event.listens_for(Session, "before_flush")
def _distributors_never_write_agreements(session: Session, flush_context, instances) -> None:
    """A distributor user reads its own agreements (tenant scoping) but never writes one, not even its own: the
    manufacturer drafts and approves them. Enforced here for every flush, beside the role checks of the services."""
    if current_actor().distributor_id is None:
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if obj in session.dirty and not session.is_modified(obj, include_collections=False):
            continue
        if isinstance(obj, _AGREEMENT_MODELS):
            raise TenantViolation(f"a distributor user may not write {type(obj).__name__}")


@event.listens_for(Session, "do_orm_execute")
def _no_bulk_writes_by_distributors(state) -> None:
    """The same for ORM bulk UPDATE / DELETE statements, which do not pass through a flush."""
    if current_actor().distributor_id is None or not (state.is_update or state.is_delete):
        return
    if any(m.class_ in _AGREEMENT_MODELS for m in state.all_mappers):
        raise TenantViolation("a distributor user may not write agreements")

