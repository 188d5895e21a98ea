"""The credit verbs: terms, exposure, the order credit check and reservations, finance's hold decisions, and the
receivables ledger (invoices, payments, credit memos, adjustments), open items, aging and statements.

Services add and flush, never commit. Every step that changes a distributor's exposure first takes
``SELECT … FOR UPDATE`` on its :class:`CreditAccount` row, so concurrent checks for one distributor run one after the
other inside their callers' transactions. Amounts are Decimal with 2 places (ROUND_HALF_UP).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import Date, Integer, String, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from app import audit, bulk, clock, tenancy
from app.extensions import db
from app.models import Distributor, Notification
from app.models.base import utcnow
from credit import exposure as rules
from credit.models import (
    CreditAccount,
    CreditReservation,
    EntryKind,
    ReceivableAllocation,
    ReceivableEntry,
    ReservationStatus,
    TemporaryIncrease,
)

ZERO = rules.ZERO


class CreditError(ValueError):
    """A credit rule refused the request; the message is in the user's language."""


# -- value objects ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OpenItem:
    entry_id: int
    distributor_id: int
    kind: str
    reference: str
    order_ref: str | None
    entry_date: date
    due_date: date
    amount: Decimal
    open_amount: Decimal
    days_overdue: int
    bucket: str
    past_grace: bool = False


@dataclass(frozen=True)
class Exposure:
    limit: Decimal
    temporary: Decimal
    open_receivables: Decimal
    reserved: Decimal
    available: Decimal
    overdue_amount: Decimal  # open amount of every item past its due date
    overdue_invoices: list[OpenItem]  # the items past their due date (``past_grace`` marks those that block)
    manual_hold: bool
    hold_reason: str | None = None
    grace_days: int = 0
    payment_terms_days: int = 30
    rating: str | None = None

    @property
    def total(self) -> Decimal:
        """Exposure: open receivables + reserved (approved, not yet invoiced) orders."""
        return rules.money(self.open_receivables + self.reserved)

    @property
    def blocking_invoices(self) -> list[OpenItem]:
        return [i for i in self.overdue_invoices if i.past_grace]

    @property
    def holds_every_order(self) -> bool:
        """A new order is held whatever its amount: the account is on hold or invoices are overdue past grace
        (the first two reasons of the credit check)."""
        return self.manual_hold or bool(self.blocking_invoices)


@dataclass(frozen=True)
class CreditDecision:
    approved: bool
    reasons: list[str]
    shortfall: Decimal
    exposure: Exposure  # before this order
    reservation: CreditReservation | None = None


@dataclass(frozen=True)
class StatementLine:
    entry_date: date
    kind: str
    reference: str
    order_ref: str | None
    due_date: date | None
    debit: Decimal
    credit: Decimal
    balance: Decimal
    note: str | None


@dataclass
class Statement:
    distributor: Distributor
    date_from: date
    date_to: date
    opening: Decimal
    lines: list[StatementLine] = field(default_factory=list)
    closing: Decimal = ZERO
    total_debit: Decimal = ZERO
    total_credit: Decimal = ZERO
    open_items: list[OpenItem] = field(default_factory=list)


# -- helpers ------------------------------------------------------------------------------------------------------
def _did(distributor) -> int:
    return distributor if isinstance(distributor, int) else distributor.id


def _amount(value, *, positive: bool = True) -> Decimal:
    try:
        amount = rules.money(value)
    except (InvalidOperation, TypeError, ValueError):
        raise CreditError(_("The amount is not a valid number.")) from None
    if positive and amount <= 0:
        raise CreditError(_("The amount must be greater than zero."))
    return amount


def _required_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise CreditError(_("A reason is required."))
    return reason


def _fmt(value: Decimal) -> str:
    return f"{value:,.2f}"


# -- accounts and terms -------------------------------------------------------------------------------------------
def get_account(distributor, *, lock: bool = False) -> CreditAccount:
    """The distributor's credit account, created (limit 0) on first use; ``lock`` takes the row lock."""
    did = _did(distributor)
    stmt = _account_statement(lock)
    account = db.session.execute(stmt, {"did": did}).scalar_one_or_none()
    if account is not None:
        return account
    try:
        with db.session.begin_nested():
            account = _default_account(did)
            db.session.add(account)
    except IntegrityError:  # created at the same moment by another transaction
        pass
    return db.session.execute(stmt, {"did": did}).scalar_one()


