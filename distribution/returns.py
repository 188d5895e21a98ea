"""The verbs of returns (退货): request (lot-verified against our shipments, checked by the return policy), a channel
manager's decision, receipt into quarantine, QA's disposition, and finance's credit memo at the original price.

The journey (DESIGN.md §2)::

    request_return → requested ─ decide_return → approved ─ receive_return → received ─ dispose_return → disposed
                              └→ rejected (reason required)                      ─ issue_credit → credited

* :func:`request_return` checks every line before anything is written: the product and lot exist and belong
  together (a scanned pack's GTIN and expiry must match), the lot was shipped to this distributor by one of our
  shipments, the quantity is at most shipped − already returned (requests still in flight count), and the return
  policy (:mod:`distribution.return_rules`, configured by ``RETURN_POLICY``) allows the reason. The distributor's
  row is locked (``SELECT … FOR UPDATE``) first, so two concurrent requests for the same units are checked one
  after the other and cannot both pass. Under a recall (reason ``recall``) the limit is what the distributor holds
  by our ledger, and the lot's recall must be open.
* :func:`receive_return` posts one ``return`` movement per line from the distributor's warehouse into the
  quarantine location; :func:`dispose_return` posts one more per line: back to the manufacturer's warehouse
  (``return``, restocked as saleable) or a ``write_off`` (destroyed). A recalled or blocked lot can only be destroyed.
* :func:`issue_credit` prices the received units at the invoice price of the shipments that delivered that lot to
  this distributor, latest shipments first (:func:`distribution.return_rules.price_from_shipments`), keeps the
  restocking fee of overstock lines, and posts one credit memo (``CM-<return number>``) through
  :func:`credit.services.post_credit_memo`: the receivable and the exposure go down once. A second credit is refused
  (the status, and the memo's unique reference).

Every step writes a :class:`ReturnEvent` (the history the distributor sees) and an audit-log entry. Services add and
flush, never commit; they take the acting user. Errors (:class:`ReturnError` and subclasses) carry a message in the
user's language and an HTTP status: 403 :class:`NotAllowed`, 409 :class:`WrongState`, 422 :class:`ReturnInvalid`
(``errors``: field → messages, e.g. ``lines.0.lot_no``) and :class:`RuleViolation`. Nothing is written when one is
raised (checks come before the first write; a later failure raises and the boundary rolls back).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import case, func, or_, select

from app import audit, clock
from app.extensions import db
from app.models import Distributor, Product, StockLocation, utcnow
from distribution import gs1
from distribution import return_rules as rules
from distribution.models.orders import Shipment, ShipmentLine
from distribution.models.returns import (
    Recall,
    RecallLot,
    ReturnAttachment,
    ReturnCreditSource,
    ReturnEvent,
    ReturnFile,
    ReturnLine,
    ReturnRequest,
    ReturnStatus,
)
from inventory.models import Lot, LotStatus, StockBalance

REQUESTER_ROLES = ("admin", "channel_manager", "distributor")
DECIDER_ROLES = ("admin", "channel_manager")
WAREHOUSE_ROLES = ("admin", "channel_manager")  # receipt at the warehouse and QA's disposition
FINANCE_ROLES = ("admin", "finance")
READER_ROLES = ("admin", "channel_manager", "finance", "viewer", "distributor")
MAX_LINES = 50
IN_FLIGHT = (ReturnStatus.REQUESTED.value, ReturnStatus.APPROVED.value)
DONE = (ReturnStatus.RECEIVED.value, ReturnStatus.DISPOSED.value, ReturnStatus.CREDITED.value)


class ReturnError(Exception):
    status = 422

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class ReturnInvalid(ReturnError):
    status = 422


class RuleViolation(ReturnError):
    status = 422


class WrongState(ReturnError):
    status = 409


class NotAllowed(ReturnError):
    status = 403


@dataclass(frozen=True)
class LineInput:
    """One line as entered: product code and lot number typed, or a GS1 scan (``scan``) that fills them (and the
    expiry, checked against the lot's); a whole quantity in base units; a reason (:data:`return_rules.REASONS`)."""

    product_code: str = ""
    lot_no: str = ""
    quantity: object = None
    reason: str = ""
    scan: str = ""
    expires_on: date | None = None


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


def policy() -> rules.ReturnPolicy:
    """The return policy in force: the defaults of :class:`~distribution.return_rules.ReturnPolicy` with the app
    config ``RETURN_POLICY`` over them."""
    return rules.ReturnPolicy.from_mapping(current_app.config.get("RETURN_POLICY"))


# -- labels -------------------------------------------------------------------------------------------------------
def status_label(status: str) -> str:
    return {"requested": _("requested"), "approved": _("approved"), "rejected": _("rejected"),
            "received": _("received"), "disposed": _("disposed"), "credited": _("credited")}.get(status, status)


def reason_label(reason: str) -> str:
    return {"near_expiry": _("near expiry"), "damaged_in_transit": _("damaged in transit"),
            "quality_complaint": _("quality complaint"), "recall": _("recall"),
            "wrong_shipment": _("wrong shipment"), "overstock": _("overstock")}.get(reason, reason)


def disposition_label(disposition: str | None) -> str:
    return {"restock": _("restock as saleable"), "destroy": _("destroy (write-off)")}.get(disposition or "", "—")


def status_choices() -> list[tuple[str, str]]:
    return [(s.value, status_label(s.value)) for s in ReturnStatus]


def reason_choices(include_recall: bool = True) -> list[tuple[str, str]]:
    return [(r, reason_label(r)) for r in rules.REASONS if include_recall or r != "recall"]


def problem_message(p: rules.Problem) -> str:
    """A policy refusal in the user's language."""
    a = p.params
    messages = {
        "unknown_reason": lambda: _("Unknown return reason %(reason)s.", reason=a.get("reason")),
        "no_recall": lambda: _("This lot is not under a recall; choose another reason."),
        "recall_closed": lambda: _("The recall of this lot is closed; it takes no more returns."),
        "expired": lambda: _("The lot expired on %(date)s; expired stock cannot be returned (except under a recall).",
                             date=a["expires_on"].isoformat()),
        "too_many": lambda: _("%(quantity)d is more than can be returned: %(returnable)d (shipped to you, less what "
                              "was already returned or requested).", quantity=a["quantity"],
                              returnable=a["returnable"]),
        "not_near_expiry": lambda: _("The lot expires in %(days)d days; near-expiry returns are accepted only within "
                                     "%(window)d days before expiry.", days=a["days"], window=a["window"]),
        "damage_reported_late": lambda: _("Transit damage must be reported within %(limit)d days of delivery; the "
                                          "latest delivery of this lot was %(days)d days ago.", limit=a["limit"],
                                          days=a["days"]),
        "wrong_shipment_late": lambda: _("A wrong shipment must be reported within %(limit)d days of delivery; the "
                                         "latest delivery of this lot was %(days)d days ago.", limit=a["limit"],
                                         days=a["days"]),
        "overstock_short_shelf": lambda: _("Overstock returns must still have %(minimum)d days to expiry; this lot "
                                           "has %(days)d.", minimum=a["minimum"], days=a["days"]),
        "attachment_required": lambda: _("A %(reason)s return needs a photo or document attached.",
                                         reason=reason_label(a["reason"])),
        "attachment_empty": lambda: _("%(name)s is empty.", name=a["name"]),
        "attachment_too_large": lambda: _("%(name)s is larger than %(mb)d MB.", name=a["name"], mb=a["mb"]),
        "attachment_type": lambda: _("%(name)s is not a photo (JPEG, PNG, WebP) or a PDF.", name=a["name"]),
    }
    return messages.get(p.code, lambda: p.code)()


# -- reading ------------------------------------------------------------------------------------------------------
def get_return(return_id: int) -> ReturnRequest | None:
    """The return if the acting user may see it (tenant scoping applies), else None."""
    return db.session.execute(select(ReturnRequest).where(ReturnRequest.id == return_id)).scalar_one_or_none()


def list_returns(distributor_code: str | None = None, status: str | None = None, q: str | None = None,
                 recall_id: int | None = None):
    """A SELECT of returns, newest first, filtered; tenant scoping limits a distributor user to its own."""
    stmt = (select(ReturnRequest).join(Distributor, Distributor.id == ReturnRequest.distributor_id)
            .order_by(ReturnRequest.id.desc()))
    if distributor_code:
        stmt = stmt.where(Distributor.code == distributor_code.strip())
    if status:
        stmt = stmt.where(ReturnRequest.status == status)
    if recall_id:
        stmt = stmt.where(ReturnRequest.recall_id == recall_id)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(ReturnRequest.number.ilike(like), Distributor.name.ilike(like),
                              Distributor.code.ilike(like)))
    return stmt


