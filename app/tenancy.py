"""Tenant isolation, enforced in one place: every ORM query and every flush of the session.

When a distributor user is acting (``acting_as``), every SELECT gets a criteria on each ``TenantScoped`` model
(tenant key = that distributor, or null on ``__tenant_shared__`` models) and a false criteria on each
``ManufacturerOnly`` model, including lazy loads and joins; every flush refuses to insert, change or delete a row
that is not the distributor's own, and any manufacturer-only or reference row. Views and APIs never filter by
distributor themselves.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass

from sqlalchemy import event, false, or_
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from app.models.base import ManufacturerOnly, TenantScoped


class TenantViolation(PermissionError):
    """A distributor user tried to write a row that is not its own."""


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    label: str
    distributor_id: int | None = None  # set for distributor users: the only tenant they may see


_SYSTEM = Actor(None, "system")
_actor: contextvars.ContextVar[Actor] = contextvars.ContextVar("drp_actor", default=_SYSTEM)


def current_actor() -> Actor:
    return _actor.get()


def set_actor(actor: Actor) -> contextvars.Token:
    return _actor.set(actor)


def reset_actor(token: contextvars.Token) -> None:
    _actor.reset(token)


@contextlib.contextmanager
def acting_as(actor: Actor):
    """Run a block as ``actor`` (a request, a task, a CLI command, a test)."""
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)


def actor_for_user(user) -> Actor:
    return Actor(user.id, user.username, user.distributor_id if user.role == "distributor" else None)


def _mapped_subclasses(mixin) -> list[type]:
    from app.extensions import db

    return [m.class_ for m in db.Model.registry.mappers if issubclass(m.class_, mixin)]


def _criteria(tenant: int) -> list:
    """One loader criteria per scoped model (a lambda over the mixin cannot name each model's tenant column)."""
    options = []
    for cls in _mapped_subclasses(TenantScoped):
        if not issubclass(cls, ManufacturerOnly):
            keys = [getattr(cls, k) for k in _tenant_keys(cls)]
            where = or_(*[k == tenant for k in keys])
            if cls.__tenant_shared__:
                where = or_(where, *[k.is_(None) for k in keys])
            options.append(with_loader_criteria(cls, where, include_aliases=True))
    for cls in _mapped_subclasses(ManufacturerOnly):
        options.append(with_loader_criteria(cls, false(), include_aliases=True))
    return options


@event.listens_for(Session, "do_orm_execute")
def _scope_queries(state: ORMExecuteState) -> None:
    tenant = _actor.get().distributor_id
    if tenant is None or state.execution_options.get("skip_tenant_scope"):
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    state.statement = state.statement.options(*_criteria(tenant))


@event.listens_for(Session, "before_flush")
def _guard_writes(session: Session, flush_context, instances) -> None:
    tenant = _actor.get().distributor_id
    if tenant is None:
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if obj in session.dirty and not session.is_modified(obj, include_collections=False):
            continue
        if isinstance(obj, TenantScoped) and not isinstance(obj, ManufacturerOnly):
            if any(getattr(obj, k) == tenant for k in _tenant_keys(obj)) and _tenant_unchanged(obj):
                continue
        raise TenantViolation(f"distributor {tenant} may not write {type(obj).__name__}")


def _tenant_keys(cls_or_obj) -> tuple[str, ...]:
    """A model names one tenant column, or several (a row shared by the tenants on either side, e.g. a transfer)."""
    key = cls_or_obj.__tenant_key__
    return (key,) if isinstance(key, str) else tuple(key)


def _tenant_unchanged(obj) -> bool:
    from sqlalchemy import inspect

    state = inspect(obj)
    for key in _tenant_keys(obj):
        hist = state.attrs[key].history
        if hist.deleted and any(v != getattr(obj, key) for v in hist.deleted if v is not None):
            return False
    return True
