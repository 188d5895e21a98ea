"""What ingestion plugs into inventory's seams: the distributors' reported stock (inventory snapshots) for the
channel stock page, and the terminals reported sell-out went to for the recall trace. Only current versions count.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import aliased

from app.extensions import db
from app.models import Distributor, Region, Terminal
from ingestion.models import InventoryFact, SellOutFact, Submission


def reported_stock(as_of: date, distributor_ids: set[int] | None = None) -> dict[tuple[int, int, int | None], int]:
    """Per distributor, the latest snapshot on or before ``as_of`` of its current inventory submissions, keyed
    (distributor, product, lot or None)."""
    f = InventoryFact
    latest = (select(f.distributor_id, func.max(f.as_of).label("as_of"))
              .join(Submission, Submission.id == f.submission_id)
              .where(Submission.is_current, f.as_of <= as_of))
    if distributor_ids:
        latest = latest.where(f.distributor_id.in_(distributor_ids))
    latest = latest.group_by(f.distributor_id).subquery()
    rows = db.session.execute(
        select(f.distributor_id, f.product_id, f.lot_id, func.sum(f.quantity))
        .join(Submission, Submission.id == f.submission_id)
        .where(Submission.is_current,
               tuple_(f.distributor_id, f.as_of).in_(select(latest.c.distributor_id, latest.c.as_of)))
        .group_by(f.distributor_id, f.product_id, f.lot_id))
    return {(d, p, lot): int(q) for d, p, lot, q in rows}


def reported_terminals(lot_id: int) -> list:
    """Terminals a lot was reported sold to (current sell-out facts), shaped like inventory.trace's rows."""
    region = aliased(Region)
    s = SellOutFact
    return list(db.session.execute(
        select(Terminal.id, Terminal.code, Terminal.name, Terminal.type, region.name.label("region"),
               Distributor.code.label("distributor_code"), Distributor.name.label("distributor_name"),
               func.sum(s.quantity).label("quantity"), func.min(s.business_date).label("first_date"),
               func.max(s.business_date).label("last_date"))
        .join(Submission, Submission.id == s.submission_id)
        .join(Terminal, Terminal.id == s.terminal_id)
        .outerjoin(region, region.id == Terminal.region_id)
        .join(Distributor, Distributor.id == s.distributor_id)
        .where(s.lot_id == lot_id, Submission.is_current)
        .group_by(Terminal.id, Terminal.code, Terminal.name, Terminal.type, region.name, Distributor.code,
                  Distributor.name)).mappings())