@functools.cache
def _account_statement(lock: bool):
    stmt = select(CreditAccount).where(CreditAccount.distributor_id == bindparam("did", type_=Integer))
    if lock:  # the row lock, and the row re-read as it is now (not as this session last saw it)
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return tenancy.reusable(stmt)


def _account_or_default(did: int) -> CreditAccount:
    """The account, or (for reads) an unsaved one with the defaults: reading never creates a row."""
    account = db.session.execute(select(CreditAccount).where(CreditAccount.distributor_id == did)).scalar_one_or_none()
    return account or _default_account(did)


def _default_account(did: int) -> CreditAccount:
    return CreditAccount(distributor_id=did, credit_limit=ZERO, payment_terms_days=30, grace_days=0,
                         manual_hold=False)


def _lock(distributor) -> CreditAccount:
    return get_account(distributor, lock=True)


def set_credit_terms(distributor, *, limit, rating=None, payment_terms_days=None, grace_days=None, hold=None,
                     reason: str, user=None) -> CreditAccount:
    """Set the limit (and optionally rating, payment terms, grace days, manual hold); audited with ``reason``.

    Raises CreditError for a missing reason, a negative limit or negative days.
    """
    reason = _required_reason(reason)
    limit = _amount(limit, positive=False)
    if limit < 0:
        raise CreditError(_("The credit limit cannot be negative."))
    for days in (payment_terms_days, grace_days):
        if days is not None and not (0 <= int(days) <= 3650):
            raise CreditError(_("Days must be between 0 and 3650."))
    account = _lock(distributor)
    before = {"credit_limit": str(account.credit_limit), "manual_hold": account.manual_hold}
    account.credit_limit = limit
    if rating is not None:
        account.rating = rating.strip() or None
    if payment_terms_days is not None:
        account.payment_terms_days = int(payment_terms_days)
    if grace_days is not None:
        account.grace_days = int(grace_days)
    if hold is not None:
        account.manual_hold = bool(hold)
        account.hold_reason = reason if hold else None
    db.session.flush()
    audit.record(db.session, "credit_terms", account, note=reason, before=before,
                 after={"credit_limit": str(account.credit_limit), "manual_hold": account.manual_hold})
    return account


def add_temporary_increase(distributor, amount, valid_from: date, valid_to: date, approved_by, reason: str
                           ) -> TemporaryIncrease:
    """Raise the limit by ``amount`` from ``valid_from`` to ``valid_to`` (inclusive). Raises CreditError."""
    reason = _required_reason(reason)
    amount = _amount(amount)
    if valid_to < valid_from:
        raise CreditError(_("The end date must not be before the start date."))
    _lock(distributor)
    inc = TemporaryIncrease(distributor_id=_did(distributor), amount=amount, valid_from=valid_from,
                            valid_to=valid_to, approved_by_id=getattr(approved_by, "id", None), reason=reason)
    db.session.add(inc)
    db.session.flush()
    return inc


def temporary_increases(distributor) -> list[TemporaryIncrease]:
    """The distributor's temporary increases, latest first."""
    return list(db.session.execute(select(TemporaryIncrease).where(
        TemporaryIncrease.distributor_id == _did(distributor)).order_by(TemporaryIncrease.valid_from.desc(),
                                                                       TemporaryIncrease.id.desc())).scalars())


# -- ledger reads -------------------------------------------------------------------------------------------------
def balance(distributor, on_date: date | None = None) -> Decimal:
    """The receivable balance: the sum of the ledger (up to ``on_date`` when given)."""
    stmt = select(func.coalesce(func.sum(ReceivableEntry.amount), 0)).where(
        ReceivableEntry.distributor_id == _did(distributor))
    if on_date is not None:
        stmt = stmt.where(ReceivableEntry.entry_date <= on_date)
    return rules.money(db.session.execute(stmt).scalar_one())


