"""The seam through which packages that keep aggregates of channel-data facts learn about changes.

Channel-data ingestion sits below distribution in the dependency rule, so it cannot call the coverage rollups
directly; distribution registers a listener at start-up instead (``on_facts_changed(refresh_rollups)`` in its
``init_app``). Ingestion calls :func:`facts_changed` in the same transaction as the load, after the facts of
``added_submission_id`` are in place and ``removed_submission_id`` (the version it replaces, if any) stopped being
current, so a listener sees the new state and can update its aggregates incrementally for just these months.
A listener that raises aborts the load (nothing half loaded).

Work too long for the load's transaction (the coverage rollups) is only queued by such a listener, in that
transaction, and done after the commit: whoever commits a change of facts (the load task, the review queue's
page and API) then calls :func:`facts_committed`, outside any transaction, and the listeners registered with
:func:`on_facts_committed` start that work (a task of their own, which opens its own units of work).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class FactsChanged:
    distributor_id: int
    kind: str  # a DataKind value
    months: frozenset[date]  # first days of the calendar months whose facts changed
    added_submission_id: int | None  # facts that now count
    removed_submission_id: int | None  # facts that no longer count (a superseded version)


Listener = Callable[[FactsChanged], None]
_listeners: list[Listener] = []
_committed: list[Callable[[], None]] = []


def on_facts_changed(listener: Listener) -> Listener:
    """Register ``listener`` (idempotent: registering the same function twice keeps one)."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def facts_changed(event: FactsChanged) -> None:
    """Tell every listener; called by ingestion inside the load's transaction."""
    for listener in list(_listeners):
        listener(event)


def on_facts_committed(listener: Callable[[], None]) -> Callable[[], None]:
    """Register ``listener`` to be called after every commit of changed facts (idempotent)."""
    if listener not in _committed:
        _committed.append(listener)
    return listener


def facts_committed() -> None:
    """Tell every listener that a transaction which changed facts has committed (called after the commit)."""
    for listener in list(_committed):
        listener()
