"""The ingestion task on a real Celery worker (Redis + PostgreSQL): a worker process killed in the middle of a
load leaves nothing half loaded, the task is redelivered (acks_late, rejected back to the queue when its worker
dies) and the file is loaded exactly once, its coverage refresh queued once and done by the worker after the
commit; the drop-folder beat job picks up a stable file only."""

from __future__ import annotations

import os
import signal
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.integration.test_worker import NOT_EAGER, _subprocess_env, build_app

ROWS = 40_000


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def _seed(app) -> dict:
    """A distributor with stock, a terminal, a confirmed layout; committed."""
    from app.extensions import db
    from app.models import Distributor, Product, ProductLine, Region, StockLocation, Terminal
    from app.models.base import utcnow
    from ingestion import mapping
    from ingestion.models import MappingTemplate
    from inventory import services
    from tests.integration.ingestion.conftest import SELL_HEADERS

    with app.app_context():
        prov = Region(code="330000", name="浙江省", official_name="浙江省", level=1)
        city = Region(code="330100", name="杭州市", official_name="杭州市", level=2, parent=prov, province=prov)
        county = Region(code="330106", name="西湖区", official_name="西湖区", level=3, parent=city, province=prov)
        db.session.add_all([prov, city, county])
        d = Distributor(code="WK-D1", name="浙江工人医药有限公司", tier=1, region=city, licence_no="浙WK1",
                        licence_expiry=date(2035, 1, 1))
        pl = ProductLine(code="WKPL", name="线")
        p = Product(code="WK-P1", generic_name="阿莫西林胶囊", specification="0.25g*24粒", dosage_form="胶囊剂",
                    base_unit="盒", pack_size=100, shelf_life_months=36, product_line=pl)
        wh = StockLocation(code="WK-WH", name="总仓", kind="manufacturer")
        loc = StockLocation(code="WK-L1", name="仓", kind="distributor", distributor=d)
        t = Terminal(code="WK-T1", name="杭州市第一人民医院", type="hospital", region=county)
        db.session.add_all([d, pl, p, wh, loc, t])
        db.session.flush()
        lot = services.register_lot(p, "L1", date(2025, 9, 1), date(2027, 8, 31))
        services.post_movement("receipt", lot, 10 * ROWS, to_location=wh, on_date=date(2026, 4, 1))
        services.post_movement("shipment", lot, 10 * ROWS, from_location=wh, to_location=loc, on_date=date(2026, 4, 2))
        columns = dict(mapping.propose_mapping(SELL_HEADERS, "sell_out").columns)
        db.session.add(MappingTemplate(distributor_id=d.id, kind="sell_out", signature=mapping.layout_signature(
            SELL_HEADERS), headers=SELL_HEADERS, columns=columns, confirmed_at=utcnow()))
        db.session.commit()
        ids = {"d": d.id, "loc": loc.id, "lot": lot.id}
        db.session.remove()
    return ids


def _submit(app, data: bytes, distributor_id: int) -> int:
    import io

    from app.extensions import db
    from app.models import Distributor
    from ingestion import intake

    with app.app_context():
        sub = intake.receive_file(io.BytesIO(data), "流向_2026-05.csv", db.session.get(Distributor, distributor_id),
                                  "sell_out", intake.parse_period("month", "2026-05"), source="api", submitted_by=None)
        db.session.commit()
        sub_id = sub.id
        db.session.remove()
    return sub_id


def _state(app, sub_id: int, ids: dict) -> dict:
    from app.extensions import db
    from distribution.models import CoverageRefresh, CoverageSales
    from ingestion.models import SellOutFact, Submission
    from inventory.models import StockBalance, StockMovement

    with app.app_context():
        sub = db.session.get(Submission, sub_id)
        out = {"status": sub.status, "attempts": sub.attempts, "accepted": sub.rows_accepted,
               "facts": db.session.execute(select(func.count(), func.coalesce(func.sum(SellOutFact.quantity), 0))
                                           .where(SellOutFact.submission_id == sub_id)).one(),
               "posted": db.session.execute(select(func.coalesce(func.sum(StockMovement.quantity), 0)).where(
                   StockMovement.reference == f"ING-{sub_id}")).scalar(),
               "balance": db.session.execute(select(StockBalance.quantity).where(
                   StockBalance.location_id == ids["loc"], StockBalance.lot_id == ids["lot"])).scalar(),
               # the coverage refresh the load queued (done by the worker after the load's commit)
               "refreshes": db.session.execute(select(CoverageRefresh.added_submission_id, CoverageRefresh.done_at
                                                      .is_not(None))).all(),
               "rolled_up": db.session.execute(select(func.coalesce(func.sum(CoverageSales.terminal_quantity), 0))
                                               .where(CoverageSales.distributor_id == ids["d"])).scalar()}
        db.session.remove()
    return out


