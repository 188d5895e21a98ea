"""Harness for concurrency tests that need real commits: a throw-away PostgreSQL database built by the migrations,
and a runner that starts N threads at the same moment, each in its own app context and session."""

from __future__ import annotations

import contextlib
import threading

from tests.conftest import REGIONS_DIR, create_database, drop_database, make_app


@contextlib.contextmanager
def committed_app(name: str, tmp_path, seed=None):
    """An app on a fresh database ``name`` (migrated, regions loaded, then ``seed()`` run and committed); dropped
    afterwards."""
    url = create_database(name)
    app = make_app(url, tmp_path)
    from app.extensions import db

    with app.app_context():
        from flask_migrate import upgrade

        from app.masterdata.regions import import_regions

        upgrade()
        import_regions(REGIONS_DIR)
        if seed is not None:
            seed()
        db.session.commit()
        db.session.remove()
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()
        drop_database(name)


def run_concurrently(app, n: int, work, *, timeout: float = 60, prepare=None):
    """Run ``work(i)`` in ``n`` threads released together by a barrier, each committing its own transaction.

    ``prepare(i)`` (optional) runs in the thread's session before the barrier and its result is passed to ``work``
    as a second argument. Returns (results by thread, exceptions raised)."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def runner(i):
        from app.extensions import db

        with app.app_context():
            try:
                ready = prepare(i) if prepare is not None else None
                if prepare is not None:
                    db.session.commit()  # start the measured step in a fresh transaction
                barrier.wait(timeout=timeout / 3)
                results[i] = work(i, ready) if prepare is not None else work(i)
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - collected for the test to assert
                db.session.rollback()
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    return results, errors
