"""Orders benchmark: place orders over the HTTP API with many concurrent clients against gunicorn + PostgreSQL.

Builds its own scratch database (migrations, the demo's master data, price lists and agreements; no stock, which
placing an order does not need), gives a few tier-1 distributors a credit limit of about half of what the run will
order, bearer tokens of distributor users, starts gunicorn on 127.0.0.1 and fires a bounded number of orders from
concurrent client threads. Reports orders/s, p50 / p99 latency and limit breaches (a distributor whose approved
orders exceed its limit, or whose reserved credit differs from its approved orders: must be 0), and, in the same
run and the same server, the plain read-only request ceiling (GET /healthz), with the machine's load before and
after, and the CPU each request cost the server (gunicorn), PostgreSQL's backends and the clients (from /proc, so
the machine's other users are not counted in them). ``--profile N`` then places N more orders in-process and
prints where an order's time goes (CPU by phase) and how many SQL statements it runs. Last line: one JSON object.

Measured (1200 orders, 16 clients, -w 3 gthread 4 threads, shared 2-core machine at load 4-6, four runs each, this
script against the code before and after the Core write path): 43-47 → 42-78 orders/s (median 45 → 66), gunicorn CPU
per order 15.9-20.3 → 12.9-16.7 ms, PostgreSQL 3.8-4.6 → 3.3-4.2 ms, 0 breaches; GET /healthz costs ~1.5-2.5 ms of
gunicorn CPU. 400 orders/s would need ≤ 5 ms of CPU per order for everything on 2 cores: an order is ~10 statements
through the SQLAlchemy ORM with ~30 tenant criteria on each select, ~11-13 ms of Python in-process.

    .venv/bin/python bench/orders.py [--orders 1200] [--clients 16] [--workers 3] [--worker-class gthread]
                                     [--threads 4] [--profile 200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import create_database, drop_database  # noqa: E402

DB = f"drp_bench_orders_{os.getpid()}"
PORT = int(os.environ.get("BENCH_PORT", "5097"))
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))  # the virtualenv's that runs this script


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cpu {cpu}, Python {platform.python_version()}"


def prepare(url: str, instance: Path, distributors: int, orders: int) -> list[dict]:
    """Migrate, seed the demo (master data, prices, agreements), give ``distributors`` tier-1 distributors users,
    tokens and a limit of about half their share of ``orders``; return client specs."""
    os.environ.update({"DATABASE_URL": url, "DRP_INSTANCE_PATH": str(instance), "LOG_LEVEL": "WARNING"})
    os.environ.pop("REDIS_URL", None)
    from flask_migrate import upgrade
    from sqlalchemy import select

    from app import clock, create_app, demo
    from app.auth.services import create_token, create_user
    from app.extensions import db
    from app.models import Distributor
    from credit import services as credit
    from distribution import agreements, price_lists
    from distribution.demo import seed_agreement_demo, seed_price_demo

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    specs = []
    with app.app_context():
        upgrade()
        demo.DEMO_EXTENSIONS[:] = [seed_price_demo, seed_agreement_demo]  # orders need neither stock nor history
        demo.seed_demo(str(ROOT.parent / "shared" / "data" / "regions"))
        db.session.commit()
        today = clock.today()
        for d in db.session.execute(select(Distributor).where(Distributor.tier == 1).order_by(Distributor.code))\
                .scalars():
            if len(specs) >= distributors:
                break
            products = [p.product for p in price_lists.my_prices(d, today)]
            products = [p for p in products if p.id in agreements.agreements_in_force(d, products, today)][:20]
            if len(products) < 3:
                continue
            typical = price_lists.price_order(d, [price_lists.OrderLine(p, 2, "case") for p in products], today)
            mean_order = typical.total / len(products) * 3  # three lines of 1-3 cases
            limit = (mean_order * orders / distributors / 2).quantize(Decimal("1"))
            credit.set_credit_terms(d, limit=limit, reason="benchmark")
            user = create_user(f"bench-{d.code.lower()}", "Bench-password-1", "distributor", distributor_code=d.code)
            _, secret = create_token(user, "bench")
            specs.append({"code": d.code, "token": secret, "products": [p.code for p in products],
                          "limit": str(limit)})
        db.session.commit()
        db.engine.dispose()
    return specs


def start_server(url: str, instance: Path, args) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "DRP_INSTANCE_PATH": str(instance), "LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen(
        [GUNICORN, *server_options(args), "-b", f"127.0.0.1:{PORT}", "--log-level", "warning", "--no-control-socket",
         "wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    for _ in range(120):
        try:
            c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("gunicorn did not come up: " + proc.stderr.read().decode()[-2000:])


def server_options(args) -> list[str]:
    """gunicorn's worker settings: ``sync`` workers close the connection after each response; ``gthread`` keeps
    the clients' connections alive (``--keep-alive`` seconds) and overlaps database waits with ``--threads``."""
    out = ["-w", str(args.workers), "-k", args.worker_class]
    if args.worker_class == "gthread":
        out += ["--threads", str(args.threads), "--keep-alive", "30"]
    return out


