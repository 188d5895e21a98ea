"""Models of distribution: pricing (price lists, their versioned items, and the floor price per product).

* A :class:`PriceList` is one named list of a kind (tier-1 / tier-2 supply, retail guide, a province's bid price,
  one distributor's own prices). At most one *active* list per slot (each tier kind, each province's bid, each
  distributor's own list): enforced by partial unique indexes, so precedence between lists is never ambiguous.
* A :class:`PriceItem` is one version of one quantity break of one product in one list. A change is a new row
  (``version`` + 1, ``previous_id``) effective from a date; the previous version is closed the day before. Only
  ``effective_to`` of an existing row may ever change (closing it); a guard on flush refuses anything else.
  Two items of one list, product and minimum quantity may not have overlapping windows: the service refuses it
  under a row lock, and on PostgreSQL an exclusion constraint (migration) backs it.
* A :class:`PriceFloor` is one version of the lowest price a product may be sold at, with effective dates.

Distributor-specific lists and their items are tenant-scoped through :mod:`app.tenancy` (``__tenant_shared__``:
a distributor user reads shared lists, whose ``distributor_id`` is null, and its own list, never another's).
"""

from __future__ import annotations

import enum
from datetime import date
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, column_property, mapped_column, relationship

from app.extensions import db
from app.models import Audited, Distributor, Product, Region, TenantScoped, TimestampMixin

__all__ = [
    "PRICE",
    "PriceFloor",
    "PriceItem",
    "PriceList",
    "PriceListKind",
    "QuantityUnit",
    "ImmutablePriceError",
]

PRICE = Numeric(14, 4)


class PriceListKind(enum.StrEnum):
    TIER1_SUPPLY = "tier1_supply"
    TIER2_SUPPLY = "tier2_supply"
    RETAIL_GUIDE = "retail_guide"
    PROVINCIAL_BID = "provincial_bid"
    DISTRIBUTOR_SPECIFIC = "distributor_specific"


class QuantityUnit(enum.StrEnum):
    BASE = "base"  # the product's base unit (盒, 支 ...)
    CASE = "case"  # a case (件) of ``Product.pack_size`` base units


_KINDS = ", ".join(f"'{k.value}'" for k in PriceListKind)
_GENERAL_KINDS = "'tier1_supply', 'tier2_supply', 'retail_guide'"


class ImmutablePriceError(RuntimeError):
    """Code tried to overwrite a price item or floor (only closing one, by setting ``effective_to``, is allowed)."""


