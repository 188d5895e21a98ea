"""The coverage rollups (:mod:`distribution.models.coverage`), kept up to date from the channel-data facts.

* :func:`refresh_rollups` is the listener registered with :func:`ingestion.hooks.on_facts_changed`: ingestion calls
  it inside the load's transaction whenever a sell-out submission's facts start or stop counting (a new version
  superseding an old one is one call with both ids). It recomputes, for that distributor and the months touched
  only, the sales rollup, the month bits of its product rows, the "any distributor" rows (product, line, all) of
  the terminals concerned and the diversion flags of the two submissions — never the whole table. Every change
  writes a new random token into ``coverage_state``: readers (:mod:`distribution.cube`) cache by it.
* :func:`rebuild_rollups` recomputes everything from the facts of current, loaded submissions
  (``flask drp rebuild-rollups``, the nightly job): one pass over the facts, then the coarser rows from the finer.
  On PostgreSQL the pass is one binary ``COPY ... TO STDOUT`` of the facts into numpy, the grouping is numpy (sort
  on packed integer keys, OR / sum per group) and the rows go back with ``COPY ... FROM STDIN``, all in the caller's
  transaction: TRUNCATE holds its lock until the commit, so readers wait for the new numbers, never see half of
  them.
  ``set_based=True`` keeps the SQL path (bench/coverage.py --compare-sql times both in one run).

The refresh runs as plain SQL (set-based; PostgreSQL and SQLite), and the SQLite rebuild too, outside tenant
scoping on purpose: rollups are system
data, whoever's upload triggered the refresh. On PostgreSQL a transaction-scoped advisory lock per year serialises
the refreshes (and the rebuild): two loads for different distributors both rewrite the "any distributor" rows of
the terminals they share, and without it the second could overwrite the first's contribution. The lock is held
until the load commits.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

import numpy as np
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
    started = time.perf_counter()
    _refresh_sales(d, months)
    sales = time.perf_counter()
    with _hash_joins():
        for year in years:
            _refresh_presence(d, year, [m for m in months if m.year == year])
    presence = time.perf_counter()
    flags = diversion.refresh_flags(event.added_submission_id, event.removed_submission_id)
    touch_state()
    log.info("coverage refresh of distributor %s, %d months: sales %.2f s, presence %.2f s, %d diversion flags %.2f s",
             d, len(months), sales - started, presence - sales, flags, time.perf_counter() - presence)


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
def _hash_joins():
    """No nested-loop joins for the refresh's statements (PostgreSQL), then the setting as it was. They join the
    scratch tables with rows written in this very transaction, whose statistics are stale: planned on them, a
    nested loop expecting one row meets hundreds of thousands (minutes in bench/ingest.py); hash joins are right
    for every size here."""
    if not _pg():
        yield
        return
    before = db.session.execute(text("SELECT current_setting('enable_nestloop')")).scalar()
    db.session.execute(text("SELECT set_config('enable_nestloop', 'off', true)"))
    yield  # an error aborts the transaction, and the local setting with it
    db.session.execute(text("SELECT set_config('enable_nestloop', :v, true)"), {"v": before})


def _analyse(*tables: str) -> None:
    if _pg():  # temporary tables are never analysed by autovacuum: the planner would guess their size
        for name in tables:
            _run(f"ANALYZE {name}")


def _merge(distributor: int, year: int, scope: int, values: str) -> None:
    """Make the rows of (distributor, year, scope) for the keys in the temporary table ``values`` hold its months:
    a row whose value is 0 is deleted, one that differs updated, a missing one inserted; the others are not
    written at all (a resubmission of the same data writes nothing)."""
    target = f"distributor_id = {distributor} AND year = {year} AND scope = {scope}"
    key = "v.scope_id = coverage_presence.scope_id AND v.terminal_id = coverage_presence.terminal_id"
    _run(f"DELETE FROM coverage_presence WHERE {target} AND EXISTS (SELECT 1 FROM {values} v WHERE {key} "
         f"AND v.months = 0)")
    _run(f"UPDATE coverage_presence SET months = v.months FROM {values} v WHERE {target} AND {key} "
         f"AND v.months <> 0 AND coverage_presence.months <> v.months")
    _run(f"INSERT INTO coverage_presence ({_COLS}) SELECT {distributor}, {year}, {scope}, v.scope_id, v.terminal_id, "
         f"v.months FROM {values} v WHERE v.months <> 0 AND NOT EXISTS (SELECT 1 FROM coverage_presence "
         f"WHERE {target} AND {key})")


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
    _run(f"INSERT INTO cov_any (scope_id, terminal_id, months) SELECT n.scope_id, n.terminal_id, "
         f"{bit_or('cp.months')} FROM cov_own n JOIN coverage_presence cp ON {pair} AND cp.distributor_id <> 0 "
         f"AND cp.year = {year} AND cp.scope = {product} GROUP BY n.scope_id, n.terminal_id")
    _run("INSERT INTO cov_any (scope_id, terminal_id, months) SELECT n.scope_id, n.terminal_id, 0 FROM cov_own n "
         "WHERE NOT EXISTS (SELECT 1 FROM cov_any cp WHERE cp.scope_id = n.scope_id "
         "AND cp.terminal_id = n.terminal_id)")
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
    Adds and flushes like a service; the caller commits. Takes every year's lock: loads wait until it commits."""
    started = time.perf_counter()
    _STAGES.clear()
    years = db.session.execute(text(
        f"SELECT DISTINCT {_month_index('s.period_start')} / 12 FROM submission s WHERE s.kind = 'sell_out'")
    ).scalars().all()
    lock_years(int(y) for y in years)
    for table in ("coverage_presence", "coverage_sales"):
        _run(f"TRUNCATE {table}" if _pg() else f"DELETE FROM {table}")
    if _pg():  # building an index once is much cheaper than maintaining it row by row (TRUNCATE locked the table)
        _run("ALTER TABLE coverage_presence DROP CONSTRAINT pk_coverage_presence")
        _run("DROP INDEX ix_coverage_presence_terminal_year")
    _stage("lock and truncate", started)
    if _pg() and not set_based:
        presence, sales = _rebuild_pg()
    else:
        sales = _run(_sales_rows(""))
        presence = _run(f"INSERT INTO coverage_presence ({_COLS}) {_product_rows('')}")
        for sql in _any_rows(""):
            presence += _run(sql)
    if _pg():
        _run("SET LOCAL maintenance_work_mem = '256MB'")
        _run("ALTER TABLE coverage_presence ADD CONSTRAINT pk_coverage_presence "
             "PRIMARY KEY (distributor_id, year, scope, scope_id, terminal_id)")
        _run("CREATE INDEX ix_coverage_presence_terminal_year ON coverage_presence (terminal_id, year)")
        _stage("primary key and index")
        db.session.execute(text("ANALYZE coverage_presence"))
        db.session.execute(text("ANALYZE coverage_sales"))
        _stage("analyze")
    rolled = time.perf_counter()
    flags = diversion.rebuild_flags()
    touch_state(rebuilt=True)
    done = time.perf_counter()
    log.info("coverage rollups rebuilt: %s presence rows, %s sales rows, %s flags in %.1f s", presence, sales,
             flags, done - started)
    return RebuildResult(presence, sales, flags, done - started, rolled - started, done - rolled, dict(_STAGES))


