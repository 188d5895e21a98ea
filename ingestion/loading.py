"""Bulk writes of the load: PostgreSQL ``COPY … FROM STDIN`` (psycopg's copy) inside the session's transaction,
``executemany`` on SQLite. Never one ORM object per row.

A COPY may be left open (``defer=True``): its rows are sent, and the server goes on taking them (checking,
indexing) while the caller prepares the next chunk of the file instead of waiting. It is ended by :func:`settle`,
and in any case before anything else uses the connection: before the next statement, a commit or a rollback
(SQLAlchemy events) and before the pool resets the connection. Ending it raises what the server found wrong with
the rows, as an undeferred COPY would."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterable, Sequence
from decimal import Decimal

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

from app import bulk
from app.extensions import db

_OPEN: dict[int, tuple] = {}  # id(psycopg connection) → (copy context, cursor, thread) of its COPY left open


def _end(key: int, exc_info=(None, None, None)) -> None:
    entry = _OPEN.pop(key, None)
    if entry is None:
        return
    context, cursor, _thread = entry
    try:
        if exc_info[0] is None:
            context.__exit__(None, None, None)
        else:
            try:  # tell the server the COPY failed; the transaction is being abandoned anyway
                context.__exit__(*exc_info)
            except Exception:  # noqa: BLE001 - the original error is the one that matters
                pass
    finally:
        cursor.close()


def settle(abort: bool = False) -> None:
    """End this thread's COPY left open, if any (``abort``: tell the server it failed). Never touches the session
    (after a failed flush it could not be used)."""
    me = threading.get_ident()
    for key in [k for k, entry in list(_OPEN.items()) if entry[2] == me]:
        _end(key, (RuntimeError, RuntimeError("load aborted"), None) if abort else (None, None, None))


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
        _end(id(conn.connection.driver_connection), (RuntimeError, RuntimeError("rollback"), None))


@event.listens_for(Pool, "reset")
def _before_reset(dbapi_connection, record, reset_state):
    if _OPEN:
        _end(id(getattr(dbapi_connection, "driver_connection", dbapi_connection)),
             (RuntimeError, RuntimeError("connection reset"), None))


def _is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def copy_rows(table, columns: Sequence[str], rows: Iterable[Sequence], json_columns: Sequence[str] = (),
              json_text: Sequence[str] = (), defer: bool = False) -> int:
    """Append ``rows`` (tuples in ``columns`` order) to ``table`` in the current transaction; returns how many.
    JSON columns hold Python values (``json_columns``) or JSON text already encoded (``json_text``). ``defer``:
    leave the COPY open (see the module docstring)."""
    db.session.flush()
    count = 0
    if _is_postgresql():
        json_idx = [columns.index(c) for c in json_columns]

        def send(copy) -> None:
            nonlocal count
            for row in rows:
                if json_idx:
                    row = list(row)
                    for i in json_idx:
                        row[i] = json.dumps(row[i], ensure_ascii=False, default=str)
                copy.write_row(row)
                count += 1

        _copy(table, columns, "", send, defer)
        return count
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
    if not n or not _is_postgresql():
        return copy_rows(table, columns, zip(*values, strict=True), defer=defer)
    import pyarrow as pa

    try:
        data = bulk.csv_for_copy([_decimal_text(v) for v in values])
    except (pa.ArrowException, TypeError, ValueError):
        return copy_rows(table, columns, zip(*values, strict=True), defer=defer)
    db.session.flush()
    _copy(table, columns, " WITH (FORMAT csv)", lambda copy: copy.write(data), defer)
    return n


def _copy(table, columns: Sequence[str], options: str, send, defer: bool) -> None:
    """``COPY table (columns) FROM STDIN{options}`` on the session's connection (ending any COPY left open on it
    first), the data written by ``send(copy)``; left open when ``defer``, aborted on any error."""
    raw = db.session.connection().connection.driver_connection
    _end(id(raw))
    cols = ", ".join(f'"{c}"' for c in columns)
    cursor = raw.cursor()
    context = cursor.copy(f'COPY "{table.name}" ({cols}) FROM STDIN{options}')
    copy = context.__enter__()
    _OPEN[id(raw)] = (context, cursor, threading.get_ident())
    try:
        send(copy)
    except BaseException:
        _end(id(raw), sys.exc_info())
        raise
    if not defer:
        _end(id(raw))


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
    if _is_postgresql():
        from sqlalchemy import any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def advisory_lock(*key: object) -> None:
    """Serialise loads of one (distributor, kind) across processes until the transaction ends (PostgreSQL; SQLite
    has a single writer anyway)."""
    if _is_postgresql():
        from sqlalchemy import text

        db.session.execute(text("select pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                           {"k": "ingest:" + ":".join(map(str, key))})
