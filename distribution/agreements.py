"""The verbs of agreements (年度协议) and the questions other packages ask about them.

Verbs: :func:`create_draft`, :func:`update_draft`, :func:`submit_agreement`, :func:`return_to_draft`,
:func:`approve_agreement` (approve and activate, by a second person), :func:`terminate_agreement`,
:func:`expire_agreement`. Questions: :func:`agreement_in_force`, :func:`is_authorised`, :func:`sell_in_by_quarter`,
:func:`agreement_achievement`.

Services add and flush, never commit; they take the acting user. Every step writes an :class:`AgreementEvent` (the
status history) and an audit entry (``app.audit.record``) besides the automatic before/after rows. They raise:

* :class:`AgreementInvalid` — the input names unknown codes or breaks a field rule (``errors``: field → messages);
* :class:`WrongState` — the step is not allowed in the agreement's current status (HTTP 409);
* :class:`RuleViolation` — a business rule refuses the step: four eyes, licence, overlapping agreement (HTTP 422);
* :class:`NotAllowed` — the user's role may not take the step (HTTP 403).

Concurrency: every step locks the agreement row (``SELECT … FOR UPDATE``) and re-reads it, so two people acting on
one agreement at once cannot both succeed; activation first locks the distributor row, so two activations for one
distributor are checked for overlap one after the other (PostgreSQL; SQLite runs one writer at a time anyway).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import Date, Integer, bindparam, select, union_all

from app import audit, clock, tenancy
from app.extensions import db
from app.masterdata.resources import can_ship_to, region_contains
from app.models import Distributor, Product, ProductLine, Region, Terminal, utcnow
from app.statements import in_ids
from distribution.agreement_rules import Coverage, in_force, next_status, periods_overlap, shared_coverage
from distribution.models.agreements import (
    Agreement,
    AgreementEvent,
    AgreementProduct,
    AgreementProductLine,
    AgreementRebateTier,
    AgreementRegion,
    AgreementStatus,
    AgreementTarget,
    AgreementTerminal,
)
from distribution.rebates import (
    Achievement,
    Quarter,
    RebateTier,
    achievement_and_rebate,
    bucket_by_quarter,
    money,
    quarters_between,
)

WRITER_ROLES = ("admin", "channel_manager")
READER_ROLES = ("admin", "channel_manager", "finance", "viewer", "distributor")


class AgreementError(Exception):
    status = 422

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class AgreementInvalid(AgreementError):
    status = 422


class WrongState(AgreementError):
    status = 409


class RuleViolation(AgreementError):
    status = 422


class NotAllowed(AgreementError):
    status = 403


# -- reading ------------------------------------------------------------------------------------------------------
def get_agreement(agreement_id: int) -> Agreement | None:
    """The agreement if the acting user may see it (tenant scoping applies), else None."""
    return db.session.execute(select(Agreement).where(Agreement.id == agreement_id)).scalar_one_or_none()


def list_agreements(distributor_code: str | None = None, status: str | None = None, year: int | None = None):
    """A SELECT of agreements (newest period first) filtered by distributor code, status and calendar year."""
    stmt = select(Agreement).join(Agreement.distributor)
    if distributor_code:
        stmt = stmt.where(Distributor.code == distributor_code.strip())
    if status:
        stmt = stmt.where(Agreement.status == status)
    if year:
        stmt = stmt.where(Agreement.start_date <= date(year, 12, 31), Agreement.end_date >= date(year, 1, 1))
    return stmt.order_by(Agreement.start_date.desc(), Agreement.number)


# -- drafting -----------------------------------------------------------------------------------------------------
def create_draft(data: dict, user) -> Agreement:
    """Create a draft from ``data`` (as loaded by AgreementInSchema). Raises AgreementInvalid, NotAllowed."""
    _require_writer(user)
    resolved = _resolve(data, None)
    d = resolved["distributor"]
    agreement = Agreement(distributor=d, number=_next_number(d, data["start_date"].year),
                          status=AgreementStatus.DRAFT.value, created_by_id=user.id)
    _apply(agreement, data, resolved)
    db.session.add(agreement)
    _event(agreement, user, "create", None, AgreementStatus.DRAFT.value)
    db.session.flush()
    return agreement


def update_draft(agreement: Agreement, data: dict, user) -> Agreement:
    """Replace a draft's content with ``data``. Only drafts are editable (WrongState otherwise); the distributor
    of an agreement never changes. Raises AgreementInvalid, WrongState, NotAllowed."""
    _require_writer(user)
    agreement = _locked(agreement)
    if not agreement.is_editable:
        raise WrongState(_("Only a draft can be edited; this agreement is %(status)s.",
                           status=status_label(agreement.status)))
    resolved = _resolve(data, agreement)
    _apply(agreement, data, resolved)
    _event(agreement, user, "edit", agreement.status, agreement.status)
    db.session.flush()
    return agreement


def _require_writer(user) -> None:
    if user is None or user.role not in WRITER_ROLES:
        raise NotAllowed(_("Only administrators and channel managers may change agreements."))


def _next_number(d: Distributor, year: int) -> str:
    prefix = f"AG{year}-{d.code}-"
    taken = set(db.session.execute(select(Agreement.number).where(Agreement.number.like(f"{prefix}%"))
                                   .execution_options(skip_tenant_scope=True)).scalars())
    n = len(taken) + 1
    while f"{prefix}{n:02d}" in taken:
        n += 1
    return f"{prefix}{n:02d}"


def _by_code(model, codes: list[str], attr: str = "code") -> tuple[dict[str, object], list[str]]:
    wanted = list(dict.fromkeys(c.strip() for c in codes if c and c.strip()))
    if not wanted:
        return {}, []
    found = {getattr(o, attr): o for o in db.session.execute(
        select(model).where(getattr(model, attr).in_(wanted))).scalars()}
    return {c: found[c] for c in wanted if c in found}, [c for c in wanted if c not in found]


def _resolve(data: dict, agreement: Agreement | None) -> dict:
    """Look every code up and check the draft's rules; raises AgreementInvalid with messages per field."""
    errors: dict[str, list[str]] = defaultdict(list)
    code = data["distributor_code"].strip()
    if agreement is not None and code != agreement.distributor.code:
        errors["distributor_code"].append(_("The distributor of an agreement cannot change; draft a new one."))
    distributor = agreement.distributor if agreement is not None else db.session.execute(
        select(Distributor).where(Distributor.code == code)).scalar_one_or_none()
    if distributor is None:
        errors["distributor_code"].append(_("Unknown code %(code)s.", code=code))
    start, end = data["start_date"], data["end_date"]
    if end < start:
        errors["end_date"].append(_("The end date is before the start date."))
    lookups = {}
    for field, model, label in (("product_codes", Product, _("Unknown product codes: %(codes)s")),
                                ("product_line_codes", ProductLine, _("Unknown product line codes: %(codes)s")),
                                ("region_codes", Region, _("Unknown region codes: %(codes)s")),
                                ("terminal_codes", Terminal, _("Unknown terminal codes: %(codes)s"))):
        found, unknown = _by_code(model, data.get(field) or [])
        lookups[field] = found
        if unknown:
            errors[field].append(label % {"codes": "、".join(unknown)})
    coverage = Coverage(frozenset(p.id for p in lookups["product_codes"].values()),
                        frozenset(pl.id for pl in lookups["product_line_codes"].values()))
    targets = _resolve_targets(data.get("targets") or [], start, end, coverage, lookups, errors)
    tiers = _check_tiers(data.get("rebate_tiers") or [], errors)
    if errors:
        raise AgreementInvalid(_("The agreement was not saved: %(n)d problems.",
                                 n=sum(len(m) for m in errors.values())), dict(errors))
    return {"distributor": distributor, "products": list(lookups["product_codes"].values()),
            "lines": list(lookups["product_line_codes"].values()), "regions": list(lookups["region_codes"].values()),
            "terminals": list(lookups["terminal_codes"].values()), "targets": targets, "tiers": tiers}


