"""Channel-data facts for the coverage tests, loaded the way ingestion loads them.

:func:`load_sell_out` inserts a loaded, current sell-out :class:`~ingestion.models.Submission` with its facts in bulk
and calls :func:`ingestion.hooks.facts_changed`, exactly as the ingestion contract says (the version it replaces, if
any, is superseded first, in the same transaction, and the event names both). :func:`make_agreement` takes an
agreement through draft → submitted → approved by two channel managers.
"""

from __future__ import annotations

import hashlib
import itertools
from datetime import date

from sqlalchemy import insert, select

from ingestion.hooks import FactsChanged, facts_changed
from ingestion.models import RawFile, SellOutFact, Submission

_files = itertools.count(1)


def _month(d: date) -> date:
    return d.replace(day=1)


def fact(terminal, product, quantity: int, day: date, *, lot=None, to_distributor=None, amount=None) -> dict:
    """One sell-out line as a test writes it (ORM objects or ids)."""
    return {"terminal": terminal, "product": product, "quantity": quantity, "day": day, "lot": lot,
            "to_distributor": to_distributor, "amount": amount}


def _id(obj):
    return None if obj is None else getattr(obj, "id", obj)


def load_sell_out(session, distributor, period_start: date, rows: list[dict], *, replaces: Submission | None = None,
                  period_end: date | None = None, filename: str | None = None, refresh: bool = True) -> Submission:
    """A loaded, current sell-out submission of ``rows`` (see :func:`fact`) for the period, optionally superseding
    ``replaces``; the facts-changed event fires like ingestion fires it (queuing the coverage refresh), and
    ``refresh``: the queued refreshes are done at once, in the same transaction. Returns the new submission."""
    n = next(_files)
    period_end = period_end or date.fromordinal(
        date(period_start.year + period_start.month // 12, period_start.month % 12 + 1, 1).toordinal() - 1)
    digest = hashlib.sha256(f"coverage-test-{n}-{distributor.id}-{period_start}".encode()).hexdigest()
    raw = RawFile(sha256=digest, size=100 + n, storage_path=f"test/{digest}")
    session.add(raw)
    months = {_month(r["day"]) for r in rows}
    if replaces is not None:
        old_days = session.execute(select(SellOutFact.business_date)
                                   .where(SellOutFact.submission_id == replaces.id)).scalars().all()
        months |= {_month(d) for d in old_days}
        replaces.is_current = False
        replaces.status = "superseded"
        session.flush()
    sub = Submission(distributor_id=distributor.id, kind="sell_out", period_kind="month", period_start=period_start,
                     period_end=period_end, version=(replaces.version + 1) if replaces else 1, is_current=True,
                     status="loaded", raw_file=raw, filename=filename or f"流向-{distributor.code}-{n}.xlsx",
                     source="upload", supersedes_id=replaces.id if replaces else None, rows_read=len(rows),
                     rows_accepted=len(rows))
    session.add(sub)
    session.flush()
    if rows:
        session.execute(insert(SellOutFact), [
            {"submission_id": sub.id, "distributor_id": distributor.id, "source_row": i + 2,
             "business_date": r["day"], "terminal_id": _id(r["terminal"]),
             "to_distributor_id": _id(r["to_distributor"]), "product_id": _id(r["product"]),
             "lot_id": _id(r["lot"]), "lot_no": getattr(r["lot"], "lot_no", None), "quantity": r["quantity"],
             "amount": r["amount"], "region_id": None} for i, r in enumerate(rows)])
    facts_changed(FactsChanged(distributor.id, "sell_out", frozenset(months), sub.id,
                               replaces.id if replaces else None))
    if refresh:
        from distribution.rollups import pending_ids, refresh_one

        for refresh_id in pending_ids():
            refresh_one(refresh_id)
    return sub


def make_agreement(make_user, distributor, *, products=(), lines=(), regions=(), terminals=(),
                   start="2026-01-01", end="2026-12-31", targets=()):
    """An active agreement (drafted and submitted by one channel manager, approved by another)."""
    from distribution import agreements
    from distribution.agreement_schemas import AgreementInSchema

    drafter, approver = make_user("channel_manager"), make_user("channel_manager")
    data = AgreementInSchema().load({
        "distributor_code": distributor.code, "start_date": start, "end_date": end, "payment_terms_days": 60,
        "proposed_credit_limit": "100000.00", "product_codes": list(products), "product_line_codes": list(lines),
        "region_codes": list(regions), "terminal_codes": list(terminals), "targets": list(targets),
        "rebate_tiers": [{"threshold_pct": "90", "rate_pct": "1"}]})
    a = agreements.create_draft(data, drafter)
    agreements.submit_agreement(a, drafter)
    return agreements.approve_agreement(a, approver)


def target_list(session, code: str, line, region, year: int, terminals) -> None:
    from app.models import TargetList, TargetListEntry

    tl = TargetList(code=code, name=code, product_line=line, region=region, year=year, active=True)
    session.add(tl)
    session.flush()
    session.add_all([TargetListEntry(target_list_id=tl.id, terminal_id=t.id) for t in terminals])
    session.flush()
