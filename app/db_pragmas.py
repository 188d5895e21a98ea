"""SQLite pragmas for the embedded default, so the web server and a worker can write at the same time."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event


def _set_sqlite_pragmas(dbapi_connection, connection_record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers and one writer work at once; busy_timeout makes a second writer wait instead of failing
    # with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def init_sqlite_pragmas(app: Flask) -> None:
    """Install the pragmas on every SQLite engine of ``app`` (after ``db.init_app``); other databases are left alone."""
    from app.extensions import db

    with app.app_context():
        for engine in db.engines.values():
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _set_sqlite_pragmas)
