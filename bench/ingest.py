"""Ingestion benchmark: a realistic 1,000,000-row sell-out file ingested end to end into PostgreSQL, against a raw
COPY of the same file into a table with the same number of indexes (the floor), with peak memory.

* Master data: 50,000 terminals named as Chinese master data names them, over the real GB/T 2260 counties
  (``ingestion.matching.generate_terminals``), 150 products with 3 lots each, one tier-1 distributor holding ample
  stock, its confirmed column layout.
* The file: GBK CSV, 1,000,000 lines of one month, customers drawn from 50,000 distinct names written the way
  distributors write them (``generate_queries``: province added, 市 dropped, brackets, 有限公司 forms, 附一院,
  full-width, typos ...; 5 % look-alikes that are not in the master data), a region column on about half the lines,
  product code + name + specification, lot, expiry, quantity, unit, unit price and amount.
* End to end: the real pipeline in a child process (so its peak RSS is its own): intake (raw-file store, SHA-256,
  checks) and ``ingestion.tasks.process_submission`` (read in chunks, normalise, match, validate, COPY the facts,
  rejected and waiting rows, make current, post stock, queue the coverage refresh), committed. Then the coverage
  refresh the load queued (``distribution.tasks.refresh_coverage``, in production a task of its own after the
  commit), timed on its own and reported beside it. Run on a 200,000-line prefix too: the peak RSS of
  both runs shows that memory does not grow with the file.
* The floor: ``COPY … FROM STDIN (FORMAT csv, ENCODING 'GBK')`` of the same bytes into a typed table with a primary
  key and four secondary indexes, as sell_out_fact has.
* Matching: ``TerminalIndex.match_many`` of the 50,000 names against the 50,000 terminals (the function the
  pipeline uses), timed on its own.

Runs against PostgreSQL on 127.0.0.1 in a scratch database it creates and drops (server: BENCH_DATABASE_URL, else
TEST_DATABASE_URL, else postgresql://postgres@127.0.0.1:5432). Usage::

    .venv/bin/python bench/ingest.py [--rows 1000000] [--small 200000] [--terminals 50000] [--keep]

Prints a table, then as its last line one JSON object with the figures (with ``--small`` the big run replaces the
small one's submission, the same distributor × kind × period: compare runs made with the same ``--small``).

Measured 2026-12-01 (2 cores shared with other work, load 1.4-2.7), before → after the issue-6 performance work,
``--small 0``: 300,000 lines 64.3 s (floor 7.3 s, ratio 8.83) → 51.1 s (floor 7.7 s, ratio 6.66); 1,000,000 lines
162.5 s (floor 19.7 s, ratio 8.26, 722 MB) → 137.3 s (floor 31.5 s on a busier machine, ratio 4.36, 693 MB).
About 19 s of the 300k run is the facts listener's rollup refresh (``distribution``), outside ingestion.
Until then the bench distributor had no agreement, so every line also became a diversion flag (262,386 flags, 6.8 s
of a 25 s run on a quiet machine); it now has a national agreement for the product line (``_national_agreement``),
and the 300,000-line ratio was 4.52 (30.2 s, floor 6.7 s, machine loaded by a test run: load 4.9) against 6.77-7.26
on a quiet machine just before. 1,000,000 lines, quiet machine (load 1.0): 45.4 s end to end, floor 12.8 s, ratio
3.56, peak RSS 700 MB, matching 1.6 s (precision 1.000, recall 0.935).

2026-12-02, another machine of the same kind (slower: the same code took 101 s there), 1,000,000 lines with the
default ``--small`` (the big run replaces the small one's version), the code before and after the day's work run
back to back at load 0.5-1.2: before (ad49113) 101.3 s, floor 19.3 s, ratio 5.26, 698 MB; after 66.0 s, floor
15.5 s, ratio 4.25, 719 MB (two more runs after, load 1-2: 68.5 s / 18.0 s = 3.81, 69.7 s / 17.7 s = 3.94; the
floor itself varies by ±15 % from run to run). Phases of the after run (s): read 2.1, normalise 7.8, products and
lots 1.5, customers 11.9 (index build and matching of 72,000 distinct name × region keys), preparing rows 1.3, facts
7.7, rejected and waiting rows 7.8 (124,880 waiting), stock 2.5, listeners 20.3 (coverage presence 14.4 of which
two inserts of 605,716 rollup rows take 3.4 s each, diversion flags 4.2). What was cut: the stock reversals of
the replaced version (an index on stock_movement.reverses_id; 26 s before on a loaded machine), the rollup
refresh rewriting every touched row twice, per-row JSON encoding, per-row Python loops of resolution, and the wait
for each chunk's facts COPY (left open while the next chunk is read). ``BENCH_PROFILE=file`` writes a cProfile of
the task; ``BENCH_TRACE=1`` prints each statement of the coverage refresh with its time; ``BENCH_RSS=1`` the loading
process's resident memory after each chunk.

2026-12-02 later, a faster machine of the kind (Xeon, 2 cores; the same 937e2f9 code took 44.9 s here against 66 s
there), default ``--small``, the code before (937e2f9) and after the session's work back to back at load 0.1-1.1:
before 44.89 s, floor 12.13 s, ratio 3.70, 719 MB; after 37.11 s, floor 12.20 s, ratio 3.04, 722 MB (four more
after-runs with ``--small 0``: 35.8-38.0 s, ratios 2.99-3.18, the floor moving 11.5-12.5 s). Phases after (s): read
1.8, normalise 4.7, products and lots 0.9, customers 7.2, preparing rows 0.8, facts 3.6, rejected and waiting rows
4.7, stock 1.6, listeners 9.7 (presence 7.7, flags 0.7, sales 0.6). What was cut: garbage-collector passes (3.35 s
in 5,391 collections -> 0.42 s), the diversion flags of the load (2.9 s -> 0.7 s: equality anti joins, hash joins
only), the facts' COPY formatting (pyarrow CSV), the all-products rollup rows read from the line rows, the JSON of
waiting rows. Measured and left: the foreign keys cost 22 % of the server's insert of the facts (submission FK:
875k rows 9.4 s -> 7.3 s without it, an INSERT … SELECT test) and half of the waiting rows' (4 FKs: 2.1 s -> 1.0 s);
they stay, for integrity.

2026-12-02, a new session on a machine of the kind: the floor is now measured twice (before and after the loads,
each after a checkpoint and with no autovacuum worker running; one earlier floor of 15.0 s had run beside the
seeding's autovacuum). Quiet, back to back, ``--small 0``: end to end 39.32 s, floor 12.27 s (12.40 / 12.13),
ratio 3.21, 736 MB; the same with ``BENCH_NO_LISTENERS=1`` (a diagnostic: no coverage rollups, no diversion
flags) 28.10 s, floor 12.13 s (11.94 / 12.31), ratio 2.32. So even without the rollups that issue 7 keeps at load
time (10.4 s of the full run) the load is 2.3x its floor: the chunks' Python (read, normalise, match, prepare,
waiting rows: ~17 s) is the rest. Later in the session the host slowed (the same code: 51.6 s against a floor of
16.9 s, ratio 3.06), which is why only ratios from one run are compared.

2026-12-02, a slower machine of the kind (AMD EPYC, 2 cores), ``--small 0``, quiet (load 1.0): with the refresh
in the load's transaction (414b25d^) 69.22 s, floor 22.76 s (26.08 / 19.43), ratio 3.04, listeners 20.1 s; with
the refresh queued and done after the commit (414b25d) the load took 50.75 s, floor 22.56 s (24.29 / 20.83),
ratio 2.25, listeners 0.5 s, and the refresh it queued 17.72 s after it (load + refresh ÷ floor: 3.04).

2026-12-02, stop 16, the same kind of machine (AMD EPYC, 2 cores, load ~1), ``--small 0``. The bench now also
prints CPU seconds: of the loading process and of PostgreSQL's processes during the load, and of PostgreSQL during
the floor's COPY. On the code before (8240f7b) the load used 34.5 CPU s here and PostgreSQL 23.0, but it took
46.8 s: for about 12 s each side waited for the other. A profile put 10.2 s of the load in psycopg's COPY finish
(the facts COPY left open, then the waiting rows' COPY run in place). Since then (9dd40b4, fd9867f, bb892b3):
the COPYs go to a sender thread of the connection (``ingestion.loading``), so the caller waits only when a
statement needs the connection. Each distinct customer is resolved once per load, and fewer passes are made
row by row. The host's speed drifted by up to 30 % from run to run (the same floor COPY took 17.5-30.2 s), so
the code before and after was run in alternation, and ratios are only compared within one run. Before, 3 runs:
ratios 2.46, 2.29, 2.40. After, 5 runs: 1.71, 1.80, 2.19, 1.80, 2.14. For example, one after-run: 41.45 s
against a floor of 23.09 s; phases read 2.8, normalise 8.4, products 1.5, customers 11.8, preparing rows 2.7,
rejected and waiting rows 4.4, review items (waiting for the sender included) 1.4, facts 1.4, last wait 0.9,
stock 1.4; loading process 34.9 CPU s, PostgreSQL 25.2; peak RSS 746 MB. The final code (831deec), one run with
a steady floor: 45.31 s against 20.20 s (20.32 / 20.09), ratio 2.24, loading process 39.1 CPU s, PostgreSQL 28.9,
737 MB. The ratios under 2 all came with slow floors (23-27 s); against floors of about 20 s it is 2.24 after and
2.46 before, so on a steady host the load is still a little over twice its floor.

2026-12-02, stop 17, the same kind of machine (AMD EPYC, 2 cores), faster today (floors 14.9-22.1 s). Changes:
rapidfuzz's threads only for a region batch of 250,000 pairs or more (starting them cost ~0.2 ms a call, more
than a typical batch of a chunk: customers 9.3-10.8 s -> 6.6-8.2 s), the GBK encoding check by a bytes pattern
(intake 1.9-2.9 s -> 1.3-1.7 s), the stock movements of the posting by COPY (a replacement's 27,900 movements:
post_stock 2.2-2.9 s -> 1.4-1.6 s), fewer conversions of object columns. The code of the session's start
(28bc0ba) and the end, alternated, default ``--small`` (so the big run replaces a version): before 1.85, 2.10,
1.81 (29.3-32.5 s); after 1.70, 1.66, 1.66 (25.4-30.9 s), and 1.61 in one more run. With ``--small 0``: 1.55,
1.85, 1.95 before; 1.60, 1.88, 1.78, 1.61 after. Peak RSS 632-647 MB for 200,000 lines, 742-774 MB for 1,000,000.
The coverage refresh queued after the commit (issue 7's rollups) took another 14-16 s; load plus refresh is
2.4-2.8x the floor. Tried and dropped: reading and normalising the next chunk in a thread (the GIL: the thread's
Python slowed the caller's, 30.8 s against a floor of 17.4, ratio 1.77, +60 MB).

2026-12-03, stop 18, the same kind of machine (AMD EPYC, 2 cores, load 1.1-1.2), slow today (floors 26.8-28.2 s
for 1,000,000 lines, 58.6 s for 2,000,000). Memory: the peak RSS had grown with the file (742-774 MB for 1M lines,
863-870 MB for 2M) although the RSS after each chunk did not: pyarrow's CSV reader reads up to ~32 blocks ahead on
a thread of its own, and each block was a whole chunk's bytes (5.8 MB). Read alone with a slow consumer (0.1 s a
chunk), peak 396 MB for the 1M-line file and 513 MB for the same lines twice. Blocks of ~2,000 lines joined into
chunks: 244 and 255 MB, read time unchanged (3.7-3.8 s against 3.9 s, two A/B pairs). End to end after it
(``BENCH_RSS=1``): default ``--small``: 200,000 lines 617 MB, 1,000,000 lines 650 MB, 52.81 s against a floor of
28.18 s (25.92 / 30.43), ratio 1.87; ``--rows 2000000 --small 1000000``: 1,000,000 lines 654 MB, 2,000,000 lines
683 MB, 89.78 s against 58.58 s, ratio 1.53; ``--small 0``: 47.86 s against 26.82 s, ratio 1.78, 640 MB. The
~30 MB more for twice the lines is the duplicate-line check's hashes (16 bytes a line, 14 MB at 2M lines: a
duplicate must be found anywhere in the file) and, presumably, allocator slack; the process's peak after the
intake was already 385 MB, for 1M and for 2M lines alike (intake 3.0 s and 6.1 s). Matching 50,000 × 50,000:
2.81-3.12 s (build 2.4 s), precision 1.000, recall 0.935.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REGIONS = ROOT.parent / "shared" / "data" / "regions"

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

SERVER = os.environ.get("BENCH_DATABASE_URL") or os.environ.get(
    "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DB_NAME = f"drp_bench_ingest_{os.getpid()}"
HEADERS = ["销售日期", "客户名称", "客户地区", "产品编码", "产品名称", "规格", "批号", "有效期至", "数量", "单位",
           "单价", "金额"]
FLOOR_DDL = """
create table floor_sell_out (
    id bigserial primary key, business_date date not null, customer_name text, customer_region text,
    product_code text, product_name text, specification text, lot_no text, expires_on date, quantity integer,
    unit text, unit_price numeric(14, 4), amount numeric(14, 2));
