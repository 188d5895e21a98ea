"""The coverage rollups (:mod:`distribution.models.coverage`), kept up to date from the channel-data facts.

* :func:`refresh_rollups` is the listener registered with :func:`ingestion.hooks.on_facts_changed`: ingestion calls
  it inside the load's transaction whenever a sell-out submission's facts start or stop counting (a new version
  superseding an old one is one call with both ids). It recomputes, for that distributor and the months touched
  only, the sales rollup, the month bits of its product rows, the "any distributor" rows (product, line, all) of
  the terminals concerned and the diversion flags of the two submissions — never the whole table. Every change
  writes a new random token into ``coverage_state``: readers (:mod:`distribution.cube`) cache by it.
* :func:`rebuild_rollups` recomputes everything from the facts of current, loaded submissions
  (``flask drp rebuild-rollups``, the nightly job): one pass over the facts, then the coarser rows from the finer.

Both run as plain SQL (set-based; PostgreSQL and SQLite), outside tenant scoping on purpose: rollups are system
data, whoever's upload triggered the refresh. On PostgreSQL a transaction-scoped advisory lock per year serialises
the refreshes (and the rebuild): two loads for different distributors both rewrite the "any distributor" rows of
the terminals they share, and without it the second could overwrite the first's contribution. The lock is held
until the load commits.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Date, bindparam, text

from app.extensions import db
from app.models.base import utcnow
from distribution import diversion
from distribution.metrics import BITS, FULL_MASK, add_months, month_start, months_mask
from distribution.models.coverage import ProductScope

log = logging.getLogger(__name__)

SELL_OUT = "sell_out"
_LOCK_BASE = 7_000_000  # advisory lock keys 7_000_000 + year


# -- dialect snippets ---------------------------------------------------------------------------------------------
def _pg() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _month_index(col: str) -> str:
    if _pg():
        return f"(CAST(EXTRACT(YEAR FROM {col}) AS INTEGER) * 12 + CAST(EXTRACT(MONTH FROM {col}) AS INTEGER) - 1)"
    return f"(CAST(strftime('%Y', {col}) AS INTEGER) * 12 + CAST(strftime('%m', {col}) AS INTEGER) - 1)"


def _month_start(col: str) -> str:
    return f"CAST(date_trunc('month', {col}) AS DATE)" if _pg() else f"date({col}, 'start of month')"


def bit_or(col: str) -> str:
    """The bitwise OR of ``col`` over a group (SQLite has no BIT_OR: the OR of each bit's MAX)."""
    if _pg():
        return f"BIT_OR({col})"
    return "(" + " | ".join(f"MAX({col} & {1 << i})" for i in range(BITS)) + ")"


def _run(sql: str, **params) -> int:
    stmt = text(sql)
    binds = [bindparam(k, type_=Date) for k, v in params.items() if isinstance(v, date)]
    if binds:
        stmt = stmt.bindparams(*binds)
    return db.session.execute(stmt, params).rowcount


def lock_years(years) -> None:
    """Serialise rollup writers per presence year (PostgreSQL; SQLite has one writer at a time anyway)."""
    if _pg():
        for y in sorted(set(years)):
            db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_BASE + y})


# -- the facts that count -----------------------------------------------------------------------------------------
_CURRENT = ("JOIN submission s ON s.id = f.submission_id AND s.is_current AND s.status = 'loaded' "
            "AND s.kind = 'sell_out'")


def _terminal_months(where: str) -> str:
    """(distributor, terminal, product, month index) where the net reported quantity is positive."""
    return (f"SELECT f.distributor_id, f.terminal_id, f.product_id, {_month_index('f.business_date')} AS mi "
            f"FROM sell_out_fact f {_CURRENT} WHERE f.terminal_id IS NOT NULL {where} "
            f"GROUP BY f.distributor_id, f.terminal_id, f.product_id, {_month_index('f.business_date')} "
            f"HAVING SUM(f.quantity) > 0")


def _product_rows(where: str) -> str:
    """Product-scope presence rows (in ``_COLS`` order) of each distributor from the facts ``where`` picks: bit
    ``month - 1`` of the month's year. Months within a group are distinct, so the SUM of their bits is their OR."""
    return (f"SELECT m.distributor_id, m.mi / 12, {ProductScope.PRODUCT.value}, m.product_id, m.terminal_id, "
            f"SUM(1 << (m.mi % 12)) FROM ({_terminal_months(where)}) m "
            f"GROUP BY m.distributor_id, m.mi / 12, m.product_id, m.terminal_id")


