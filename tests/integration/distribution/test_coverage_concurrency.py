"""Two loads committing at the same time, for two distributors selling to the same terminals: both refreshes
rewrite the "any distributor" rollup rows of those terminals, so without the per-year advisory lock the second would
overwrite the first's contribution. Refreshes done in the loads' transactions, by two refresh tasks side by side,
and by one while a load commits: afterwards the rollups equal a full rebuild from the facts (real commits,
PostgreSQL)."""

from __future__ import annotations

import os
from datetime import date

from sqlalchemy import select, text

from tests.concurrency import committed_app, run_concurrently
from tests.integration.distribution.coverage_world import fact, load_sell_out


def _seed():
    from app.extensions import db
    from app.masterdata import services
    from app.masterdata.resources import distributors, product_lines, products, terminals

    services.save_record(product_lines, {"code": "CC-L", "name": "并发产品线"})
    for code in ("CC-P1", "CC-P2"):
        services.save_record(products, {"code": code, "generic_name": code, "specification": "1", "dosage_form": "片剂",
                                        "base_unit": "盒", "pack_size": 10, "shelf_life_months": 24,
                                        "product_line_code": "CC-L"})
    for n in range(12):
        services.save_record(terminals, {"code": f"CC-T{n:02d}", "name": f"并发终端{n}", "type": "hospital",
                                         "region_code": "330106"})
    for code in ("CC-DA", "CC-DB"):
        services.save_record(distributors, {"code": code, "name": code, "tier": 1, "region_code": "330100",
                                            "licence_no": code, "licence_expiry": "2030-12-31"})
    db.session.flush()


def _snapshot(db):
    return sorted(db.session.execute(text("SELECT distributor_id, year, scope, scope_id, terminal_id, months "
                                          "FROM coverage_presence")).all())


def test_concurrent_loads_of_two_distributors_leave_the_rollups_of_a_rebuild(tmp_path):
    with committed_app(f"drp_cov_conc_{os.getpid()}", tmp_path, _seed) as app:
        from app.extensions import db
        from app.models import Distributor, Product, Terminal
        from distribution import tasks
        from distribution.rollups import pending_count, rebuild_rollups

        def prepare(i):
            d = db.session.execute(select(Distributor).where(Distributor.code == ("CC-DA", "CC-DB")[i])).scalar_one()
            ts = db.session.execute(select(Terminal).order_by(Terminal.code)).scalars().all()
            ps = db.session.execute(select(Product).order_by(Product.code)).scalars().all()
            # both sell to every terminal: A product 1 on even, product 2 on odd ones; B the other way round
            return d.id, [(t.id, ps[(k + i) % 2].id) for k, t in enumerate(ts)]

        month = {}

        def work(i, ready, refresh=True):
            d_id, lines = ready
            d = db.session.get(Distributor, d_id)
            load_sell_out(db.session, d, month["start"], [fact(t, p, 5, month["start"].replace(day=10 + i))
                                                          for t, p in lines], refresh=refresh)

        def refresh(_i, _ready=None):
            return tasks.refresh_coverage()

        # March: each load refreshes in its own transaction; April: the loads commit, then two refresh tasks run
        # side by side; May: a load and a refresh task at the same time (the load commits while it runs)
        month["start"] = date(2026, 3, 1)
        results, errors = run_concurrently(app, 2, work, prepare=prepare)
        assert errors == []
        month["start"] = date(2026, 4, 1)
        results, errors = run_concurrently(app, 2, lambda i, ready: work(i, ready, refresh=False), prepare=prepare)
        assert errors == []
        results, errors = run_concurrently(app, 2, refresh, prepare=lambda i: None)
        assert errors == [] and sum(r["done"] for r in results) == 2 and all(r["failed"] == 0 for r in results)
        month["start"] = date(2026, 5, 1)
        for i in (0, 1):
            results, errors = run_concurrently(
                app, 2, lambda k, ready, i=i: work(i, ready, refresh=False) if k == 0 else refresh(k),
                prepare=lambda k, i=i: prepare(i))
            assert errors == []
        refresh(0)  # whatever the side-by-side runs left queued
        with app.app_context():
            assert pending_count() == 0
            incremental = _snapshot(db)
            any_rows = [r for r in incremental if r[0] == 0]
            # every terminal bought both products in May from one distributor or the other
            assert any_rows and all(r[5] == 0b11100 for r in any_rows)  # March, April and May
            assert len([r for r in any_rows if r[2] == 1]) == 24  # 12 terminals × 2 products
            rebuild_rollups()
            assert _snapshot(db) == incremental
            db.session.rollback()


def test_readers_keep_reading_the_old_rollups_during_a_rebuild(tmp_path, monkeypatch):
    """The rebuild writes staging tables and swaps them in at its end: while it runs (here: held inside, at the
    diversion flags), another session reads the rollups as they were, without waiting for a lock."""
    import threading

    with committed_app(f"drp_cov_read_{os.getpid()}", tmp_path, _seed) as app:
        from app.extensions import db
        from app.models import Distributor, Product, Terminal
        from distribution import diversion
        from distribution.rollups import rebuild_rollups

        with app.app_context():
            d = db.session.execute(select(Distributor).where(Distributor.code == "CC-DA")).scalar_one()
            t = db.session.execute(select(Terminal).order_by(Terminal.code)).scalars().first()
            p = db.session.execute(select(Product).order_by(Product.code)).scalars().first()
            load_sell_out(db.session, d, date(2026, 5, 1), [fact(t, p, 5, date(2026, 5, 10))])
            db.session.commit()
            before = _snapshot(db)
            db.session.remove()
        inside, read = threading.Event(), threading.Event()
        flags = diversion.rebuild_flags

        def held_flags():
            inside.set()
            assert read.wait(30)
            return flags()

        monkeypatch.setattr(diversion, "rebuild_flags", held_flags)
        seen, errors = [], []

        def reader():
            with app.app_context():
                try:
                    assert inside.wait(30)
                    db.session.execute(text("SET LOCAL lock_timeout = '3s'"))
                    seen.append(_snapshot(db))
                    seen.append(db.session.execute(text("SELECT count(*) FROM coverage_sales")).scalar_one())
                except Exception as exc:  # noqa: BLE001 - asserted below
                    errors.append(exc)
                finally:
                    read.set()
                    db.session.remove()

        thread = threading.Thread(target=reader)
        thread.start()
        with app.app_context():
            rebuild_rollups()
            db.session.commit()
            after = _snapshot(db)
            db.session.remove()
        thread.join(30)
        assert errors == []
        assert seen == [before, 1] and after == before
