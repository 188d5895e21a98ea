"""Benchmark: price a 500-line order against 100,000 price items in 50 lists (PostgreSQL).

    .venv/bin/python bench/pricing.py [--reps 200] [--naive-reps 10] [--keep]

Builds a scratch database from the migrations (dropped afterwards unless --keep), loads the real GB/T 2260 regions,
1,000 products, 20 distributors and 50 price lists (tier 1, tier 2, retail guide, 31 provincial bid lists, 16
distributor-specific lists) holding 100,000 item versions, 2,000 per list: the tier lists price every product (a base
price and a break in cases); the others half the products (current and next year's version, breaks in cases and in
base units, closed history versions); plus floor prices. The items are bulk inserted (the service's per-item checks
are not what is measured); the database's own constraints still check them.

Measured, in the same run and on the same order:
* ``price_order``: the service, one SELECT for every candidate item and floor, then the pure rule per line;
* the naive baseline: per line, one ORM query for the winning item (precedence and break in ORDER BY) and one for
  the floor, i.e. 1,000 round trips for 500 lines.
Both must give the same prices. Prints a table, then as the last line a JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = "drp_bench_pricing"
TODAY = date(2026, 6, 15)
N_PRODUCTS = 1_000
N_LINES = 500
ITEMS_PER_LIST = 2_000
SEED = 20260615


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def build(app, rng: random.Random) -> dict:
    """The data set; returns what the measurement needs (ids only: the caller loads fresh objects)."""
    from sqlalchemy import insert, select, text

    from app.extensions import db
    from app.models import Distributor, Product, ProductLine, Region
    from distribution.models.pricing import PriceFloor, PriceItem, PriceList

    now = datetime_now()
    stamp = {"created_at": now, "updated_at": now}
    s = db.session
    line = ProductLine(code="BENCH", name="基准")
    s.add(line)
    s.flush()
    s.execute(insert(Product), [
        {"code": f"B{i:05d}", "generic_name": f"基准药品{i}", "specification": "10mg*24片", "dosage_form": "片剂",
         "base_unit": "盒", "pack_size": rng.choice((10, 20, 24, 50)), "shelf_life_months": 36,
         "min_shelf_days_tier1": 0, "min_shelf_days_tier2": 0, "cold_chain": False, "active": True,
         "product_line_id": line.id, **stamp} for i in range(N_PRODUCTS)])
    products = s.execute(select(Product.id, Product.pack_size).order_by(Product.id)).all()
    provinces = s.execute(select(Region.id, Region.code).where(Region.level == 1).order_by(Region.code)).all()[:31]
    cities = {p.id: s.execute(select(Region.id).where(Region.parent_id == p.id, Region.level == 2)
                              .order_by(Region.code).limit(1)).scalar() or p.id for p in provinces}
    distributors = []
    for i in range(20):
        province = provinces[i % len(provinces)]
        distributors.append({"code": f"BD{i:03d}", "name": f"基准医药有限公司{i}", "tier": 1 if i < 12 else 2,
                             "region_id": cities[province.id], "licence_no": f"BENCH{i:05d}",
                             "licence_expiry": date(2030, 12, 31), "status": "active", **stamp})
    s.execute(insert(Distributor), distributors)
    dist_ids = s.execute(select(Distributor.id).where(Distributor.code.like("BD%")).order_by(Distributor.code)
                         ).scalars().all()
    lists = [{"code": "B-T1", "name": "一级供货价", "kind": "tier1_supply"},
             {"code": "B-T2", "name": "二级供货价", "kind": "tier2_supply"},
             {"code": "B-RG", "name": "零售指导价", "kind": "retail_guide"}]
    lists += [{"code": f"B-BID-{p.code}", "name": f"中标价{p.code}", "kind": "provincial_bid", "province_id": p.id}
              for p in provinces]
    lists += [{"code": f"B-SP-{i:02d}", "name": f"专供价{i}", "kind": "distributor_specific",
               "distributor_id": dist_ids[i]} for i in range(16)]
    assert len(lists) == 50
    s.execute(insert(PriceList), [{"province_id": None, "distributor_id": None, "active": True, **pl, **stamp}
                                  for pl in lists])
    list_rows = s.execute(select(PriceList.id, PriceList.kind).where(PriceList.code.like("B-%"))).all()
    rows = []
    start, history_end = date(2026, 1, 1), date(2026, 3, 31)
    for pl in list_rows:
        if pl.kind in ("tier1_supply", "tier2_supply"):
            # every product: a base price and a break at 10 cases (2 × 1,000)
            for pid, pack in products:
                base = Decimal(rng.randrange(500, 50_000)) / 100
                rows.append(_item(pl.id, pid, 1, 1, "base", base, start, None, 1, stamp))
                rows.append(_item(pl.id, pid, 10 * pack, 10, "case", _pct(base, 95), start, None, 1, stamp))
        else:
            # half the products: a base price, a break at 10 cases; for half of them a closed history version of
            # both and next year's base price, for the other half a break at 1,000 units (5 × 250 + 3 × 250)
            for n, (pid, pack) in enumerate(rng.sample(products, N_PRODUCTS // 2)):
                base = Decimal(rng.randrange(500, 50_000)) / 100
                version, current_from = 1, start
                if n % 2 == 0:
                    rows.append(_item(pl.id, pid, 1, 1, "base", base + 1, start, history_end, 1, stamp))
                    rows.append(_item(pl.id, pid, 10 * pack, 10, "case", _pct(base + 1, 95), start, history_end, 1,
                                      stamp))
                    version, current_from = 2, history_end + timedelta(days=1)
                if n % 2 == 0:
                    rows.append(_item(pl.id, pid, 1, 1, "base", base, current_from, date(2026, 12, 31), version,
                                      stamp))
                    rows.append(_item(pl.id, pid, 1, 1, "base", base + 2, date(2027, 1, 1), None, version + 1, stamp))
                else:
                    rows.append(_item(pl.id, pid, 1, 1, "base", base, current_from, None, version, stamp))
                rows.append(_item(pl.id, pid, 10 * pack, 10, "case", _pct(base, 95), current_from, None, version,
                                  stamp))
                if n % 2 == 1:
                    rows.append(_item(pl.id, pid, 1000, 1000, "base", _pct(base, 90), current_from, None, 1, stamp))
        per_list = [r for r in rows if r["price_list_id"] == pl.id]
        assert len(per_list) == ITEMS_PER_LIST, len(per_list)
    for chunk in range(0, len(rows), 10_000):
        s.execute(insert(PriceItem), rows[chunk:chunk + 10_000])
    floors = [{"product_id": pid, "floor_price": Decimal("1.0000"), "effective_from": start, "effective_to": None,
               "version": 1, **stamp} for pid, _pack in products[:1000]]
    s.execute(insert(PriceFloor), floors)
    s.commit()
    # settle the freshly loaded tables (visibility map, statistics) so autovacuum does not run during the timing
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return {"items": len(rows), "lists": len(list_rows), "distributor_id": dist_ids[0],
            "product_ids": [p.id for p in products]}


def _pct(price: Decimal, pct: int) -> Decimal:
    return (price * pct / 100).quantize(Decimal("0.0001"))


def _item(list_id, product_id, min_q, entered, unit, price, start, end, version, stamp) -> dict:
    return {"price_list_id": list_id, "product_id": product_id, "min_quantity": min_q, "entered_quantity": entered,
            "entered_unit": unit, "unit_price": price, "effective_from": start, "effective_to": end,
            "version": version, "previous_id": None, "note": None, **stamp}


def datetime_now():
    from app.models import utcnow

    return utcnow()


def naive_price_order(distributor, lines, on_date):
    """The baseline: per line an ORM query for the winning item and one for the floor (1,000 round trips)."""
    from sqlalchemy import and_, case, or_, select

    from app.extensions import db
    from app.models import Region
    from distribution import pricing
    from distribution.models.pricing import PriceFloor, PriceItem, PriceList

    province = db.session.get(Region, distributor.region_id).province_id
    rank = case((PriceList.kind == "distributor_specific", 0), (PriceList.kind == "provincial_bid", 1), else_=2)
    out = []
    for ln in lines:
        qty = pricing.to_base_units(ln.quantity, ln.unit, ln.product.pack_size)
        item = db.session.execute(
            select(PriceItem).join(PriceList, PriceList.id == PriceItem.price_list_id)
            .where(PriceItem.product_id == ln.product.id, PriceList.active, PriceItem.min_quantity <= qty,
                   PriceItem.effective_from <= on_date,
                   or_(PriceItem.effective_to.is_(None), PriceItem.effective_to >= on_date),
                   or_(and_(PriceList.kind == "distributor_specific", PriceList.distributor_id == distributor.id),
                       and_(PriceList.kind == "provincial_bid", PriceList.province_id == province),
                       PriceList.kind == pricing.TIER_KINDS[distributor.tier]))
            .order_by(rank, PriceItem.min_quantity.desc()).limit(1)).scalar()
        floor = db.session.execute(
            select(PriceFloor).where(PriceFloor.product_id == ln.product.id, PriceFloor.effective_from <= on_date,
                                     or_(PriceFloor.effective_to.is_(None), PriceFloor.effective_to >= on_date))
        ).scalar()
        price = None if item is None else item.unit_price
        if price is not None and floor is not None and price < floor.floor_price:
            price = floor.floor_price
        out.append(price)
    return out


def timed(fn, reps: int) -> list[float]:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--naive-reps", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    from tests.conftest import REGIONS_DIR, create_database, drop_database

    url = create_database(DB_NAME)
    os.environ["DRP_INSTANCE_PATH"] = tempfile.mkdtemp(prefix="drp-bench-")
    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "FIXED_TODAY": TODAY, "LOG_LEVEL": "WARNING",
                      "SECRET_KEY": "bench", "TESTING": True})
    try:
        with app.app_context():
            from flask_migrate import upgrade
            from sqlalchemy import select, text

            from app.extensions import db
            from app.masterdata.regions import import_regions
            from app.models import Distributor, Product
            from distribution import price_lists as svc

            t0 = time.perf_counter()
            upgrade(revision="heads")
            import_regions(REGIONS_DIR)
            db.session.commit()
            rng = random.Random(SEED)
            data = build(app, rng)
            build_s = time.perf_counter() - t0
            db.session.remove()

            distributor = db.session.get(Distributor, data["distributor_id"])
            _ = distributor.tier, distributor.region_id
            ids = rng.sample(data["product_ids"], N_LINES)
            products = {p.id: p for p in db.session.execute(select(Product).where(Product.id.in_(ids))).scalars()}
            lines = []
            for pid in ids:
                unit = rng.choice(("base", "base", "case"))
                lines.append(svc.OrderLine(products[pid], rng.randint(1, 20) if unit == "case" else rng.randint(1, 400),
                                           unit))
            order = svc.price_order(distributor, lines, TODAY)  # warm up (and the reference answer)
            fast_prices = [pl.resolution.unit_price for pl in order.lines]
            naive_prices = naive_price_order(distributor, lines, TODAY)
            assert fast_prices == naive_prices, "the baseline and the service disagree"
            rules = {}
            for pl in order.lines:
                rules[pl.resolution.rule] = rules.get(pl.resolution.rule, 0) + 1

            statements: list[str] = []
            from sqlalchemy import event

            def count(*a):
                statements.append(a[2])

            event.listen(db.engine, "before_cursor_execute", count)
            svc.price_order(distributor, lines, TODAY)
            event.remove(db.engine, "before_cursor_execute", count)

            customer, candidates, floors = svc.fetch_candidates(distributor, list(products), TODAY)
            from distribution import pricing

            base_lines = [(ln.product.id, pricing.to_base_units(ln.quantity, ln.unit, ln.product.pack_size))
                          for ln in lines]
            for _ in range(10):  # warm up: psycopg prepares a statement on the server from its 5th execution
                svc.price_order(distributor, lines, TODAY)
            # interleaved, so that the whole and its parts see the same conditions on a shared machine
            fast, fetch, rule = [], [], []
            for _ in range(args.reps):
                fast += timed(lambda: svc.price_order(distributor, lines, TODAY), 1)
                # where the time goes: the one SELECT (rows fetched) vs the pure rule
                fetch += timed(lambda: svc.fetch_candidates(distributor, list(products), TODAY), 1)
                rule += timed(lambda: pricing.resolve_lines(customer, base_lines, TODAY, candidates, floors), 1)
            naive = timed(lambda: naive_price_order(distributor, lines, TODAY), args.naive_reps)
            pg_version = db.session.execute(text("show server_version")).scalar()
            db.session.remove()
            db.engine.dispose()
    finally:
        if not args.keep:
            drop_database(DB_NAME)

    ms, naive_ms = statistics.median(fast), statistics.median(naive)
    p95 = sorted(fast)[int(len(fast) * 0.95) - 1]
    print(f"pricing benchmark: {data['items']:,} price items in {data['lists']} lists, {N_PRODUCTS:,} products, "
          f"order of {N_LINES} lines (built in {build_s:.1f} s)")
    print(f"machine: {machine()}, PostgreSQL {pg_version}")
    print("winning rules: " + ", ".join(f"{k.value if k else 'none'} {v}" for k, v in sorted(
        rules.items(), key=lambda kv: str(kv[0]))))
    print(f"SQL statements per price_order: {len(statements)}; candidate rows fetched: {len(candidates)}")
    print()
    print(f"{'measure':<44}{'reps':>6}{'median ms':>12}{'p95 ms':>10}{'min ms':>10}")
    for name, values in (("price_order (one round trip) per order", fast),
                         ("  of which: the one SELECT + rows", fetch),
                         ("  of which: the pure rule, 500 lines", rule),
                         ("naive per-line ORM lookup per order", naive)):
        values_sorted = sorted(values)
        print(f"{name:<44}{len(values):>6}{statistics.median(values):>12.2f}"
              f"{values_sorted[max(int(len(values) * 0.95) - 1, 0)]:>10.2f}{values_sorted[0]:>10.2f}")
    print(f"speed-up (naive ÷ one round trip): {naive_ms / ms:.1f}×; target < 20 ms per order: "
          f"{'met' if ms < 20 else 'NOT met'}")
    print(json.dumps({"bench": "pricing", "items": data["items"], "lists": data["lists"], "lines": N_LINES,
                      "ms_per_order": round(ms, 2), "p95_ms_per_order": round(p95, 2),
                      "naive_ms_per_order": round(naive_ms, 2), "ratio": round(naive_ms / ms, 2),
                      "statements_per_order": len(statements), "target_ms": 20,
                      "machine": f"{machine()}, PostgreSQL {pg_version}"}, ensure_ascii=False))


if __name__ == "__main__":
    main()
