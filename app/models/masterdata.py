"""Master data of the channel network: products, regions, distributors, terminals, target lists, locations."""

from __future__ import annotations

import enum
from datetime import date

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import Audited, ManufacturerOnly, TenantScoped, TimestampMixin


class RegionLevel(enum.IntEnum):
    PROVINCE = 1
    CITY = 2
    COUNTY = 3


class Region(db.Model):
    """A GB/T 2260 division. ``code`` is always the 6-digit form (110000, 110100, 110101).

    Municipalities keep their 市辖区 / 县 city-level rows (display ``name`` becomes 北京市 / 重庆市(县)); the
    省直辖县级 pseudo-cities (4190, 4290, 4690, 6590) are kept with ``is_pseudo_city`` so their counties can be
    treated as cities in city-level analytics (see ``city_unit_id``).
    """

    __tablename__ = "region"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(6), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    official_name: Mapped[str] = mapped_column(String(64))
    level: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"), index=True)
    province_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"))
    city_unit_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"))
    is_pseudo_city: Mapped[bool] = mapped_column(Boolean, default=False)

    parent: Mapped[Region | None] = relationship(remote_side=[id], foreign_keys=[parent_id])
    province: Mapped[Region | None] = relationship(remote_side=[id], foreign_keys=[province_id])

    __table_args__ = (CheckConstraint("level in (1, 2, 3)", name="level"),)

    @property
    def full_name(self) -> str:
        parts, node = [], self
        while node is not None:
            if not node.is_pseudo_city and not (node.level == 2 and node.official_name in ("市辖区", "县")):
                parts.append(node.name)
            node = node.parent
        return "".join(reversed(parts))

    def __repr__(self) -> str:
        return f"<Region {self.code} {self.name}>"


class ProductLine(Audited, db.Model):
    __tablename__ = "product_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))

    def __repr__(self) -> str:
        return f"<ProductLine {self.code}>"


