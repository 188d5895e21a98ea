"""The coverage rollups (:mod:`distribution.models.coverage`), kept up to date from the channel-data facts.

* :func:`queue_refresh` is the listener registered with :func:`ingestion.hooks.on_facts_changed`: ingestion calls
  it inside the load's transaction whenever a sell-out submission's facts start or stop counting (a new version
  superseding an old one is one call with both ids). It queues a :class:`CoverageRefresh` row there, and the
  ``refresh_coverage`` task (started after the commit through :func:`ingestion.hooks.on_facts_committed`, and by
  the beat every minute) does it with :func:`refresh_one`, each in its own transaction: the load does not hold
  its transaction open for the rollups (about a third of a million-line load), the dashboard follows seconds after
  the load commits, and nothing is lost if a worker dies between the two (the row stays queued).
* :func:`refresh_rollups` does one refresh: it recomputes, for that distributor and the months touched
  only, the sales rollup, the month bits of its product rows, the "any distributor" rows (product, line, all) of
  the terminals concerned and the diversion flags of the two submissions — never the whole table. Every change
  writes a new random token into ``coverage_state``: readers (:mod:`distribution.cube`) cache by it.
* :func:`rebuild_rollups` recomputes everything from the facts of current, loaded submissions
  (``flask drp rebuild-rollups``, the nightly job): one pass over the facts, then the coarser rows from the finer.
  On PostgreSQL the facts come out in a few chunks of binary values (``string_agg`` of ``int4send``, one bytea per
  chunk) read by numpy, the grouping is numpy (one argsort of packed integer keys, then sums, and ORs of month bits
  by plain sorts) and the rows go with ``COPY ... FROM STDIN`` into staging tables built without indexes; their
  keys and indexes are built once the rows are in, and they replace the live tables (DROP, RENAME) at the end of
  the rebuild: readers keep reading the old rollups meanwhile, and wait only from the swap to the caller's commit.
  ``set_based=True`` keeps the SQL path (bench/coverage.py --compare-sql times both in one run).

The refresh runs as plain SQL (set-based; PostgreSQL and SQLite), and the SQLite rebuild too, outside tenant
scoping on purpose: rollups are system data, whoever's upload triggered the refresh. On PostgreSQL a
transaction-scoped advisory lock per year serialises the refreshes (and the rebuild): two refreshes for different
distributors both rewrite the "any distributor" rows of
the terminals they share, and without it the second could overwrite the first's contribution. The lock is held
until the refresh commits.
"""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from sqlalchemy import Date, bindparam, func, insert, select, text, update

from app import bulk
from app.extensions import db
from app.models.base import utcnow
from app.timing import Laps
from distribution import diversion
from distribution.metrics import BITS, FULL_MASK, add_months, month_start, months_mask
from distribution.models.coverage import CoverageRefresh, ProductScope
from ingestion.hooks import FactsChanged

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


def _any_rows(where: str, table: str = "coverage_presence") -> list[str]:
    """"Any distributor" rows (distributor_id 0) of the three scopes: a product's is the OR of the distributors'
    product rows ``where`` picks; a line's is then the OR of those product rows (fewer rows to read than every
    distributor's again), and all products' the OR of the line rows (every product has a line: fewer still).
    ``table``: the presence table read and written (the rebuild's own)."""
    having = f"HAVING {bit_or('cp.months')} <> 0"
    product = ProductScope.PRODUCT.value
    return [
        f"INSERT INTO {table} ({_COLS}) SELECT 0, cp.year, {product}, cp.scope_id, cp.terminal_id, "
        f"{bit_or('cp.months')} FROM {table} cp WHERE cp.distributor_id <> 0 AND cp.scope = {product} "
        f"{where} GROUP BY cp.year, cp.scope_id, cp.terminal_id {having}",
        f"INSERT INTO {table} ({_COLS}) SELECT 0, cp.year, {ProductScope.LINE.value}, p.product_line_id, "
        f"cp.terminal_id, {bit_or('cp.months')} FROM {table} cp JOIN product p ON p.id = cp.scope_id "
        f"WHERE cp.distributor_id = 0 AND cp.scope = {product} {where} "
        f"GROUP BY cp.year, p.product_line_id, cp.terminal_id {having}",
        f"INSERT INTO {table} ({_COLS}) SELECT 0, cp.year, {ProductScope.ALL.value}, 0, cp.terminal_id, "
        f"{bit_or('cp.months')} FROM {table} cp WHERE cp.distributor_id = 0 AND cp.scope = {ProductScope.LINE.value} "
        f"{where} GROUP BY cp.year, cp.terminal_id {having}",
    ]