create index ix_floor_customer on floor_sell_out (customer_name);
create index ix_floor_date on floor_sell_out (business_date);
create index ix_floor_product_date on floor_sell_out (product_code, customer_name, business_date);
create index ix_floor_lot on floor_sell_out (lot_no);
"""


def _url(dbname: str) -> str:
    url = make_url(SERVER.replace("postgresql://", "postgresql+psycopg://", 1))
    return url.set(database=dbname).render_as_string(hide_password=False)


def _admin(sql: str) -> None:
    engine = create_engine(_url("postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def quiet(url: str, limit: float = 120.0) -> None:
    """A checkpoint, then wait (at most ``limit`` s) until no autovacuum worker runs: each measured run starts with
    the server doing nothing else (after a load, autovacuum analyses the new facts for seconds)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    deadline = time.perf_counter() + limit
    with engine.connect() as conn:
        conn.execute(text("checkpoint"))
        while time.perf_counter() < deadline and conn.execute(text(
                "select count(*) from pg_stat_activity where backend_type = 'autovacuum worker'")).scalar():
            time.sleep(0.5)
    engine.dispose()


def _app(url: str, instance: Path, store: Path):
    os.environ["DRP_INSTANCE_PATH"] = str(instance)
    from app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "LOG_LEVEL": "WARNING", "SECRET_KEY": "bench",
                       "INGEST_STORE_DIR": str(store), "INGEST_MAX_MB": 1024,
                       "CELERY": {"task_always_eager": True, "task_eager_propagates": True}})