def open_items(distributor=None, on_date: date | None = None, grace_days: int | Mapping[int, int] | None = None,
               *, overdue_only: bool = False) -> list[OpenItem]:
    """Debit entries (invoices, positive adjustments) not yet fully settled, oldest due first (one statement: the
    open ones are picked in the database, settled ones never leave it).

    With ``on_date`` only entries and settlements dated up to that day count (and days overdue are counted to it).
    ``grace_days`` (one number, or per distributor id; default: each distributor's own) decides ``past_grace``;
    ``overdue_only`` keeps the items past their due date.
    """
    on = on_date or clock.today()
    did = None if distributor is None else _did(distributor)
    credit = aliased(ReceivableEntry)
    settled = (select(ReceivableAllocation.debit_entry_id.label("debit_id"),
                      func.sum(ReceivableAllocation.amount).label("paid"))
               .join(credit, credit.id == ReceivableAllocation.credit_entry_id)
               .where(credit.entry_date <= on).group_by(ReceivableAllocation.debit_entry_id))
    if did is not None:
        settled = settled.where(ReceivableAllocation.distributor_id == did)
    settled = settled.subquery("settled")
    paid = func.coalesce(settled.c.paid, 0)
    debits = (select(ReceivableEntry, paid).outerjoin(settled, settled.c.debit_id == ReceivableEntry.id)
              .where(ReceivableEntry.amount > 0, ReceivableEntry.entry_date <= on, ReceivableEntry.amount > paid)
              .order_by(ReceivableEntry.due_date, ReceivableEntry.id))
    if did is not None:
        debits = debits.where(ReceivableEntry.distributor_id == did)
    if overdue_only:
        debits = debits.where(ReceivableEntry.due_date < on)
    graces = _grace_days() if grace_days is None else grace_days
    out = []
    for e, paid in db.session.execute(debits).all():
        days = rules.days_overdue(e.due_date, on)
        grace = graces if isinstance(graces, int) else graces.get(e.distributor_id, 0)
        out.append(OpenItem(e.id, e.distributor_id, e.kind, e.reference, e.order_ref, e.entry_date, e.due_date,
                            e.amount, rules.money(e.amount - paid), days, rules.bucket(days), days > grace))
    return out


def _grace_days() -> dict[int, int]:
    return dict(db.session.execute(select(CreditAccount.distributor_id, CreditAccount.grace_days)).all())


@functools.cache
def _figures_statement():
    """ONE statement with every figure exposure needs besides the account row: valid temporary increases, open
    receivables (the ledger sum), reserved (active reservations other than ``ref``'s), how many items are overdue
    and still open on ``on``, and the reservation already held by ``ref`` (id and distributor), if any. Built once;
    the values are bound parameters (:data:`_FIGURES`)."""
    did = bindparam("did", type_=Integer)
    on = bindparam("on", type_=Date)
    ref = bindparam("ref", type_=String)
    inc, entry, res = TemporaryIncrease, ReceivableEntry, CreditReservation
    credit = aliased(ReceivableEntry)
    settled = (select(func.coalesce(func.sum(ReceivableAllocation.amount), 0))
               .join(credit, credit.id == ReceivableAllocation.credit_entry_id)
               .where(ReceivableAllocation.debit_entry_id == entry.id, credit.entry_date <= on)
               .correlate(entry).scalar_subquery())
    return tenancy.reusable(select(
        select(func.coalesce(func.sum(inc.amount), 0)).where(
            inc.distributor_id == did, inc.valid_from <= on, inc.valid_to >= on).scalar_subquery().label("temporary"),
        select(func.coalesce(func.sum(entry.amount), 0)).where(entry.distributor_id == did)
        .scalar_subquery().label("open_receivables"),
        select(func.coalesce(func.sum(res.amount), 0)).where(
            res.distributor_id == did, res.status == ReservationStatus.ACTIVE.value, res.order_ref != ref)
        .scalar_subquery().label("reserved"),
        select(func.count()).select_from(entry).where(
            entry.distributor_id == did, entry.amount > 0, entry.entry_date <= on, entry.due_date < on,
            entry.amount > settled).scalar_subquery().label("overdue"),
        select(res.id).where(res.order_ref == ref).scalar_subquery().label("reservation_id"),
        select(res.distributor_id).where(res.order_ref == ref).scalar_subquery().label("reservation_distributor"),
    ))