def _returned(distributor_id: int, lot_ids: set[int], exclude_id: int | None = None) -> dict[int, int]:
    """Per lot, what the distributor has returned or asked to return: requests in flight count in full, received
    ones by what arrived, rejected ones not at all."""
    if not lot_ids:
        return {}
    qty = case((ReturnRequest.status.in_(IN_FLIGHT), ReturnLine.quantity),
               (ReturnRequest.status.in_(DONE), func.coalesce(ReturnLine.received_quantity, 0)), else_=0)
    stmt = (select(ReturnLine.lot_id, func.sum(qty)).join(ReturnRequest, ReturnRequest.id == ReturnLine.request_id)
            .where(ReturnLine.distributor_id == distributor_id, ReturnLine.lot_id.in_(lot_ids))
            .group_by(ReturnLine.lot_id))
    if exclude_id is not None:
        stmt = stmt.where(ReturnRequest.id != exclude_id)
    return {lot_id: int(n or 0) for lot_id, n in db.session.execute(stmt)}


def _in_flight(distributor_id: int, lot_ids: set[int]) -> dict[int, int]:
    if not lot_ids:
        return {}
    return {lot_id: int(n) for lot_id, n in db.session.execute(
        select(ReturnLine.lot_id, func.sum(ReturnLine.quantity))
        .join(ReturnRequest, ReturnRequest.id == ReturnLine.request_id)
        .where(ReturnLine.distributor_id == distributor_id, ReturnLine.lot_id.in_(lot_ids),
               ReturnRequest.status.in_(IN_FLIGHT)).group_by(ReturnLine.lot_id))}