_STAGES: dict[str, float] = {}
_last = [0.0]


def _stage(name: str, since: float | None = None) -> None:
    """Record the seconds since the previous stage (or ``since``) under ``name``."""
    now = time.perf_counter()
    _STAGES[name] = round(now - (since if since is not None else _last[0]), 3)
    _last[0] = now


# -- full rebuild on PostgreSQL: the facts out with one COPY, the rollups in numpy, back in with COPY ---------------
_EPOCH_MONTH = 1970 * 12  # numpy's datetime64[M] counts months from 1970-01


_FACT_COLUMNS = [("submission", ">i4"), ("distributor", ">i4"), ("terminal", ">i4"), ("product", ">i4"),
                 ("day", ">i4"), ("quantity", ">i4"), ("cents", ">i8")]
_BINARY_HEADER = 19  # PGCOPY signature (11), flags (4), header extension length (4)


def _copy_out_facts(cur, sql: str) -> dict[str, np.ndarray]:
    """The columns of ``_FACT_COLUMNS`` that ``sql`` selects (none null), with one binary COPY: every row has the
    same size, so numpy reads the whole stream as one structured array."""
    buf = io.BytesIO()
    with cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT binary)") as copy:
        for chunk in copy:
            buf.write(chunk)
    fields = [("count", ">i2")]
    for name, kind in _FACT_COLUMNS:
        fields += [(f"{name}_len", ">i4"), (name, kind)]
    dtype = np.dtype(fields)
    body = buf.getbuffer()[_BINARY_HEADER:-2]  # the trailer is one int16 -1
    rows = np.frombuffer(body, dtype=dtype, count=len(body) // dtype.itemsize)
    return {name: rows[name].astype(np.int64) for name, _ in _FACT_COLUMNS}


def _group(keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Sort order and group starts of the rows by ``keys`` (most significant first). The keys are packed into one
    int64 when their ranges fit (one argsort instead of a lexsort over every key)."""
    if not len(keys[0]):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    packed, shift = np.zeros(len(keys[0]), dtype=np.int64), 0
    for k in reversed(keys):
        low = int(k.min())
        width = max(int(k.max()) - low, 0).bit_length()
        if shift + width > 62:
            packed = None
            break
        packed |= (k - low) << shift
        shift += width
    if packed is not None:
        order = np.argsort(packed, kind="stable")
        s = packed[order]
        change = np.empty(len(order), dtype=bool)
        change[0] = True
        np.not_equal(s[1:], s[:-1], out=change[1:])
        return order, np.flatnonzero(change)
    order = np.lexsort(keys[::-1])
    change = np.zeros(len(order), dtype=bool)
    change[0] = True
    for k in keys:
        s = k[order]
        change[1:] |= s[1:] != s[:-1]
    return order, np.flatnonzero(change)


def _or_by(keys: list[np.ndarray], months: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    order, starts = _group(keys)
    if not len(order):
        return [k[:0] for k in keys], months[:0]
    return [k[order][starts] for k in keys], np.bitwise_or.reduceat(months[order], starts)


def _copy_in(cur, table: str, columns: str, rows: list[np.ndarray]) -> int:
    """COPY the columns ``rows`` (numpy or pyarrow arrays) into ``table`` (CSV written by pyarrow)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    n = len(rows[0]) if rows else 0
    if not n:
        return 0
    buf = io.BytesIO()
    arrays = [r if isinstance(r, pa.Array) else pa.array(r) for r in rows]
    pacsv.write_csv(pa.table(arrays, names=[f"c{i}" for i in range(len(rows))]), buf,
                    write_options=pacsv.WriteOptions(include_header=False))
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
        copy.write(buf.getbuffer())
    return n


def _rebuild_pg() -> tuple[int, int]:
    """Presence and sales rollups from the current facts (see :func:`rebuild_rollups`)."""
    cur = db.session.connection().connection.driver_connection.cursor()
    current = db.session.execute(text(
        "SELECT id FROM submission WHERE is_current AND status = 'loaded' AND kind = 'sell_out'")).scalars().all()
    products = dict(db.session.execute(text("SELECT id, product_line_id FROM product")).all())
    # one pass over the facts: submission, distributor, terminal (0: none), product, day (since 1970), quantity,
    # amount in cents (exact: the amounts have two places)
    f = _copy_out_facts(cur, "SELECT submission_id::int4, distributor_id::int4, COALESCE(terminal_id, 0)::int4, "
                             "product_id::int4, (business_date - DATE '1970-01-01')::int4, quantity::int4, "
                             "COALESCE((amount * 100)::int8, 0) FROM sell_out_fact")
    _stage("copy out")
    keep = np.isin(f["submission"], np.asarray(current, dtype=np.int64))
    dist, term, prod, day, qty, cents = (f[k][keep] for k in ("distributor", "terminal", "product", "day",
                                                              "quantity", "cents"))
    month = day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    mi = month + _EPOCH_MONTH
    # sales: (month, distributor, product) → terminal / transfer quantity and amount, lines
    order, starts = _group([month, dist, prod])
    to_terminal = term != 0
    sums = [np.add.reduceat(v[order], starts) if len(order) else v[:0]
            for v in (qty * to_terminal, cents * to_terminal, qty * ~to_terminal, cents * ~to_terminal)]
    lines = np.diff(np.append(starts, len(order)))
    first = order[starts]
    _stage("sales: group")
    sales = _copy_sales(cur, month[first], dist[first], prod[first], sums, lines)
    _stage("sales: copy in")
    # presence: (distributor, terminal, product, month) with a positive net quantity → the month's bit
    t = to_terminal
    order, starts = _group([dist[t], prod[t], term[t], mi[t]])
    net = np.add.reduceat(qty[t][order], starts) if len(order) else qty[:0]
    keep = order[starts][net > 0]
    d, p, tm, m = dist[t][keep], prod[t][keep], term[t][keep], mi[t][keep]
    year, bit = m // 12, np.left_shift(1, m % 12)
    (d, year, p, tm), months = _or_by([d, year, p, tm], bit)
    (ay, ap, at), am = _or_by([year, p, tm], months)
    ids = np.unique(ap)
    line = np.array([products.get(int(x)) or 0 for x in ids], dtype=np.int64)
    (ly, ll, lt), lm = _or_by([ay, line[np.searchsorted(ids, ap)] if len(ap) else ap, at], am)
    (yy, yt), ym = _or_by([ay, at], am)
    _stage("presence: grouped")
    # one COPY in primary-key order (the "any distributor" rows, 0, first): the key is built on sorted input
    parts = [(0, ay, ProductScope.PRODUCT, ap, at, am), (0, ly, ProductScope.LINE, ll, lt, lm),
             (0, yy, ProductScope.ALL, 0, yt, ym), (d, year, ProductScope.PRODUCT, p, tm, months)]
    columns = [np.concatenate([np.broadcast_to(np.asarray(part[i], dtype=np.int64), part[1].shape) for part in parts])
               for i in range(6)]
    presence = _copy_in(cur, "coverage_presence", _COLS, columns)
    _stage("presence: copy in")
    return presence, sales


def _amounts(cents: np.ndarray):
    """Cents as an exact pyarrow decimal (two places): the 128-bit unscaled values are the cents, sign-extended."""
    import pyarrow as pa

    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0], words[:, 1] = cents, cents >> 63
    return pa.Array.from_buffers(pa.decimal128(18, 2), len(cents), [None, pa.py_buffer(words.tobytes())])


def _copy_sales(cur, month, dist, prod, sums, lines) -> int:
    """COPY the sales rows straight into ``coverage_sales`` (months as dates, amounts as exact decimals)."""
    tq, tc, xq, xc = sums
    days = month.astype("datetime64[M]").astype("datetime64[D]")
    return _copy_in(cur, "coverage_sales", "month, distributor_id, product_id, terminal_quantity, terminal_amount, "
                    "transfer_quantity, transfer_amount, lines", [days, dist, prod, tq, _amounts(tc), xq, _amounts(xc),
                                                                 lines])


def presence_years() -> list[int]:
    """The years the presence rollup has rows for (newest first)."""
    return [int(y) for y in db.session.execute(
        text("SELECT DISTINCT year FROM coverage_presence ORDER BY year DESC")).scalars()]


