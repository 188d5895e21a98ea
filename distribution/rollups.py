"""The coverage rollups (:mod:`distribution.models.coverage`), kept up to date from the channel-data facts.

* :func:`refresh_rollups` is the listener registered with :func:`ingestion.hooks.on_facts_changed`: ingestion calls
  it inside the load's transaction whenever a sell-out submission's facts start or stop counting (a new version
  superseding an old one is one call with both ids). It recomputes, for that distributor and the months touched
  only, the sales rollup, the month bits of its presence rows, the "any distributor" rows of the terminals
  concerned and the diversion flags of the two submissions — never the whole table.
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
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Date, bindparam, text

from app.extensions import db
from distribution import diversion
from distribution.metrics import FULL_MASK, LOOKBACK, add_months, bit_of, month_start, months_mask, years_of
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
    return "(" + " | ".join(f"MAX({col} & {1 << i})" for i in range(LOOKBACK + 12)) + ")"


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


def _product_rows(where: str, year: int | None = None) -> str:
    """Product-scope presence rows (in ``_COLS`` order) from the facts ``where`` picks: every month sets its bit in
    its own year's row and, from August on, in the next year's (``year``: only that row). Months within a group are
    distinct, so the SUM of their bits is their OR."""
    year_expr = "(m.mi / 12 + k.k)"
    only = f"AND {year_expr} = {int(year)}" if year is not None else ""
    return (f"SELECT m.distributor_id, {year_expr}, {ProductScope.PRODUCT.value}, m.product_id, m.terminal_id, "
            f"SUM(1 << (m.mi - {year_expr} * 12 + {LOOKBACK})) "
            f"FROM ({_terminal_months(where)}) m "
            f"JOIN (SELECT 0 AS k UNION ALL SELECT 1) k ON k.k = 0 OR m.mi % 12 >= {12 - LOOKBACK} "
            f"WHERE 1 = 1 {only} "
            f"GROUP BY m.distributor_id, {year_expr}, m.product_id, m.terminal_id")


_COLS = "distributor_id, year, scope, scope_id, terminal_id, months"


def _coarser_rows(where: str) -> list[str]:
    """Line- and all-scope rows of distributors, from their product-scope rows ``where`` picks."""
    return [
        f"INSERT INTO coverage_presence ({_COLS}) SELECT cp.distributor_id, cp.year, {ProductScope.LINE.value}, "
        f"p.product_line_id, cp.terminal_id, {bit_or('cp.months')} FROM coverage_presence cp "
        f"JOIN product p ON p.id = cp.scope_id WHERE cp.scope = {ProductScope.PRODUCT.value} {where} "
        f"GROUP BY cp.distributor_id, cp.year, p.product_line_id, cp.terminal_id HAVING {bit_or('cp.months')} <> 0",
        f"INSERT INTO coverage_presence ({_COLS}) SELECT cp.distributor_id, cp.year, {ProductScope.ALL.value}, 0, "
        f"cp.terminal_id, {bit_or('cp.months')} FROM coverage_presence cp "
        f"WHERE cp.scope = {ProductScope.PRODUCT.value} {where} "
        f"GROUP BY cp.distributor_id, cp.year, cp.terminal_id HAVING {bit_or('cp.months')} <> 0",
    ]


def _any_rows(where: str) -> str:
    """"Any distributor" rows (distributor_id 0) of every scope, the OR of the distributors' rows ``where`` picks."""
    return (f"INSERT INTO coverage_presence ({_COLS}) SELECT 0, cp.year, cp.scope, cp.scope_id, cp.terminal_id, "
            f"{bit_or('cp.months')} FROM coverage_presence cp WHERE cp.distributor_id <> 0 {where} "
            f"GROUP BY cp.year, cp.scope, cp.scope_id, cp.terminal_id HAVING {bit_or('cp.months')} <> 0")


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
    years = sorted({y for m in months for y in years_of(m)})
    lock_years(years)
    d = int(event.distributor_id)
    _refresh_sales(d, months)
    for year in years:
        _refresh_presence(d, year, [m for m in months if bit_of(year, m) is not None])
    diversion.refresh_flags(event.added_submission_id, event.removed_submission_id)


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


def _refresh_presence(d: int, year: int, months: list[date]) -> None:
    """Clear the touched months' bits of the distributor's product rows of ``year``, set them again from the facts,
    rebuild its line / all rows of the year from its product rows, then the "any distributor" rows of every
    terminal it has a row for, and drop rows left with no bit."""
    touched = months_mask(year, months)
    own = f"year = {year} AND distributor_id = {d}"
    _run(f"UPDATE coverage_presence SET months = months & {FULL_MASK & ~touched} "
         f"WHERE {own} AND scope = {ProductScope.PRODUCT.value} AND (months & {touched}) <> 0")
    _run(f"INSERT INTO coverage_presence ({_COLS}) "
         f"{_product_rows(f'AND f.distributor_id = {d} {_month_ranges(months)}', year)} "
         f"ON CONFLICT (distributor_id, year, scope, scope_id, terminal_id) "
         f"DO UPDATE SET months = coverage_presence.months | excluded.months")
    _run(f"DELETE FROM coverage_presence WHERE {own} AND scope <> {ProductScope.PRODUCT.value}")
    for sql in _coarser_rows(f"AND cp.year = {year} AND cp.distributor_id = {d}"):
        _run(sql)
    terminals = (f"SELECT terminal_id FROM coverage_presence WHERE {own} AND scope = {ProductScope.PRODUCT.value}")
    _run(f"DELETE FROM coverage_presence WHERE year = {year} AND distributor_id = 0 AND terminal_id IN ({terminals})")
    _run(_any_rows(f"AND cp.year = {year} AND cp.terminal_id IN ({terminals})"))
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
    lock_years([int(y) for y in years] + [int(y) + 1 for y in years])
    for table in ("coverage_presence", "coverage_sales"):
        _run(f"TRUNCATE {table}" if _pg() else f"DELETE FROM {table}")
    sales = _run(_sales_rows(""))
    presence = _run(f"INSERT INTO coverage_presence ({_COLS}) {_product_rows('')}")
    for sql in _coarser_rows(""):
        presence += _run(sql)
    presence += _run(_any_rows(""))
    if _pg():
        db.session.execute(text("ANALYZE coverage_presence"))
        db.session.execute(text("ANALYZE coverage_sales"))
    rolled = time.perf_counter()
    flags = diversion.rebuild_flags()
    done = time.perf_counter()
    log.info("coverage rollups rebuilt: %s presence rows, %s sales rows, %s flags in %.1f s", presence, sales,
             flags, done - started)
    return RebuildResult(presence, sales, flags, done - started, rolled - started, done - rolled)


def presence_years() -> list[int]:
    """The years the presence rollup has rows for (newest first)."""
    return [int(y) for y in db.session.execute(
        text("SELECT DISTINCT year FROM coverage_presence ORDER BY year DESC")).scalars()]


