"""The review queue: customers and products the matcher was not sure of, resolved by a person, in bulk.

* **confirm** an item with a candidate (a terminal or a tier-2 distributor for customers, a product for products):
  an alias is saved for the distributor, so next month's file matches by itself;
* **create** a terminal from the customer's name and region, and alias it;
* **reject**: the rows waiting on it become rejected rows (customer / product not matched).

Then every row that no longer waits on anything is loaded into its submission's facts, if that submission is still
the current version (rows of a replaced version were dropped with it), posted into stock, counted on the
submission and announced to the facts listeners, all in the caller's transaction. A row is claimed by moving its
status from ``waiting`` to ``loaded`` in one UPDATE … RETURNING, so two people confirming at once load it once.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd
from flask_babel import gettext as _
from sqlalchemy import func, select, update

from app import audit
from app.extensions import db
from app.models import Distributor, Product, Region, StockLocation, Terminal, User
from app.models.base import utcnow
from ingestion import cleaning, hooks, loading, matching, pipeline
from ingestion.models import (
    CustomerAlias,
    PendingRow,
    ProductAlias,
    RejectedRow,
    ReviewItem,
    Submission,
)
from ingestion.periods import month_of
from ingestion.resolve import Resolver


class ReviewError(ValueError):
    """A review decision cannot be applied; nothing was changed."""


class ChoiceMissing(ReviewError):
    """Items were to be confirmed with a person's choice and some have none; nothing was changed."""


@dataclass
class ReviewOutcome:
    resolved: int = 0
    loaded: int = 0
    rejected: int = 0
    still_waiting: int = 0
    submissions: set[int] = field(default_factory=set)


def open_items(item_ids: list[int]) -> list[ReviewItem]:
    items = list(db.session.execute(select(ReviewItem).where(ReviewItem.id.in_(item_ids))
                                    .order_by(ReviewItem.id).with_for_update()).scalars())
    if len(items) != len(set(item_ids)):
        raise ReviewError(_("Some of the selected items do not exist."))
    done = [i for i in items if i.status != "open"]
    if done:
        raise ReviewError(_("Item %(key)s was already resolved.", key=done[0].raw_name))
    return items


SUGGEST_SCORE = 75.0  # the review page preselects a candidate only this good and clearly ahead of the next


def suggested(item: ReviewItem) -> int | None:
    """The candidate the review page preselects: the best one when it scores SUGGEST_SCORE or more and leads the
    next by the automatic margin; otherwise none, and the person chooses (a bulk confirm of preselected look-alikes
    would be automatic matching by another name)."""
    cands = sorted(item.candidates or [], key=lambda c: -float(c["score"]))
    if not cands or float(cands[0]["score"]) < SUGGEST_SCORE:
        return None
    margin = matching.PRODUCT_AUTO_MARGIN if item.subject == "product" else matching.AUTO_MARGIN
    if len(cands) > 1 and float(cands[0]["score"]) - float(cands[1]["score"]) < margin:
        return None
    return int(cands[0]["id"])


def confirm_items(choices: dict[int, tuple[str, int] | None], user: User | None,
                  choice_required: bool = False) -> ReviewOutcome:
    """Confirm each item with its chosen target ``(kind, id)`` — kind 'terminal' | 'distributor' | 'product' —
    or, when None, its best candidate; with ``choice_required`` (the review page, which preselects only clear
    candidates: see :func:`suggested`) a None raises ChoiceMissing naming the items instead. Raises ReviewError
    (nothing changed) when an item has no candidate or a target does not exist."""
    items = open_items(list(choices))
    unchosen = [item.raw_name for item in items if choices[item.id] is None]
    if choice_required and unchosen:
        raise ChoiceMissing(_("Choose a match first for: %(names)s. Nothing was confirmed.",
                              names="、".join(unchosen)))
    for item in items:
        choice = choices[item.id]
        if choice is None:
            if not item.candidates:
                raise ReviewError(_("%(name)s has no candidate: choose one or create a terminal.", name=item.raw_name))
            choice = ("product" if item.subject == "product" else "terminal", int(item.candidates[0]["id"]))
        kind, target_id = choice
        _check_target(item, kind, target_id)
        _alias(item, kind, target_id, user)
        item.status = "confirmed"
        _resolved(item, user, kind, target_id)
    return release_rows(items, user)