@dataclass(frozen=True)
class _Figures:
    temporary: Decimal
    open_receivables: Decimal
    reserved: Decimal
    overdue: int
    reservation_id: int | None
    reservation_distributor: int | None


def _figures(did: int, on: date, order_ref: str | None = None) -> _Figures:
    row = db.session.execute(_figures_statement(), {"did": did, "on": on, "ref": order_ref or ""}).one()
    return _Figures(rules.money(row.temporary), rules.money(row.open_receivables), rules.money(row.reserved),
                    row.overdue, row.reservation_id, row.reservation_distributor)


def _exposure(account: CreditAccount, figures: _Figures, on: date,
              overdue: list[OpenItem] | None = None) -> Exposure:
    """Exposure from the account row and the figures; the overdue items are read (one more statement) only when
    the figures say there are some."""
    if overdue is None:
        overdue = (open_items(account.distributor_id, on, grace_days=account.grace_days, overdue_only=True)
                   if figures.overdue else [])
    return Exposure(
        limit=rules.money(account.credit_limit), temporary=figures.temporary,
        open_receivables=figures.open_receivables, reserved=figures.reserved,
        available=rules.available(account.credit_limit, figures.temporary, figures.open_receivables,
                                  figures.reserved),
        overdue_amount=rules.money(sum((i.open_amount for i in overdue), ZERO)), overdue_invoices=overdue,
        manual_hold=account.manual_hold, hold_reason=account.hold_reason, grace_days=account.grace_days,
        payment_terms_days=account.payment_terms_days, rating=account.rating)


def exposure(distributor, on_date: date | None = None) -> Exposure:
    """The distributor's exposure on ``on_date`` (default today): available = limit + valid temporary increases
    − (open receivables + reserved orders); overdue items past due, flagged when past the grace days. Two
    statements (the account, the figures), a third only when something is overdue."""
    on = on_date or clock.today()
    did = _did(distributor)
    return _exposure(_account_or_default(did), _figures(did, on), on)


# -- the order credit check ---------------------------------------------------------------------------------------
def _hold_reasons(exp: Exposure, amount: Decimal) -> tuple[list[str], Decimal]:
    reasons = []
    if exp.manual_hold:
        reasons.append(_("The distributor is on credit hold: %(reason)s", reason=exp.hold_reason or "—"))
    blocking = exp.blocking_invoices
    if blocking:
        listed = "; ".join(
            _("%(ref)s due %(due)s, %(amount)s open, %(days)d days overdue", ref=i.reference,
              due=i.due_date.isoformat(), amount=_fmt(i.open_amount), days=i.days_overdue) for i in blocking)
        reasons.append(_("Invoices overdue beyond the %(days)d grace days: %(invoices)s", days=exp.grace_days,
                         invoices=listed))
    shortfall = max(amount - exp.available, ZERO)
    if shortfall > 0:
        reasons.append(_("The order amount %(amount)s exceeds the available credit %(available)s by %(over)s.",
                         amount=_fmt(amount), available=_fmt(exp.available), over=_fmt(shortfall)))
    return reasons, rules.money(shortfall)