def fire(n: int, clients: int, make_request) -> tuple[float, list[float], dict]:
    """``n`` requests from ``clients`` threads (keep-alive connections); returns (seconds, latencies ms, statuses)."""
    lock = threading.Lock()
    counter = iter(range(n))
    latencies: list[float] = []
    statuses: dict = {}

    def worker(i):
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        rnd = random.Random(i)
        while True:
            with lock:
                k = next(counter, None)
            if k is None:
                break
            method, path, body, headers = make_request(k, rnd)
            t0 = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
                status, data = "error", b""
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(ms)
                key = status
                if status == 201:
                    key = json.loads(data).get("status")
                statuses[key] = statuses.get(key, 0) + 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    return time.perf_counter() - t0, latencies, statuses


def cpu_seconds(server_pid: int, url: str) -> dict[str, float]:
    """CPU seconds used so far by the gunicorn processes (its session), the PostgreSQL backends connected to the
    bench database, this process (the clients) and the whole machine (every process, other users' too)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(url)
    with engine.connect() as conn:
        backends = set(conn.execute(text("select pid from pg_stat_activity where datname = :d"),
                                    {"d": make_url(url).database}).scalars())
    engine.dispose()
    tick = os.sysconf("SC_CLK_TCK")
    out = dict.fromkeys(("server", "postgres", "client", "machine"), 0.0)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp session ...
        used = (int(fields[11]) + int(fields[12])) / tick
        if int(pid) == os.getpid():
            out["client"] += used
        elif int(fields[3]) == server_pid:
            out["server"] += used
        elif int(pid) in backends:
            out["postgres"] += used
    busy = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    out["machine"] = (sum(map(int, busy)) - int(busy[3]) - int(busy[4])) / tick  # all but idle and iowait
    return out


def cpu_per_request(before: dict, after: dict, n: int) -> dict[str, float]:
    return {k: round((after[k] - before[k]) / n * 1000, 2) for k in before}


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else 0.0


def breaches(url: str, specs: list[dict]) -> tuple[int, dict]:
    """Distributors whose approved orders exceed their limit, or whose reserved (active) credit is not exactly
    their approved orders' total; and the approved / held counts."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    count, outcome = 0, Counter()
    with engine.connect() as conn:
        for s in specs:
            approved, n_approved, n_held = conn.execute(text(
                "select coalesce(sum(o.total) filter (where o.status = 'approved'), 0), "
                "count(*) filter (where o.status = 'approved'), count(*) filter (where o.status = 'credit_hold') "
                "from sales_order o join distributor d on d.id = o.distributor_id where d.code = :c"),
                {"c": s["code"]}).one()
            reserved = conn.execute(text(
                "select coalesce(sum(r.amount), 0) from credit_reservation r join distributor d "
                "on d.id = r.distributor_id where d.code = :c and r.status = 'active'"), {"c": s["code"]}).scalar_one()
            outcome.update(approved=n_approved, held=n_held)
            if Decimal(approved) > Decimal(s["limit"]) or Decimal(reserved) != Decimal(approved):
                count += 1
    engine.dispose()
    return count, dict(outcome)