def shipped_units(distributor_id: int, lot_ids: set[int]) -> dict[int, list[rules.ShippedUnits]]:
    """Per lot, every shipment line that delivered it to the distributor, with what earlier credits used."""
    if not lot_ids:
        return {}
    credited = (select(func.coalesce(func.sum(ReturnCreditSource.quantity), 0))
                .where(ReturnCreditSource.shipment_line_id == ShipmentLine.id).correlate(ShipmentLine)
                .scalar_subquery())
    rows = db.session.execute(
        select(ShipmentLine.lot_id, ShipmentLine.id, Shipment.on_date, ShipmentLine.quantity, credited,
               ShipmentLine.unit_price, Shipment.invoice_reference)
        .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
        .where(Shipment.distributor_id == distributor_id, ShipmentLine.lot_id.in_(lot_ids))
        .order_by(Shipment.on_date, ShipmentLine.id))
    out: dict[int, list[rules.ShippedUnits]] = {}
    for lot_id, sl_id, on, qty, used, price, invoice in rows:
        out.setdefault(lot_id, []).append(rules.ShippedUnits(sl_id, on, int(qty), int(used), price, invoice))
    return out


def held_quantities(distributor_id: int, lot_ids: set[int]) -> dict[int, int]:
    """Per lot, what the distributor holds at its locations by our ledger."""
    if not lot_ids:
        return {}
    return {lot_id: int(n) for lot_id, n in db.session.execute(
        select(StockBalance.lot_id, func.sum(StockBalance.quantity))
        .where(StockBalance.distributor_id == distributor_id, StockBalance.lot_id.in_(lot_ids))
        .group_by(StockBalance.lot_id))}


@dataclass(frozen=True)
class ReturnableLot:
    lot_id: int
    product_code: str
    product_name: str
    lot_no: str
    expires_on: date
    status: str
    shipped: int
    returned: int

    @property
    def returnable(self) -> int:
        return max(self.shipped - self.returned, 0)


def returnable_lots(distributor: Distributor) -> list[ReturnableLot]:
    """The lots our shipments delivered to ``distributor``, with what is still returnable (for the request form)."""
    rows = db.session.execute(
        select(Lot.id, Product.code, Product.generic_name, Product.specification, Lot.lot_no, Lot.expires_on,
               Lot.status, func.sum(ShipmentLine.quantity))
        .join(Shipment, Shipment.id == ShipmentLine.shipment_id).join(Lot, Lot.id == ShipmentLine.lot_id)
        .join(Product, Product.id == Lot.product_id).where(Shipment.distributor_id == distributor.id)
        .group_by(Lot.id, Product.code, Product.generic_name, Product.specification, Lot.lot_no, Lot.expires_on,
                  Lot.status)
        .order_by(Lot.expires_on, Product.code, Lot.lot_no)).all()
    returned = _returned(distributor.id, {r[0] for r in rows})
    return [ReturnableLot(lot_id, code, f"{name} {spec}", lot_no, exp, status, int(shipped), returned.get(lot_id, 0))
            for lot_id, code, name, spec, lot_no, exp, status, shipped in rows]


def recall_of(lot_id: int) -> Recall | None:
    """The latest recall naming the lot (open or closed), or None."""
    return db.session.execute(select(Recall).join(RecallLot, RecallLot.recall_id == Recall.id)
                              .where(RecallLot.lot_id == lot_id).order_by(Recall.id.desc()).limit(1)
                              ).scalar_one_or_none()


# -- scanning -----------------------------------------------------------------------------------------------------
def scan_message(exc: gs1.ScanError) -> str:
    return {"check_digit": _("The scanned GTIN has a wrong check digit; scan again or type the code."),
            "no_gtin": _("The scan has no GTIN (01); scan the DataMatrix on the pack."),
            }.get(exc.code, _("The scan could not be read as a GS1 code; scan again or type product and lot."))


def product_for_gtin(gtin: str) -> Product | None:
    """The product whose GTIN (stored as 8, 12, 13 or 14 digits) is ``gtin`` in its 14-digit form."""
    g14 = gs1.gtin14(gtin)
    candidates = {g14[i:] for i in (0, 1, 2, 6) if g14[:i] == "0" * i}
    return db.session.execute(select(Product).where(Product.gtin.in_(candidates)).limit(1)).scalar_one_or_none()


@dataclass(frozen=True)
class ScanResult:
    scan: gs1.Scan
    product: Product | None
    lot: Lot | None


