"""Models of distribution: the coverage rollups (覆盖率 / 铺货率), diversion flags (窜货) and monthly channel reports.

The rollups are derived data, kept up to date by :mod:`distribution.rollups` from the channel-data facts of
current, loaded submissions (the contract of :mod:`ingestion.models`) and rebuildable from them at any time
(``flask drp rebuild-rollups``), so the dashboard never reads the raw facts:

* :class:`CoveragePresence` — which terminals bought, as one row per (year, product scope, distributor, terminal)
  whose ``months`` bit mask says in which months (see :mod:`distribution.metrics` for the bits). The product scope is
  one product, one product line or all products; ``distributor_id`` 0 is "from any distributor". Listing rate,
  coverage, weighted distribution, city coverage and new / lost terminals are counts over these rows joined with
  the target terminals (master data, read live).
* :class:`CoverageSales` — reported sell-out per (month, distributor, product): to terminals and to other
  distributors, quantity and amount (sell-in vs sell-out, 动销率, the distributor 360° page).
* :class:`DiversionFlag` — one reported sell-out line that looks like diversion, with its evidence (submission,
  file, source row).

The rollup tables carry no foreign keys on purpose: they are written in bulk, never edited, and rebuilt from the
facts; ``distributor_id`` 0 would not satisfy one anyway. Tenant scoping applies (a distributor user reads its own
rows only, never the "any distributor" rows).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models import ManufacturerOnly, Product, TenantScoped, Terminal
from app.models.base import utcnow

__all__ = ["ProductScope", "CoveragePresence", "CoverageSales", "CoverageState", "CoverageRefresh", "DiversionKind",
           "DiversionFlag", "ChannelReport"]

AMOUNT = Numeric(16, 2)


class ProductScope(enum.IntEnum):
    PRODUCT = 1
    LINE = 2
    ALL = 3


class CoveragePresence(TenantScoped, db.Model):
    """Terminal ``terminal_id`` bought (net positive sell-out reported) products of the scope from the distributor in
    the months whose bits are set in ``months`` (bit ``m - 1``: month ``m`` of ``year``). Distributors have product
    rows only; the "any distributor" rows (0) exist for the three scopes."""

    __tablename__ = "coverage_presence"

    # the primary key's order serves both the slices (distributor, year, scope) and a distributor's refresh
    distributor_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0: any distributor
    year: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    scope: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # ProductScope
    scope_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # product id, line id, 0 for all
    terminal_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    months: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_coverage_presence_terminal_year", "terminal_id", "year"),)

    def __repr__(self) -> str:
        return (f"<CoveragePresence {self.year} s{self.scope}:{self.scope_id} d={self.distributor_id} "
                f"t={self.terminal_id} {self.months:#x}>")


class CoverageSales(TenantScoped, db.Model):
    """Reported sell-out of one distributor, product and calendar month (``month`` is its first day)."""

    __tablename__ = "coverage_sales"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    distributor_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    terminal_quantity: Mapped[int] = mapped_column(BigInteger, default=0)  # 纯销, net of reported returns
    terminal_amount: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal("0.00"))
    transfer_quantity: Mapped[int] = mapped_column(BigInteger, default=0)  # 调拨 to other distributors
    transfer_amount: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal("0.00"))
    lines: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_coverage_sales_distributor_month", "distributor_id", "month"),)

    def __repr__(self) -> str:
        return f"<CoverageSales {self.month} d={self.distributor_id} p={self.product_id}>"


class CoverageState(ManufacturerOnly, db.Model):
    """One row: a random token every rollup change replaces (readers cache by it) and when they were last rebuilt."""

    __tablename__ = "coverage_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32))
    rebuilt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"<CoverageState {self.token}>"


class CoverageRefresh(ManufacturerOnly, db.Model):
    """A refresh of the rollups that a change of the facts asks for, queued in the transaction of that change and
    done after its commit (:func:`distribution.rollups.refresh_one`, run by the ``refresh_coverage`` task):
    the load commits without waiting for the rollups, and a crash between the two leaves the row here, picked up
    by the next run (the beat runs it every minute too). ``months``: ISO dates of the first days of the months."""

    __tablename__ = "coverage_refresh"

    id: Mapped[int] = mapped_column(primary_key=True)
    distributor_id: Mapped[int] = mapped_column(Integer)
    months: Mapped[list] = mapped_column(JSON)
    added_submission_id: Mapped[int | None] = mapped_column(Integer)
    removed_submission_id: Mapped[int | None] = mapped_column(Integer)
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(2000))

    __table_args__ = (Index("ix_coverage_refresh_pending", "done_at", "id"),)

    def __repr__(self) -> str:
        return f"<CoverageRefresh {self.id} d={self.distributor_id} {'done' if self.done_at else 'pending'}>"


class DiversionKind(enum.StrEnum):
    OUTSIDE_TERRITORY = "outside_territory"  # the terminal lies outside the authorised territory
    UNAUTHORISED_PRODUCT = "unauthorised_product"  # no agreement in force authorised the product that day
    LOT_REGION = "lot_region"  # the lot was sold in a province we never shipped it to


_KINDS = ", ".join(f"'{k.value}'" for k in DiversionKind)


class DiversionFlag(TenantScoped, db.Model):
    """A reported sell-out line that looks like diversion (窜货), with the evidence to follow it up."""

    __tablename__ = "diversion_flag"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributor.id"))
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"), index=True)
    fact_id: Mapped[int] = mapped_column(BigInteger)  # sell_out_fact.id
    source_row: Mapped[int] = mapped_column(Integer)
    business_date: Mapped[date] = mapped_column(Date)
    month: Mapped[date] = mapped_column(Date)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminal.id"))
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"))  # the terminal's
    lot_id: Mapped[int | None] = mapped_column(Integer)
    lot_no: Mapped[str | None] = mapped_column(String(40))
    quantity: Mapped[int] = mapped_column(Integer)

    product: Mapped[Product] = relationship()
    terminal: Mapped[Terminal | None] = relationship()  # None for a distributor user: terminals are manufacturer-only

    __table_args__ = (
        CheckConstraint(f"kind in ({_KINDS})", name="kind"),
        Index("ix_diversion_flag_distributor_month", "distributor_id", "month"),
        Index("ix_diversion_flag_month", "month"),
    )

    def __repr__(self) -> str:
        return f"<DiversionFlag {self.kind} d={self.distributor_id} sub={self.submission_id} row={self.source_row}>"


class ChannelReport(ManufacturerOnly, db.Model):
    """The monthly channel report (月度渠道报告) as generated: a PDF kept for whoever opens it later."""

    __tablename__ = "channel_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date, index=True)
    generated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    generated_by: Mapped[str] = mapped_column(String(100))  # a username, or "scheduler"
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)

    def __repr__(self) -> str:
        return f"<ChannelReport {self.month:%Y-%m} {self.size}B>"
