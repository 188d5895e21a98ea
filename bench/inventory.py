"""Inventory benchmark: FEFO allocation of a 200-line order, the channel stock matrix and a recall trace, each
against the same thing done naively, on 10,000 lots over 200 locations and 2,000,000 ledger movements.

Runs against PostgreSQL in a scratch database it creates and drops (server: BENCH_DATABASE_URL, else
TEST_DATABASE_URL, else postgresql://postgres@127.0.0.1:5432). The data is built with set-based INSERT ... SELECT
(generate_series); the balances are then computed from the movements, so they equal the ledger by construction
(checked). Each measurement is the median of several runs after a warm-up. Usage::

    .venv/bin/python bench/inventory.py [--repeat 5] [--keep]

Prints a table, then as its last line one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

SERVER = os.environ.get("BENCH_DATABASE_URL") or os.environ.get(
    "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DB_NAME = f"drp_bench_inventory_{os.getpid()}"
TODAY = date(2026, 6, 15)
N_PRODUCTS, LOTS_PER_PRODUCT = 500, 20
N_LOTS = N_PRODUCTS * LOTS_PER_PRODUCT  # 10,000
N_TIER1, N_TIER2 = 60, 130  # 190 distributor warehouses + 5 manufacturer + 5 quarantine = 200 locations
N_TERMINALS = 5000
ORDER_LINES = 200


def _url(dbname: str) -> str:
    url = make_url(SERVER.replace("postgresql://", "postgresql+psycopg://", 1))
    return url.set(database=dbname).render_as_string(hide_password=False)


def _admin(sql: str) -> None:
    engine = create_engine(_url("postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


# -- data ---------------------------------------------------------------------------------------------------------
# Per lot: 1 receipt into the main warehouse; 10 shipments of 1,000 to distinct tier-1 distributors; for 5 of them a
# transfer of 100 to a tier-2 child; 17 sell-outs of 1..20 from each shipment; 2 sell-outs of 1..20 from each
# transfer; 4 returns of 10 into quarantine. 10k + 100k + 50k + 1.7M + 100k + 40k = 2,000,000 movements; no
# location × lot can go below zero (1,000 in, at most 100 + 340 + 10 out).
BUILD = [
    ("regions", """
        INSERT INTO region (id, code, name, official_name, level, parent_id, province_id, city_unit_id, is_pseudo_city)
        SELECT g, lpad((10 + g)::text, 2, '0') || '0000', '省' || g, '省' || g, 1, NULL, NULL, NULL, false
        FROM generate_series(1, 10) g;
        UPDATE region SET province_id = id;
        SELECT setval(pg_get_serial_sequence('region', 'id'), 10);
    """),
    ("master data", f"""
        INSERT INTO product_line (id, code, name) VALUES (1, 'BL', '基准');
        INSERT INTO product (id, code, generic_name, specification, dosage_form, base_unit, pack_size,
                             shelf_life_months, min_shelf_days_tier1, min_shelf_days_tier2, cold_chain,
                             product_line_id, active, created_at, updated_at)
        SELECT g, 'P' || lpad(g::text, 5, '0'), '基准药品' || g, '10mg', '片剂', '盒', 10, 36, 180, 90, false, 1,
               true, now(), now()
        FROM generate_series(1, {N_PRODUCTS}) g;
        INSERT INTO distributor (id, code, name, tier, parent_id, region_id, licence_no, licence_expiry, status,
                                 created_at, updated_at)
        SELECT g, 'D' || lpad(g::text, 4, '0'), '基准医药' || g, CASE WHEN g <= {N_TIER1} THEN 1 ELSE 2 END,
               CASE WHEN g <= {N_TIER1} THEN NULL ELSE ((g - {N_TIER1} - 1) % {N_TIER1}) + 1 END,
               (g % 10) + 1, 'L' || g, DATE '2030-12-31', 'active', now(), now()
        FROM generate_series(1, {N_TIER1 + N_TIER2}) g;
        INSERT INTO stock_location (id, code, name, kind, distributor_id, region_id, active, created_at, updated_at)
        SELECT g, 'MAN-' || g, '总仓' || g, 'manufacturer', NULL, 1, true, now(), now() FROM generate_series(1, 5) g;
        INSERT INTO stock_location (id, code, name, kind, distributor_id, region_id, active, created_at, updated_at)
        SELECT 5 + g, 'Q-' || g, '隔离库' || g, 'quarantine', NULL, 1, true, now(), now() FROM generate_series(1, 5) g;
        INSERT INTO stock_location (id, code, name, kind, distributor_id, region_id, active, created_at, updated_at)
        SELECT 10 + g, 'WH-D' || lpad(g::text, 4, '0'), '仓库' || g, 'distributor', g, (g % 10) + 1, true, now(),
               now()
        FROM generate_series(1, {N_TIER1 + N_TIER2}) g;
        INSERT INTO terminal (id, code, name, type, region_id, active, created_at, updated_at)
        SELECT g, 'T' || lpad(g::text, 5, '0'), '终端' || g, 'hospital', (g % 10) + 1, true, now(), now()
        FROM generate_series(1, {N_TERMINALS}) g;
        SELECT setval(pg_get_serial_sequence('product', 'id'), {N_PRODUCTS});
        SELECT setval(pg_get_serial_sequence('distributor', 'id'), {N_TIER1 + N_TIER2});
        SELECT setval(pg_get_serial_sequence('stock_location', 'id'), {10 + N_TIER1 + N_TIER2});
        SELECT setval(pg_get_serial_sequence('terminal', 'id'), {N_TERMINALS});
    """),
    ("lots", f"""
        -- expiries from 2026-03 (some already expired) to 2028-12; 1% quarantined, 0.5% recalled
        INSERT INTO lot (id, product_id, lot_no, manufactured_on, expires_on, status, created_at)
        SELECT g, ((g - 1) / {LOTS_PER_PRODUCT}) + 1, 'B' || lpad(g::text, 6, '0'),
               DATE '2026-03-01' + ((g * 37) % 1000) - 730, DATE '2026-03-01' + ((g * 37) % 1000),
               CASE WHEN g % 200 = 7 THEN 'recalled' WHEN g % 100 = 3 THEN 'quarantined' ELSE 'released' END, now()
        FROM generate_series(1, {N_LOTS}) g;
        SELECT setval(pg_get_serial_sequence('lot', 'id'), {N_LOTS});
    """),
    ("movements", f"""
        CREATE TEMP TABLE ship AS
        SELECT l AS lot, k, ((l + k * 6) % {N_TIER1}) + 1 AS d,
               DATE '2025-07-01' + ((l + k) % 120) AS day
        FROM generate_series(1, {N_LOTS}) l, generate_series(0, 9) k;
        INSERT INTO stock_movement (at, business_date, kind, lot_id, quantity, from_location_id, to_location_id,
                                    from_distributor_id, to_distributor_id, terminal_id, reference, actor)
        SELECT now(), DATE '2025-06-01', 'receipt', l, 100000, NULL::int, 1, NULL::int, NULL::int, NULL::int,
               NULL::text, 'bench'
        FROM generate_series(1, {N_LOTS}) l
        UNION ALL
        SELECT now(), day, 'shipment', lot, 1000, 1, 10 + d, NULL, d, NULL, 'SO-' || lot || '-' || k, 'bench'
        FROM ship
        UNION ALL
        SELECT now(), day + 10, 'transfer', lot, 100, 10 + d, 10 + {N_TIER1} + d, d, {N_TIER1} + d, NULL, NULL,
               'bench'
        FROM ship WHERE k < 5
        UNION ALL
        SELECT now(), LEAST(day + 1 + ((lot * 7 + k * 11 + i * 17) % 330), DATE '2026-06-14'), 'sell_out', lot,
               ((lot + k + i) % 20) + 1, 10 + d, NULL, d, NULL, ((lot * 31 + k * 7 + i * 13) % {N_TERMINALS}) + 1,
               NULL, 'bench'
        FROM ship, generate_series(1, 17) i
        UNION ALL
        SELECT now(), LEAST(day + 11 + ((lot * 5 + i * 19) % 300), DATE '2026-06-14'), 'sell_out', lot,
               ((lot + i) % 20) + 1, 10 + {N_TIER1} + d, NULL, {N_TIER1} + d, NULL,
               ((lot * 17 + i * 29) % {N_TERMINALS}) + 1, NULL, 'bench'
        FROM ship, generate_series(1, 2) i WHERE k < 5
        UNION ALL
        SELECT now(), DATE '2026-05-01' + (lot % 40), 'return', lot, 10, 10 + d, 6 + (lot % 5), d, NULL, NULL,
               NULL, 'bench'
        FROM ship WHERE k < 4;
    """),
    ("balances", """
        INSERT INTO stock_balance (location_id, lot_id, distributor_id, quantity, updated_at)
        SELECT loc, lot, max(dist), sum(qty), now() FROM (
            SELECT to_location_id AS loc, lot_id AS lot, to_distributor_id AS dist, quantity AS qty
            FROM stock_movement WHERE to_location_id IS NOT NULL
            UNION ALL
            SELECT from_location_id, lot_id, from_distributor_id, -quantity
            FROM stock_movement WHERE from_location_id IS NOT NULL
        ) AS side GROUP BY loc, lot;
    """),
    ("analyze", "ANALYZE"),
]


def build(engine) -> dict:
    timings = {}
    for name, sql in BUILD:
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.exec_driver_sql(sql.replace("%", "%%"))  # no parameters: a literal modulo
        timings[name] = time.perf_counter() - t0
        print(f"  built {name:<12} {timings[name]:7.1f} s", file=sys.stderr, flush=True)
    with engine.connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("lot", "stock_location", "stock_movement", "stock_balance")}
        negative = conn.execute(text("SELECT count(*) FROM stock_balance WHERE quantity < 0")).scalar_one()
        # balances = ledger, checked on a sample of 500 location × lot pairs
        mismatched = conn.execute(text("""
            SELECT count(*) FROM (SELECT * FROM stock_balance ORDER BY id LIMIT 500) b
            WHERE b.quantity <> (SELECT coalesce(sum(CASE WHEN m.to_location_id = b.location_id THEN m.quantity
                                                          ELSE -m.quantity END), 0)
                                 FROM stock_movement m WHERE m.lot_id = b.lot_id
                                   AND (m.to_location_id = b.location_id OR m.from_location_id = b.location_id))
        """)).scalar_one()
    assert negative == 0 and mismatched == 0, (negative, mismatched)
    return {"counts": counts, "build_s": round(sum(timings.values()), 1)}


# -- the measured operations --------------------------------------------------------------------------------------
def order_lines():
    """A 200-line order: 200 products (every other one of the first 400), 150,000 base units each from MAN-1 —
    more than one lot holds there (90,000), so each line takes several lots and skips some (short shelf life,
    expired, blocked)."""
    return [(2 * i + 1, 150000) for i in range(ORDER_LINES)]


def allocate_order(db, lines):
    """The order allocated line by line by FEFO, the stock of all its products read and locked in one query
    (services.allocate_lines, what an order uses)."""
    from app.models import Product, StockLocation
    from inventory import services

    wh = db.session.get(StockLocation, 1)
    products = {p.id: p for p in db.session.query(Product).filter(Product.id.in_([p for p, _ in lines]))}
    t0 = time.perf_counter()
    allocations = services.allocate_lines([(products[p], qty) for p, qty in lines], wh, destination_tier=1,
                                          on_date=TODAY)
    elapsed = time.perf_counter() - t0
    db.session.rollback()
    return elapsed, sum(len(a.picks) for a in allocations)


def allocate_per_line(db, lines):
    """The same order with one services.allocate() call (one locking query) per line."""
    from app.models import Product, StockLocation
    from inventory import services

    wh = db.session.get(StockLocation, 1)
    products = {p.id: p for p in db.session.query(Product).filter(Product.id.in_([p for p, _ in lines]))}
    t0 = time.perf_counter()
    picks = 0
    for product_id, qty in lines:
        picks += len(services.allocate(products[product_id], qty, wh, destination_tier=1, on_date=TODAY).picks)
    elapsed = time.perf_counter() - t0
    db.session.rollback()
    return elapsed, picks


def allocate_order_naive(db, lines):
    """The same order the naive way: every lot of the product loaded as ORM objects, on hand summed from the
    ledger per lot (two queries each), then the same FEFO rule."""
    from sqlalchemy import select

    from app.models import Product, StockLocation
    from inventory.allocation import LotStock, fefo
    from inventory.models import Lot
    from inventory.services import ledger_sum

    wh = db.session.get(StockLocation, 1)
    t0 = time.perf_counter()
    picks = 0
    for product_id, qty in lines:
        product = db.session.get(Product, product_id)
        lots = db.session.execute(select(Lot).where(Lot.product_id == product_id)).scalars().all()
        stock = [LotStock(lot.id, lot.lot_no, lot.expires_on, lot.status, ledger_sum(wh.id, lot.id)) for lot in lots]
        picks += len(fefo([s for s in stock if s.available > 0], qty, TODAY, product.min_shelf_days_tier1).picks)
    elapsed = time.perf_counter() - t0
    db.session.rollback()
    return elapsed, picks


def matrix(db):
    from inventory import channel

    t0 = time.perf_counter()
    m = channel.channel_matrix(as_of=TODAY)
    return time.perf_counter() - t0, len(m.cells)


def matrix_naive(db):
    """The same figures summed from the 2M-row ledger instead of the balances, movement rows brought back."""
    from datetime import timedelta

    from sqlalchemy import select

    from inventory.models import Lot, StockMovement

    t0 = time.perf_counter()
    lot_product = dict(db.session.execute(select(Lot.id, Lot.product_id)).all())
    on_hand, sold = {}, {}
    rows = db.session.execute(select(StockMovement.kind, StockMovement.lot_id, StockMovement.quantity,
                                     StockMovement.from_distributor_id, StockMovement.to_distributor_id,
                                     StockMovement.business_date)).yield_per(50000)
    since = TODAY - timedelta(days=90)
    for kind, lot_id, qty, src, dst, day in rows:
        p = lot_product[lot_id]
        if dst is not None:
            on_hand[(dst, p)] = on_hand.get((dst, p), 0) + qty
        if src is not None:
            on_hand[(src, p)] = on_hand.get((src, p), 0) - qty
            if kind == "sell_out" and since < day <= TODAY:
                sold[(src, p)] = sold.get((src, p), 0) + qty
    cells = {k for k, v in on_hand.items() if v} | set(sold)
    return time.perf_counter() - t0, len(cells)


def trace_lot(db, lot_id):
    from inventory import trace
    from inventory.models import Lot

    db.session.expire_all()
    t0 = time.perf_counter()
    t = trace.recall_trace(db.session.get(Lot, lot_id))
    return time.perf_counter() - t0, (len(t.holdings), len(t.distributors), len(t.terminals), len(t.movements))


def trace_lot_naive(db, lot_id):
    """The same trace with per-row ORM lookups: movements as objects, each one's locations, holders and terminal
    loaded lazily (N+1), holdings recomputed from the ledger per location touched."""
    from sqlalchemy import select

    from inventory.models import Lot, StockMovement
    from inventory.services import ledger_sum

    db.session.expire_all()
    t0 = time.perf_counter()
    lot = db.session.get(Lot, lot_id)
    movements = db.session.execute(select(StockMovement).where(StockMovement.lot_id == lot.id)
                                   .order_by(StockMovement.business_date, StockMovement.id)).scalars().all()
    locations, distributors, terminals = set(), set(), set()
    for m in movements:
        for loc in (m.from_location, m.to_location):
            if loc is not None:
                locations.add(loc.id)
                if loc.distributor is not None:
                    distributors.add(loc.distributor.code)
        if m.terminal is not None:
            terminals.add((m.terminal.code, m.from_location.distributor.code))
        db.session.expunge(m)  # no identity-map help between rows
    holdings = {loc: q for loc in locations if (q := ledger_sum(loc, lot.id)) > 0}
    return time.perf_counter() - t0, (len(holdings), len(distributors), len(terminals), len(movements))


def timed(fn, repeat: int):
    fn()  # warm-up (plans, caches)
    runs = [fn() for _ in range(repeat)]
    return statistics.median(r[0] for r in runs) * 1000, runs[-1][1]


def machine() -> str:
    cpu = ""
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "")
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cpu {cpu}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{DB_NAME}"')
    try:
        os.environ["DRP_INSTANCE_PATH"] = tempfile.mkdtemp(prefix="drp-bench-")
        from app import create_app

        app = create_app({"SQLALCHEMY_DATABASE_URI": _url(DB_NAME), "FIXED_TODAY": TODAY, "LOG_LEVEL": "WARNING",
                          "SECRET_KEY": "bench"})
        with app.app_context():
            from flask_migrate import upgrade

            from app.extensions import db

            upgrade(revision="heads")
            built = build(db.engine)
            with db.engine.connect() as conn:
                pg = conn.execute(text("SHOW server_version")).scalar_one()
                trace_lot_id = conn.execute(text(
                    "SELECT lot_id FROM stock_movement GROUP BY lot_id ORDER BY count(*) DESC, lot_id LIMIT 1"
                )).scalar_one()
            lines = order_lines()
            results = {
                "allocate": timed(lambda: allocate_order(db, lines), args.repeat),
                "allocate_per_line": timed(lambda: allocate_per_line(db, lines), args.repeat),
                "naive_allocate": timed(lambda: allocate_order_naive(db, lines), max(args.repeat // 2, 1)),
                "matrix": timed(lambda: matrix(db), args.repeat),
                "naive_matrix": timed(lambda: matrix_naive(db), max(args.repeat // 2, 1)),
                "trace": timed(lambda: trace_lot(db, trace_lot_id), args.repeat),
                "naive_trace": timed(lambda: trace_lot_naive(db, trace_lot_id), args.repeat),
            }
            db.session.remove()
            db.engine.dispose()
    finally:
        if not args.keep:
            _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    for ours, naive in (("allocate", "naive_allocate"), ("allocate_per_line", "naive_allocate"),
                        ("trace", "naive_trace"), ("matrix", "naive_matrix")):
        assert results[ours][1] == results[naive][1], (ours, results[ours][1], results[naive][1])
    c = built["counts"]
    print(f"inventory benchmark: {c['lot']:,} lots, {c['stock_location']} locations, {c['stock_movement']:,} movements,"
          f" {c['stock_balance']:,} balances (built in {built['build_s']} s); PostgreSQL {pg}; {machine()}")
    print(f"{'operation':<50}{'ours ms':>10}{'naive ms':>11}{'speed-up':>10}  target")
    rows = [("FEFO allocation, 200-line order (one lock query)", "allocate", "naive_allocate", "< 50 ms"),
            ("  the same, one allocate() query per line", "allocate_per_line", "naive_allocate", "-"),
            ("channel stock matrix (all distributors)", "matrix", "naive_matrix", "-"),
            (f"recall trace (lot {trace_lot_id}, {results['trace'][1][3]} movements)", "trace", "naive_trace",
             "< 100 ms")]
    for label, ours, naive, target in rows:
        a, b = results[ours][0], results[naive][0]
        print(f"{label:<50}{a:>10.1f}{b:>11.1f}{b / a:>9.1f}x  {target}")
    print(f"(picks {results['allocate'][1]}, matrix cells {results['matrix'][1]}, trace holders / distributors / "
          f"terminals / movements {results['trace'][1]}; median of {args.repeat} runs, naive allocation and matrix "
          f"of {max(args.repeat // 2, 1)})")
    print(json.dumps({
        "bench": "inventory", "lots": c["lot"], "locations": c["stock_location"], "movements": c["stock_movement"],
        "balances": c["stock_balance"], "order_lines": ORDER_LINES,
        "allocate_ms": round(results["allocate"][0], 1),
        "allocate_per_line_ms": round(results["allocate_per_line"][0], 1),
        "naive_allocate_ms": round(results["naive_allocate"][0], 1),
        "matrix_ms": round(results["matrix"][0], 1), "naive_matrix_ms": round(results["naive_matrix"][0], 1),
        "trace_ms": round(results["trace"][0], 1), "naive_trace_ms": round(results["naive_trace"][0], 1),
        "build_s": built["build_s"], "postgresql": pg, "machine": machine(),
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
