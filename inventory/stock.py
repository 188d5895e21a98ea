"""Reading stock: balances by location / product / lot with filters, lots, a lot's movement history.

Every query here selects ORM entities' columns through the session, so tenant scoping (app.tenancy) applies: a
distributor user gets only balances at its own locations and movements touching them, with nothing filtered by
hand. Lots themselves are product data, not tenant data: a distributor sees a lot only when one of its own
movements names it (:func:`visible_lot`, :func:`lots_query`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import exists, func, select
from sqlalchemy.orm import aliased

from app.extensions import db
from app.models import Distributor, Product, ProductLine, Region, StockLocation, Terminal
from app.tenancy import current_actor
from inventory.models import Lot, LotStatus, StockBalance, StockMovement


class FilterError(ValueError):
    """A filter value could not be understood (``field`` names it)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class StockFilters:
    """Filters of the stock views. Codes are business codes; ``expires_before`` is exclusive."""

    location: str | None = None
    distributor: str | None = None
    product: str | None = None
    product_line: str | None = None
    expires_before: date | None = None
    status: str | None = None
    lot: str | None = None

    @classmethod
    def parse(cls, args) -> StockFilters:
        """From request args / JSON (strings); raises FilterError on a bad date or status."""
        values = {}
        for f in fields(cls):
            raw = args.get(f.name)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue
            if f.name == "expires_before":
                if isinstance(raw, date):
                    values[f.name] = raw
                    continue
                try:
                    values[f.name] = date.fromisoformat(str(raw).strip())
                except ValueError as exc:
                    raise FilterError(f.name, _("Not a valid date (use YYYY-MM-DD).")) from exc
            elif f.name == "status":
                if raw not in {s.value for s in LotStatus}:
                    raise FilterError(f.name, _("Unknown lot status %(s)s.", s=raw))
                values[f.name] = raw
            else:
                values[f.name] = str(raw).strip()
        return cls(**values)

    def as_args(self) -> dict:
        return {f.name: (getattr(self, f.name).isoformat() if isinstance(getattr(self, f.name), date)
                         else getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None}


SORTS = {
    "product": (Product.code, Lot.expires_on, StockLocation.code),
    "expiry": (Lot.expires_on, Product.code, StockLocation.code),
    "location": (StockLocation.code, Product.code, Lot.expires_on),
    "quantity": (StockBalance.quantity.desc(), Product.code),
}


def stock_query(filters: StockFilters, sort: str | None = None):
    """Balances above zero per location × lot with product, location and holder, filtered and sorted."""
    stmt = (
        select(StockBalance.id.label("balance_id"), StockBalance.quantity, StockBalance.location_id,
               Lot.id.label("lot_id"), Lot.lot_no, Lot.manufactured_on, Lot.expires_on, Lot.status,
               Product.id.label("product_id"), Product.code.label("product_code"), Product.generic_name,
               Product.specification, Product.base_unit, ProductLine.code.label("product_line_code"),
               StockLocation.code.label("location_code"), StockLocation.name.label("location_name"),
               StockLocation.kind.label("location_kind"), Distributor.code.label("distributor_code"),
               Distributor.name.label("distributor_name"), Distributor.tier)
        .join(Lot, Lot.id == StockBalance.lot_id)
        .join(Product, Product.id == Lot.product_id)
        .join(ProductLine, ProductLine.id == Product.product_line_id)
        .join(StockLocation, StockLocation.id == StockBalance.location_id)
        .outerjoin(Distributor, Distributor.id == StockLocation.distributor_id)
        .where(StockBalance.quantity > 0)
    )
    stmt = _apply(stmt, filters)
    return stmt.order_by(*SORTS.get(sort or "product", SORTS["product"]), StockBalance.id)


def _apply(stmt, f: StockFilters):
    if f.location:
        stmt = stmt.where(StockLocation.code == f.location)
    if f.distributor:
        stmt = stmt.where(Distributor.code == f.distributor)
    if f.product:
        stmt = stmt.where(Product.code == f.product)
    if f.product_line:
        stmt = stmt.where(ProductLine.code == f.product_line)
    if f.expires_before:
        stmt = stmt.where(Lot.expires_on < f.expires_before)
    if f.status:
        stmt = stmt.where(Lot.status == f.status)
    if f.lot:
        stmt = stmt.where(Lot.lot_no == f.lot)
    return stmt


def page(stmt, page_no: int, per_page: int) -> tuple[list, int]:
    """One page of a row query (mappings) and the total row count."""
    total = db.session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    rows = db.session.execute(stmt.limit(per_page).offset((page_no - 1) * per_page)).mappings().all()
    return list(rows), total


def stock_total(filters: StockFilters) -> int:
    stmt = stock_query(filters).order_by(None).subquery()
    return int(db.session.execute(select(func.coalesce(func.sum(stmt.c.quantity), 0))).scalar_one())


# -- lots ---------------------------------------------------------------------------------------------------------
def _visible_to_actor(stmt):
    """A distributor user sees the lots its own movements name (the EXISTS is tenant scoped)."""
    if current_actor().distributor_id is None:
        return stmt
    return stmt.where(exists(select(StockMovement.id).where(StockMovement.lot_id == Lot.id)))


def lots_query(product: str | None = None, status: str | None = None, expires_before: date | None = None,
               lot_no: str | None = None):
    """Lots with their product and on hand (summed over the balances the acting user may see)."""
    on_hand = (select(func.coalesce(func.sum(StockBalance.quantity), 0))
               .where(StockBalance.lot_id == Lot.id).correlate(Lot).scalar_subquery())
    stmt = (select(Lot.id, Lot.lot_no, Lot.manufactured_on, Lot.expires_on, Lot.status, Lot.status_reason,
                   Product.code.label("product_code"), Product.generic_name, Product.specification,
                   on_hand.label("on_hand"))
            .join(Product, Product.id == Lot.product_id))
    if product:
        stmt = stmt.where(Product.code == product)
    if status:
        stmt = stmt.where(Lot.status == status)
    if expires_before:
        stmt = stmt.where(Lot.expires_on < expires_before)
    if lot_no:
        stmt = stmt.where(Lot.lot_no.ilike(f"%{lot_no.strip()}%"))
    return _visible_to_actor(stmt).order_by(Lot.expires_on, Product.code, Lot.lot_no, Lot.id)


def visible_lot(lot_id: int) -> Lot | None:
    """The lot if the acting user may see it (staff: any lot; a distributor: one its movements name)."""
    return db.session.execute(_visible_to_actor(select(Lot).where(Lot.id == lot_id))).scalar_one_or_none()


def find_lot(product_code: str, lot_no: str) -> Lot | None:
    return db.session.execute(
        _visible_to_actor(select(Lot).join(Product, Product.id == Lot.product_id)
                          .where(Product.code == product_code, Lot.lot_no == lot_no))
    ).scalar_one_or_none()


def lot_balances(lot_id: int) -> list:
    """Where the lot is now (quantities above zero), with each holder's tier and province."""
    province = aliased(Region)
    return list(db.session.execute(
        select(StockLocation.id.label("location_id"), StockLocation.code.label("location_code"),
               StockLocation.name.label("location_name"), StockLocation.kind.label("location_kind"),
               Distributor.id.label("distributor_id"), Distributor.code.label("distributor_code"),
               Distributor.name.label("distributor_name"), Distributor.tier, province.name.label("province"),
               StockBalance.quantity)
        .join(StockLocation, StockLocation.id == StockBalance.location_id)
        .outerjoin(Distributor, Distributor.id == StockLocation.distributor_id)
        .outerjoin(Region, Region.id == Distributor.region_id)
        .outerjoin(province, province.id == Region.province_id)
        .where(StockBalance.lot_id == lot_id, StockBalance.quantity > 0)
        .order_by(StockLocation.kind.desc(), Distributor.tier, StockLocation.code)
    ).mappings())


def movements_query(lot_id: int):
    """The lot's movements, oldest first, with both locations, both holders and the terminal, in one query.

    A distributor user gets only the movements touching its own locations, and sees only its own side's names
    (the other distributor's location and name, and terminal master data, come back empty). The names are
    correlated scalar subqueries rather than aliased joins: tenant criteria are applied to each subquery.
    """
    m = StockMovement

    def name_of(col, key, fk):
        return select(col).where(key == fk).correlate(m).scalar_subquery()

    return (
        select(m.id, m.business_date, m.at, m.kind, m.quantity, m.reference, m.note, m.actor,
               name_of(StockLocation.code, StockLocation.id, m.from_location_id).label("from_code"),
               name_of(StockLocation.name, StockLocation.id, m.from_location_id).label("from_name"),
               name_of(Distributor.code, Distributor.id, m.from_distributor_id).label("from_distributor_code"),
               name_of(Distributor.name, Distributor.id, m.from_distributor_id).label("from_distributor_name"),
               name_of(StockLocation.code, StockLocation.id, m.to_location_id).label("to_code"),
               name_of(StockLocation.name, StockLocation.id, m.to_location_id).label("to_name"),
               name_of(Distributor.code, Distributor.id, m.to_distributor_id).label("to_distributor_code"),
               name_of(Distributor.name, Distributor.id, m.to_distributor_id).label("to_distributor_name"),
               name_of(Terminal.code, Terminal.id, m.terminal_id).label("terminal_code"),
               name_of(Terminal.name, Terminal.id, m.terminal_id).label("terminal_name"))
        .where(m.lot_id == lot_id)
        .order_by(m.business_date, m.id)
    )


def lot_movements(lot_id: int) -> list:
    return list(db.session.execute(movements_query(lot_id)).mappings())


def choices() -> dict:
    """Options for the filter selects (what the acting user may see)."""
    locs = db.session.execute(select(StockLocation.code, StockLocation.name).where(StockLocation.active)
                              .order_by(StockLocation.kind.desc(), StockLocation.code)).all()
    lines = db.session.execute(select(ProductLine.code, ProductLine.name).order_by(ProductLine.code)).all()
    return {"locations": locs, "product_lines": lines, "statuses": [s.value for s in LotStatus]}

