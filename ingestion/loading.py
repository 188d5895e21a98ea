"""Bulk writes of the load: PostgreSQL ``COPY … FROM STDIN`` (psycopg's copy) inside the session's transaction,
``executemany`` on SQLite. Never one ORM object per row.

A COPY may be left to run (``defer=True``): its rows are formatted here, then handed to a thread of the connection
(its *sender*) that runs the COPYs in order, one after the other, while the caller goes on with the next chunk of the
file. The caller never waits for the server to take one COPY before it can start the next: with a single
connection (one transaction) only one COPY can run at a time, and waiting at each change from one table to the next
was a quarter of a large load. The queue is short (:data:`QUEUED` COPYs; the caller waits when it is full), so
memory stays bounded. The sender is drained by :func:`settle`, and in any case before anything else uses the
connection: before the next statement, a commit or a rollback (SQLAlchemy events) and before the pool resets the
connection. Draining raises what the server found wrong with the rows, as a COPY run in place would; after a
failure the sender runs nothing more (the transaction is lost anyway)."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterable, Sequence
from decimal import Decimal

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

from app import bulk
from app.extensions import db

QUEUED = 3  # COPYs waiting for a connection's sender at most (each one chunk of one table: a few MB)


class _Sender:
    """Runs the COPYs handed to it on one psycopg connection, in order, in a thread of its own. Only its owner
    thread hands it COPYs; nothing else uses the connection until it is closed (see the module docstring)."""

    def __init__(self, raw):
        self.raw = raw
        self.owner = threading.get_ident()
        self.jobs: queue.Queue = queue.Queue(maxsize=QUEUED)
        self.error: BaseException | None = None
        self.skip = False
        self.thread = threading.Thread(target=self._run, name="copy-sender", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            if self.error is None and not self.skip:
                statement, data = job
                try:
                    with self.raw.cursor() as cursor, cursor.copy(statement) as copy:
                        copy.write(data)
                except BaseException as exc:  # noqa: BLE001 - handed to the owner when it drains the sender
                    self.error = exc

    def close(self, abort: bool) -> BaseException | None:
        """Wait for the COPYs handed over (``abort``: run none that has not started) and stop the thread; returns
        the error of the first COPY that failed, if any."""
        self.skip = abort
        self.jobs.put(None)
        self.thread.join()
        return self.error


_OPEN: dict[int, _Sender] = {}  # id(psycopg connection) → its sender, while it has COPYs handed over


def _end(key: int, abort: bool = False) -> None:
    """Drain the sender of this connection, if any; raise what its COPYs ran into (unless ``abort``: then the
    COPYs not started are dropped and errors ignored, the transaction being abandoned anyway)."""
    sender = _OPEN.pop(key, None)
    if sender is None:
        return
    error = sender.close(abort)
    if error is not None and not abort:
        raise error


def settle(abort: bool = False) -> None:
    """Drain this thread's senders, if any (``abort``: drop what has not started; see :func:`_end`). Never touches
    the session (after a failed flush it could not be used)."""
    me = threading.get_ident()
    for key in [k for k, sender in list(_OPEN.items()) if sender.owner == me]:
        _end(key, abort)


@event.listens_for(Engine, "before_cursor_execute")
def _before_statement(conn, cursor, statement, parameters, context, executemany):
    if _OPEN:
        _end(id(conn.connection.driver_connection))


@event.listens_for(Engine, "commit")
def _before_commit(conn):
    if _OPEN:
        _end(id(conn.connection.driver_connection))


@event.listens_for(Engine, "rollback")
def _before_rollback(conn):
    if _OPEN:
        _end(id(conn.connection.driver_connection), abort=True)


@event.listens_for(Pool, "reset")
def _before_reset(dbapi_connection, record, reset_state):
    if _OPEN:
        _end(id(getattr(dbapi_connection, "driver_connection", dbapi_connection)), abort=True)


def is_postgresql() -> bool:
    """Whether the session's database is PostgreSQL (COPY) rather than SQLite (executemany)."""
    return db.session.get_bind().dialect.name == "postgresql"


