"""The bulk loader's COPY left open (``defer=True``) on PostgreSQL: its rows land before anything else uses the
connection, the server's verdict on them is not lost, and a load failing in a later chunk leaves nothing."""

from __future__ import annotations

import io
from datetime import date

import psycopg
import pytest
from sqlalchemy import func, select, text

from ingestion import loading, pipeline
from ingestion.models import SellOutFact, Submission
from tests.integration.ingestion.conftest import csv_bytes, sale

COLS = ("submission_id", "distributor_id", "source_row", "business_date", "terminal_id", "product_id", "quantity")


def _rows(sub_id: int, d_id: int, t_id: int, p_id: int, quantities) -> list[tuple]:
    return [(sub_id, d_id, i + 2, date(2026, 5, 10), t_id, p_id, q) for i, q in enumerate(quantities)]


def _submission(db_session, world) -> Submission:
    from ingestion import intake

    return intake.receive_file(io.BytesIO(csv_bytes([sale()])), "流向.csv", world["d1"], "sell_out",
                               intake.parse_period("month", "2026-05"), source="upload", submitted_by=None)


def _facts(db_session, sub_id: int) -> int:
    return db_session.execute(select(func.count()).select_from(SellOutFact)
                              .where(SellOutFact.submission_id == sub_id)).scalar()


def test_a_deferred_copy_lands_before_the_next_statement(db_session, world):
    sub = _submission(db_session, world)
    rows = _rows(sub.id, world["d1"].id, world["t1"].id, world["p1"].id, [1, 2, 3])
    assert loading.copy_rows(SellOutFact.__table__, COLS, rows, defer=True) == 3
    assert loading._OPEN  # still open: the server takes the rows while the caller goes on
    assert _facts(db_session, sub.id) == 3  # the next statement ended it first
    assert not loading._OPEN


def test_a_deferred_copy_the_server_refuses_fails_when_settled(db_session, world):
    sub = _submission(db_session, world)
    rows = _rows(sub.id, world["d1"].id, world["t1"].id, world["p1"].id, [1, 0, 3])  # quantity 0: a CHECK fails
    savepoint = db_session.begin_nested()
    loading.copy_rows(SellOutFact.__table__, COLS, rows, defer=True)
    with pytest.raises(psycopg.errors.CheckViolation):
        loading.settle()
    savepoint.rollback()
    assert not loading._OPEN
    assert _facts(db_session, sub.id) == 0
    assert db_session.execute(text("select 1")).scalar() == 1  # the connection is usable again


def test_a_rollback_with_a_copy_open_aborts_it(db_session, world):
    sub = _submission(db_session, world)
    savepoint = db_session.begin_nested()
    loading.copy_rows(SellOutFact.__table__, COLS, _rows(sub.id, world["d1"].id, world["t1"].id, world["p1"].id,
                                                         [5, 6]), defer=True)
    savepoint.rollback()  # ends the COPY before the rollback runs (never a hang on the connection's lock)
    assert not loading._OPEN
    assert _facts(db_session, sub.id) == 0


def test_a_load_failing_in_a_later_chunk_leaves_nothing(db_session, world, ingest, app, monkeypatch):
    """Chunks of 3 lines: the facts of the first chunks are in COPYs left open when the third chunk fails; the
    load rolls back whole, the submission is not loaded and no fact of it remains."""
    monkeypatch.setitem(app.config, "INGEST_CHUNK_ROWS", 3)
    real, calls = pipeline._process_chunk, []

    def failing(load, chunk):
        calls.append(len(chunk))
        if len(calls) == 3:
            raise RuntimeError("worker lost mid-way")
        real(load, chunk)

    monkeypatch.setattr(pipeline, "_process_chunk", failing)
    rows = [sale(qty=q) for q in range(1, 11)]
    with pytest.raises(RuntimeError, match="worker lost"):
        ingest(csv_bytes(rows))
    assert len(calls) == 3 and not loading._OPEN
    sub = db_session.execute(select(Submission).order_by(Submission.id.desc()).limit(1)).scalar_one()
    assert sub.status != "loaded"
    assert _facts(db_session, sub.id) == 0
    monkeypatch.setattr(pipeline, "_process_chunk", real)
    db_session.expire_all()
    from tests.integration.ingestion.conftest import process

    assert process(sub.id) == "loaded"  # the retry loads it whole
    assert _facts(db_session, sub.id) == 10


