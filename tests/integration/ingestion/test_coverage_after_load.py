"""The coverage rollups follow a load after its commit: the load queues its refresh in its own transaction
(``coverage_refresh``), and the ``refresh_coverage`` task does it once the load has committed (started by the load
task, by the review queue's decisions, and by the beat). A refresh that fails stays queued with its error; one
that was never started (the worker died between the two) is done by the next run; the rebuild settles the queue."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from distribution.models import CoverageRefresh, CoverageSales
from ingestion.models import ReviewItem, Submission
from tests.integration.ingestion.conftest import csv_bytes, sale


def _upload(client, data, period="2026-05"):
    r = client.post("/ingestion/upload", data={"file": (io.BytesIO(data), "流向.csv"), "kind": "sell_out",
                                               "period_kind": "month", "period": period, "distributor": "ING-D1"},
                    content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    return int(r.headers["Location"].rsplit("/", 1)[1])


def _sold(db_session, distributor) -> tuple[int, int] | None:
    """(terminal quantity, lines) of the distributor's May sales rollup, summed over products."""
    db_session.expire_all()
    row = db_session.execute(select(func.sum(CoverageSales.terminal_quantity), func.sum(CoverageSales.lines))
                             .where(CoverageSales.distributor_id == distributor.id)).one()
    return None if row[0] is None else (int(row[0]), int(row[1]))


def _queue(db_session) -> list[tuple]:
    db_session.expire_all()
    return [(r.added_submission_id, r.removed_submission_id, r.months, r.done_at is not None, r.attempts)
            for r in db_session.execute(select(CoverageRefresh).order_by(CoverageRefresh.id)).scalars()]


def test_an_upload_commits_then_its_refresh_updates_the_rollups_and_a_new_version_replaces_them(
        app, db_session, world, login, layout):
    manager = login("channel_manager")
    first = _upload(manager, csv_bytes([sale(qty=q) for q in (3, 4, 5)]))
    assert db_session.get(Submission, first).status == "loaded"
    (queued,) = _queue(db_session)
    assert queued[:4] == (first, None, ["2026-05-01"], True)  # queued by the load, done after its commit
    assert _sold(db_session, world["d1"]) == (12, 3)
    second = _upload(manager, csv_bytes([sale(qty=q) for q in (1, 2)]))
    assert _queue(db_session)[1][:4] == (second, first, ["2026-05-01"], True)
    assert _sold(db_session, world["d1"]) == (3, 2)  # the new version's figures, not added to the old


def test_a_load_whose_refresh_never_started_is_done_by_the_next_run_and_a_failure_stays_queued(
        app, db_session, world, ingest, layout, monkeypatch):
    from distribution import rollups, tasks

    sub = ingest(csv_bytes([sale(qty=q) for q in (2, 6)]))  # committed, but nobody started the refresh
    assert sub.status == "loaded"
    assert _queue(db_session) == [(sub.id, None, ["2026-05-01"], False, 0)]
    assert _sold(db_session, world["d1"]) is None  # the rollups do not have it yet
    assert rollups.pending_count() == 1
    real = rollups.refresh_rollups

    def broken(event):
        raise RuntimeError("disk full")

    monkeypatch.setattr(rollups, "refresh_rollups", broken)
    assert tasks.refresh_coverage() == {"done": 0, "failed": 1}
    (row,) = db_session.execute(select(CoverageRefresh)).scalars()
    db_session.refresh(row)
    assert (row.done_at, row.attempts, row.last_error) == (None, 1, "RuntimeError: disk full")
    assert _sold(db_session, world["d1"]) is None  # nothing half done
    monkeypatch.setattr(rollups, "refresh_rollups", real)
    assert tasks.refresh_coverage() == {"done": 1, "failed": 0}
    assert _queue(db_session) == [(sub.id, None, ["2026-05-01"], True, 2)]
    assert _sold(db_session, world["d1"]) == (8, 2)
    assert tasks.refresh_coverage() == {"done": 0, "failed": 0}  # nothing left: a second run changes nothing
    assert _sold(db_session, world["d1"]) == (8, 2)


def test_the_review_queue_s_decision_refreshes_the_rows_it_loaded(app, db_session, world, login, layout):
    manager = login("channel_manager")
    sub_id = _upload(manager, csv_bytes([sale(customer="杭州一院", qty=4), sale(qty=6)]))
    assert _sold(db_session, world["d1"]) == (6, 1)  # the waiting line is not in the facts yet
    item = db_session.execute(select(ReviewItem).where(ReviewItem.raw_name == "杭州一院")).scalar_one()
    r = manager.post("/ingestion/review", data={"item": [item.id], "action": "confirm",
                                                f"target_{item.id}": f"terminal:{world['t1'].id}"})
    assert r.status_code == 302
    assert db_session.get(Submission, sub_id).rows_accepted == 2
    assert _sold(db_session, world["d1"]) == (10, 2)
    assert all(done for *_x, done, _a in _queue(db_session))


def test_the_rebuild_settles_the_queue(app, db_session, world, ingest, layout):
    from distribution import rollups

    ingest(csv_bytes([sale(qty=5)]))
    assert rollups.pending_count() == 1
    rollups.rebuild_rollups()
    assert rollups.pending_count() == 0
    assert _sold(db_session, world["d1"]) == (5, 1)


@pytest.mark.parametrize("kind", ["inventory", "purchase"])
def test_only_sell_out_queues_a_refresh(db_session, kind):
    from datetime import date

    from distribution import rollups
    from ingestion.hooks import FactsChanged

    rollups.queue_refresh(FactsChanged(1, kind, frozenset({date(2026, 5, 1)}), 1, None))
    assert rollups.pending_count() == 0
    rollups.queue_refresh(FactsChanged(1, "sell_out", frozenset({date(2026, 5, 1)}), 1, None))
    assert rollups.pending_count() == 1


def test_the_dashboard_says_while_loaded_submissions_are_not_in_its_figures_yet(app, db_session, world, ingest,
                                                                                 layout, login):
    from distribution import tasks

    manager = login("channel_manager")
    ingest(csv_bytes([sale(qty=5)]))
    page = manager.get("/distribution/coverage/?period=2026-05").get_data(as_text=True)
    assert 'id="refreshing"' in page and "有 1 份新载入的流向上报正在汇总进这些数字" in page
    tasks.refresh_coverage()
    page = manager.get("/distribution/coverage/?period=2026-05").get_data(as_text=True)
    assert 'id="refreshing"' not in page and "kpi-value" in page
