"""Recalls (召回): a manager opens a recall of one or more lots; they are blocked everywhere at once, every holder
is found from the ledger, each holding distributor gets a return (reason ``recall``) for what it holds, and the
recall is followed to its close on a dashboard (recovered versus outstanding per holder) with a PDF for the
regulator.

* :func:`open_recall` sets each lot ``recalled`` through :func:`inventory.services.set_lot_status` (the lot row is
  locked, so an allocation running at that moment either sees it blocked or finishes first; from then on FEFO skips
  it and a shipment movement refuses it), snapshots what every location holds (:class:`RecallHolding`, the
  dashboard's baseline) and creates one approved return per holding distributor
  (:func:`distribution.returns.create_recall_return`).
* :func:`recall_dashboard`: per holder and lot, held when opened, requested, recovered (received into quarantine),
  outstanding, still on hand by the ledger; our own stock; the terminals the lots reached (recall trace).
* :func:`close_recall`: the manager closes it (a note is required while anything is outstanding); a closed recall
  takes no more returns. The lots stay recalled.

Errors are :mod:`distribution.returns`' (403 / 409 / 422). Services add and flush, never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import func, select

from app import audit, clock
from app.extensions import db
from app.models import Distributor, Product, StockLocation, utcnow
from distribution.models.returns import Recall, RecallHolding, RecallLot, RecallStatus, ReturnLine, ReturnRequest
from distribution.returns import DECIDER_ROLES, NotAllowed, ReturnInvalid, WrongState, create_recall_return
from inventory.models import Lot, LotStatus, StockBalance

CLASSES = ("I", "II", "III")
STAFF_ROLES = ("admin", "channel_manager", "finance", "viewer")


def class_label(recall_class: str) -> str:
    return {"I": _("Class I (一级)"), "II": _("Class II (二级)"), "III": _("Class III (三级)")}.get(recall_class,
                                                                                               recall_class)


def status_label(status: str) -> str:
    return {"open": _("open"), "closed": _("closed")}.get(status, status)


def get_recall(recall_id: int) -> Recall | None:
    return db.session.get(Recall, recall_id)


def list_recalls(status: str | None = None):
    stmt = select(Recall).order_by(Recall.id.desc())
    return stmt.where(Recall.status == status) if status else stmt


def _lots(refs: Sequence, errors: dict[str, list[str]]) -> list[Lot]:
    out: list[Lot] = []
    for n, ref in enumerate(refs):
        key = f"lots.{n}"
        if isinstance(ref, Lot):
            lot = ref
        else:
            code = str((ref or {}).get("product_code") or "").strip()
            lot_no = str((ref or {}).get("lot_no") or "").strip()
            if not code and not lot_no:
                continue
            lot = db.session.execute(select(Lot).join(Product, Product.id == Lot.product_id)
                                     .where(Product.code == code, Lot.lot_no == lot_no)).scalar_one_or_none()
            if lot is None:
                errors.setdefault(key, []).append(_("%(code)s has no lot %(lot)s.", code=code, lot=lot_no))
                continue
        if any(o.id == lot.id for o in out):
            errors.setdefault(key, []).append(_("Lot %(lot)s is named twice.", lot=lot.lot_no))
            continue
        open_recall_no = db.session.execute(
            select(Recall.number).join(RecallLot, RecallLot.recall_id == Recall.id)
            .where(RecallLot.lot_id == lot.id, Recall.status == RecallStatus.OPEN.value)).scalar_one_or_none()
        if open_recall_no:
            errors.setdefault(key, []).append(_("Lot %(lot)s is already under the open recall %(number)s.",
                                                lot=lot.lot_no, number=open_recall_no))
            continue
        out.append(lot)
    return out


def open_recall(lots: Sequence, reason: str, recall_class: str, user, on_date: date | None = None) -> Recall:
    """Open a recall of ``lots`` (Lot rows or mappings with product_code and lot_no) for ``reason`` in class I, II or
    III: block the lots, snapshot every holder, create an approved return for each holding distributor. Raises
    NotAllowed (role), ReturnInvalid (no lot, unknown lot, a lot already under an open recall, no reason or class).
    Flushes."""
    from inventory import services as inventory
    from inventory.stock import lot_balances

    if user is None or not user.has_role(*DECIDER_ROLES):
        raise NotAllowed(_("Only a channel manager opens a recall."))
    errors: dict[str, list[str]] = {}
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = [_("A reason is required.")]
    if recall_class not in CLASSES:
        errors["recall_class"] = [_("Choose the recall class (I, II or III).")]
    chosen = _lots(list(lots), errors)
    if not chosen and not any(k.startswith("lots") for k in errors):
        errors["lots"] = [_("Name at least one lot.")]
    if errors:
        raise ReturnInvalid(next(iter(errors.values()))[0], errors)
    on_date = on_date or clock.today()
    recall = Recall(number=f"RC{on_date:%Y%m%d}-{uuid.uuid4().hex[:6].upper()}", recall_class=recall_class,
                    reason=reason, status=RecallStatus.OPEN.value, opened_by_id=user.id, opened_at=utcnow(),
                    opened_on=on_date)
    db.session.add(recall)
    db.session.flush()
    holders: dict[int, list[tuple[Lot, int]]] = {}
    for lot in sorted(chosen, key=lambda lot: lot.id):  # lock order: lot ids
        recall.lots.append(RecallLot(lot_id=lot.id, previous_status=lot.status))
        inventory.set_lot_status(lot, LotStatus.RECALLED.value, f"{recall.number}: {reason}")
        for h in lot_balances(lot.id):
            db.session.add(RecallHolding(recall_id=recall.id, lot_id=lot.id, location_id=h["location_id"],
                                         distributor_id=h["distributor_id"], quantity=int(h["quantity"])))
            if h["distributor_id"] is not None:
                holders.setdefault(h["distributor_id"], []).append((lot, int(h["quantity"])))
    db.session.flush()
    audit.record(db.session, "recall_opened", recall, note=reason,
                 after={"lots": [lot.id for lot in chosen], "class": recall_class, "holders": sorted(holders)})
    for distributor_id, held in sorted(holders.items()):
        merged: dict[int, tuple[Lot, int]] = {}
        for lot, qty in held:  # a distributor with two locations holding the lot returns both in one line
            merged[lot.id] = (lot, merged.get(lot.id, (lot, 0))[1] + qty)
        ret = create_recall_return(db.session.get(Distributor, distributor_id), list(merged.values()), recall, user,
                                   on_date)
        _notify(recall, "distributor", distributor_id, f"/distribution/returns/{ret.id}")
    _notify(recall, "channel_manager", None, f"/distribution/recalls/{recall.id}")
    db.session.flush()
    return recall


def _notify(recall: Recall, role: str, distributor_id: int | None, link: str) -> None:
    from flask_babel import force_locale

    from app.models import Notification

    lots = ", ".join(rl.lot.lot_no for rl in recall.lots)
    with force_locale("zh"):
        title = _("Recall %(number)s: lots %(lots)s are blocked; return what you hold.", number=recall.number,
                  lots=lots) if distributor_id else _("Recall %(number)s opened: lots %(lots)s.",
                                                      number=recall.number, lots=lots)
    db.session.add(Notification(audience_role=role, distributor_id=distributor_id, kind="recall",
                                dedupe_key=f"recall:{recall.id}:{role}:{distributor_id or 0}", title=title,
                                body=recall.reason, link=link))


# -- the dashboard ------------------------------------------------------------------------------------------------
@dataclass
class HolderRow:
    distributor_id: int | None
    code: str
    name: str
    tier: int | None
    lot_id: int
    lot_no: str
    held: int = 0
    requested: int = 0
    recovered: int = 0
    destroyed: int = 0
    on_hand: int = 0
    returns: list = field(default_factory=list)  # (id, number, status)

    @property
    def outstanding(self) -> int:
        return max(self.held - self.recovered, 0)


@dataclass
class RecallDashboard:
    recall: Recall
    lots: list  # (Lot, Product, on hand in the channel now)
    holders: list[HolderRow]  # distributors
    ours: list[HolderRow]  # our own warehouses and quarantine
    terminals: list  # recall-trace terminal rows, with the lot number

    @property
    def held(self) -> int:
        return sum(h.held for h in self.holders)

    @property
    def recovered(self) -> int:
        return sum(h.recovered for h in self.holders)

    @property
    def outstanding(self) -> int:
        return sum(h.outstanding for h in self.holders)

    @property
    def recovered_pct(self) -> int:
        return 100 if not self.held else round(100 * self.recovered / self.held)


def recall_dashboard(recall: Recall) -> RecallDashboard:
    """Recovered versus outstanding per holder and lot (see the module docstring)."""
    from inventory.trace import recall_trace

    lot_ids = [rl.lot_id for rl in recall.lots]
    rows: dict[tuple, HolderRow] = {}
    ours: dict[tuple, HolderRow] = {}
    holdings = db.session.execute(
        select(RecallHolding, StockLocation.code, StockLocation.name, Distributor.code, Distributor.name,
               Distributor.tier, Lot.lot_no)
        .join(StockLocation, StockLocation.id == RecallHolding.location_id)
        .join(Lot, Lot.id == RecallHolding.lot_id)
        .outerjoin(Distributor, Distributor.id == RecallHolding.distributor_id)
        .where(RecallHolding.recall_id == recall.id).order_by(RecallHolding.id)).all()
    for h, loc_code, loc_name, d_code, d_name, tier, lot_no in holdings:
        if h.distributor_id is None:
            row = ours.setdefault((h.location_id, h.lot_id), HolderRow(None, loc_code, loc_name, None, h.lot_id,
                                                                      lot_no))
        else:
            row = rows.setdefault((h.distributor_id, h.lot_id), HolderRow(h.distributor_id, d_code, d_name, tier,
                                                                         h.lot_id, lot_no))
        row.held += h.quantity
    lines = db.session.execute(
        select(ReturnLine, ReturnRequest.id, ReturnRequest.number, ReturnRequest.status, Distributor.code,
               Distributor.name, Distributor.tier, Lot.lot_no)
        .join(ReturnRequest, ReturnRequest.id == ReturnLine.request_id)
        .join(Distributor, Distributor.id == ReturnRequest.distributor_id).join(Lot, Lot.id == ReturnLine.lot_id)
        .where(ReturnRequest.recall_id == recall.id, ReturnLine.lot_id.in_(lot_ids), ReturnLine.reason == "recall",
               ReturnRequest.status != "rejected")
        .order_by(ReturnRequest.id)).all()
    for ln, ret_id, number, status, d_code, d_name, tier, lot_no in lines:
        row = rows.setdefault((ln.distributor_id, ln.lot_id), HolderRow(ln.distributor_id, d_code, d_name, tier,
                                                                        ln.lot_id, lot_no))
        row.requested += ln.quantity
        row.recovered += ln.received_quantity or 0
        row.destroyed += (ln.received_quantity or 0) if ln.disposition == "destroy" else 0
        row.returns.append((ret_id, number, status))
    for d_id, lot_id, qty in db.session.execute(
            select(StockBalance.distributor_id, StockBalance.lot_id, func.sum(StockBalance.quantity))
            .where(StockBalance.lot_id.in_(lot_ids), StockBalance.distributor_id.is_not(None))
            .group_by(StockBalance.distributor_id, StockBalance.lot_id)):
        if (d_id, lot_id) in rows:
            rows[(d_id, lot_id)].on_hand = int(qty)
    for (loc_id, lot_id), row in ours.items():
        row.on_hand = int(db.session.execute(select(func.coalesce(func.sum(StockBalance.quantity), 0))
                                             .where(StockBalance.location_id == loc_id,
                                                    StockBalance.lot_id == lot_id)).scalar_one())
    lots, terminals = [], []
    for rl in recall.lots:
        trace = recall_trace(rl.lot)
        lots.append((rl.lot, trace.product, trace.on_hand))
        terminals += [{**t, "lot_no": rl.lot.lot_no} for t in trace.terminals]
    return RecallDashboard(recall, lots, sorted(rows.values(), key=lambda r: (r.tier or 0, r.code, r.lot_no)),
                           list(ours.values()), terminals)


@dataclass
class DistributorRecallRow:
    """One recall × lot as one distributor's position in it (the distributor 360° page)."""

    recall: Recall
    lot_id: int
    lot_no: str
    held: int | None = None  # at the recall's opening: the manufacturer's baseline, staff only
    requested: int = 0
    recovered: int = 0
    on_hand: int = 0

    @property
    def outstanding(self) -> int:
        """As on the recall dashboard (held − recovered); without the baseline (a distributor user), what its
        recall returns ask for − recovered."""
        base = self.held if self.held is not None else self.requested
        return max(base - self.recovered, 0)


