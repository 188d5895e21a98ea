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
import functools
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


_FACTORIES: dict[tuple[tuple[str, ...], bool], object] = {}


def _criteria_factory(keys: tuple[str, ...], shared: bool):
    """A function ``tenant -> lambda cls: <tenant clause on cls>``, compiled once per key set.

    Loader criteria must be lambdas to be applied to aliases of an entity (``aliased(Distributor)`` in a join);
    the column names are written into the lambda's code, and the tenant id is its only closure variable, which
    SQLAlchemy turns into a bound parameter (so the statement cache is shared by all tenants).
    """
    key = (keys, shared)
    if key not in _FACTORIES:
        clauses = [f"cls.{k} == tenant" for k in keys] + ([f"cls.{k}.is_(None)" for k in keys] if shared else [])
        body = clauses[0] if len(clauses) == 1 else f"or_({', '.join(clauses)})"
        namespace: dict = {"or_": or_}
        exec(f"def make(tenant):\n    return lambda cls: {body}\n", namespace)  # noqa: S102 - names are ours
        _FACTORIES[key] = namespace["make"]
    return _FACTORIES[key]


@functools.lru_cache(maxsize=4096)
def _criteria(tenant: int) -> tuple:
    """One loader criteria per scoped model: the tenant's rows of TenantScoped models, nothing of ManufacturerOnly.

    Built once per tenant and reused (the options are immutable; building ~30 of them for every query cost a third
    of an order's time)."""
    options = []
    for cls in _mapped_subclasses(TenantScoped):
        if not issubclass(cls, ManufacturerOnly):
            make = _criteria_factory(_tenant_keys(cls), bool(cls.__tenant_shared__))
            options.append(with_loader_criteria(cls, make(tenant), include_aliases=True))
    for cls in _mapped_subclasses(ManufacturerOnly):
        options.append(with_loader_criteria(cls, _nothing, include_aliases=True))
    return tuple(options)


def _nothing(cls):
    return false()


_SCOPED_KEY = "_drp_tenant_scoped"
_SCOPED_MAX = 4096  # scoped copies kept per reusable statement (one per tenant that ran it)


def reusable(statement):
    """Mark a statement that is built once and executed many times with bound values (a hot path's look-up): its
    scoped copy is then made once per tenant and reused, so SQLAlchemy's cache key of it (a walk over the whole
    statement and the ~30 tenant criteria) is computed once instead of on every execution. Returns the statement."""
    statement.__dict__[_SCOPED_KEY] = {}
    return statement


@event.listens_for(Session, "do_orm_execute")
def _scope_queries(state: ORMExecuteState) -> None:
    tenant = _actor.get().distributor_id
    if tenant is None or state.execution_options.get("skip_tenant_scope"):
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    statement = state.statement
    copies = statement.__dict__.get(_SCOPED_KEY)
    if copies is None:
        state.statement = statement.options(*_criteria(tenant))
        return
    scoped = copies.get(tenant)
    if scoped is None:
        if len(copies) >= _SCOPED_MAX:
            copies.clear()
        scoped = copies[tenant] = statement.options(*_criteria(tenant))
        scoped.__dict__.pop(_SCOPED_KEY, None)  # the copy is scoped already
    state.statement = scoped


@event.listens_for(Session, "before_flush")
def _guard_writes(session: Session, flush_context, instances) -> None:
    tenant = _actor.get().distributor_id
    if tenant is None:
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if obj in session.dirty and not session.is_modified(obj, include_collections=False):
            continue
        if not (_owned(type(obj), tenant, lambda k, o=obj: getattr(o, k)) and _tenant_unchanged(obj)):
            raise TenantViolation(f"distributor {tenant} may not write {type(obj).__name__}")


def guard_insert(model: type, rows) -> None:
    """The flush's rule for rows inserted without the unit of work (a bulk INSERT of mappings, :mod:`app.bulk`): an
    acting distributor inserts only its own rows of tenant-scoped models. Raises TenantViolation."""
    tenant = _actor.get().distributor_id
    if tenant is None:
        return
    for row in rows:
        if not _owned(model, tenant, row.get):
            raise TenantViolation(f"distributor {tenant} may not write {model.__name__}")


def _owned(cls: type, tenant: int, value) -> bool:
    """Whether a row of ``cls`` whose column values ``value(key)`` gives is the ``tenant``'s own to write."""
    return (issubclass(cls, TenantScoped) and not issubclass(cls, ManufacturerOnly)
            and any(value(k) == tenant for k in _tenant_keys(cls)))


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