def _resolve_targets(rows: list[dict], start: date, end: date, coverage: Coverage, lookups: dict,
                     errors: dict) -> list[tuple]:
    period = set(quarters_between(start, end))
    authorised_lines = set(coverage.lines) | {p.product_line_id for p in lookups["product_codes"].values()}
    out, seen = [], {}
    for i, row in enumerate(rows):
        key = f"targets.{i}"
        quarter = Quarter.parse(row["quarter"])
        if quarter not in period:
            errors[key].append(_("Quarter %(q)s is outside the agreement period.", q=str(quarter)))
        product = line = None
        if row.get("product_code"):
            product = _one(Product, row["product_code"], errors, key, _("Unknown product code %(code)s."))
            if product is not None and not coverage.covers(product.id, product.product_line_id):
                errors[key].append(_("Product %(code)s is not among the authorised products.", code=product.code))
        else:
            line = _one(ProductLine, row["product_line_code"], errors, key, _("Unknown product line code %(code)s."))
            if line is not None and line.id not in authorised_lines:
                errors[key].append(_("No product of line %(code)s is authorised.", code=line.code))
        ident = (quarter, "p", product.id) if product else ((quarter, "l", line.id) if line else None)
        if ident is not None and ident in seen:
            errors[key].append(_("This target repeats row %(row)d.", row=seen[ident] + 1))
        if ident is not None:
            seen.setdefault(ident, i)
        out.append((quarter, product, line, row["amount"], row["quantity"]))
    return out