def create_terminals(item_ids: list[int], user: User | None, terminal_type: str | None = None,
                     region_code: str | None = None) -> ReviewOutcome:
    """Create one terminal per customer item (its name, its region or ``region_code``), alias it, release rows."""
    items = open_items(item_ids)
    region_id = None
    if region_code:
        region_id = db.session.execute(select(Region.id).where(Region.code == region_code)).scalar()
        if region_id is None:
            raise ReviewError(_("Unknown region code %(code)s.", code=region_code))
    for item in items:
        if item.subject != "customer":
            raise ReviewError(_("Only customers can be created as terminals (%(name)s is a product).",
                                name=item.raw_name))
        rid = region_id or item.region_id
        if rid is None:
            raise ReviewError(_("%(name)s has no region: give one.", name=item.raw_name))
        terminal = Terminal(code=_new_terminal_code(), name=item.raw_name[:200],
                            type=terminal_type or guess_type(item.raw_name), region_id=rid)
        db.session.add(terminal)
        db.session.flush()
        _alias(item, "terminal", terminal.id, user)
        item.status = "created"
        _resolved(item, user, "terminal", terminal.id)
    return release_rows(items, user)


def reject_items(item_ids: list[int], user: User | None, note: str | None = None) -> ReviewOutcome:
    """Reject items: their waiting rows become rejected rows (customer / product not matched)."""
    items = open_items(item_ids)
    for item in items:
        item.status, item.note = "rejected", (note or "").strip() or None
        item.resolved_at, item.resolved_by_id = utcnow(), user.id if user else None
        audit.record(db.session, "review_rejected", item, note=item.note)
    db.session.flush()
    return release_rows(items, user)


def guess_type(name: str) -> str:
    if re.search(r"药房|药店|大药房|药业连锁|医药连锁", name):
        return "pharmacy"
    if re.search(r"诊所|卫生室|卫生院|社区卫生服务|门诊部|医务室", name):
        return "clinic"
    if re.search(r"医院|医疗中心|保健院", name):
        return "hospital"
    return "other"


def _new_terminal_code() -> str:
    n = db.session.execute(select(func.count(Terminal.id))).scalar_one() + 1
    while True:
        code = f"TN{n:06d}"
        if not db.session.execute(select(Terminal.id).where(Terminal.code == code)).first():
            return code
        n += 1


def _check_target(item: ReviewItem, kind: str, target_id: int) -> None:
    model = {"terminal": Terminal, "distributor": Distributor, "product": Product}.get(kind)
    allowed = ("product",) if item.subject == "product" else ("terminal", "distributor")
    if model is None or kind not in allowed or db.session.get(model, target_id) is None:
        raise ReviewError(_("%(name)s: the chosen match does not exist.", name=item.raw_name))
    if kind == "distributor" and target_id == item.distributor_id:
        raise ReviewError(_("A distributor cannot sell to itself."))


def _alias(item: ReviewItem, kind: str, target_id: int, user: User | None) -> None:
    if item.subject == "product":
        alias = db.session.execute(select(ProductAlias).where(
            ProductAlias.distributor_id == item.distributor_id, ProductAlias.key_kind == item.key_kind,
            ProductAlias.key == item.key)).scalar_one_or_none()
        if alias is None:
            alias = ProductAlias(distributor_id=item.distributor_id, key_kind=item.key_kind, key=item.key,
                                 raw_name=item.raw_name, created_by_id=user.id if user else None, product_id=target_id)
            db.session.add(alias)
        alias.product_id = target_id
    else:
        alias = db.session.execute(select(CustomerAlias).where(
            CustomerAlias.distributor_id == item.distributor_id, CustomerAlias.key_kind == item.key_kind,
            CustomerAlias.key == item.key)).scalar_one_or_none()
        if alias is None:
            alias = CustomerAlias(distributor_id=item.distributor_id, key_kind=item.key_kind, key=item.key,
                                  raw_name=item.raw_name, created_by_id=user.id if user else None)
            db.session.add(alias)
        alias.terminal_id = target_id if kind == "terminal" else None
        alias.to_distributor_id = target_id if kind == "distributor" else None
    db.session.flush()


def _resolved(item: ReviewItem, user: User | None, kind: str, target_id: int) -> None:
    item.resolved_at, item.resolved_by_id = utcnow(), user.id if user else None
    item.terminal_id = target_id if kind == "terminal" else None
    item.to_distributor_id = target_id if kind == "distributor" else None
    item.product_id = target_id if kind == "product" else None
    db.session.flush()


