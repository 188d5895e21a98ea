"""Helpers for statements built once and executed many times with bound values (the hot paths: an order's
agreement and price look-ups)."""

from __future__ import annotations

from sqlalchemy import Integer, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY


def in_ids(dialect: str, name: str):
    """``col -> col IN (:name)`` for a list of integer ids bound at execution as ``name``.

    On PostgreSQL ``col = ANY(:name)`` with one array parameter: the SQL text is the same for any number of ids, so
    the server-side prepared statement (psycopg prepares a query it has seen a few times) is reused; elsewhere an
    expanding IN."""
    if dialect == "postgresql":
        ids = bindparam(name, type_=ARRAY(Integer))
        return lambda col: col == any_(ids)
    ids = bindparam(name, expanding=True)
    return lambda col: col.in_(ids)