def check_and_reserve(distributor, order_ref: str, amount, on_date: date | None = None, *,
                      defer_audit: bool = False) -> CreditDecision:
    """Check an order of ``amount`` (its credit amount not yet invoiced) against the distributor's credit and record
    its reservation, as one atomic step per distributor: the credit account row is locked first (``SELECT … FOR
    UPDATE``), and only then are the figures read (one statement, whose snapshot is taken after the lock was granted,
    so it sees every reservation committed by whoever held the lock before).

    Approved (active reservation, counts in exposure) when there is no manual hold, no invoice overdue past the grace
    days and ``amount`` ≤ available; otherwise held (a held reservation that does not count, with the reasons).
    Calling it again for the same ``order_ref`` (an amendment) replaces that order's reservation: its old amount is
    released first, then the new amount checked. A new reservation is inserted at once (one INSERT, no flush);
    ``defer_audit=True`` queues its audit entry for a caller that writes its own rows next
    (:func:`app.audit.write_pending`). The lock is held until the caller's transaction ends. Raises CreditError for a
    bad amount or an order_ref of another distributor.
    """
    amount = _amount(amount)
    did = _did(distributor)
    on = on_date or clock.today()
    account = _lock(did)
    figures = _figures(did, on, order_ref)
    if figures.reservation_distributor is not None and figures.reservation_distributor != did:
        raise CreditError(_("Order %(ref)s belongs to another distributor.", ref=order_ref))
    exp = _exposure(account, figures, on)
    reasons, shortfall = _hold_reasons(exp, amount)
    approved = not reasons
    values = {"requested": amount, "amount": amount, "reasons": reasons, "shortfall": shortfall,
              "status": (ReservationStatus.ACTIVE if approved else ReservationStatus.HELD).value,
              "decided_by_id": None, "decided_at": None, "decision_reason": None}
    if figures.reservation_id is None:
        (res,) = bulk.insert_rows(db.session, CreditReservation, [{"order_ref": order_ref, "distributor_id": did,
                                                                   **values}], defer_audit=defer_audit)
    else:
        res = db.session.execute(select(CreditReservation).where(CreditReservation.id == figures.reservation_id)
                                 .with_for_update()).scalar_one()
        for key, value in values.items():
            setattr(res, key, value)
        db.session.flush()
    return CreditDecision(approved, reasons, shortfall, exp, res)


def _reservation(order_ref: str) -> CreditReservation:
    res = db.session.execute(select(CreditReservation).where(CreditReservation.order_ref == order_ref)
                             ).scalar_one_or_none()
    if res is None:
        raise CreditError(_("No credit reservation for order %(ref)s.", ref=order_ref))
    _lock(res.distributor_id)
    db.session.refresh(res, with_for_update=True)
    return res


def release_reservation(order_ref: str, amount=None) -> CreditReservation:
    """Release the order's reservation: all of it (cancel; status released) or ``amount`` of it (closed at zero).

    Raises CreditError for an unknown order or a bad amount.
    """
    res = _reservation(order_ref)
    if amount is None:
        if res.status != ReservationStatus.CLOSED.value:
            res.status = ReservationStatus.RELEASED.value
        res.amount = ZERO
    else:
        amount = _amount(amount)
        res.amount = max(rules.money(res.amount - amount), ZERO)
        if res.amount == 0 and res.status == ReservationStatus.ACTIVE.value:
            res.status = ReservationStatus.CLOSED.value
    db.session.flush()
    return res


def held_reservations() -> list[CreditReservation]:
    """The hold queue, oldest first."""
    return list(db.session.execute(select(CreditReservation).where(
        CreditReservation.status == ReservationStatus.HELD.value).order_by(CreditReservation.created_at,
                                                                            CreditReservation.id)).scalars())


@dataclass(frozen=True)
class ReservationState:
    """Where an order's credit reservation stands: ``status`` (active, held, released, rejected, closed), the
    amount still reserved and finance's decision, if one was taken."""

    order_ref: str
    status: str
    amount: Decimal
    decided_by_id: int | None
    decided_at: datetime | None
    decision_reason: str | None


def reservation_status(order_ref: str) -> ReservationState | None:
    """The state of the order's reservation, or None when credit has never checked that order (reads only)."""
    row = db.session.execute(select(
        CreditReservation.order_ref, CreditReservation.status, CreditReservation.amount,
        CreditReservation.decided_by_id, CreditReservation.decided_at, CreditReservation.decision_reason)
        .where(CreditReservation.order_ref == order_ref)).first()
    return None if row is None else ReservationState(*row)


DecisionListener = Callable[[str, bool, object, str], None]
_decision_listeners: list[DecisionListener] = []


def on_hold_decided(listener: DecisionListener) -> DecisionListener:
    """Register ``listener(order_ref, approved, user, reason)``, called in the same transaction after finance decided
    a held order (:func:`decide_hold`): the seam through which the order that owns the reservation follows the
    decision (credit cannot import distribution). Returns the listener."""
    if listener not in _decision_listeners:
        _decision_listeners.append(listener)
    return listener