def test_copy_columns_writes_what_copy_rows_writes(db_session, world, monkeypatch):
    """The column-wise COPY (CSV by pyarrow) keeps every value as the row-wise one does: NULL against empty text,
    delimiters, quotes and line breaks in text, Decimals to their last place, dates, missing ids."""
    from decimal import Decimal

    cols = ("submission_id", "distributor_id", "source_row", "business_date", "terminal_id", "to_distributor_id",
            "product_id", "lot_no", "expires_on", "quantity", "unit_price", "amount")
    first, second = _submission(db_session, world), _submission(db_session, world)
    d, t, p = world["d1"].id, world["t1"].id, world["p1"].id
    cells = [(2, date(2026, 5, 1), t, None, p, 'L,1 "a"\nb', date(2028, 1, 31), 5, Decimal("12.3456"),
              Decimal("61.73")),
             (3, date(2026, 5, 2), t, None, p, "", None, 1, None, None),
             (4, date(2026, 5, 3), t, None, p, None, date(2027, 12, 1), -2, Decimal("0E-4"), Decimal("-0.00")),
             (5, date(2026, 5, 31), t, None, p, "批号Ｘ", None, 999999, Decimal("9999999.9999"),
              Decimal("9999999999.99"))]
    loading.copy_rows(SellOutFact.__table__, cols, [(first.id, d, *c) for c in cells])

    def row_by_row(*args, **kwargs):
        raise AssertionError("copy_columns fell back to row by row")

    monkeypatch.setattr(loading, "copy_rows", row_by_row)  # the CSV path itself is what is tested
    n = loading.copy_columns(SellOutFact.__table__, cols,
                             [list(col) for col in zip(*[(second.id, d, *c) for c in cells], strict=True)])
    assert n == len(cells)

    def stored(sub_id):
        return db_session.execute(select(*(getattr(SellOutFact, c) for c in cols[1:]))
                                  .where(SellOutFact.submission_id == sub_id)
                                  .order_by(SellOutFact.source_row)).all()

    assert stored(second.id) == stored(first.id)
    assert [r.lot_no for r in stored(second.id)] == ['L,1 "a"\nb', "", None, "批号Ｘ"]
    assert stored(second.id)[0].unit_price == Decimal("12.3456")


def _other_connection(app):
    """A second connection to the test database, outside the test's transaction."""
    from sqlalchemy.engine import make_url

    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
    return psycopg.connect(url.render_as_string(hide_password=False))


def test_the_caller_goes_on_while_the_server_takes_the_copies(app, db_session, world):
    """The COPYs handed over run in a thread of the connection: with the server held up (another transaction
    locks the tables), handing over three COPYs returns at once, the rows land in order once the lock is gone, and
    a statement waits for them."""
    import threading
    import time

    from ingestion.models import RejectedRow

    sub = _submission(db_session, world)
    db_session.flush()
    other = _other_connection(app)
    other.execute("lock table sell_out_fact, rejected_row in share mode")  # COPY needs row exclusive: it waits
    d, t, p = world["d1"].id, world["t1"].id, world["p1"].id
    started = time.perf_counter()
    columns = [list(c) for c in zip(*_rows(sub.id, d, t, p, [1, 2]), strict=True)]
    loading.copy_columns(SellOutFact.__table__, COLS, columns, defer=True)
    loading.copy_rows(RejectedRow.__table__, ("submission_id", "distributor_id", "source_row", "reasons", "raw"),
                      [(sub.id, d, 9, "quantity_zero", '{"数量": "0"}')], json_text=("raw",), defer=True)
    loading.copy_rows(SellOutFact.__table__, COLS, _rows(sub.id, d, t, p, [3]), defer=True)
    handed_over = time.perf_counter() - started
    assert handed_over < 5 and loading._OPEN  # not waiting for the server, which cannot take them yet
    threading.Timer(1.0, other.commit).start()  # the lock goes in a second
    waited = time.perf_counter()
    assert _facts(db_session, sub.id) == 3  # this statement waited for all of them
    assert time.perf_counter() - waited > 0.5 and not loading._OPEN
    assert db_session.execute(select(func.count()).select_from(RejectedRow)
                              .where(RejectedRow.submission_id == sub.id)).scalar() == 1
    assert [r.quantity for r in db_session.execute(select(SellOutFact.quantity).where(
        SellOutFact.submission_id == sub.id).order_by(SellOutFact.id)).all()] == [1, 2, 3]  # in order
    other.close()


def test_after_a_copy_fails_the_next_ones_do_not_run(db_session, world):
    """The first COPY handed over fails (a CHECK): the sender runs nothing after it, and its error comes back to
    the caller: at the next hand-over if the sender has failed by then, else when settling."""
    sub = _submission(db_session, world)
    d, t, p = world["d1"].id, world["t1"].id, world["p1"].id
    savepoint = db_session.begin_nested()
    loading.copy_rows(SellOutFact.__table__, COLS, _rows(sub.id, d, t, p, [1, 0]), defer=True)  # quantity 0
    with pytest.raises(psycopg.errors.CheckViolation):
        loading.copy_rows(SellOutFact.__table__, COLS, _rows(sub.id, d, t, p, [5]), defer=True)
        loading.settle()
    savepoint.rollback()
    assert not loading._OPEN
    assert _facts(db_session, sub.id) == 0
