"""The append-only audit log.

Every insert, update and delete of an ``Audited`` model is recorded in the same transaction, with the acting user
and the changed fields before → after, from one session hook; rows inserted without the unit of work (a hot path's
bulk INSERT, :mod:`app.bulk`) are recorded the same way by :func:`created`. Services record decisions that are not
plain row changes (an approval, a login, a token revoked) with :func:`record`. Entries queued with ``defer`` are
written by the next flush, by :func:`write_pending`, or at the latest when the transaction commits.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from flask import g, has_request_context
from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session

from app.models.base import AppendOnly, Audited, utcnow
from app.models.users import AuditLog
from app.tenancy import current_actor


class AppendOnlyViolation(RuntimeError):
    pass


def _jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _columns(obj):
    mapper = inspect(obj).mapper
    exclude = set(getattr(obj, "__audit_exclude__", ()))
    return [c.key for c in mapper.column_attrs if c.key not in exclude]


def _snapshot(obj) -> dict:
    return {k: _jsonable(getattr(obj, k)) for k in _columns(obj)}


def _pk(obj):
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    return key[0] if len(key) == 1 else "/".join(map(str, key))


def _request_id():
    return getattr(g, "request_id", None) if has_request_context() else None


def _row(action: str, entity_type: str, entity_id, before, after, note=None) -> dict:
    actor = current_actor()
    return {
        "at": utcnow(),
        "actor_id": actor.user_id,
        "actor": actor.label,
        "action": action,
        "entity_type": entity_type,
        "entity_id": None if entity_id is None else str(entity_id),
        "before": before,
        "after": after,
        "note": note,
        "request_id": _request_id(),
    }


def record(session: Session, action: str, entity, note: str | None = None, before=None, after=None, *,
           defer: bool = False) -> None:
    """Record a decision (approve, reject, login, revoke ...) about ``entity`` in the audit log.

    ``defer=True`` (for a hot path that is about to write anyway): when the session has new rows or audit entries
    pending, the entry is written with them, in the same multi-row INSERT (and ``entity`` may be one of those new
    rows, its id not known yet); otherwise it is written at once, as without ``defer``."""
    if hasattr(entity, "_get_current_object"):  # current_user and other proxies
        entity = entity._get_current_object()
    entity_type = entity if isinstance(entity, str) else type(entity).__tablename__
    if defer and (session.new or session.info.get("audit_pending")):
        row = _row(action, entity_type, None, before, after, note)
        session.info.setdefault("audit_pending", []).append(("record", entity, row, None))
        return
    entity_id = None if isinstance(entity, str) else _pk(entity)
    session.execute(insert(AuditLog), [_row(action, entity_type, entity_id, before, after, note)])


def created(session: Session, objs, *, defer: bool = False) -> None:
    """Record the creation of ``objs`` (Audited rows inserted without the unit of work, e.g. by
    :func:`app.bulk.insert_rows`) as a flush would: one 'create' entry each, the whole row as 'after'. ``defer=True``
    queues the entries for the next flush or :func:`write_pending` (a caller with more to write); otherwise they are
    written at once."""
    entries = [("row", None, _row("create", type(o).__tablename__, _pk(o), None, _snapshot(o)), None) for o in objs]
    if defer:
        session.info.setdefault("audit_pending", []).extend(entries)
    elif entries:
        _insert(session, _pending_rows(entries))


def write_pending(session: Session) -> None:
    """Write the entries queued with ``defer`` now, in one INSERT (for a caller that writes without a flush)."""
    pending = session.info.pop("audit_pending", [])
    if pending:
        _insert(session, _pending_rows(pending))


def _insert(session: Session, rows: list[dict]) -> None:
    session.connection().execute(insert(AuditLog), rows)  # Core: one statement, however the rows' values differ


@event.listens_for(Session, "before_flush")
def _capture_changes(session: Session, flush_context, instances) -> None:
    """Capture the 'before' of dirty and deleted rows now, while their history is intact."""
    pending = session.info.setdefault("audit_pending", [])
    for obj in session.dirty:
        if isinstance(obj, Audited) and session.is_modified(obj, include_collections=False):
            state = inspect(obj)
            before, after = {}, {}
            for key in _columns(obj):
                hist = state.attrs[key].history
                if hist.has_changes():
                    before[key] = _jsonable(hist.deleted[0]) if hist.deleted else None
                    after[key] = _jsonable(hist.added[0]) if hist.added else None
            if after:
                pending.append(("update", obj, before, after))
    for obj in session.deleted:
        if isinstance(obj, Audited):
            pending.append(("delete", obj, _snapshot(obj), None))
    for obj in session.new:
        if isinstance(obj, Audited):
            pending.append(("create", obj, None, None))
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AppendOnly) and (obj in session.deleted or session.is_modified(obj)):
            raise AppendOnlyViolation(f"{type(obj).__tablename__} is append-only")


@event.listens_for(Session, "after_flush")
def _write_changes(session: Session, flush_context) -> None:
    pending = session.info.pop("audit_pending", [])
    if pending:
        _insert(session, _pending_rows(pending))


def _pending_rows(pending: list) -> list[dict]:
    """The audit rows of the queued entries: row changes first, then the decisions about them."""
    rows, decisions = [], []
    for action, obj, before, after in pending:
        if action == "row":  # complete already (:func:`created`)
            rows.append(before)
        elif action == "record":  # a deferred decision (:func:`record`): its row, with the id now known
            before["entity_id"] = None if isinstance(obj, str) else str(_pk(obj))
            decisions.append(before)
        else:
            if action == "create":
                after = _snapshot(obj)
            rows.append(_row(action, type(obj).__tablename__, _pk(obj), before, after))
    return rows + decisions


@event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    """Nothing queued is ever lost: what no flush or :func:`write_pending` wrote yet is written before the commit."""
    if session.info.get("audit_pending"):
        session.flush()
        write_pending(session)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop("audit_pending", None)