def decide_hold(order_ref: str, approve: bool, user, reason: str) -> CreditReservation:
    """Finance's decision on a held order (audited, reason mandatory): approve → active (counts in exposure even
    over the limit: the explicit override); reject → rejected; then the :func:`on_hold_decided` listeners are told
    (the order follows the decision in the same transaction). Raises CreditError when the order is not held."""
    reason = _required_reason(reason)
    res = _reservation(order_ref)
    if res.status != ReservationStatus.HELD.value:
        raise CreditError(_("Order %(ref)s is not on credit hold any more (status: %(status)s).", ref=order_ref,
                            status=res.status))
    before = {"status": res.status, "amount": str(res.amount)}
    if approve:
        res.status = ReservationStatus.ACTIVE.value
        res.amount = res.requested
    else:
        res.status = ReservationStatus.REJECTED.value
        res.amount = ZERO
    res.decided_by_id = getattr(user, "id", None)
    res.decided_at = utcnow()
    res.decision_reason = reason
    db.session.flush()
    audit.record(db.session, "credit_hold_approve" if approve else "credit_hold_reject", res, note=reason,
                 before=before, after={"status": res.status, "amount": str(res.amount)})
    for listener in _decision_listeners:
        listener(order_ref, approve, user, reason)
    return res


# -- ledger writes ------------------------------------------------------------------------------------------------
def _entry(did: int, kind: EntryKind, amount: Decimal, on: date, reference: str, **kw) -> ReceivableEntry:
    reference = (reference or "").strip()
    if not reference:
        raise CreditError(_("A reference is required."))
    exists = db.session.execute(select(ReceivableEntry.id).where(
        ReceivableEntry.kind == kind.value, ReceivableEntry.reference == reference)
        .execution_options(skip_tenant_scope=True)).first()
    if exists:
        raise CreditError(_("%(reference)s has already been recorded.", reference=reference))
    user = kw.pop("user", None)
    entry = ReceivableEntry(distributor_id=did, kind=kind.value, amount=amount, entry_date=on, reference=reference,
                            created_by_id=getattr(user, "id", None), **kw)
    db.session.add(entry)
    db.session.flush()
    return entry


def _settle(entry: ReceivableEntry, first_debit_ref: str | None = None) -> Decimal:
    """Allocate the credit ``entry`` to the oldest open debits (a named one first); returns what is unapplied."""
    items = open_items(entry.distributor_id, on_date=max(entry.entry_date, clock.today()), grace_days=0)
    if first_debit_ref:
        items.sort(key=lambda i: i.reference != first_debit_ref)
    applied, rest = rules.allocate_fifo(-entry.amount, [(i.entry_id, i.open_amount) for i in items])
    for debit_id, amt in applied:
        db.session.add(ReceivableAllocation(distributor_id=entry.distributor_id, credit_entry_id=entry.id,
                                            debit_entry_id=debit_id, amount=amt))
    db.session.flush()
    return rest


def post_invoice(distributor, order_ref: str | None, amount, invoice_date: date, due_date: date | None = None,
                 reference: str | None = None, user=None) -> ReceivableEntry:
    """Post an invoice to the ledger (due date from the payment terms unless given) and reduce the order's active
    reservation by its amount. Raises CreditError for a bad amount, a duplicate reference or a held order."""
    amount = _amount(amount)
    did = _did(distributor)
    account = _lock(did)
    due = due_date or invoice_date + timedelta(days=account.payment_terms_days)
    if due < invoice_date:
        raise CreditError(_("The due date must not be before the invoice date."))
    res = None
    if order_ref:
        res = db.session.execute(select(CreditReservation).where(CreditReservation.order_ref == order_ref)
                                 .with_for_update()).scalar_one_or_none()
        if res is not None and res.status in (ReservationStatus.HELD.value, ReservationStatus.REJECTED.value):
            raise CreditError(_("Order %(ref)s is not approved for credit.", ref=order_ref))
    if reference is None:
        count = db.session.execute(select(func.count()).select_from(ReceivableEntry).where(
            ReceivableEntry.kind == EntryKind.INVOICE.value, ReceivableEntry.order_ref == order_ref)).scalar_one()
        reference = f"INV-{order_ref or did}-{count + 1}"
    entry = _entry(did, EntryKind.INVOICE, amount, invoice_date, reference, due_date=due, order_ref=order_ref,
                   user=user)
    if res is not None and res.status == ReservationStatus.ACTIVE.value:
        res.amount = max(rules.money(res.amount - amount), ZERO)
        if res.amount == 0:
            res.status = ReservationStatus.CLOSED.value
        db.session.flush()
    return entry