class PriceList(TenantScoped, TimestampMixin, Audited, db.Model):
    __tablename__ = "price_list"
    __tenant_shared__ = True  # tier, retail-guide and bid lists (distributor_id null) are shared reference rows

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(24))
    province_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"), index=True)
    distributor_id: Mapped[int | None] = mapped_column(ForeignKey("distributor.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(Text)

    province: Mapped[Region | None] = relationship()
    distributor: Mapped[Distributor | None] = relationship()

    __table_args__ = (
        CheckConstraint(f"kind in ({_KINDS})", name="kind"),
        CheckConstraint(
            "(kind = 'provincial_bid' and province_id is not null)"
            " or (kind <> 'provincial_bid' and province_id is null)",
            name="province_for_bid",
        ),
        CheckConstraint(
            "(kind = 'distributor_specific' and distributor_id is not null)"
            " or (kind <> 'distributor_specific' and distributor_id is null)",
            name="distributor_for_specific",
        ),
        # One active list per slot: precedence between lists can then never tie.
        Index("uq_price_list_active_kind", "kind", unique=True,
              postgresql_where=text(f"active and kind in ({_GENERAL_KINDS})"),
              sqlite_where=text(f"active and kind in ({_GENERAL_KINDS})")),
        Index("uq_price_list_active_province", "province_id", unique=True,
              postgresql_where=text("active and province_id is not null"),
              sqlite_where=text("active and province_id is not null")),
        Index("uq_price_list_active_distributor", "distributor_id", unique=True,
              postgresql_where=text("active and distributor_id is not null"),
              sqlite_where=text("active and distributor_id is not null")),
    )

    def __repr__(self) -> str:
        return f"<PriceList {self.code} {self.kind}>"


class PriceItem(TenantScoped, TimestampMixin, Audited, db.Model):
    __tablename__ = "price_item"
    __tenant_shared__ = True
    __audit_exclude__ = ("created_at", "updated_at", "distributor_id")

    id: Mapped[int] = mapped_column(primary_key=True)
    price_list_id: Mapped[int] = mapped_column(ForeignKey("price_list.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))  # indexed by ix_price_item_product_list
    min_quantity: Mapped[int] = mapped_column(Integer)  # in base units, whatever unit it was entered in
    entered_quantity: Mapped[int] = mapped_column(Integer)
    entered_unit: Mapped[str] = mapped_column(String(8), default=QuantityUnit.BASE.value)
    unit_price: Mapped[Decimal] = mapped_column(PRICE)  # per base unit
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)  # inclusive; null = open-ended
    version: Mapped[int] = mapped_column(Integer, default=1)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("price_item.id"))
    note: Mapped[str | None] = mapped_column(String(200))

    price_list: Mapped[PriceList] = relationship()
    product: Mapped[Product] = relationship()
    previous: Mapped[PriceItem | None] = relationship(remote_side=[id])

    __table_args__ = (
        CheckConstraint("min_quantity >= 1", name="min_quantity_positive"),
        CheckConstraint("entered_quantity >= 1", name="entered_quantity_positive"),
        CheckConstraint(
            "(entered_unit = 'base' and min_quantity = entered_quantity)"
            " or (entered_unit = 'case' and min_quantity >= entered_quantity)",
            name="entered_unit",
        ),
        CheckConstraint("unit_price > 0", name="unit_price_positive"),
        CheckConstraint("effective_to is null or effective_to >= effective_from", name="window"),
        CheckConstraint("version >= 1", name="version_positive"),
        UniqueConstraint("price_list_id", "product_id", "min_quantity", "effective_from", name="uq_price_item_start"),
        UniqueConstraint("price_list_id", "product_id", "min_quantity", "version", name="uq_price_item_version"),
        Index("ix_price_item_product_list", "product_id", "price_list_id", "effective_from"),
    )

    def __repr__(self) -> str:
        return f"<PriceItem #{self.id} v{self.version} list={self.price_list_id} product={self.product_id}>"

    def effective_on(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)


# The tenant key of an item is its list's: one source of truth, no copy to keep in step. Deferred, so ordinary
# loads do not pay for it; the tenancy criteria use it as an expression. Shared list → null (readable by every
# distributor); a distributor's list → that distributor. A distributor user's own criteria hide the other
# distributors' lists inside this subquery too, which would read as null ("shared"): so a missing list maps to -1,
# never null, and its items stay hidden.
_list_owner = (select(func.coalesce(PriceList.distributor_id, 0)).where(PriceList.id == PriceItem.price_list_id)
               .correlate_except(PriceList).scalar_subquery())
PriceItem.distributor_id = column_property(func.nullif(func.coalesce(_list_owner, -1), 0), deferred=True)


class PriceFloor(TimestampMixin, Audited, db.Model):
    """The lowest unit price (per base unit) a product may be priced at, in a window of dates (versioned)."""

    __tablename__ = "price_floor"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    floor_price: Mapped[Decimal] = mapped_column(PRICE)
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("price_floor.id"))
    note: Mapped[str | None] = mapped_column(String(200))

    product: Mapped[Product] = relationship()
    previous: Mapped[PriceFloor | None] = relationship(remote_side=[id])

    __table_args__ = (
        CheckConstraint("floor_price >= 0", name="floor_nonneg"),
        CheckConstraint("effective_to is null or effective_to >= effective_from", name="window"),
        CheckConstraint("version >= 1", name="version_positive"),
        UniqueConstraint("product_id", "effective_from", name="uq_price_floor_start"),
        UniqueConstraint("product_id", "version", name="uq_price_floor_version"),
    )

    def __repr__(self) -> str:
        return f"<PriceFloor #{self.id} v{self.version} product={self.product_id} {self.floor_price}>"

    def effective_on(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)


@event.listens_for(Session, "before_flush")
def _refuse_overwrites(session: Session, flush_context, instances) -> None:
    """A price is never overwritten or deleted: a change is a new version. Only closing a version is an update."""
    for obj in session.deleted:
        if isinstance(obj, PriceItem | PriceFloor):
            raise ImmutablePriceError(f"{obj!r} may not be deleted")
    for obj in session.dirty:
        if isinstance(obj, PriceItem | PriceFloor) and session.is_modified(obj, include_collections=False):
            state = inspect(obj)
            changed = {a.key for a in state.mapper.column_attrs
                       if a.key not in ("effective_to", "updated_at") and state.attrs[a.key].history.has_changes()}
            if changed:
                raise ImmutablePriceError(f"{obj!r}: {', '.join(sorted(changed))} may not change (add a version)")