def _sales_rows(where: str, table: str = "coverage_sales") -> str:
    return (f"INSERT INTO {table} (month, distributor_id, product_id, terminal_quantity, terminal_amount, "
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
    """One refresh (see the module docstring), in the current transaction. Ignores purchase and inventory
    submissions."""
    if event.kind != SELL_OUT or not event.months:
        return
    months = sorted({month_start(m) for m in event.months})
    years = sorted({m.year for m in months})
    lock_years(years)
    d = int(event.distributor_id)
    started = time.perf_counter()
    with _planner(jit="off"):
        _refresh_sales(d, months)
        sales = time.perf_counter()
        with _planner(enable_nestloop="off"):
            for year in years:
                _refresh_presence(d, year, [m for m in months if m.year == year])
        presence = time.perf_counter()
        with _planner(enable_nestloop="off", enable_mergejoin="off"):
            flags = diversion.refresh_flags(event.added_submission_id, event.removed_submission_id)
    touch_state()
    log.info("coverage refresh of distributor %s, %d months: sales %.2f s, presence %.2f s, %d diversion flags %.2f s",
             d, len(months), sales - started, presence - sales, flags, time.perf_counter() - presence)


# -- the queue: refreshes asked for in the transaction of a change, done after its commit ------------------------
def queue_refresh(event: FactsChanged) -> None:
    """The facts-changed listener: queue the refresh of ``event`` in the caller's transaction (plain SQL, like the
    rollups: system data, whoever's change asked for it). Ignores purchase and inventory submissions."""
    if event.kind != SELL_OUT or not event.months:
        return
    db.session.execute(insert(CoverageRefresh.__table__).values(
        distributor_id=int(event.distributor_id), months=sorted({month_start(m).isoformat() for m in event.months}),
        added_submission_id=event.added_submission_id, removed_submission_id=event.removed_submission_id,
        queued_at=utcnow(), attempts=0))


_PENDING = CoverageRefresh.done_at.is_(None)


def pending_ids() -> list[int]:
    """The queued refreshes, oldest first."""
    return list(db.session.execute(select(CoverageRefresh.id).where(_PENDING).order_by(CoverageRefresh.id)).scalars())


def pending_count() -> int:
    return db.session.execute(select(func.count()).select_from(CoverageRefresh).where(_PENDING)).scalar_one()


def refresh_one(refresh_id: int) -> bool:
    """Do the queued refresh ``refresh_id`` in the current transaction (the caller commits): False when it is done
    already or another session is doing it (PostgreSQL: its row is locked, and skipped). Refreshes may run in any
    order and side by side: each recomputes its distributor's months from the facts as they are then, under the
    year locks, and the diversion flags only ever come from current submissions."""
    query = select(CoverageRefresh).where(CoverageRefresh.id == refresh_id, _PENDING)
    if _pg():
        query = query.with_for_update(skip_locked=True)
    row = db.session.execute(query).scalar_one_or_none()
    if row is None:
        return False
    refresh_rollups(FactsChanged(row.distributor_id, SELL_OUT, frozenset(date.fromisoformat(m) for m in row.months),
                                 row.added_submission_id, row.removed_submission_id))
    row.attempts += 1
    row.done_at = utcnow()
    db.session.flush()
    return True


def note_failure(refresh_id: int, error: BaseException) -> None:
    """Count a failed attempt (the row stays queued: the next run tries again)."""
    row = db.session.get(CoverageRefresh, refresh_id)
    if row is not None and row.done_at is None:
        row.attempts += 1
        row.last_error = f"{type(error).__name__}: {error}"[:2000]


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


_SCRATCH = ("cov_new", "cov_own", "cov_any")


def _scratch_tables() -> None:
    """Empty temporary tables of the refresh (the connection's own; PostgreSQL drops them at the commit)."""
    pg = _pg()
    for name in _SCRATCH:
        _run(f"DROP TABLE IF EXISTS {name}")
        _run(f"CREATE TEMPORARY TABLE {name} (scope_id INTEGER, terminal_id INTEGER, months INTEGER, old INTEGER)"
             f"{' ON COMMIT DROP' if pg else ''}")


@contextmanager
def _planner(**settings: str):
    """Planner settings for the block (PostgreSQL, local to the transaction), then as they were. The refresh
    turns off JIT (compiling its big statements cost up to 0.8 s each) and, for the presence rows and the
    diversion flags (merge joins too), nested-loop joins: they join rows written in this very transaction, whose
    statistics are stale, and a nested loop planned on them (one row expected) met hundreds of thousands (minutes
    in bench/ingest.py); hash joins are right for every size here."""
    if not _pg():
        yield
        return
    before = {k: db.session.execute(text("SELECT current_setting(:k)"), {"k": k}).scalar() for k in settings}
    for k, v in settings.items():
        db.session.execute(text("SELECT set_config(:k, :v, true)"), {"k": k, "v": v})
    yield  # an error aborts the transaction, and the local settings with it
    for k, v in before.items():
        db.session.execute(text("SELECT set_config(:k, :v, true)"), {"k": k, "v": v})


def _analyse(*tables: str) -> None:
    if _pg():  # temporary tables are never analysed by autovacuum: the planner would guess their size
        for name in tables:
            _run(f"ANALYZE {name}")


def _merge(distributor: int, year: int, scope: int, values: str) -> None:
    """Write the changes in the temporary table ``values`` to the rows of (distributor, year, scope): per key its
    new ``months`` and the ``old`` value stored (0: no row; a row is never stored empty). Only changes are in it:
    a new value of 0 deletes the row, a row that existed is updated, one that did not inserted (no lookups)."""
    target = f"distributor_id = {distributor} AND year = {year} AND scope = {scope}"
    key = "v.scope_id = coverage_presence.scope_id AND v.terminal_id = coverage_presence.terminal_id"
    _run(f"DELETE FROM coverage_presence WHERE {target} AND EXISTS (SELECT 1 FROM {values} v WHERE {key} "
         f"AND v.months = 0)")
    _run(f"UPDATE coverage_presence SET months = v.months FROM {values} v WHERE {target} AND {key} "
         f"AND v.months <> 0 AND v.old <> 0")
    _run(f"INSERT INTO coverage_presence ({_COLS}) SELECT {distributor}, {year}, {scope}, v.scope_id, v.terminal_id, "
         f"v.months FROM {values} v WHERE v.months <> 0 AND v.old = 0")


def _refresh_presence(d: int, year: int, months: list[date]) -> None:
    """Recompute the touched months' bits of the distributor's product rows of ``year`` from the facts, then the
    "any distributor" rows of the (product, terminal) pairs whose bits changed and the line and all-products rows
    of their terminals. Only rows whose value changes are written (:func:`_merge`)."""
    touched = months_mask(year, months)
    keep = FULL_MASK & ~touched
    product = ProductScope.PRODUCT.value
    own = f"cp.distributor_id = {d} AND cp.year = {year} AND cp.scope = {product}"
    pair = "cp.scope_id = n.scope_id AND cp.terminal_id = n.terminal_id"
    _scratch_tables()
    facts = f"AND f.distributor_id = {d} {_month_ranges(months)}"
    # the distributor's bits of the touched months, as the facts now say
    _run(f"INSERT INTO cov_new (scope_id, terminal_id, months) SELECT m.product_id, m.terminal_id, "
         f"SUM(1 << (m.mi % 12)) FROM ({_terminal_months(facts)}) m GROUP BY m.product_id, m.terminal_id")
    _analyse("cov_new")
    # its rows' new values (old untouched bits kept): the pairs it has now, and those it had in those months
    _run(f"INSERT INTO cov_own SELECT n.scope_id, n.terminal_id, (COALESCE(cp.months, 0) & {keep}) | n.months, "
         f"COALESCE(cp.months, 0) FROM cov_new n LEFT JOIN coverage_presence cp ON {own} AND {pair}")
    _run(f"INSERT INTO cov_own SELECT cp.scope_id, cp.terminal_id, cp.months & {keep}, cp.months "
         f"FROM coverage_presence cp WHERE {own} AND (cp.months & {touched}) <> 0 "
         f"AND NOT EXISTS (SELECT 1 FROM cov_new n WHERE {pair})")
    _run("DELETE FROM cov_own WHERE months = old")
    _analyse("cov_own")
    _merge(d, year, product, "cov_own")
    # "any distributor" product rows of the changed pairs: the OR of every distributor's rows (0: none left)
    # (with the value stored, in the same pass over the pair's rows)
    _run(f"INSERT INTO cov_any SELECT n.scope_id, n.terminal_id, "
         f"{bit_or('CASE WHEN cp.distributor_id <> 0 THEN cp.months ELSE 0 END')}, "
         f"MAX(CASE WHEN cp.distributor_id = 0 THEN cp.months ELSE 0 END) FROM cov_own n "
         f"JOIN coverage_presence cp ON {pair} AND cp.year = {year} AND cp.scope = {product} "
         f"GROUP BY n.scope_id, n.terminal_id")
    _run("DELETE FROM cov_any WHERE months = old")
    _analyse("cov_any")
    _merge(0, year, product, "cov_any")
    # the line and all-products rows of their terminals, again from the "any distributor" product rows
    terminals = list(db.session.execute(text("SELECT DISTINCT terminal_id FROM cov_own")).scalars())
    if not terminals:
        return
    # a filter on the terminals, not a join: the statistics of the rows just written are stale, and a join planned
    # on them (one row expected) ran for minutes in bench/ingest.py
    terms = "= ANY(:terms)" if _pg() else "IN (SELECT terminal_id FROM cov_own)"
    params = {"terms": terminals} if _pg() else {}
    _run(f"DELETE FROM coverage_presence WHERE distributor_id = 0 AND year = {year} AND scope <> {product} "
         f"AND terminal_id {terms}", **params)
    for sql in _any_rows(f"AND cp.year = {year} AND cp.terminal_id {terms}")[1:]:
        _run(sql, **params)


# -- full rebuild -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RebuildResult:
    presence_rows: int
    sales_rows: int
    flags: int
    seconds: float
    rollup_seconds: float  # the presence and sales rollups
    flag_seconds: float  # the diversion flags
    stages: dict = field(default_factory=dict, compare=False)  # seconds per stage, for the benchmark


def rebuild_rollups(set_based: bool = False) -> RebuildResult:
    """Recompute every rollup from the facts of current, loaded sell-out submissions (and every diversion flag).
    Adds and flushes like a service; the caller commits. Takes every year's lock: loads wait until it commits.

    On PostgreSQL the rollups are built into fresh staging tables without indexes (keys and indexes are built once
    the rows are in, from the definitions of the tables they replace) and swapped in at the very end (DROP and
    RENAME): until then readers go on reading the old rollups, unblocked; from the swap to the caller's commit,
    moments later, they wait for the new ones."""
    started = time.perf_counter()
    stage = Laps()
    years = db.session.execute(text(
        f"SELECT DISTINCT {_month_index('s.period_start')} / 12 FROM submission s WHERE s.kind = 'sell_out'")
    ).scalars().all()
    lock_years(int(y) for y in years)
    _mark_queue_done()
    if _pg():
        # JIT compiling these one-off scans costs more than it saves; the rollup keys sort in memory
        _run("SET LOCAL jit = off")
        _run("SET LOCAL maintenance_work_mem = '512MB'")
        presence_table, sales_table = (_create_staging(t) for t in _ROLLUP_TABLES)
    else:
        presence_table, sales_table = _ROLLUP_TABLES
        for table in _ROLLUP_TABLES:
            _run(f"DELETE FROM {table}")
    stage("lock and stage")
    if _pg() and not set_based:
        presence, sales = _rebuild_pg(presence_table, sales_table, stage)
    else:
        sales = _run(_sales_rows("", sales_table))
        presence = _run(f"INSERT INTO {presence_table} ({_COLS}) {_product_rows('')}")
        for sql in _any_rows("", presence_table):
            presence += _run(sql)
        stage("set-based SQL")
    if _pg():
        for table in _ROLLUP_TABLES:
            _index_staging(table)
        stage("primary keys and indexes")
        for table in (presence_table, sales_table):
            db.session.execute(text(f"ANALYZE {table}"))
        stage("analyze")
    rolled = time.perf_counter()
    flags = diversion.rebuild_flags()
    touch_state(rebuilt=True)
    flagged = time.perf_counter()
    if _pg():
        stage.restart()  # the flags are timed on their own
        for table in _ROLLUP_TABLES:
            _swap_in(table)
        stage("swap in")
    done = time.perf_counter()
    log.info("coverage rollups rebuilt: %s presence rows, %s sales rows, %s flags in %.1f s", presence, sales,
             flags, done - started)
    return RebuildResult(presence, sales, flags, done - started, rolled - started + done - flagged, flagged - rolled,
                         stage.rounded(3))


def _mark_queue_done() -> None:
    """The refreshes queued so far are done by the rebuild: their changes committed before this statement, and the
    rebuild reads the facts after it. A refresh being done right now (its row locked) is skipped: it waits for the
    year locks, then runs after the rebuild, harmlessly."""
    queued = select(CoverageRefresh.id).where(_PENDING).with_for_update(skip_locked=True)  # SQLite: no locks
    table = CoverageRefresh.__table__  # plain SQL, like the rollups (system data)
    db.session.execute(update(table).where(table.c.id.in_(queued)).values(done_at=utcnow()))


# -- full rebuild on PostgreSQL: staging tables swapped in ---------------------------------------------------------
_ROLLUP_TABLES = ("coverage_presence", "coverage_sales")
_STAGING = "{}_rebuilt"


def _create_staging(table: str) -> str:
    """An empty copy of ``table`` (columns, defaults, checks; no keys or indexes yet), created in this transaction:
    nobody else sees it until the commit, and COPY FREEZE may write it."""
    staging = _STAGING.format(table)
    _run(f"CREATE TABLE {staging} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    return staging


def _keys_and_indexes(table: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(name, definition) of the primary key / unique constraints and of the other indexes of ``table``."""
    keys = db.session.execute(text(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) "
        "AND contype IN ('p', 'u') ORDER BY conname"), {"t": table}).all()
    indexes = db.session.execute(text(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = CAST(:t AS regclass) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
        "WHERE c.conindid = i.oid AND c.conrelid = x.indrelid) ORDER BY i.relname"), {"t": table}).all()
    return [tuple(k) for k in keys], [tuple(i) for i in indexes]


def _index_staging(table: str) -> None:
    """Build on the staging table of ``table`` the keys and indexes ``table`` has (under provisional names)."""
    staging = _STAGING.format(table)
    keys, indexes = _keys_and_indexes(table)
    for name, definition in keys:
        _run(f"ALTER TABLE {staging} ADD CONSTRAINT {_STAGING.format(name)} {definition}")
    for name, definition in indexes:  # CREATE [UNIQUE] INDEX name ON [schema.]table USING ...
        head, on, tail = definition.partition(" ON ")
        if not on or not head.endswith(f" INDEX {name}") or tail.split(" ", 1)[0].rsplit(".", 1)[-1] != table:
            raise RuntimeError(f"unexpected definition of an index of {table}: {definition}")
        _run(f"{head[:-len(name)]}{_STAGING.format(name)} ON {staging} {tail.split(' ', 1)[1]}")


def _swap_in(table: str) -> None:
    """Replace ``table`` by its staging table, keys and indexes renamed to the names they had (a short exclusive
    lock on the old table, held to the commit)."""
    staging = _STAGING.format(table)
    keys, indexes = _keys_and_indexes(table)
    _run(f"DROP TABLE {table}")
    _run(f"ALTER TABLE {staging} RENAME TO {table}")
    for name, _ in keys:
        _run(f"ALTER TABLE {table} RENAME CONSTRAINT {_STAGING.format(name)} TO {name}")
    for name, _ in indexes:
        _run(f"ALTER INDEX {_STAGING.format(name)} RENAME TO {name}")


# -- the facts out in binary chunks, the rollups in numpy, back in with COPY ----------------------------------------
_EPOCH_MONTH = 1970 * 12  # numpy's datetime64[M] counts months from 1970-01

# one sell-out line of a current submission: distributor, terminal (0: none), product, day (since 1970), quantity,
# amount in cents (exact: the amounts have two places); each sent as its binary (big-endian) value
_FACT_COLUMNS = [("distributor", ">i4", "distributor_id"), ("terminal", ">i4", "COALESCE(terminal_id, 0)"),
                 ("product", ">i4", "product_id"), ("day", ">i4", "business_date - DATE '1970-01-01'"),
                 ("quantity", ">i4", "quantity"), ("cents", ">i8", "COALESCE(CAST(amount * 100 AS BIGINT), 0)")]
_CHUNK_BLOCKS = 20_000  # heap pages per chunk: at most 291 lines a page, so under 170 MB of bytes per chunk


def _read_facts() -> dict[str, np.ndarray]:
    """The columns of ``_FACT_COLUMNS`` of every current sell-out line, as int64 arrays. Each chunk of the table
    (a range of heap pages: a TID range scan) comes back as one bytea, the rows' binary values concatenated by
    ``string_agg`` in the server — far cheaper on both sides than a row per COPY message; numpy reads it as one
    structured array."""
    send = " || ".join(f"{'int8send' if kind == '>i8' else 'int4send'}({sql})" for _, kind, sql in _FACT_COLUMNS)
    dtype = np.dtype([(name, kind) for name, kind, _ in _FACT_COLUMNS])
    sql = (f"SELECT string_agg({send}, ''::bytea) FROM sell_out_fact f WHERE f.submission_id IN (SELECT s.id "
           f"FROM submission s WHERE s.is_current AND s.status = 'loaded' AND s.kind = 'sell_out')")
    pages, version = db.session.execute(text(
        "SELECT pg_relation_size('sell_out_fact') / current_setting('block_size')::int, "
        "current_setting('server_version_num')::int")).one()
    if version >= 140000 and pages > _CHUNK_BLOCKS:  # TID range scans: PostgreSQL 14
        bounds = list(range(0, pages, _CHUNK_BLOCKS))
        chunks = [f" AND f.ctid >= '({lo},0)'" + (f" AND f.ctid < '({bounds[i + 1]},0)'" if i + 1 < len(bounds)
                                                  else "") for i, lo in enumerate(bounds)]
    else:
        chunks = [""]
    parts = []
    cur = db.session.connection().connection.driver_connection.cursor(binary=True)  # bytea as bytes, not hex
    for chunk in chunks:
        cur.execute(sql + chunk)
        data = cur.fetchone()[0]
        if data:
            parts.append(np.frombuffer(data, dtype=dtype))
    rows = np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
    return {name: rows[name].astype(np.int64) for name in dtype.names}


def _pack(keys: list[np.ndarray], low_bits: int = 0):
    """``keys`` (most significant first) packed into one int64 above ``low_bits`` free bits, and what
    :func:`_unpack` needs; None when their ranges do not fit."""
    packed, shift, layout = np.zeros(len(keys[0]), dtype=np.int64), low_bits, []
    for k in reversed(keys):
        low = int(k.min()) if len(k) else 0
        width = max(int(k.max()) - low, 0).bit_length() if len(k) else 0
        if shift + width > 62:
            return None
        packed |= (k - low) << shift
        layout.append((shift, (1 << width) - 1, low))
        shift += width
    return packed, layout[::-1]


def _unpack(packed: np.ndarray, layout) -> list[np.ndarray]:
    return [((packed >> shift) & mask) + low for shift, mask, low in layout]


def _starts(sorted_keys: np.ndarray) -> np.ndarray:
    if not len(sorted_keys):
        return np.zeros(0, dtype=np.int64)
    change = np.empty(len(sorted_keys), dtype=bool)
    change[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=change[1:])
    return np.flatnonzero(change)


def _group(keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Sort order, group starts and the sorted keys of the rows by ``keys`` (most significant first). The keys are
    packed into one int64 when their ranges fit: one argsort instead of a lexsort over every key, and the sorted
    keys unpacked from the sorted packed values instead of gathered."""
    if not len(keys[0]):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), [k[:0] for k in keys]
    packed = _pack(keys)
    if packed is not None:
        order = np.argsort(packed[0], kind="stable")
        ordered = packed[0][order]
        return order, _starts(ordered), _unpack(ordered, packed[1])
    order = np.lexsort(keys[::-1])
    ordered = [k[order] for k in keys]
    change = np.zeros(len(order), dtype=bool)
    change[0] = True
    for k in ordered:
        change[1:] |= k[1:] != k[:-1]
    return order, np.flatnonzero(change), ordered


def _or_by(keys: list[np.ndarray], months: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct ``keys`` (sorted) and the OR of the 12-bit ``months`` of each. When the keys pack into 51 bits
    the months ride in the low 12 bits of the packed values: one plain sort of the values, no argsort and gathers."""
    if not len(months):
        return [k[:0] for k in keys], months[:0]
    packed = _pack(keys, BITS)
    if packed is not None:
        values = np.sort(packed[0] | months)
        starts = _starts(values >> BITS)
        return _unpack(values[starts], packed[1]), np.bitwise_or.reduceat(values & FULL_MASK, starts)
    order, starts, ordered = _group(keys)
    return [k[starts] for k in ordered], np.bitwise_or.reduceat(months[order], starts)


def _copy_in(cur, table: str, columns: str, rows: list[np.ndarray]) -> int:
    """COPY the columns ``rows`` (numpy or pyarrow arrays) into ``table``, a staging table created in this
    transaction (CSV written by pyarrow; FREEZE: the rows are written frozen, readers never rewrite the pages to
    set hint bits)."""
    n = len(rows[0]) if rows else 0
    if not n:
        return 0
    data = bulk.csv_for_copy(rows)
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv, FREEZE)") as copy:
        copy.write(data)
    return n


def _rebuild_pg(presence_table: str, sales_table: str, stage: Laps) -> tuple[int, int]:
    """Presence and sales rollups from the current facts into the staging tables (see :func:`rebuild_rollups`).

    One argsort of the lines by (distributor, month, product, terminal) serves both rollups: the sales rows are its
    (distributor, month, product) groups, the terminal-months with a positive net quantity its full groups. The
    presence rows are then ORs of month bits over coarser keys (:func:`_or_by`)."""
    cur = db.session.connection().connection.driver_connection.cursor()
    products = dict(db.session.execute(text("SELECT id, product_line_id FROM product")).all())
    f = _read_facts()
    stage("copy out")
    dist, term, prod, day, qty, cents = (f[k] for k in ("distributor", "terminal", "product", "day", "quantity",
                                                         "cents"))
    if len(day):  # month index (year * 12 + month - 1) of each day, through a table of the days spanned
        low = int(day.min())
        span = np.arange(low, int(day.max()) + 1).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        mi = (span + _EPOCH_MONTH)[day - low]
    else:
        mi = day
    order, full, (d, m, p, t) = _group([dist, mi, prod, term])
    q, c = qty[order], cents[order]
    # sales: (month, distributor, product) → terminal / transfer quantity and amount, lines
    n = len(order)
    change = np.ones(n, dtype=bool)
    if n:
        change[1:] = (d[1:] != d[:-1]) | (m[1:] != m[:-1]) | (p[1:] != p[:-1])
    starts = np.flatnonzero(change)
    to_terminal = t != 0
    sums = [np.add.reduceat(v, starts) if n else v[:0]
            for v in (q * to_terminal, c * to_terminal, q * ~to_terminal, c * ~to_terminal)]
    lines = np.diff(np.append(starts, n))
    stage("sales: group")
    sales = _copy_sales(cur, sales_table, m[starts] - _EPOCH_MONTH, d[starts], p[starts], sums, lines)
    stage("sales: copy in")
    # presence: (distributor, terminal, product, month) with a positive net quantity → the month's bit
    net = np.add.reduceat(q, full) if n else q[:0]
    keep = full[(t[full] != 0) & (net > 0)]
    d, p, t, m = d[keep], p[keep], t[keep], m[keep]
    year = m // 12
    (d, year, p, t), months = _or_by([d, year, p, t], np.left_shift(1, m % 12))
    (ay, ap, at), am = _or_by([year, p, t], months)
    ids = np.unique(ap)
    line = np.array([products.get(int(x)) or 0 for x in ids], dtype=np.int64)
    (ly, ll, lt), lm = _or_by([ay, line[np.searchsorted(ids, ap)] if len(ap) else ap, at], am)
    (yy, yt), ym = _or_by([ay, at], am)
    stage("presence: grouped")
    # one COPY, nearly in primary-key order (the "any distributor" rows, 0, first): the key builds on sorted input
    parts = [(0, ay, ProductScope.PRODUCT, ap, at, am), (0, ly, ProductScope.LINE, ll, lt, lm),
             (0, yy, ProductScope.ALL, 0, yt, ym), (d, year, ProductScope.PRODUCT, p, t, months)]
    columns = [np.concatenate([np.broadcast_to(np.asarray(part[i], dtype=np.int64), part[1].shape) for part in parts])
               for i in range(6)]
    presence = _copy_in(cur, presence_table, _COLS, columns)
    stage("presence: copy in")
    return presence, sales


def _amounts(cents: np.ndarray):
    """Cents as an exact pyarrow decimal (two places): the 128-bit unscaled values are the cents, sign-extended."""
    import pyarrow as pa

    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0], words[:, 1] = cents, cents >> 63
    return pa.Array.from_buffers(pa.decimal128(18, 2), len(cents), [None, pa.py_buffer(words.tobytes())])


def _copy_sales(cur, table, month, dist, prod, sums, lines) -> int:
    """COPY the sales rows into ``table`` (months as dates, amounts as exact decimals)."""
    tq, tc, xq, xc = sums
    days = month.astype("datetime64[M]").astype("datetime64[D]")
    return _copy_in(cur, table, "month, distributor_id, product_id, terminal_quantity, terminal_amount, "
                    "transfer_quantity, transfer_amount, lines", [days, dist, prod, tq, _amounts(tc), xq, _amounts(xc),
                                                                 lines])


def presence_years() -> list[int]:
    """The years the presence rollup has rows for (newest first)."""
    return [int(y) for y in db.session.execute(
        text("SELECT DISTINCT year FROM coverage_presence ORDER BY year DESC")).scalars()]