def record_payment(distributor, amount, paid_on: date, reference: str, user=None, note: str | None = None
                   ) -> ReceivableEntry:
    """Record a payment (回款) and apply it to the oldest open invoices (FIFO). Raises CreditError when it is larger
    than what is open, or its reference (流水号) was recorded before."""
    amount = _amount(amount)
    did = _did(distributor)
    _lock(did)
    owed = balance(did)
    if amount > owed:
        raise CreditError(_("The payment %(amount)s is larger than the open receivables %(open)s.",
                            amount=_fmt(amount), open=_fmt(max(owed, ZERO))))
    entry = _entry(did, EntryKind.PAYMENT, -amount, paid_on, reference, user=user, note=note)
    _settle(entry)
    return entry


def post_credit_memo(distributor, amount, reference: str, original_invoice_ref: str | None = None,
                     on_date: date | None = None, user=None, note: str | None = None) -> ReceivableEntry:
    """Post a credit memo (e.g. for a return), applied to the original invoice first, then FIFO; what cannot be
    applied stays as an unapplied credit in the balance. Raises CreditError for a bad amount or reference."""
    amount = _amount(amount)
    did = _did(distributor)
    _lock(did)
    entry = _entry(did, EntryKind.CREDIT_MEMO, -amount, on_date or clock.today(), reference,
                   original_reference=original_invoice_ref, user=user, note=note)
    _settle(entry, original_invoice_ref)
    return entry


def post_adjustment(distributor, amount, reference: str, reason: str, on_date: date | None = None,
                    due_date: date | None = None, user=None) -> ReceivableEntry:
    """Post a signed adjustment: positive is a debit (an open item due ``due_date``, default ``on_date``), negative a
    credit applied FIFO. Audited with ``reason``. Raises CreditError."""
    reason = _required_reason(reason)
    amount = _amount(amount, positive=False)
    if amount == 0:
        raise CreditError(_("The amount must not be zero."))
    did = _did(distributor)
    _lock(did)
    on = on_date or clock.today()
    entry = _entry(did, EntryKind.ADJUSTMENT, amount, on, reference, note=reason,
                   due_date=(due_date or on) if amount > 0 else None, user=user)
    if amount < 0:
        _settle(entry)
    audit.record(db.session, "receivable_adjustment", entry, note=reason)
    return entry


# -- reports ------------------------------------------------------------------------------------------------------
def aging(distributor=None, on_date: date | None = None) -> dict[str, Decimal]:
    """Open amounts per bucket (current, 1-30, 31-60, 61-90, 90+ days overdue) for one or all distributors."""
    on = on_date or clock.today()
    return rules.aging_buckets(((i.open_amount, i.due_date) for i in open_items(distributor, on, grace_days=0)), on)


@dataclass(frozen=True)
class OverviewRow:
    distributor: Distributor
    exposure: Exposure
    aging: dict[str, Decimal]


def credit_overview(on_date: date | None = None) -> list[OverviewRow]:
    """Every (visible) distributor's exposure and aging, by code: the finance dashboard (tier-1 distributors, and a
    tier-2 only when it has a credit account or ledger entries with us). Set-based: a fixed number
    of statements (distributors, accounts, temporary increases, ledger sums, reservations, open items) however many
    distributors there are."""
    on = on_date or clock.today()
    distributors = db.session.execute(select(Distributor).order_by(Distributor.code)).scalars().all()
    accounts = {a.distributor_id: a for a in db.session.execute(select(CreditAccount)).scalars()}
    temporary = _sums(TemporaryIncrease, TemporaryIncrease.valid_from <= on, TemporaryIncrease.valid_to >= on)
    balances = _sums(ReceivableEntry)
    reserved = _sums(CreditReservation, CreditReservation.status == ReservationStatus.ACTIVE.value)
    items: dict[int, list[OpenItem]] = {}
    for item in open_items(None, on, grace_days={did: a.grace_days for did, a in accounts.items()}):
        items.setdefault(item.distributor_id, []).append(item)
    rows = []
    for d in distributors:
        if d.tier != 1 and not any(d.id in known for known in (accounts, temporary, balances, reserved, items)):
            continue  # a tier-2 buying from its tier-1 has no credit with us: no row of zeros on finance's page
        account = accounts.get(d.id) or _default_account(d.id)
        own = items.get(d.id, [])
        figures = _Figures(temporary.get(d.id, ZERO), balances.get(d.id, ZERO), reserved.get(d.id, ZERO),
                           sum(1 for i in own if i.days_overdue > 0), None, None)
        exp = _exposure(account, figures, on, overdue=[i for i in own if i.days_overdue > 0])
        rows.append(OverviewRow(d, exp, rules.aging_buckets(((i.open_amount, i.due_date) for i in own), on)))
    return rows