def release_rows(items: list[ReviewItem], user: User | None) -> ReviewOutcome:
    """Load (or reject) every row that waited on ``items`` and waits on nothing open any more."""
    outcome = ReviewOutcome(resolved=len(items))
    ids = [i.id for i in items]
    if not ids:
        return outcome
    open_ids = select(ReviewItem.id).where(ReviewItem.status == "open")
    rows = db.session.execute(
        update(PendingRow)
        .where(PendingRow.status == "waiting",
               (PendingRow.customer_item_id.in_(ids)) | (PendingRow.product_item_id.in_(ids)),
               ~func.coalesce(PendingRow.customer_item_id, 0).in_(open_ids),
               ~func.coalesce(PendingRow.product_item_id, 0).in_(open_ids))
        .values(status="loaded")
        .returning(PendingRow.id, PendingRow.submission_id, PendingRow.values, PendingRow.raw,
                   PendingRow.customer_item_id, PendingRow.product_item_id)
        .execution_options(synchronize_session=False)).all()
    rejected_items = {i.id: i for i in items if i.status == "rejected"}
    by_sub: dict[int, list] = defaultdict(list)
    for row in rows:
        by_sub[row.submission_id].append(row)
    for sub_id, sub_rows in sorted(by_sub.items()):
        sub = db.session.get(Submission, sub_id)
        outcome.submissions.add(sub_id)
        refused = [r for r in sub_rows if r.customer_item_id in rejected_items or r.product_item_id in rejected_items]
        _reject_rows(sub, refused, rejected_items)
        ok = [r for r in sub_rows if r not in refused]
        result = _load_rows(sub, ok) if ok else {"accepted": [], "rejected": [], "waiting": []}
        outcome.loaded += len(result["accepted"])
        outcome.rejected += len(refused) + len(result["rejected"])
    others = set(db.session.execute(select(ReviewItem.id).where(ReviewItem.status == "open", ReviewItem.id.in_(
        select(PendingRow.customer_item_id).where(PendingRow.id.in_([r.id for r in rows]))
        .union(select(PendingRow.product_item_id).where(PendingRow.id.in_([r.id for r in rows])))))).scalars())
    pipeline.refresh_waiting([*ids, *others])
    db.session.flush()
    return outcome


def _reject_rows(sub: Submission, rows: list, rejected_items: dict[int, ReviewItem]) -> None:
    if not rows:
        return
    db.session.execute(update(PendingRow).where(PendingRow.id.in_([r.id for r in rows])).values(status="rejected")
                       .execution_options(synchronize_session=False))
    out = []
    for r in rows:
        codes = [c for c, item_id in (("unknown_customer", r.customer_item_id), ("unknown_product", r.product_item_id))
                 if item_id in rejected_items]
        note = "；".join(rejected_items[i].note for i in (r.customer_item_id, r.product_item_id)
                        if i in rejected_items and rejected_items[i].note)
        detail = "；".join(str(cleaning.REASONS[c]) for c in codes) + (f"（{note}）" if note else "")
        out.append((sub.id, sub.distributor_id, int(r.values.get("_row") or 0), ",".join(codes), detail, r.raw))
    loading.copy_rows(RejectedRow.__table__, ("submission_id", "distributor_id", "source_row", "reasons", "detail",
                                              "raw"), out, json_columns=("raw",))
    sub.rows_review -= len(rows)
    sub.rows_rejected += len(rows)
    db.session.flush()


def _load_rows(sub: Submission, rows: list) -> dict:
    """Run claimed rows through the same resolution and validation as the file's rows, into the facts."""
    if not sub.is_current:  # cannot happen (replacement drops the waiting rows) but never load into a stale one
        db.session.execute(update(PendingRow).where(PendingRow.id.in_([r.id for r in rows]))
                           .values(status="superseded").execution_options(synchronize_session=False))
        return {"accepted": [], "rejected": [], "waiting": []}
    location = db.session.execute(select(StockLocation.id).where(
        StockLocation.distributor_id == sub.distributor_id, StockLocation.kind == "distributor",
        StockLocation.active).order_by(StockLocation.id).limit(1)).scalar()
    load = pipeline.Load(sub=sub, kind=sub.kind, columns={}, headers=[], resolver=Resolver(sub.distributor, sub.kind),
                         location_id=location, period_start=sub.period_start, period_end=sub.period_end)
    frame = pipeline.frame_from_values([r.values for r in rows])
    raws = pd.DataFrame([r.raw for r in rows])
    result = pipeline.process_rows(load, frame, raws, pending_ids=[r.id for r in rows])
    if result["waiting"]:  # still unresolved (cannot normally happen): back to waiting, not lost
        db.session.execute(update(PendingRow).where(PendingRow.id.in_([rows[i].id for i in result["waiting"]]))
                           .values(status="waiting").execution_options(synchronize_session=False))
    if sub.kind == "sell_out" and load.flows:
        pipeline.post_stock(load, None)
    moved = len(result["accepted"]) + len(result["rejected"])
    sub.rows_accepted += len(result["accepted"])
    sub.rows_rejected += len(result["rejected"])
    sub.rows_review -= moved
    db.session.flush()
    if result["accepted"]:
        days = {frame.iloc[i]["as_of" if sub.kind == "inventory" else "business_date"] for i in result["accepted"]}
        hooks.facts_changed(hooks.FactsChanged(sub.distributor_id, sub.kind, frozenset(month_of(d) for d in days),
                                               added_submission_id=sub.id, removed_submission_id=None))
    return result