def read_scan(text: str) -> ScanResult:
    """What a scanned pack says (product by GTIN, lot, expiry, serial) and the lot it names, for filling a form.
    Raises ReturnInvalid when the code cannot be read or names no product of ours."""
    try:
        scan = gs1.parse_scan(text)
    except gs1.ScanError as exc:
        raise ReturnInvalid(scan_message(exc), {"scan": [scan_message(exc)]}) from exc
    product = product_for_gtin(scan.gtin)
    if product is None:
        msg = _("No product of ours has the GTIN %(gtin)s.", gtin=scan.gtin)
        raise ReturnInvalid(msg, {"scan": [msg]})
    lot = None
    if scan.lot_no:
        lot = db.session.execute(select(Lot).where(Lot.product_id == product.id, Lot.lot_no == scan.lot_no)
                                 ).scalar_one_or_none()
    return ScanResult(scan, product, lot)


# -- requesting ---------------------------------------------------------------------------------------------------
def _as_input(line) -> LineInput:
    if isinstance(line, LineInput):
        return line
    if isinstance(line, Mapping):
        exp = line.get("expires_on")
        if isinstance(exp, str) and exp.strip():
            try:
                exp = date.fromisoformat(exp.strip())
            except ValueError:
                exp = None
        return LineInput(str(line.get("product_code") or "").strip(), str(line.get("lot_no") or "").strip(),
                         line.get("quantity"), str(line.get("reason") or "").strip(),
                         str(line.get("scan") or "").strip(), exp if isinstance(exp, date) else None)
    raise TypeError("return lines are LineInput or mappings")


def _whole(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, float | Decimal) and value == int(value):
        return int(value)
    return None


@dataclass
class _Resolved:
    n: int
    product: Product
    lot: Lot
    quantity: int
    reason: str
    serial: str | None


def _resolve(n: int, item: LineInput, errors: dict[str, list[str]]) -> _Resolved | None:
    """Product, lot and quantity of one line (from the scan or as typed), or None with its errors noted."""
    key = f"lines.{n}"

    def err(field: str, message: str) -> None:
        errors.setdefault(f"{key}.{field}", []).append(message)

    code, lot_no, expires_on, serial, product = item.product_code, item.lot_no, item.expires_on, None, None
    if item.scan:
        try:
            scanned = read_scan(item.scan)
        except ReturnInvalid as exc:
            err("scan", exc.message)
            return None
        product, serial = scanned.product, scanned.scan.serial
        if code and code != product.code:
            err("product_code", _("The scanned pack is %(scanned)s, not %(code)s.", scanned=product.code, code=code))
            return None
        lot_no = scanned.scan.lot_no or lot_no
        expires_on = scanned.scan.expires_on or expires_on
    if product is None:
        if not code:
            err("product_code", _("Required."))
            return None
        product = db.session.execute(select(Product).where(Product.code == code)).scalar_one_or_none()
        if product is None:
            err("product_code", _("Unknown product %(code)s.", code=code))
            return None
    if not lot_no:
        err("lot_no", _("Required."))
        return None
    lot = db.session.execute(select(Lot).where(Lot.product_id == product.id, Lot.lot_no == lot_no)
                             ).scalar_one_or_none()
    if lot is None:
        other = db.session.execute(select(Product.code).join(Lot, Lot.product_id == Product.id)
                                   .where(Lot.lot_no == lot_no).limit(1)).scalar_one_or_none()
        err("lot_no", _("Lot %(lot)s is a lot of another product (%(other)s), not of %(code)s.", lot=lot_no,
                        other=other, code=product.code) if other else
            _("%(code)s has no lot %(lot)s.", code=product.code, lot=lot_no))
        return None
    if expires_on is not None and expires_on != lot.expires_on:
        err("lot_no", _("Lot %(lot)s expires on %(real)s, not %(given)s: check the pack.", lot=lot_no,
                        real=lot.expires_on.isoformat(), given=expires_on.isoformat()))
        return None
    quantity = _whole(item.quantity)
    if quantity is None or quantity <= 0:
        err("quantity", _("The quantity must be a positive whole number of base units."))
        return None
    if quantity > 10_000_000:
        err("quantity", _("The quantity is too large."))
        return None
    if item.reason not in rules.REASONS:
        err("reason", _("Choose a return reason."))
        return None
    return _Resolved(n, product, lot, quantity, item.reason, serial)


def _check_uploads(uploads: Sequence[Upload], errors: dict[str, list[str]]) -> None:
    if len(uploads) > rules.MAX_ATTACHMENTS:
        errors.setdefault("attachments", []).append(
            _("At most %(n)d attachments per return.", n=rules.MAX_ATTACHMENTS))
    for up in uploads:
        problem = rules.check_attachment(up.filename or "attachment", up.data)
        if problem is not None:
            errors.setdefault("attachments", []).append(problem_message(problem))


def _lock_distributor(distributor: Distributor) -> None:
    db.session.execute(select(Distributor.id).where(Distributor.id == distributor.id).with_for_update())


def _require_requester(distributor: Distributor, user) -> None:
    if user is None or not user.has_role(*REQUESTER_ROLES):
        raise NotAllowed(_("Your role may not request returns."))
    if user.is_distributor and user.distributor_id != distributor.id:
        raise NotAllowed(_("You may request returns only for your own distributor."))