class Product(TimestampMixin, Audited, db.Model):
    __tablename__ = "product"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    generic_name: Mapped[str] = mapped_column(String(100))
    brand_name: Mapped[str | None] = mapped_column(String(100))
    specification: Mapped[str] = mapped_column(String(100))
    dosage_form: Mapped[str] = mapped_column(String(50))
    base_unit: Mapped[str] = mapped_column(String(16))
    pack_size: Mapped[int] = mapped_column(Integer)
    approval_number: Mapped[str | None] = mapped_column(String(50))
    gtin: Mapped[str | None] = mapped_column(String(14), unique=True)
    shelf_life_months: Mapped[int] = mapped_column(Integer)
    min_shelf_days_tier1: Mapped[int] = mapped_column(Integer, default=0)
    min_shelf_days_tier2: Mapped[int] = mapped_column(Integer, default=0)
    cold_chain: Mapped[bool] = mapped_column(Boolean, default=False)
    storage_condition: Mapped[str | None] = mapped_column(String(100))
    product_line_id: Mapped[int] = mapped_column(ForeignKey("product_line.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    product_line: Mapped[ProductLine] = relationship()

    __table_args__ = (
        CheckConstraint("pack_size > 0", name="pack_size_positive"),
        CheckConstraint("shelf_life_months > 0", name="shelf_life_positive"),
        CheckConstraint("min_shelf_days_tier1 >= 0 and min_shelf_days_tier2 >= 0", name="min_shelf_nonneg"),
    )

    def min_shelf_days_for_tier(self, tier: int) -> int:
        return self.min_shelf_days_tier1 if tier == 1 else self.min_shelf_days_tier2

    @property
    def display_name(self) -> str:
        return f"{self.generic_name} {self.specification}"

    def __repr__(self) -> str:
        return f"<Product {self.code}>"


class DistributorStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


class Distributor(TenantScoped, TimestampMixin, Audited, db.Model):
    __tablename__ = "distributor"
    __tenant_key__ = "id"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("distributor.id"), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    address: Mapped[str | None] = mapped_column(String(300))
    contact_name: Mapped[str | None] = mapped_column(String(50))
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    contact_email: Mapped[str | None] = mapped_column(String(120))
    licence_no: Mapped[str] = mapped_column(String(60))
    licence_expiry: Mapped[date] = mapped_column(Date)
    gsp_expiry: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=DistributorStatus.ACTIVE.value)

    parent: Mapped[Distributor | None] = relationship(remote_side=[id])
    region: Mapped[Region] = relationship()

    __table_args__ = (
        CheckConstraint("tier in (1, 2)", name="tier"),
        CheckConstraint("status in ('active', 'suspended', 'terminated')", name="status"),
    )

    def licence_expired(self, on: date) -> bool:
        return self.licence_expiry < on

    def gsp_expired(self, on: date) -> bool:
        return self.gsp_expiry is not None and self.gsp_expiry < on

    def __repr__(self) -> str:
        return f"<Distributor {self.code} tier={self.tier}>"


class TerminalType(enum.StrEnum):
    HOSPITAL = "hospital"
    PHARMACY = "pharmacy"
    CLINIC = "clinic"
    OTHER = "other"


HOSPITAL_GRADES = ("三级甲等", "三级乙等", "三级", "二级甲等", "二级乙等", "二级", "一级", "未定级")
PHARMACY_SIZES = ("large", "medium", "small")  # 大型 / 中型 / 小型 (a chain flagship, a neighbourhood shop ...)


class Terminal(ManufacturerOnly, TimestampMixin, Audited, db.Model):
    __tablename__ = "terminal"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    type: Mapped[str] = mapped_column(String(16))
    grade: Mapped[str | None] = mapped_column(String(16))
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    address: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    pharmacy_size: Mapped[str | None] = mapped_column(String(8))  # pharmacies only: large | medium | small
    # the terminal's potential for weighted distribution; None: the default of its grade / size (distribution.metrics)
    potential_weight: Mapped[int | None] = mapped_column(Integer)

    region: Mapped[Region] = relationship()
    aliases: Mapped[list[TerminalAlias]] = relationship(
        back_populates="terminal", cascade="all, delete-orphan", order_by="TerminalAlias.alias"
    )

    __table_args__ = (
        CheckConstraint("type in ('hospital', 'pharmacy', 'clinic', 'other')", name="type"),
        CheckConstraint("pharmacy_size is null or pharmacy_size in ('large', 'medium', 'small')",
                        name="pharmacy_size"),
        CheckConstraint("potential_weight is null or potential_weight >= 0", name="potential_weight_nonneg"),
    )

    @property
    def aliases_values(self) -> list[str]:
        return [a.alias for a in self.aliases]

    def set_aliases(self, values: list[str]) -> None:
        """Replace the aliases, keeping the rows of those that stay."""
        existing = {a.alias: a for a in self.aliases}
        self.aliases = [existing.get(v) or TerminalAlias(alias=v) for v in dict.fromkeys(values) if v != self.name]

    def __repr__(self) -> str:
        return f"<Terminal {self.code}>"


class TerminalAlias(ManufacturerOnly, db.Model):
    """Another name a terminal is known by (distributors' files use these); matched exactly by ingestion."""

    __tablename__ = "terminal_alias"

    id: Mapped[int] = mapped_column(primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminal.id", ondelete="CASCADE"), index=True)
    alias: Mapped[str] = mapped_column(String(200), unique=True)

    terminal: Mapped[Terminal] = relationship(back_populates="aliases")

    def __repr__(self) -> str:
        return f"<TerminalAlias {self.alias!r}>"


class TargetList(ManufacturerOnly, TimestampMixin, Audited, db.Model):
    """目标终端: the terminals a product line is meant to reach in a territory (a region at any level)."""

    __tablename__ = "target_list"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    product_line_id: Mapped[int] = mapped_column(ForeignKey("product_line.id"), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    product_line: Mapped[ProductLine] = relationship()
    region: Mapped[Region] = relationship()
    entries: Mapped[list[TargetListEntry]] = relationship(back_populates="target_list", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"<TargetList {self.code}>"


class TargetListEntry(ManufacturerOnly, db.Model):
    __tablename__ = "target_list_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    target_list_id: Mapped[int] = mapped_column(ForeignKey("target_list.id", ondelete="CASCADE"), index=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminal.id"), index=True)

    target_list: Mapped[TargetList] = relationship(back_populates="entries")
    terminal: Mapped[Terminal] = relationship()

    __table_args__ = (UniqueConstraint("target_list_id", "terminal_id"),)


class LocationKind(enum.StrEnum):
    MANUFACTURER = "manufacturer"
    DISTRIBUTOR = "distributor"
    QUARANTINE = "quarantine"


class StockLocation(TenantScoped, TimestampMixin, Audited, db.Model):
    __tablename__ = "stock_location"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    distributor_id: Mapped[int | None] = mapped_column(ForeignKey("distributor.id"), index=True)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"))
    address: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(Text)

    distributor: Mapped[Distributor | None] = relationship()
    region: Mapped[Region | None] = relationship()

    __table_args__ = (
        CheckConstraint("kind in ('manufacturer', 'distributor', 'quarantine')", name="kind"),
        CheckConstraint(
            "(kind = 'distributor' and distributor_id is not null)"
            " or (kind <> 'distributor' and distributor_id is null)",
            name="distributor_owner",
        ),
    )

    def __repr__(self) -> str:
        return f"<StockLocation {self.code} {self.kind}>"
