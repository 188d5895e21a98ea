"""Bulk writes of the load: PostgreSQL ``COPY … FROM STDIN`` (psycopg's copy) inside the session's transaction,
``executemany`` on SQLite. Never one ORM object per row."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from app.extensions import db


def _is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def copy_rows(table, columns: Sequence[str], rows: Iterable[Sequence], json_columns: Sequence[str] = (),
              json_text: Sequence[str] = ()) -> int:
    """Append ``rows`` (tuples in ``columns`` order) to ``table`` in the current transaction; returns how many.
    JSON columns hold Python values (``json_columns``) or JSON text already encoded (``json_text``)."""
    db.session.flush()
    count = 0
    if _is_postgresql():
        json_idx = [columns.index(c) for c in json_columns]
        raw = db.session.connection().connection.driver_connection
        cols = ", ".join(f'"{c}"' for c in columns)
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:
            for row in rows:
                if json_idx:
                    row = list(row)
                    for i in json_idx:
                        row[i] = json.dumps(row[i], ensure_ascii=False, default=str)
                copy.write_row(row)
                count += 1
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