def _places():
    from ingestion.matching import places_from_regions

    def rows(name):
        with (REGIONS / name).open(encoding="utf-8") as fh:
            return list(csv.reader(fh))[1:]

    return places_from_regions(rows("provinces.csv"), rows("cities.csv"), rows("areas.csv"))


# -- master data --------------------------------------------------------------------------------------------------
def _national_agreement(dist, pl) -> None:
    """The bench distributor's agreement in force for 2026: the product line, every province (the file's customers
    are all over the country). Without one, every line of the file is a diversion flag (unauthorised product), which
    no real distributor's file is."""
    from decimal import Decimal

    from app.extensions import db
    from app.models import User
    from app.models.base import utcnow
    from distribution.models.agreements import Agreement, AgreementProductLine, AgreementRegion

    approver = User(username="bench-admin", display_name="基准审批人", password_hash="!", role="admin")
    drafter = User(username="bench-manager", display_name="基准渠道经理", password_hash="!", role="channel_manager")
    db.session.add_all([approver, drafter])
    db.session.flush()
    ag = Agreement(number="BENCH-AG-2026", distributor_id=dist.id, start_date=date(2026, 1, 1),
                   end_date=date(2026, 12, 31), payment_terms_days=60, proposed_credit_limit=Decimal("0.00"),
                   status="active", submitted_by_id=drafter.id, submitted_at=utcnow(), approved_at=utcnow(),
                   approved_by_id=approver.id)
    db.session.add(ag)
    db.session.flush()
    db.session.add(AgreementProductLine(agreement_id=ag.id, distributor_id=dist.id, product_line_id=pl.id))
    for pid in db.session.execute(text("select id from region where id = province_id")).scalars():
        db.session.add(AgreementRegion(agreement_id=ag.id, distributor_id=dist.id, region_id=pid))
    db.session.flush()