_COLS = "distributor_id, year, scope, scope_id, terminal_id, months"


def _any_rows(where: str) -> list[str]:
    """"Any distributor" rows (distributor_id 0) of the three scopes: a product's is the OR of the distributors'
    product rows ``where`` picks; a line's and all products' are then the OR of those product rows (fewer rows to
    read than every distributor's again)."""
    having = f"HAVING {bit_or('cp.months')} <> 0"
    product = ProductScope.PRODUCT.value
    return [
        f"INSERT INTO coverage_presence ({_COLS}) SELECT 0, cp.year, {product}, cp.scope_id, cp.terminal_id, "
        f"{bit_or('cp.months')} FROM coverage_presence cp WHERE cp.distributor_id <> 0 AND cp.scope = {product} "
        f"{where} GROUP BY cp.year, cp.scope_id, cp.terminal_id {having}",
        f"INSERT INTO coverage_presence ({_COLS}) SELECT 0, cp.year, {ProductScope.LINE.value}, p.product_line_id, "
        f"cp.terminal_id, {bit_or('cp.months')} FROM coverage_presence cp JOIN product p ON p.id = cp.scope_id "
        f"WHERE cp.distributor_id = 0 AND cp.scope = {product} {where} "
        f"GROUP BY cp.year, p.product_line_id, cp.terminal_id {having}",
        f"INSERT INTO coverage_presence ({_COLS}) SELECT 0, cp.year, {ProductScope.ALL.value}, 0, cp.terminal_id, "
        f"{bit_or('cp.months')} FROM coverage_presence cp WHERE cp.distributor_id = 0 AND cp.scope = {product} "
        f"{where} GROUP BY cp.year, cp.terminal_id {having}",
    ]


def _sales_rows(where: str) -> str:
    return (f"INSERT INTO coverage_sales (month, distributor_id, product_id, terminal_quantity, terminal_amount, "
            f"transfer_quantity, transfer_amount, lines) "
            f"SELECT {_month_start('f.business_date')}, f.distributor_id, f.product_id, "
            f"SUM(CASE WHEN f.terminal_id IS NOT NULL THEN f.quantity ELSE 0 END), "
            f"SUM(CASE WHEN f.terminal_id IS NOT NULL THEN COALESCE(f.amount, 0) ELSE 0 END), "
            f"SUM(CASE WHEN f.terminal_id IS NULL THEN f.quantity ELSE 0 END), "
            f"SUM(CASE WHEN f.terminal_id IS NULL THEN COALESCE(f.amount, 0) ELSE 0 END), COUNT(*) "
            f"FROM sell_out_fact f {_CURRENT} WHERE 1 = 1 {where} "
            f"GROUP BY {_month_start('f.business_date')}, f.distributor_id, f.product_id")


# -- incremental: one distributor, the months touched -------------------------------------------------------------
def refresh_rollups(event) -> None:
    """The facts-changed listener (see the module docstring). Ignores purchase and inventory submissions."""
    if event.kind != SELL_OUT or not event.months:
        return
    months = sorted({month_start(m) for m in event.months})
    years = sorted({m.year for m in months})
    lock_years(years)
    d = int(event.distributor_id)
    _refresh_sales(d, months)
    for year in years:
        _refresh_presence(d, year, [m for m in months if m.year == year])
    diversion.refresh_flags(event.added_submission_id, event.removed_submission_id)
    touch_state()


def touch_state(rebuilt: bool = False) -> None:
    """A new token for the readers' caches (and the rebuild's time)."""
    token = uuid.uuid4().hex
    extra = ", rebuilt_at = :now" if rebuilt else ""
    params = {"token": token, **({"now": utcnow()} if rebuilt else {})}
    if not db.session.execute(text(f"UPDATE coverage_state SET token = :token{extra} WHERE id = 1"), params).rowcount:
        db.session.execute(text("INSERT INTO coverage_state (id, token, rebuilt_at) VALUES (1, :token, :now)"),
                           {"token": token, "now": utcnow() if rebuilt else None})


def _month_ranges(months: list[date]) -> str:
    """A WHERE fragment choosing facts dated in ``months`` (one range per run of consecutive months)."""
    runs: list[list[date]] = []
    for m in months:
        if runs and add_months(runs[-1][-1], 1) == m:
            runs[-1].append(m)
        else:
            runs.append([m])
    parts = [f"(f.business_date >= '{r[0].isoformat()}' AND f.business_date < '{add_months(r[-1], 1).isoformat()}')"
             for r in runs]
    return "AND (" + " OR ".join(parts) + ")"