def request_return(distributor: Distributor, lines: Sequence, user, *, note: str | None = None,
                   attachments: Sequence[Upload] = (), on_date: date | None = None) -> ReturnRequest:
    """File a return of ``distributor`` (by its own user, or by a channel manager on its behalf): lines of
    :class:`LineInput` (or mappings with product_code, lot_no, quantity, reason, optional scan and expires_on),
    with photos or documents. Every line is checked first (see the module docstring); refusals name every problem at
    once. Returns the request, ``requested``. Raises NotAllowed, ReturnInvalid, RuleViolation. Flushes."""
    _require_requester(distributor, user)
    on_date = on_date or clock.today()
    inputs = [_as_input(ln) for ln in lines]
    inputs = [i for i in inputs if i.product_code or i.lot_no or i.scan or i.quantity not in (None, "")]
    if not inputs:
        raise ReturnInvalid(_("A return needs at least one line."), {"lines": [_("A return needs at least one line.")]})
    if len(inputs) > MAX_LINES:
        raise ReturnInvalid(_("A return has at most %(n)d lines.", n=MAX_LINES))
    errors: dict[str, list[str]] = {}
    _check_uploads(attachments, errors)
    _lock_distributor(distributor)
    resolved = [r for n, item in enumerate(inputs) if (r := _resolve(n, item, errors)) is not None]
    seen: dict[int, int] = {}
    for r in resolved:
        if r.lot.id in seen:
            errors.setdefault(f"lines.{r.n}.lot_no", []).append(
                _("Lot %(lot)s is on the return twice; put it on one line.", lot=r.lot.lot_no))
        seen[r.lot.id] = r.n
    lot_ids = {r.lot.id for r in resolved}
    shipped = shipped_units(distributor.id, lot_ids)
    returned = _returned(distributor.id, lot_ids)
    held = held_quantities(distributor.id, lot_ids) if any(r.reason == "recall" for r in resolved) else {}
    in_flight = _in_flight(distributor.id, lot_ids) if held else {}
    recalls = {r.lot.id: recall_of(r.lot.id) for r in resolved if r.reason == "recall"}
    current = policy()
    for r in resolved:
        units = shipped.get(r.lot.id, [])
        key = f"lines.{r.n}"
        if r.reason == "recall":
            if not units and not held.get(r.lot.id):
                errors.setdefault(f"{key}.lot_no", []).append(
                    _("Lot %(lot)s was never shipped to %(name)s and it holds none.", lot=r.lot.lot_no,
                      name=distributor.name))
                continue
            returnable = held.get(r.lot.id, 0) - in_flight.get(r.lot.id, 0)
        else:
            if not units:
                errors.setdefault(f"{key}.lot_no", []).append(
                    _("Lot %(lot)s of %(code)s was never shipped to %(name)s.", lot=r.lot.lot_no,
                      code=r.product.code, name=distributor.name))
                continue
            returnable = sum(u.quantity for u in units) - returned.get(r.lot.id, 0)
        recall = recalls.get(r.lot.id)
        facts = rules.LineFacts(r.reason, r.quantity, returnable, r.lot.expires_on,
                                max((u.shipped_on for u in units), default=None), bool(attachments),
                                recall.status if recall is not None else None)
        for problem in rules.check_line(facts, current, on_date):
            errors.setdefault(f"{key}.{'quantity' if problem.code == 'too_many' else 'reason'}", []).append(
                problem_message(problem))
    if errors:
        first = next(iter(errors.values()))[0]
        raise ReturnInvalid(first if sum(map(len, errors.values())) == 1 else _(
            "%(n)d problems in the return; nothing was saved.", n=sum(map(len, errors.values()))), errors)
    recall_ids = {recalls[r.lot.id].id for r in resolved if r.reason == "recall"}
    return _create(distributor, resolved, user, current, on_date, note, attachments,
                   recall_id=min(recall_ids) if recall_ids else None)


def _create(distributor, resolved: list[_Resolved], user, current: rules.ReturnPolicy, on_date: date, note,
            attachments: Sequence[Upload], recall_id: int | None) -> ReturnRequest:
    ret = ReturnRequest(number=f"RT{on_date:%Y%m%d}-{uuid.uuid4().hex[:8].upper()}", distributor_id=distributor.id,
                        status=ReturnStatus.REQUESTED.value, on_date=on_date, note=(note or "").strip() or None,
                        requested_by_id=getattr(user, "id", None), requested_at=utcnow(), recall_id=recall_id)
    db.session.add(ret)
    for no, r in enumerate(resolved, start=1):
        ret.lines.append(ReturnLine(distributor_id=distributor.id, line_no=no, product_id=r.product.id,
                                    lot_id=r.lot.id, quantity=r.quantity, reason=r.reason, serial=r.serial,
                                    restocking_fee_pct=current.fee_pct(r.reason)))
    db.session.flush()
    for up in attachments:
        add_attachment(ret, up, user)
    _event(ret, None, ret.status, user, ret.note)
    audit.record(db.session, "return_requested", ret, note=ret.note,
                 after={"lines": [{"lot_id": r.lot.id, "quantity": r.quantity, "reason": r.reason}
                                  for r in resolved]})
    return ret