def profile(specs: list[dict], n: int) -> tuple[list[tuple[str, float]], float, float]:
    """Place ``n`` orders in-process (Flask test client, same database) and measure CPU per phase; returns the
    phases (name, ms per order), the total CPU ms per order and the SQL statements per order."""
    import functools

    from sqlalchemy import event
    from sqlalchemy.orm import Session

    import app.auth.security as security
    import distribution.order_api as order_api
    import distribution.orders as orders
    from app import audit, bulk, create_app
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": os.environ["DATABASE_URL"]})
    spent: Counter = Counter()
    stack: list[str] = []

    def timed(owner, name, label):
        original = getattr(owner, name)

        @functools.wraps(original)
        def wrapper(*a, **kw):
            outer = stack[-1] if stack else None
            stack.append(label)
            t0 = time.process_time()
            try:
                return original(*a, **kw)
            finally:
                dt = time.process_time() - t0
                stack.pop()
                spent[label] += dt
                if outer:
                    spent[outer] -= dt  # exclusive times
        setattr(owner, name, wrapper)
        return original

    patches = [(orders, name, timed(orders, name, label)) for name, label in (
        ("_validate", "validate lines: products + agreements (2 statements)"),
        ("_price", "price the lines (1 statement)"),
        ("_reserve_credit", "credit: lock + exposure figures (2 statements)"),
        ("_line_values", "build the lines, price explanations"))]
    patches += [(security, "user_for_token", timed(security, "user_for_token", "bearer token lookup (1 statement)")),
                (order_api, "serialise", timed(order_api, "serialise", "serialise the answer")),
                (bulk, "insert_rows", timed(bulk, "insert_rows", "INSERT reservation, order, lines (3, Core)")),
                (audit, "write_pending", timed(audit, "write_pending", "INSERT the audit rows (1 statement)")),
                (Session, "commit", timed(Session, "commit", "commit"))]
    statements = [0]
    with app.app_context():
        engine = db.engine

    def count(*_args):
        statements[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    client, rnd = app.test_client(), random.Random(7)
    try:
        for k in range(n + 20):
            if k == 20:
                spent.clear()
                statements[0] = 0
                t0 = time.process_time()
            s = specs[k % len(specs)]
            lines = [{"product_code": c, "quantity": rnd.randint(1, 3), "unit": "case"}
                     for c in rnd.sample(s["products"], k=3)]
            r = client.post("/api/v1/orders", json={"lines": lines}, headers={"Authorization": f"Bearer {s['token']}"})
            assert r.status_code == 201, r.get_data(as_text=True)[:300]
        total = (time.process_time() - t0) / n * 1000
    finally:
        event.remove(engine, "before_cursor_execute", count)
        for owner, name, original in patches:
            setattr(owner, name, original)
        with app.app_context():
            db.engine.dispose()
    phases = [(label, spent[label] / n * 1000) for label in spent]
    phases.append(("Flask, flask-smorest, flask-login, webargs (the rest)", total - sum(v for _k, v in phases)))
    return sorted(phases, key=lambda kv: -kv[1]), total, statements[0] / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--worker-class", default="gthread", choices=("sync", "gthread"))
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--distributors", type=int, default=8)
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="then profile N orders in-process")
    args = parser.parse_args()
    url = create_database(DB)
    instance = Path("/tmp") / f"{DB}-instance"
    instance.mkdir(exist_ok=True)
    server = None
    try:
        t0 = time.perf_counter()
        specs = prepare(url, instance, args.distributors, args.orders)
        build_s = time.perf_counter() - t0
        if not specs:
            raise SystemExit("no distributor with priced, authorised products in the demo")
        server = start_server(url, instance, args)

        def read(k, rnd):
            return "GET", "/healthz", None, {}

        def order(k, rnd):
            s = specs[k % len(specs)]
            lines = [{"product_code": code, "quantity": rnd.randint(1, 3), "unit": "case"}
                     for code in rnd.sample(s["products"], k=min(3, len(s["products"])))]
            return ("POST", "/api/v1/orders", json.dumps({"lines": lines}),
                    {"Authorization": f"Bearer {s['token']}", "Content-Type": "application/json"})

        fire(50, 4, read)  # warm-up: connections opened, statements compiled and prepared in every worker
        fire(50, 4, order)
        load_before = os.getloadavg()[0]
        cpu0 = cpu_seconds(server.pid, url)
        read_s, read_lat, _ = fire(args.orders, args.clients, read)
        cpu1 = cpu_seconds(server.pid, url)
        order_s, order_lat, statuses = fire(args.orders, args.clients, order)
        cpu2 = cpu_seconds(server.pid, url)
        load_after = os.getloadavg()[0]
        read_cpu, order_cpu = cpu_per_request(cpu0, cpu1, args.orders), cpu_per_request(cpu1, cpu2, args.orders)
        broken, outcome = breaches(url, specs)
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        server = None
        rows = [
            ("read-only ceiling (GET /healthz)", args.orders / read_s, pct(read_lat, 50), pct(read_lat, 99)),
            ("place order (POST /api/v1/orders)", args.orders / order_s, pct(order_lat, 50), pct(order_lat, 99)),
        ]
        print(f"orders benchmark: {args.orders} requests each, {args.clients} concurrent clients, gunicorn "
              f"{' '.join(server_options(args))}, {len(specs)} distributors with a limit; setup {build_s:.1f} s")
        print(f"machine: {machine()}; load average (1 min) {load_before:.2f} before, {load_after:.2f} after")
        print(f"{'request':40} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for name, rate, p50, p99 in rows:
            print(f"{name:40} {rate:8.1f} {p50:8.1f} {p99:8.1f}")
        print("CPU ms per request (gunicorn / PostgreSQL backends / the clients / whole machine, other users too): "
              f"read {' / '.join(map(str, read_cpu.values()))}; order {' / '.join(map(str, order_cpu.values()))}")
        print(f"order outcomes: {statuses}; limit breaches: {broken}; target 400 orders/s: "
              f"{'met' if rows[1][1] >= 400 else 'not met'}")
        figures = {}
        if args.profile:
            phases, cpu_ms, per_order = profile(specs, args.profile)
            print(f"in-process profile of {args.profile} orders: {cpu_ms:.2f} ms CPU per order (this process only, "
                  f"PostgreSQL's share not included), {per_order:.1f} SQL statements per order")
            for label, ms in phases:
                print(f"  {label:58} {ms:6.2f} ms  {ms / cpu_ms:5.1%}")
            figures = {"profile_cpu_ms_per_order": round(cpu_ms, 2), "sql_statements_per_order": round(per_order, 1)}
        print(json.dumps({"bench": "orders", "orders": args.orders, "clients": args.clients,
                          "orders_per_s": round(rows[1][1], 1), "p50_ms": round(rows[1][2], 1),
                          "p99_ms": round(rows[1][3], 1), "breaches": broken,
                          "read_ceiling_per_s": round(rows[0][1], 1),
                          "ratio_to_ceiling": round(rows[1][1] / rows[0][1], 3), "outcomes": statuses,
                          "approved": outcome.get("approved", 0), "held": outcome.get("held", 0),
                          "server": " ".join(server_options(args)), "load_before": round(load_before, 2),
                          "load_after": round(load_after, 2), "read_cpu_ms": read_cpu, "order_cpu_ms": order_cpu,
                          **figures, "machine": machine()},
                         ensure_ascii=False))
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        drop_database(DB)


if __name__ == "__main__":
    main()