def copy_rows(table, columns: Sequence[str], rows: Iterable[Sequence], json_columns: Sequence[str] = (),
              json_text: Sequence[str] = (), defer: bool = False) -> int:
    """Append ``rows`` (tuples in ``columns`` order) to ``table`` in the current transaction; returns how many.
    JSON columns hold Python values (``json_columns``) or JSON text already encoded (``json_text``). ``defer``:
    hand the COPY to the connection's sender (see the module docstring)."""
    db.session.flush()
    if is_postgresql():
        json_idx = [columns.index(c) for c in json_columns]

        def encoded(row):
            if json_idx:
                row = list(row)
                for i in json_idx:
                    row[i] = json.dumps(row[i], ensure_ascii=False, default=str)
            return row

        rows = [encoded(row) for row in rows]
        if defer and rows and _hand_over(table, columns, list(zip(*rows, strict=True))):
            return len(rows)

        def send(copy) -> None:
            for row in rows:
                copy.write_row(row)

        if rows:
            _copy(table, columns, "", send)
        return len(rows)
    count = 0
    text_idx = [columns.index(c) for c in json_text]  # SQLAlchemy's JSON type encodes: decode the text first
    batch: list[dict] = []
    for row in rows:
        if text_idx:
            row = list(row)
            for i in text_idx:
                row[i] = None if row[i] is None else json.loads(row[i])
        batch.append(dict(zip(columns, row, strict=True)))
        if len(batch) >= 5000:
            db.session.execute(table.insert(), batch)
            count += len(batch)
            batch = []
    if batch:
        db.session.execute(table.insert(), batch)
        count += len(batch)
    return count


def copy_columns(table, columns: Sequence[str], values: Sequence[Sequence], defer: bool = False) -> int:
    """Like :func:`copy_rows`, for rows given column by column (``values[i]`` the list of column ``columns[i]``:
    ints, text, dates, Decimals or None). On PostgreSQL the columns become Arrow arrays and one CSV text written
    by pyarrow's C writer (NULL unquoted and empty, text quoted): about a tenth of the client time of formatting
    row by row. A column Arrow cannot type goes row by row instead."""
    n = len(values[0]) if values else 0
    if not n or not is_postgresql():
        return copy_rows(table, columns, zip(*values, strict=True), defer=defer)
    db.session.flush()
    if defer:
        if _hand_over(table, columns, values):
            return n
        return copy_rows(table, columns, zip(*values, strict=True))
    data = _csv(values)
    if data is None:
        return copy_rows(table, columns, zip(*values, strict=True))
    _copy(table, columns, " WITH (FORMAT csv)", lambda copy: copy.write(data))
    return n


def _csv(values: Sequence[Sequence]):
    """The columns as CSV text for COPY (pyarrow's writer), or None for a column Arrow cannot type."""
    import pyarrow as pa

    try:
        return bulk.csv_for_copy([_decimal_text(v) for v in values])
    except (pa.ArrowException, TypeError, ValueError):
        return None


def _statement(table, columns: Sequence[str], options: str) -> str:
    cols = ", ".join(f'"{c}"' for c in columns)
    return f'COPY "{table.name}" ({cols}) FROM STDIN{options}'


def _hand_over(table, columns: Sequence[str], values: Sequence[Sequence]) -> bool:
    """Format the rows (given column by column) as CSV here and hand their COPY to the connection's sender; False
    when Arrow cannot type a column (the caller then copies row by row, in place)."""
    data = _csv(values)
    if data is None:
        return False
    raw = db.session.connection().connection.driver_connection
    sender = _OPEN.get(id(raw))
    if sender is not None and sender.error is not None:
        _end(id(raw))  # raises the earlier COPY's error
    if sender is None:
        sender = _OPEN[id(raw)] = _Sender(raw)
    sender.jobs.put((_statement(table, columns, " WITH (FORMAT csv)"), data))  # skipped if it failed meanwhile
    return True


def _copy(table, columns: Sequence[str], options: str, send) -> None:
    """``COPY table (columns) FROM STDIN{options}`` on the session's connection, here and now (after the COPYs
    handed to its sender), the data written by ``send(copy)``; aborted on any error."""
    raw = db.session.connection().connection.driver_connection
    _end(id(raw))
    with raw.cursor() as cursor, cursor.copy(_statement(table, columns, options)) as copy:
        send(copy)


def _decimal_text(values: Sequence) -> Sequence:
    """A column of Decimals as their text (PostgreSQL reads numeric from it exactly): Arrow's conversion of Python
    Decimals costs ten times str()."""
    first = next((v for v in values if v is not None), None)
    if isinstance(first, Decimal):
        return [None if v is None else str(v) for v in values]
    return values


def among(column, values):
    """``column IN values`` for a long list of values: on PostgreSQL ``= ANY(array)``, one parameter (an ``IN`` of
    thousands of parameters costs seconds to render and parse)."""
    values = list(values)
    if is_postgresql():
        from sqlalchemy import any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def advisory_lock(*key: object) -> None:
    """Serialise loads of one (distributor, kind) across processes until the transaction ends (PostgreSQL; SQLite
    has a single writer anyway)."""
    if is_postgresql():
        from sqlalchemy import text

        db.session.execute(text("select pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                           {"k": "ingest:" + ":".join(map(str, key))})
