"""The returns section of the distributor 360° page (registered on :mod:`distribution.customer360`): the
distributor's return requests (counts by status, the open ones, the amount credited this year) and the recalls of
lots it holds or held (recovered versus outstanding), with links into the returns and recall pages.

A distributor user sees its own returns (tenant scoping) and the recalls through its own recall returns and stock;
the baseline of what it held when a recall opened (``RecallHolding``) is the manufacturer's, so for a distributor
user the units to return are those its recall returns ask for. Links to the recall pages are staff's only.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.extensions import db
from distribution import customer360
from distribution import recalls as recall_svc
from distribution import returns as svc
from distribution.models.returns import ReturnRequest, ReturnStatus

OPEN = (ReturnStatus.REQUESTED.value, ReturnStatus.APPROVED.value, ReturnStatus.RECEIVED.value,
        ReturnStatus.DISPOSED.value)


def _returns(ctx: customer360.Context) -> dict:
    d_id, staff = ctx.distributor.id, ctx.role in recall_svc.STAFF_ROLES
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
            "recalls": recall_svc.distributor_recall_rows(d_id, staff), "status_label": svc.status_label,
            "recall_status": recall_svc.status_label, "staff": staff}


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