def seed(app, n_terminals: int, n_names: int, seed_value: int = 1):
    """Terminals, products, lots, stock, the distributor and its layout; returns (labelled names, place texts,
    products with lots, the index candidates with database ids)."""
    from flask_migrate import upgrade

    from app.extensions import db
    from app.masterdata.regions import import_regions
    from app.models import Distributor, Product, ProductLine, StockLocation
    from app.models.base import utcnow
    from ingestion import mapping, matching
    from ingestion.loading import copy_rows
    from ingestion.models import MappingTemplate
    from ingestion.review import guess_type
    from inventory.models import Lot

    with app.app_context():
        upgrade()
        import_regions(REGIONS)
        db.session.commit()
        places = _places()
        region_id = dict(db.session.execute(text("select code, id from region")).all())
        terminals = matching.generate_terminals(n_terminals, seed=seed_value, places=places)
        labelled = matching.generate_queries(terminals, n_names, seed=seed_value + 1, negatives=0.05, places=places)
        now = utcnow()
        from app.models import Terminal

        copy_rows(Terminal.__table__, ("code", "name", "type", "region_id", "active", "created_at", "updated_at"),
                  ((f"T{t.id:06d}", t.name, guess_type(t.name), region_id[f"{t.region_ids[0]:06d}"], True, now, now)
                   for t in terminals))
        db.session.commit()
        ids = dict(db.session.execute(text("select code, id from terminal")).all())
        candidates = [matching.Candidate(ids[f"T{t.id:06d}"], t.name, t.region_ids) for t in terminals]
        by_old = {t.id: ids[f"T{t.id:06d}"] for t in terminals}
        pl = ProductLine(code="BPL", name="基准")
        hz = db.session.execute(text("select id from region where code = '330100'")).scalar()
        dist = Distributor(code="BENCH-D1", name="基准医药有限公司", tier=1, region_id=hz, licence_no="B1",
                           licence_expiry=date(2035, 1, 1))
        loc = StockLocation(code="BENCH-L1", name="基准仓", kind="distributor", distributor=dist)
        db.session.add_all([pl, dist, loc])
        db.session.flush()
        _national_agreement(dist, pl)
        rng = random.Random(seed_value)
        products = []
        generics = ("阿莫西林胶囊", "头孢克肟分散片", "奥美拉唑肠溶胶囊", "阿托伐他汀钙片", "硝苯地平控释片",
                    "布洛芬缓释胶囊", "蒙脱石散", "氨溴索口服溶液", "二甲双胍片", "缬沙坦胶囊")
        for i in range(150):
            p = Product(code=f"BP{i:04d}", generic_name=generics[i % 10], specification=f"{(i // 10 + 1) * 5}mg*24片",
                        dosage_form="片剂", base_unit="盒", pack_size=rng.choice((20, 50, 100)), shelf_life_months=36,
                        product_line=pl)
            db.session.add(p)
            products.append(p)
        db.session.flush()
        lots = []
        for p in products:
            for k in range(3):
                lots.append(Lot(product_id=p.id, lot_no=f"{p.code}-{k}", manufactured_on=date(2025, 1 + k, 1),
                                expires_on=date(2027, 6 + k, 28)))
        db.session.add_all(lots)
        db.session.flush()
        db.session.execute(text(
            "insert into stock_movement (at, business_date, kind, lot_id, quantity, to_location_id, "
            "to_distributor_id, reference, actor) select now(), date '2026-04-01', 'opening', id, 100000000, :loc, "
            ":d, 'bench', 'bench' from lot"), {"loc": loc.id, "d": dist.id})
        db.session.execute(text(
            "insert into stock_balance (location_id, lot_id, distributor_id, quantity, updated_at) "
            "select :loc, id, :d, 100000000, now() from lot"), {"loc": loc.id, "d": dist.id})
        columns = dict(mapping.propose_mapping(HEADERS, "sell_out").columns)
        db.session.add(MappingTemplate(distributor_id=dist.id, kind="sell_out", signature=mapping.layout_signature(
            HEADERS), headers=HEADERS, columns=columns, confirmed_at=utcnow()))
        db.session.commit()
        plist = [(p.code, p.generic_name, p.specification, [(lot.lot_no, lot.expires_on) for lot in lots
                                                              if lot.product_id == p.id]) for p in products]
        db.session.remove()
    names = {p.ids[0]: f"{p.province}{p.city}{p.county}" for p in places}
    names.update({p.ids[1]: f"{p.province}{p.city}" for p in places})
    names.update({p.ids[2]: p.province for p in places})
    queries = [lq.query for lq in labelled]
    region_text = [names.get(q.region_id, "") if q.region_id else "" for q in queries]
    remapped = [matching.Query(q.name, q.code, q.region_id) for q in queries]
    return remapped, region_text, plist, candidates, by_old, labelled