@pytest.mark.worker
def test_a_worker_killed_mid_load_leaves_nothing_and_the_retry_loads_once(tmp_path, monkeypatch, start_celery,
                                                                         redis_queue, worker_database):
    from tests.integration.ingestion.conftest import csv_bytes, sale

    store = tmp_path / "raw-files"
    env = {"INGEST_STORE_DIR": str(store), "INGEST_CHUNK_ROWS": "2000", "INGEST_CHUNK_PAUSE_SECONDS": "0.15"}
    for key, value in {**redis_queue.env(), **env}.items():
        monkeypatch.setenv(key, value)
    app = build_app(worker_database, tmp_path / "client", CELERY=NOT_EAGER)
    ids = _seed(app)
    rows = [sale(day=f"2026-05-{1 + i % 28:02d}", qty=1 + i % 7, price="10.00") for i in range(ROWS)]
    for i, r in enumerate(rows):
        r[9] = f"{10 + i / 100:.2f}"  # every line different (no duplicates)
        r[10] = f"{int(r[7]) * float(r[9]):.2f}"
    data = csv_bytes(rows, total=False)  # (a 合计 row after more than one read block: see test_bad_input)
    sub_id = _submit(app, data, ids["d"])
    worker = start_celery(["worker", "--pool=prefork", "--concurrency=1", "--without-mingle", "--without-gossip",
                           "--loglevel=INFO", "-n", f"{redis_queue.name}@%h"],
                          _subprocess_env(tmp_path / "worker", DATABASE_URL=worker_database, **redis_queue.env(),
                                          **env))
    celery_app = app.extensions["celery"]
    try:
        result = celery_app.tasks["ingestion.tasks.process_submission"].apply_async(args=[sub_id])
        redis_queue.task_ids.add(result.id)
        key = f"drp:ingest-progress:{redis_queue.name}:{sub_id}"
        progress_db = redis_queue.client
        deadline = time.monotonic() + 60
        import json

        seen = None
        while time.monotonic() < deadline:
            raw = progress_db.get(key)
            seen = json.loads(raw) if raw else None
            if seen and seen["stage"] == "loading" and seen["rows"] >= 6000:
                break
            assert worker.proc.poll() is None, worker.tail()
            time.sleep(0.05)
        assert seen and seen["rows"] >= 6000, (seen, worker.tail())
        mid = _state(app, sub_id, ids)
        assert mid["facts"] == (0, 0) and mid["posted"] == 0, mid  # nothing visible before the load commits
        children = _children(worker.proc.pid)
        assert children, worker.tail()
        for pid in children:
            os.kill(pid, signal.SIGKILL)  # the worker process dies mid-load (the OOM killer, a power cut ...)
        deadline = time.monotonic() + 120
        state = _state(app, sub_id, ids)
        while state["status"] != "loaded" and time.monotonic() < deadline:
            time.sleep(0.5)
            state = _state(app, sub_id, ids)
        total = sum(int(r[7]) for r in rows)
        assert state["status"] == "loaded", (state, worker.tail(60))
        assert state["attempts"] == 2  # the first attempt died, the redelivered one loaded
        assert state["facts"] == (ROWS, total) and state["accepted"] == ROWS  # exactly once
        assert state["posted"] == total and state["balance"] == 10 * ROWS - total  # posted once
        while state["refreshes"] != [(sub_id, True)] and time.monotonic() < deadline:  # queued once, then done
            time.sleep(0.5)
            state = _state(app, sub_id, ids)
        assert state["refreshes"] == [(sub_id, True)] and state["rolled_up"] == total, (state, worker.tail(60))
        log = worker.log_path.read_text(errors="replace")
        assert "signal 9" in log or "WorkerLostError" in log or "SIGKILL" in log, worker.tail(60)
        # the same message again (a duplicate delivery) is a no-op
        again = celery_app.tasks["ingestion.tasks.process_submission"].apply_async(args=[sub_id])
        redis_queue.task_ids.add(again.id)
        assert worker.result_of(again, timeout=60) == "loaded"
        assert _state(app, sub_id, ids)["facts"] == (ROWS, total)
    finally:
        celery_app.close()