def distributor_recall_rows(distributor_id: int, staff: bool) -> list[DistributorRecallRow]:
    """The recalls of lots ``distributor_id`` held when they opened (staff only: the holdings are the
    manufacturer's), has recall returns for, or holds now; newest recall first."""
    found: dict[tuple[int, int], dict] = {}

    def row(recall_id: int, lot_id: int, lot_no: str) -> dict:
        return found.setdefault((recall_id, lot_id), {"lot_id": lot_id, "lot_no": lot_no})

    if staff:
        for recall_id, lot_id, lot_no, qty in db.session.execute(
                select(RecallHolding.recall_id, RecallHolding.lot_id, Lot.lot_no, func.sum(RecallHolding.quantity))
                .join(Lot, Lot.id == RecallHolding.lot_id).where(RecallHolding.distributor_id == distributor_id)
                .group_by(RecallHolding.recall_id, RecallHolding.lot_id, Lot.lot_no)):
            row(recall_id, lot_id, lot_no)["held"] = int(qty)
    for recall_id, lot_id, lot_no, qty, got in db.session.execute(
            select(ReturnRequest.recall_id, ReturnLine.lot_id, Lot.lot_no, func.sum(ReturnLine.quantity),
                   func.coalesce(func.sum(ReturnLine.received_quantity), 0))
            .join(ReturnRequest, ReturnRequest.id == ReturnLine.request_id).join(Lot, Lot.id == ReturnLine.lot_id)
            .where(ReturnRequest.distributor_id == distributor_id, ReturnRequest.recall_id.is_not(None),
                   ReturnLine.reason == "recall", ReturnRequest.status != "rejected")
            .group_by(ReturnRequest.recall_id, ReturnLine.lot_id, Lot.lot_no)):
        row(recall_id, lot_id, lot_no).update(requested=int(qty), recovered=int(got))
    for recall_id, lot_id, lot_no, qty in db.session.execute(
            select(RecallLot.recall_id, StockBalance.lot_id, Lot.lot_no, func.sum(StockBalance.quantity))
            .join(RecallLot, RecallLot.lot_id == StockBalance.lot_id).join(Lot, Lot.id == StockBalance.lot_id)
            .where(StockBalance.distributor_id == distributor_id)
            .group_by(RecallLot.recall_id, StockBalance.lot_id, Lot.lot_no)
            .having(func.sum(StockBalance.quantity) != 0)):
        row(recall_id, lot_id, lot_no)["on_hand"] = int(qty)
    recalls = {r.id: r for r in db.session.execute(
        select(Recall).where(Recall.id.in_({k[0] for k in found}))).scalars()} if found else {}
    rows = [DistributorRecallRow(recalls[recall_id], **values) for (recall_id, _lot), values in found.items()]
    return sorted(rows, key=lambda r: (-r.recall.id, r.lot_no))