def write_file(path: Path, n_rows: int, queries, region_text, plist, seed_value: int = 7) -> int:
    rng = random.Random(seed_value)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADERS)
    size = 0
    with path.open("wb") as out:
        for i in range(n_rows):
            q = rng.randrange(len(queries))
            code, generic, spec, lots = plist[rng.randrange(len(plist))]
            lot_no, expires = lots[rng.randrange(3)]
            qty = rng.randint(1, 60)
            price = rng.randint(500, 30000) / 100
            w.writerow([f"2026-05-{1 + i % 31:02d}", queries[q].name, region_text[q] if i % 2 else "", code,
                        generic, spec, lot_no, expires.isoformat(), qty, "盒", f"{price:.2f}", f"{qty * price:.2f}"])
            if i % 20000 == 19999:
                data = buf.getvalue().encode("gb18030")
                out.write(data)
                size += len(data)
                buf.seek(0)
                buf.truncate()
        data = buf.getvalue().encode("gb18030")
        out.write(data)
        size += len(data)
    return size


FLOOR_SERVER_CPU: list[float] = []


def server_cpu() -> float:
    """CPU seconds used so far by PostgreSQL's processes on this machine (backends, WAL writer, checkpointer,
    autovacuum ...; those of processes that ended are lost, so take differences over one connection's life)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        if name.startswith("postgres"):
            fields = stat[stat.rindex(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def own_cpu(who=resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def floor(url: str, path: Path) -> float:
    import psycopg

    conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    conn.execute(FLOOR_DDL)
    conn.commit()
    started, cpu = time.perf_counter(), server_cpu()
    with conn.cursor() as cur:
        with cur.copy("copy floor_sell_out (business_date, customer_name, customer_region, product_code, "
                      "product_name, specification, lot_no, expires_on, quantity, unit, unit_price, amount) "
                      "from stdin (format csv, header true, encoding 'GB18030')") as copy, path.open("rb") as fh:
            while block := fh.read(1 << 20):
                copy.write(block)
    conn.commit()
    seconds = time.perf_counter() - started
    FLOOR_SERVER_CPU.append(server_cpu() - cpu)
    count = conn.execute("select count(*) from floor_sell_out").fetchone()[0]
    conn.execute("drop table floor_sell_out")
    conn.commit()
    conn.close()
    return seconds, count


def run_child(url: str, path: Path, store: Path, instance: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    quiet(url)
    out = subprocess.run([sys.executable, __file__, "--child", url, str(path), str(store), str(instance)],
                         capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"child failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["refresh"] = " ".join(line for line in out.stderr.splitlines() if "coverage refresh" in line)
    print("\n".join(line for line in out.stderr.splitlines() if line.startswith("TRACE")))
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    result["rss_grew"] = result["peak_rss_mb"] > before / 1024
    return result


def child(url: str, path: str, store: str, instance: str) -> None:
    """The real intake and task, in a process of their own (its peak RSS is measured by the parent)."""
    app = _app(url, Path(instance), Path(store))
    import logging

    rollups_log = logging.getLogger("distribution.rollups")  # its split of the refresh, for the parent to print
    rollups_log.setLevel(logging.INFO)
    rollups_log.addHandler(logging.StreamHandler(sys.stderr))
    if os.environ.get("BENCH_TRACE"):  # each statement of the coverage refresh, timed (printed by the parent)
        import distribution.rollups as rollups

        run = rollups._run

        def traced(sql, **params):
            started = time.perf_counter()
            count = run(sql, **params)
            print(f"TRACE {time.perf_counter() - started:6.2f}s {count:>8} {sql[:120]}", file=sys.stderr)
            return count

        rollups._run = traced
    if os.environ.get("BENCH_RSS"):  # the process's resident memory after each chunk (printed by the parent)
        from ingestion import pipeline

        process_chunk, page = pipeline._process_chunk, os.sysconf("SC_PAGE_SIZE")

        def measured(load, chunk):
            process_chunk(load, chunk)
            rss = int(Path("/proc/self/statm").read_text().split()[1]) * page / 2**20
            print(f"TRACE rss {rss:7.1f} MB after {load.counts['read']:>8} rows (seen {load.seen.nbytes >> 20} MB, "
                  f"{len(load.customers)} customers, {len(load.flows)} flows)", file=sys.stderr)

        pipeline._process_chunk = measured

    def high_water(when: str) -> None:
        if os.environ.get("BENCH_RSS"):
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"TRACE peak rss {peak:7.1f} MB {when}", file=sys.stderr)
    from ingestion import hooks

    if os.environ.get("BENCH_NO_LISTENERS"):  # a diagnostic: the load without the coverage rollups and flags
        hooks._listeners.clear()
    # the coverage refresh the load queues runs after its commit, in a task of its own (in production on whichever
    # worker takes it): here timed on its own, right after the load
    hooks._committed.clear()
    from app.extensions import db
    from app.models import Distributor
    from app.tenancy import Actor, acting_as
    from ingestion import intake
    from ingestion.models import SellOutFact, Submission
    from ingestion.tasks import process_submission

    with app.app_context(), acting_as(Actor(None, "bench")):
        dist = db.session.execute(text("select id from distributor where code = 'BENCH-D1'")).scalar()
        started = time.perf_counter()
        with open(path, "rb") as fh:
            sub = intake.receive_file(fh, Path(path).name, db.session.get(Distributor, dist), "sell_out",
                                      intake.parse_period("month", "2026-05"), source="api", submitted_by=None)
        db.session.commit()
        sub_id = sub.id
        intake_s = time.perf_counter() - started
        db.session.remove()
        high_water("after the intake")
        cpu = (None, None, None)
        if os.environ.get("BENCH_PROFILE"):  # a cProfile of the task, for finding where the time goes
            import cProfile

            profiler = cProfile.Profile()
            status = profiler.runcall(process_submission, sub_id)
            profiler.dump_stats(os.environ["BENCH_PROFILE"])
        else:
            cpu = (own_cpu(), server_cpu(), own_cpu(resource.RUSAGE_CHILDREN))
            status = process_submission(sub_id)
            cpu = (own_cpu() - cpu[0], server_cpu() - cpu[1], own_cpu(resource.RUSAGE_CHILDREN) - cpu[2])
        seconds = time.perf_counter() - started
        high_water("after the load")
        from distribution.tasks import refresh_coverage

        refresh_started = time.perf_counter()
        refreshed = refresh_coverage()
        refresh_s = time.perf_counter() - refresh_started
        high_water("after the coverage refresh")
        assert refreshed["failed"] == 0, refreshed
        sub = db.session.get(Submission, sub_id)
        facts = db.session.execute(text("select count(*) from sell_out_fact where submission_id = :s"),
                                   {"s": sub_id}).scalar()
        assert facts == sub.rows_accepted, (facts, sub.rows_accepted)
        assert SellOutFact.__tablename__ == "sell_out_fact"
        flags = db.session.execute(text("select count(*) from diversion_flag where submission_id = :s"),
                                   {"s": sub_id}).scalar()
        print(json.dumps({"status": status, "seconds": round(seconds, 2), "intake_seconds": round(intake_s, 2),
                          "refresh_seconds": round(refresh_s, 2), "refreshes": refreshed["done"],
                          "load_cpu": cpu[0] and round(cpu[0], 2), "server_cpu": cpu[1] and round(cpu[1], 2),
                          "helper_cpu": cpu[2] and round(cpu[2], 2),
                          "read": sub.rows_read, "accepted": sub.rows_accepted, "rejected": sub.rows_rejected,
                          "review": sub.rows_review, "movements": (sub.notes or {}).get("movements"),
                          "diversion_flags": flags, "timings": (sub.notes or {}).get("timings")}))


def match_seconds(candidates, queries, places) -> tuple[float, float]:
    from ingestion import matching

    started = time.perf_counter()
    index = matching.TerminalIndex(candidates, region_names=matching.region_names(places))
    build = time.perf_counter() - started
    started = time.perf_counter()
    results = index.match_many(queries)
    return time.perf_counter() - started, build, results


def quality(results, labelled, by_old) -> tuple[float, float]:
    """Precision (automatic matches that are right) and recall (true terminals matched automatically)."""
    automatic = sum(1 for r in results if r.terminal_id is not None)
    correct = sum(1 for r, lq in zip(results, labelled, strict=True)
                  if r.terminal_id is not None and r.terminal_id == by_old.get(lq.expected_id))
    positives = sum(1 for lq in labelled if lq.expected_id is not None)
    return correct / automatic if automatic else 1.0, correct / positives if positives else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=200_000)
    parser.add_argument("--terminals", type=int, default=50_000)
    parser.add_argument("--names", type=int, default=50_000)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--child", nargs=4)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from bench.match import machine

    _admin(f'drop database if exists "{DB_NAME}" with (force)')
    _admin(f'create database "{DB_NAME}"')
    url = _url(DB_NAME)
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        app = _app(url, work / "instance", work / "store")
        t0 = time.perf_counter()
        queries, region_text, plist, candidates, by_old, labelled = seed(app, args.terminals, args.names)
        seed_s = time.perf_counter() - t0
        ids_queries = queries  # region ids in the queries are GB/T codes, as the index candidates' are
        m_s, build_s, results = match_seconds(candidates, ids_queries, _places())
        precision, recall = quality(results, labelled, by_old)
        files = {}
        for n in sorted({args.small, args.rows}):
            path = work / f"流向_{n}.csv"
            t0 = time.perf_counter()
            files[n] = (path, write_file(path, n, queries, region_text, plist), time.perf_counter() - t0)
        path, size, _gen = files[args.rows]
        quiet(url)
        floor_before, floor_rows = floor(url, path)
        small = run_child(url, files[args.small][0], work / "store", work / "instance") \
            if args.small and args.small != args.rows else None
        big = run_child(url, path, work / "store", work / "instance")
        quiet(url)
        floor_after, _rows = floor(url, path)  # the floor moves ±15 % from one COPY to the next: twice, averaged
        floor_s = (floor_before + floor_after) / 2
        ratio = big["seconds"] / floor_s
        print(f"machine: {machine()}")
        print(f"master data: {args.terminals} terminals, 150 products × 3 lots, seeded in {seed_s:.0f} s; "
              f"file: {args.rows} lines, {size / 1e6:.0f} MB GB18030, {len(set(q.name for q in queries))} distinct "
              f"customer names")
        print()
        print(f"{'measure':<58}{'seconds':>9}{'rows/s':>11}{'peak RSS MB':>13}")
        print(f"{'floor: COPY of the file into a table with 5 indexes':<58}{floor_s:>9.2f}"
              f"{floor_rows / floor_s:>11.0f}   (mean of {floor_before:.2f} before and {floor_after:.2f} after)")
        if small:
            print(f"{f'end to end, {args.small} lines':<58}{small['seconds']:>9.2f}"
                  f"{args.small / small['seconds']:>11.0f}{small['peak_rss_mb']:>13.0f}")
        label = f"end to end, {args.rows} lines (intake {big['intake_seconds']:.1f} s)"
        print(f"{label:<58}{big['seconds']:>9.2f}"
              f"{args.rows / big['seconds']:>11.0f}{big['peak_rss_mb']:>13.0f}")
        label = f"then the coverage refresh it queued ({big['refreshes']} done)"
        print(f"{label:<58}{big['refresh_seconds']:>9.2f}")
        print(f"  {big['refresh']}")
        phases = (big.get("timings") or {}).items()
        print("  phases of the big run (s): " + ", ".join(f"{k} {v:.1f}" for k, v in phases))
        if big.get("load_cpu") is not None:
            print(f"  CPU seconds during the load: the loading process {big['load_cpu']:.1f} (its children "
                  f"{big.get('helper_cpu', 0):.1f}), PostgreSQL {big['server_cpu']:.1f}; during the floor's COPY: "
                  f"PostgreSQL {sum(FLOOR_SERVER_CPU) / len(FLOOR_SERVER_CPU):.1f}")
        print(f"{f'matching {len(queries)} names × {len(candidates)} terminals (build {build_s:.1f} s)':<58}"
              f"{m_s:>9.2f}")
        print(f"automatic matches: precision {precision:.3f}, recall {recall:.3f}")
        if os.environ.get("BENCH_NO_LISTENERS"):
            print("DIAGNOSTIC RUN: the facts listeners were off (no coverage rollups, no diversion flags)")
        with_refresh = (big["seconds"] + big["refresh_seconds"]) / floor_s
        print(f"ratio end to end ÷ floor: {ratio:.2f} (target ≤ 2); with the coverage refresh after it: "
              f"{with_refresh:.2f}")
        print(f"accepted {big['accepted']}, rejected "
              f"{big['rejected']}, waiting for review {big['review']}; stock movements {big['movements']}; "
              f"diversion flags {big.get('diversion_flags')}")
        print(json.dumps({"bench": "ingest", "rows": args.rows, "seconds": big["seconds"],
                          "floor_seconds": round(floor_s, 2), "ratio": round(ratio, 2),
                          "floor_runs": [round(floor_before, 2), round(floor_after, 2)],
                          "refresh_seconds": big["refresh_seconds"], "ratio_with_refresh": round(with_refresh, 2),
                          "listeners": not os.environ.get("BENCH_NO_LISTENERS"),
                          "peak_rss_mb": big["peak_rss_mb"],
                          "peak_rss_mb_small": small["peak_rss_mb"] if small else None,
                          "match_seconds": round(m_s, 2), "match_precision": round(precision, 4),
                          "match_recall": round(recall, 4), "accepted": big["accepted"], "rejected": big["rejected"],
                          "review": big["review"], "diversion_flags": big.get("diversion_flags"),
                          "timings": big.get("timings"), "load_cpu": big.get("load_cpu"),
                          "server_cpu": big.get("server_cpu"),
                          "floor_server_cpu": round(sum(FLOOR_SERVER_CPU) / len(FLOOR_SERVER_CPU), 2),
                          "load": round(os.getloadavg()[0], 1)}))
    finally:
        if not args.keep:
            _admin(f'drop database if exists "{DB_NAME}" with (force)')
            import shutil

            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