def _refresh_sales(d: int, months: list[date]) -> None:
    in_months = " OR ".join(f"month = '{m.isoformat()}'" for m in months)
    _run(f"DELETE FROM coverage_sales WHERE distributor_id = {d} AND ({in_months})")
    _run(_sales_rows(f"AND f.distributor_id = {d} {_month_ranges(months)}"))


def _touched_terminals(own: str, touched: int) -> set[int]:
    return set(db.session.execute(text(f"SELECT terminal_id FROM coverage_presence WHERE {own} "
                                       f"AND (months & {touched}) <> 0")).scalars())


def _refresh_presence(d: int, year: int, months: list[date]) -> None:
    """Clear the touched months' bits of the distributor's product rows of ``year`` and set them again from the
    facts; then rebuild the "any distributor" rows of the terminals whose bits were or are set in those months, and
    drop rows left empty."""
    touched = months_mask(year, months)
    own = f"year = {year} AND distributor_id = {d} AND scope = {ProductScope.PRODUCT.value}"
    terminals = _touched_terminals(own, touched)
    _run(f"UPDATE coverage_presence SET months = months & {FULL_MASK & ~touched} "
         f"WHERE {own} AND (months & {touched}) <> 0")
    facts = f"AND f.distributor_id = {d} {_month_ranges(months)}"
    _run(f"INSERT INTO coverage_presence ({_COLS}) {_product_rows(facts)} "
         f"ON CONFLICT (distributor_id, year, scope, scope_id, terminal_id) "
         f"DO UPDATE SET months = coverage_presence.months | excluded.months")
    terminals |= _touched_terminals(own, touched)
    if terminals:
        listed = ", ".join(str(int(t)) for t in sorted(terminals))
        _run(f"DELETE FROM coverage_presence WHERE distributor_id = 0 AND year = {year} AND terminal_id IN ({listed})")
        for sql in _any_rows(f"AND cp.year = {year} AND cp.terminal_id IN ({listed})"):
            _run(sql)
    _run(f"DELETE FROM coverage_presence WHERE {own} AND months = 0")


# -- full rebuild -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RebuildResult:
    presence_rows: int
    sales_rows: int
    flags: int
    seconds: float
    rollup_seconds: float  # the presence and sales rollups
    flag_seconds: float  # the diversion flags


def rebuild_rollups() -> RebuildResult:
    """Recompute every rollup from the facts of current, loaded sell-out submissions (and every diversion flag).
    Adds and flushes like a service; the caller commits. Takes every year's lock: loads wait until it commits."""
    started = time.perf_counter()
    years = db.session.execute(text(
        f"SELECT DISTINCT {_month_index('s.period_start')} / 12 FROM submission s WHERE s.kind = 'sell_out'")
    ).scalars().all()
    lock_years(int(y) for y in years)
    for table in ("coverage_presence", "coverage_sales"):
        _run(f"TRUNCATE {table}" if _pg() else f"DELETE FROM {table}")
    if _pg():  # building an index once is much cheaper than maintaining it row by row (TRUNCATE locked the table)
        _run("ALTER TABLE coverage_presence DROP CONSTRAINT pk_coverage_presence")
        _run("DROP INDEX ix_coverage_presence_terminal_year")
    sales = _run(_sales_rows(""))
    presence = _run(f"INSERT INTO coverage_presence ({_COLS}) {_product_rows('')}")
    for sql in _any_rows(""):
        presence += _run(sql)
    if _pg():
        _run("ALTER TABLE coverage_presence ADD CONSTRAINT pk_coverage_presence "
             "PRIMARY KEY (distributor_id, year, scope, scope_id, terminal_id)")
        _run("CREATE INDEX ix_coverage_presence_terminal_year ON coverage_presence (terminal_id, year)")
    if _pg():
        db.session.execute(text("ANALYZE coverage_presence"))
        db.session.execute(text("ANALYZE coverage_sales"))
    rolled = time.perf_counter()
    flags = diversion.rebuild_flags()
    touch_state(rebuilt=True)
    done = time.perf_counter()
    log.info("coverage rollups rebuilt: %s presence rows, %s sales rows, %s flags in %.1f s", presence, sales,
             flags, done - started)
    return RebuildResult(presence, sales, flags, done - started, rolled - started, done - rolled)


def presence_years() -> list[int]:
    """The years the presence rollup has rows for (newest first)."""
    return [int(y) for y in db.session.execute(
        text("SELECT DISTINCT year FROM coverage_presence ORDER BY year DESC")).scalars()]