def _sums(model, *where) -> dict[int, Decimal]:
    """``sum(amount)`` per distributor of ``model`` rows matching ``where`` (one GROUP BY)."""
    rows = db.session.execute(select(model.distributor_id, func.sum(model.amount)).where(*where)
                              .group_by(model.distributor_id))
    return {did: rules.money(total) for did, total in rows}


def statement(distributor, date_from: date, date_to: date) -> Statement:
    """Statement of account (对账单): opening balance, the period's entries with a running balance, closing balance
    (equal to the ledger sum up to ``date_to``), and the open items at ``date_to``."""
    if date_to < date_from:
        raise CreditError(_("The end date must not be before the start date."))
    did = _did(distributor)
    dist = distributor if isinstance(distributor, Distributor) else db.session.get(Distributor, did)
    opening = balance(did, date_from - timedelta(days=1))
    st = Statement(dist, date_from, date_to, opening)
    running = opening
    entries = db.session.execute(select(ReceivableEntry).where(
        ReceivableEntry.distributor_id == did, ReceivableEntry.entry_date >= date_from,
        ReceivableEntry.entry_date <= date_to).order_by(ReceivableEntry.entry_date, ReceivableEntry.id)).scalars()
    for e in entries:
        running = rules.money(running + e.amount)
        debit, credit = (e.amount, ZERO) if e.amount > 0 else (ZERO, -e.amount)
        st.total_debit += debit
        st.total_credit += credit
        st.lines.append(StatementLine(e.entry_date, e.kind, e.reference, e.order_ref, e.due_date, debit, credit,
                                      running, e.note))
    st.closing = running
    st.open_items = open_items(did, date_to)
    return st


# -- the nightly job ----------------------------------------------------------------------------------------------
def apply_overdue_holds(on_date: date | None = None) -> int:
    """Put every distributor with invoices overdue past its grace days on hold (audited) and notify finance and the
    distributor, once per overdue episode (keyed by the oldest blocking invoice). Returns how many were held."""
    on = on_date or clock.today()
    blocking: dict[int, list[OpenItem]] = {}
    for item in open_items(None, on):
        if item.past_grace:
            blocking.setdefault(item.distributor_id, []).append(item)
    existing = set(db.session.execute(select(Notification.dedupe_key).where(
        Notification.kind == "credit_overdue_hold")).scalars())
    held = 0
    with force_locale("zh"):
        for did, items in sorted(blocking.items()):
            key = f"credit_overdue_hold:{did}:{items[0].entry_id}"
            if f"{key}:finance" in existing:
                continue
            account = _lock(did)
            refs = ", ".join(i.reference for i in items)
            reason = _("Invoices overdue beyond the %(days)d grace days: %(invoices)s", days=account.grace_days,
                       invoices=refs)
            if not account.manual_hold:
                account.manual_hold = True
                account.hold_reason = reason
                db.session.flush()
                audit.record(db.session, "credit_overdue_hold", account, note=reason)
            name = db.session.get(Distributor, did).name
            title = _("%(name)s is on credit hold: invoices overdue", name=name)
            for role, dist in (("finance", None), ("distributor", did)):
                db.session.add(Notification(audience_role=role, distributor_id=dist, kind="credit_overdue_hold",
                                            dedupe_key=f"{key}:{role}", title=title, body=reason,
                                            link=f"/credit/distributors/{did}"))
            held += 1
    db.session.flush()
    return held