def _one(model, code: str, errors: dict, key: str, message: str):
    found = db.session.execute(select(model).where(model.code == code.strip())).scalar_one_or_none()
    if found is None:
        errors[key].append(message % {"code": code.strip()})
    return found


def _check_tiers(rows: list[dict], errors: dict) -> list[tuple[Decimal, Decimal]]:
    tiers = [(row["threshold_pct"], row["rate_pct"]) for row in rows]
    first: dict[Decimal, int] = {}
    for i, (threshold, _rate) in enumerate(tiers):
        if threshold in first:
            errors[f"rebate_tiers.{i}"].append(_("Threshold %(t)s%% appears twice.", t=threshold))
        first.setdefault(threshold, i)
    ordered = sorted(first.items())
    for (t_lo, i_lo), (t_hi, i_hi) in zip(ordered, ordered[1:], strict=False):
        if tiers[i_hi][1] < tiers[i_lo][1]:
            errors[f"rebate_tiers.{i_hi}"].append(
                _("Reaching %(hi)s%% may not pay less than reaching %(lo)s%%.", hi=t_hi, lo=t_lo))
    return tiers


def _apply(agreement: Agreement, data: dict, r: dict) -> None:
    """Write scalar fields and synchronise the children, keeping rows whose key stays (minimal audit trail)."""
    for name in ("start_date", "end_date", "payment_terms_days", "rebate_basis"):
        setattr(agreement, name, data[name])
    agreement.proposed_credit_limit = money(data["proposed_credit_limit"])
    agreement.deposit = money(data.get("deposit") or 0)
    agreement.note = (data.get("note") or "").strip() or None
    with db.session.no_autoflush:
        _sync(agreement.products, {p.id: p for p in r["products"]}, lambda c: c.product_id,
              lambda p: AgreementProduct(product_id=p.id, product=p))
        _sync(agreement.product_lines, {pl.id: pl for pl in r["lines"]}, lambda c: c.product_line_id,
              lambda pl: AgreementProductLine(product_line_id=pl.id, product_line=pl))
        _sync(agreement.regions, {x.id: x for x in r["regions"]}, lambda c: c.region_id,
              lambda x: AgreementRegion(region_id=x.id, region=x))
        _sync(agreement.terminals, {t.id: t for t in r["terminals"]}, lambda c: c.terminal_id,
              lambda t: AgreementTerminal(terminal_id=t.id, terminal=t))
        _sync(agreement.targets,
              {(q.year, q.q, p.id if p else None, pl.id if pl else None): (q, p, pl, a, n)
               for q, p, pl, a, n in r["targets"]},
              lambda c: (c.year, c.quarter, c.product_id, c.product_line_id),
              lambda v: AgreementTarget(year=v[0].year, quarter=v[0].q, product_id=v[1].id if v[1] else None,
                                        product=v[1], product_line_id=v[2].id if v[2] else None, product_line=v[2]),
              update=_set_target)
        _sync(agreement.rebate_tiers, {Decimal(t).normalize(): (t, rate) for t, rate in r["tiers"]},
              lambda c: Decimal(c.threshold_pct).normalize(), lambda v: AgreementRebateTier(threshold_pct=v[0]),
              update=_set_rate)