def create_recall_return(distributor: Distributor, lots: Sequence[tuple[Lot, int]], recall: Recall, user,
                         on_date: date | None = None) -> ReturnRequest:
    """The return a recall asks of a holder: one ``recall`` line per lot at the quantity it holds, requested and at
    once approved by the manager who opened the recall. Flushes."""
    on_date = on_date or clock.today()
    _lock_distributor(distributor)
    resolved = [_Resolved(n, lot.product, lot, qty, "recall", None) for n, (lot, qty) in enumerate(lots)]
    ret = _create(distributor, resolved, user, policy(), on_date,
                  _("Recall %(number)s: please return these lots.", number=recall.number), (), recall.id)
    return decide_return(ret, True, user, _("Recall %(number)s", number=recall.number))


# -- attachments --------------------------------------------------------------------------------------------------
def add_attachment(ret: ReturnRequest, upload: Upload, user) -> ReturnAttachment:
    """Attach a photo or document to ``ret``; the bytes are stored once per distributor by their SHA-256. Raises
    ReturnInvalid for an empty, too large or not-a-photo-or-PDF file. Flushes."""
    problem = rules.check_attachment(upload.filename or "attachment", upload.data)
    if problem is not None:
        raise ReturnInvalid(problem_message(problem), {"attachments": [problem_message(problem)]})
    digest = hashlib.sha256(upload.data).hexdigest()
    content_type = rules.sniff(upload.data)
    stored = db.session.execute(select(ReturnFile).where(ReturnFile.distributor_id == ret.distributor_id,
                                                         ReturnFile.sha256 == digest)).scalar_one_or_none()
    if stored is None:
        stored = ReturnFile(distributor_id=ret.distributor_id, sha256=digest, size=len(upload.data),
                            content_type=content_type, data=upload.data)
        db.session.add(stored)
        db.session.flush()
    att = ReturnAttachment(request_id=ret.id, distributor_id=ret.distributor_id, file_id=stored.id,
                           filename=rules.safe_filename(upload.filename, content_type),
                           uploaded_by_id=getattr(user, "id", None))
    db.session.add(att)
    db.session.flush()
    return att


def get_attachment(return_id: int, attachment_id: int) -> tuple[ReturnAttachment, bytes] | None:
    """The attachment and its bytes if the acting user may see the return (tenant scoping), else None."""
    att = db.session.execute(select(ReturnAttachment).where(ReturnAttachment.id == attachment_id,
                                                            ReturnAttachment.request_id == return_id)
                             ).scalar_one_or_none()
    if att is None:
        return None
    data = db.session.execute(select(ReturnFile.data).where(ReturnFile.id == att.file_id)).scalar_one_or_none()
    return None if data is None else (att, data)


# -- the workflow -------------------------------------------------------------------------------------------------
def _event(ret: ReturnRequest, before: str | None, after: str, user, note: str | None) -> None:
    from app.tenancy import current_actor

    db.session.add(ReturnEvent(request_id=ret.id, distributor_id=ret.distributor_id, actor_id=getattr(user, "id", None),
                               actor=getattr(user, "display_name", None) or current_actor().label,
                               from_status=before, to_status=after, note=note))
    db.session.flush()


def _locked(ret: ReturnRequest) -> ReturnRequest:
    db.session.execute(select(ReturnRequest.id).where(ReturnRequest.id == ret.id).with_for_update())
    db.session.refresh(ret)
    return ret


def _step(ret: ReturnRequest, step: str) -> str:
    to = rules.next_status(step, ret.status)
    if to is None:
        names = {"approve": _("approved"), "reject": _("rejected"), "receive": _("received"),
                 "dispose": _("disposed of"), "credit": _("credited")}
        raise WrongState(_("Return %(number)s is %(status)s; it cannot be %(step)s now.", number=ret.number,
                           status=status_label(ret.status), step=names[step]))
    return to


def _require(user, roles: tuple[str, ...], message: str) -> None:
    if user is None or not user.has_role(*roles):
        raise NotAllowed(message)


def decide_return(ret: ReturnRequest, approve: bool, user, reason: str | None = None) -> ReturnRequest:
    """A channel manager approves or rejects a requested return. A rejection needs a reason, and so does approving
    an overstock return (the policy's "only with approval"). Raises NotAllowed, WrongState, ReturnInvalid."""
    _require(user, DECIDER_ROLES, _("Only a channel manager decides returns."))
    ret = _locked(ret)
    to = _step(ret, "approve" if approve else "reject")
    reason = (reason or "").strip()
    if not reason and (not approve or rules.approval_needs_reason(ln.reason for ln in ret.lines)):
        msg = (_("A reason is required to reject a return.") if not approve
               else _("Approving an overstock return needs a reason."))
        raise ReturnInvalid(msg, {"reason": [msg]})
    before = ret.status
    ret.status, ret.decided_by_id, ret.decided_at, ret.decision_reason = to, user.id, utcnow(), reason or None
    db.session.flush()
    _event(ret, before, to, user, reason or None)
    audit.record(db.session, "return_approved" if approve else "return_rejected", ret, note=reason or None,
                 before={"status": before}, after={"status": to})
    return ret