def close_recall(recall: Recall, user, note: str | None = None) -> Recall:
    """Close an open recall; a note is required while any holder still has units outstanding. A closed recall takes
    no more returns; its lots stay recalled. Raises NotAllowed, WrongState (already closed), ReturnInvalid."""
    if user is None or not user.has_role(*DECIDER_ROLES):
        raise NotAllowed(_("Only a channel manager closes a recall."))
    db.session.execute(select(Recall.id).where(Recall.id == recall.id).with_for_update())
    db.session.refresh(recall)
    if not recall.is_open:
        raise WrongState(_("Recall %(number)s is already closed.", number=recall.number))
    note = (note or "").strip()
    outstanding = recall_dashboard(recall).outstanding
    if outstanding and not note:
        msg = _("%(n)d units are still outstanding; say why the recall is closed anyway.", n=outstanding)
        raise ReturnInvalid(msg, {"note": [msg]})
    recall.status, recall.closed_by_id, recall.closed_at = RecallStatus.CLOSED.value, user.id, utcnow()
    recall.close_note = note or None
    db.session.flush()
    audit.record(db.session, "recall_closed", recall, note=note or None, after={"outstanding": outstanding})
    return recall


def lot_refs_from_form(form: Mapping) -> list[dict]:
    """(product code, lot number) pairs from a form's repeated ``product_code`` / ``lot_no`` fields."""
    codes, lots = form.getlist("product_code"), form.getlist("lot_no")
    return [{"product_code": c.strip(), "lot_no": n.strip()} for c, n in zip(codes, lots, strict=False)
            if c.strip() or n.strip()]