def _set_target(target: AgreementTarget, value: tuple) -> None:
    target.amount, target.quantity = money(value[3]), value[4]


def _set_rate(tier: AgreementRebateTier, value: tuple) -> None:
    tier.rate_pct = value[1]


def _sync(collection: list, wanted: dict, key_of, make, update=None) -> None:
    """Make ``collection`` hold one child per key of ``wanted``, reusing the rows whose key stays."""
    existing = {key_of(c): c for c in collection}
    children = []
    for key, value in wanted.items():
        child = existing.get(key) or make(value)
        if update is not None:
            update(child, value)
        children.append(child)
    for key, child in existing.items():
        if key not in wanted:
            db.session.delete(child)  # explicitly, so the audit hook sees it (orphans are resolved only in the flush)
    collection[:] = children


def _event(agreement: Agreement, user, action: str, from_status: str | None, to_status: str,
           note: str | None = None) -> None:
    agreement.events.append(AgreementEvent(
        actor_id=user.id if user else None, actor=user.username if user else "system", action=action,
        from_status=from_status, to_status=to_status, note=note))


# -- the workflow -------------------------------------------------------------------------------------------------
def _locked(agreement: Agreement) -> Agreement:
    """Lock the agreement's row for the rest of the transaction and re-read it (another request may have moved it)."""
    return db.session.execute(select(Agreement).where(Agreement.id == agreement.id).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one()


def _lock_distributor(distributor_id: int) -> Distributor:
    """Serialise activations for one distributor: SELECT … FOR UPDATE on its row, re-read."""
    return db.session.execute(select(Distributor).where(Distributor.id == distributor_id).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one()


def _transition(agreement: Agreement, action: str) -> tuple[str, str]:
    old = agreement.status
    new = next_status(action, old)
    if new is None:
        raise WrongState(_("This agreement is %(status)s; it cannot be %(action)s now.",
                           status=status_label(old), action=action_label(action)))
    return old, new


def _record(agreement: Agreement, user, action: str, old: str, new: str, note: str | None) -> None:
    agreement.status = new
    _event(agreement, user, action, old, new, note)
    db.session.flush()
    audit.record(db.session, action, agreement, note=note, before={"status": old}, after={"status": new})


def submit_agreement(agreement: Agreement, user, note: str | None = None) -> Agreement:
    """Draft → submitted, for approval by someone else. The draft must authorise at least one product or line and
    name a territory or terminals, and its period must not have ended. Raises WrongState, AgreementInvalid."""
    _require_writer(user)
    agreement = _locked(agreement)
    old, new = _transition(agreement, "submit")
    errors: dict[str, list[str]] = {}
    if not agreement.products and not agreement.product_lines:
        errors["product_codes"] = [_("Authorise at least one product or product line.")]
    if not agreement.regions and not agreement.terminals:
        errors["region_codes"] = [_("Give the territory (regions) or named terminals.")]
    if agreement.end_date < clock.today():
        errors["end_date"] = [_("The period of this agreement has already ended.")]
    if errors:
        raise AgreementInvalid(_("The agreement cannot be submitted yet: %(n)d problems.", n=len(errors)), errors)
    agreement.submitted_by_id, agreement.submitted_at = user.id, utcnow()
    _record(agreement, user, "submit", old, new, _clean(note))
    return agreement


def return_to_draft(agreement: Agreement, user, reason: str) -> Agreement:
    """Submitted → draft, with the reason it goes back. Raises WrongState, AgreementInvalid (no reason)."""
    _require_writer(user)
    reason = _require_reason(reason)
    agreement = _locked(agreement)
    old, new = _transition(agreement, "return")
    agreement.submitted_by_id = agreement.submitted_at = None
    _record(agreement, user, "return", old, new, reason)
    return agreement


def approve_agreement(agreement: Agreement, user, note: str | None = None) -> Agreement:
    """Submitted → active, by a second person. Refused (RuleViolation) when the approver submitted it, when the
    distributor may not be shipped to (licence or GSP expired, not active), when the period has ended, or when another
    active agreement of the distributor covers one of its products in an overlapping period. Raises WrongState."""
    _require_writer(user)
    distributor = _lock_distributor(agreement.distributor_id)
    agreement = _locked(agreement)
    old, new = _transition(agreement, "activate")
    if agreement.submitted_by_id == user.id:
        raise RuleViolation(_("You submitted this agreement, so someone else must approve it (four-eyes rule)."))
    if not can_ship_to(distributor):
        raise RuleViolation(" ".join(_shipping_problems(distributor)))
    if agreement.end_date < clock.today():
        raise RuleViolation(_("The period of this agreement has already ended (%(end)s).", end=agreement.end_date))
    conflicts = overlapping_active(agreement)
    if conflicts:
        raise RuleViolation(" ".join(conflicts))
    agreement.approved_by_id, agreement.approved_at = user.id, utcnow()
    _record(agreement, user, "activate", old, new, _clean(note))
    return agreement


def terminate_agreement(agreement: Agreement, user, reason: str) -> Agreement:
    """Draft, submitted or active → terminated, with a reason; no longer in force from today. Raises WrongState,
    AgreementInvalid (no reason)."""
    _require_writer(user)
    reason = _require_reason(reason)
    agreement = _locked(agreement)
    old, new = _transition(agreement, "terminate")
    agreement.terminated_by_id, agreement.terminated_at = user.id, utcnow()
    agreement.terminated_on, agreement.termination_reason = clock.today(), reason
    _record(agreement, user, "terminate", old, new, reason)
    return agreement


def expire_agreement(agreement: Agreement) -> Agreement:
    """Active → expired once its end date has passed (the scheduler's step, by the system)."""
    agreement = _locked(agreement)
    old, new = _transition(agreement, "expire")
    if agreement.end_date >= clock.today():
        raise WrongState(_("This agreement runs until %(end)s.", end=agreement.end_date))
    agreement.expired_at = utcnow()
    _record(agreement, None, "expire", old, new, _("The period ended on %(end)s.", end=agreement.end_date))
    return agreement


def _clean(text: str | None) -> str | None:
    return (text or "").strip() or None


def _require_reason(reason: str | None) -> str:
    reason = _clean(reason)
    if reason is None:
        raise AgreementInvalid(_("A reason is required."), {"reason": [_("A reason is required.")]})
    return reason


def _shipping_problems(d: Distributor) -> list[str]:
    today = clock.today()
    problems = []
    if d.status != "active":
        problems.append(_("Distributor %(code)s is not active.", code=d.code))
    if d.licence_expired(today):
        problems.append(_("The drug-trading licence of %(name)s expired on %(date)s; an agreement cannot be activated "
                          "until it is renewed.", name=d.name, date=d.licence_expiry))
    if d.gsp_expired(today):
        problems.append(_("The GSP certificate of %(name)s expired on %(date)s; an agreement cannot be activated until "
                          "it is renewed.", name=d.name, date=d.gsp_expiry))
    return problems


# -- coverage and overlap -----------------------------------------------------------------------------------------
def coverages(agreement_ids: list[int]) -> dict[int, Coverage]:
    """What each agreement authorises, read from the tables (not from possibly stale loaded collections)."""
    products, lines = defaultdict(set), defaultdict(set)
    for aid, pid in db.session.execute(select(AgreementProduct.agreement_id, AgreementProduct.product_id)
                                       .where(AgreementProduct.agreement_id.in_(agreement_ids))):
        products[aid].add(pid)
    for aid, lid in db.session.execute(select(AgreementProductLine.agreement_id, AgreementProductLine.product_line_id)
                                       .where(AgreementProductLine.agreement_id.in_(agreement_ids))):
        lines[aid].add(lid)
    return {aid: Coverage(frozenset(products[aid]), frozenset(lines[aid])) for aid in agreement_ids}


def overlapping_active(agreement: Agreement) -> list[str]:
    """Messages naming each active agreement of the same distributor that overlaps ``agreement`` in period and covers
    a product it covers (directly or through a product line). Empty when there is none."""
    others = [row for row in db.session.execute(
        select(Agreement.id, Agreement.number, Agreement.start_date, Agreement.end_date)
        .where(Agreement.distributor_id == agreement.distributor_id, Agreement.status == AgreementStatus.ACTIVE.value,
               Agreement.id != agreement.id)).all()
        if periods_overlap(row.start_date, row.end_date, agreement.start_date, agreement.end_date)]
    if not others:
        return []
    cov = coverages([agreement.id, *(o.id for o in others)])
    product_ids = set().union(*(c.products for c in cov.values()))
    line_of = dict(db.session.execute(select(Product.id, Product.product_line_id).where(Product.id.in_(product_ids))
                                      ).all()) if product_ids else {}
    messages = []
    for other in others:
        products, lines = shared_coverage(cov[agreement.id], cov[other.id], line_of)
        if not products and not lines:
            continue
        names = list(db.session.execute(select(Product.code).where(Product.id.in_(products))
                                        .order_by(Product.code)).scalars())
        names += [_("line %(code)s", code=c) for c in db.session.execute(
            select(ProductLine.code).where(ProductLine.id.in_(lines)).order_by(ProductLine.code)).scalars()]
        messages.append(_("Agreement %(number)s (%(start)s – %(end)s) is already active for this distributor and "
                          "covers %(what)s in an overlapping period.", number=other.number, start=other.start_date,
                          end=other.end_date, what="、".join(names)))
    return messages


# -- questions other packages ask ---------------------------------------------------------------------------------
def agreement_in_force(distributor: Distributor, product: Product, on_date: date) -> Agreement | None:
    """The agreement of ``distributor`` that authorised ``product`` (directly or through its line) on ``on_date``:
    an active one, or, looking back, an expired one or one terminated after that day. None when there is none."""
    return agreements_in_force(distributor, [product], on_date).get(product.id)


def agreements_in_force(distributor: Distributor, products, on_date: date) -> dict[int, Agreement]:
    """:func:`agreement_in_force` for many products in ONE statement: product id → the agreement in force that
    authorised it on ``on_date`` (products without one are missing from the answer)."""
    ids = list({p.id for p in products})
    if not ids:
        return {}
    stmt = _in_force_statement(db.session.get_bind().dialect.name)
    rows = db.session.execute(stmt, {"product_ids": ids, "distributor_id": distributor.id, "on_date": on_date})
    out: dict[int, Agreement] = {}
    for product_id, a in rows:  # newest first; an active one beats an expired or terminated one
        if not in_force(a.status, a.approved_at is not None, a.start_date, a.end_date, a.terminated_on, on_date):
            continue
        best = out.get(product_id)
        if best is None or (best.status != AgreementStatus.ACTIVE.value and a.status == AgreementStatus.ACTIVE.value):
            out[product_id] = a
    return out


@functools.cache
def _in_force_statement(dialect: str):
    """(product id, agreement) for every approved agreement of the distributor dated over the day that covers one
    of the products, directly or through its product line; newest first. Built once per dialect, the values bound
    (``product_ids``, ``distributor_id``, ``on_date``)."""
    in_products = in_ids(dialect, "product_ids")
    covered = union_all(
        select(AgreementProduct.product_id.label("product_id"), AgreementProduct.agreement_id.label("agreement_id"))
        .where(in_products(AgreementProduct.product_id)),
        select(Product.id, AgreementProductLine.agreement_id)
        .join(AgreementProductLine, AgreementProductLine.product_line_id == Product.product_line_id)
        .where(in_products(Product.id)),
    ).subquery("covered")
    on_date = bindparam("on_date", type_=Date)
    return tenancy.reusable(
        select(covered.c.product_id, Agreement).join(covered, covered.c.agreement_id == Agreement.id)
        .where(Agreement.distributor_id == bindparam("distributor_id", type_=Integer),
               Agreement.start_date <= on_date, Agreement.end_date >= on_date, Agreement.approved_at.is_not(None))
        .order_by(Agreement.start_date.desc(), Agreement.id.desc()))


def is_authorised(distributor: Distributor, product: Product, on_date: date, terminal_region: Region | None = None,
                  terminal: Terminal | None = None) -> bool:
    """Whether ``distributor`` may sell ``product`` on ``on_date`` — to ``terminal`` / into ``terminal_region`` when
    given. A terminal is authorised when the agreement names it or it lies in the territory; a region when it lies
    inside one of the agreement's regions (``region_contains``). Without either, only the product is checked."""
    agreement = agreement_in_force(distributor, product, on_date)
    if agreement is None:
        return False
    if terminal is not None:
        if any(t.terminal_id == terminal.id for t in agreement.terminals):
            return True
        terminal_region = terminal_region or terminal.region
    if terminal_region is None:
        return terminal is None
    return any(region_contains(r.region, terminal_region) for r in agreement.regions)


# -- achievement --------------------------------------------------------------------------------------------------
SELL_IN_SOURCE = "orders"  # sell-in is read from shipped order lines (distribution.orders)


def _sell_in_rows(distributor_id: int, coverage: Coverage, start: date, end: date) -> list[tuple[date, Decimal, int]]:
    """The one place sell-in enters agreements: the distributor's shipped order lines of the covered products
    (``coverage.covers(product_id, line_id)``) dated by their shipment within [start, end], as (date, amount in yuan
    at the invoiced order price, quantity in base units) rows, one per shipped order line and shipment date."""
    from distribution.orders import shipped_lines

    return [(day, Decimal(amount), int(qty)) for day, product_id, line_id, amount, qty
            in shipped_lines(distributor_id, start, end) if coverage.covers(product_id, line_id)]


def sell_in_by_quarter(agreement: Agreement) -> dict[Quarter, tuple[Decimal, int]]:
    """Sell-in (amount, quantity) per calendar quarter of the agreement's period (up to the day before termination
    for a terminated agreement), every quarter present; from shipped orders (see :func:`_sell_in_rows`)."""
    end = agreement.end_date
    if agreement.terminated_on is not None:
        end = min(end, agreement.terminated_on - timedelta(days=1))
    coverage = coverages([agreement.id])[agreement.id]
    rows = _sell_in_rows(agreement.distributor_id, coverage, agreement.start_date, end)
    by_quarter = bucket_by_quarter(rows, agreement.start_date, end)
    for q in quarters_between(agreement.start_date, agreement.end_date):
        by_quarter.setdefault(q, (money(0), 0))
    return by_quarter


def targets_by_quarter(agreement: Agreement) -> dict[Quarter, tuple[Decimal, int]]:
    """The agreement's targets summed per quarter, every quarter of the period present."""
    out = {q: (money(0), 0) for q in quarters_between(agreement.start_date, agreement.end_date)}
    for t in agreement.targets:
        q = Quarter(t.year, t.quarter)
        amount, qty = out.get(q, (money(0), 0))
        out[q] = (amount + t.amount, qty + t.quantity)
    return out


def agreement_achievement(agreement: Agreement) -> Achievement:
    """Per quarter: target, sell-in, achievement and the rebate it earns under the agreement's tiers."""
    tiers = [RebateTier(t.threshold_pct, t.rate_pct) for t in agreement.rebate_tiers]
    return achievement_and_rebate(targets_by_quarter(agreement), sell_in_by_quarter(agreement), tiers,
                                  agreement.rebate_basis)


# -- labels -------------------------------------------------------------------------------------------------------
def status_label(status: str) -> str:
    return {"draft": _("draft"), "submitted": _("submitted"), "active": _("active"), "expired": _("expired"),
            "terminated": _("terminated")}.get(status, status)


def action_label(action: str) -> str:
    return {"create": _("created"), "edit": _("edited"), "submit": _("submitted"), "return": _("returned to draft"),
            "activate": _("approved and activated"), "terminate": _("terminated"), "expire": _("expired")
            }.get(action, action)