def quarantine_location() -> StockLocation | None:
    """Where returns are received: the active quarantine location (the first by id)."""
    return db.session.execute(select(StockLocation).where(StockLocation.kind == "quarantine", StockLocation.active)
                              .order_by(StockLocation.id).limit(1)).scalar_one_or_none()


def _holding_location(distributor_id: int, lot_id: int) -> StockLocation | None:
    """The distributor's location holding the most of the lot (its warehouse, usually the only one)."""
    return db.session.execute(
        select(StockLocation).join(StockBalance, StockBalance.location_id == StockLocation.id)
        .where(StockLocation.distributor_id == distributor_id, StockBalance.lot_id == lot_id,
               StockBalance.quantity > 0)
        .order_by(StockBalance.quantity.desc(), StockLocation.id).limit(1)).scalar_one_or_none()


def _quantities(ret: ReturnRequest, given: Mapping | None) -> dict[int, int]:
    """Received quantity per line id: the whole request by default, or as given (0 … requested)."""
    if given is None:
        return {ln.id: ln.quantity for ln in ret.lines}
    by_id, out, errors = {ln.id: ln for ln in ret.lines}, {}, {}
    for key, value in given.items():
        ln, q = by_id.get(int(key)), _whole(value)
        if ln is None:
            errors[f"lines.{key}"] = [_("Line %(id)s is not on this return.", id=key)]
        elif q is None or q < 0 or q > ln.quantity:
            errors[f"lines.{key}"] = [_("Between 0 and %(n)d.", n=ln.quantity)]
        else:
            out[ln.id] = q
    if errors:
        raise ReturnInvalid(next(iter(errors.values()))[0], errors)
    return {ln.id: out.get(ln.id, 0) for ln in ret.lines}


def receive_return(ret: ReturnRequest, user, quantities: Mapping | None = None,
                   on_date: date | None = None) -> ReturnRequest:
    """The warehouse receives an approved return: one ``return`` movement per line from the distributor's warehouse
    into quarantine (``quantities``: what arrived per line id, default all). Raises NotAllowed, WrongState,
    ReturnInvalid, RuleViolation (no quarantine location; the ledger shows less stock at the distributor)."""
    from inventory import services as inventory

    _require(user, WAREHOUSE_ROLES, _("Only the warehouse (a channel manager or an admin) receives returns."))
    ret = _locked(ret)
    to = _step(ret, "receive")
    received = _quantities(ret, quantities)
    if not any(received.values()):
        raise ReturnInvalid(_("Nothing was received; enter what arrived, or reject the return."))
    target = quarantine_location()
    if target is None:
        raise RuleViolation(_("There is no active quarantine location to receive returns into."))
    on_date = on_date or clock.today()
    for ln in ret.lines:
        ln.received_quantity = received[ln.id]
        if not ln.received_quantity:
            continue
        source = _holding_location(ret.distributor_id, ln.lot_id)
        if source is None:
            raise RuleViolation(_("By our ledger %(name)s holds none of lot %(lot)s; record its stock first.",
                                  name=ret.distributor.name, lot=ln.lot.lot_no))
        try:
            movement = inventory.post_movement("return", ln.lot, ln.received_quantity, from_location=source,
                                               to_location=target, on_date=on_date, reference=ret.number,
                                               note=reason_label(ln.reason))
        except inventory.InventoryError as exc:
            raise RuleViolation(str(exc)) from exc
        ln.receipt_movement_id = movement.id
    before = ret.status
    ret.status, ret.received_by_id, ret.received_on, ret.quarantine_location_id = to, user.id, on_date, target.id
    db.session.flush()
    note = "; ".join(f"{ln.lot.lot_no} × {ln.received_quantity}" for ln in ret.lines)
    _event(ret, before, to, user, note)
    audit.record(db.session, "return_received", ret, note=note, before={"status": before}, after={"status": to})
    return ret


