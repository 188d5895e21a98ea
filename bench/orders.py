"""Orders benchmark: place orders over the HTTP API with many concurrent clients against gunicorn + PostgreSQL.

Builds its own scratch database (migrations + the demo channel), gives a few distributors a credit limit, starts
gunicorn on 127.0.0.1, and fires a bounded number of orders from concurrent client threads (bearer tokens of
distributor users). Reports orders/s, p50 / p99 latency, and the number of limit breaches (approved exposure above a
distributor's limit, which must be 0), and, in the same run, the plain read-only request ceiling of the same server
(GET /healthz). Last line: one JSON object.

    .venv/bin/python bench/orders.py [--orders 1200] [--clients 16] [--workers 4]
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
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import create_database, drop_database  # noqa: E402

DB = "drp_bench_orders"
PORT = int(os.environ.get("BENCH_PORT", "5097"))


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


def prepare(url: str, instance: Path, distributors: int, limit: Decimal) -> list[dict]:
    """Migrate, seed the demo, give ``distributors`` distributors a limit, users and tokens; return client specs."""
    env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "wsgi.py", "DRP_INSTANCE_PATH": str(instance),
           "LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)
    py = str(ROOT / ".venv" / "bin" / "python")
    subprocess.run([py, "-m", "flask", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([py, "-m", "flask", "drp", "seed-demo", "--regions", str(ROOT.parent / "shared/data/regions")],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "DRP_INSTANCE_PATH", "LOG_LEVEL")})
    from sqlalchemy import select

    from app import clock, create_app
    from app.auth.services import create_token, create_user
    from app.extensions import db
    from app.models import Distributor
    from credit import services as credit
    from distribution import agreements, price_lists

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    specs = []
    with app.app_context():
        today = clock.today()
        for d in db.session.execute(select(Distributor).where(Distributor.tier == 1).order_by(Distributor.code))\
                .scalars():
            if len(specs) >= distributors:
                break
            prices = price_lists.my_prices(d, today)
            codes = []
            for p in prices:
                try:
                    if agreements.is_authorised(d, p.product, today):
                        codes.append(p.product.code)
                except Exception:  # noqa: BLE001 - a product the rule cannot judge is simply not used
                    continue
            if len(codes) < 3:
                continue
            credit.set_credit_terms(d, limit=limit, reason="benchmark")
            user = create_user(f"bench-{d.code.lower()}", "Bench-password-1", "distributor", distributor_code=d.code)
            _, secret = create_token(user, "bench")
            specs.append({"code": d.code, "token": secret, "products": codes[:20], "limit": limit})
        db.session.commit()
    return specs


def start_server(url: str, instance: Path, workers: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "DRP_INSTANCE_PATH": str(instance), "LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{PORT}", "--log-level", "warning",
         "--no-control-socket", "wsgi:app"],
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


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else 0.0


def breaches(url: str, specs: list[dict]) -> int:
    """Distributors whose approved (reserved) exposure exceeds their limit."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    count = 0
    with engine.connect() as conn:
        for s in specs:
            total = conn.execute(text(
                "select coalesce(sum(o.total), 0) from sales_order o join distributor d on d.id = o.distributor_id "
                "where d.code = :c and o.status = 'approved'"), {"c": s["code"]}).scalar_one()
            if Decimal(total) > s["limit"]:
                count += 1
    engine.dispose()
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--distributors", type=int, default=8)
    args = parser.parse_args()
    url = create_database(DB)
    instance = Path("/tmp") / f"{DB}-instance"
    instance.mkdir(exist_ok=True)
    server = None
    try:
        t0 = time.perf_counter()
        specs = prepare(url, instance, args.distributors, Decimal("300000.00"))
        build_s = time.perf_counter() - t0
        if not specs:
            raise SystemExit("no distributor with priced, authorised products in the demo")
        server = start_server(url, instance, args.workers)

        def read(k, rnd):
            return "GET", "/healthz", None, {}

        def order(k, rnd):
            s = specs[k % len(specs)]
            lines = [{"product_code": code, "quantity": rnd.randint(1, 3), "unit": "case"}
                     for code in rnd.sample(s["products"], k=min(3, len(s["products"])))]
            return ("POST", "/api/v1/orders", json.dumps({"lines": lines}),
                    {"Authorization": f"Bearer {s['token']}", "Content-Type": "application/json"})

        fire(50, 4, read)  # warm-up
        read_s, read_lat, _ = fire(args.orders, args.clients, read)
        order_s, order_lat, statuses = fire(args.orders, args.clients, order)
        broken = breaches(url, specs)
        rows = [
            ("read-only ceiling (GET /healthz)", args.orders / read_s, pct(read_lat, 50), pct(read_lat, 99)),
            ("place order (POST /api/v1/orders)", args.orders / order_s, pct(order_lat, 50), pct(order_lat, 99)),
        ]
        print(f"orders benchmark: {args.orders} requests each, {args.clients} concurrent clients, gunicorn "
              f"{args.workers} sync workers, {len(specs)} distributors with a limit; setup {build_s:.1f} s")
        print(f"machine: {machine()}")
        print(f"{'request':40} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for name, rate, p50, p99 in rows:
            print(f"{name:40} {rate:8.1f} {p50:8.1f} {p99:8.1f}")
        print(f"order outcomes: {statuses}; limit breaches: {broken}; target 400 orders/s: "
              f"{'met' if rows[1][1] >= 400 else 'not met'}")
        print(json.dumps({"bench": "orders", "orders": args.orders, "clients": args.clients,
                          "orders_per_s": round(rows[1][1], 1), "p50_ms": round(rows[1][2], 1),
                          "p99_ms": round(rows[1][3], 1), "breaches": broken,
                          "read_ceiling_per_s": round(rows[0][1], 1),
                          "ratio_to_ceiling": round(rows[1][1] / rows[0][1], 3), "outcomes": statuses,
                          "machine": machine()}, ensure_ascii=False))
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        drop_database(DB)


if __name__ == "__main__":
    main()
