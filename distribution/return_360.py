"""The returns section of the distributor 360° page (registered on :mod:`distribution.customer360`): the
distributor's return requests (counts by status, the open ones, the amount credited this year) and the recalls of
lots it holds or held (recovered versus outstanding), with links into the returns and recall pages.

A distributor user sees its own returns (tenant scoping) and the recalls through its own recall returns and stock;
the baseline of what it held when a recall opened (``RecallHolding``) is the manufacturer's, so for a distributor
user the units to return are those its recall returns ask for. Links to the recall pages are staff's only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.extensions import db
from distribution import customer360
from distribution import recalls as recall_svc
from distribution import returns as svc
from distribution.models.returns import Recall, RecallHolding, RecallLot, ReturnLine, ReturnRequest, ReturnStatus

OPEN = (ReturnStatus.REQUESTED.value, ReturnStatus.APPROVED.value, ReturnStatus.RECEIVED.value,
        ReturnStatus.DISPOSED.value)


@dataclass
class RecallRow:
    recall: Recall
    lot_id: int
    lot_no: str
    held: int | None = None  # at the recall's opening (staff only)
    requested: int = 0
    recovered: int = 0
    on_hand: int = 0

    @property
    def outstanding(self) -> int:
        base = self.held if self.held is not None else self.requested
        return max(base - self.recovered, 0)


def _recall_rows(ctx: customer360.Context) -> list[RecallRow]:
    from inventory.models import Lot, StockBalance

    d_id, staff = ctx.distributor.id, ctx.role in recall_svc.STAFF_ROLES
    rows: dict[tuple[int, int], RecallRow] = {}
    recalls = {}

    def row(recall_id: int, lot_id: int, lot_no: str) -> RecallRow:
        if recall_id not in recalls:
            recalls[recall_id] = db.session.get(Recall, recall_id)
        return rows.setdefault((recall_id, lot_id), RecallRow(recalls[recall_id], lot_id, lot_no))

    if staff:
        for recall_id, lot_id, lot_no, qty in db.session.execute(
                select(RecallHolding.recall_id, RecallHolding.lot_id, Lot.lot_no, func.sum(RecallHolding.quantity))
                .join(Lot, Lot.id == RecallHolding.lot_id).where(RecallHolding.distributor_id == d_id)
                .group_by(RecallHolding.recall_id, RecallHolding.lot_id, Lot.lot_no)):
            r = row(recall_id, lot_id, lot_no)
            r.held = (r.held or 0) + int(qty)
    for recall_id, lot_id, lot_no, qty, got in db.session.execute(
            select(ReturnRequest.recall_id, ReturnLine.lot_id, Lot.lot_no, func.sum(ReturnLine.quantity),
                   func.coalesce(func.sum(ReturnLine.received_quantity), 0))
            .join(ReturnRequest, ReturnRequest.id == ReturnLine.request_id).join(Lot, Lot.id == ReturnLine.lot_id)
            .where(ReturnRequest.distributor_id == d_id, ReturnRequest.recall_id.is_not(None),
                   ReturnLine.reason == "recall", ReturnRequest.status != ReturnStatus.REJECTED.value)
            .group_by(ReturnRequest.recall_id, ReturnLine.lot_id, Lot.lot_no)):
        r = row(recall_id, lot_id, lot_no)
        r.requested += int(qty)
        r.recovered += int(got)
    for recall_id, lot_id, lot_no, qty in db.session.execute(
            select(RecallLot.recall_id, StockBalance.lot_id, Lot.lot_no, func.sum(StockBalance.quantity))
            .join(RecallLot, RecallLot.lot_id == StockBalance.lot_id).join(Lot, Lot.id == StockBalance.lot_id)
            .where(StockBalance.distributor_id == d_id)
            .group_by(RecallLot.recall_id, StockBalance.lot_id, Lot.lot_no)
            .having(func.sum(StockBalance.quantity) != 0)):
        row(recall_id, lot_id, lot_no).on_hand = int(qty)
    return sorted(rows.values(), key=lambda r: (-r.recall.id, r.lot_no))


def _returns(ctx: customer360.Context) -> dict:
    d_id = ctx.distributor.id
    counts = dict(db.session.execute(select(ReturnRequest.status, func.count()).where(
        ReturnRequest.distributor_id == d_id).group_by(ReturnRequest.status)).all())
    year_start = date(ctx.today.year, 1, 1)
    credited = db.session.execute(select(func.coalesce(func.sum(ReturnRequest.credit_amount), 0)).where(
        ReturnRequest.distributor_id == d_id, ReturnRequest.status == ReturnStatus.CREDITED.value,
        ReturnRequest.credited_on >= year_start, ReturnRequest.credited_on <= ctx.today)).scalar_one()
    open_items = db.session.execute(select(ReturnRequest).where(
        ReturnRequest.distributor_id == d_id, ReturnRequest.status.in_(OPEN)).order_by(ReturnRequest.id.desc())
        .limit(10)).scalars().all()
    return {"counts": [(s, svc.status_label(s), counts.get(s, 0)) for s in ReturnStatus],
            "total": sum(counts.values()), "open_count": sum(counts.get(s, 0) for s in OPEN),
            "open": open_items, "credited": Decimal(credited), "year": ctx.today.year,
            "recalls": _recall_rows(ctx), "status_label": svc.status_label,
            "recall_status": recall_svc.status_label, "staff": ctx.role in recall_svc.STAFF_ROLES}


def _returns_sheet(data: dict):
    rows = [[_("Return requests"), label, n, None, None, None] for _s, label, n in data["counts"]]
    rows.append([_("Return requests"), _("Open returns"), data["open_count"], None, None, None])
    rows.append([_("Return requests"), _("Credited in %(year)d", year=data["year"]), str(data["credited"]), None,
                 None, None])
    rows += [[r.recall.number, r.lot_no, r.held, r.requested, r.recovered, r.outstanding] for r in data["recalls"]]
    return [_("Subject"), _("Item"), _("Value"), _("To return"), _("Recovered"), _("Outstanding")], rows


customer360.register_section(
    customer360.Section("returns", _l("Returns and recalls"), "distribution/c360/returns.html", _returns,
                        sheet=_returns_sheet), after="coverage")