def dispose_return(ret: ReturnRequest, user, dispositions: Mapping, note: str | None = None) -> ReturnRequest:
    """QA's decision on each received line (``dispositions``: line id → ``restock`` | ``destroy``): restocked units
    move from quarantine to the manufacturer's warehouse (saleable again), destroyed ones are written off. A recalled
    or blocked lot can only be destroyed. Raises NotAllowed, WrongState, ReturnInvalid, RuleViolation."""
    from distribution.orders import manufacturer_warehouse
    from inventory import services as inventory

    _require(user, WAREHOUSE_ROLES, _("Only QA (a channel manager or an admin) disposes of returns."))
    ret = _locked(ret)
    to = _step(ret, "dispose")
    errors: dict[str, list[str]] = {}
    chosen = {int(k): str(v) for k, v in (dispositions or {}).items()}
    for ln in ret.lines:
        if not ln.received_quantity:
            continue
        choice = chosen.get(ln.id)
        if choice not in rules.DISPOSITIONS:
            errors[f"lines.{ln.id}.disposition"] = [_("Choose restock or destroy for lot %(lot)s.", lot=ln.lot.lot_no)]
        elif choice == "restock" and ln.lot.status != LotStatus.RELEASED.value:
            errors[f"lines.{ln.id}.disposition"] = [_(
                "Lot %(lot)s is %(status)s; it can only be destroyed.", lot=ln.lot.lot_no,
                status={"recalled": _("recalled"), "quarantined": _("quarantined")}.get(ln.lot.status))]
    if errors:
        raise ReturnInvalid(next(iter(errors.values()))[0], errors)
    quarantine, warehouse = ret.quarantine_location, None
    if any(chosen.get(ln.id) == "restock" for ln in ret.lines if ln.received_quantity):
        warehouse = manufacturer_warehouse()
        if warehouse is None:
            raise RuleViolation(_("There is no active manufacturer warehouse to restock into."))
    for ln in ret.lines:
        if not ln.received_quantity:
            continue
        ln.disposition = chosen[ln.id]
        try:
            if ln.disposition == "restock":
                movement = inventory.post_movement("return", ln.lot, ln.received_quantity, from_location=quarantine,
                                                   to_location=warehouse, reference=ret.number,
                                                   note=disposition_label("restock"))
            else:
                movement = inventory.post_movement("write_off", ln.lot, ln.received_quantity,
                                                   from_location=quarantine, reference=ret.number,
                                                   note=disposition_label("destroy"))
        except inventory.InventoryError as exc:
            raise RuleViolation(str(exc)) from exc
        ln.disposition_movement_id = movement.id
    before = ret.status
    ret.status, ret.disposed_by_id, ret.disposed_at = to, user.id, utcnow()
    db.session.flush()
    summary = "; ".join(f"{ln.lot.lot_no}: {disposition_label(ln.disposition)}" for ln in ret.lines
                        if ln.disposition)
    note = (note or "").strip()
    _event(ret, before, to, user, f"{summary}{' — ' + note if note else ''}")
    audit.record(db.session, "return_disposed", ret, note=summary, before={"status": before}, after={"status": to})
    return ret


def issue_credit(ret: ReturnRequest, user, on_date: date | None = None) -> ReturnRequest:
    """Finance credits a disposed return: the received units priced at the original invoice prices (latest
    shipments of that lot to this distributor first), less the restocking fee, posted as one credit memo
    ``CM-<number>`` that reduces the receivable and the exposure. A return with nothing to credit (units we never
    invoiced to this distributor) is closed without a memo. Raises NotAllowed, WrongState (already credited: a second
    credit is refused), RuleViolation (credit refused the memo)."""
    from credit import services as credit

    _require(user, FINANCE_ROLES, _("Only finance issues credit memos."))
    _lock_distributor(ret.distributor)
    ret = _locked(ret)
    to = _step(ret, "credit")
    on_date = on_date or clock.today()
    lines = [ln for ln in ret.lines if ln.received_quantity]
    shipped = shipped_units(ret.distributor_id, {ln.lot_id for ln in lines})
    gross_total, fee_total, invoice_refs = Decimal("0.00"), Decimal("0.00"), []
    for ln in lines:
        parts, _unpriced = rules.price_from_shipments(ln.received_quantity, shipped.get(ln.lot_id, []))
        for part in parts:
            db.session.add(ReturnCreditSource(line_id=ln.id, distributor_id=ret.distributor_id,
                                              shipment_line_id=part.key, invoice_reference=part.invoice_reference,
                                              shipped_on=part.shipped_on, quantity=part.quantity,
                                              unit_price=part.unit_price, amount=part.amount))
            invoice_refs.append((part.shipped_on, part.key, part.invoice_reference))
        ln.gross_amount = rules.money(sum((p.amount for p in parts), Decimal("0")))
        ln.restocking_fee = rules.restocking_fee(ln.gross_amount, ln.restocking_fee_pct)
        gross_total += ln.gross_amount
        fee_total += ln.restocking_fee
    amount = rules.money(gross_total - fee_total)
    ret.gross_amount, ret.restocking_fee, ret.credit_amount = rules.money(gross_total), rules.money(fee_total), amount
    if amount > 0:
        reference = f"CM-{ret.number}"
        latest_invoice = max(invoice_refs)[2] if invoice_refs else None
        try:
            credit.post_credit_memo(ret.distributor, amount, reference, original_invoice_ref=latest_invoice,
                                    on_date=on_date, user=user, note=_("Return %(number)s", number=ret.number))
        except credit.CreditError as exc:
            raise RuleViolation(getattr(exc, "message", None) or str(exc)) from exc
        ret.credit_reference = reference
    before = ret.status
    ret.status, ret.credited_by_id, ret.credited_on = to, user.id, on_date
    db.session.flush()
    note = (_("Credit memo %(ref)s: %(amount)s (restocking fee %(fee)s).", ref=ret.credit_reference,
              amount=f"{amount:,.2f}", fee=f"{fee_total:,.2f}") if amount > 0
            else _("Nothing to credit: none of these units was invoiced to this distributor by us."))
    _event(ret, before, to, user, note)
    audit.record(db.session, "return_credited", ret, note=note, before={"status": before},
                 after={"status": to, "credit_amount": str(amount), "credit_reference": ret.credit_reference})
    return ret
